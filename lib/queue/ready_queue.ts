/**
 * Ready jobs in delivery order: higher priority first, FIFO within a
 * priority, a job handed back at the front of its priority.
 *
 * One bucket per distinct priority, so push and shift are O(1) for the usual
 * handful of priorities. A bucket keeps its newest jobs as objects (a queue
 * that consumers keep up with never holds more than a few, and they are handed
 * out as they came); once {@link PACKED_JOBS} of them wait, they are packed
 * into a {@link PackedJobs} chunk, which is how a backlog of a million jobs
 * fits in a few tens of megabytes.
 */
import { Deque } from "./deque.ts";
import { copyJob, PACKED_JOBS, PackedJobs } from "./packed_jobs.ts";
import type { Job } from "./types.ts";
import { readOnce } from "../util/read_once.ts";

/** The jobs of one priority: handed back (front), packed (chunks), newest (tail). */
class Bucket {
  readonly priority: number;
  readonly #packAt: number;
  /** Jobs handed back, next first. */
  front = new Deque<Job>();
  /** Packed chunks, oldest first; `head` jobs of the first one are taken already. */
  chunks = new Deque<PackedJobs>();
  head = 0;
  /** The newest jobs, as objects, until there are enough to pack. */
  tail = new Deque<Job>();
  length = 0;

  constructor(priority: number, packAt: number) {
    this.priority = priority;
    this.#packAt = packAt;
  }

  push(job: Job): void {
    this.tail.push(job);
    this.length++;
    if (this.tail.length >= this.#packAt) {
      this.chunks.push(PackedJobs.pack([...this.tail], this.priority));
      this.tail.clear();
    }
  }

  /** `push` for each of `jobs[from, to)`; whole chunks are packed straight from the list. */
  pushRange(jobs: readonly Job[], from: number, to: number): void {
    let i = from;
    while (i < to && this.tail.length > 0) this.push(jobs[i++]);
    for (; to - i >= this.#packAt; i += this.#packAt) {
      this.chunks.push(PackedJobs.pack(jobs.slice(i, i + this.#packAt), this.priority));
      this.length += this.#packAt;
    }
    while (i < to) this.push(jobs[i++]);
  }

  /** Adds a chunk of this priority's jobs (packed elsewhere) at the back. */
  pushPacked(chunk: PackedJobs): void {
    if (this.tail.length > 0) {
      // The jobs waiting as objects came first: packed ahead of it, in order.
      this.chunks.push(PackedJobs.pack([...this.tail], this.priority));
      this.tail.clear();
    }
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  unshift(job: Job): void {
    this.front.unshift(job);
    this.length++;
  }

  /** The next job, made from its chunk if packed (then a fresh object each call). */
  peek(): Job | undefined {
    if (this.front.length > 0) return this.front.peek();
    const chunk = this.chunks.peek();
    if (chunk !== undefined) return chunk.job(this.head);
    return this.tail.peek();
  }

  /**
   * Takes the next job. `peeked`: the job {@link peek} made for it, handed
   * out instead of making a packed job a second time.
   */
  shift(peeked?: Job): Job | undefined {
    let job = this.front.shift();
    if (job === undefined) {
      const chunk = this.chunks.peek();
      if (chunk !== undefined) {
        job = peeked ?? chunk.job(this.head);
        if (++this.head === chunk.length) {
          this.chunks.shift();
          this.head = 0;
          chunk.drained();
        }
      } else {
        job = this.tail.shift();
      }
    }
    if (job !== undefined) this.length--;
    return job;
  }

  /** See {@link ReadyQueue.capture}. */
  capture(): Iterable<Job> {
    const front = Array.from(this.front, copyJob);
    const chunks = [...this.chunks];
    for (const chunk of chunks) chunk.hold();
    const head = this.head;
    const tail = Array.from(this.tail, copyJob);
    return readOnce("jobs", function* () {
      let next = 0;
      try {
        yield* front;
        let from = head;
        for (; next < chunks.length; next++) {
          const chunk = chunks[next];
          for (let i = from; i < chunk.length; i++) yield chunk.job(i);
          from = 0;
          chunk.unhold();
        }
        yield* tail;
      } finally {
        // Left early (a snapshot given up): the chunks not reached are let go too.
        for (; next < chunks.length; next++) chunks[next].unhold();
      }
    });
  }

  /** See {@link ReadyQueue.textLength}; a taken job of the first chunk still counts. */
  textLength(): number {
    let length = 0;
    for (const job of this.front) length += job.id.length + job.payload.length;
    for (const chunk of this.chunks) length += chunk.textLength;
    for (const job of this.tail) length += job.id.length + job.payload.length;
    return length;
  }

  *[Symbol.iterator](): IterableIterator<Job> {
    yield* this.front;
    let head = this.head;
    for (const chunk of this.chunks) {
      for (let i = head; i < chunk.length; i++) yield chunk.job(i);
      head = 0;
    }
    yield* this.tail;
  }
}

/**
 * @example
 * ```ts
 * const ready = new ReadyQueue();
 * ready.push(job);
 * ready.shift(); // job
 * ```
 */
export class ReadyQueue {
  readonly #packAt: number;
  readonly #buckets = new Map<number, Bucket>();
  /** Buckets, highest priority first. */
  #order: Bucket[] = [];
  #length = 0;
  /**
   * The job {@link peek} made from a chunk, for {@link shift} to hand out: a
   * dispatch peeks at each job before it takes it. Cleared by every change.
   */
  #peeked: Job | undefined = undefined;

  /** `packAt`: jobs of a priority waiting as objects before they are packed (tests make it small). */
  constructor(options: { packAt?: number } = {}) {
    this.#packAt = Math.max(1, options.packAt ?? PACKED_JOBS);
  }

  get length(): number {
    return this.#length;
  }

  /** Adds at the back of its priority. */
  push(job: Job): void {
    this.#bucket(job.priority).push(job);
    this.#length++;
    this.#peeked = undefined;
  }

  /** Adds each of `jobs` at the back of its priority, in order (a restore's backlog). */
  pushAll(jobs: readonly Job[]): void {
    // A run of one priority goes to its bucket at once, so its full chunks are packed without a detour.
    let from = 0;
    for (let i = 1; i <= jobs.length; i++) {
      if (i < jobs.length && jobs[i].priority === jobs[from].priority) continue;
      this.#bucket(jobs[from].priority).pushRange(jobs, from, i);
      this.#length += i - from;
      from = i;
    }
    this.#peeked = undefined;
  }

  /**
   * Adds a chunk's jobs at the back of its priority, as they are (a restore's
   * backlog packed while the journal was read). Only a chunk whose jobs are
   * all plain and of its priority ({@link PackedJobs.plain}).
   */
  pushPacked(chunk: PackedJobs): void {
    if (!chunk.plain) throw new Error("pushPacked takes chunks of plain jobs only");
    if (chunk.length === 0) return;
    this.#bucket(chunk.priority).pushPacked(chunk);
    this.#length += chunk.length;
    this.#peeked = undefined;
  }

  /** Adds at the front of its priority (a job handed back keeps its place). */
  unshift(job: Job): void {
    this.#bucket(job.priority).unshift(job);
    this.#length++;
    this.#peeked = undefined;
  }

  /** The job {@link shift} would take, left in place. */
  peek(): Job | undefined {
    if (this.#peeked !== undefined) return this.#peeked;
    for (const bucket of this.#order) {
      if (bucket.length > 0) return this.#peeked = bucket.peek();
    }
    return undefined;
  }

  shift(): Job | undefined {
    for (const bucket of this.#order) {
      if (bucket.length === 0) continue;
      // The same job: hand out the object the caller saw, not a second copy.
      const job = bucket.shift(this.#peeked)!;
      this.#peeked = undefined;
      this.#length--;
      return job;
    }
    return undefined;
  }

  /** Jobs in delivery order (packed ones made afresh). */
  *[Symbol.iterator](): IterableIterator<Job> {
    for (const bucket of this.#order) yield* bucket;
  }

  /**
   * The jobs as they are now, in delivery order, to go through later: a
   * snapshot is written over many turns while jobs come and go. Jobs held as
   * objects are copied now (a few per priority); packed chunks never change,
   * so they are shared, and their jobs made one by one as the caller goes.
   * Read it once: the chunks it holds are freed as it passes them (if their
   * queue is done with them by then). A capture never read holds them until
   * the collector takes them, as if they were not freed early at all.
   */
  capture(): Iterable<Job> {
    const buckets = this.#order.map((bucket) => bucket.capture());
    return {
      *[Symbol.iterator]() {
        for (const jobs of buckets) yield* jobs;
      },
    };
  }

  /**
   * About the characters of the jobs' ids and payloads, without making
   * packed jobs (to weigh the live state against the journal).
   */
  textLength(): number {
    let length = 0;
    for (const bucket of this.#order) length += bucket.textLength();
    return length;
  }

  /** Removes every job; returns how many there were. */
  clear(): number {
    const removed = this.#length;
    this.#buckets.clear();
    this.#order = [];
    this.#length = 0;
    this.#peeked = undefined;
    return removed;
  }

  /** Removes the jobs `keep` rejects (an O(n) operator action, never on the hot path). */
  filter(keep: (job: Job) => boolean): Job[] {
    const removed: Job[] = [];
    const kept: Job[] = [];
    // In delivery order, so the kept jobs are delivered in the same order as before.
    for (const job of this) (keep(job) ? kept : removed).push(job);
    this.clear();
    for (const job of kept) this.push(job);
    return removed;
  }

  #bucket(priority: number): Bucket {
    let bucket = this.#buckets.get(priority);
    if (bucket === undefined) {
      bucket = new Bucket(priority, this.#packAt);
      this.#buckets.set(priority, bucket);
      this.#order.push(bucket);
      this.#order.sort((a, b) => b.priority - a.priority);
    }
    return bucket;
  }
}
