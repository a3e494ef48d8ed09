import assert from 'node:assert/strict';
import { mkdtemp, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PositionSpill } from '../src/position-spill.js';

const base = await mkdtemp(join(tmpdir(), 'nightshift-spill-'));

async function collect(spill: PositionSpill): Promise<(string | undefined)[]> {
  const out: (string | undefined)[] = [];
  for await (const text of spill.inOrder()) out.push(text);
  return out;
}

test('lines put in any order come back by position, gaps as undefined', async () => {
  const count = 20_000;
  const spill = await PositionSpill.create(join(base, 'a'), count);
  // Descending, skipping every third: crosses every block boundary and flush threshold.
  for (let p = count - 1; p >= 0; p--) if (p % 3 !== 0) await spill.put(p, `line ${p} ü\t{}`);
  const out = await collect(spill);
  assert.equal(out.length, count);
  const expected = Array.from({ length: count }, (_, p) =>
    p % 3 === 0 ? undefined : `line ${p} ü\t{}`,
  );
  assert.deepEqual(out, expected);
  await spill.remove();
  assert.equal(await stat(join(base, 'a')).catch(() => null), null);
});

test('the scratch folder goes with the last spill that used it', async () => {
  const parent = join(base, 'scratch');
  const [one, two] = await Promise.all([
    PositionSpill.create(join(parent, 'one'), 1),
    PositionSpill.create(join(parent, 'two'), 1),
  ]);
  await one?.remove();
  assert.deepEqual(await readdir(parent), ['two']);
  await two?.remove();
  assert.equal(await stat(parent).catch(() => null), null);
});

test('a new spill in the same place starts empty; positions outside the count are refused', async () => {
  const dir = join(base, 'b');
  const first = await PositionSpill.create(dir, 3);
  await first.put(1, 'old');
  await collect(first);
  const second = await PositionSpill.create(dir, 3);
  assert.deepEqual(await collect(second), [undefined, undefined, undefined]);
  await assert.rejects(second.put(3, 'x'), RangeError);
  await second.remove();
});

test('lines longer than a block’s buffer come back whole, beside short ones', async () => {
  const spill = await PositionSpill.create(join(base, 'long'), 5);
  const long = (p: number) => `${p}:${'é'.repeat(40_000)}`;
  for (const p of [4, 1, 3, 0]) await spill.put(p, p % 2 === 1 ? long(p) : `short ${p}`);
  assert.deepEqual(await collect(spill), ['short 0', long(1), undefined, long(3), 'short 4']);
  await spill.remove();
});
