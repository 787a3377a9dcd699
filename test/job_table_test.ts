/**
 * JobTable (recovery's jobs of one queue) against the Map<number, Job> it
 * replaces: the same jobs found by seq, and listed in the same order, under
 * puts in seq order, finishes, moves out of order and replacements.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { JobTable } from "../lib/store/job_table.ts";
import type { Job } from "../lib/queue/types.ts";

function job(seq: number, tag = 0): Job {
  return { seq, id: `id-${seq}-${tag}`, payload: "{}", priority: 0, attempts: 0, readyAt: 0 };
}

type Op = { kind: "put" | "add" | "delete" | "get"; seq: number };

test("JobTable agrees with a Map by seq: lookups, sizes and order", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          kind: fc.constantFrom("put", "put", "put", "add", "delete", "delete", "get"),
          seq: fc.integer({ min: 0, max: 3000 }),
        }),
        { maxLength: 600 },
      ),
      (ops: Op[]) => {
        const table = new JobTable();
        const model = new Map<number, Job>();
        let next = 1;
        let tag = 0;
        for (const op of ops) {
          if (op.kind === "put") {
            // A put: the next seq (ascending, as a journal has them).
            const j = job(next++);
            assert.equal(table.set(j), model.has(j.seq));
            model.set(j.seq, j);
          } else if (op.kind === "add") {
            // Any seq: a job moved here, or one replaced.
            const j = job(op.seq % next, ++tag);
            assert.equal(table.set(j), model.has(j.seq));
            model.set(j.seq, j);
          } else if (op.kind === "delete") {
            const seq = op.seq % next;
            assert.equal(table.delete(seq), model.delete(seq));
          } else {
            assert.equal(table.get(op.seq % next), model.get(op.seq % next));
          }
          assert.equal(table.size, model.size);
        }
        assert.deepEqual(table.list(), [...model.values()]);
      },
    ),
    { numRuns: 300 },
  );
});

test("JobTable sweeps its holes and still finds every job", () => {
  const table = new JobTable();
  const model = new Map<number, Job>();
  for (let seq = 1; seq <= 20_000; seq++) {
    const j = job(seq);
    table.set(j);
    model.set(seq, j);
  }
  // Finish most jobs in order (as acks come), some out of order.
  for (let seq = 1; seq <= 18_000; seq++) {
    if (seq % 7 === 3) continue;
    assert.ok(table.delete(seq));
    model.delete(seq);
  }
  assert.ok(!table.delete(5), "a finished job is gone");
  const moved = job(5, 1);
  table.set(moved); // out of order: the table indexes from now on
  model.set(5, moved);
  for (let seq = 19_000; seq <= 20_000; seq++) {
    assert.ok(table.delete(seq));
    model.delete(seq);
  }
  assert.equal(table.size, model.size);
  for (let seq = 0; seq <= 20_001; seq++) {
    assert.equal(table.get(seq), model.get(seq), `seq ${seq}`);
  }
  assert.deepEqual(table.list(), [...model.values()]);
});

test("JobTable.list() without holes is the table's own list, and later changes leave it as it was", () => {
  const table = new JobTable();
  for (let seq = 1; seq <= 5; seq++) table.set(job(seq));
  const listed = table.list();
  assert.equal(table.list(), listed, "no second list of the same jobs");
  table.delete(2);
  table.set(job(9));
  table.set(job(3, 1)); // replaces seq 3
  assert.deepEqual(listed.map((j) => j.id), ["id-1-0", "id-2-0", "id-3-0", "id-4-0", "id-5-0"]);
  assert.deepEqual(table.list().map((j) => j.id), [
    "id-1-0",
    "id-3-1",
    "id-4-0",
    "id-5-0",
    "id-9-0",
  ]);
});
