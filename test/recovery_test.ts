/**
 * Recovery: a torn tail cut at every byte offset keeps the good prefix and is
 * reported before it is cut; corruption in the middle refuses to start (and
 * salvage loads what is readable); newer formats and missing journals are
 * refused; replay rebuilds what the broker had.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openJournal, StoreError } from "../lib/store/open.ts";
import { StateFolder } from "../lib/store/recovery.ts";
import {
  COMMITTED_OFFSET,
  crc32,
  encodeCommitted,
  encodeHeader,
  FileKind,
  FORMAT_VERSION,
  HEADER_SIZE,
  readRecord,
  RecordWriter,
  type StoredRecord,
} from "../lib/store/record_codec.ts";
import { Broker } from "../lib/queue/broker.ts";
import { Owner } from "../lib/queue/backend.ts";
import type { Job } from "../lib/queue/types.ts";
import { PackedJobs } from "../lib/queue/packed_jobs.ts";

/** Options this test does not exercise: not paused, no rate limit, no backoff. */
const PLAIN = { paused: false, rateLimit: null, backoff: null };

const SEGMENT_1 = "journal-00000001.twj";

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "taskwire-recovery-"));
}

function job(seq: number, extra: Partial<Job> = {}): Job {
  return {
    seq,
    id: `id-${seq}`,
    payload: `${seq & 255}.1.2.3`,
    priority: 0,
    attempts: 0,
    readyAt: 0,
    ...extra,
  };
}

/** Writes a journal segment file holding `records`. */
function writeSegment(dir: string, generation: number, records: StoredRecord[]): Uint8Array {
  const writer = new RecordWriter();
  for (const record of records) writer.write(record, 1000);
  const body = writer.take();
  const bytes = new Uint8Array(HEADER_SIZE + body.length);
  bytes.set(encodeHeader(FileKind.journal, generation), 0);
  bytes.set(body, HEADER_SIZE);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `journal-${String(generation).padStart(8, "0")}.twj`), bytes);
  return bytes;
}

/** Offsets where records start, and the end of the last one. */
function boundaries(bytes: Uint8Array): number[] {
  const out = [HEADER_SIZE];
  let offset = HEADER_SIZE;
  while (offset < bytes.length) {
    const r = readRecord(bytes, offset);
    assert.ok(r.ok, `record at ${offset}`);
    offset += r.size;
    out.push(offset);
  }
  return out;
}

/** The state recovery must produce from the complete records of `bytes[0, end)`. */
function expected(bytes: Uint8Array, end: number): string[] {
  const folder = new StateFolder();
  let offset = HEADER_SIZE;
  while (offset < end) {
    const r = readRecord(bytes.subarray(0, end), offset);
    if (!r.ok) break;
    folder.apply(r.record);
    offset += r.size;
  }
  return describe(folder.result(Date.now(), 600_000).jobs);
}

function describe(jobs: { queue: string; job: Job }[]): string[] {
  return jobs.map(({ queue, job }) =>
    `${queue}:${job.id}:a${job.attempts}:r${job.readyAt}:${job.origin ?? ""}:${job.payload}`
  );
}

/** A journal where the last records are of every kind. */
function sampleRecords(): StoredRecord[] {
  const options = {
    maxsize: 0,
    leaseMs: 30_000,
    maxAttempts: 3,
    deadLetter: "tasks.dead",
    ...PLAIN,
  };
  const records: StoredRecord[] = [
    { t: "declare", q: "tasks", options },
    { t: "declare", q: "tasks.dead", options: { ...options, deadLetter: null } },
  ];
  for (let seq = 1; seq <= 8; seq++) records.push({ t: "put", q: "tasks", job: job(seq) });
  records.push(
    { t: "ack", q: "tasks", seq: 1 },
    { t: "return", q: "tasks", seq: 2, attempts: 1, readyAt: 0 },
    { t: "put", q: "tasks", job: job(9, { id: "unicode-ü-🚀", priority: 3 }) },
    { t: "dead", q: "tasks", seq: 3, to: "tasks.dead", reason: "no luck", attempts: 3 },
    { t: "return", q: "tasks", seq: 4, attempts: 2, readyAt: 4_000_000_000_000 },
    { t: "requeue", q: "tasks.dead", seq: 3, to: "tasks" },
    { t: "ack", q: "tasks", seq: 5 },
  );
  return records;
}

test("a journal cut at every byte offset of its last records: the good prefix is kept and the damage reported before the cut", async () => {
  const root = tempDir();
  const source = path.join(root, "source");
  const dir = path.join(root, "data");
  try {
    const bytes = writeSegment(source, 1, sampleRecords());
    const starts = boundaries(bytes);
    const from = starts[starts.length - 8]; // the last 7 records
    const cuts = [0, 1, 8, HEADER_SIZE - 1];
    for (let cut = from; cut < bytes.length; cut++) cuts.push(cut);
    for (const cut of cuts) {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir);
      const file = path.join(dir, SEGMENT_1);
      fs.writeFileSync(file, bytes.subarray(0, cut));
      const good = cut < HEADER_SIZE ? 0 : starts.filter((s) => s <= cut).pop()!;
      const events: Record<string, unknown>[] = [];
      const { store, restore, summary } = await openJournal(dir, {
        log: (event) => {
          // The size at the moment of reporting: the cut must come after the report.
          events.push({ ...event, sizeWhenReported: fs.statSync(file).size });
        },
      });
      const context = `cut at ${cut} (last good record ends at ${good})`;
      assert.deepEqual(describe(restore.jobs), expected(bytes, good), context);
      const tail = events.find((e) => e.event === "journal_tail_truncated");
      if (cut >= HEADER_SIZE && cut !== good) {
        assert.ok(tail, `${context}: damage not reported`);
        assert.equal(tail.offset, good, context);
        assert.equal(tail.bytes, cut - good, context);
        assert.equal(tail.sizeWhenReported, cut, `${context}: cut before it was reported`);
        assert.match(summary, new RegExp(`cut a damaged tail of ${cut - good} bytes`), context);
        assert.equal(restore.counts.truncatedBytes, cut - good);
      } else if (cut >= HEADER_SIZE) {
        assert.equal(tail, undefined, `${context}: a clean end reported as damage`);
        assert.doesNotMatch(summary, /damaged/);
      }
      assert.equal(fs.statSync(file).size, Math.max(good, HEADER_SIZE), context);
      // The god goes on appending after the good prefix.
      store.append({ t: "put", q: "tasks", job: job(100) });
      await store.close();
      const again = await openJournal(dir);
      assert.equal(again.restore.jobs.length, restore.jobs.length + 1, `${context}: reopen`);
      assert.doesNotMatch(again.summary, /damaged/);
      await again.store.close();
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("garbage after the last record is reported, kept aside and cut; zeros too", async () => {
  const dir = tempDir();
  try {
    for (
      // Fixed bytes: random ones could start with a small length and pass for a torn record.
      const garbage of [new Uint8Array(100).fill(0), new Uint8Array(333).fill(0xa5)]
    ) {
      fs.rmSync(dir, { recursive: true, force: true });
      const bytes = writeSegment(dir, 1, sampleRecords());
      fs.appendFileSync(path.join(dir, SEGMENT_1), garbage);
      const events: Record<string, unknown>[] = [];
      const { store, restore } = await openJournal(dir, { log: (e) => events.push(e) });
      assert.deepEqual(describe(restore.jobs), expected(bytes, bytes.length));
      const tail = events.find((e) => e.event === "journal_tail_truncated")!;
      assert.equal(tail.offset, bytes.length);
      assert.equal(tail.bytes, garbage.length);
      assert.deepEqual(new Uint8Array(fs.readFileSync(String(tail.keptIn))), garbage);
      await store.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("corruption in the middle refuses to start, touches nothing, and --salvage loads what is readable", async () => {
  const dir = tempDir();
  try {
    const records = sampleRecords();
    const bytes = writeSegment(dir, 1, records);
    const starts = boundaries(bytes);
    const victim = 4; // the put of seq 3
    const corrupt = bytes.slice();
    corrupt[starts[victim] + 12] ^= 0xff;
    fs.writeFileSync(path.join(dir, SEGMENT_1), corrupt);
    await assert.rejects(openJournal(dir), (error: unknown) => {
      assert.ok(error instanceof StoreError);
      assert.match(
        error.message,
        new RegExp(
          `journal .*journal-00000001\\.twj is corrupt at offset ${
            starts[victim]
          } \\(checksum mismatch.*valid records follow at offset ${
            starts[victim + 1]
          }; refusing to start so nothing is lost\\..*--salvage`,
        ),
      );
      assert.ok(!error.message.includes("\n"));
      return true;
    });
    assert.deepEqual(new Uint8Array(fs.readFileSync(path.join(dir, SEGMENT_1))), corrupt);
    assert.ok(!fs.existsSync(path.join(dir, "LOCK")), "the lock is released after refusing");

    const events: Record<string, unknown>[] = [];
    const salvaged = await openJournal(dir, { salvage: true, log: (e) => events.push(e) });
    assert.match(salvaged.summary, /salvaged past: journal .* is corrupt at offset/);
    const folder = new StateFolder();
    records.forEach((r, i) => i !== victim && folder.apply(r));
    const want = describe(folder.result(Date.now(), 600_000).jobs);
    assert.deepEqual(describe(salvaged.restore.jobs), want);
    assert.ok(events.some((e) => e.event === "salvaged"));
    await salvaged.store.close();
    const files = fs.readdirSync(dir);
    assert.ok(files.some((f) => f.startsWith(`${SEGMENT_1}.corrupt-`)), files.join(","));
    assert.ok(files.includes("snapshot-00000002.tws"), files.join(","));
    // The salvaged state is now the normal state.
    const again = await openJournal(dir);
    assert.deepEqual(describe(again.restore.jobs), want);
    await again.store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a damaged tail of an older journal, with newer journals after it, is corruption in the middle", async () => {
  const dir = tempDir();
  try {
    const first = writeSegment(dir, 1, sampleRecords());
    fs.writeFileSync(path.join(dir, SEGMENT_1), first.subarray(0, first.length - 3));
    writeSegment(dir, 2, [{ t: "put", q: "tasks", job: job(50) }]);
    await assert.rejects(
      openJournal(dir),
      /journal-00000001\.twj is corrupt at offset \d+ \(the last record is cut short.*\), and newer journals follow it; refusing/,
    );
    const { restore, store } = await openJournal(dir, { salvage: true });
    assert.ok(restore.jobs.some((j) => j.job.seq === 50));
    await store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a journal from a newer format version is refused with both versions named", async () => {
  const dir = tempDir();
  try {
    const bytes = writeSegment(dir, 1, sampleRecords());
    new DataView(bytes.buffer).setUint16(8, FORMAT_VERSION + 1, true);
    fs.writeFileSync(path.join(dir, SEGMENT_1), bytes);
    await assert.rejects(
      openJournal(dir),
      new RegExp(
        `written by a newer taskwire \\(format version ${
          FORMAT_VERSION + 1
        }; this build reads up to ${FORMAT_VERSION}\\); upgrade taskwire`,
      ),
    );
    // Not even salvage loads it: it might mean anything.
    await assert.rejects(openJournal(dir, { salvage: true }), /newer taskwire/);
    fs.writeFileSync(
      path.join(dir, SEGMENT_1),
      new TextEncoder().encode("hello, I am a text file"),
    );
    await assert.rejects(openJournal(dir), /is not a taskwire journal \(bad header: magic\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a missing journal generation is refused", async () => {
  const dir = tempDir();
  try {
    writeSegment(dir, 1, sampleRecords());
    writeSegment(dir, 3, []);
    await assert.rejects(openJournal(dir), /journal journal-00000002\.twj is missing/);
    fs.rmSync(path.join(dir, SEGMENT_1));
    await assert.rejects(openJournal(dir), /journal journal-00000001\.twj is missing/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a damaged snapshot is refused; salvage keeps the jobs before the damage", async () => {
  const dir = tempDir();
  try {
    const { store } = await openJournal(dir);
    const broker = new Broker({ journal: (r) => store.append(r) });
    store.attach?.(broker);
    const now = Date.now();
    for (let i = 0; i < 50; i++) {
      broker.put(
        null,
        "tasks",
        [{ id: `s${i}`, payload: "12345678", priority: 0, delayMs: 0 }],
        { now },
        () => {},
      );
    }
    await store.compact();
    await store.close();
    const snapshot = path.join(dir, "snapshot-00000002.tws");
    const bytes = fs.readFileSync(snapshot);
    bytes[bytes.length - 30] ^= 0x55; // inside the last records (ids / end)
    fs.writeFileSync(snapshot, bytes);
    await assert.rejects(openJournal(dir), /snapshot .* is damaged at offset \d+.*--salvage/);
    const salvaged = await openJournal(dir, { salvage: true });
    assert.equal(salvaged.restore.jobs.length, 50);
    await salvaged.store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("replay rebuilds what the broker had: delayed, nacked, dead-lettered, requeued, purged, in flight", async () => {
  const dir = tempDir();
  try {
    const { store } = await openJournal(dir);
    const broker = new Broker({ journal: (r) => store.append(r) });
    store.attach?.(broker);
    const owner = new Owner();
    const now = Date.now();
    const put = (q: string, id: string, delayMs = 0, priority = 0) =>
      broker.put(null, q, [{ id, payload: id, priority, delayMs }], {
        now,
      }, () => {});
    broker.declare("tasks", { maxAttempts: 2 });
    broker.declare("other");
    for (let i = 0; i < 10; i++) put("tasks", `t${i}`);
    put("tasks", "late", 3_600_000);
    put("tasks", "urgent", 0, 5);
    for (let i = 0; i < 5; i++) put("other", `o${i}`);
    const take = (q: string) => {
      let tag = 0;
      broker.get(owner, q, { now, timeoutMs: 0 }, (d) => tag = d!.tag);
      return tag;
    };
    broker.ack(owner, [take("tasks")], now); // urgent
    broker.nack(owner, take("tasks"), { now, delayMs: 0 }); // t0 back, attempts 1
    broker.nack(owner, take("tasks"), { now, dead: "bad input" }); // t0 dead
    broker.nack(owner, take("tasks"), { now, delayMs: 600_000 }); // t1 delayed
    broker.deadRequeue("tasks", null, now); // t0 back to tasks, attempts 0
    const o0 = take("other"); // in flight through the purge: the broker keeps it
    broker.purge("other", now);
    put("other", "o-after");
    broker.nack(owner, o0, { now }); // o0 back, ahead of o-after
    broker.nack(owner, take("tasks"), { now, dead: "twice" }); // t2 dead
    take("tasks"); // t3 in flight when the god stops
    await new Promise<void>((resolve) => store.afterCommit(resolve));
    const before = broker.stats(now).map((s) => [s.name, s.ready + s.inFlight, s.delayed]);
    const dead = broker.deadList("tasks", 100).map((j) => [j.id, j.reason, j.attempts]);
    await store.close();

    const { store: again, restore } = await openJournal(dir);
    const restored = new Broker({});
    restored.restore(restore, Date.now());
    assert.deepEqual(
      restored.stats(now).map((s) => [s.name, s.ready + s.inFlight, s.delayed]),
      before,
    );
    assert.deepEqual(
      restored.deadList("tasks", 100).map((j) => [j.id, j.reason, j.attempts]),
      dead,
    );
    assert.deepEqual(
      restored.peek("tasks", 100).map((j) => `${j.id}/${j.attempts}`).sort(),
      ["t0/0", "t3/0", "t4/0", "t5/0", "t6/0", "t7/0", "t8/0", "t9/0"],
      "the in-flight t3 is ready again with its attempts as journaled",
    );
    assert.deepEqual(restored.peek("other", 10).map((j) => j.id).sort(), ["o-after", "o0"]);
    assert.equal(restore.counts.dead, 1);
    assert.equal(restore.counts.delayed, 2);
    await again.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a backlog of thousands comes back packed as the journal is read, in the order the broker had", async () => {
  const dir = tempDir();
  try {
    const { store, broker, owner, now } = await journaled(dir);
    const put = (id: string, fields: { delayMs?: number; priority?: number } = {}) =>
      broker.put(
        null,
        "tasks",
        [{
          id,
          payload: `{"n":"${id}"}`,
          priority: fields.priority ?? 0,
          delayMs: fields.delayMs ?? 0,
        }],
        { now },
        () => {},
      );
    for (let i = 0; i < 3000; i++) {
      // Runs of other priorities, jobs delayed an hour and jobs delayed a moment, among plain puts.
      if (i % 1500 === 5) { for (let k = 0; k < 40; k++) put(`p${i}-${k}`, { priority: 3 }); }
      put(`j${i}`, i % 997 === 1 ? { delayMs: 3_600_000 } : i % 1300 === 2 ? { delayMs: 1 } : {});
    }
    // Some jobs taken and finished, some handed back (their attempts change after they were packed).
    for (let n = 0; n < 150; n++) {
      broker.get(owner, "tasks", { now, timeoutMs: 0 }, (d) => {
        if (n % 3 === 0) broker.nack(owner, d!.tag, { now });
        else broker.ack(owner, [d!.tag], now);
      });
    }
    await new Promise<void>((resolve) => store.afterCommit(resolve));
    await new Promise((resolve) => setTimeout(resolve, 5)); // the 1 ms delays are over
    const later = Date.now();
    const order = (b: Broker) =>
      b.peek("tasks", 10_000).map((j) => `${j.id}/${j.attempts}/${j.priority}`);
    const before = order(broker);
    const stats = broker.stats(later).map((s) => [s.name, s.ready, s.delayed] as const);
    await store.close();

    const { store: again, restore } = await openJournal(dir);
    const packed = [...restore.queueJobs.get("tasks")!].filter((p) => p instanceof PackedJobs);
    assert.ok(packed.length >= 3, `the backlog came back in chunks (${packed.length})`);
    const restored = new Broker({ journal: (r) => again.append(r) });
    restored.restore(restore, later);
    // The jobs delayed a moment are ready now: in seq order after a restart, still waiting before it.
    const moment = ["j2/0/0", "j1302/0/0", "j2602/0/0"];
    const got = order(restored);
    assert.deepEqual(got.filter((j) => !moment.includes(j)), before);
    assert.deepEqual(got.filter((j) => moment.includes(j)), moment);
    const [[, ready, delayed]] = stats;
    assert.deepEqual(
      restored.stats(later).map((s) => [s.name, s.ready, s.delayed]),
      [["tasks", ready + 3, delayed - 3]],
    );
    assert.equal(restore.counts.delayed, 4, "j1, j998, j1995 and j2992 wait an hour");
    // The ids of packed jobs still deduplicate; a new id is taken and numbered after the rest.
    let result: unknown;
    restored.put(
      null,
      "tasks",
      [
        { id: "j2500", payload: "again", priority: 0, delayMs: 0 },
        { id: "new", payload: "1", priority: 0, delayMs: 0 },
      ],
      { now: later },
      (r) => result = r,
    );
    assert.deepEqual(result, { accepted: 1, duplicates: 1 });
    const fresh = restored.peek("tasks", 10_000).find((j) => j.id === "new")!;
    assert.ok(
      fresh.seq > Math.max(
        ...restored.peek("tasks", 10_000).filter((j) => j !== fresh).map((j) => j.seq),
      ),
    );

    // Compacted with jobs in flight: the snapshot lists each priority, then the leased jobs.
    again.attach?.(restored);
    const leased: string[] = [];
    for (let n = 0; n < 5; n++) {
      restored.get(owner, "tasks", { now: later, timeoutMs: 0 }, (d) => leased.push(d!.job.id));
    }
    const waiting = restored.peek("tasks", 10_000).map((j) => j.id);
    await again.compact();
    await again.close();
    const { store: third, restore: fromSnapshot } = await openJournal(dir);
    const parts = [...fromSnapshot.queueJobs.get("tasks")!];
    assert.ok(
      parts.filter((p) => p instanceof PackedJobs).length >= 3,
      "a snapshot's jobs come back packed too",
    );
    const again3 = new Broker({});
    again3.restore(fromSnapshot, Date.now());
    const ids = again3.peek("tasks", 10_000).map((j) => j.id);
    assert.deepEqual(ids.filter((id) => !leased.includes(id)), waiting);
    assert.deepEqual(ids.filter((id) => leased.includes(id)).sort(), [...leased].sort());
    await third.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("recovered put ids keep deduplicating after a restart", async () => {
  const dir = tempDir();
  try {
    const { store, broker, owner, now } = await journaled(dir);
    broker.put(
      null,
      "tasks",
      [{ id: "once", payload: "1", priority: 0, delayMs: 0 }],
      { now },
      () => {},
    );
    broker.get(owner, "tasks", { now, timeoutMs: 0 }, (d) => broker.ack(owner, [d!.tag], now));
    await store.close();
    const { store: again, restore } = await openJournal(dir);
    const restored = new Broker({ journal: (r) => again.append(r) });
    restored.restore(restore, Date.now());
    let result: unknown;
    restored.put(
      null,
      "tasks",
      [{ id: "once", payload: "1", priority: 0, delayMs: 0 }],
      { now: Date.now() },
      (r) => result = r,
    );
    assert.deepEqual(result, { accepted: 0, duplicates: 1 });
    await again.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A journal opened in `dir` with a broker writing to it, an owner for leases, and the time. */
async function journaled(dir: string) {
  const { store } = await openJournal(dir);
  const broker = new Broker({ journal: (r) => store.append(r) });
  return { store, broker, owner: new Owner(), now: Date.now() };
}

/** Puts `n` jobs through a real journal in `dir` and closes it (its header then commits every byte). */
async function journalOf(dir: string, n: number): Promise<Uint8Array> {
  const { store } = await openJournal(dir);
  const broker = new Broker({ journal: (r) => store.append(r) });
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    broker.put(
      null,
      "tasks",
      [{ id: `j${i}`, payload: `payload ${i}`, priority: 0, delayMs: 0 }],
      { now },
      () => {},
    );
    await new Promise<void>((resolve) => store.afterCommit(resolve));
  }
  await store.close();
  return new Uint8Array(fs.readFileSync(path.join(dir, SEGMENT_1)));
}

/** The ids of the jobs put by {@link journalOf} that the records of `bytes[0, end)` hold. */
function idsIn(bytes: Uint8Array, end: number): string[] {
  return expected(bytes, end).map((line) => line.split(":")[1]);
}

function corruptCopies(dir: string, name: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.startsWith(`${name}.corrupt-`));
}

test("a journal cut exactly at a record boundary, short of what it had committed, refuses to start; --salvage loads the rest and keeps the file", async () => {
  const dir = tempDir();
  try {
    const bytes = await journalOf(dir, 20);
    const starts = boundaries(bytes);
    const cut = starts[starts.length - 6]; // the last 5 acknowledged puts are gone
    const file = path.join(dir, SEGMENT_1);
    fs.writeFileSync(file, bytes.subarray(0, cut));
    await assert.rejects(openJournal(dir), (error: unknown) => {
      assert.ok(error instanceof StoreError);
      assert.match(
        error.message,
        new RegExp(
          `journal .*journal-00000001\\.twj ends at byte ${cut}, but its first ${bytes.length} bytes were committed \\(fsynced and acknowledged\\): ${
            bytes.length - cut
          } bytes of acknowledged records are missing \\(the file was cut short\\); refusing to start so nothing is lost\\..*--salvage`,
        ),
      );
      assert.ok(!error.message.includes("\n"));
      return true;
    });
    assert.equal(fs.statSync(file).size, cut, "refusing touches nothing");

    const events: Record<string, unknown>[] = [];
    const salvaged = await openJournal(dir, { salvage: true, log: (e) => events.push(e) });
    assert.deepEqual(salvaged.restore.jobs.map((j) => j.job.id), idsIn(bytes, cut));
    assert.equal(salvaged.restore.jobs.length, 15);
    assert.equal(salvaged.restore.counts.missingBytes, bytes.length - cut);
    assert.match(salvaged.summary, /salvaged past: journal .* ends at byte/);
    await salvaged.store.close();
    const [kept] = corruptCopies(dir, SEGMENT_1);
    assert.ok(kept, fs.readdirSync(dir).join(","));
    assert.deepEqual(new Uint8Array(fs.readFileSync(path.join(dir, kept))), bytes.subarray(0, cut));
    assert.ok(events.some((e) => e.event === "salvage_kept"));
    const again = await openJournal(dir);
    assert.equal(again.restore.jobs.length, 15);
    assert.doesNotMatch(again.summary, /salvaged|damaged/);
    await again.store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a flipped bit in the last record's length: inside what was committed it refuses (salvage keeps the file whole); past it, the tail is cut and kept", async () => {
  const dir = tempDir();
  try {
    const bytes = await journalOf(dir, 10);
    const starts = boundaries(bytes);
    const lastRecord = starts[starts.length - 2];
    const flipped = bytes.slice();
    flipped[lastRecord + 2] ^= 0x10; // the length grows by 1 MiB: "cut short"
    const file = path.join(dir, SEGMENT_1);
    fs.writeFileSync(file, flipped);
    await assert.rejects(
      openJournal(dir),
      new RegExp(
        `journal-00000001\\.twj is damaged at offset ${lastRecord} \\(the last record is cut short.*\\), inside the ${bytes.length} bytes it had committed.*--salvage`,
      ),
    );
    assert.deepEqual(new Uint8Array(fs.readFileSync(file)), flipped, "refusing touches nothing");
    const salvaged = await openJournal(dir, { salvage: true });
    assert.deepEqual(salvaged.restore.jobs.map((j) => j.job.id), idsIn(bytes, lastRecord));
    await salvaged.store.close();
    const [kept] = corruptCopies(dir, SEGMENT_1);
    assert.deepEqual(new Uint8Array(fs.readFileSync(path.join(dir, kept))), flipped);

    // The same damage past the committed length (the record's fsync had not
    // finished, so it was never acknowledged): cut, reported, and kept.
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { mode: 0o700 });
    const uncommitted = flipped.slice();
    uncommitted.set(encodeCommitted(FileKind.journal, 1, lastRecord), COMMITTED_OFFSET);
    fs.writeFileSync(file, uncommitted);
    const events: Record<string, unknown>[] = [];
    const { store, restore } = await openJournal(dir, { log: (e) => events.push(e) });
    assert.deepEqual(restore.jobs.map((j) => j.job.id), idsIn(bytes, lastRecord));
    const tail = events.find((e) => e.event === "journal_tail_truncated");
    assert.ok(tail, JSON.stringify(events));
    assert.equal(tail.offset, lastRecord);
    assert.deepEqual(
      new Uint8Array(fs.readFileSync(String(tail.keptIn))),
      uncommitted.subarray(lastRecord),
      "every byte not loaded is kept",
    );
    assert.equal(fs.statSync(String(tail.keptIn)).mode & 0o777, 0o600, "privately");
    await store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a newest journal whose header was never fully written is kept aside before it starts afresh", async () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, SEGMENT_1);
    const half = encodeHeader(FileKind.journal, 1).subarray(0, 21);
    fs.writeFileSync(file, half);
    const events: Record<string, unknown>[] = [];
    const { store } = await openJournal(dir, { log: (e) => events.push(e) });
    const tail = events.find((e) => e.event === "journal_tail_truncated");
    assert.ok(tail, JSON.stringify(events));
    assert.deepEqual(new Uint8Array(fs.readFileSync(String(tail.keptIn))), half);
    await store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a version 1 journal (16-byte header, no committed length) still loads; the god goes on in a version 2 segment", async () => {
  const dir = tempDir();
  try {
    const records = sampleRecords();
    const writer = new RecordWriter();
    for (const record of records) writer.write(record, 1000);
    const body = writer.take();
    const v1 = new Uint8Array(16 + body.length);
    v1.set(encodeHeader(FileKind.journal, 1).subarray(0, 16), 0);
    new DataView(v1.buffer).setUint16(8, 1, true);
    v1.set(body, 16);
    fs.writeFileSync(path.join(dir, SEGMENT_1), v1);
    const folder = new StateFolder();
    records.forEach((r) => folder.apply(r));
    const want = describe(folder.result(Date.now(), 600_000).jobs);
    const { store, restore } = await openJournal(dir);
    assert.deepEqual(describe(restore.jobs), want);
    store.append({ t: "put", q: "tasks", job: job(100) });
    await store.close();
    const second = fs.readFileSync(path.join(dir, "journal-00000002.twj"));
    assert.equal(new DataView(second.buffer, second.byteOffset).getUint16(8, true), 2);
    assert.equal(
      crc32(second, 8, 24),
      new DataView(second.buffer, second.byteOffset).getUint32(24, true),
    );
    const again = await openJournal(dir);
    assert.equal(again.restore.jobs.length, want.length + 1);
    await again.store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("recovery keeps deduplicating the ids of jobs gone, and hands the live ones over with their jobs", () => {
  const folder = new StateFolder();
  const records: StoredRecord[] = [
    { t: "put", q: "a", job: job(1), at: 1000 },
    { t: "put", q: "a", job: job(2), at: 1000 },
    { t: "put", q: "a", job: job(3), at: 1000 },
    { t: "put", q: "b", job: job(4), at: 1000 },
    { t: "put", q: "b", job: job(5), at: 1000 },
    { t: "put", q: "c", job: job(6), at: 1000 },
    { t: "ack", q: "a", seq: 2 },
    { t: "requeue", q: "b", seq: 4, to: "c" },
    { t: "complete", q: "c", seq: 6, put: { q: "a", job: job(7) }, at: 1000 },
    { t: "purge", q: "c", keep: [] },
    { t: "id", q: "b", id: "snapshot-id", at: 1000 },
  ];
  for (const record of records) folder.apply(record);
  const state = folder.result(2000, 600_000);
  const live = (q: string) => state.queueJobs.get(q)?.map((j) => j.seq) ?? [];
  assert.deepEqual(live("a"), [1, 3, 7]);
  assert.deepEqual(live("b"), [5]);
  assert.deepEqual(live("c"), []);
  // The ids of jobs no longer live where they were put still dedupe; a live job's id comes with it.
  assert.deepEqual(
    state.ids.map((i) => `${i.queue}:${i.id}`).sort(),
    ["a:id-2", "b:id-4", "b:snapshot-id", "c:id-6"],
  );
  // A completion's result (id-7) is live, and its id is not kept for dedupe (see Broker.complete).
  assert.equal(state.counts.ids, 7);
  assert.equal(state.counts.jobs, 4);
  assert.deepEqual(state.jobs.map((j) => `${j.queue}:${j.job.seq}`), ["a:1", "a:3", "a:7", "b:5"]);
  const idsSince = (since: number) => {
    const ids = folder.recentIds(since);
    return Array.from({ length: ids.length }, (_, i) => ids.id(i));
  };
  assert.deepEqual(idsSince(0), [
    "id-1",
    "id-2",
    "id-3",
    "id-4",
    "id-5",
    "id-6",
    "snapshot-id",
  ]);
  assert.deepEqual(idsSince(1001), []);
});
