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
 *
 * **Committed length.** Each segment's header says how many of its bytes an
 * fsync has covered (see record_codec.ts). The journal rewrites it with the
 * length its last fsync covered, in the same write+fsync as the next records
 * (at most every {@link MARK_EVERY_MS}), or on its own once writing pauses for
 * that long, at rotation and at close. So the value never claims a byte that
 * was not durable, and every acknowledged record is covered within about
 * {@link MARK_EVERY_MS} of its fsync: recovery refuses a segment that is
 * shorter than its committed length or damaged before it, instead of
 * mistaking lost acknowledged records for a torn tail. Most fsyncs carry no
 * header write, so the hot path pays nothing extra.
 *
 * **A full disk** (ENOSPC, EDQUOT) on a write is not fatal: records wait in
 * memory, the write is retried (the same bytes at the same offset, so a
 * partial write is simply overwritten) every {@link RETRY_FIRST_MS} growing to
 * {@link RETRY_MAX_MS}, and `health()` says "stalled" so the server refuses new
 * puts. **A failed fsync** (EIO, or anything on fsync) is fatal: the kernel
 * may have dropped the dirty pages, so a retried fsync could succeed without
 * the data; nothing more is acknowledged and fsync is never called again.
 */
import type { JournalRecord } from "../queue/types.ts";
import type { Store, StoreHealth, StoreSource, StoreStats } from "./store.ts";
import {
  type DataFile,
  describeFileError,
  type FileWrapper,
  isOutOfSpace,
  openFile,
  remove,
  syncDir,
} from "./file.ts";
import { segmentName } from "./layout.ts";
import type { Lock } from "./lock.ts";
import {
  COMMITTED_OFFSET,
  encodeCommitted,
  encodeHeader,
  FileKind,
  HEADER_SIZE,
  RecordWriter,
  StoreError,
} from "./record_codec.ts";
import { ErrorCode } from "../protocol/errors.ts";
import type { Recovered } from "./recovery.ts";
import { Compactor } from "./compaction.ts";
import { type IdSource, RecentIds } from "./recent_ids.ts";
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
  /** Tests: wraps every file the journal opens, to inject disk faults. */
  wrapFile?: FileWrapper;
}

/** The durable {@link Store} returned by `openJournal`. */
export interface JournalStore extends Store {
  /** The data directory. */
  readonly dir: string;
  /** Compacts now (if a source is attached and no compaction runs); resolves when done. */
  compact(): Promise<void>;
}

const FSYNC_SAMPLES = 256;
/** The committed length in a segment's header trails its last fsync by at most about this long. */
export const MARK_EVERY_MS = 100;
/** A write refused for lack of space is retried after this long at first ... */
export const RETRY_FIRST_MS = 250;
/** ... then less and less often, down to this. */
export const RETRY_MAX_MS = 2000;

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

/** Where a step of the write loop failed: a write can wait for space, an fsync cannot be retried. */
type Step = "write" | "fsync";

/** The journal of one data directory; made by `openJournal`, which recovers the directory first. */
export class Journal implements JournalStore {
  readonly dir: string;
  recovered: Record<string, number> = {};
  readonly #fsync: FsyncPolicy;
  readonly #batchMs: number;
  readonly #log: (event: Record<string, unknown>) => void;
  readonly #onError: (error: StoreError) => void;
  readonly #wrap: FileWrapper;
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
  /** What the write loop is doing (what a failure means). */
  #step: Step = "write";
  #failed: StoreError | null = null;
  /** The error new puts get once failed (code `unavailable`). */
  #failedRefusal: StoreError | null = null;
  /** Waiting for disk space since `since`. */
  #stalled: { error: StoreError; since: number } | null = null;
  #retryMs = RETRY_FIRST_MS;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #lastSync = 0;
  #syncDue = false;
  #syncTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #fsyncMs: number[] = [];
  #source: StoreSource | null = null;

  // The committed length in the current segment's header.
  /** Whether the segment's header has the field (version 1 segments do not). */
  #marks = true;
  /** Bytes of the current segment the last fsync covered. */
  #syncedSize = 0;
  /** The value last written into the header, and the value an fsync has made durable. */
  #markWritten = 0;
  #markDurable = 0;
  #lastMarkAt = 0;
  #markDue = false;
  #markTimer: ReturnType<typeof setTimeout> | undefined;

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
    this.#wrap = options.wrapFile ?? ((file) => file);
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
      wrapFile: this.#wrap,
    });
  }

  /**
   * Internal (open): the segment to append to, all `size` bytes of it durable
   * already; `committed` is what its header says (null: a version 1 header,
   * which has no such field).
   */
  start(
    file: DataFile,
    segment: { generation: number; size: number; committed: number | null },
    olderBytes: number,
  ): void {
    this.#file = file;
    this.#generation = segment.generation;
    this.#fileSize = segment.size;
    this.#syncedSize = segment.size;
    this.#marks = segment.committed !== null;
    this.#markWritten = this.#markDurable = segment.committed ?? segment.size;
    this.#olderBytes = olderBytes;
    this.#scheduleMark();
  }

  /** Internal (open): recent ids read back (oldest first), so the next snapshot keeps them. */
  seedIds(ids: IdSource): void {
    this.#ids.seed(ids);
  }

  /** Internal (open, salvage): writes `state` as snapshot `generation`, after setting the damaged files aside. */
  writeSalvaged(
    state: Recovered,
    generation: number,
    setAside: () => Promise<void>,
  ): Promise<void> {
    return this.#compactor.writeSalvaged(state, generation, setAside);
  }

  /** Internal (open): opening failed after the store was made; close the file, keep the lock for the caller. */
  async abandon(): Promise<void> {
    this.#closed = true;
    this.#clearTimers();
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
      for (const { queue, job } of this.#source.captureLiveJobs()) {
        if (queue === record.q) keep.push(job.seq);
      }
      this.#appended += this.#writer.write({ t: "purge", q: record.q, keep }, now);
      this.#kick();
      return;
    }
    this.#appended += this.#writer.write(record, now);
    // A completion's result is not deduplicated (see Broker.complete): only puts' ids are kept.
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

  health(): StoreHealth {
    if (this.#failed) return { state: "failed", error: this.#failedRefusal! };
    if (this.#stalled) {
      return {
        state: "stalled",
        error: this.#stalled.error,
        since: new Date(this.#stalled.since).toISOString(),
      };
    }
    return { state: "ok" };
  }

  stats(): StoreStats {
    return {
      kind: "journal",
      fsync: this.#fsync,
      journalBytes: this.#journalBytes,
      lastCompaction: this.#compactor.lastCompaction,
      recovered: { ...this.recovered },
      fsyncMs: [...this.#fsyncMs],
      state: this.health().state,
    };
  }

  compact(): Promise<void> {
    if (this.#failed || this.#stalled) return Promise.resolve();
    return this.#compactor.compact("requested");
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearTimers();
    await this.#compactor.running?.catch(() => {});
    await this.#drain();
    if (this.#file && !this.#failed) {
      try {
        if (this.#stalled) {
          // Still no space: what could not be written was never acknowledged.
          this.#log({
            event: "journal_closed_unwritten",
            bytes: this.#appended - this.#written,
            note: `closing with ${
              this.#appended - this.#written
            } bytes of records never written (the disk is full; none of them was acknowledged)`,
          });
          this.#step = "write";
          await this.#file.truncate(this.#fileSize); // drop a partial write
        }
        if (this.#written > this.#synced || this.#fsync !== "always") {
          this.#step = "fsync";
          await this.#sync();
        }
        await this.#finishMark();
      } catch (error) {
        // No room even for the header's committed length: it stays lower, which is safe.
        if (!(this.#step === "write" && isOutOfSpace(error))) this.#fail(error, this.#step);
      }
      this.#release();
    }
    await this.#file?.close().catch(() => {});
    this.#file = null;
    await this.#lock.release();
  }

  // -- writing --

  /**
   * Starts the write loop if it is idle. While stalled, only the retry timer
   * (`retry`) and close start it, so a full disk is not hammered by every append.
   */
  #kick(retry = false): void {
    if (this.#loop !== null || this.#failed) return;
    if (this.#stalled !== null && !retry) return;
    this.#loop = this.#run().finally(() => {
      this.#loop = null;
      if (!this.#failed && this.#stalled === null && this.#hasWork()) this.#kick();
    });
  }

  #hasWork(): boolean {
    return this.#queue.length > 0 || this.#writer.length > 0 ||
      (this.#syncDue && this.#written > this.#synced) ||
      (this.#markDue && this.#markDurable < this.#syncedSize);
  }

  async #drain(): Promise<void> {
    while (this.#loop !== null) await this.#loop;
    if (!this.#failed && this.#hasWork()) {
      this.#kick(true);
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
        if (this.#queue.length === 0 && this.#writer.length > 0) {
          this.#queue.push({ bytes: this.#writer.take(), end: this.#appended });
        }
        // An item leaves the queue only once done: after a failed write it is
        // written again, at the same offset.
        const item = this.#queue[0];
        if (item === undefined) {
          if (this.#syncDue && this.#written > this.#synced) {
            this.#syncDue = false;
            this.#step = "fsync";
            await this.#sync();
            continue;
          }
          if (this.#markDue) {
            this.#markDue = false;
            await this.#finishMark();
            continue;
          }
          if (this.#stalled !== null) this.#resume(); // nothing waits to be written any more
          break;
        }
        if ("rotate" in item) {
          await this.#rotate(item);
          this.#queue.shift();
          continue;
        }
        if (
          this.#marks && this.#markWritten < this.#syncedSize &&
          performance.now() - this.#lastMarkAt >= MARK_EVERY_MS
        ) {
          // Rides on the fsync these records get anyway.
          await this.#writeMark();
        }
        this.#step = "write";
        await this.#file!.write(item.bytes, this.#fileSize);
        this.#queue.shift();
        this.#fileSize += item.bytes.length;
        this.#writer.recycle(item.bytes);
        this.#written = item.end;
        if (this.#stalled !== null) this.#resume();
        if (this.#fsync === "always") {
          this.#step = "fsync";
          await this.#sync();
        } else if (this.#fsync === "batch") {
          this.#step = "fsync";
          if (performance.now() - this.#lastSync >= this.#batchMs) await this.#sync();
          else this.#scheduleSync();
        }
        this.#release();
        this.#scheduleMark();
        this.#compactor.maybeStart();
      }
    } catch (error) {
      if (this.#step === "write" && isOutOfSpace(error)) this.#stall(error);
      else this.#fail(error, this.#step);
    }
  }

  async #sync(): Promise<void> {
    const target = this.#written;
    const size = this.#fileSize;
    const mark = this.#markWritten;
    const t0 = performance.now();
    await this.#file!.datasync();
    const ms = performance.now() - t0;
    this.#lastSync = performance.now();
    if (this.#fsyncMs.length >= FSYNC_SAMPLES) this.#fsyncMs.shift();
    this.#fsyncMs.push(Math.round(ms * 1000) / 1000);
    if (target > this.#synced) this.#synced = target;
    if (size > this.#syncedSize) this.#syncedSize = size;
    if (mark > this.#markDurable) this.#markDurable = mark;
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

  // -- the committed length in the header --

  /** Writes the length the last fsync covered into the header (durable with the next fsync). */
  async #writeMark(): Promise<void> {
    const value = this.#syncedSize;
    this.#step = "write";
    await this.#file!.write(
      encodeCommitted(FileKind.journal, this.#generation, value),
      COMMITTED_OFFSET,
    );
    this.#markWritten = value;
    this.#lastMarkAt = performance.now();
  }

  /** Makes the header's committed length cover everything fsynced so far. */
  async #finishMark(): Promise<void> {
    if (!this.#marks || this.#markDurable >= this.#syncedSize) return;
    await this.#writeMark();
    this.#step = "fsync";
    await this.#sync();
  }

  /** Once writing pauses, the last records get covered too, off the path of any acknowledgement. */
  #scheduleMark(): void {
    if (!this.#marks || this.#markTimer !== undefined || this.#closed) return;
    if (this.#markDurable >= this.#syncedSize) return;
    this.#markTimer = setTimeout(() => {
      this.#markTimer = undefined;
      this.#markDue = true;
      this.#kick();
    }, MARK_EVERY_MS);
  }

  #clearTimers(): void {
    clearTimeout(this.#syncTimer);
    clearTimeout(this.#markTimer);
    clearTimeout(this.#retryTimer);
    this.#syncTimer = this.#markTimer = this.#retryTimer = undefined;
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

  // -- faults --

  /** A write found the disk full: keep the records, refuse puts (health), try again later. */
  #stall(error: unknown): void {
    // A compaction waiting for its new segment gives up (and frees its temp
    // snapshot's space); later records simply stay in the current segment.
    for (let i = this.#queue.length - 1; i >= 0; i--) {
      const item = this.#queue[i];
      if ("rotate" in item) {
        this.#queue.splice(i, 1);
        item.failed(error);
      }
    }
    if (this.#stalled === null) {
      const file = this.#file?.path ?? this.dir;
      const message = `Cannot write journal ${file}: ${
        describeFileError(error)
      }; new puts are refused until space is freed in ${this.dir} (the journal retries by itself, and nothing acknowledged is lost)`;
      this.#stalled = {
        error: new StoreError(message, { cause: error }, ErrorCode.Unavailable),
        since: Date.now(),
      };
      this.#retryMs = RETRY_FIRST_MS;
      this.#log({ event: "journal_stalled", dir: this.dir, note: message });
    } else {
      this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
    }
    if (this.#closed) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#kick(true);
    }, this.#retryMs);
  }

  /** A write went through again after a stall. */
  #resume(): void {
    const stalledMs = Date.now() - this.#stalled!.since;
    this.#stalled = null;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#log({
      event: "journal_resumed",
      dir: this.dir,
      stalledMs,
      note: `the disk has space again after ${
        Math.round(stalledMs / 100) / 10
      } s: writing the waiting records, accepting puts`,
    });
  }

  /** Anything but a full disk: nothing more can be made durable. */
  #fail(error: unknown, step: Step): void {
    if (this.#failed) return;
    const file = this.#file?.path ?? this.dir;
    const why = step === "fsync"
      ? "after a failed fsync the kernel may have dropped the data, so it is never retried"
      : "the state of the file is unknown";
    const storeError = error instanceof StoreError ? error : new StoreError(
      `Cannot ${step} journal ${file}: ${
        describeFileError(error)
      }; nothing more is acknowledged (${why}). Check the disk, then restart the god: the journal recovers everything acknowledged`,
      { cause: error },
    );
    this.#failed = storeError;
    this.#failedRefusal = new StoreError(
      `Cannot accept puts: the journal in ${this.dir} failed (${
        describeFileError(error)
      } on ${step}); restart the god once the disk is fixed`,
      { cause: storeError },
      ErrorCode.Unavailable,
    );
    this.#stalled = null;
    this.#clearTimers();
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

  /**
   * Called by the write loop at the boundary: finish the old segment, start
   * the new one. No space for the new one fails only the compaction that
   * asked for it (its records stay in the current segment), not the journal.
   */
  async #rotate(item: Rotate): Promise<void> {
    const old = this.#file!;
    if (this.#written > this.#synced || this.#fsync !== "always") {
      this.#step = "fsync";
      await this.#sync();
    }
    await this.#finishMark();
    const path = `${this.dir}/${segmentName(item.rotate)}`;
    let next: DataFile | null = null;
    try {
      this.#step = "write";
      next = this.#wrap(await openFile(path, "create"));
      await next.write(encodeHeader(FileKind.journal, item.rotate), 0);
      this.#step = "fsync";
      await next.datasync();
      await syncDir(this.dir);
    } catch (error) {
      if (this.#step !== "write") throw error;
      // No new segment after all: remove what was made of it.
      await next?.close().catch(() => {});
      await remove(path).catch(() => {});
      if (!isOutOfSpace(error)) throw error;
      item.failed(error);
      return;
    }
    await old.close().catch(() => {});
    this.#olderBytes += this.#fileSize;
    this.#file = next;
    this.#generation = item.rotate;
    this.#fileSize = this.#syncedSize = HEADER_SIZE;
    this.#marks = true;
    this.#markWritten = this.#markDurable = HEADER_SIZE;
    item.done();
  }
}
