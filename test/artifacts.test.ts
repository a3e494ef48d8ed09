import assert from 'node:assert/strict';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { InvalidArtifactPathError } from '../src/artifacts.js';
import { LocalArtifactStore } from '../src/store/local.js';
import { artifact } from './helpers/names.js';

const root = await mkdtemp(join(tmpdir(), 'nightshift-artifacts-'));
const store = new LocalArtifactStore(root);

test('run ids that could escape the root are rejected', () => {
  const bad = [
    '',
    '..',
    '.',
    '../x',
    'a/b',
    'a\\b',
    '.hidden',
    '-x',
    'a..b',
    'a b',
    'x'.repeat(129),
  ];
  for (const runId of bad) {
    assert.throws(() => store.path(runId, artifact('x.jsonl')), InvalidArtifactPathError, runId);
  }
  assert.equal(
    store.path('run-1.a_B', artifact('x.jsonl')),
    join(root, 'runs', 'run-1.a_B', 'x.jsonl'),
  );
  assert.doesNotThrow(() => store.path('x'.repeat(128), artifact('x')));
});

test('artifact names stay inside the run folder', () => {
  const bad = [
    '',
    '..',
    '../other/x',
    'parts/../../x',
    '/etc/passwd',
    'a//b',
    'a/',
    './a',
    'a\\..\\b',
  ];
  for (const name of bad) {
    assert.throws(() => store.path('run', artifact(name)), InvalidArtifactPathError, name);
  }
  assert.equal(
    store.path('run', artifact('parts/part-0001.jsonl')),
    join(root, 'runs/run/parts/part-0001.jsonl'),
  );
});

test('files are 0600 and folders 0700', async () => {
  await store.writeAtomic('modes', artifact('parts/part-0001.jsonl'), ['{}']);
  const file = await stat(store.path('modes', artifact('parts/part-0001.jsonl')));
  assert.equal(file.mode & 0o777, 0o600);
  for (const d of ['runs', 'runs/modes', 'runs/modes/parts']) {
    assert.equal((await stat(join(root, d))).mode & 0o777, 0o700, d);
  }
});

test('JSON round-trips; a missing artifact reads as null', async () => {
  assert.equal(await store.readJson('json', artifact('missing.json')), null);
  assert.equal(await store.exists('json', artifact('a/b.json')), false);
  await store.writeJson('json', artifact('a/b.json'), { x: [1, 'é'] });
  assert.deepEqual(await store.readJson('json', artifact('a/b.json')), { x: [1, 'é'] });
  assert.equal(await store.exists('json', artifact('a/b.json')), true);
  await store.remove('json', artifact('a'));
  assert.equal(await store.exists('json', artifact('a/b.json')), false);
  await store.remove('json', artifact('a'));
});

test('lines written are read back, as lines and as a stream', async () => {
  const stats = await store.writeAtomic('lines', artifact('x.jsonl'), ['1', '2']);
  assert.deepEqual(stats, { bytes: 4, lines: 2, endsWithNewline: true });
  const texts: string[] = [];
  for await (const line of store.readLines('lines', artifact('x.jsonl'))) texts.push(line.text);
  assert.deepEqual(texts, ['1', '2']);
  const chunks: Buffer[] = [];
  for await (const chunk of store.read('lines', artifact('x.jsonl'))) chunks.push(chunk as Buffer);
  assert.equal(Buffer.concat(chunks).toString(), '1\n2\n');
  const writer = await store.writer('lines', artifact('y.jsonl'));
  await writer.write('only');
  assert.equal(await store.exists('lines', artifact('y.jsonl')), false);
  await writer.commit();
  assert.equal(await readFile(store.path('lines', artifact('y.jsonl')), 'utf8'), 'only\n');
});
