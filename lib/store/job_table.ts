/**
 * One queue's live jobs while recovery folds the journal: found by seq, kept
 * in the order they came, like a `Map<number, Job>` (a job replaced keeps its
 * place) but without a hash table, and without a million objects, in the
 * usual case.
 *
 * A journal puts a queue's jobs in seq order (the broker numbers them as they
 * come), so they form a {@link Run}: seqs ascending, the newest jobs in two
 * arrays appended to, a seq found by binary search. Once enough of them are
 * live they are packed into a {@link PackedJobs} chunk, as the broker's ready
 * queue would pack them: the decoded objects die young instead of a million
 * of them being carried through the collector's generations, and the broker
 * takes the chunks as they are. A packed job that a later record changes or
 * finishes is noted beside its chunk (the chunk itself never changes).
 *
 * A job that comes with a lower seq than the last (a snapshot lists jobs in
 * delivery order: each priority, then the delayed and the leased; a requeue
 * or a dead letter moves a job here) starts another run. Past
 * {@link MAX_RUNS} runs the table gives up on order by seq and keeps its jobs
 * in a `Map` (a dead-letter queue, a snapshot with many delayed jobs).
 */
import { type LiveJobs, PACKED_JOBS, PackedJobs } from "../queue/packed_jobs.ts";
import type { Job } from "../queue/types.ts";

/** Holes in a run's newest jobs are swept out when there are more of them than this, and more than jobs. */
const MIN_SWEEP = 1024;
/** Runs a table keeps before it falls back to a Map (each lookup checks every run's seq range). */
export const MAX_RUNS = 64;

/**
 * @example
 * ```ts
 * const table = new JobTable();
 * table.set(job);
 * table.get(job.seq); // job
 * table.delete(job.seq); // true
 * ```
 */
export class JobTable {
  readonly #packAt: number;
  #runs: Run[] = [];
  /** Every live job, once the runs are too many; null until then. */
  #map: Map<number, Job> | null = null;

  /** `packAt`: newest jobs kept as objects before they are packed (tests make it small). */
  constructor(options: { packAt?: number } = {}) {
    this.#packAt = Math.max(1, options.packAt ?? PACKED_JOBS);
  }

  /** Live jobs. */
  get size(): number {
    if (this.#map !== null) return this.#map.size;
    let size = 0;
    for (const run of this.#runs) size += run.size;
    return size;
  }

  /** The live job of `seq`, to change in place (a packed one is made and kept as changed). */
  get(seq: number): Job | undefined {
    if (this.#map !== null) return this.#map.get(seq);
    const runs = this.#runs;
    for (let r = runs.length - 1; r >= 0; r--) {
      const job = holds(runs[r], seq) ? runs[r].get(seq) : undefined;
      if (job !== undefined) return job;
    }
    return undefined;
  }

  /** The id of the live job of `seq`, or undefined; never makes a packed job. */
  idOf(seq: number): string | undefined {
    if (this.#map !== null) return this.#map.get(seq)?.id;
    const runs = this.#runs;
    for (let r = runs.length - 1; r >= 0; r--) {
      const id = holds(runs[r], seq) ? runs[r].idOf(seq) : undefined;
      if (id !== undefined) return id;
    }
    return undefined;
  }

  /** Adds `job`, or replaces the live job of its seq in place; true if it replaced one. */
  set(job: Job): boolean {
    const map = this.#map;
    if (map !== null) {
      const had = map.has(job.seq);
      map.set(job.seq, job);
      return had;
    }
    const runs = this.#runs;
    const last = runs[runs.length - 1];
    // The usual case first: a seq above every one seen, after a run that holds all of them.
    if (last !== undefined && runs.length === 1 && job.seq > last.lastSeq) {
      last.append(job);
      return false;
    }
    for (let r = runs.length - 1; r >= 0; r--) {
      if (holds(runs[r], job.seq) && runs[r].replace(job)) return true;
    }
    if (last !== undefined && job.seq > last.lastSeq) {
      last.append(job);
    } else if (runs.length < MAX_RUNS) {
      const run = new Run(this.#packAt);
      run.append(job);
      runs.push(run);
    } else {
      this.#toMap().set(job.seq, job);
    }
    return false;
  }

  /** Removes the live job of `seq`; false if there is none. */
  delete(seq: number): boolean {
    if (this.#map !== null) return this.#map.delete(seq);
    const runs = this.#runs;
    for (let r = runs.length - 1; r >= 0; r--) {
      if (holds(runs[r], seq) && runs[r].delete(seq)) return true;
    }
    return false;
  }

  /**
   * The live jobs, in the order they came: chunks that nothing changed as
   * they are, the rest as objects.
   */
  list(): LiveJobs {
    if (this.#map !== null) return [...this.#map.values()];
    const out: (Job | PackedJobs)[] = [];
    for (const run of this.#runs) run.listInto(out);
    return out;
  }

  /** Moves every job into a Map, in order (packed ones made again). */
  #toMap(): Map<number, Job> {
    const map = new Map<number, Job>();
    for (const run of this.#runs) {
      const parts: (Job | PackedJobs)[] = [];
      run.listInto(parts);
      for (const part of parts) {
        if (!(part instanceof PackedJobs)) map.set(part.seq, part);
        else for (let i = 0; i < part.length; i++) map.set(part.seq(i), part.job(i));
      }
    }
    this.#runs = [];
    return this.#map = map;
  }
}

/** Whether `seq` lies in the seq range of `run` (so it may hold it). */
function holds(run: Run, seq: number): boolean {
  return seq >= run.firstSeq && seq <= run.lastSeq;
}

/** A packed run of jobs and what later records did to them. */
interface Segment {
  readonly chunk: PackedJobs;
  readonly first: number;
  readonly last: number;
  /** Per job: undefined as packed, null finished, or the job as changed since. */
  changes: (Job | null | undefined)[] | null;
  live: number;
}

/** Jobs added in ascending seq order: packed segments, then the newest as objects. */
class Run {
  readonly #packAt: number;
  /** The lowest and highest seq ever added (finished ones included). */
  firstSeq = Infinity;
  lastSeq = -Infinity;
  size = 0;
  /** Packed runs, oldest first. */
  #segments: Segment[] = [];
  /** Segments with no live job left, swept out once they are half. */
  #emptySegments = 0;
  /** The newest jobs; null where one was finished. */
  #jobs: (Job | null)[] = [];
  /** The seq of each entry of `#jobs` (kept for holes too, so the seqs stay sorted). */
  #seqs: number[] = [];
  /** Live jobs among the newest. */
  #newest = 0;
  /** The position in its chunk of the job {@link #packed} last found. */
  #position = -1;

  constructor(packAt: number) {
    this.#packAt = packAt;
  }

  /** Adds a job whose seq is above {@link lastSeq}. */
  append(job: Job): void {
    if (this.firstSeq === Infinity) this.firstSeq = job.seq;
    this.lastSeq = job.seq;
    this.#jobs.push(job);
    this.#seqs.push(job.seq);
    this.size++;
    if (++this.#newest >= this.#packAt) this.#packNewest();
  }

  get(seq: number): Job | undefined {
    const at = this.#find(seq);
    if (at >= 0) return this.#jobs[at]!;
    const segment = this.#packed(seq);
    if (segment === undefined) return undefined;
    const i = this.#position;
    const changes = changesOf(segment);
    const change = changes[i];
    if (change === null) return undefined;
    return change ?? (changes[i] = segment.chunk.job(i));
  }

  idOf(seq: number): string | undefined {
    const at = this.#find(seq);
    if (at >= 0) return this.#jobs[at]!.id;
    const segment = this.#packed(seq);
    if (segment === undefined) return undefined;
    const change = segment.changes?.[this.#position];
    return change === null ? undefined : change?.id ?? segment.chunk.id(this.#position);
  }

  /** Replaces the live job of `job.seq` in place; false if there is none. */
  replace(job: Job): boolean {
    const at = this.#find(job.seq);
    if (at >= 0) {
      this.#jobs[at] = job;
      return true;
    }
    const segment = this.#packed(job.seq);
    if (segment === undefined || segment.changes?.[this.#position] === null) return false;
    changesOf(segment)[this.#position] = job;
    return true;
  }

  delete(seq: number): boolean {
    const at = this.#find(seq);
    if (at >= 0) {
      this.#jobs[at] = null;
      this.size--;
      this.#newest--;
      const holes = this.#jobs.length - this.#newest;
      if (holes > MIN_SWEEP && holes > this.#newest) this.#sweep();
      return true;
    }
    const segment = this.#packed(seq);
    if (segment === undefined) return false;
    const changes = changesOf(segment);
    if (changes[this.#position] === null) return false;
    changes[this.#position] = null;
    this.size--;
    if (--segment.live === 0 && ++this.#emptySegments * 2 > this.#segments.length) {
      this.#segments = this.#segments.filter((s) => s.live > 0);
      this.#emptySegments = 0;
    }
    return true;
  }

  /** Appends the live jobs to `out`, in order: unchanged chunks as they are. */
  listInto(out: (Job | PackedJobs)[]): void {
    for (const { chunk, changes, live } of this.#segments) {
      if (live === 0) continue;
      if (changes === null) {
        out.push(chunk);
        continue;
      }
      for (let i = 0; i < chunk.length; i++) {
        const change = changes[i];
        if (change !== null) out.push(change ?? chunk.job(i));
      }
    }
    for (const job of this.#jobs) if (job !== null) out.push(job);
  }

  /** Packs the newest jobs into a segment. */
  #packNewest(): void {
    const live: Job[] = [];
    for (const job of this.#jobs) if (job !== null) live.push(job);
    this.#jobs = [];
    this.#seqs = [];
    this.#newest = 0;
    if (live.length === 0) return;
    this.#segments.push({
      chunk: PackedJobs.pack(live, live[0].priority),
      first: live[0].seq,
      last: live[live.length - 1].seq,
      changes: null,
      live: live.length,
    });
  }

  /**
   * The segment whose chunk holds a job of `seq` (finished or not), its
   * position there left in {@link #position}.
   */
  #packed(seq: number): Segment | undefined {
    const segment = this.#segmentOf(seq);
    this.#position = segment === undefined ? -1 : positionIn(segment.chunk, seq);
    return this.#position < 0 ? undefined : segment;
  }

  /** The segment whose seq range holds `seq`, if it has live jobs. */
  #segmentOf(seq: number): Segment | undefined {
    const segments = this.#segments;
    let lo = 0;
    let hi = segments.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const s = segments[mid];
      if (s.last < seq) lo = mid + 1;
      else if (s.first > seq) hi = mid - 1;
      else return s.live > 0 ? s : undefined;
    }
    return undefined;
  }

  /** The position among the newest jobs of the live job of `seq`, or -1. */
  #find(seq: number): number {
    const seqs = this.#seqs;
    const at = searchAscending(seqs.length, (i) => seqs[i], seq);
    return at >= 0 && this.#jobs[at] !== null ? at : -1;
  }

  /** Drops the holes among the newest jobs. */
  #sweep(): void {
    const jobs: (Job | null)[] = [];
    const seqs: number[] = [];
    for (let i = 0; i < this.#jobs.length; i++) {
      if (this.#jobs[i] === null) continue;
      jobs.push(this.#jobs[i]);
      seqs.push(this.#seqs[i]);
    }
    this.#jobs = jobs;
    this.#seqs = seqs;
  }
}

/** What later records did to a segment's jobs, made on the first. */
function changesOf(segment: Segment): (Job | null | undefined)[] {
  return segment.changes ??= new Array(segment.chunk.length);
}

/** The position of `seq` in `chunk` (its seqs ascend), or -1. */
function positionIn(chunk: PackedJobs, seq: number): number {
  return searchAscending(chunk.length, (i) => chunk.seq(i), seq);
}

/** The position of `seq` among `length` seqs ascending (`seqAt(i)` the i-th), or -1. */
function searchAscending(length: number, seqAt: (i: number) => number, seq: number): number {
  let lo = 0;
  let hi = length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const s = seqAt(mid);
    if (s < seq) lo = mid + 1;
    else if (s > seq) hi = mid - 1;
    else return mid;
  }
  return -1;
}
