/**
 * ReadyQueue and the PackedJobs chunks it packs waiting jobs into: every job
 * comes back exactly as it went in, in delivery order (priority, FIFO within
 * a priority, a job handed back first), whatever it carries.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { PackedJobs } from "../lib/queue/packed_jobs.ts";
import { fingerprint } from "../lib/queue/fingerprint.ts";
import { ReadyQueue } from "../lib/queue/ready_queue.ts";
import type { Job } from "../lib/queue/types.ts";

function job(seq: number, fields: Partial<Job> = {}): Job {
  return {
    seq,
    id: `k3_Zq9-bT1-${seq.toString(36)}`,
    payload: `{"json":${seq % 1000}}`,
    priority: 0,
    attempts: 0,
    readyAt: 0,
    ...fields,
  };
}

/** Characters of the jobs' ids and payloads. */
function chars(jobs: Iterable<Job>): number {
  let n = 0;
  for (const j of jobs) n += j.id.length + j.payload.length;
  return n;
}

function unpack(chunk: PackedJobs): Job[] {
  return Array.from({ length: chunk.length }, (_, i) => chunk.job(i));
}

test("PackedJobs gives back every job as it was, whatever it holds", () => {
  const jobs: Job[] = [
    job(10),
    job(11),
    job(12, { payload: '{"json":"x","meta":{"values":["bigint"]}}' }),
    job(9, { id: "", payload: "" }),
    job(13, { id: "🎉-ü-\ud800-lone", payload: "\udc00 ends with a lone surrogate \ud83d" }),
    job(14, { id: "x".repeat(600), payload: "y".repeat(5000) }),
    job(15, { attempts: 255 }),
    job(16, { attempts: 256 }),
    job(17, { readyAt: 1_700_000_000_123 }),
    job(2 ** 40, {}),
    job(18, { history: [{ at: 1, by: "c", why: "nacked" }] }),
    job(19, { replyTo: "caller-1" }),
    job(20, { reason: "bad", origin: "tasks" }),
    job(21, { backoff: { type: "fixed", delayMs: 5, maxMs: 5, jitter: false } }),
    job(22, { avoid: 3 }),
    job(23, { priority: 5 }),
    job(24, { id: "k3_Zq9-bT1-" }),
    job(25, { id: "\ufeffstarts with a byte order mark", payload: "\ufeff{}" }),
  ];
  const chunk = PackedJobs.pack(jobs, 0);
  assert.equal(chunk.length, jobs.length);
  assert.deepEqual(unpack(chunk), jobs);
  // More short pieces than one buffer of code units holds, a lone surrogate among them.
  const many = Array.from({ length: 512 }, (_, i) =>
    job(i + 1, {
      id: `${(i * 7919).toString(36).padStart(6, "x")}-${"q".repeat(30)}`,
      payload: i === 300 ? "\ud800" : `[${"p".repeat(i % 50)}]`,
    }));
  assert.deepEqual(unpack(PackedJobs.pack(many, 0)), many);
  // A chunk whose text starts with U+FEFF keeps it.
  // (The first job is the reference, so the second one's id starts the chunk's text.)
  const bom = [job(1, { id: "a", payload: "x" }), job(2, { id: "\ufeffb", payload: "\ufeffy" })];
  assert.deepEqual(unpack(PackedJobs.pack(bom, 0)), bom);
  const got = new Uint32Array(2);
  const want = new Uint32Array(2);
  jobs.forEach((j, i) => {
    assert.equal(chunk.seq(i), j.seq);
    assert.equal(chunk.id(i), j.id);
    chunk.fingerprint(i, [3, 5], got);
    fingerprint(j.id, [3, 5], want);
    assert.deepEqual(got, want, `the fingerprint of ${JSON.stringify(j.id)}, made from the chunk`);
  });
});

test("PackedJobs hands out copies: changing a job taken does not change the chunk", () => {
  const history = [{ at: 1, by: "c", why: "nacked" }];
  const chunk = PackedJobs.pack([job(1), job(2, { history })], 0);
  const first = chunk.job(0);
  first.attempts = 7;
  const second = chunk.job(1);
  second.history!.push({ at: 2, by: "d", why: "lease expired" });
  second.attempts = 3;
  assert.deepEqual(chunk.job(0), job(1));
  assert.deepEqual(chunk.job(1), job(2, { history: [{ at: 1, by: "c", why: "nacked" }] }));
});

test("PackedJobs keeps a chunk whose text outgrows 2^24 characters correct", () => {
  const big = "z".repeat(0x80_0000);
  const jobs = [
    job(1),
    job(2, { payload: big }),
    job(3, { payload: big }),
    job(4, { payload: big }),
  ];
  assert.deepEqual(unpack(PackedJobs.pack(jobs, 0)), jobs);
});

test("ReadyQueue hands out by priority, FIFO within one, a job handed back first", () => {
  const ready = new ReadyQueue({ packAt: 2 });
  for (let seq = 1; seq <= 5; seq++) ready.push(job(seq));
  ready.push(job(6, { priority: 1 }));
  ready.push(job(7, { priority: -1 }));
  const taken = ready.shift()!;
  assert.equal(taken.seq, 6);
  assert.equal(ready.shift()!.seq, 1);
  const back = ready.shift()!;
  assert.equal(back.seq, 2);
  ready.unshift(back);
  assert.deepEqual([...ready].map((j) => j.seq), [2, 3, 4, 5, 7]);
  assert.equal(ready.length, 5);
  assert.equal(ready.peek(), ready.peek(), "a peeked job is made once");
  const peeked = ready.peek();
  assert.equal(ready.shift(), peeked, "shift hands out the job peek showed");
});

test("ReadyQueue.textLength() counts every id and payload character of what waits, packed or not", () => {
  const ready = new ReadyQueue({ packAt: 3 });
  const jobs = Array.from({ length: 8 }, (_, i) => job(i + 1, { priority: i % 2 }));
  for (const j of jobs) ready.push(j);
  assert.equal(ready.textLength(), chars(jobs));
});

test("ReadyQueue.pushAll() holds the same jobs, in the same order, as push() one by one", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.array(fc.integer({ min: 0, max: 12 }), { maxLength: 8 }),
      fc.array(fc.constantFrom(-1, 0, 0, 0, 2), { maxLength: 60 }),
      (packAt: number, first: number[], priorities: number[]) => {
        const bulk = new ReadyQueue({ packAt });
        const single = new ReadyQueue({ packAt });
        let seq = 0;
        // Some jobs already waiting (a partly filled tail), then the bulk.
        for (const p of first) {
          const j = job(++seq, { priority: p % 3 });
          bulk.push(j);
          single.push(j);
        }
        const jobs = priorities.map((priority) => job(++seq, { priority }));
        bulk.pushAll(jobs);
        for (const j of jobs) single.push(j);
        assert.equal(bulk.length, single.length);
        assert.deepEqual([...bulk], [...single]);
        const taken: Job[] = [];
        for (let j = bulk.shift(); j !== undefined; j = bulk.shift()) taken.push(j);
        assert.deepEqual(taken, [...single]);
        assert.equal(bulk.length, 0);
      },
    ),
    { numRuns: 300 },
  );
});

test("ReadyQueue.pushPacked() takes a chunk as it is, after the jobs already waiting", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.array(fc.constantFrom(0, 0, 2), { maxLength: 10 }),
      fc.array(fc.integer({ min: 1, max: 9 }), { maxLength: 5 }),
      (packAt: number, before: number[], chunkSizes: number[]) => {
        const packed = new ReadyQueue({ packAt });
        const single = new ReadyQueue({ packAt });
        let seq = 0;
        for (const priority of before) {
          const j = job(++seq, { priority });
          packed.push(j);
          single.push(j);
        }
        for (const size of chunkSizes) {
          const jobs = Array.from({ length: size }, () => job(++seq));
          packed.pushPacked(PackedJobs.pack(jobs, 0));
          for (const j of jobs) single.push(j);
          packed.push(job(++seq, { priority: 2 }));
          single.push(job(seq, { priority: 2 }));
        }
        assert.equal(packed.length, single.length);
        assert.equal(packed.textLength(), single.textLength());
        assert.deepEqual([...packed], [...single]);
        const taken: Job[] = [];
        for (let j = packed.shift(); j !== undefined; j = packed.shift()) taken.push(j);
        assert.deepEqual(taken, [...single]);
      },
    ),
    { numRuns: 200 },
  );
  assert.throws(
    () => new ReadyQueue().pushPacked(PackedJobs.pack([job(1, { priority: 4 })], 0)),
    /plain jobs only/,
  );
});

test("ReadyQueue frees a drained chunk at once, or once the captures reading it are done", () => {
  const chunks = [1, 2, 3].map((c) =>
    PackedJobs.pack(Array.from({ length: 4 }, (_, i) => job(c * 10 + i)), 0)
  );
  const ready = new ReadyQueue({ packAt: 4 });
  for (const chunk of chunks) ready.pushPacked(chunk);
  for (let i = 0; i < 3; i++) ready.shift();
  assert.equal(chunks[0].freed, false, "jobs of it still wait");
  ready.shift();
  assert.equal(chunks[0].freed, true, "drained, and no capture reads it");

  // A capture holds the rest: drained meanwhile, they stay readable until it passes them.
  const capture = ready.capture();
  const abandoned = ready.capture();
  for (let i = 0; i < 8; i++) ready.shift();
  assert.deepEqual([chunks[1].freed, chunks[2].freed], [false, false]);
  const read: number[] = [];
  for (const j of capture) read.push(j.seq);
  assert.deepEqual(read, [20, 21, 22, 23, 30, 31, 32, 33]);
  assert.deepEqual(
    [chunks[1].freed, chunks[2].freed],
    [false, false],
    "the other capture holds them",
  );
  // Left after one job: the chunk it was in and the one it never reached are let go.
  for (const _ of abandoned) break;
  assert.deepEqual([chunks[1].freed, chunks[2].freed], [true, true]);
  assert.throws(() => [...capture], /read once/);

  // A capture never read keeps its chunks to the collector; the queue is unaffected.
  const more = PackedJobs.pack(Array.from({ length: 4 }, (_, i) => job(40 + i)), 0);
  ready.pushPacked(more);
  ready.capture();
  for (let i = 0; i < 4; i++) assert.equal(ready.shift()!.seq, 40 + i);
  assert.equal(more.freed, false);
});

test("ReadyQueue.filter() removes what it rejects and keeps the rest in order", () => {
  const ready = new ReadyQueue({ packAt: 2 });
  for (let seq = 1; seq <= 7; seq++) ready.push(job(seq, { priority: seq % 2 }));
  const removed = ready.filter((j) => j.seq % 3 !== 0);
  assert.deepEqual(removed.map((j) => j.seq), [3, 6]);
  assert.deepEqual([...ready].map((j) => j.seq), [1, 5, 7, 2, 4]);
  assert.equal(ready.length, 5);
});

/** The former ReadyQueue: one array per priority. */
class Model {
  readonly buckets = new Map<number, Job[]>();
  push(j: Job): void {
    this.#bucket(j.priority).push(j);
  }
  unshift(j: Job): void {
    this.#bucket(j.priority).unshift(j);
  }
  all(): Job[] {
    return [...this.buckets.keys()].sort((a, b) => b - a).flatMap((p) => this.buckets.get(p)!);
  }
  shift(): Job | undefined {
    for (const p of [...this.buckets.keys()].sort((a, b) => b - a)) {
      const j = this.buckets.get(p)!.shift();
      if (j !== undefined) return j;
    }
    return undefined;
  }
  #bucket(p: number): Job[] {
    let b = this.buckets.get(p);
    if (b === undefined) this.buckets.set(p, b = []);
    return b;
  }
}

const jobArb = fc.record({
  priority: fc.integer({ min: -1, max: 1 }),
  id: fc.oneof(fc.string(), fc.constantFrom("k3_Zq9-bT1-1", "k3_Zq9-bT1-22", "")),
  payload: fc.oneof(fc.string({ unit: "binary" }), fc.constantFrom('{"json":5}', '{"json":517}')),
  attempts: fc.constantFrom(0, 0, 1, 255, 300),
  readyAt: fc.constantFrom(0, 0, 0, 12345),
  extra: fc.constantFrom("none", "none", "none", "history", "replyTo", "dead"),
});

type JobFields = typeof jobArb extends fc.Arbitrary<infer T> ? T : never;

type Op =
  | { op: "push"; job: JobFields }
  | { op: "unshift" | "shift" | "peek" | "filter" | "clear" | "capture" };

test("ReadyQueue agrees with a list per priority under random operations; a capture stays as it was", () => {
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ op: fc.constant("push" as const), job: jobArb }) },
    {
      weight: 4,
      arbitrary: fc.record({
        op: fc.constantFrom("unshift", "shift", "peek") as fc.Arbitrary<
          "unshift" | "shift" | "peek"
        >,
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constantFrom("filter", "clear", "capture") as fc.Arbitrary<
          "filter" | "clear" | "capture"
        >,
      }),
    },
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.array(opArb, { maxLength: 120 }),
      (packAt, ops) => {
        const ready = new ReadyQueue({ packAt });
        const model = new Model();
        let seq = 1;
        let last: Job | undefined;
        // What each capture must give back, however the queue changed since.
        const captures: { jobs: Iterable<Job>; expected: Job[] }[] = [];
        for (const o of ops) {
          switch (o.op) {
            case "push": {
              const { extra, ...fields } = o.job;
              const j: Job = { seq: seq++, ...fields };
              if (extra === "history") j.history = [{ at: 1, by: "", why: "nacked" }];
              if (extra === "replyTo") j.replyTo = "caller";
              if (extra === "dead") Object.assign(j, { reason: "r", origin: "q" });
              ready.push(j);
              model.push(structuredClone(j));
              break;
            }
            case "shift": {
              const got = ready.shift();
              assert.deepEqual(got, model.shift());
              // The broker changes a job it took (attempts, history): nothing held may change with it.
              if (got !== undefined) {
                got.attempts++;
                (got.history ??= []).push({ at: 2, by: "c", why: "lease expired" });
                last = got;
              }
              break;
            }
            case "unshift":
              if (last !== undefined) {
                ready.unshift(last);
                model.unshift(structuredClone(last));
                last = undefined;
              }
              break;
            case "peek":
              assert.deepEqual(ready.peek(), model.all()[0]);
              break;
            case "filter": {
              const removed = ready.filter((j) => j.seq % 3 !== 0);
              const all = model.all();
              assert.deepEqual(removed, all.filter((j) => j.seq % 3 === 0));
              model.buckets.clear();
              for (const j of all) if (j.seq % 3 !== 0) model.push(j);
              break;
            }
            case "clear":
              assert.equal(ready.clear(), model.all().length);
              model.buckets.clear();
              break;
            case "capture":
              captures.push({ jobs: ready.capture(), expected: structuredClone(model.all()) });
              break;
          }
          assert.equal(ready.length, model.all().length);
          // An estimate that may count jobs already taken from a chunk, never less than what waits.
          assert.ok(ready.textLength() >= chars(model.all()));
        }
        assert.deepEqual([...ready], model.all());
        for (const { jobs, expected } of captures) assert.deepEqual([...jobs], expected);
      },
    ),
    { numRuns: 300 },
  );
});
