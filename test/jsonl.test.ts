import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import {
  JsonlError,
  JsonlWriter,
  readJsonlLines,
  scanJsonlLines,
  writeLines,
  writeStream,
} from '../src/jsonl.js';

const dir = await mkdtemp(join(tmpdir(), 'nightshift-jsonl-'));
let files = 0;

async function fileWith(content: string | Buffer): Promise<string> {
  const path = join(dir, `in-${++files}.jsonl`);
  await writeFile(path, content);
  return path;
}

async function collect<T>(lines: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

test('splits LF and CRLF lines, keeps a final line without newline, counts bytes', async () => {
  const path = await fileWith('{"a":1}\r\n{"b":2}\n\n{"c":3}');
  assert.deepEqual(await collect(readJsonlLines(path)), [
    { text: '{"a":1}', lineNo: 1, bytes: 9 },
    { text: '{"b":2}', lineNo: 2, bytes: 8 },
    { text: '', lineNo: 3, bytes: 1 },
    { text: '{"c":3}', lineNo: 4, bytes: 7 },
  ]);
});

test('an empty file has no lines; a trailing newline makes no extra line', async () => {
  assert.deepEqual(await collect(readJsonlLines(await fileWith(''))), []);
  const lines = await collect(readJsonlLines(await fileWith('x\n')));
  assert.deepEqual(lines, [{ text: 'x', lineNo: 1, bytes: 2 }]);
});

test('strips a UTF-8 BOM on line 1 only, counting its bytes', async () => {
  const path = await fileWith('\uFEFF{"a":1}\n\uFEFF{"b":2}\n');
  const lines = await collect(readJsonlLines(path));
  assert.deepEqual(
    lines.map((l) => [l.text, l.bytes]),
    [
      ['{"a":1}', 11],
      ['\uFEFF{"b":2}', 11],
    ],
  );
});

test('multi-byte characters survive every chunk boundary', async () => {
  const text = ['héllo wörld ✓ 𝄞', '日本語のテキスト', 'plain'];
  const path = await fileWith(`${text.join('\n')}\n`);
  for (const chunkBytes of [1, 2, 3, 5, 7, 64]) {
    const lines = await collect(readJsonlLines(path, { chunkBytes }));
    assert.deepEqual(
      lines.map((l) => l.text),
      text,
      `chunkBytes ${chunkBytes}`,
    );
    assert.deepEqual(
      lines.map((l) => l.bytes),
      text.map((t) => Buffer.byteLength(t) + 1),
    );
  }
});

test('invalid UTF-8 is reported on its line; scanning goes on, reading throws', async () => {
  const path = await fileWith(
    Buffer.concat([
      Buffer.from('ok\n'),
      Buffer.from([0x7b, 0xff, 0xfe, 0x0a]),
      Buffer.from('after\n'),
    ]),
  );
  const scanned = await collect(scanJsonlLines(path, { chunkBytes: 2 }));
  assert.deepEqual(scanned[1], { text: null, lineNo: 2, bytes: 4, problem: 'invalid UTF-8' });
  assert.equal(scanned[2]?.text, 'after');
  await assert.rejects(collect(readJsonlLines(path)), (err: unknown) => {
    assert.ok(err instanceof JsonlError);
    assert.equal(err.lineNo, 2);
    return true;
  });
  // Lines are decoded one at a time as they are asked for, not a chunk's worth ahead: the good
  // line before the bad one, in the same chunk, is handed out before the read throws.
  const read = readJsonlLines(path);
  assert.deepEqual((await read.next()).value, { text: 'ok', lineNo: 1, bytes: 3 });
  await assert.rejects(read.next(), JsonlError);
});

test('an oversized line is reported without being buffered, and later lines still come', async () => {
  const path = await fileWith(`short\n${'x'.repeat(100)}\nnext\n${'y'.repeat(30)}`);
  const scanned = await collect(scanJsonlLines(path, { maxLineBytes: 20, chunkBytes: 8 }));
  assert.deepEqual(
    scanned.map((l) => [l.lineNo, l.text, l.bytes]),
    [
      [1, 'short', 6],
      [2, null, 101],
      [3, 'next', 5],
      [4, null, 30],
    ],
  );
});

test('breaking out of a read early is fine, and closes the file', async () => {
  const path = await fileWith('a\nb\nc\n');
  const open = async () => (await readdir('/proc/self/fd').catch(() => [])).length;
  const before = await open();
  for (let i = 0; i < 20; i++) {
    for await (const line of readJsonlLines(path)) {
      assert.equal(line.text, 'a');
      break;
    }
  }
  assert.ok((await open()) <= before, 'no file left open');
});

test('writeLines writes atomically with mode 0600 and reports stats', async () => {
  const path = join(dir, 'out.jsonl');
  const stats = await writeLines(path, ['{"a":1}', 'é']);
  assert.deepEqual(stats, { bytes: 11, lines: 2, endsWithNewline: true });
  assert.equal(await readFile(path, 'utf8'), '{"a":1}\né\n');
  assert.equal((await stat(path)).mode & 0o777, 0o600);
});

test('a failed write leaves the old file and no temp file behind', async () => {
  const sub = await mkdtemp(join(dir, 'atomic-'));
  const path = join(sub, 'out.jsonl');
  await writeLines(path, ['old']);
  async function* failing() {
    yield 'new';
    throw new Error('boom');
  }
  await assert.rejects(writeLines(path, failing()), /boom/);
  assert.equal(await readFile(path, 'utf8'), 'old\n');
  assert.deepEqual(await readdir(sub), ['out.jsonl']);
});

test('large writes are flushed in slices and arrive whole', async () => {
  const path = join(dir, 'big.jsonl');
  const line = 'z'.repeat(1000);
  const writer = await JsonlWriter.open(path);
  for (let i = 0; i < 3000; i += 1) await writer.write(line);
  assert.deepEqual(await writer.commit(), {
    bytes: 3000 * 1001,
    lines: 3000,
    endsWithNewline: true,
  });
  assert.equal((await readFile(path, 'utf8')).split('\n').length, 3001);
});

test('lines longer than the buffer, multi-byte text and raw chunks keep their order', async () => {
  const path = join(dir, 'mixed.jsonl');
  const writer = await JsonlWriter.open(path);
  const expected: string[] = [];
  for (let i = 0; i < 40; i++) {
    // Up to ~600 KB: past the writer's buffer, and past a third of it in UTF-16 units.
    const line = `${i}:${'é✓'.repeat((i * 7919) % 300_000)}`;
    await writer.write(line);
    expected.push(`${line}\n`);
    const raw = Buffer.from(`raw ${i} ${'x'.repeat((i * 104_729) % 400_000)}\n`);
    await writer.writeRaw(raw);
    expected.push(raw.toString());
  }
  const stats = await writer.commit();
  const text = await readFile(path, 'utf8');
  assert.equal(text, expected.join(''));
  assert.deepEqual(stats, { bytes: Buffer.byteLength(text), lines: 80, endsWithNewline: true });
});

test('writeStream copies bytes and counts lines, noticing a missing final newline', async () => {
  const path = join(dir, 'raw.jsonl');
  const chunks = [Buffer.from('a\nb'), Buffer.from('\nc')];
  assert.deepEqual(await writeStream(path, Readable.from(chunks)), {
    bytes: 5,
    lines: 3,
    endsWithNewline: false,
  });
  assert.equal(await readFile(path, 'utf8'), 'a\nb\nc');
});
