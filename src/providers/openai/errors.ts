import { APIError } from 'openai';
import { apiFailure, callerWith } from '../failures.js';

/** Turns an OpenAI SDK error into a retryable or final activity failure (see {@link apiFailure}). */
export function toActivityFailure(err: unknown, what: string): Error {
  if (!(err instanceof APIError)) return err instanceof Error ? err : new Error(String(err));
  return apiFailure(err, what);
}

/** Runs an OpenAI call and rethrows its failure as {@link toActivityFailure} says. */
export const callOpenAI = callerWith(toActivityFailure);
