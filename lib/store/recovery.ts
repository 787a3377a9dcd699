/**
 * Reading the data directory back: scanning journal and snapshot files record
 * by record (detecting torn tails and corruption), and folding the records
 * into the state the broker restores.
 *
 * Folding is O(records): every record touches one entry of a per-queue
 * {@link JobTable} keyed by job seq; nothing scans a queue per record (a purge
 * replaces the queue's table).
 */
import { releaseNow } from "../util/release.ts";
import type { Attempt, Job, QueueOptions, Schedule } from "../queue/types.ts";
import { defaultQueueOptions } from "../queue/options.ts";
import type { DataFile } from "./file.ts";
import type { IdSource } from "./recent_ids.ts";
import { PutLog } from "./put_log.ts";
import { JobTable } from "./job_table.ts";
import { eachJob, type LiveJobs, PackedJobs } from "../queue/packed_jobs.ts";
import {
  decodeHeader,
  FileKind,
  FORMAT_VERSION,
  HEADER_SIZE,
  MAX_RECORD,
  readRecord,
  RECORD_OVERHEAD,
  type StoredRecord,
  StoreError,
} from "./record_codec.ts";

/** State read back from the data directory, in the shape `Broker.restore` takes. */
export interface Recovered {
  queues: Record<string, QueueOptions>;
  /** Live jobs of each queue, in delivery order, packed where they came packed (what `Broker.restore` loads). */
  queueJobs: Map<string, LiveJobs>;
  /**
   * The same jobs in one list, in delivery order within each queue. Made when
   * first read: a restart does not need a million more objects.
   */
  readonly jobs: { queue: string; job: Job }[];
  /** Put ids still inside the dedupe window, of jobs no longer live (live jobs carry their own). */
  ids: { queue: string; id: string }[];
  /** One more than the highest job seq in the journal (for a broker to number on from). */
  nextSeq: number;
  /** Schedules, each with the last slot it put. */
  schedules: Schedule[];
  /** jobs, ready, delayed, dead, queues, ids (recent put ids, of all jobs), records, bytes, ms, truncatedBytes, skippedBytes, orphans. */
  counts: Record<string, number>;
}

/**
 * Folds records into live state: jobs per queue (by seq, in journal
 * order), queue options, recent put ids with the time they were put.
 *
 * @example
 * ```ts
 * const folder = new StateFolder();
 * folder.apply({ t: "ack", q: "tasks", seq: 3 });
 * const { jobs } = folder.result(Date.now(), 600_000);
 * ```
 */
export class StateFolder {
  readonly #queues = new Map<string, QueueOptions>();
  readonly #schedules = new Map<string, Schedule>();
  readonly #jobs = new Map<string, JobTable>();
  /**
   * Queues that lost a job put into them (acked, moved, purged, replaced):
   * only their put ids need checking against the live jobs in `result`.
   */
  readonly #lost = new Set<string>();
  /** Put ids in journal order: queue, id, time, and the job's seq (to skip ids of live jobs). */
  readonly #puts = new PutLog();
  #maxSeq = 0;
  /** Records applied. */
  records = 0;
  /** Records about jobs that were not live (e.g. an ack of a job purged while in flight). */
  orphans = 0;
  /** Snapshot end marker seen: counts it announced. */
  end: { jobs: number; ids: number } | null = null;

  /** Applies one record. */
  apply(record: StoredRecord): void {
    this.records++;
    switch (record.t) {
      case "declare":
        this.#queues.set(record.q, withDefaults(record.q, record.options));
        return;
      case "put":
      case "job":
        this.#add(record.q, record.job);
        if (record.t === "put") {
          this.#puts.push(record.q, record.job.id, record.at ?? 0, record.job.seq);
        }
        return;
      case "ack":
        this.#delete(record.q, record.seq);
        return;
      case "complete": {
        this.#delete(record.q, record.seq);
        const put = record.put;
        // Its result's id is not kept for dedupe, as the broker keeps none (see Broker.complete).
        if (put !== undefined) this.#add(put.q, put.job);
        return;
      }
      case "return": {
        const job = this.#jobs.get(record.q)?.get(record.seq);
        if (job === undefined) {
          this.orphans++;
          return;
        }
        job.attempts = record.attempts;
        job.readyAt = record.readyAt;
        if (record.attempt !== undefined) addAttempt(job, record.attempt);
        return;
      }
      case "extra": {
        const job = this.#jobs.get(record.q)?.get(record.seq);
        if (job === undefined) {
          this.orphans++;
          return;
        }
        if (record.backoff !== undefined) job.backoff = record.backoff;
        if (record.history !== undefined) job.history = record.history;
        return;
      }
      case "dead":
      case "requeue": {
        // Both move a job to another queue: dead letters keep why they died, requeued jobs start over.
        const from = this.#jobs.get(record.q);
        const job = from?.get(record.seq);
        if (job === undefined) {
          this.orphans++;
          return;
        }
        from!.delete(record.seq);
        this.#lost.add(record.q);
        const dead = record.t === "dead";
        if (dead && record.attempt !== undefined) addAttempt(job, record.attempt);
        job.attempts = dead ? record.attempts : 0;
        job.reason = dead ? record.reason : undefined;
        job.origin = dead ? record.q : undefined;
        if (dead) job.readyAt = 0;
        this.#add(record.to, job);
        return;
      }
      case "purge": {
        // The broker keeps the jobs in flight at a purge; the record lists them.
        const old = this.#jobs.get(record.q);
        const kept = new JobTable();
        for (const seq of record.keep ?? []) {
          const job = old?.get(seq);
          if (job !== undefined) kept.set(job);
        }
        this.#jobs.set(record.q, kept);
        this.#lost.add(record.q);
        return;
      }
      case "meta":
        for (const [name, options] of Object.entries(record.queues)) {
          this.#queues.set(name, withDefaults(name, options));
        }
        for (const schedule of record.schedules ?? []) {
          this.#schedules.set(schedule.name, schedule);
        }
        return;
      case "schedule":
        this.#schedules.set(record.schedule.name, { ...record.schedule });
        return;
      case "unschedule":
        this.#schedules.delete(record.name);
        return;
      case "fired": {
        const schedule = this.#schedules.get(record.name);
        if (schedule === undefined) this.orphans++;
        else if (record.slot > schedule.last) schedule.last = record.slot;
        return;
      }
      case "id":
        this.#puts.push(record.q, record.id, record.at, -1);
        return;
      case "end":
        this.end = { jobs: record.jobs, ids: record.ids };
        return;
    }
  }

  /** Jobs now live. */
  get jobCount(): number {
    let n = 0;
    for (const jobs of this.#jobs.values()) n += jobs.size;
    return n;
  }

  /** The recovered state; ids older than `windowMs` before `now` are dropped. */
  result(now: number, windowMs: number): Recovered {
    const queueJobs = new Map<string, LiveJobs>();
    let count = 0;
    let ready = 0;
    let delayed = 0;
    let dead = 0;
    const queues = Object.fromEntries(this.#queues);
    const tally = (job: Job) => {
      if (job.origin !== undefined) dead++;
      else if (job.readyAt > now) delayed++;
      else ready++;
    };
    for (const [queue, table] of this.#jobs) {
      const list = table.list();
      for (const part of list) {
        if (!(part instanceof PackedJobs)) tally(part);
        else if (part.plain && part.latestReadyAt <= now) ready += part.length;
        else for (let i = 0; i < part.length; i++) tally(part.job(i));
      }
      count += table.size;
      if (table.size > 0) queueJobs.set(queue, list);
    }
    // Ids of live jobs are remembered with the jobs; the rest still dedupe.
    const ids: { queue: string; id: string }[] = [];
    const since = now - windowMs;
    const lost = this.#lost;
    let recent = 0;
    const puts = this.#puts;
    for (let i = 0; i < puts.length; i++) {
      if (puts.at(i) < since) continue;
      recent++;
      const seq = puts.seq(i);
      const q = puts.queue(i);
      // A job put into a queue that never lost one is still there.
      if (seq >= 0 && !lost.has(q)) continue;
      const id = puts.id(i);
      if (seq >= 0 && this.#jobs.get(q)?.idOf(seq) === id) continue;
      ids.push({ queue: q, id });
    }
    let jobs: { queue: string; job: Job }[] | undefined;
    return {
      queues,
      queueJobs,
      get jobs() {
        return jobs ??= [...queueJobs].flatMap(([queue, list]) =>
          Array.from(eachJob(list), (job) => ({ queue, job }))
        );
      },
      ids,
      nextSeq: this.#maxSeq + 1,
      schedules: [...this.#schedules.values()],
      counts: {
        jobs: count,
        ready,
        delayed,
        dead,
        queues: Object.keys(queues).length,
        ids: recent,
        schedules: this.#schedules.size,
        records: this.records,
        orphans: this.orphans,
      },
    };
  }

  /**
   * Put ids with their times, oldest first, from `since` on (for seeding the
   * store's record of recent ids): a view of the folder's own log, which
   * must not change until it has been read.
   */
  recentIds(since: number): IdSource {
    return this.#puts.since(since);
  }

  /** Frees what only the folder used, once its result and recent ids are taken (see {@link PutLog.release}). */
  release(): void {
    this.#puts.release();
  }

  /** Adds a job to a queue (a job of the same seq there is replaced: that one is lost). */
  #add(queue: string, job: Job): void {
    if (this.#queue(queue).set(job)) this.#lost.add(queue);
    if (job.seq > this.#maxSeq) this.#maxSeq = job.seq;
  }

  /** Removes a finished job (acked, completed); a record about a job not live is an orphan. */
  #delete(queue: string, seq: number): void {
    if (this.#jobs.get(queue)?.delete(seq)) this.#lost.add(queue);
    else this.orphans++;
  }

  #queue(name: string): JobTable {
    let table = this.#jobs.get(name);
    if (table === undefined) this.#jobs.set(name, table = new JobTable());
    return table;
  }
}

/** Damage found in a file. */
export interface Damage {
  /** Where the first bad byte is. */
  offset: number;
  /** Bytes from `offset` to the end of the file. */
  bytes: number;
  /** What is wrong there. */
  detail: string;
  /**
   * "tail": nothing valid follows (a torn or half-written end);
   * "middle": valid records follow the damage.
   */
  where: "tail" | "middle";
  /** With `where: "middle"`: where the next valid record starts. */
  resumeAt?: number;
}

/** What {@link scanFile} found. */
export interface ScanResult {
  generation: number;
  kind: FileKind;
  /** The format version of its header. */
  version: number;
  /** Bytes of its header: where the first record starts. */
  headerSize: number;
  /**
   * The length its header says was durable (see record_codec.ts): records
   * before it were acknowledged, so damage before it (or a file shorter than
   * it) is lost acknowledged data, never a torn tail. Null in version 1 files
   * and when the field is unreadable (`committedUnreadable`).
   */
  committed: number | null;
  committedUnreadable: boolean;
  size: number;
  /** End of the last good record (the length to truncate to when the tail is damaged). */
  goodEnd: number;
  records: number;
  /** The first damage, if any. */
  damage: Damage | null;
  /** With salvage: bytes skipped over in the middle. */
  skipped: number;
  /** The header was missing or cut short (a file whose creation was interrupted). */
  noHeader: boolean;
}

const CHUNK = 8 * 1024 * 1024;
/** Give up telling tail from middle after checking this many bytes of candidates. */
const RESYNC_BUDGET = 256 * 1024 * 1024;

/**
 * Reads every record of `file` in order, calling `onRecord` for each good
 * one. Stops at the first damage unless `salvage`, which skips to the next
 * valid record and goes on. Throws a {@link StoreError} for a file that is
 * not a taskwire file or was written by a newer version.
 */
export async function scanFile(
  file: DataFile,
  expectedKind: FileKind,
  onRecord: (record: StoredRecord) => void,
  options: { salvage?: boolean } = {},
): Promise<ScanResult> {
  const size = await file.size();
  const head = new Uint8Array(HEADER_SIZE);
  const headLength = await readAt(file, head, 0, size);
  const header = decodeHeader(head.subarray(0, headLength));
  const result: ScanResult = {
    generation: 0,
    kind: expectedKind,
    version: 0,
    headerSize: 0,
    committed: null,
    committedUnreadable: false,
    size,
    goodEnd: 0,
    records: 0,
    damage: null,
    skipped: 0,
    noHeader: false,
  };
  if (!header.ok) {
    if (
      (header.reason === "short" || header.reason === "magic") &&
      isZeroOrPrefix(head.subarray(0, headLength))
    ) {
      result.noHeader = true;
      if (size > 0) {
        result.damage = {
          offset: 0,
          bytes: size,
          detail: `the file header is missing or cut short (${size} bytes)`,
          where: "tail",
        };
      }
      return result;
    }
    if (header.reason === "newer") {
      throw new StoreError(
        `Cannot read ${file.path}: it was written by a newer taskwire (format version ${header.version}; this build reads up to ${FORMAT_VERSION}); upgrade taskwire or point --data at another directory`,
      );
    }
    throw new StoreError(
      `Cannot read ${file.path}: it is not a taskwire ${
        expectedKind === FileKind.journal ? "journal" : "snapshot"
      } (bad header: ${header.reason}); move it out of the data directory`,
    );
  }
  if (header.kind !== expectedKind) {
    throw new StoreError(
      `Cannot read ${file.path}: its header says file kind ${header.kind}, expected ${expectedKind}; move it out of the data directory`,
    );
  }
  result.generation = header.generation;
  result.version = header.version;
  result.headerSize = header.size;
  result.committed = header.committed;
  result.committedUnreadable = header.committedUnreadable;
  result.goodEnd = header.size;

  let buffer = new Uint8Array(Math.min(CHUNK, Math.max(size, 1)));
  let bufferStart = header.size; // file offset of buffer[0]
  let bufferLength = 0;
  let position = header.size; // file offset of the next record
  let eof = false;
  /** The bytes read so far (made again by `fill`, not per record). */
  let view = buffer.subarray(0, 0);

  const fill = async (need: number): Promise<void> => {
    // Keep the unread part, make room for `need` bytes, read as much as fits.
    const keep = bufferStart + bufferLength - position;
    const from = position - bufferStart;
    if (need > buffer.length) {
      const bigger = new Uint8Array(need);
      bigger.set(buffer.subarray(from, from + keep));
      releaseNow(buffer);
      buffer = bigger;
    } else {
      buffer.copyWithin(0, from, from + keep);
    }
    bufferStart = position;
    bufferLength = keep;
    while (bufferLength < buffer.length) {
      const n = await file.read(buffer.subarray(bufferLength), bufferStart + bufferLength);
      if (n <= 0) {
        eof = true;
        break;
      }
      bufferLength += n;
    }
    view = buffer.subarray(0, bufferLength);
  };

  while (true) {
    const r = readRecord(view, position - bufferStart);
    if (r.ok) {
      onRecord(r.record);
      result.records++;
      position += r.size;
      result.goodEnd = position;
      continue;
    }
    if (r.reason === "short") {
      if (position >= size) break; // clean end
      if (position + r.need <= size && !eof) {
        await fill(Math.max(r.need, Math.min(CHUNK, size - position)));
        if (bufferStart + bufferLength < position + r.need) eof = true; // the file shrank
        continue;
      }
    }
    // Damage at `position`: is anything valid after it?
    const detail = r.reason === "short"
      ? `the last record is cut short (${size - position} of ${r.need} bytes present)`
      : r.detail;
    const resumeAt = await findNextRecord(file, position, size);
    const damage: Damage = {
      offset: position,
      bytes: size - position,
      detail,
      where: resumeAt === null ? "tail" : "middle",
    };
    if (resumeAt !== null) damage.resumeAt = resumeAt;
    result.damage ??= damage;
    if (resumeAt === null || !options.salvage) break;
    result.skipped += resumeAt - position;
    position = resumeAt;
    bufferStart = position;
    bufferLength = 0;
    eof = false;
    await fill(Math.min(CHUNK, size - position));
  }
  // Records are decoded into strings and numbers, none keeps a view of the
  // buffer: free its megabytes now rather than at a full collection.
  releaseNow(buffer);
  return result;
}

/** A header cut short (its magic so far is right) or never written (zeros). */
function isZeroOrPrefix(bytes: Uint8Array): boolean {
  if (bytes.every((b) => b === 0)) return true;
  if (bytes.length >= HEADER_SIZE) return false;
  const magic = "TASKWIRE";
  for (let i = 0; i < Math.min(bytes.length, magic.length); i++) {
    if (bytes[i] !== magic.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * The offset of the first valid record after `from`, or null. A candidate must
 * have a sane length, a known type and a matching checksum. Memory stays
 * bounded: one window of the file, plus a candidate too big for it (at most
 * the rest of the file, and within the budget).
 */
async function findNextRecord(file: DataFile, from: number, size: number): Promise<number | null> {
  let budget = RESYNC_BUDGET;
  const window = new Uint8Array(Math.min(size - from, CHUNK + 1024 * 1024));
  let windowStart = -1;
  let windowLength = 0;
  for (let offset = from + 1; offset + RECORD_OVERHEAD < size; offset++) {
    if (windowStart < 0 || offset + RECORD_OVERHEAD + 1 > windowStart + windowLength) {
      windowStart = offset;
      windowLength = await readAt(file, window, windowStart, size);
    }
    const at = offset - windowStart;
    const length = (window[at] | (window[at + 1] << 8) | (window[at + 2] << 16) |
      (window[at + 3] << 24)) >>> 0;
    if (length === 0 || length > MAX_RECORD || offset + RECORD_OVERHEAD + length > size) continue;
    const type = window[at + RECORD_OVERHEAD];
    if (!((type >= 1 && type <= 7) || (type >= 16 && type <= 19))) continue;
    budget -= length;
    if (budget < 0) return offset; // too much to check: assume valid data follows (refuse, not lose)
    let r;
    if (at + RECORD_OVERHEAD + length <= windowLength) {
      r = readRecord(window.subarray(0, windowLength), at);
    } else if (RECORD_OVERHEAD + length <= window.length) {
      // Bring the whole candidate into the window.
      windowStart = offset;
      windowLength = await readAt(file, window, windowStart, size);
      r = readRecord(window.subarray(0, windowLength), 0);
    } else {
      const candidate = new Uint8Array(RECORD_OVERHEAD + length);
      const got = await readAt(file, candidate, offset, size);
      r = readRecord(candidate.subarray(0, got), 0);
    }
    if (r.ok) return offset;
  }
  return null;
}

async function readAt(
  file: DataFile,
  into: Uint8Array,
  position: number,
  size: number,
): Promise<number> {
  const want = Math.min(into.length, size - position);
  let got = 0;
  while (got < want) {
    const n = await file.read(into.subarray(got, want), position + got);
    if (n <= 0) break;
    got += n;
  }
  return got;
}

/** Adds an attempt read back to a job's history (the broker keeps the last 20 too). */
function addAttempt(job: Job, attempt: Attempt): void {
  const history = job.history ??= [];
  history.push(attempt);
  if (history.length > 20) history.splice(0, history.length - 20);
}

/** Options as written by an older version lack the fields added since: they take their defaults. */
function withDefaults(name: string, options: QueueOptions): QueueOptions {
  return { ...defaultQueueOptions(name), ...options };
}
