/**
 * SeenIds (the dedupe window in typed arrays) against a model with the
 * broker's former exact semantics: a Map of id to tick in insertion order,
 * an id seen while (tick(now) - tick(then)) * 100 < windowMs, the oldest
 * forgotten first past the window or over the cap.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { SeenIds } from "../lib/queue/seen_ids.ts";
import { fingerprint } from "../lib/queue/fingerprint.ts";

/** The former `Map<string, number>` window, as the reference. */
class Model {
  readonly #map = new Map<string, number>();
  constructor(readonly windowMs: number, readonly maxIds: number) {}

  has(id: string, now: number): boolean {
    const at = this.#map.get(id);
    return at !== undefined && (tick(now) - at) * 100 < this.windowMs;
  }

  add(id: string, now: number): void {
    this.#map.delete(id);
    this.#map.set(id, tick(now));
    for (const [old, at] of this.#map) {
      if (this.#map.size <= this.maxIds && (tick(now) - at) * 100 < this.windowMs) break;
      this.#map.delete(old);
    }
  }
}

function tick(ms: number): number {
  return Math.floor(ms / 100);
}

test("SeenIds.has() is true within the window and false after it, at tick precision", () => {
  const seen = new SeenIds({ windowMs: 1000, maxIds: 100 });
  seen.add("a", 0);
  assert.equal(seen.has("a", 0), true);
  assert.equal(seen.has("a", 999), true);
  assert.equal(seen.has("a", 1000), false);
  assert.equal(seen.has("b", 0), false);
  seen.add("a", 1500);
  assert.equal(seen.has("a", 2400), true, "a repeat after the window starts a new one");
  assert.equal(seen.size, 1, "the old entry was forgotten when the new one came");
});

test("SeenIds forgets the oldest ids first once over maxIds", () => {
  const seen = new SeenIds({ windowMs: 60_000, maxIds: 3 });
  for (const id of ["a", "b", "c", "d", "e"]) seen.add(id, 0);
  assert.deepEqual(["a", "b", "c", "d", "e"].map((id) => seen.has(id, 0)), [
    false,
    false,
    true,
    true,
    true,
  ]);
  assert.equal(seen.size, 3);
});

test("SeenIds grows, and gives memory back once the ids age out, without losing one", () => {
  const seen = new SeenIds({ windowMs: 1000, maxIds: 1_000_000 });
  for (let i = 0; i < 20_000; i++) seen.add(`id-${i}`, 0);
  for (let i = 0; i < 20_000; i += 97) assert.equal(seen.has(`id-${i}`, 500), true, `id-${i}`);
  seen.add("late", 1000);
  assert.equal(seen.size, 1, "the burst aged out at once");
  assert.equal(seen.has("id-5", 1000), false);
  assert.equal(seen.has("late", 1000), true);
});

test("fingerprint() depends on the seed and on every character", () => {
  const a = new Uint32Array(2);
  const b = new Uint32Array(2);
  fingerprint("k3_Zq9-bT1-2s", [1, 2], a);
  fingerprint("k3_Zq9-bT1-2s", [1, 3], b);
  assert.notDeepEqual(a, b);
  fingerprint("k3_Zq9-bT1-2t", [1, 2], b);
  assert.notDeepEqual(a, b);
  fingerprint("a\0", [1, 2], a);
  fingerprint("a", [1, 2], b);
  assert.notDeepEqual(a, b);
});

type Op = { add: boolean; id: number; dt: number };

test("SeenIds agrees with the exact model under random adds, checks and time steps", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 40 }),
      fc.constantFrom(300, 1000, 5000),
      fc.array(
        fc.record({
          add: fc.boolean(),
          id: fc.integer({ min: 0, max: 60 }),
          dt: fc.constantFrom(0, 0, 0, 30, 99, 100, 250, 1200),
        }),
        { maxLength: 400 },
      ),
      (maxIds: number, windowMs: number, ops: Op[]) => {
        const seen = new SeenIds({ windowMs, maxIds });
        const model = new Model(windowMs, maxIds);
        let now = 0;
        for (const op of ops) {
          now += op.dt;
          const id = `id-${op.id}`;
          const known = seen.has(id, now);
          assert.equal(known, model.has(id, now), `has ${id} at ${now}`);
          // As the broker does: an id is added only when it is not a duplicate.
          if (op.add && !known) {
            seen.add(id, now);
            model.add(id, now);
          }
        }
        for (let i = 0; i <= 60; i++) {
          assert.equal(seen.has(`id-${i}`, now), model.has(`id-${i}`, now), `id-${i} at the end`);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test("SeenIds.addNew() ends as has() and add() one by one would, duplicates and cap included", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 40 }),
      fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 30 }),
      fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 120 }),
      fc.constantFrom(0, 50, 700, 2000),
      (maxIds: number, before: number[], batch: number[], dt: number) => {
        const windowMs = 1000;
        const bulk = new SeenIds({ windowMs, maxIds });
        const single = new SeenIds({ windowMs, maxIds });
        for (const i of before) {
          for (const seen of [bulk, single]) if (!seen.has(`id-${i}`, 0)) seen.add(`id-${i}`, 0);
        }
        bulk.addNew(batch.map((i) => `id-${i}`), dt);
        for (const i of batch) if (!single.has(`id-${i}`, dt)) single.add(`id-${i}`, dt);
        assert.equal(bulk.size, single.size);
        for (let i = 0; i <= 60; i++) {
          for (const now of [dt, dt + 500, dt + 1000]) {
            assert.equal(bulk.has(`id-${i}`, now), single.has(`id-${i}`, now), `id-${i} at ${now}`);
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});

test("SeenIds.addNew() of ids given as fingerprints (a restored queue's) is addNew() of the ids", () => {
  const ids = [3, 1, 3, 7, 1, 9].map((n) => `id-${n}`);
  const bySequence = new SeenIds({ windowMs: 1000, maxIds: 4 });
  const byId = new SeenIds({ windowMs: 1000, maxIds: 4 });
  bySequence.addNew({
    length: ids.length,
    fingerprint: (i, seed, out) => fingerprint(ids[i], seed, out),
  }, 0);
  byId.addNew(ids, 0);
  assert.equal(bySequence.size, byId.size);
  for (let n = 0; n <= 9; n++) {
    assert.equal(bySequence.has(`id-${n}`, 1), byId.has(`id-${n}`, 1), `id-${n}`);
  }
});

test("SeenIds.addNew() of a million ids keeps every one", () => {
  const seen = new SeenIds({ windowMs: 600_000, maxIds: 1_000_000 });
  const ids = Array.from({ length: 1_000_000 }, (_, i) => `k3_Zq9-bT1-${i.toString(36)}`);
  seen.addNew(ids, 0);
  assert.equal(seen.size, 1_000_000);
  for (let i = 0; i < ids.length; i += 997) assert.ok(seen.has(ids[i], 1), ids[i]);
  assert.ok(!seen.has("k3_Zq9-bT1-?", 1));
});
