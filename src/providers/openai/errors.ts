import { APIError } from 'openai';
import { apiFailure } from '../failures.js';

/** Turns an OpenAI SDK error into a retryable or final activity failure (see {@link apiFailure}). */
export function toActivityFailure(err: unknown, what: string): Error {
  if (!(err instanceof APIError)) return err instanceof Error ? err : new Error(String(err));
  return apiFailure(err, what);
}

/** Runs an OpenAI call and rethrows its failure as {@link toActivityFailure} says. */
export async function callOpenAI<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw toActivityFailure(err, what);
  }
}
