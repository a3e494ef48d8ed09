import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FingerprintSet } from '../src/fingerprint-set.js';

test('adds each distinct string once, through many growths', () => {
  const set = new FingerprintSet(4);
  for (let i = 0; i < 200_000; i++) assert.equal(set.add(`req-${i}`), true);
  for (let i = 0; i < 200_000; i += 997) assert.equal(set.add(`req-${i}`), false);
  assert.equal(set.size, 200_000);
});

test('property: agrees with a Set on any strings, empty and non-ASCII included', () => {
  fc.assert(
    fc.property(
      fc.array(fc.string({ unit: 'binary', maxLength: 12 }), { maxLength: 300 }),
      (values) => {
        const set = new FingerprintSet(2);
        const reference = new Set<string>();
        for (const value of values) {
          assert.equal(set.add(value), !reference.has(value), JSON.stringify(value));
          reference.add(value);
        }
        assert.equal(set.size, reference.size);
      },
    ),
  );
});
