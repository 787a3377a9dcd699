/**
 * The journal proper: an append-only log of the broker's changes with group
 * commit, in segment files that compaction rotates. {@link openJournal}
 * (open.ts) recovers a data directory and hands over its newest segment.
 *
 * **fsync policies** (see {@link FsyncPolicy}): with "always" (the default) a
 * put is acknowledged only after its record is fsynced; records that arrive
 * while one write+fsync runs go into the next single write+fsync (group
 * commit), so throughput grows with concurrency. "batch" acknowledges once the
 * record is written to the operating system (it survives a crash of the god,
 * not of the machine) and fsyncs at most every `batchMs`. "off" writes but
 * never fsyncs until close.
 */
import type { JournalRecord } from "../queue/types.ts";
import type { Store, StoreSource, StoreStats } from "./store.ts";
import { type DataFile, describeFileError, openFile, syncDir } from "./file.ts";
import { segmentName } from "./layout.ts";
import type { Lock } from "./lock.ts";
import { encodeHeader, FileKind, HEADER_SIZE, RecordWriter, StoreError } from "./record_codec.ts";
import type { Recovered } from "./recovery.ts";
import { Compactor } from "./compaction.ts";
import { RecentIds } from "./recent_ids.ts";
import { nextTurn } from "../util/next_turn.ts";

/** When the journal calls fsync. */
export type FsyncPolicy = "always" | "batch" | "off";

/** The fsync policies, for checking command-line values. */
export const FSYNC_POLICIES: readonly FsyncPolicy[] = ["always", "batch", "off"];

/** How a {@link Journal} writes, reports and compacts (see `OpenJournalOptions`). */
export interface JournalOptions {
  /** With "batch", fsync at most this often (default 50 ms). */
  batchMs?: number;
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

/** The durable {@link Store} returned by `openJournal`. */
export interface JournalStore extends Store {
  /** The data directory. */
  readonly dir: string;
  /** Compacts now (if a source is attached and no compaction runs); resolves when done. */
  compact(): Promise<void>;
}

const FSYNC_SAMPLES = 256;

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

/** The journal of one data directory; made by `openJournal`, which recovers the directory first. */
export class Journal implements JournalStore {
  readonly dir: string;
  recovered: Record<string, number> = {};
  readonly #fsync: FsyncPolicy;
  readonly #batchMs: number;
  readonly #log: (event: Record<string, unknown>) => void;
  readonly #onError: (error: StoreError) => void;
  readonly #lock: Lock;
  readonly #compactor: Compactor;
  readonly #ids: RecentIds;

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

  constructor(dir: string, fsync: FsyncPolicy, options: JournalOptions, lock: Lock) {
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
    this.#ids = new RecentIds({
      windowMs: options.dedupeWindowMs ?? 600_000,
      maxIds: options.dedupeMaxIds ?? 1_000_000,
    });
    this.#compactor = new Compactor({
      dir,
      journalBytes: () => this.#journalBytes,
      rotate: () => this.#rotateHere(),
      recentIds: () => this.#ids.capture(Date.now()),
      compacted: (bytes) => {
        this.#olderBytes = bytes;
      },
      closed: () => this.#closed,
    }, {
      minBytes: options.compactMinBytes ?? 64 * 1024 * 1024,
      ratio: options.compactRatio ?? 4,
      pauseMs: options.compactPauseMs ?? 0,
      log: this.#log,
    });
  }

  /** Internal (open): the segment to append to. */
  start(file: DataFile, generation: number, size: number, olderBytes: number): void {
    this.#file = file;
    this.#generation = generation;
    this.#fileSize = size;
    this.#olderBytes = olderBytes;
  }

  /** Internal (open): recent ids read back (oldest first), so the next snapshot keeps them. */
  seedIds(ids: Iterable<{ q: string; id: string; at: number }>): void {
    for (const { q, id, at } of ids) this.#ids.remember(q, id, at);
  }

  /** Internal (open, salvage): writes `state` as a fresh snapshot, sets the damaged files aside. */
  writeSalvaged(state: Recovered, segments: number[], snapshots: number[]): Promise<void> {
    return this.#compactor.writeSalvaged(state, segments, snapshots);
  }

  /** Internal (open): opening failed after the store was made; close the file, keep the lock for the caller. */
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
    if (record.t === "put") this.#ids.remember(record.q, record.job.id, now);
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
    this.#compactor.attach(source);
  }

  stats(): StoreStats {
    return {
      kind: "journal",
      fsync: this.#fsync,
      journalBytes: this.#journalBytes,
      lastCompaction: this.#compactor.lastCompaction,
      recovered: { ...this.recovered },
      fsyncMs: [...this.#fsyncMs],
    };
  }

  compact(): Promise<void> {
    if (this.#failed) return Promise.resolve();
    return this.#compactor.compact("requested");
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#syncTimer);
    await this.#compactor.running?.catch(() => {});
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
        this.#compactor.maybeStart();
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
        describeFileError(error)
      }; nothing more is acknowledged. Free space or fix the disk, then restart the god (the journal recovers everything acknowledged)`,
      { cause: error },
    );
    this.#failed = storeError;
    // A compaction waiting for its new segment must not wait forever.
    for (const item of this.#queue) if ("rotate" in item) item.failed(storeError);
    this.#log({ event: "journal_failed", message: storeError.message });
    this.#onError(storeError);
  }

  // -- rotation (compaction's boundary) --

  /** Queues the start of the next segment after every record appended so far. */
  #rotateHere(): { generation: number; rotated: Promise<void> } {
    const generation = this.#generation + 1 + this.#queue.filter((i) => "rotate" in i).length;
    if (this.#writer.length > 0) {
      this.#queue.push({ bytes: this.#writer.take(), end: this.#appended });
    }
    let done!: () => void;
    let failed!: (error: unknown) => void;
    const rotated = new Promise<void>((resolve, reject) => {
      done = resolve;
      failed = reject;
    });
    rotated.catch(() => {});
    this.#queue.push({ rotate: generation, done, failed });
    this.#kick();
    return { generation, rotated };
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
}
