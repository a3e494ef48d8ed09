import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import OpenAI from 'openai';
import { batchActivities } from '../activities/batches.js';
import {
  type DownloadInput,
  type DownloadResult,
  transferActivities,
} from '../activities/transfers.js';
import { OpenAIBatchProvider } from '../src/providers/openai/batches.js';
import { LocalArtifactStore } from '../src/store/local.js';

// Retries that would meet the same stale input every time: each activity reads the provider
// afresh, and gives up on what cannot heal.

const store = async () =>
  new LocalArtifactStore(await mkdtemp(join(tmpdir(), 'nightshift-provider-')));

/** A provider holding one batch, as `batches.retrieve` shows it. */
function batchObject(status: string, completed: number, outputFileId: string | null) {
  return {
    id: 'batch_1',
    status,
    request_counts: { total: 3, completed, failed: 0 },
    output_file_id: outputFileId,
    error_file_id: null,
    errors: null,
  };
}

const DOWNLOAD: DownloadInput = {
  runId: 'run-1',
  provider: 'openai',
  part: 1,
  attempt: 1,
  batchId: 'batch_1',
};

const transfers = (openai: OpenAI, store: LocalArtifactStore) =>
  transferActivities({ openai: new OpenAIBatchProvider(openai) }, store);

test('a cancel refused because the batch just ended returns the ended batch', async () => {
  let status = 'in_progress';
  const openai = {
    batches: {
      retrieve: async () => batchObject(status, status === 'completed' ? 3 : 1, null),
      cancel: async () => {
        status = 'completed';
        throw OpenAI.APIError.generate(
          400,
          { error: { message: "Cannot cancel a batch with status 'completed'." } },
          undefined,
          new Headers(),
        );
      },
    },
  } as unknown as OpenAI;
  const batch = await new OpenAIBatchProvider(openai).cancelBatch('batch_1');
  assert.equal(batch.status, 'completed');
});

test('a download reads the batch afresh, and takes a short output after five attempts', async () => {
  let reads = 0;
  const openai = {
    batches: {
      // The workflow's last poll saw the ids; the provider is asked again anyway.
      retrieve: async () => {
        reads++;
        return batchObject('completed', 3, 'file_out');
      },
    },
    files: {
      content: async () => new Response('{"custom_id":"a"}\n{"custom_id":"b"}\n'),
    },
  } as unknown as OpenAI;
  const { download } = transfers(openai, await store());
  const input = {
    runId: 'run-1',
    provider: 'openai',
    part: 1,
    attempt: 1,
    batchId: 'batch_1',
  } as const;
  const early = await new MockActivityEnvironment({ attempt: 1 }).run(download, input).then(
    () => assert.fail('a short output is fetched again first'),
    (err: unknown) => err,
  );
  assert.ok(early instanceof ApplicationFailure);
  assert.equal(early.type, 'TruncatedDownload');
  assert.equal(early.nonRetryable, false);
  const late = (await new MockActivityEnvironment({ attempt: 5 }).run(
    download,
    input,
  )) as DownloadResult;
  assert.match(late.output ?? '', /output/);
  assert.equal(reads, 2, 'each attempt read the batch itself');
});

test('a download of an ended batch whose files are not published yet is retried', async () => {
  const openai = {
    batches: { retrieve: async () => batchObject('expired', 2, null) },
  } as unknown as OpenAI;
  const { download } = transfers(openai, await store());
  const failure = await new MockActivityEnvironment().run(download, DOWNLOAD).then(
    () => assert.fail('nothing to download yet'),
    (err: unknown) => err,
  );
  assert.ok(failure instanceof ApplicationFailure);
  assert.equal(failure.type, 'ResultFilesNotReady');
  assert.equal(failure.nonRetryable, false);
});

/** An OpenAI API error with this status, as the SDK throws it. */
const apiError = (status: number) =>
  OpenAI.APIError.generate(status, { error: { message: `status ${status}` } }, '', new Headers());

test("deleting an attempt's files: gone is fine, refused is left to expire, outages are retried", async () => {
  const answers: Record<string, number> = { file_in: 404, file_out: 403, file_err: 200 };
  const tried: string[] = [];
  const openai = {
    batches: {
      retrieve: async () => ({
        ...batchObject('completed', 3, 'file_out'),
        error_file_id: 'file_err',
      }),
    },
    files: {
      delete: async (id: string) => {
        tried.push(id);
        const status = answers[id] ?? 200;
        if (status !== 200) throw apiError(status);
        return { id, object: 'file', deleted: true };
      },
    },
  } as unknown as OpenAI;
  const { deleteProviderFiles } = batchActivities(
    { openai: new OpenAIBatchProvider(openai) },
    await store(),
  );
  const input = { ...DOWNLOAD, inputFileId: 'file_in' };
  const env = new MockActivityEnvironment();
  assert.deepEqual(await env.run(deleteProviderFiles, input), ['file_in', 'file_err']);
  assert.deepEqual(tried, ['file_in', 'file_out', 'file_err'], 'a refusal stops no other file');

  answers.file_out = 503;
  const outage = await env.run(deleteProviderFiles, input).then(
    () => assert.fail('an outage is retried'),
    (err: unknown) => err,
  );
  assert.ok(outage instanceof ApplicationFailure);
  assert.equal(outage.type, 'ProviderUnavailable');
});
