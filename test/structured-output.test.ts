import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { artifactNames } from '../src/artifacts.js';
import { recordHistories } from './helpers/histories.js';
import { chatLines } from './helpers/requests.js';
import { Rig } from './helpers/rig.js';
import { startDevServer } from './helpers/temporal.js';

// Structured output end to end on a real Temporal dev server, against the emulator over HTTP,
// which answers a request for JSON with a minimal instance of its schema (or, under the
// invalid_output fault, with text that is not JSON or does not match).

const SCHEMA = {
  type: 'object',
  properties: {
    sentiment: { type: 'string', enum: ['positive', 'negative'] },
    score: { type: 'integer', minimum: 1 },
  },
  required: ['sentiment', 'score'],
  additionalProperties: false,
};
/** What the emulator answers SCHEMA with. */
const ANSWER = { sentiment: 'positive', score: 1 };

/** Chat lines asking for SCHEMA through `response_format`. */
const structuredLines = (n: number, prefix: string) =>
  chatLines(n, { prefix }).map((line) => {
    const request = JSON.parse(line);
    request.body.response_format = {
      type: 'json_schema',
      json_schema: { name: 'sentiment', strict: true, schema: SCHEMA },
    };
    return JSON.stringify(request);
  });

let env: TestWorkflowEnvironment;
let rig: Rig;
before(async () => {
  env = await startDevServer();
  rig = await Rig.start(env, 'structured');
});
after(async () => {
  await rig?.close();
  await env?.teardown();
});

test('outputs invalid on the first attempt are resubmitted and counted; all end valid', async () => {
  rig.emulator.clearFaults();
  rig.emulator.addFault({ kind: 'invalid_output', lineRate: 0.25, attempts: [1] });
  const run = await rig.submit(structuredLines(40, 'fix'), { id: 'structured-fixed' });
  const summary = await run.wait();
  await recordHistories(rig.client, run.id);
  assert.equal(summary.status, 'completed');
  assert.equal(summary.counts.succeeded, 40);
  assert.equal(summary.counts.invalid_output, 0);
  assert.deepEqual(summary.invalid_outputs_by_attempt, { 1: 10, 2: 0 });
  assert.deepEqual(
    summary.batches.map((b) => [b.attempt, b.request_counts.total, b.invalid_outputs]),
    [
      [1, 40, 10],
      [2, 10, 0],
    ],
  );
  const results = await rig.results('structured-fixed');
  assert.ok(results.every((r) => r.status === 'succeeded' && r.error === null));
  assert.ok(results.every((r) => JSON.stringify(r.output) === JSON.stringify(ANSWER)));
  assert.equal(results.filter((r) => r.attempts === 2).length, 10);
});

test('outputs that stay invalid end invalid_output with the error, and the run partial', async () => {
  rig.emulator.clearFaults();
  rig.emulator.addFault({ kind: 'invalid_output', lineRate: 1 });
  const run = await rig.submit(structuredLines(10, 'bad'), {
    id: 'structured-bad',
    maxAttempts: 2,
  });
  const summary = await run.wait();
  assert.equal(summary.status, 'partial');
  assert.equal(summary.counts.invalid_output, 10);
  assert.equal(summary.counts.succeeded, 0);
  assert.deepEqual(summary.invalid_outputs_by_attempt, { 1: 10, 2: 10 });
  const results = await rig.results('structured-bad');
  assert.ok(results.every((r) => r.status === 'invalid_output' && r.attempts === 2));
  assert.ok(results.every((r) => r.output === undefined && r.error?.code === 'invalid_output'));
  // Both kinds the emulator makes: cut-off JSON and a value of the wrong type.
  const messages = results.map((r) => r.error?.message ?? '');
  assert.ok(
    messages.some((m) => m.startsWith('not valid JSON: ')),
    messages.join('\n'),
  );
  assert.ok(messages.includes('does not match the schema: / must be object'), messages.join('\n'));
});

test("the run's --output-schema checks requests that ask for none", async () => {
  rig.emulator.clearFaults();
  const run = await rig.submit(chatLines(5, { prefix: 'run' }), {
    id: 'structured-run-schema',
    maxAttempts: 1,
    outputSchema: SCHEMA,
  });
  const summary = await run.wait();
  assert.deepEqual(
    await rig.store.readJson('structured-run-schema', artifactNames.outputSchema),
    SCHEMA,
  );
  // The emulator answers a request for text with words, which no object schema accepts.
  assert.equal(summary.status, 'partial');
  assert.equal(summary.counts.invalid_output, 5);
  assert.deepEqual(summary.invalid_outputs_by_attempt, { 1: 5 });
  const results = await rig.results('structured-run-schema');
  assert.ok(results.every((r) => r.error?.message.startsWith('not valid JSON: ')));
  assert.ok(results.every((r) => typeof r.output_text === 'string'));

  // Without a schema nothing changes.
  const plain = await (await rig.submit(chatLines(5, { prefix: 'plain' }), { id: 'plain' })).wait();
  assert.equal(plain.status, 'completed');
  assert.equal(plain.invalid_outputs_by_attempt, undefined);
});
