/**
 * JobTable (recovery's jobs of one queue) against the Map<number, Job> it
 * replaces: the same jobs found by seq, and listed in the same order, under
 * puts in seq order, finishes, moves out of order and replacements, whether
 * the jobs are packed yet or not.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { JobTable, MAX_RUNS } from "../lib/store/job_table.ts";
import { eachJob, idsOf, PackedJobs } from "../lib/queue/packed_jobs.ts";
import { fingerprint } from "../lib/queue/fingerprint.ts";
import type { Job } from "../lib/queue/types.ts";

function job(seq: number, tag = 0): Job {
  return { seq, id: `id-${seq}-${tag}`, payload: "{}", priority: 0, attempts: 0, readyAt: 0 };
}

type Op = { kind: "put" | "add" | "delete" | "get" | "change"; seq: number };

/** The table's jobs one by one, as the broker would load them. */
function listed(table: JobTable): Job[] {
  return [...eachJob(table.list())];
}

test("JobTable agrees with a Map by seq: lookups, changes, sizes and order", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          kind: fc.constantFrom("put", "put", "put", "add", "delete", "delete", "get", "change"),
          seq: fc.integer({ min: 0, max: 3000 }),
        }),
        { maxLength: 600 },
      ),
      fc.constantFrom(1, 3, 8, 512),
      (ops: Op[], packAt: number) => {
        const table = new JobTable({ packAt });
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
          } else if (op.kind === "change") {
            // A return record: the job got from the table is changed in place.
            const seq = op.seq % next;
            const got = table.get(seq);
            assert.deepEqual(got, model.get(seq));
            if (got !== undefined) got.attempts++;
            if (got !== undefined) model.get(seq)!.attempts++;
          } else {
            assert.deepEqual(table.get(op.seq % next), model.get(op.seq % next));
            assert.equal(table.idOf(op.seq % next), model.get(op.seq % next)?.id);
          }
          assert.equal(table.size, model.size);
        }
        assert.deepEqual(listed(table), [...model.values()]);
        // The ids' fingerprints as the broker reads them to restore its dedupe table.
        const ids = idsOf(table.list());
        const seed = [7, 11] as const;
        const got = new Uint32Array(2);
        const want = new Uint32Array(2);
        assert.equal(ids.length, model.size);
        [...model.values()].forEach((j, i) => {
          ids.fingerprint(i, seed, got);
          fingerprint(j.id, seed, want);
          assert.deepEqual(got, want, j.id);
        });
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
    assert.deepEqual(table.get(seq), model.get(seq), `seq ${seq}`);
  }
  assert.deepEqual(listed(table), [...model.values()]);
});

test("JobTable packs a run of puts; a chunk nothing changed is listed as it is", () => {
  const table = new JobTable({ packAt: 4 });
  for (let seq = 1; seq <= 10; seq++) table.set(job(seq));
  table.get(6)!.attempts = 2; // a return record for a packed job
  table.delete(7);
  const list = table.list();
  assert.ok(list[0] instanceof PackedJobs && list[0].length === 4, "seqs 1-4 packed");
  assert.ok(!(list[1] instanceof PackedJobs), "seqs 5-8: changed since, so listed as objects");
  assert.deepEqual(
    [...eachJob(list)].map((j) => [j.seq, j.attempts]),
    [[1, 0], [2, 0], [3, 0], [4, 0], [5, 0], [6, 2], [8, 0], [9, 0], [10, 0]],
  );
  assert.equal(table.get(7), undefined, "a finished packed job is gone");
  assert.equal(table.delete(7), false);
  assert.equal(table.size, 9);
});

test("JobTable keeps packing across runs of seqs (a snapshot's priorities, then its leased jobs)", () => {
  const table = new JobTable({ packAt: 8 });
  const model = new Map<number, Job>();
  const add = (j: Job) => {
    table.set(j);
    model.set(j.seq, j);
  };
  // Priority 5 jobs first (high seqs), then priority 0 (low seqs), then leased ones from the middle.
  for (let seq = 500; seq < 540; seq++) add(job(seq));
  for (let seq = 1; seq < 100; seq++) add(job(seq));
  for (let seq = 300; seq < 320; seq++) add(job(seq));
  table.get(10)!.attempts = 1; // found in the second run
  model.get(10)!.attempts = 1;
  assert.ok(table.delete(505) && model.delete(505));
  add(job(301, 1)); // a replacement keeps its place in the third run
  const list = table.list();
  assert.ok(
    list.filter((p) => p instanceof PackedJobs).length >= 10,
    "every run still packed into chunks",
  );
  assert.deepEqual(listed(table), [...model.values()]);
  assert.equal(table.size, model.size);
});

test(`JobTable past ${MAX_RUNS} runs keeps every job in a Map, in the order they came`, () => {
  const table = new JobTable({ packAt: 4 });
  const model = new Map<number, Job>();
  // Each pair descends: a new run every time (a dead-letter queue filled from many places).
  for (let k = 0; k < MAX_RUNS + 10; k++) {
    for (const seq of [10_000 - k * 10, 10_000 - k * 10 + 1]) {
      const j = job(seq);
      assert.equal(table.set(j), false);
      model.set(seq, j);
    }
  }
  assert.ok(table.delete(10_000) && model.delete(10_000));
  assert.equal(table.set(job(9_991, 2)), true);
  model.set(9_991, job(9_991, 2));
  assert.deepEqual(table.get(9_991), job(9_991, 2));
  assert.deepEqual(listed(table), [...model.values()]);
  assert.equal(table.size, model.size);
});
