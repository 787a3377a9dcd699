/**
 * Disk faults under the journal: a full disk (ENOSPC) during puts and during
 * compaction stalls writes (puts are refused through `health()`, nothing is
 * acknowledged that is not durable) and recovers by itself when space
 * returns; a failed fsync (EIO) is fatal and never retried.
 *
 * Faults are injected through the journal's `wrapFile` seam (on every
 * runtime), and a real full disk is made with a small tmpfs where this
 * process may mount one (as root; skipped with a NOTICE otherwise).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openJournal } from "../lib/store/open.ts";
import type { JournalStore, StoreSource } from "../lib/store/open.ts";
import type { DataFile } from "../lib/store/file.ts";
import { ErrorCode } from "../lib/protocol/errors.ts";
import type { Job } from "../lib/queue/types.ts";

function tempRoot(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "taskwire-disk-"));
}

function job(seq: number, payload = `payload ${seq}`): Job {
  return { seq, id: `id-${seq}`, payload, priority: 0, attempts: 0, readyAt: 0 };
}

/** A store's source: the jobs in `jobs` (as it is when asked), all of queue "tasks". */
function sourceOf(jobs: Job[]): StoreSource {
  return {
    captureLiveJobs: () => jobs.map((j) => ({ queue: "tasks", job: j })),
    liveSize: () => ({
      jobs: jobs.length,
      chars: jobs.reduce((n, j) => n + j.id.length + j.payload.length, 0),
    }),
    queueOptions: () => ({}),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `condition()` holds, checking every 10 ms, at most `ms`. */
async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Puts `seq` into the store; the returned object says when it is committed. */
function put(store: JournalStore, seq: number, payload?: string): { committed: boolean } {
  const state = { committed: false };
  store.append({ t: "put", q: "tasks", job: job(seq, payload) });
  store.afterCommit(() => state.committed = true);
  return state;
}

function fault(code: string): Error {
  return Object.assign(new Error(`${code}: injected by the test`), { code });
}

/** A wrapper that makes writes (to files whose path matches) fail with ENOSPC while `full`. */
class FullDisk {
  full = false;
  writes = 0;
  constructor(readonly matches: (path: string) => boolean = () => true) {}

  wrap = (file: DataFile): DataFile => {
    return {
      path: file.path,
      read: (into, position) => file.read(into, position),
      write: (bytes, position) => {
        if (this.full && this.matches(file.path)) {
          this.writes++;
          return Promise.reject(fault("ENOSPC"));
        }
        return file.write(bytes, position);
      },
      datasync: () => file.datasync(),
      truncate: (length) => file.truncate(length),
      size: () => file.size(),
      stat: () => file.stat(),
      close: () => file.close(),
    };
  };
}

test("ENOSPC on a journal write stalls it: the put waits unacknowledged, health() refuses puts, acks queue up, and all is written once space returns", async () => {
  const dir = path.join(tempRoot(), "data");
  const disk = new FullDisk();
  const events: Record<string, unknown>[] = [];
  try {
    const { store } = await openJournal(dir, {
      wrapFile: disk.wrap,
      log: (e) => events.push(e),
    });
    const first = put(store, 1);
    const second = put(store, 2);
    await until(() => first.committed && second.committed, 5000, "the first puts");
    assert.deepEqual(store.health?.(), { state: "ok" });

    disk.full = true;
    const third = put(store, 3);
    await until(() => store.health?.().state === "stalled", 5000, "the stall");
    const health = store.health!();
    assert.equal(health.state, "stalled");
    if (health.state !== "stalled") return;
    assert.equal(health.error.code, ErrorCode.Unavailable);
    assert.match(
      health.error.message,
      /^Cannot write journal .*journal-00000001\.twj: the disk is full \(ENOSPC\); new puts are refused until space is freed in .*data \(the journal retries by itself, and nothing acknowledged is lost\)$/,
    );
    assert.equal(store.stats().state, "stalled");
    assert.ok(events.some((e) => e.event === "journal_stalled"));
    // Gets and acks go on: their records wait with the put.
    store.append({ t: "ack", q: "tasks", seq: 1 });
    const writesBefore = disk.writes;
    await sleep(700);
    assert.equal(
      third.committed,
      false,
      "a put is not acknowledged while its record is not written",
    );
    assert.ok(
      disk.writes - writesBefore <= 4,
      `a full disk is retried now and then, not hammered (${
        disk.writes - writesBefore
      } writes in 700 ms)`,
    );

    disk.full = false;
    await until(() => third.committed, 5000, "the retried write");
    assert.deepEqual(store.health?.(), { state: "ok" });
    assert.ok(events.some((e) => e.event === "journal_resumed"));
    await store.close();
    const again = await openJournal(dir);
    assert.deepEqual(again.restore.jobs.map((j) => j.job.id), ["id-2", "id-3"]);
    assert.doesNotMatch(again.summary, /damaged/);
    await again.store.close();
  } finally {
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  }
});

test("closing while the disk is still full keeps everything acknowledged and drops the partial write", async () => {
  const dir = path.join(tempRoot(), "data");
  const disk = new FullDisk();
  try {
    const { store } = await openJournal(dir, { wrapFile: disk.wrap });
    const first = put(store, 1);
    await until(() => first.committed, 5000, "the first put");
    disk.full = true;
    const second = put(store, 2);
    await until(() => store.health?.().state === "stalled", 5000, "the stall");
    await store.close();
    assert.equal(second.committed, false);
    const again = await openJournal(dir);
    assert.deepEqual(again.restore.jobs.map((j) => j.job.id), ["id-1"]);
    assert.doesNotMatch(again.summary, /damaged/, "no torn tail left behind");
    await again.store.close();
  } finally {
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  }
});

test("ENOSPC during compaction (snapshot or new segment) fails the compaction cleanly; the journal goes on, and compacts once there is space", async () => {
  for (const victim of [/\.tmp$/, /journal-00000002\.twj$/]) {
    const dir = path.join(tempRoot(), "data");
    const disk = new FullDisk((file) => victim.test(file));
    const events: Record<string, unknown>[] = [];
    try {
      const { store } = await openJournal(dir, {
        wrapFile: disk.wrap,
        compactMinBytes: Number.MAX_SAFE_INTEGER,
        log: (e) => events.push(e),
      });
      const live = [1, 2, 3].map((seq) => job(seq));
      store.attach?.(sourceOf(live));
      const puts = live.map((j) => put(store, j.seq));
      await until(() => puts.every((p) => p.committed), 5000, "the puts");

      disk.full = true;
      await store.compact();
      const failed = events.find((e) => e.event === "compaction_failed");
      assert.ok(failed, `${victim}: ${JSON.stringify(events)}`);
      assert.match(String(failed.message), /ENOSPC/);
      assert.ok(!fs.readdirSync(dir).some((f) => f.endsWith(".tmp")), "the temp snapshot is gone");
      assert.deepEqual(store.health?.(), { state: "ok" }, `${victim}: the journal itself is fine`);
      live.push(job(4));
      const fourth = put(store, 4);
      await until(() => fourth.committed, 5000, "a put after the failed compaction");

      disk.full = false;
      await store.compact();
      assert.ok(events.some((e) => e.event === "compaction_done"), JSON.stringify(events));
      await store.close();
      const again = await openJournal(dir);
      assert.deepEqual(
        again.restore.jobs.map((j) => j.job.id).sort(),
        ["id-1", "id-2", "id-3", "id-4"],
        `${victim}: after reopening`,
      );
      await again.store.close();
    } finally {
      fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    }
  }
});

test("an fsync that fails (EIO) is fatal: nothing more is acknowledged, fsync is never called again, and a restart has every acknowledged put", async () => {
  const dir = path.join(tempRoot(), "data");
  let failing = false;
  let datasyncs = 0;
  const wrap = (file: DataFile): DataFile => ({
    path: file.path,
    read: (into, position) => file.read(into, position),
    write: (bytes, position) => file.write(bytes, position),
    datasync: () => {
      datasyncs++;
      return failing ? Promise.reject(fault("EIO")) : file.datasync();
    },
    truncate: (length) => file.truncate(length),
    size: () => file.size(),
    stat: () => file.stat(),
    close: () => file.close(),
  });
  const errors: Error[] = [];
  try {
    const { store } = await openJournal(dir, { wrapFile: wrap, onError: (e) => errors.push(e) });
    const first = put(store, 1);
    await until(() => first.committed, 5000, "the first put");
    failing = true;
    const second = put(store, 2);
    await until(() => errors.length > 0, 5000, "the fatal error");
    assert.match(
      errors[0].message,
      /^Cannot fsync journal .*journal-00000001\.twj: the disk reported an I\/O error \(EIO\); nothing more is acknowledged \(after a failed fsync the kernel may have dropped the data, so it is never retried\)\. Check the disk, then restart the god/,
    );
    const health = store.health!();
    assert.equal(health.state, "failed");
    if (health.state === "failed") {
      assert.equal(health.error.code, ErrorCode.Unavailable);
      assert.match(
        health.error.message,
        /^Cannot accept puts: the journal in .* failed \(.*EIO.* on fsync\); restart the god/,
      );
    }
    const syncsAtFailure = datasyncs;
    const third = put(store, 3);
    await sleep(300);
    await store.close();
    assert.equal(second.committed, false, "the put whose fsync failed is never acknowledged");
    assert.equal(third.committed, false);
    assert.equal(datasyncs, syncsAtFailure, "no fsync after the failed one, not even at close");
    assert.equal(errors.length, 1);
    assert.ok(!fs.existsSync(path.join(dir, "LOCK")), "close still releases the lock");

    const again = await openJournal(dir);
    const ids = again.restore.jobs.map((j) => j.job.id);
    assert.ok(ids.includes("id-1"), `the acknowledged put survives: ${ids}`);
    assert.ok(!ids.includes("id-3"), "nothing appended after the failure was written");
    await again.store.close();
  } finally {
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  }
});

/** Mounts a tmpfs of `size` at a fresh directory; null (after a NOTICE) where this process may not. */
function mountTmpfs(size: string, why: string): { dir: string; unmount(): void } | null {
  const dir = tempRoot();
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir], {
      stdio: "pipe",
    });
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    console.log(
      `NOTICE: skipping "${why}": cannot mount a tmpfs here (${
        String((error as Error).message).split("\n")[0]
      }); the injected-fault tests above cover the same logic`,
    );
    return null;
  }
  return {
    dir,
    unmount: () => {
      try {
        execFileSync("umount", [dir], { stdio: "pipe" });
      } catch {
        // Something still holds a file there (a failed test): detach it anyway.
        execFileSync("umount", ["-l", dir], { stdio: "pipe" });
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Fills the filesystem of `dir` with 4 KiB files until it is full; returns them. */
function fill(dir: string): string[] {
  const files: string[] = [];
  const block = new Uint8Array(4096).fill(7);
  for (let i = 0; i < 10_000; i++) {
    const file = path.join(dir, `filler-${i}`);
    try {
      fs.writeFileSync(file, block);
      files.push(file);
    } catch (error) {
      if ((error as { code?: string }).code !== "ENOSPC") throw error;
      fs.rmSync(file, { force: true });
      return files;
    }
  }
  throw new Error("the tmpfs never filled up");
}

test("a real full disk (tmpfs): puts stall with ENOSPC and go through once space is freed; nothing acknowledged is lost", async (t) => {
  const mount = mountTmpfs("1m", "a real full disk (tmpfs)");
  if (mount === null) {
    t.skip("no tmpfs");
    return;
  }
  let store: JournalStore | undefined;
  try {
    const dir = path.join(mount.dir, "data");
    const events: Record<string, unknown>[] = [];
    const journal = (await openJournal(dir, { log: (e) => events.push(e) })).store;
    store = journal;
    const fillers = fill(mount.dir);
    const payload = "p".repeat(3000);
    const puts: { seq: number; state: { committed: boolean } }[] = [];
    for (let seq = 1; seq <= 200 && journal.health?.().state === "ok"; seq++) {
      const p = put(journal, seq, payload);
      puts.push({ seq, state: p });
      await until(() => p.committed || journal.health?.().state !== "ok", 5000, `put ${seq}`);
    }
    assert.equal(journal.health?.().state, "stalled", "the disk filled up");
    assert.match(String(events.find((e) => e.event === "journal_stalled")?.note), /ENOSPC/);
    const acknowledged = puts.filter((p) => p.state.committed).map((p) => p.seq);
    assert.ok(acknowledged.length > 0);
    journal.append({ t: "ack", q: "tasks", seq: acknowledged[0] });

    for (const file of fillers) fs.rmSync(file);
    await until(
      () => puts.every((p) => p.state.committed),
      10_000,
      "the waiting puts after space returned",
    );
    assert.equal(journal.health?.().state, "ok");
    await journal.close();
    store = undefined;
    const again = await openJournal(dir);
    assert.deepEqual(
      again.restore.jobs.map((j) => j.job.seq),
      puts.map((p) => p.seq).filter((seq) => seq !== acknowledged[0]),
    );
    await again.store.close();
  } finally {
    await store?.close().catch(() => {});
    mount.unmount();
  }
});

test("a real full disk during compaction (tmpfs): the snapshot does not fit, the journal goes on, and it compacts once there is space", async (t) => {
  const mount = mountTmpfs("2m", "a real full disk during compaction (tmpfs)");
  if (mount === null) {
    t.skip("no tmpfs");
    return;
  }
  let store: JournalStore | undefined;
  try {
    const dir = path.join(mount.dir, "data");
    const events: Record<string, unknown>[] = [];
    const journal = (await openJournal(dir, {
      compactMinBytes: Number.MAX_SAFE_INTEGER,
      log: (e) => events.push(e),
    })).store;
    store = journal;
    // 100 live jobs of 3 kB: a snapshot of about 300 kB.
    const jobs = Array.from({ length: 100 }, (_, i) => job(i + 1, "s".repeat(3000)));
    journal.attach?.(sourceOf(jobs));
    const puts = jobs.map((j) => put(journal, j.seq, j.payload));
    await until(() => puts.every((p) => p.committed), 10_000, "the puts");
    const fillers = fill(mount.dir);
    for (const file of fillers.splice(0, 16)) fs.rmSync(file); // 64 kB free: enough for puts, not a snapshot

    await journal.compact();
    const failed = events.find((e) => e.event === "compaction_failed");
    assert.ok(failed, JSON.stringify(events.map((e) => e.event)));
    assert.match(String(failed.message), /ENOSPC/);
    assert.ok(!fs.readdirSync(dir).some((f) => f.endsWith(".tmp")), "the temp snapshot is gone");
    assert.equal(journal.health?.().state, "ok");
    jobs.push(job(101, "after"));
    const more = put(journal, 101, "after");
    await until(() => more.committed, 5000, "a put after the failed compaction");

    for (const file of fillers) fs.rmSync(file);
    await journal.compact();
    assert.ok(events.some((e) => e.event === "compaction_done"));
    await journal.close();
    store = undefined;
    const again = await openJournal(dir);
    assert.equal(again.restore.jobs.length, 101);
    await again.store.close();
  } finally {
    await store?.close().catch(() => {});
    mount.unmount();
  }
});
