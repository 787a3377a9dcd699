/**
 * One queue's live jobs while recovery folds the journal: found by seq, kept
 * in the order they came, like a `Map<number, Job>` (a job replaced keeps its
 * place) but without a hash table in the usual case.
 *
 * A journal puts a queue's jobs in seq order (the broker numbers them as they
 * come), so the table is two arrays appended to, seqs ascending, and a seq is
 * found by binary search. Finished jobs leave a hole, swept out once holes
 * outnumber the jobs. A job added out of seq order (moved here by a requeue
 * or a dead letter, kept by a purge) switches the table to an index by seq,
 * kept from then on. A million puts thus cost two array pushes each, where a
 * Map spent most of a second rehashing as it grew.
 */
import type { Job } from "../queue/types.ts";

/** Holes are swept out when there are more of them than this, and more than jobs. */
const MIN_SWEEP = 1024;

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
  /** Jobs in the order they came; null where one was deleted. */
  #jobs: (Job | null)[] = [];
  /** The seq of each entry of `#jobs` (kept for holes too, so the seqs stay sorted). */
  #seqs: number[] = [];
  /** Seq to position of each live job; null while seqs come in ascending order. */
  #index: Map<number, number> | null = null;
  #size = 0;
  /** `#jobs` was handed out by {@link list}: copied before the table changes again. */
  #shared = false;

  /** Live jobs. */
  get size(): number {
    return this.#size;
  }

  get(seq: number): Job | undefined {
    const at = this.#find(seq);
    return at < 0 ? undefined : this.#jobs[at]!;
  }

  /** Adds `job`, or replaces the live job of its seq in place; true if it replaced one. */
  set(job: Job): boolean {
    const seq = job.seq;
    const seqs = this.#seqs;
    const n = seqs.length;
    this.#own();
    if (this.#index === null && (n === 0 || seq > seqs[n - 1])) {
      this.#jobs.push(job);
      seqs.push(seq);
      this.#size++;
      return false;
    }
    const at = this.#find(seq);
    if (at >= 0) {
      this.#jobs[at] = job;
      return true;
    }
    (this.#index ??= this.#indexed()).set(seq, n);
    this.#jobs.push(job);
    seqs.push(seq);
    this.#size++;
    return false;
  }

  /** Removes the live job of `seq`; false if there is none. */
  delete(seq: number): boolean {
    const at = this.#find(seq);
    if (at < 0) return false;
    this.#own();
    this.#jobs[at] = null;
    this.#index?.delete(seq);
    this.#size--;
    const holes = this.#jobs.length - this.#size;
    if (holes > MIN_SWEEP && holes > this.#size) this.#sweep();
    return true;
  }

  /**
   * The live jobs, in the order they came. Without holes that is the table's
   * own list (a million jobs need no second one); it stays as it is.
   */
  list(): readonly Job[] {
    if (this.#size === this.#jobs.length) {
      this.#shared = true;
      return this.#jobs as Job[];
    }
    const out: Job[] = [];
    for (const job of this.#jobs) if (job !== null) out.push(job);
    return out;
  }

  /** Copies `#jobs` if {@link list} handed it out, before it changes. */
  #own(): void {
    if (!this.#shared) return;
    this.#jobs = this.#jobs.slice();
    this.#shared = false;
  }

  /** The position of the live job of `seq`, or -1. */
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
