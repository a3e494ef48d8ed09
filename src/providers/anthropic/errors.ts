import { APIError } from '@anthropic-ai/sdk';
import { apiFailure, callerWith } from '../failures.js';

/**
 * Turns an Anthropic SDK error into a retryable or final activity failure, as OpenAI's are
 * (see {@link apiFailure}): Anthropic's 529 `overloaded_error` is a 5xx, so it heals.
 */
export function toActivityFailure(err: unknown, what: string): Error {
  if (!(err instanceof APIError)) return err instanceof Error ? err : new Error(String(err));
  return apiFailure(err, what);
}

/** Runs an Anthropic call and rethrows its failure as {@link toActivityFailure} says. */
export const callAnthropic = callerWith(toActivityFailure);
