/**
 * One queue's live jobs while recovery folds the journal: found by seq, kept
 * in the order they came, like a `Map<number, Job>` (a job replaced keeps its
 * place) but without a hash table, and without a million objects, in the
 * usual case.
 *
 * A journal puts a queue's jobs in seq order (the broker numbers them as they
 * come), so the newest jobs are two arrays appended to, seqs ascending, and a
 * seq is found by binary search. Once enough of them are live they are packed
 * into a {@link PackedJobs} chunk, as the broker's ready queue would pack
 * them: the decoded objects die young instead of a million of them being
 * copied through the collector's generations, and the broker takes the
 * chunks as they are. A packed job that a later record changes or finishes
 * is noted beside its chunk (the chunk itself never changes).
 *
 * A job added out of seq order (moved here by a requeue or a dead letter,
 * kept by a purge) unpacks the table and switches it to an index by seq,
 * kept from then on: dead-letter queues and purged queues are small and rare.
 */
import { type LiveJobs, PACKED_JOBS, PackedJobs } from "../queue/packed_jobs.ts";
import type { Job } from "../queue/types.ts";

/** Holes in the newest jobs are swept out when there are more of them than this, and more than jobs. */
const MIN_SWEEP = 1024;

/** A packed run of jobs and what later records did to them. */
interface Segment {
  readonly chunk: PackedJobs;
  readonly first: number;
  readonly last: number;
  /** Per job: undefined as packed, null finished, or the job as changed since. */
  changes: (Job | null | undefined)[] | null;
  live: number;
}

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
  /** Packed runs, seqs ascending, oldest first (empty once the table is indexed). */
  #segments: Segment[] = [];
  /** Segments with no live job left, swept out once they are half. */
  #emptySegments = 0;
  /** The newest jobs in the order they came; null where one was finished. */
  #jobs: (Job | null)[] = [];
  /** The seq of each entry of `#jobs` (kept for holes too, so the seqs stay sorted). */
  #seqs: number[] = [];
  /** Seq to position of each live job; null while seqs come in ascending order. */
  #index: Map<number, number> | null = null;
  #size = 0;
  /** Live jobs among the newest. */
  #newest = 0;

  /** `packAt`: newest jobs kept as objects before they are packed (tests make it small). */
  constructor(options: { packAt?: number } = {}) {
    this.#packAt = Math.max(1, options.packAt ?? PACKED_JOBS);
  }

  /** Live jobs. */
  get size(): number {
    return this.#size;
  }

  /** The live job of `seq`, to change in place (a packed one is made and kept as changed). */
  get(seq: number): Job | undefined {
    const at = this.#find(seq);
    if (at >= 0) return this.#jobs[at]!;
    const segment = this.#segmentOf(seq);
    if (segment === undefined) return undefined;
    const i = positionIn(segment.chunk, seq);
    if (i < 0) return undefined;
    const changes = segment.changes ??= new Array(segment.chunk.length);
    const change = changes[i];
    if (change === null) return undefined;
    return change ?? (changes[i] = segment.chunk.job(i));
  }

  /** The id of the live job of `seq`, or undefined; never makes a packed job. */
  idOf(seq: number): string | undefined {
    const at = this.#find(seq);
    if (at >= 0) return this.#jobs[at]!.id;
    const segment = this.#segmentOf(seq);
    const i = segment === undefined ? -1 : positionIn(segment.chunk, seq);
    if (i < 0) return undefined;
    const change = segment!.changes?.[i];
    return change === null ? undefined : change === undefined ? segment!.chunk.id(i) : change.id;
  }

  /** Adds `job`, or replaces the live job of its seq in place; true if it replaced one. */
  set(job: Job): boolean {
    const seq = job.seq;
    const seqs = this.#seqs;
    if (this.#index === null && seq > this.#lastSeq()) {
      this.#jobs.push(job);
      seqs.push(seq);
      this.#size++;
      if (++this.#newest >= this.#packAt) this.#packNewest();
      return false;
    }
    const at = this.#find(seq);
    if (at >= 0) {
      this.#jobs[at] = job;
      return true;
    }
    const segment = this.#segmentOf(seq);
    const i = segment === undefined ? -1 : positionIn(segment.chunk, seq);
    if (i >= 0 && segment!.changes?.[i] !== null) {
      (segment!.changes ??= new Array(segment!.chunk.length))[i] = job;
      return true;
    }
    this.#unpack();
    (this.#index ??= this.#indexed()).set(seq, this.#seqs.length);
    this.#jobs.push(job);
    this.#seqs.push(seq);
    this.#size++;
    this.#newest++;
    return false;
  }

  /** Removes the live job of `seq`; false if there is none. */
  delete(seq: number): boolean {
    const at = this.#find(seq);
    if (at >= 0) {
      this.#jobs[at] = null;
      this.#index?.delete(seq);
      this.#size--;
      this.#newest--;
      const holes = this.#jobs.length - this.#newest;
      if (holes > MIN_SWEEP && holes > this.#newest) this.#sweep();
      return true;
    }
    const segment = this.#segmentOf(seq);
    const i = segment === undefined ? -1 : positionIn(segment.chunk, seq);
    if (i < 0) return false;
    const changes = segment!.changes ??= new Array(segment!.chunk.length);
    if (changes[i] === null) return false;
    changes[i] = null;
    this.#size--;
    if (--segment!.live === 0 && ++this.#emptySegments * 2 > this.#segments.length) {
      this.#segments = this.#segments.filter((s) => s.live > 0);
      this.#emptySegments = 0;
    }
    return true;
  }

  /**
   * The live jobs, in the order they came: chunks that nothing changed as
   * they are, the rest as objects.
   */
  list(): LiveJobs {
    const out: (Job | PackedJobs)[] = [];
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
    return out;
  }

  #lastSeq(): number {
    const seqs = this.#seqs;
    if (seqs.length > 0) return seqs[seqs.length - 1];
    const segments = this.#segments;
    return segments.length > 0 ? segments[segments.length - 1].last : -Infinity;
  }

  /** Packs the newest jobs (in seq order, so not while indexed) into a segment. */
  #packNewest(): void {
    const live: Job[] = [];
    for (const job of this.#jobs) if (job !== null) live.push(job);
    this.#jobs = [];
    this.#seqs = [];
    this.#newest = 0;
    if (live.length === 0) return;
    const chunk = PackedJobs.pack(live, live[0].priority);
    this.#segments.push({
      chunk,
      first: live[0].seq,
      last: live[live.length - 1].seq,
      changes: null,
      live: live.length,
    });
  }

  /** The segment whose seq range holds `seq`. */
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
    if (this.#index !== null) return this.#index.get(seq) ?? -1;
    const seqs = this.#seqs;
    let lo = 0;
    let hi = seqs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const s = seqs[mid];
      if (s < seq) lo = mid + 1;
      else if (s > seq) hi = mid - 1;
      else return this.#jobs[mid] === null ? -1 : mid;
    }
    return -1;
  }

  /** Makes every packed job an object again, ahead of the newest (before the table is indexed). */
  #unpack(): void {
    if (this.#segments.length === 0) return;
    const jobs: (Job | null)[] = [];
    const seqs: number[] = [];
    for (const part of this.list()) {
      if (part instanceof PackedJobs) {
        for (let i = 0; i < part.length; i++) {
          jobs.push(part.job(i));
          seqs.push(part.seq(i));
        }
      } else {
        jobs.push(part);
        seqs.push(part.seq);
      }
    }
    this.#segments = [];
    this.#emptySegments = 0;
    this.#jobs = jobs;
    this.#seqs = seqs;
    this.#newest = jobs.length;
    if (this.#index !== null) this.#index = this.#indexed();
  }

  /** An index of the live jobs, made when the first one comes out of seq order. */
  #indexed(): Map<number, number> {
    const index = new Map<number, number>();
    for (let i = 0; i < this.#jobs.length; i++) {
      if (this.#jobs[i] !== null) index.set(this.#seqs[i], i);
    }
    return index;
  }

  /** Drops the holes (positions change, so an index is made again). */
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
    if (this.#index !== null) this.#index = this.#indexed();
  }
}

/** The position of `seq` in `chunk` (its seqs ascend), or -1. */
function positionIn(chunk: PackedJobs, seq: number): number {
  let lo = 0;
  let hi = chunk.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const s = chunk.seq(mid);
    if (s < seq) lo = mid + 1;
    else if (s > seq) hi = mid - 1;
    else return mid;
  }
  return -1;
}
