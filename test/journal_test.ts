/**
 * The journal: the record codec, group commit and fsync policies, compaction
 * (including every intermediate state a crash could leave), the lock, and the
 * errors a data directory can give at open.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import process from "node:process";
import {
  COMMITTED_OFFSET,
  crc32,
  decodeHeader,
  encodeCommitted,
  encodeHeader,
  encodeRecord,
  FileKind,
  FORMAT_VERSION,
  HEADER_SIZE,
  MAX_RECORD,
  readRecord,
  RecordWriter,
  type StoredRecord,
} from "../lib/store/record_codec.ts";
import { openJournal, StoreError } from "../lib/store/open.ts";
import { Broker } from "../lib/queue/broker.ts";
import { Owner } from "../lib/queue/backend.ts";
import type { Job } from "../lib/queue/types.ts";

/** Options this test does not exercise: not paused, no rate limit, no backoff. */
const PLAIN = { paused: false, rateLimit: null, backoff: null };

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "taskwire-journal-"));
}

function job(seq: number, extra: Partial<Job> = {}): Job {
  return {
    seq,
    id: `id-${seq}`,
    payload: `payload ${seq}`,
    priority: 0,
    attempts: 0,
    readyAt: 0,
    ...extra,
  };
}

const SAMPLES: StoredRecord[] = [
  {
    t: "declare",
    q: "tasks",
    options: { maxsize: 10, leaseMs: 30_000, maxAttempts: 5, deadLetter: "tasks.dead", ...PLAIN },
  },
  {
    t: "declare",
    q: "x.dead",
    options: { maxsize: 0, leaseMs: 1, maxAttempts: 1, deadLetter: null, ...PLAIN },
  },
  { t: "put", q: "tasks", job: job(1), at: 1_700_000_000_123 },
  {
    t: "put",
    q: "tâches-ünïcode",
    job: job(2 ** 40, {
      id: "日本語-🚀",
      priority: -7,
      readyAt: 1_800_000_000_000,
      payload: "",
    }),
    at: 5,
  },
  { t: "put", q: "big", job: job(3, { payload: "7".repeat(300_000) }), at: 0 },
  { t: "ack", q: "tasks", seq: 1 },
  { t: "return", q: "tasks", seq: 9, attempts: 3, readyAt: 1_700_000_001_000 },
  { t: "dead", q: "tasks", seq: 9, to: "tasks.dead", reason: "boom ✗", attempts: 5 },
  { t: "requeue", q: "tasks.dead", seq: 9, to: "tasks" },
  { t: "purge", q: "tasks", keep: [3, 2 ** 40] },
  { t: "purge", q: "empty", keep: [] },
  {
    t: "meta",
    queues: { a: { maxsize: 0, leaseMs: 5, maxAttempts: 2, deadLetter: null, ...PLAIN } },
    createdAt: 42,
  },
  { t: "job", q: "a", job: job(11, { attempts: 2, reason: "why", origin: "b" }) },
  { t: "id", q: "a", id: "some-id", at: 77 },
  { t: "end", jobs: 1, ids: 1 },
];

test("crc32() matches the standard check value", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array()), 0);
  const bytes = new TextEncoder().encode("xx123456789yy");
  assert.equal(crc32(bytes, 2, 11), 0xcbf43926);
});

test("encodeRecord() and readRecord() round-trip every record type", () => {
  for (const record of SAMPLES) {
    const bytes = encodeRecord(record);
    const r = readRecord(bytes, 0);
    assert.ok(r.ok, `${record.t}: ${JSON.stringify(r)}`);
    assert.equal(r.size, bytes.length);
    assert.deepEqual(r.record, record.t === "job" || record.t === "put" ? { ...record } : record);
  }
});

test("RecordWriter frames many records back to back; readRecord walks them", () => {
  const writer = new RecordWriter(16); // tiny, so it must grow
  let total = 0;
  for (const record of SAMPLES) total += writer.write(record);
  const bytes = writer.take();
  assert.equal(bytes.length, total);
  let offset = 0;
  const back: StoredRecord[] = [];
  while (offset < bytes.length) {
    const r = readRecord(bytes, offset);
    assert.ok(r.ok);
    back.push(r.record);
    offset += r.size;
  }
  assert.equal(back.length, SAMPLES.length);
  assert.equal(writer.length, 0);
});

test("RecordWriter.recycle: a written buffer is written into again after the next take", () => {
  const writer = new RecordWriter(64 * 1024);
  const walk = (bytes: Uint8Array): StoredRecord[] => {
    const out: StoredRecord[] = [];
    for (let offset = 0; offset < bytes.length;) {
      const r = readRecord(bytes, offset);
      assert.ok(r.ok, "every record reads back");
      out.push(r.record);
      offset += r.size;
    }
    return out;
  };
  const decoded = (record: StoredRecord) => walk(encodeRecord(record))[0];
  for (const record of SAMPLES) writer.write(record);
  const first = writer.take();
  assert.deepEqual(walk(first), SAMPLES.map(decoded));
  writer.recycle(first);
  writer.write(SAMPLES[1]);
  const second = writer.take(); // the buffer written since the first take; the recycled one is next
  assert.notEqual(second.buffer, first.buffer);
  writer.write(SAMPLES[2]);
  const third = writer.take();
  assert.equal(third.buffer, first.buffer, "the recycled buffer was written into again");
  assert.deepEqual(walk(third), [decoded(SAMPLES[2])], "over the old bytes, only the new records");
  // A spare smaller than the buffer a take needs is not used.
  const small = new Uint8Array(16);
  writer.recycle(small);
  writer.write(SAMPLES[0]);
  writer.take();
  writer.write(SAMPLES[0]);
  const fourth = writer.take();
  assert.notEqual(fourth.buffer, small.buffer);
  assert.ok(fourth.buffer.byteLength >= 64 * 1024);
});

test("readRecord() says short for every prefix of a record and corrupt for any flipped byte", () => {
  const bytes = encodeRecord({ t: "put", q: "tasks", job: job(5), at: 9 });
  for (let cut = 0; cut < bytes.length; cut++) {
    const r = readRecord(bytes.subarray(0, cut), 0);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.reason, cut < 8 ? "short" : "short", `cut ${cut}`);
  }
  for (let i = 0; i < bytes.length; i++) {
    const copy = bytes.slice();
    copy[i] ^= 0x40;
    const r = readRecord(copy, 0);
    assert.equal(r.ok, false, `flipping byte ${i} went unnoticed`);
  }
});

test("readRecord() rejects a zero length as corrupt; any other length asks for its bytes (no limit below the format's)", () => {
  const zeros = new Uint8Array(64);
  const r = readRecord(zeros, 0);
  assert.ok(!r.ok && r.reason === "corrupt" && /length 0/.test(r.detail));
  // A length no god limit would allow is still a record length: the file's size decides.
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setUint32(0, 0xffff_fff0, true);
  const h = readRecord(huge, 0);
  assert.deepEqual(h, { ok: false, reason: "short", need: 0xffff_fff0 + 8 });
  assert.equal(MAX_RECORD, 0xffff_ffff);
});

test("decodeHeader() reads its own header and refuses a newer version or foreign bytes", () => {
  const header = encodeHeader(FileKind.journal, 12);
  assert.equal(header.length, HEADER_SIZE);
  assert.deepEqual(decodeHeader(header), {
    ok: true,
    version: FORMAT_VERSION,
    kind: FileKind.journal,
    generation: 12,
    size: HEADER_SIZE,
    committed: HEADER_SIZE,
    committedUnreadable: false,
  });
  const newer = header.slice();
  new DataView(newer.buffer).setUint16(8, FORMAT_VERSION + 1, true);
  assert.deepEqual(decodeHeader(newer), {
    ok: false,
    reason: "newer",
    version: FORMAT_VERSION + 1,
  });
  assert.deepEqual(decodeHeader(new TextEncoder().encode("GIF89a..........")), {
    ok: false,
    reason: "magic",
  });
  assert.deepEqual(decodeHeader(header.subarray(0, 5)), { ok: false, reason: "short" });
  assert.deepEqual(decodeHeader(header.subarray(0, 20)), { ok: false, reason: "short" });
});

test("a header's committed length: encodeCommitted() rewrites it, a damaged one reads as unknown, version 1 has none", () => {
  const header = encodeHeader(FileKind.journal, 3);
  header.set(encodeCommitted(FileKind.journal, 3, 2 ** 40 + 77), COMMITTED_OFFSET);
  const read = decodeHeader(header);
  assert.ok(read.ok && read.committed === 2 ** 40 + 77 && !read.committedUnreadable);
  header[COMMITTED_OFFSET + 1] ^= 1;
  const torn = decodeHeader(header);
  assert.ok(torn.ok && torn.committed === null && torn.committedUnreadable);
  // Version 1: 16 bytes, no committed length.
  const v1 = encodeHeader(FileKind.journal, 3).slice(0, 16);
  new DataView(v1.buffer).setUint16(8, 1, true);
  const old = decodeHeader(v1);
  assert.ok(old.ok && old.size === 16 && old.committed === null && !old.committedUnreadable);
});

/** `LOCK` and the gods' lock sockets (`lock.<machine>.<random>`). */
function isLockFile(name: string): boolean {
  return name === "LOCK" || /^lock\.[0-9a-f]{8}\.[0-9a-f]{8}$/.test(name);
}

/** A broker journaling into `store`, as the server wires them. */
function brokerOn(store: { append(r: never): void }): Broker {
  return new Broker({ journal: (record) => store.append(record as never) });
}

test("openJournal() on a fresh directory, then again: puts come back, acked ones do not", async () => {
  const dir = path.join(tempDir(), "nested", "data");
  try {
    const first = await openJournal(dir);
    assert.match(first.summary, /^recovered 0 jobs \(0 ready, 0 delayed, 0 dead\)/);
    const broker = brokerOn(first.store);
    first.store.attach?.(broker);
    const owner = new Owner();
    const now = Date.now();
    broker.declare("tasks");
    for (let i = 0; i < 10; i++) {
      broker.put(
        null,
        "tasks",
        [{ id: `p${i}`, payload: String(i), priority: 0, delayMs: i === 9 ? 60_000 : 0 }],
        { now },
        () => {},
      );
    }
    for (let i = 0; i < 3; i++) {
      broker.get(owner, "tasks", { now, timeoutMs: 0 }, (d) => broker.ack(owner, [d!.tag], now));
    }
    // One in flight: it must come back as ready with its attempts as journaled.
    broker.get(owner, "tasks", { now, timeoutMs: 0 }, () => {});
    const committed = new Promise<void>((resolve) => first.store.afterCommit(resolve));
    await committed;
    const stats = first.store.stats();
    assert.equal(stats.kind, "journal");
    assert.equal(stats.fsync, "always");
    assert.ok((stats.journalBytes ?? 0) > 0);
    assert.ok((stats.fsyncMs ?? []).length > 0);
    await first.store.close();

    const second = await openJournal(dir);
    assert.match(second.summary, /^recovered 7 jobs \(6 ready, 1 delayed, 0 dead\) in 1 queues/);
    assert.deepEqual(
      second.restore.jobs.map((j) => j.job.id),
      ["p3", "p4", "p5", "p6", "p7", "p8", "p9"],
    );
    assert.equal(second.restore.jobs[0].job.attempts, 0, "attempts are kept as journaled");
    assert.equal(second.restore.counts.ids, 10, "all put ids are kept for dedupe");
    const restored = new Broker({});
    restored.restore(second.restore, Date.now());
    assert.equal(restored.stats(Date.now(), "tasks")[0].ready, 6);
    await second.store.close();
  } finally {
    fs.rmSync(path.dirname(path.dirname(dir)), { recursive: true, force: true });
  }
});

test("group commit: records appended while a write+fsync runs share the next one", async () => {
  const dir = tempDir();
  try {
    const { store } = await openJournal(dir, { fsync: "always" });
    const order: number[] = [];
    let seq = 1;
    // 20 turns of the event loop, 50 puts each, without waiting for commits.
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < 50; i++) {
        const n = seq++;
        store.append({ t: "put", q: "tasks", job: job(n) });
        store.afterCommit(() => order.push(n));
      }
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await new Promise<void>((resolve) => store.afterCommit(resolve));
    assert.equal(order.length, 1000);
    assert.deepEqual(order, [...order].sort((a, b) => a - b), "commits are reported in order");
    const fsyncs = store.stats().fsyncMs!.length;
    assert.ok(fsyncs <= 20, `1000 records took ${fsyncs} fsyncs`);
    await store.close();
    const again = await openJournal(dir);
    assert.equal(again.restore.jobs.length, 1000);
    await again.store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("fsync policies: batch acknowledges after the write and fsyncs soon; off never until close", async () => {
  const dir = tempDir();
  try {
    for (const fsync of ["batch", "off"] as const) {
      fs.rmSync(dir, { recursive: true, force: true });
      const { store } = await openJournal(dir, { fsync, batchMs: 20 });
      for (let i = 1; i <= 100; i++) store.append({ t: "put", q: "tasks", job: job(i) });
      await new Promise<void>((resolve) => store.afterCommit(resolve));
      assert.equal(store.stats().fsync, fsync);
      await new Promise((resolve) => setTimeout(resolve, 80));
      const syncs = store.stats().fsyncMs!.length;
      if (fsync === "batch") assert.ok(syncs >= 1, "batch fsyncs within batchMs");
      else assert.equal(syncs, 0, "off never fsyncs while running");
      await store.close();
      const again = await openJournal(dir);
      assert.equal(again.restore.jobs.length, 100);
      await again.store.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("openJournal() refuses an unknown fsync policy", async () => {
  await assert.rejects(
    openJournal(path.join(os.tmpdir(), "taskwire-never-created"), { fsync: "sometimes" as never }),
    /Invalid fsync policy "sometimes": use one of always, batch, off/,
  );
});

/** Fills a broker: `n` puts, acks every job but the last `keep`, some dead and delayed. */
function churn(broker: Broker, n: number, keep: number, tag = ""): void {
  const owner = new Owner();
  const now = Date.now();
  broker.declare("tasks", { maxAttempts: 1 });
  for (let i = 0; i < n; i++) {
    broker.put(
      null,
      "tasks",
      [{ id: `c${tag}${i}`, payload: String(i & 255).repeat(40), priority: 0, delayMs: 0 }],
      { now },
      () => {},
    );
  }
  for (let i = 0; i < n - keep; i++) {
    broker.get(owner, "tasks", { now, timeoutMs: 0 }, (d) => {
      if (i % 100 === 0) broker.nack(owner, d!.tag, { now, dead: "failed on purpose" });
      else broker.ack(owner, [d!.tag], now);
    });
  }
}

test("compaction: a snapshot replaces the journal; every step a crash could stop at loads the same state", async () => {
  const root = tempDir();
  const dir = path.join(root, "data");
  const copies: { step: string; dir: string }[] = [];
  const copy = (step: string) => {
    const to = path.join(root, `copy-${copies.length}-${step}`);
    // A copy as a crash would leave it, without the lock (the god's socket cannot be copied).
    fs.cpSync(dir, to, { recursive: true, filter: (from) => !isLockFile(path.basename(from)) });
    copies.push({ step, dir: to });
  };
  try {
    const { store } = await openJournal(dir, {
      compactMinBytes: Number.MAX_SAFE_INTEGER, // only when asked
      log: (event) => {
        if (String(event.event).startsWith("compaction_")) copy(String(event.event));
      },
    });
    const broker = brokerOn(store);
    store.attach?.(broker);
    churn(broker, 3000, 200);
    await new Promise<void>((resolve) => store.afterCommit(resolve));
    const before = store.stats().journalBytes!;
    copy("before");
    await store.compact();
    copy("after");
    const after = store.stats();
    assert.ok(after.journalBytes! < before / 3, `${after.journalBytes} vs ${before}`);
    assert.ok(after.lastCompaction);
    const files = fs.readdirSync(dir).filter((f) => !isLockFile(f) || f === "LOCK").sort();
    assert.deepEqual(files, ["LOCK", "journal-00000002.twj", "snapshot-00000002.tws"]);
    const live = [...broker.captureLiveJobs()].map((l) => l.job.id).sort();
    await store.close();
    assert.deepEqual(
      copies.map((c) => c.step),
      [
        "before",
        "compaction_started",
        "compaction_snapshot_written",
        "compaction_snapshot_renamed",
        "compaction_done",
        "after",
      ],
    );
    for (const c of [...copies, { step: "closed", dir }]) {
      const { store, restore, summary } = await openJournal(c.dir);
      assert.deepEqual(
        restore.jobs.map((j) => j.job.id).sort(),
        live,
        `state after step ${c.step}`,
      );
      assert.equal(restore.counts.dead, 28, `dead jobs after step ${c.step}: ${summary}`);
      assert.ok(restore.counts.ids >= 3000, `put ids after step ${c.step}: ${restore.counts.ids}`);
      await store.close();
      assert.ok(!fs.readdirSync(c.dir).some((f) => f.endsWith(".tmp")), "leftover temp removed");
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("compaction writes the state at its boundary while the broker goes on taking, returning, acking and putting", async () => {
  const dir = tempDir();
  const events: string[] = [];
  /** A job as the snapshot and the journal keep it. */
  const kept = (j: Job) => ({
    seq: j.seq,
    id: j.id,
    payload: j.payload,
    priority: j.priority,
    attempts: j.attempts,
    readyAt: j.readyAt,
    reason: j.reason,
    origin: j.origin,
    history: j.history,
  });
  try {
    const { store } = await openJournal(dir, {
      compactMinBytes: Number.MAX_SAFE_INTEGER, // only when asked
      compactPauseMs: 2, // a turn for the broker between the snapshot's slices
      log: (event) => events.push(String(event.event)),
    });
    const broker = brokerOn(store);
    store.attach?.(broker);
    const owner = new Owner();
    broker.declare("tasks", { maxAttempts: 3 });
    let next = 0;
    const put = (n: number, priority = 0) => {
      const now = Date.now();
      for (let i = 0; i < n; i++, next++) {
        const item = { id: `j${next}`, payload: `{"n":${next}}`.padEnd(40, "."), priority };
        broker.put(null, "tasks", [{ ...item, delayMs: next % 97 === 0 ? 60_000 : 0 }], {
          now,
        }, () => {});
      }
    };
    // Some 20,000 jobs: packed chunks of two priorities, a snapshot of several slices.
    put(15_000);
    put(5_000, 1);
    const held: number[] = [];
    const take = (n: number) => {
      for (let i = 0; i < n; i++) {
        broker.get(owner, "tasks", { now: Date.now(), timeoutMs: 0 }, (d) => d && held.push(d.tag));
      }
    };
    take(50); // in flight at the boundary
    await new Promise<void>((resolve) => store.afterCommit(resolve));

    let finished = false;
    const compaction = store.compact().finally(() => finished = true);
    let rounds = 0;
    while (!finished) {
      // Every kind of change, to jobs the snapshot has still to write and to jobs it wrote.
      take(300);
      const now = Date.now();
      for (const [i, tag] of held.splice(0).entries()) {
        if (i % 3 === 0) broker.ack(owner, [tag], now);
        else if (i % 3 === 1) broker.nack(owner, tag, { now });
        else broker.nack(owner, tag, { now, delayMs: i % 2 ? 0 : 50_000 });
      }
      put(200, rounds % 2);
      take(20); // in flight when it ends
      rounds++;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await compaction;
    assert.ok(events.includes("compaction_done"), events.join(","));
    assert.ok(rounds >= 3, `the broker changed things in ${rounds} turns during the compaction`);
    // Nothing in flight at the end (a job in flight comes back as its last journal record left it).
    for (const tag of held.splice(0)) broker.nack(owner, tag, { now: Date.now() });
    await new Promise<void>((resolve) => store.afterCommit(resolve));
    const live = [...broker.captureLiveJobs()].map(({ queue, job }) => ({ queue, job: kept(job) }));
    await store.close();

    const again = await openJournal(dir);
    const bySeq = (a: { job: Job }, b: { job: Job }) => a.job.seq - b.job.seq;
    assert.deepEqual(
      again.restore.jobs.map(({ queue, job }) => ({ queue, job: kept(job) })).sort(bySeq),
      live.sort(bySeq),
    );
    await again.store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("compaction starts by itself past the thresholds, while appends go on", async () => {
  const dir = tempDir();
  const events: string[] = [];
  try {
    const { store } = await openJournal(dir, {
      compactMinBytes: 50_000,
      compactRatio: 2,
      log: (event) => events.push(String(event.event)),
    });
    const broker = brokerOn(store);
    store.attach?.(broker);
    for (let round = 0; round < 10; round++) {
      churn(broker, 500, 5, `r${round}-`);
      await new Promise<void>((resolve) => store.afterCommit(resolve));
    }
    for (let i = 0; i < 100 && events.filter((e) => e === "compaction_done").length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(events.includes("compaction_done"), events.join(","));
    const live = [...broker.captureLiveJobs()].length;
    await store.close();
    const again = await openJournal(dir);
    assert.equal(again.restore.jobs.length, live);
    await again.store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("lock: a second god on the same directory is refused with the holder's PID", async () => {
  const dir = tempDir();
  try {
    const { store } = await openJournal(dir);
    await assert.rejects(
      openJournal(dir),
      (error: unknown) =>
        error instanceof StoreError &&
        error.message.includes(`another god (PID ${process.pid}`) &&
        error.message.includes("stop that god or choose another --data DIR"),
    );
    await store.close();
    assert.ok(!fs.existsSync(path.join(dir, "LOCK")), "close releases the lock");
    const again = await openJournal(dir);
    await again.store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("lock: a stale lock of a dead PID is taken over with a notice", async () => {
  const dir = tempDir();
  try {
    // A PID that is not running: above the usual pid_max.
    fs.writeFileSync(path.join(dir, "LOCK"), JSON.stringify({ pid: 4_194_000, host: "" }));
    const events: Record<string, unknown>[] = [];
    const { store } = await openJournal(dir, { log: (e) => events.push(e) });
    assert.ok(events.some((e) => e.event === "stale_lock" && e.pid === 4_194_000));
    await store.close();
    // An empty lock file (its writer died while creating it) is stale too.
    fs.writeFileSync(path.join(dir, "LOCK"), "");
    const again = await openJournal(dir);
    await again.store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("openJournal() on a path that cannot be a directory says so in one line", async () => {
  const root = tempDir();
  try {
    const file = path.join(root, "a-file");
    fs.writeFileSync(file, "x");
    for (const dir of [file, path.join(file, "data")]) {
      await assert.rejects(openJournal(dir), (error: unknown) => {
        assert.ok(error instanceof StoreError);
        assert.match(
          error.message,
          /^Cannot (create|lock) data directory .*; choose a writable --data DIR$/,
        );
        assert.ok(!error.message.includes("\n"));
        return true;
      });
    }
    if (process.getuid?.() !== 0) {
      const readonly = path.join(root, "readonly");
      fs.mkdirSync(readonly, { mode: 0o500 });
      await assert.rejects(openJournal(readonly), /permission denied/);
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("a put larger than any limit the god had (here 65 MiB, over the old 64 MiB record cap) reads back after a restart", async () => {
  const dir = tempDir();
  try {
    const { store } = await openJournal(dir);
    const payload = "x".repeat(65 * 1024 * 1024);
    store.append({ t: "put", q: "tasks", job: job(1, { payload }) });
    store.append({ t: "put", q: "tasks", job: job(2) });
    await new Promise<void>((resolve) => store.afterCommit(resolve));
    await store.close();
    const again = await openJournal(dir);
    assert.deepEqual(
      again.restore.jobs.map((j) => [j.job.id, j.job.payload.length]),
      [["id-1", payload.length], ["id-2", "payload 2".length]],
    );
    assert.equal(again.restore.counts.truncatedBytes, 0);
    await again.store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("lock: two gods opening one directory at the same moment never both get it", async () => {
  const dir = tempDir();
  try {
    for (let round = 0; round < 15; round++) {
      const results = await Promise.allSettled([openJournal(dir), openJournal(dir)]);
      const opened = results.filter((r) => r.status === "fulfilled");
      assert.ok(opened.length <= 1, `round ${round}: both opened`);
      for (const r of results) {
        if (r.status === "rejected") {
          assert.match(String(r.reason), /another god \(.*\) is using it; stop that god/);
        }
      }
      for (const r of opened) await r.value.store.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("lock: a god never removes a LOCK that is not its own when it closes", async () => {
  const dir = tempDir();
  try {
    const { store } = await openJournal(dir);
    const lockFile = path.join(dir, "LOCK");
    // Someone else's lock where ours was (as a god that wrongly took over would leave it).
    const theirs = JSON.stringify({ pid: 1, host: "", socket: "lock.00000000.12345678" }) + "\n";
    fs.writeFileSync(lockFile, theirs);
    await store.close();
    assert.equal(fs.readFileSync(lockFile, "utf8"), theirs);
    assert.deepEqual(fs.readdirSync(dir).filter(isLockFile), ["LOCK"], "our own socket is gone");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("lock: a lock socket whose god is gone is taken over; one of another machine is refused with advice", async () => {
  const dir = tempDir();
  try {
    const first = await openJournal(dir);
    const sockets = () => fs.readdirSync(dir).filter((f) => f.startsWith("lock."));
    const [socket] = sockets();
    // A god that died without closing leaves its socket file and LOCK; a
    // listener is gone with its process. Here: copy the file aside, let the
    // god close, put the (now dead) socket file and its LOCK back.
    const lockText = fs.readFileSync(path.join(dir, "LOCK"), "utf8");
    fs.linkSync(path.join(dir, socket), path.join(dir, "kept-socket"));
    await first.store.close();
    fs.renameSync(path.join(dir, "kept-socket"), path.join(dir, socket));
    fs.writeFileSync(path.join(dir, "LOCK"), lockText, { mode: 0o600 });
    const events: Record<string, unknown>[] = [];
    const second = await openJournal(dir, { log: (e) => events.push(e) });
    const stale = events.find((e) => e.event === "stale_lock");
    assert.ok(stale, JSON.stringify(events));
    assert.equal(stale.pid, process.pid);
    assert.match(String(stale.note), /which is gone \(its lock socket refuses connections\)/);
    assert.ok(!sockets().includes(socket), "the stale socket is removed");
    await second.store.close();

    // A lock of another machine (a shared filesystem): it cannot be probed, so it is never taken over.
    fs.writeFileSync(
      path.join(dir, "LOCK"),
      JSON.stringify({ pid: 77, host: "elsewhere.example", socket: "lock.0badc0de.00000001" }),
      { mode: 0o600 },
    );
    await assert.rejects(
      openJournal(dir),
      /it is locked by PID 77 on host elsewhere\.example; stop that god, or if it is gone, delete .*LOCK/,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("lock: a data directory deeper than a Unix socket path allows still locks, through a short link that does not outlive the call", async () => {
  const root = tempDir();
  const links = () => fs.readdirSync(os.tmpdir()).filter((f) => /^taskwire-[0-9a-f]{12}$/.test(f));
  try {
    const dir = path.join(root, "d".repeat(60), "e".repeat(60));
    assert.ok(dir.length > 110);
    const before = links();
    const { store } = await openJournal(dir);
    assert.ok(
      fs.readdirSync(dir).some((f) => f.startsWith("lock.")),
      "the socket is in the directory",
    );
    await assert.rejects(openJournal(dir), /another god \(PID \d+, since [^)]+\) is using it/);
    await store.close();
    const again = await openJournal(dir);
    await again.store.close();
    assert.deepEqual(links(), before, "no link left behind");
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
