/**
 * RecentIds (the put ids a snapshot keeps, packed in frozen blocks) against
 * plain arrays trimmed the way a snapshot must see them: oldest first, past
 * the cap or older than the window dropped from the front; and a capture
 * stays what it was while ids come and go.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { BLOCK_IDS, blockId, freeze, type RecentId, RecentIds } from "../lib/store/recent_ids.ts";

/** The reference: every id in an array; a capture drops from the front. */
class Model {
  readonly ids: RecentId[] = [];
  constructor(readonly windowMs: number, readonly maxIds: number) {}

  capture(now: number): RecentId[] {
    let head = 0;
    const n = this.ids.length;
    while (head < n && (n - head > this.maxIds || this.ids[head].at < now - this.windowMs)) head++;
    return this.ids.slice(head);
  }
}

test("RecentIds captures what plain arrays would keep, across frozen blocks", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 3 * BLOCK_IDS }),
      fc.array(
        fc.record({
          // Puts to remember (their times step on, now and then a little back), then a capture.
          puts: fc.integer({ min: 0, max: 2 * BLOCK_IDS }),
          step: fc.integer({ min: -5, max: 20 }),
          queues: fc.constantFrom(["tasks"], ["tasks", "results", "é-ß 🙂"]),
        }),
        { maxLength: 6 },
      ),
      (maxIds, rounds) => {
        const windowMs = 50_000;
        const ids = new RecentIds({ windowMs, maxIds });
        const model = new Model(windowMs, maxIds);
        let at = 1_000_000;
        let n = 0;
        for (const { puts, step, queues } of rounds) {
          for (let i = 0; i < puts; i++) {
            at += i % 7 === 0 ? step : 1;
            const id = { q: queues[n % queues.length], id: `put-${n++}${"é".repeat(n % 3)}`, at };
            ids.remember(id.q, id.id, id.at);
            model.ids.push(id);
          }
          const captured = ids.capture(at);
          const expected = model.capture(at);
          assert.equal(captured.length, expected.length);
          assert.deepEqual([...captured], expected);
        }
      },
    ),
    { numRuns: 40 },
  );
});

test("RecentIds: a capture keeps its ids while later ones come and old ones are trimmed", () => {
  const ids = new RecentIds({ windowMs: 1000, maxIds: 2 * BLOCK_IDS });
  assert.equal(ids.capture(0).length, 0);
  for (let i = 0; i < BLOCK_IDS + 10; i++) ids.remember("tasks", `a${i}`, 5000);
  const first = ids.capture(5000);
  const before = [...ids.capture(5000)];
  // Enough newer ids to push the first ones past the cap, and a capture past their window.
  for (let i = 0; i < 3 * BLOCK_IDS; i++) ids.remember("results", `b${i}`, 9000);
  const later = ids.capture(9000);
  assert.equal(later.length, 2 * BLOCK_IDS);
  assert.ok([...later].every((id) => id.q === "results" && id.at === 9000));
  assert.deepEqual([...first], before);
  assert.equal(first.length, BLOCK_IDS + 10);
  assert.deepEqual(before.at(-1), { q: "tasks", id: `a${BLOCK_IDS + 9}`, at: 5000 });
  assert.throws(() => [...first], /read once/);
});

test("RecentIds frees a trimmed block at once, or once the captures reading it are done", () => {
  const blocks = [0, 1, 2].map((b) => {
    const n = Array.from({ length: BLOCK_IDS }, (_, i) => b * BLOCK_IDS + i);
    return freeze(n.map(() => "tasks"), n.map((i) => `t${i}`), n.map(() => 1000));
  });
  const seeded = () => {
    const ids = new RecentIds({ windowMs: 1000, maxIds: 10 * BLOCK_IDS });
    const count = 3 * BLOCK_IDS;
    const fail = () => assert.fail("the frozen blocks are taken over, not read one by one");
    ids.seed({
      length: count,
      queue: fail,
      id: fail,
      at: fail,
      frozen: { blocks, skip: 0, count },
    });
    return ids;
  };
  const freed = () => blocks.map((b) => b.at.length === 0 && b.ends.length === 0);

  const ids = seeded();
  const held = ids.capture(1500);
  const abandoned = ids.capture(1500);
  assert.equal(ids.capture(5000).length, 0, "every seeded id is past the window now");
  assert.deepEqual(freed(), [false, false, false], "two captures still read them");
  assert.deepEqual(
    [...held].map((r) => r.id),
    blocks.flatMap((b) => [...b.ends].map((_, i) => blockId(b, i))),
  );
  assert.deepEqual(freed(), [false, false, false], "the other capture holds them");
  let read = 0;
  for (const _ of abandoned) if (++read > BLOCK_IDS) break;
  assert.deepEqual(freed(), [true, true, true], "passed, or let go when it was left");

  // Trimmed with no capture reading them: freed right away.
  const fresh = [0, 1].map(() => freeze(["q"], ["x"], [0]));
  const alone = new RecentIds({ windowMs: 10, maxIds: 10 });
  alone.seed({
    length: 2,
    queue: () => "q",
    id: () => "x",
    at: () => 0,
    frozen: { blocks: fresh, skip: 0, count: 2 },
  });
  alone.capture(100);
  assert.deepEqual(fresh.map((b) => b.at.length), [0, 0]);
});

test("a frozen block gives every id back exactly, whatever prefixes its ids share", () => {
  // Ids that share long prefixes (past the 255 a block stores), none, or split a surrogate pair.
  const long = "p".repeat(300);
  const piece = fc.constantFrom("", "a", "ab", "🙂", "\ud83d", "\ude42", "é", long, "result:");
  const id = fc.array(piece, { maxLength: 4 }).map((parts) => parts.join(""));
  fc.assert(
    fc.property(fc.array(id, { minLength: 1, maxLength: 80 }), (ids) => {
      const block = freeze(ids.map(() => "tasks"), ids, ids.map((_, i) => i));
      ids.forEach((expected, i) => assert.equal(blockId(block, i), expected));
      const remembered = new RecentIds({ windowMs: 1e12, maxIds: 1e6 });
      for (const one of ids) remembered.remember("tasks", one, 0);
      assert.deepEqual([...remembered.capture(0)].map((r) => r.id), ids);
    }),
    { numRuns: 200 },
  );
});

test("a frozen block keeps of consecutive ids only what they do not share", () => {
  const ids = Array.from(
    { length: BLOCK_IDS },
    (_, i) => `result:k3_Zq9-bT1-${(1e6 + i).toString(36)}`,
  );
  const block = freeze(ids.map(() => "results"), ids, ids.map(() => 0));
  // Whole every 16th id (22 characters), else the last few that differ.
  assert.ok(block.text.length < BLOCK_IDS * 5, `${block.text.length} characters kept`);
  assert.equal(blockId(block, BLOCK_IDS - 1), ids[BLOCK_IDS - 1]);
});
