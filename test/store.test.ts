import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ArtifactStore, CacheObjectName } from '../src/artifacts.js';
import { writeLines } from '../src/jsonl.js';
import { LocalArtifactStore } from '../src/store/local.js';
import { S3ArtifactStore } from '../src/store/s3.js';
import { artifact, runsIn } from './helpers/names.js';
import { S3Server, s3Skip } from './helpers/s3.js';
import { withFreshTmpdir } from './helpers/tmpdir.js';

const skip = await s3Skip();
let server: S3Server | null = null;
let buckets = 0;

before(async () => {
  if (!skip) server = await S3Server.start();
});
after(() => server?.stop());

/** The same contract, held by both stores. */
const stores: [string, () => Promise<ArtifactStore>, string | false][] = [
  ['local', async () => new LocalArtifactStore(await mkdtemp(join(tmpdir(), 'ns-store-'))), false],
  ['S3', () => (server as S3Server).store(`contract-${++buckets}`), skip],
];

async function text(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts).toString('utf8');
}

async function lines(store: ArtifactStore, run: string, name: string): Promise<string[]> {
  const out: string[] = [];
  for await (const line of store.readLines(run, artifact(name))) out.push(line.text);
  return out;
}

for (const [kind, open, skipped] of stores) {
  describe(`${kind} store`, { skip: skipped }, () => {
    test('lines written are read back, as lines and as bytes', async () => {
      const store = await open();
      const stats = await store.writeAtomic('run-1', artifact('parts/a.jsonl'), ['1', 'é']);
      assert.deepEqual(stats, { bytes: 5, lines: 2, endsWithNewline: true });
      assert.deepEqual(await lines(store, 'run-1', 'parts/a.jsonl'), ['1', 'é']);
      assert.equal(await text(store.read('run-1', artifact('parts/a.jsonl'))), '1\né\n');
      assert.equal(await store.size('run-1', artifact('parts/a.jsonl')), 5);
      assert.equal(await store.exists('run-1', artifact('parts/a.jsonl')), true);
      assert.equal(await store.exists('run-1', artifact('parts/b.jsonl')), false);
    });

    test('a writer shows nothing until commit; an aborted one leaves the old version', async () => {
      const store = await open();
      const name = artifact('results/x.jsonl');
      const first = await store.writer('run-1', name);
      await first.write('first');
      assert.equal(await store.exists('run-1', name), false);
      await first.commit();
      const second = await store.writer('run-1', name);
      await second.write('second');
      await second.abort();
      assert.deepEqual(await lines(store, 'run-1', 'results/x.jsonl'), ['first']);
      const third = await store.writer('run-1', name);
      await third.write('third');
      await third.commit();
      assert.deepEqual(await lines(store, 'run-1', 'results/x.jsonl'), ['third'], 'overwritten');
    });

    test('a stream larger than several upload parts goes through whole', async () => {
      const store = await open();
      const hash = createHash('sha256');
      async function* chunks() {
        for (let i = 0; i < 40; i++) {
          const chunk = Buffer.alloc(512 * 1024, `line ${i} `);
          chunk[chunk.length - 1] = 0x0a;
          hash.update(chunk);
          yield chunk;
        }
      }
      const stats = await store.writeStream('run-1', artifact('downloads/big.jsonl'), chunks());
      assert.deepEqual(stats, { bytes: 40 * 512 * 1024, lines: 40, endsWithNewline: true });
      const read = createHash('sha256');
      for await (const chunk of store.read('run-1', artifact('downloads/big.jsonl'))) {
        read.update(chunk as Buffer);
      }
      assert.equal(read.digest('hex'), hash.digest('hex'));
    });

    test('a failing source leaves no artifact', async () => {
      const store = await open();
      async function* failing() {
        yield Buffer.from('partial\n');
        throw new Error('boom');
      }
      await assert.rejects(
        store.writeStream('run-1', artifact('downloads/cut.jsonl'), failing()),
        /boom/,
      );
      assert.equal(await store.exists('run-1', artifact('downloads/cut.jsonl')), false);
    });

    test('JSON, missing artifacts, and removing a folder of them', async () => {
      const store = await open();
      assert.equal(await store.readJson('run-1', artifact('missing.json')), null);
      await store.writeJson('run-1', artifact('a/b.json'), { x: [1, 'é'] });
      await store.writeJson('run-1', artifact('ab.json'), { kept: true });
      assert.deepEqual(await store.readJson('run-1', artifact('a/b.json')), { x: [1, 'é'] });
      await assert.rejects(lines(store, 'run-1', 'nothing.jsonl'), { code: 'ENOENT' });
      await assert.rejects(store.size('run-1', artifact('nothing.jsonl')), { code: 'ENOENT' });
      await store.remove('run-1', artifact('a'));
      assert.equal(await store.exists('run-1', artifact('a/b.json')), false);
      assert.equal(await store.exists('run-1', artifact('ab.json')), true, 'a sibling stays');
      await store.remove('run-1', artifact('a'));
    });

    test('an artifact as a Blob, for a provider upload', async () => {
      const store = await open();
      await store.writeAtomic('run-1', artifact('parts/p.jsonl'), ['{"a":1}', '{"b":2}']);
      const { tmp, result } = await withFreshTmpdir(() =>
        store.withBlob('run-1', artifact('parts/p.jsonl'), async (blob) => ({
          size: blob.size,
          text: await blob.text(),
        })),
      );
      assert.deepEqual(result, { size: 16, text: '{"a":1}\n{"b":2}\n' });
      assert.deepEqual(await readdir(tmp), [], 'no temp file left');
    });

    test('the runs it holds, and removing one whole', async () => {
      const store = await open();
      assert.deepEqual(await runsIn(store), []);
      await store.writeAtomic('run-a', artifact('parts/p.jsonl'), ['a']);
      await store.writeJson('run-a', artifact('summary.json'), {});
      await store.writeAtomic('run-b', artifact('results.jsonl'), ['b']);
      assert.deepEqual(await runsIn(store), ['run-a', 'run-b']);
      await store.removeRun('run-a');
      assert.deepEqual(await runsIn(store), ['run-b']);
      assert.equal(await store.exists('run-a', artifact('summary.json')), false);
      assert.deepEqual(await lines(store, 'run-b', 'results.jsonl'), ['b'], 'the other run stays');
    });

    test('an input is put once per run and version, then read where it was put', async () => {
      const store = await open();
      const file = join(await mkdtemp(join(tmpdir(), 'ns-input-')), 'requests.jsonl');
      await writeFile(file, 'v1\n');
      const v1 = { bytes: 3, mtimeMs: (await stat(file)).mtimeMs };
      const location = await store.putInput('run-1', file, v1);
      assert.deepEqual(await store.inputVersion(location), v1);
      assert.equal(await text(store.readInput(location)), 'v1\n');
      if (store instanceof S3ArtifactStore) {
        assert.match(location, /^s3:\/\/contract-\d+\/nightshift\/runs\/run-1\/input\.jsonl$/);
        // Same version claimed: nothing is uploaded, so the stored copy keeps its bytes.
        await writeFile(file, 'v2\n');
        assert.equal(await store.putInput('run-1', file, v1), location);
        assert.equal(await text(store.readInput(location)), 'v1\n');
        await utimes(file, new Date(), new Date(Date.now() + 5000));
        const v2 = { bytes: 3, mtimeMs: (await stat(file)).mtimeMs };
        await store.putInput('run-1', file, v2);
        assert.equal(await text(store.readInput(location)), 'v2\n');
        assert.deepEqual(await store.inputVersion(location), v2);
      } else {
        assert.equal(location, file, 'the workers share the disk: read where it is');
      }
      assert.equal(await store.inputVersion(`${location}.missing`), null);
    });

    test('cache objects: written whole, read by line and by range, listed, removed', async () => {
      const store = await open();
      const pack = 'openai/packs/run-1.part-1.attempt-1.jsonl' as CacheObjectName;
      const keys = 'openai/keys/run-1.part-1.attempt-1.keys' as CacheObjectName;
      const other = 'gemini/packs/run-2.part-1.attempt-1.jsonl' as CacheObjectName;
      assert.equal(await store.readCacheRange(pack, 0, 3), null);
      assert.deepEqual(await texts(store.readCacheLines(pack)), []);
      const writer = await store.cacheWriter(pack);
      await writer.write('{"a":1}');
      await writer.write('{"b":22}');
      assert.deepEqual(await names(store.cacheObjects()), [], 'nothing before the commit');
      await writer.commit();
      await writeLines(await store.cacheWriter(keys), ['k 0 7']);
      await writeLines(await store.cacheWriter(other), ['{}']);
      await store.writeAtomic('run-1', artifact('results.jsonl'), ['not in the cache']);
      assert.equal(await store.readCacheRange(pack, 8, 8), '{"b":22}');
      assert.deepEqual(await texts(store.readCacheLines(pack)), ['{"a":1}', '{"b":22}']);
      assert.deepEqual(await names(store.cacheObjects()), [other, keys, pack]);
      assert.deepEqual(await names(store.cacheObjects('openai/keys/')), [keys]);
      const listed = [];
      for await (const info of store.cacheObjects('openai/packs/')) listed.push(info);
      assert.equal(listed[0]?.bytes, 17);
      assert.ok(Date.now() - (listed[0]?.modified.getTime() ?? 0) < 60_000);
      await store.removeCacheObject(pack);
      await store.removeCacheObject(pack);
      assert.equal(await store.readCacheRange(pack, 0, 3), null);
      assert.deepEqual(await names(store.cacheObjects()), [other, keys]);
      await assert.rejects(store.cacheWriter('openai/../../x' as never), /invalid cache object/);
    });
  });
}

async function texts(source: AsyncIterable<{ text: string }>): Promise<string[]> {
  const out: string[] = [];
  for await (const { text } of source) out.push(text);
  return out;
}

async function names(source: AsyncIterable<{ name: string }>): Promise<string[]> {
  const out: string[] = [];
  for await (const { name } of source) out.push(name);
  return out.sort();
}

describe('S3 store settings that do not work', { skip }, () => {
  const open = (url: string, overrides: object = {}) =>
    new S3ArtifactStore(url, {
      endpoint: server?.endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: 'nightshift-test', secretAccessKey: 'nightshift-test-secret' },
      ...overrides,
    });

  test('a store that works passes its check', async () => {
    await (server as S3Server).store('settings-ok');
    await open('s3://settings-ok/x').check();
  });

  test('an unknown bucket names NIGHTSHIFT_STORE', async () => {
    await assert.rejects(open('s3://no-such-bucket/x').check(), {
      name: 'StoreSettingsError',
      message: /^NIGHTSHIFT_STORE: no bucket "no-such-bucket" at http:\/\/127\.0\.0\.1:\d+/,
    });
  });

  test('refused credentials name the AWS key settings', async () => {
    await (server as S3Server).store('settings-creds');
    const wrong = { credentials: { accessKeyId: 'nightshift-test', secretAccessKey: 'wrong' } };
    await assert.rejects(open('s3://settings-creds/x', wrong).check(), {
      message: /^AWS_ACCESS_KEY_ID \/ AWS_SECRET_ACCESS_KEY: .* refused them/,
    });
  });

  test('an unreachable endpoint names AWS_ENDPOINT_URL_S3', async () => {
    const closed = { endpoint: 'http://127.0.0.1:9', maxAttempts: 1 };
    await assert.rejects(open('s3://any/x', closed).check(), {
      message: /^AWS_ENDPOINT_URL_S3: cannot reach http:\/\/127\.0\.0\.1:9 .*ECONNREFUSED/,
    });
  });

  test('a URL that is not s3://bucket/prefix is refused', () => {
    assert.throws(() => open('https://bucket/x'), { name: 'StoreSettingsError' });
  });
});
