/**
 * PutLog (recovery's list of put ids in frozen blocks): what goes in comes
 * back in order across its blocks, `since` trims to the window, also when
 * the clock stepped back and left older times among newer ones, and the
 * journal's recent ids take its blocks over as they are.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { PutLog } from "../lib/store/put_log.ts";
import { BLOCK_IDS, type IdSource, RecentIds } from "../lib/store/recent_ids.ts";

function entries(source: IdSource): string[] {
  return Array.from(
    { length: source.length },
    (_, i) => `${source.queue(i)}/${source.id(i)}@${source.at(i)}`,
  );
}

test("PutLog keeps every entry in order through its growth, queues by name", () => {
  const log = new PutLog();
  const queues = ["tasks", "results", "tasks.dead", "a queue with a long name"];
  for (let i = 0; i < 5_000; i++) {
    log.push(
      queues[Math.floor(i / 700) % queues.length],
      `id-${i}`,
      1_000 + i,
      i % 3 === 0 ? -1 : i,
    );
  }
  assert.equal(log.length, 5_000);
  for (const i of [0, 1, 699, 700, 1023, 1024, 2047, 4999]) {
    assert.equal(log.queue(i), queues[Math.floor(i / 700) % queues.length]);
    assert.equal(log.id(i), `id-${i}`);
    assert.equal(log.at(i), 1_000 + i);
    assert.equal(log.seq(i), i % 3 === 0 ? -1 : i);
  }
});

test("PutLog.since() keeps the entries at or after a time, oldest first", () => {
  const log = new PutLog();
  for (let i = 0; i < 10; i++) log.push("q", `id-${i}`, i * 100, i);
  assert.deepEqual(entries(log.since(0)).length, 10);
  assert.deepEqual(entries(log.since(750)), ["q/id-8@800", "q/id-9@900"]);
  assert.deepEqual(entries(log.since(800)), ["q/id-8@800", "q/id-9@900"]);
  assert.deepEqual(entries(log.since(10_000)), []);
  assert.deepEqual(entries(new PutLog().since(0)), []);
});

test("PutLog.since() leaves out older times a stepped-back clock left among newer ones", () => {
  const log = new PutLog();
  for (
    const [id, at] of [["a", 100], ["b", 500], ["c", 200], ["d", 600], ["e", 300], [
      "f",
      700,
    ]] as const
  ) {
    log.push("q", id, at, 1);
  }
  assert.deepEqual(entries(log.since(400)), ["q/b@500", "q/d@600", "q/f@700"]);
  assert.deepEqual(entries(log.since(150)), [
    "q/b@500",
    "q/c@200",
    "q/d@600",
    "q/e@300",
    "q/f@700",
  ]);
});

test("the journal's recent ids seeded from a PutLog take its full blocks over and hold what one-by-one seeding would", () => {
  const log = new PutLog();
  const n = 3 * BLOCK_IDS + 123;
  for (let i = 0; i < n; i++) log.push(i % 5 === 0 ? "results" : "tasks", `id-${i}`, 1_000 + i, i);
  for (
    const [since, maxIds] of [[0, 1e6], [1_000 + 100, 1e6], [1_000 + BLOCK_IDS + 7, 1e6], [
      0,
      5_000,
    ]]
  ) {
    const view = log.since(since);
    assert.ok(view.frozen !== undefined && view.frozen.count > 0, "full blocks offered whole");
    const adopted = new RecentIds({ windowMs: 1e9, maxIds });
    adopted.seed(view);
    // The same ids without the blocks: remembered one by one.
    const plain = new RecentIds({ windowMs: 1e9, maxIds });
    plain.seed({ length: view.length, queue: view.queue, id: view.id, at: view.at });
    const seen = (ids: RecentIds) => [...ids.capture(2_000)].map((r) => `${r.q}/${r.id}@${r.at}`);
    assert.deepEqual(seen(adopted), seen(plain), `since ${since}, at most ${maxIds}`);
    assert.equal(adopted.length, plain.length);
  }
});

test("PutLog.release frees its seqs only: the blocks a store took over still hold every id", () => {
  const log = new PutLog();
  const n = 2 * BLOCK_IDS + 5;
  for (let i = 0; i < n; i++) log.push("tasks", `k3_Zq9-${i.toString(36)}`, 1_000 + i, i);
  const adopted = new RecentIds({ windowMs: 1e9, maxIds: 1e6 });
  adopted.seed(log.since(0));
  log.release();
  const ids = [...adopted.capture(2_000)].map((r) => `${r.id}@${r.at}`);
  assert.deepEqual(
    ids,
    Array.from({ length: n }, (_, i) => `k3_Zq9-${i.toString(36)}@${1_000 + i}`),
  );
});
