/**
 * IntMap and IntSet (the broker's lease tables) against `Map` and `Set`:
 * random sets, gets and deletes, with keys that cluster the way lease tags do
 * (a run counting up) and keys far apart that share their low bits (long probe
 * runs that wrap around the table's end), through growing and shrinking.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { IntMap, IntSet } from "../lib/queue/int_map.ts";

/** A key: near the current run of tags, or a multiple of 1024 (same low bits), or past 2^32. */
const key = fc.oneof(
  fc.integer({ min: 1, max: 300 }),
  fc.integer({ min: 0, max: 40 }).map((k) => k * 1024),
  fc.integer({ min: 0, max: 40 }).map((k) => 2 ** 32 + k * 64),
);
const op = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), key, value: fc.integer() }),
  fc.record({ kind: fc.constant("delete" as const), key }),
  fc.record({ kind: fc.constant("get" as const), key }),
);

test("IntMap answers get, has, set, delete and size as a Map does", () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 600 }), (ops) => {
      const map = new IntMap<number>();
      const model = new Map<number, number>();
      for (const o of ops) {
        if (o.kind === "set") {
          map.set(o.key, o.value);
          model.set(o.key, o.value);
        } else if (o.kind === "delete") {
          assert.equal(map.delete(o.key), model.delete(o.key));
        } else {
          assert.equal(map.get(o.key), model.get(o.key));
          assert.equal(map.has(o.key), model.has(o.key));
        }
        assert.equal(map.size, model.size);
      }
      // Every key still findable (deletes moved the right entries back), none extra.
      for (const [k, v] of model) assert.equal(map.get(k), v);
      assert.deepEqual(
        [...map.keys()].sort((a, b) => a - b),
        [...model.keys()].sort((a, b) => a - b),
      );
      assert.deepEqual(
        [...map.values()].sort((a, b) => a - b),
        [...model.values()].sort((a, b) => a - b),
      );
    }),
    { numRuns: 300 },
  );
});

test("IntMap keeps lease-like traffic (a window of tags sliding up) in the same table", () => {
  const map = new IntMap<string>();
  for (let tag = 1; tag <= 100_000; tag++) {
    map.set(tag, `lease ${tag}`);
    if (tag > 700) assert.equal(map.delete(tag - 700), true);
  }
  assert.equal(map.size, 700);
  assert.equal(map.get(100_000 - 699), `lease ${100_000 - 699}`);
  assert.equal(map.get(100_000 - 700), undefined);
  // Emptied, it shrinks back and still works.
  for (let tag = 100_000 - 699; tag <= 100_000; tag++) map.delete(tag);
  assert.equal(map.size, 0);
  assert.deepEqual([...map.keys()], []);
  map.set(5, "again");
  assert.equal(map.get(5), "again");
  map.clear();
  assert.equal(map.size, 0);
  assert.equal(map.has(5), false);
});

test("IntSet adds, finds, deletes and lists its keys as a Set does", () => {
  const set = new IntSet();
  const model = new Set<number>();
  for (let i = 0; i < 5_000; i++) {
    const k = (i * 7919) % 1500;
    if (i % 3 === 2) assert.equal(set.delete(k), model.delete(k));
    else {
      set.add(k);
      model.add(k);
    }
    assert.equal(set.has(k), model.has(k));
  }
  assert.equal(set.size, model.size);
  assert.deepEqual([...set].sort((a, b) => a - b), [...model].sort((a, b) => a - b));
});
