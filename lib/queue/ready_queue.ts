/**
 * Ready jobs in delivery order: higher priority first, FIFO within a
 * priority. One ring buffer per distinct priority, so push and shift are O(1)
 * for the usual handful of priorities.
 */
import { Deque } from "./deque.ts";
import type { Job } from "./types.ts";

export class ReadyQueue {
  readonly #buckets = new Map<number, Deque<Job>>();
  /** Priorities with a bucket, highest first. */
  #order: number[] = [];
  #length = 0;

  get length(): number {
    return this.#length;
  }

  /** Adds at the back of its priority. */
  push(job: Job): void {
    this.#bucket(job.priority).push(job);
    this.#length++;
  }

  /** Adds at the front of its priority (a job handed back keeps its place). */
  unshift(job: Job): void {
    this.#bucket(job.priority).unshift(job);
    this.#length++;
  }

  /** The job {@link shift} would take, left in place. */
  peek(): Job | undefined {
    for (const priority of this.#order) {
      const job = this.#buckets.get(priority)!.peek();
      if (job !== undefined) return job;
    }
    return undefined;
  }

  shift(): Job | undefined {
    for (const priority of this.#order) {
      const job = this.#buckets.get(priority)!.shift();
      if (job !== undefined) {
        this.#length--;
        return job;
      }
    }
    return undefined;
  }

  /** Jobs in delivery order. */
  *[Symbol.iterator](): IterableIterator<Job> {
    for (const priority of this.#order) yield* this.#buckets.get(priority)!;
  }

  /** Removes every job; returns them. */
  drain(): Job[] {
    const jobs = [...this];
    this.#buckets.clear();
    this.#order = [];
    this.#length = 0;
    return jobs;
  }

  /** Removes the jobs `keep` rejects (an O(n) operator action, never on the hot path). */
  filter(keep: (job: Job) => boolean): Job[] {
    const removed: Job[] = [];
    for (const job of this.drain()) {
      if (keep(job)) this.push(job);
      else removed.push(job);
    }
    return removed;
  }

  #bucket(priority: number): Deque<Job> {
    let bucket = this.#buckets.get(priority);
    if (bucket === undefined) {
      bucket = new Deque<Job>();
      this.#buckets.set(priority, bucket);
      this.#order.push(priority);
      this.#order.sort((a, b) => b - a);
    }
    return bucket;
  }
}
