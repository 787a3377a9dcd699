/**
 * The durable store: an append-only journal with group commit, crash
 * recovery, compaction and a lock on the data directory.
 *
 * A data directory holds
 * - `LOCK`: the PID and host of the god using it;
 * - `journal-NNNNNNNN.twj`: journal segments, one per generation N;
 * - `snapshot-NNNNNNNN.tws`: the live state as it was when segment N began.
 *
 * The state is the newest snapshot K (or nothing, when K is the first
 * generation) followed by the segments K, K+1, ... replayed in order.
 * Compaction starts segment N+1, writes snapshot N+1 beside it as a temp file,
 * fsyncs and renames it, fsyncs the directory, and only then deletes the older
 * files, so a crash at any point leaves a loadable state.
 *
 * **fsync policies** (see {@link FsyncPolicy}): with "always" (the default) a
 * put is acknowledged only after its record is fsynced; records that arrive
 * while one write+fsync runs go into the next single write+fsync (group
 * commit), so throughput grows with concurrency. "batch" acknowledges once the
 * record is written to the operating system (it survives a crash of the god,
 * not of the machine) and fsyncs at most every `batchMs`. "off" writes but
 * never fsyncs until close.
 */
import type { Job, JournalRecord, QueueOptions } from "../queue/types.ts";
import type { Store, StoreSource, StoreStats } from "./store.ts";
import {
  createExclusive,
  type DataFile,
  ensureDir,
  errorCode,
  listDir,
  openFile,
  processAlive,
  readText,
  remove,
  rename,
  self,
  syncDir,
} from "./file.ts";
import {
  encodeHeader,
  FileKind,
  HEADER_SIZE,
  RecordWriter,
  type StoredRecord,
  StoreError,
} from "./record_codec.ts";
import { type Recovered, scanFile, StateFolder } from "./recovery.ts";
import { nextTurn } from "../util/next_turn.ts";

export { StoreError } from "./record_codec.ts";
export type { Recovered } from "./recovery.ts";

/** When the journal calls fsync. */
export type FsyncPolicy = "always" | "batch" | "off";

/** The fsync policies, for checking command-line values. */
export const FSYNC_POLICIES: readonly FsyncPolicy[] = ["always", "batch", "off"];

/** Options of {@link openJournal}. */
export interface OpenJournalOptions {
  /** Default "always": a put is acknowledged only after its record is fsynced (group commit). */
  fsync?: FsyncPolicy;
  /** With "batch", fsync at most this often (default 50 ms). */
  batchMs?: number;
  /**
   * Load what is readable from a journal damaged in the middle instead of
   * refusing to start. The damaged files are kept aside (renamed
   * `*.corrupt-<time>`), and a fresh snapshot holds what was recovered.
   */
  salvage?: boolean;
  /** Receives notable events: recovery, a truncated tail, a stale lock, compaction. */
  log?: (event: Record<string, unknown>) => void;
  /**
   * Called when a write or fsync fails (a full or broken disk): from then on
   * nothing more is acknowledged. Default: throw the error from a timer, so the
   * process exits with it rather than keep serving without durability.
   */
  onError?: (error: StoreError) => void;
  /** Compact once the files hold more than this many bytes ... (default 64 MiB) */
  compactMinBytes?: number;
  /** ... and more than this many times the live state (default 4). */
  compactRatio?: number;
  /** Tests: pause this long between snapshot slices, to widen the window for a kill. */
  compactPauseMs?: number;
  /** Put ids younger than this are kept for dedupe across restarts (default 10 minutes, as the broker). */
  dedupeWindowMs?: number;
  /** At most this many put ids are kept in a snapshot (default 1,000,000, as the broker). */
  dedupeMaxIds?: number;
}

/** The durable {@link Store} returned by {@link openJournal}. */
export interface JournalStore extends Store {
  /** The data directory. */
  readonly dir: string;
  /** Compacts now (if a source is attached and no compaction runs); resolves when done. */
  compact(): Promise<void>;
}

const SEGMENT = /^journal-(\d{8})\.twj$/;
const SNAPSHOT = /^snapshot-(\d{8})\.tws$/;
const TEMP = /^snapshot-\d{8}\.tmp$/;
const LOCK = "LOCK";
const FSYNC_SAMPLES = 256;

function pad(generation: number): string {
  return String(generation).padStart(8, "0");
}

function segmentName(generation: number): string {
  return `journal-${pad(generation)}.twj`;
}

function snapshotName(generation: number): string {
  return `snapshot-${pad(generation)}.tws`;
}

/** "3.1 MB", "512 B". */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

function describe(error: unknown): string {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code === "ENOSPC") return "the disk is full (ENOSPC)";
  if (code === "EACCES" || code === "EPERM") return `permission denied (${code})`;
  if (code === "EROFS") return "the filesystem is read-only (EROFS)";
  if (code === "ENOTDIR") return "a part of the path is a file, not a directory (ENOTDIR)";
  if (code === "EEXIST") return "a file (not a directory) is in the way (EEXIST)";
  return message;
}

// -- the lock --

interface Lock {
  release(): Promise<void>;
}

async function acquireLock(
  dir: string,
  log: (event: Record<string, unknown>) => void,
): Promise<Lock> {
  const path = `${dir}/${LOCK}`;
  const me = self();
  const text = JSON.stringify({ pid: me.pid, host: me.host, startedAt: new Date().toISOString() }) +
    "\n";
  for (let attempt = 0; attempt < 3; attempt++) {
    let created: boolean;
    try {
      created = await createExclusive(path, text);
    } catch (error) {
      throw new StoreError(
        `Cannot lock data directory ${dir}: ${describe(error)}; choose a writable --data DIR`,
        { cause: error },
      );
    }
    if (created) {
      return { release: () => remove(path).catch(() => {}) };
    }
    const existing = await readText(path).catch(() => null);
    let holder: { pid?: unknown; host?: unknown; startedAt?: unknown } = {};
    try {
      holder = JSON.parse(existing ?? "");
    } catch {
      // An empty or half-written lock: its writer died while creating it.
    }
    const pid = typeof holder.pid === "number" ? holder.pid : null;
    const host = typeof holder.host === "string" ? holder.host : "";
    // Only a PID on this machine can be checked (the host is "" when a runtime cannot tell it).
    if (pid !== null && host !== "" && me.host !== "" && host !== me.host) {
      throw new StoreError(
        `Cannot open data directory ${dir}: it is locked by PID ${pid} on host ${host}; stop that god, or if it is gone, delete ${path}`,
      );
    }
    if (pid !== null && processAlive(pid)) {
      const since = typeof holder.startedAt === "string" ? `, since ${holder.startedAt}` : "";
      throw new StoreError(
        `Cannot open data directory ${dir}: another god (PID ${pid}${since}) is using it; stop that god or choose another --data DIR`,
      );
    }
    log({
      event: "stale_lock",
      dir,
      pid,
      note: `taking over the lock of PID ${pid}, which is gone`,
    });
    await remove(path);
  }
  throw new StoreError(
    `Cannot lock data directory ${dir}: the lock file keeps changing; is another god starting?`,
  );
}

// -- opening --

/**
 * Opens (or creates) the data directory `dir`: locks it, recovers its state
 * and returns the store to hand to `serve`, the state to restore, and a
 * one-line summary of what was recovered. Throws a {@link StoreError} with a
 * one-line, actionable message when the directory cannot be used.
 *
 * @example
 * ```ts
 * const { store, restore, summary } = await openJournal("./taskwire-data", { fsync: "always" });
 * console.log(summary); // recovered 1200 jobs (1000 ready, 150 delayed, 50 dead) ...
 * const god = await serve({ authkey, store, restore });
 * ```
 */
export async function openJournal(
  dir: string,
  options: OpenJournalOptions = {},
): Promise<{ store: JournalStore; restore: Recovered; summary: string }> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const fsync = options.fsync ?? "always";
  if (!FSYNC_POLICIES.includes(fsync)) {
    throw new StoreError(
      `Invalid fsync policy ${JSON.stringify(fsync)}: use one of ${FSYNC_POLICIES.join(", ")}`,
    );
  }
  try {
    await ensureDir(dir);
  } catch (error) {
    throw new StoreError(
      `Cannot create data directory ${dir}: ${describe(error)}; choose a writable --data DIR`,
      { cause: error },
    );
  }
  const lock = await acquireLock(dir, log);
  try {
    return await recover(dir, fsync, options, lock, started);
  } catch (error) {
    await lock.release();
    if (error instanceof StoreError) throw error;
    throw new StoreError(`Cannot open data directory ${dir}: ${describe(error)}`, { cause: error });
  }
}

async function recover(
  dir: string,
  fsync: FsyncPolicy,
  options: OpenJournalOptions,
  lock: Lock,
  started: number,
): Promise<{ store: JournalStore; restore: Recovered; summary: string }> {
  const log = options.log ?? (() => {});
  const names = await listDir(dir);
  const segments: number[] = [];
  const snapshots: number[] = [];
  for (const name of names) {
    const seg = SEGMENT.exec(name);
    if (seg) segments.push(Number(seg[1]));
    const snap = SNAPSHOT.exec(name);
    if (snap) snapshots.push(Number(snap[1]));
    if (TEMP.test(name)) {
      // An unfinished snapshot of a compaction that was interrupted.
      log({ event: "compaction_leftover", file: name, note: "removing an unfinished snapshot" });
      await remove(`${dir}/${name}`);
    }
  }
  segments.sort((a, b) => a - b);
  snapshots.sort((a, b) => a - b);
  const base = snapshots.length > 0 ? snapshots[snapshots.length - 1] : 0;
  const replay = segments.filter((g) => g >= base);
  const folder = new StateFolder();
  const notes: string[] = [];
  let bytes = 0;
  let damagedMiddle = false;
  let truncatedBytes = 0;
  let skippedBytes = 0;

  // Which generations must be there.
  const first = base > 0 ? base : 1;
  if (base === 0 && segments.length > 0 && segments[0] !== 1) {
    problem(
      `journal ${segmentName(first)} is missing (the oldest journal is ${
        segmentName(segments[0])
      } and there is no snapshot)`,
    );
  }
  for (let i = 0; i < replay.length; i++) {
    const expected = (base > 0 ? base : replay[0]) + i;
    if (replay[i] !== expected) {
      problem(`journal ${segmentName(expected)} is missing between the journals that remain`);
    }
  }
  if (base > 0 && (replay.length === 0 || replay[0] !== base)) {
    // Compaction creates segment N before snapshot N is renamed into place.
    problem(`journal ${segmentName(base)} is missing beside ${snapshotName(base)}`);
  }

  function problem(what: string): void {
    if (!options.salvage) {
      throw new StoreError(
        `Cannot recover data directory ${dir}: ${what}; refusing to start so nothing is lost. Restore it from a backup, or start with --salvage to load what is readable`,
      );
    }
    damagedMiddle = true;
    notes.push(`salvaged past: ${what}`);
    log({ event: "salvage", dir, problem: what });
  }

  if (base > 0) {
    const path = `${dir}/${snapshotName(base)}`;
    const file = await openFile(path, "read");
    try {
      const scan = await scanFile(file, FileKind.snapshot, (r) => folder.apply(r), options);
      bytes += scan.size;
      if (scan.damage || folder.end === null) {
        const where = scan.damage
          ? `at offset ${scan.damage.offset}: ${scan.damage.detail}`
          : "its end marker is missing";
        problem(`snapshot ${path} is damaged ${where}`);
        skippedBytes += scan.skipped + (scan.damage?.where === "tail" ? scan.damage.bytes : 0);
      }
    } finally {
      await file.close();
    }
  }

  let last: { file: DataFile; generation: number; size: number } | null = null;
  let lastScanned = 0;
  for (let i = 0; i < replay.length; i++) {
    const generation = replay[i];
    const isLast = i === replay.length - 1;
    const path = `${dir}/${segmentName(generation)}`;
    const file = await openFile(path, isLast ? "update" : "read");
    let keep = false;
    try {
      const scan = await scanFile(file, FileKind.journal, (r) => folder.apply(r), options);
      bytes += scan.size;
      let size = scan.size;
      const damage = scan.damage;
      if (damage && (damage.where === "middle" || !isLast)) {
        const next = damage.where === "middle"
          ? `, and valid records follow at offset ${damage.resumeAt}`
          : `, and newer journals follow it`;
        problem(
          `journal ${path} is corrupt at offset ${damage.offset} (${damage.detail})${next}`,
        );
        skippedBytes += scan.skipped + (damage.where === "tail" ? damage.bytes : 0);
      } else if (damage) {
        // A torn tail of the newest journal: report it, keep a copy if it is
        // more than a cut-short record, then cut it off.
        const event: Record<string, unknown> = {
          event: "journal_tail_truncated",
          file: path,
          offset: damage.offset,
          bytes: damage.bytes,
          detail: damage.detail,
        };
        if (!damage.detail.includes("cut short") && damage.bytes > 0) {
          const aside = `${path}.damaged-${Date.now()}`;
          const copy = new Uint8Array(damage.bytes);
          await file.read(copy, damage.offset);
          const out = await openFile(aside, "create");
          await out.write(copy, 0);
          await out.datasync();
          await out.close();
          event.keptIn = aside;
        }
        log(event);
        notes.push(
          `cut a damaged tail of ${damage.bytes} bytes from ${
            segmentName(generation)
          } at offset ${damage.offset} (${damage.detail})`,
        );
        truncatedBytes += damage.bytes;
      }
      if (isLast) {
        if (scan.noHeader) {
          await file.truncate(0);
          await file.write(encodeHeader(FileKind.journal, generation), 0);
          await file.datasync();
          size = HEADER_SIZE;
        } else if (damage && damage.where === "tail") {
          await file.truncate(scan.goodEnd);
          await file.datasync();
          size = scan.goodEnd;
        } else if (damage && options.salvage) {
          size = scan.goodEnd; // salvage: superseded by the fresh snapshot below
        }
        last = { file, generation, size };
        lastScanned = scan.size;
        keep = true;
      }
    } finally {
      if (!keep) await file.close();
    }
  }

  const now = Date.now();
  const windowMs = options.dedupeWindowMs ?? 600_000;
  const restore = folder.result(now, windowMs);
  const store = new Journal(dir, fsync, options, lock);
  let generation: number;
  if (last === null) {
    // A fresh directory (or only a snapshot): start segment `first`.
    generation = first;
    const file = await openFile(`${dir}/${segmentName(generation)}`, "create");
    await file.write(encodeHeader(FileKind.journal, generation), 0);
    await file.datasync();
    await syncDir(dir);
    last = { file, generation, size: HEADER_SIZE };
  }
  generation = last.generation;
  store.start(last.file, generation, last.size, bytes - lastScanned);
  store.seedIds(folder.recentIds(now - windowMs));
  try {
    // Leftovers of a compaction that finished renaming but not deleting.
    for (const g of segments) if (g < base) await remove(`${dir}/${segmentName(g)}`);
    for (const g of snapshots) if (g < base) await remove(`${dir}/${snapshotName(g)}`);
    if (damagedMiddle) {
      // Salvage: write what was recovered as a fresh snapshot, keep the damaged files aside.
      await store.writeSnapshotOf(restore, segments.filter((g) => g <= generation), snapshots);
    }
  } catch (error) {
    await store.abandon();
    throw error;
  }

  const ms = Math.round(performance.now() - started);
  const c = restore.counts;
  Object.assign(c, { bytes, ms, truncatedBytes, skippedBytes });
  store.recovered = c;
  const summary =
    `recovered ${c.jobs} jobs (${c.ready} ready, ${c.delayed} delayed, ${c.dead} dead) in ${c.queues} queues from ${
      formatBytes(bytes)
    } journal in ${ms} ms` + (notes.length ? `; ${notes.join("; ")}` : "");
  log({ event: "recovered", dir, fsync, ...c });
  return { store, restore, summary };
}

// -- the store --

interface Pending {
  bytes: Uint8Array;
  /** Logical position after these bytes. */
  end: number;
}

interface Rotate {
  rotate: number;
  done: () => void;
  failed: (error: unknown) => void;
}

class Journal implements JournalStore {
  readonly dir: string;
  recovered: Record<string, number> = {};
  readonly #fsync: FsyncPolicy;
  readonly #batchMs: number;
  readonly #log: (event: Record<string, unknown>) => void;
  readonly #onError: (error: StoreError) => void;
  readonly #lock: Lock;
  readonly #compactMinBytes: number;
  readonly #compactRatio: number;
  readonly #compactPauseMs: number;
  readonly #dedupeWindowMs: number;
  readonly #dedupeMaxIds: number;

  #file: DataFile | null = null;
  #generation = 0;
  /** Bytes in the current segment file. */
  #fileSize = 0;
  /** Bytes of the snapshot and older segments that the state still needs. */
  #olderBytes = 0;

  readonly #writer = new RecordWriter();
  readonly #queue: (Pending | Rotate)[] = [];
  /** Logical bytes appended, written to the OS, and fsynced. */
  #appended = 0;
  #written = 0;
  #synced = 0;
  #waiterPos: number[] = [];
  #waiterFn: (() => void)[] = [];
  #waiterHead = 0;
  #loop: Promise<void> | null = null;
  #failed: StoreError | null = null;
  #closed = false;
  #lastSync = 0;
  #syncDue = false;
  #syncTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #fsyncMs: number[] = [];

  #source: StoreSource | null = null;
  #compacting: Promise<void> | null = null;
  #nextCheck = 0;
  #lastCompaction: string | null = null;

  /** Recent put ids (queue, id, time), oldest first, for snapshots. */
  #idQ: string[] = [];
  #idV: string[] = [];
  #idAt: number[] = [];
  #idHead = 0;

  constructor(dir: string, fsync: FsyncPolicy, options: OpenJournalOptions, lock: Lock) {
    this.dir = dir;
    this.#fsync = fsync;
    this.#batchMs = options.batchMs ?? 50;
    this.#log = options.log ?? (() => {});
    this.#onError = options.onError ?? ((error) => {
      setTimeout(() => {
        throw error;
      }, 0);
    });
    this.#lock = lock;
    this.#compactMinBytes = options.compactMinBytes ?? 64 * 1024 * 1024;
    this.#compactRatio = options.compactRatio ?? 4;
    this.#compactPauseMs = options.compactPauseMs ?? 0;
    this.#dedupeWindowMs = options.dedupeWindowMs ?? 600_000;
    this.#dedupeMaxIds = options.dedupeMaxIds ?? 1_000_000;
  }

  /** Internal: the segment to append to. */
  start(file: DataFile, generation: number, size: number, olderBytes: number): void {
    this.#file = file;
    this.#generation = generation;
    this.#fileSize = size;
    this.#olderBytes = olderBytes;
    this.#nextCheck = this.#compactMinBytes;
  }

  /** Internal: recent ids read back (oldest first), so the next snapshot keeps them. */
  seedIds(ids: Iterable<{ q: string; id: string; at: number }>): void {
    for (const { q, id, at } of ids) this.#rememberId(q, id, at);
  }

  /** Internal: opening failed after the store was made; close the file, keep the lock for the caller. */
  async abandon(): Promise<void> {
    this.#closed = true;
    while (this.#loop !== null) await this.#loop.catch(() => {});
    await this.#file?.close().catch(() => {});
    this.#file = null;
  }

  get #journalBytes(): number {
    return this.#olderBytes + this.#fileSize;
  }

  append(record: JournalRecord): void {
    // Closed, or failed (nothing more can be made durable): keep no backlog.
    if (this.#closed || this.#failed) return;
    const now = Date.now();
    if (record.t === "purge" && this.#source !== null) {
      // The broker keeps the queue's jobs in flight (it does not journal leases): name them.
      const keep: number[] = [];
      for (const { queue, job } of this.#source.liveJobs()) {
        if (queue === record.q) keep.push(job.seq);
      }
      this.#appended += this.#writer.write({ t: "purge", q: record.q, keep }, now);
      this.#kick();
      return;
    }
    this.#appended += this.#writer.write(record, now);
    if (record.t === "put") this.#rememberId(record.q, record.job.id, now);
    this.#kick();
  }

  afterCommit(fn: () => void): void {
    const committed = this.#fsync === "always" ? this.#synced : this.#written;
    if (committed >= this.#appended) {
      fn();
      return;
    }
    this.#waiterPos.push(this.#appended);
    this.#waiterFn.push(fn);
  }

  attach(source: StoreSource): void {
    this.#source = source;
  }

  stats(): StoreStats {
    return {
      kind: "journal",
      fsync: this.#fsync,
      journalBytes: this.#journalBytes,
      lastCompaction: this.#lastCompaction,
      recovered: { ...this.recovered },
      fsyncMs: [...this.#fsyncMs],
    };
  }

  compact(): Promise<void> {
    if (this.#compacting) return this.#compacting;
    if (this.#source === null || this.#closed || this.#failed) return Promise.resolve();
    return this.#startCompaction("requested");
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#syncTimer);
    if (this.#compacting) await this.#compacting.catch(() => {});
    await this.#drain();
    if (this.#file && !this.#failed) {
      try {
        if (this.#written > this.#synced || this.#fsync !== "always") await this.#sync();
      } catch (error) {
        this.#fail(error, "fsync at close");
      }
      this.#release();
    }
    await this.#file?.close().catch(() => {});
    this.#file = null;
    await this.#lock.release();
  }

  // -- writing --

  #kick(): void {
    if (this.#loop !== null || this.#failed) return;
    this.#loop = this.#run().finally(() => {
      this.#loop = null;
      if (!this.#failed && this.#hasWork()) this.#kick();
    });
  }

  #hasWork(): boolean {
    return this.#queue.length > 0 || this.#writer.length > 0 ||
      (this.#syncDue && this.#written > this.#synced);
  }

  async #drain(): Promise<void> {
    while (this.#loop !== null) await this.#loop;
    if (!this.#failed && this.#hasWork()) {
      this.#kick();
      while (this.#loop !== null) await this.#loop;
    }
  }

  /** The one writer: takes pending records in order, writes, syncs as the policy says. */
  async #run(): Promise<void> {
    // Let the appends of this turn of the event loop (every frame that came
    // in with it) gather before the first write.
    await new Promise<void>((resolve) => nextTurn(resolve));
    try {
      while (!this.#failed) {
        let item = this.#queue.shift();
        if (item === undefined && this.#writer.length > 0) {
          item = { bytes: this.#writer.take(), end: this.#appended };
        }
        if (item === undefined) {
          if (this.#syncDue && this.#written > this.#synced) {
            this.#syncDue = false;
            await this.#sync();
            continue;
          }
          break;
        }
        if ("rotate" in item) {
          await this.#rotate(item);
          continue;
        }
        await this.#file!.write(item.bytes, this.#fileSize);
        this.#fileSize += item.bytes.length;
        this.#written = item.end;
        if (this.#fsync === "always") {
          await this.#sync();
        } else if (this.#fsync === "batch") {
          if (performance.now() - this.#lastSync >= this.#batchMs) await this.#sync();
          else this.#scheduleSync();
        }
        this.#release();
        this.#maybeCompact();
      }
    } catch (error) {
      this.#fail(error, "write");
    }
  }

  async #sync(): Promise<void> {
    const target = this.#written;
    const t0 = performance.now();
    await this.#file!.datasync();
    const ms = performance.now() - t0;
    this.#lastSync = performance.now();
    if (this.#fsyncMs.length >= FSYNC_SAMPLES) this.#fsyncMs.shift();
    this.#fsyncMs.push(Math.round(ms * 1000) / 1000);
    if (target > this.#synced) this.#synced = target;
  }

  /** "batch": makes sure an fsync follows within `batchMs` of a write. */
  #scheduleSync(): void {
    if (this.#syncTimer !== undefined || this.#closed) return;
    const wait = Math.max(0, this.#batchMs - (performance.now() - this.#lastSync));
    this.#syncTimer = setTimeout(() => {
      this.#syncTimer = undefined;
      this.#syncDue = true;
      this.#kick();
    }, wait);
  }

  /** Calls the afterCommit callbacks whose records are now durable. */
  #release(): void {
    const committed = this.#fsync === "always" ? this.#synced : this.#written;
    const pos = this.#waiterPos;
    const fns = this.#waiterFn;
    let head = this.#waiterHead;
    while (head < pos.length && pos[head] <= committed) {
      const fn = fns[head];
      head++;
      try {
        fn();
      } catch (error) {
        this.#log({ event: "commit_callback_failed", message: String(error) });
      }
    }
    if (head === pos.length) {
      this.#waiterPos = [];
      this.#waiterFn = [];
      head = 0;
    } else if (head > 4096 && head * 2 > pos.length) {
      this.#waiterPos = pos.slice(head);
      this.#waiterFn = fns.slice(head);
      head = 0;
    }
    this.#waiterHead = head;
  }

  #fail(error: unknown, during: string): void {
    if (this.#failed) return;
    const file = this.#file?.path ?? this.dir;
    const storeError = error instanceof StoreError ? error : new StoreError(
      `Cannot ${during} journal ${file}: ${
        describe(error)
      }; nothing more is acknowledged. Free space or fix the disk, then restart the god (the journal recovers everything acknowledged)`,
      { cause: error },
    );
    this.#failed = storeError;
    // A compaction waiting for its new segment must not wait forever.
    for (const item of this.#queue) if ("rotate" in item) item.failed(storeError);
    this.#log({ event: "journal_failed", message: storeError.message });
    this.#onError(storeError);
  }

  // -- compaction --

  #maybeCompact(): void {
    if (this.#source === null || this.#compacting !== null || this.#closed) return;
    const total = this.#journalBytes;
    if (total < this.#nextCheck) return;
    let live = 0;
    for (const { job } of this.#source.liveJobs()) live += job.payload.length + job.id.length + 80;
    if (live * this.#compactRatio > total) {
      this.#nextCheck = Math.max(
        this.#compactMinBytes,
        live * this.#compactRatio,
        Math.ceil(total * 1.25),
      );
      return;
    }
    void this.#startCompaction("journal " + formatBytes(total) + ", live ~" + formatBytes(live));
  }

  #startCompaction(why: string): Promise<void> {
    const promise = this.#compact(why).catch((error) => {
      this.#log({ event: "compaction_failed", message: describe(error) });
      this.#nextCheck = this.#journalBytes * 2;
    }).finally(() => {
      this.#compacting = null;
    });
    this.#compacting = promise;
    return promise;
  }

  async #compact(why: string): Promise<void> {
    const source = this.#source!;
    const started = performance.now();
    const generation = this.#generation + 1 + this.#queue.filter((i) => "rotate" in i).length;
    // The boundary: records appended so far belong to the old segment, the
    // state captured right now is the snapshot, later records go to the new one.
    if (this.#writer.length > 0) {
      this.#queue.push({ bytes: this.#writer.take(), end: this.#appended });
    }
    let rotateDone!: () => void;
    let rotateFailed!: (error: unknown) => void;
    const rotated = new Promise<void>((resolve, reject) => {
      rotateDone = resolve;
      rotateFailed = reject;
    });
    rotated.catch(() => {});
    this.#queue.push({ rotate: generation, done: rotateDone, failed: rotateFailed });
    const queues = { ...source.queueOptions() };
    const qs: string[] = [];
    const jobs: Job[] = [];
    const attempts: number[] = [];
    const readyAt: number[] = [];
    const reasons: (string | undefined)[] = [];
    const origins: (string | undefined)[] = [];
    for (const { queue, job } of source.liveJobs()) {
      qs.push(queue);
      jobs.push(job);
      attempts.push(job.attempts);
      readyAt.push(job.readyAt);
      reasons.push(job.reason);
      origins.push(job.origin);
    }
    const ids = this.#captureIds();
    const captureMs = performance.now() - started;
    this.#kick();
    this.#log({ event: "compaction_started", generation, jobs: jobs.length, why, captureMs });

    const size = await this.#writeSnapshot(
      generation,
      queues,
      {
        count: jobs.length,
        get: (i) => ({
          q: qs[i],
          job: {
            seq: jobs[i].seq,
            id: jobs[i].id,
            payload: jobs[i].payload,
            priority: jobs[i].priority,
            attempts: attempts[i],
            readyAt: readyAt[i],
            reason: reasons[i],
            origin: origins[i],
          },
        }),
      },
      ids,
      rotated,
    );
    if (size === null) return;
    // Older files are no longer needed.
    const names = await listDir(this.dir);
    for (const name of names) {
      const seg = SEGMENT.exec(name) ?? SNAPSHOT.exec(name);
      if (seg && Number(seg[1]) < generation) await remove(`${this.dir}/${name}`);
    }
    await syncDir(this.dir);
    this.#olderBytes = size;
    this.#nextCheck = Math.max(this.#compactMinBytes, size * this.#compactRatio);
    this.#lastCompaction = new Date().toISOString();
    this.#log({
      event: "compaction_done",
      generation,
      jobs: jobs.length,
      snapshotBytes: size,
      ms: Math.round(performance.now() - started),
    });
  }

  /**
   * Writes snapshot `generation` as a temp file in slices, fsyncs it, waits
   * for segment `generation` to exist, renames it into place. Returns its size,
   * or null when the store closed meanwhile (the temp file is removed).
   */
  async #writeSnapshot(
    generation: number,
    queues: Record<string, QueueOptions>,
    jobs: { count: number; get(i: number): { q: string; job: Job } },
    ids: { q: string[]; id: string[]; at: number[] },
    rotated: Promise<void>,
  ): Promise<number | null> {
    const tmp = `${this.dir}/snapshot-${pad(generation)}.tmp`;
    const final = `${this.dir}/${snapshotName(generation)}`;
    const file = await openFile(tmp, "create");
    let ok = false;
    try {
      const writer = new RecordWriter(1024 * 1024);
      let position = 0;
      const flush = async () => {
        const bytes = writer.take();
        await file.write(bytes, position);
        position += bytes.length;
        await this.#pause();
      };
      await file.write(encodeHeader(FileKind.snapshot, generation), 0);
      position = HEADER_SIZE;
      writer.write({ t: "meta", queues, createdAt: Date.now() });
      for (let i = 0; i < jobs.count; i++) {
        const { q, job } = jobs.get(i);
        writer.write({ t: "job", q, job });
        if (writer.length >= 512 * 1024) {
          await flush();
          if (this.#closed) return null;
        }
      }
      for (let i = 0; i < ids.q.length; i++) {
        writer.write({ t: "id", q: ids.q[i], id: ids.id[i], at: ids.at[i] });
        if (writer.length >= 512 * 1024) {
          await flush();
          if (this.#closed) return null;
        }
      }
      writer.write({ t: "end", jobs: jobs.count, ids: ids.q.length });
      await flush();
      await file.datasync();
      await rotated;
      this.#log({ event: "compaction_snapshot_written", generation, file: tmp, bytes: position });
      await this.#pause();
      await rename(tmp, final);
      await syncDir(this.dir);
      ok = true;
      this.#log({ event: "compaction_snapshot_renamed", generation, file: final });
      await this.#pause();
      return position;
    } finally {
      await file.close().catch(() => {});
      if (!ok) await remove(tmp).catch(() => {});
    }
  }

  /** Tests: widens the windows between the steps of a compaction. */
  async #pause(): Promise<void> {
    if (this.#compactPauseMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, this.#compactPauseMs));
    }
  }

  /** Called by the write loop at the boundary: finish the old segment, start the new one. */
  async #rotate(item: Rotate): Promise<void> {
    try {
      const old = this.#file!;
      if (this.#written > this.#synced || this.#fsync !== "always") await this.#sync();
      const next = await openFile(`${this.dir}/${segmentName(item.rotate)}`, "create");
      await next.write(encodeHeader(FileKind.journal, item.rotate), 0);
      await next.datasync();
      await syncDir(this.dir);
      await old.close();
      this.#olderBytes += this.#fileSize;
      this.#file = next;
      this.#generation = item.rotate;
      this.#fileSize = HEADER_SIZE;
      item.done();
    } catch (error) {
      item.failed(error);
      throw error;
    }
  }

  // -- recent put ids, for snapshots --

  #rememberId(q: string, id: string, at: number): void {
    this.#idQ.push(q);
    this.#idV.push(id);
    this.#idAt.push(at);
    if (this.#idQ.length - this.#idHead > this.#dedupeMaxIds * 1.5) this.#trimIds(Date.now());
  }

  #trimIds(now: number): void {
    let head = this.#idHead;
    const since = now - this.#dedupeWindowMs;
    const length = this.#idQ.length;
    while (head < length && (length - head > this.#dedupeMaxIds || this.#idAt[head] < since)) {
      head++;
    }
    this.#idQ = this.#idQ.slice(head);
    this.#idV = this.#idV.slice(head);
    this.#idAt = this.#idAt.slice(head);
    this.#idHead = 0;
  }

  #captureIds(): { q: string[]; id: string[]; at: number[] } {
    this.#trimIds(Date.now());
    return { q: this.#idQ.slice(), id: this.#idV.slice(), at: this.#idAt.slice() };
  }

  /** Internal (salvage): writes `state` as a fresh snapshot and sets the damaged files aside. */
  async writeSnapshotOf(state: Recovered, segments: number[], snapshots: number[]): Promise<void> {
    const generation = this.#generation + 1;
    const rotated = new Promise<void>((resolve, reject) => {
      this.#queue.push({ rotate: generation, done: resolve, failed: reject });
    });
    this.#kick();
    const ids = this.#captureIds();
    const size = await this.#writeSnapshot(
      generation,
      state.queues,
      {
        count: state.jobs.length,
        get: (i) => ({ q: state.jobs[i].queue, job: state.jobs[i].job }),
      },
      ids,
      rotated,
    );
    const stamp = Date.now();
    for (const g of segments) {
      const name = `${this.dir}/${segmentName(g)}`;
      await rename(name, `${name}.corrupt-${stamp}`).catch(() => {});
    }
    for (const g of snapshots) {
      const name = `${this.dir}/${snapshotName(g)}`;
      await rename(name, `${name}.corrupt-${stamp}`).catch(() => {});
    }
    await syncDir(this.dir);
    this.#olderBytes = size ?? 0;
    this.#log({ event: "salvaged", generation, jobs: state.jobs.length });
  }
}

/** The source a store snapshots from (the broker). */
export type { StoreSource } from "./store.ts";

/** A record as stored (for tools that read journals). */
export type { StoredRecord };
