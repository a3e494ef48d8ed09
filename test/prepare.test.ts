import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { prepareParts } from '../activities/prepare.js';
import { artifactNames } from '../src/artifacts.js';
import { type CachedLine, CachePacker } from '../src/cache.js';
import { validateRequestsFile } from '../src/requests.js';
import { LocalArtifactStore } from '../src/store/local.js';
import type { ArtifactName, InputLocation, PrepareInput } from '../workflows/types.js';
import { artifact } from './helpers/names.js';

const dir = await mkdtemp(join(tmpdir(), 'nightshift-prepare-'));
const store = new LocalArtifactStore(join(dir, 'home'));
let runs = 0;

const request = (i: number, content = 'hi') =>
  JSON.stringify({
    custom_id: `r-${i}`,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content }] },
  });

async function setUp(content: string, limits: Partial<PrepareInput> = {}): Promise<PrepareInput> {
  const runId = `run-${++runs}`;
  const inputPath = join(dir, `${runId}.jsonl`);
  await writeFile(inputPath, content);
  return {
    runId,
    inputFile: inputPath,
    maxRequestsPerBatch: 50_000,
    maxBytesPerBatch: 1 << 20,
    ...limits,
  };
}

const partText = (runId: string, path: ArtifactName) => readFile(store.path(runId, path), 'utf8');

test('splits by request count, in order, copying lines byte for byte', async () => {
  const lines = Array.from({ length: 5 }, (_, i) => request(i, i % 2 ? 'ünïcödé ✓' : 'plain'));
  const input = await setUp(`${lines.join('\n')}\n`, { maxRequestsPerBatch: 2 });
  const result = await prepareParts(store, input);
  assert.equal(result.endpoint, '/v1/chat/completions');
  assert.equal(result.model, 'gpt-4o-mini');
  assert.equal(result.total, 5);
  assert.deepEqual(
    result.parts.map((p) => [p.index, p.artifact, p.requests]),
    [
      [1, 'parts/part-0001.jsonl', 2],
      [2, 'parts/part-0002.jsonl', 2],
      [3, 'parts/part-0003.jsonl', 1],
    ],
  );
  const texts = await Promise.all(result.parts.map((p) => partText(input.runId, p.artifact)));
  assert.equal(texts.join(''), `${lines.join('\n')}\n`);
  for (const [i, part] of result.parts.entries()) {
    assert.equal(part.bytes, Buffer.byteLength(texts[i] as string));
  }
});

test('splits by bytes: no part goes over the limit', async () => {
  const lines = Array.from({ length: 10 }, (_, i) => request(i, 'x'.repeat(i * 10)));
  const maxBytesPerBatch = 400;
  const input = await setUp(lines.join('\n'), { maxBytesPerBatch });
  const result = await prepareParts(store, input);
  assert.ok(result.parts.length > 1);
  assert.ok(result.parts.every((p) => p.bytes <= maxBytesPerBatch));
  assert.equal(
    result.parts.reduce((n, p) => n + p.requests, 0),
    10,
  );
  const texts = await Promise.all(result.parts.map((p) => partText(input.runId, p.artifact)));
  assert.equal(texts.join(''), `${lines.join('\n')}\n`);
});

test('CRLF becomes LF and a BOM is dropped', async () => {
  const input = await setUp(`\uFEFF${request(1)}\r\n${request(2)}\r\n`);
  const result = await prepareParts(store, input);
  assert.equal(
    await partText(input.runId, artifactNames.part(1)),
    `${request(1)}\n${request(2)}\n`,
  );
  assert.equal(result.parts[0]?.bytes, Buffer.byteLength(`${request(1)}\n${request(2)}\n`));
});

test('a rerun returns the manifest of the earlier attempt without redoing the work', async () => {
  const input = await setUp(`${request(1)}\n${request(2)}\n`, { maxRequestsPerBatch: 1 });
  const first = await prepareParts(store, input);
  await rm(input.inputFile);
  let progressed = false;
  const again = await prepareParts(store, input, () => {
    progressed = true;
  });
  assert.deepEqual(again, first);
  assert.equal(progressed, false);
});

test('invalid input fails non-retryably, naming file:line and how many more', async () => {
  const input = await setUp(`${request(1)}\nnot json\n${request(1)}\n{}\n`);
  await assert.rejects(prepareParts(store, input), (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure);
    assert.equal(err.nonRetryable, true);
    assert.equal(err.type, 'InvalidInput');
    assert.match(
      err.message,
      new RegExp(`^${input.inputFile}:2: invalid JSON: .* \\(\\+2 more\\)$`),
    );
    assert.deepEqual(
      ((err.details ?? [])[0] as { line: number }[]).map((e) => e.line),
      [2, 3, 4],
    );
    return true;
  });
  assert.equal(await store.exists(input.runId, artifact('parts/manifest.json')), false);
});

test('a line larger than a whole part is an error', async () => {
  const input = await setUp(`${request(1)}\n${request(2, 'y'.repeat(500))}\n`, {
    maxBytesPerBatch: 300,
  });
  await assert.rejects(prepareParts(store, input), {
    type: 'InvalidInput',
    message: `${input.inputFile}:2: line is longer than 300 bytes`,
  });
});

test('a missing input file fails non-retryably', async () => {
  const input = await setUp('');
  await rm(input.inputFile);
  await assert.rejects(prepareParts(store, input), { type: 'InvalidInput', nonRetryable: true });
});

test('progress is reported every few thousand lines', async () => {
  const lines = Array.from({ length: 12_000 }, (_, i) => request(i));
  const input = await setUp(lines.join('\n'), { maxRequestsPerBatch: 5_000 });
  const seen: number[] = [];
  const result = await prepareParts(store, input, (n) => seen.push(n));
  assert.deepEqual(seen, [5_000, 10_000]);
  assert.deepEqual(
    result.parts.map((p) => p.requests),
    [5_000, 5_000, 2_000],
  );
});

test("the client's validation of the same file is trusted; of a changed file it is not", async () => {
  const lines = Array.from({ length: 3 }, (_, i) => request(i));
  const input = await setUp(`${lines.join('\n')}\n`, { maxRequestsPerBatch: 2 });
  const report = await validateRequestsFile(input.inputFile);
  assert.ok(report.ok && report.endpoint);
  const validated = { ...report, endpoint: report.endpoint };
  const trusted = await prepareParts(store, { ...input, validated });
  assert.deepEqual(
    [trusted.total, trusted.model, trusted.parts.map((p) => p.requests)],
    [3, 'gpt-4o-mini', [2, 1]],
  );

  // Same size, another time: the file is read as a stranger's, and its bad line is found.
  const again = await setUp(`${lines.join('\n').replace('"r-2"', '"r-1"')}\n`);
  const later = { ...validated, mtimeMs: validated.mtimeMs - 1_000 };
  await assert.rejects(prepareParts(store, { ...again, validated: later }), (err: unknown) => {
    assert.match((err as ApplicationFailure).message, /:3: duplicate custom_id "r-1"/);
    return true;
  });
  // Same size and time yet another line count: changed behind the client's back.
  const short = await setUp(
    `${lines.slice(0, 2).join('\n')}\n${'x'.repeat(lines[2]?.length ?? 0)}\n`,
  );
  const { size, mtimeMs } = await stat(short.inputFile);
  const claimed = { ...validated, bytes: size, mtimeMs, total: 4 };
  await assert.rejects(prepareParts(store, { ...short, validated: claimed }), {
    type: 'InvalidInput',
    message: /changed since it was validated/,
  });
});

test('the result cache is looked up in the split pass: answers to cached.jsonl, the rest to parts', async () => {
  // Answers for requests 1, 3 and 4, written by a run of other custom_ids.
  const packer = await CachePacker.open(store, 'openai', 'earlier', 'earlier.part-1.attempt-1');
  for (const i of [1, 3, 4]) {
    const answer = { custom_id: `x-${i}`, status: 'succeeded', response: { body: i } };
    await packer.add(request(i, `q${i}`).replace(`"r-${i}"`, `"x-${i}"`), JSON.stringify(answer));
  }
  await packer.commit();
  const lines = Array.from({ length: 6 }, (_, i) => request(i, `q${i}`));
  const input = await setUp(`${lines.join('\n')}\n`, { maxRequestsPerBatch: 2 });
  let reads = 0;
  const readInput = (location: InputLocation) => {
    reads += 1;
    return store.readInput(location);
  };
  const counting = Object.create(store, { readInput: { value: readInput } }) as LocalArtifactStore;

  const result = await prepareParts(counting, { ...input, lookUp: { any: false } });
  assert.equal(reads, 1, 'the input is read once');
  assert.deepEqual(result.cached, { artifact: artifactNames.cached, hits: 3 });
  assert.equal(result.total, 6);
  const texts = await Promise.all(result.parts.map((p) => partText(input.runId, p.artifact)));
  assert.deepEqual(texts, [`${lines[0]}\n${lines[2]}\n`, `${lines[5]}\n`]);
  const cached = (await partText(input.runId, artifactNames.cached))
    .trimEnd()
    .split('\n')
    .map((text) => JSON.parse(text) as CachedLine);
  assert.deepEqual(
    cached.map(({ line, result }) => [line, result.custom_id, result.response]),
    [
      [2, 'r-1', { body: 1 }],
      [4, 'r-3', { body: 3 }],
      [5, 'r-4', { body: 4 }],
    ],
  );

  // A retry that finds cached.jsonl (the attempt crashed before its manifest) keeps it.
  await store.remove(input.runId, artifactNames.manifest);
  const retried = await prepareParts(store, { ...input, lookUp: { any: false } });
  assert.deepEqual(retried, result);
});
