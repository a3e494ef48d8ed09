import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { APIConnectionError, APIError } from 'openai';
import { toActivityFailure } from '../src/providers/openai/errors.js';

const apiError = (status: number, headers: Record<string, string> = {}) =>
  APIError.generate(status, { error: { message: 'nope' } }, undefined, new Headers(headers));

test('429 and 5xx are retried, after the provider’s retry-after when it sent one', () => {
  const limited = toActivityFailure(apiError(429, { 'retry-after': '7' }), 'create batch');
  assert.ok(limited instanceof ApplicationFailure);
  assert.equal(limited.nonRetryable, false);
  assert.equal(limited.nextRetryDelay, 7000);
  const precise = toActivityFailure(apiError(429, { 'retry-after-ms': '250' }), 'poll');
  assert.equal((precise as ApplicationFailure).nextRetryDelay, 250);
  const server = toActivityFailure(apiError(503), 'poll');
  assert.equal((server as ApplicationFailure).nonRetryable, false);
  assert.equal((server as ApplicationFailure).nextRetryDelay, undefined, 'Temporal’s backoff');
  const dropped = toActivityFailure(new APIConnectionError({ message: 'reset' }), 'upload');
  assert.equal((dropped as ApplicationFailure).nonRetryable, false);
});

test('other 4xx are final, and the message names the call and the status', () => {
  for (const status of [400, 401, 403, 404, 422]) {
    const failure = toActivityFailure(apiError(status), 'create batch');
    assert.ok(failure instanceof ApplicationFailure);
    assert.equal(failure.nonRetryable, true, `status ${status}`);
    assert.match(failure.message, new RegExp(`^create batch: ${status} `));
  }
});
