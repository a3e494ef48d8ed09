import assert from 'node:assert/strict';
import { mkdtemp, readFile, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CacheKey } from '../src/artifacts.js';
import { asksForVariety, CachePacker, cacheKeyOf, canonicalJson } from '../src/cache.js';
import { CacheIndex } from '../src/cache-index.js';
import type { EmulatorStats } from '../src/emulator/index.js';
import { writeLines } from '../src/jsonl.js';
import { LocalArtifactStore } from '../src/store/local.js';
import type { ResultLine } from '../workflows/types.js';
import { runCli } from './helpers/cli.js';
import { recordHistories } from './helpers/histories.js';
import { chatLines } from './helpers/requests.js';
import { useRig } from './helpers/rig.js';

// The result cache: pure keys first, then runs on a real Temporal dev server against the
// emulator over HTTP, counting what reaches the provider in the emulator's stats.

test('a key ignores the custom_id and the order of keys, and nothing else', () => {
  const line = {
    custom_id: 'a',
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 },
  };
  const reordered = {
    body: { max_tokens: 5, messages: [{ content: 'hi', role: 'user' }], model: 'm' },
    url: '/v1/chat/completions',
    method: 'POST',
    custom_id: 'b',
  };
  assert.equal(canonicalJson(line.body), canonicalJson(reordered.body));
  assert.equal(cacheKeyOf('openai', line), cacheKeyOf('openai', reordered));
  assert.notEqual(cacheKeyOf('openai', line), cacheKeyOf('azure', line));
  assert.notEqual(
    cacheKeyOf('openai', line),
    cacheKeyOf('openai', { ...line, url: '/v1/responses' }),
  );
  assert.notEqual(
    cacheKeyOf('openai', line),
    cacheKeyOf('openai', { ...line, body: { ...line.body, max_tokens: 6 } }),
  );
  // Gemini's id is `key`.
  assert.equal(
    cacheKeyOf('gemini', { key: 'x', request: { contents: [] } }),
    cacheKeyOf('gemini', { key: 'y', request: { contents: [] } }),
  );
  assert.match(cacheKeyOf('openai', line), /^openai\/[0-9a-f]{64}$/);
});

test('the index finds each packed entry, among keys that share their first 32 bits', async () => {
  const store = new LocalArtifactStore(await mkdtemp(join(tmpdir(), 'nightshift-index-')));
  const request = (n: number) => JSON.stringify({ custom_id: `r-${n}`, body: { n } });
  const result = (n: number) =>
    JSON.stringify({ custom_id: `r-${n}`, status: 'succeeded', response: { n } });
  const packer = await CachePacker.open(store, 'openai', 'run-a', 'run-a.part-1.attempt-1');
  for (const n of [1, 2, 3]) await packer.add(request(n), result(n));
  await packer.commit();
  // Two entries written by hand whose hashes share a prefix: the index must tell them apart.
  const twin = (tail: string) => `openai/abcdef01${tail.repeat(56)}` as CacheKey;
  const entry = (key: CacheKey, n: number) =>
    JSON.stringify({ key, run_id: 'run-b', created_at: '', result: JSON.parse(result(n)) });
  const [first, second] = [entry(twin('1'), 10), entry(twin('2'), 20)];
  await writeLines(await store.cacheWriter('openai/packs/b.jsonl' as never), [first, second]);
  await writeLines(await store.cacheWriter('openai/keys/b.keys' as never), [
    `${twin('1').slice(7)} 0 ${first.length}`,
    `${twin('2').slice(7)} ${first.length + 1} ${second.length}`,
  ]);

  const index = await CacheIndex.load(store, 'openai');
  assert.equal(index.size, 5);
  for (const n of [1, 2, 3]) {
    const key = cacheKeyOf('openai', JSON.parse(request(n)));
    assert.deepEqual((await index.get(key))?.result.response, { n });
  }
  assert.equal((await index.get(twin('2')))?.result.custom_id, 'r-20');
  assert.equal((await index.get(twin('1')))?.result.custom_id, 'r-10');
  assert.equal(await index.get(twin('3')), null, 'a shared prefix is no hit');
  assert.equal(await index.get(cacheKeyOf('openai', { body: { n: 4 } })), null);
  assert.equal((await CacheIndex.load(store, 'gemini')).size, 0, 'packs are per provider');
  await store.removeCacheObject('openai/packs/b.jsonl' as never);
  const pruned = await CacheIndex.load(new LocalArtifactStore(store.root), 'openai');
  assert.equal(await pruned.get(twin('1')), null, 'keys whose pack is gone are a miss');
});

test('requests asking for varied answers are told apart', () => {
  assert.equal(asksForVariety({ body: { temperature: 0 } }), false);
  assert.equal(asksForVariety({ body: {} }), false);
  assert.equal(asksForVariety({ body: { temperature: 0.7 } }), true);
  assert.equal(asksForVariety({ body: { temperature: 0.7, seed: 1 } }), false);
  assert.equal(asksForVariety({ body: { n: 3 } }), true);
  assert.equal(asksForVariety({ params: { temperature: 1 } }), true);
  assert.equal(asksForVariety({ request: { generationConfig: { candidateCount: 2 } } }), true);
});

const rig = useRig('cache');

/** Request lines uploaded to the provider for a run, from the emulator's stats. */
function uploadedLines(stats: EmulatorStats, runId: string): number {
  return stats.files
    .filter((f) => f.purpose === 'batch' && f.filename.includes(`-${runId}-`))
    .reduce((n, f) => n + (f.lines ?? 0), 0);
}

/** The lines with temperature set, under other ids. */
const sampled = (lines: string[], prefix: string, temperature: number) =>
  lines.map((text, i) => {
    const line = JSON.parse(text);
    line.custom_id = `${prefix}-${i + 1}`;
    line.body.temperature = temperature;
    return JSON.stringify(line);
  });

const withoutCacheFields = ({ cached, cached_run_id, attempts, custom_id, ...rest }: ResultLine) =>
  rest;

test('a re-run with 200 new requests sends only those 200, and answers the rest as before', async () => {
  const first = chatLines(1000, { prefix: 'c' });
  const run1 = await rig.submit(first, { id: 'cache-first', cache: true });
  const summary1 = await run1.wait();
  assert.equal(summary1.status, 'completed');
  assert.deepEqual(summary1.cache?.hits, 0);
  assert.equal(uploadedLines(rig.emulator.stats(), 'cache-first'), 1000);

  // Other custom_ids for the same 1,000 requests, and 200 new ones among them.
  const again = chatLines(1000, { prefix: 'd' });
  const added = chatLines(1200, { prefix: 'e' }).slice(1000);
  const second = [...again.slice(0, 500), ...added, ...again.slice(500)];
  const run2 = await rig.submit(second, { id: 'cache-second', cache: true });
  const summary2 = await run2.wait();
  await recordHistories(rig.client, run2.id);
  assert.equal(summary2.status, 'completed');
  assert.equal(uploadedLines(rig.emulator.stats(), 'cache-second'), 200);
  assert.equal(summary2.counts.total, 1200);
  assert.equal(summary2.counts.succeeded, 1200);
  assert.equal(summary2.cache?.hits, 1000);
  assert.deepEqual(summary2.cache?.usage, summary1.usage, 'the cached tokens are the first run’s');
  assert.ok((summary2.cache?.saved_usd ?? 0) > 0, 'the saving is priced');
  assert.ok(summary2.usage.total_tokens < summary1.usage.total_tokens, 'only the 200 are billed');

  const results1 = await rig.results('cache-first');
  const results2 = await rig.results('cache-second');
  assert.deepEqual(
    results2.map((r) => r.custom_id),
    second.map((l) => JSON.parse(l).custom_id),
    'one line per input line, in input order',
  );
  const cached = results2.filter((r) => r.cached);
  assert.equal(cached.length, 1000);
  assert.ok(cached.every((r) => r.cached_run_id === 'cache-first' && r.attempts === 0));
  assert.deepEqual(
    cached.map(withoutCacheFields),
    results1.map(withoutCacheFields),
    'the same answers as the first run gave',
  );
  assert.ok(results2.filter((r) => r.custom_id.startsWith('e-')).every((r) => !r.cached));
});

test('--no-cache sends everything; varied requests are served only when any will do', async () => {
  const lines = chatLines(20, { prefix: 'v' });
  await (await rig.submit(sampled(lines, 'v', 0.8), { id: 'cache-varied-1', cache: true })).wait();

  const off = await rig.submit(sampled(lines, 'w', 0.8), { id: 'cache-off', cache: false });
  assert.equal((await off.wait()).cache, undefined);
  assert.equal(uploadedLines(rig.emulator.stats(), 'cache-off'), 20);

  const strict = await rig.submit(sampled(lines, 'x', 0.8), { id: 'cache-strict', cache: true });
  assert.equal((await strict.wait()).cache?.hits, 0);
  assert.equal(uploadedLines(rig.emulator.stats(), 'cache-strict'), 20);

  const any = await rig.submit(sampled(lines, 'y', 0.8), { id: 'cache-any', cache: 'any' });
  assert.equal((await any.wait()).cache?.hits, 20);
  await recordHistories(rig.client, any.id);
  assert.equal(uploadedLines(rig.emulator.stats(), 'cache-any'), 0, 'a run of hits sends nothing');
});

test('a torn entry and a pack without keys are never served; stats and prune see packs', async () => {
  // Another model: bodies no earlier test of this file sent.
  const lines = chatLines(3, { prefix: 'h', model: 'gpt-4.1-mini' });
  await (await rig.submit(lines, { id: 'cache-half-1', cache: true })).wait();
  const id = 'cache-half-1.part-1.attempt-1';
  const cache = join(rig.home, 'cache', 'openai');
  const packPath = join(cache, 'packs', `${id}.jsonl`);
  const keysPath = join(cache, 'keys', `${id}.keys`);
  const pack = await readFile(packPath, 'utf8');
  const keys = (await readFile(keysPath, 'utf8')).trim().split('\n');
  assert.equal(keys.length, 3, 'a key a success');
  const at = pack.indexOf('"custom_id":"h-1"');
  const torn = keys
    .map((k) => k.split(' ').map(Number))
    .find(([, o = 0, l = 0]) => o < at && at < o + l);
  assert.ok(torn, 'the keys say where h-1 lies');
  const [, offset = 0, length = 0] = torn;
  // What a disk could do to a line: torn in place, the others intact.
  await writeFile(
    packPath,
    pack.slice(0, offset) + '{'.padEnd(length) + pack.slice(offset + length),
  );
  // A pack whose keys were never written (a writer killed between the two), holding h-2 and
  // h-3 again under another run, and a temp file: neither is an entry.
  await writeFile(
    join(cache, 'packs', 'orphan.part-1.attempt-1.jsonl'),
    pack.replaceAll('cache-half-1', 'orphan'),
  );
  await writeFile(join(cache, 'packs', `.${id}.jsonl.1.abc.tmp`), '{');

  const run = await rig.submit(chatLines(3, { prefix: 'i', model: 'gpt-4.1-mini' }), {
    id: 'cache-half-2',
    cache: true,
  });
  const summary = await run.wait();
  assert.equal(summary.cache?.hits, 2, 'the torn entry is a miss');
  assert.equal(uploadedLines(rig.emulator.stats(), 'cache-half-2'), 1);
  const results = await rig.results('cache-half-2');
  assert.deepEqual(
    results.map((r) => [r.custom_id, r.status, r.cached_run_id ?? null]),
    [
      ['i-1', 'succeeded', null],
      ['i-2', 'succeeded', 'cache-half-1'],
      ['i-3', 'succeeded', 'cache-half-1'],
    ],
  );

  const stats = await runCli(['cache', 'stats'], rig.cliEnv());
  assert.equal(stats.code, 0, stats.stderr);
  assert.match(stats.stdout, /^openai: \d+ entries, /m);
  const old = new Date(Date.now() - 2 * 86_400_000);
  await Promise.all([utimes(packPath, old, old), utimes(keysPath, old, old)]);
  const pruned = await runCli(['cache', 'prune', '--older-than', '1d'], rig.cliEnv());
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.match(pruned.stdout, /^3 cache entries removed/);
  await assert.rejects(readFile(packPath), { code: 'ENOENT' });
  await assert.rejects(readFile(keysPath), { code: 'ENOENT' });
  const bad = await runCli(['cache', 'prune', '--older-than', 'soon'], rig.cliEnv());
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--older-than: expected 30d, 12h or 90m/);
});

test('submit says what the cache answered and estimates only what is sent', async () => {
  // The bodies of the first test's c-1…c-10, under other ids.
  const file = await rig.writeInput(chatLines(10, { prefix: 'k' }), 'cli-cache.jsonl');
  const env = rig.cliEnv();
  // Without --max-cost, submit hashes nothing: the run's prepare looks the requests up.
  const quick = await runCli(
    ['submit', file, '--id', 'cache-cli-prepare', '--wait', '--poll-interval', '0.1'],
    env,
  );
  assert.equal(quick.code, 0, quick.stderr);
  assert.doesNotMatch(quick.stderr, /^cache:/m);
  assert.match(quick.stderr, /batch price, before what the result cache answers: \d+ input/);
  assert.match(quick.stdout, /cache {6}10 answered by earlier runs, not sent/);
  assert.equal(uploadedLines(rig.emulator.stats(), 'cache-cli-prepare'), 0);

  const both = await runCli(['submit', file, '--no-cache', '--cache-any'], env);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--cache-any goes without --no-cache/);

  const noOut = await runCli(['submit', file, '--format', 'csv'], env);
  assert.equal(noOut.code, 2);
  assert.match(noOut.stderr, /--format goes with --out <dir>/);

  const out = join(rig.home, 'cli-cache-out');
  const run = await runCli(
    [
      'submit',
      file,
      '--id',
      'cache-cli',
      '--wait',
      '--poll-interval',
      '0.1',
      '--max-cost',
      '0.000001',
      '--out',
      out,
      '--format',
      'csv',
    ],
    env,
  );
  assert.equal(run.code, 0, run.stderr);
  // Over --max-cost before the cache, submit looks it up to estimate only what is sent.
  assert.match(run.stderr, /^cache: 10 requests answered by earlier runs, not sent$/m);
  assert.match(run.stderr, /estimated cost ≤ \$0\.0000 at the batch price: 0 input \+ ≤0 output/);
  assert.match(
    run.stdout,
    /cache {6}10 answered by earlier runs, not sent: \d+ tokens, \$[\d.]+ saved/,
  );
  assert.equal(uploadedLines(rig.emulator.stats(), 'cache-cli'), 0);
  assert.match(run.stdout, /^table: .*results\.csv \(10 rows\)$/m);
  const table = (await readFile(join(out, 'results.csv'), 'utf8')).trim().split('\n');
  assert.equal(table.length, 11);
  const cachedAt = table[0]?.split(',').indexOf('cached') ?? -1;
  assert.ok(table.slice(1).every((row) => row.split(',')[cachedAt] === 'true'));
});
