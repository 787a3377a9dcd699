/**
 * The one Queue implementation: puts gathered per turn of the event loop
 * into batches, gets split into waits the transport allows, consumers.
 */
import { ArgumentError, TimeoutError } from "../protocol/errors.ts";
import { BOUNDS, DEFAULTS } from "../protocol/limits.ts";
import type { Consumer, Job, PutOptions, Queue } from "./api.ts";
import { JobStream } from "./consumer.ts";
import { LeasedJob } from "./job.ts";
import { nextId, PutBatcher } from "./put_batch.ts";
import type { Wire, WireJob } from "./wire.ts";

/** A named queue on the god; see {@link Queue}. */
export class QueueHandle<T = unknown> implements Queue<T> {
  readonly name: string;
  readonly #wire: Wire;
  readonly #puts: PutBatcher<T>;
  readonly #consumers = new Set<JobStream<T>>();

  /** @internal */
  constructor(wire: Wire, name: string) {
    this.#wire = wire;
    this.name = name;
    this.#puts = new PutBatcher<T>(
      (entries, timeout) => wire.put(name, entries, timeout),
      wire.putBatch,
    );
  }

  put(value: T, options: PutOptions = {}): Promise<string> {
    return this.#puts.put(value, options);
  }

  putMany(values: Iterable<T>, options: Omit<PutOptions, "id"> = {}): Promise<string[]> {
    return this.#puts.putMany(values, options);
  }

  async get(options: { timeout?: number } = {}): Promise<Job<T> | null> {
    const [job] = await this.getMany(1, options);
    return job ?? null;
  }

  async getMany(max: number, options: { timeout?: number } = {}): Promise<Job<T>[]> {
    if (!Number.isSafeInteger(max) || max < 1 || max > BOUNDS.maxGetJobs) {
      throw new ArgumentError(
        `Invalid max: ${String(max)} (expected an integer from 1 to ${BOUNDS.maxGetJobs})`,
      );
    }
    let remaining = options.timeout ?? Infinity;
    if (typeof remaining !== "number" || Number.isNaN(remaining) || remaining < 0) {
      throw new ArgumentError(
        `Invalid timeout: ${String(options.timeout)} (expected milliseconds ≥ 0)`,
      );
    }
    for (;;) {
      const wait = Math.min(remaining, this.#wire.maxWaitMs);
      const taken = await this.#wire.get(this.name, wait, max);
      if (taken.length > 0) return this.#jobs(taken);
      remaining -= wait;
      if (remaining <= 0) return [];
    }
  }

  /**
   * Jobs from what a get took; one whose payload cannot be decoded never
   * will be, so it is dead-lettered (as consume does) and reported when it
   * was the only one.
   */
  #jobs(taken: WireJob[]): Job<T>[] {
    const jobs: Job<T>[] = [];
    let undecodable: unknown = null;
    for (const job of taken) {
      let value: T;
      try {
        value = this.#wire.decode<T>(job.payload);
      } catch (error) {
        this.#wire.fail(job.tag, job.epoch, `undecodable payload: ${(error as Error).message}`)
          .catch(() => {});
        undecodable = error;
        continue;
      }
      jobs.push(new LeasedJob<T>(this.#wire, { ...job, queue: this.name, value }, null));
    }
    if (jobs.length === 0 && undecodable !== null) throw undecodable;
    return jobs;
  }

  consume(options: { prefetch?: number } = {}): Consumer<T> {
    const consumer: JobStream<T> = new JobStream<T>(
      this.#wire,
      this.name,
      options.prefetch ?? this.#wire.defaultPrefetch,
      () => this.#consumers.delete(consumer),
    );
    this.#consumers.add(consumer);
    return consumer;
  }

  async call<R = unknown>(
    value: T,
    options: { timeout?: number; priority?: number; onProgress?: (progress: unknown) => void } = {},
  ): Promise<R> {
    const timeout = options.timeout ?? DEFAULTS.callTimeoutMs;
    if (typeof timeout !== "number" || !(timeout > 0) || timeout > BOUNDS.maxDurationMs) {
      throw new ArgumentError(
        `Invalid timeout: ${
          String(options.timeout)
        } (expected milliseconds from 1 to ${BOUNDS.maxDurationMs})`,
      );
    }
    const id = nextId();
    // Waiting before the put: the answer may come back before the put's own reply.
    const onProgress = options.onProgress;
    const answer = this.#wire.awaitResult(
      id,
      onProgress === undefined ? undefined : (payload) => {
        let progress: unknown;
        try {
          progress = this.#wire.decode(payload);
        } catch {
          return; // a progress that cannot be decoded is not worth failing the call
        }
        onProgress(progress);
      },
    );
    answer.catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#wire.forget(id);
        reject(
          new TimeoutError(
            `No answer to task ${id} on ${this.name} within ${timeout} ms; it stays queued, and its result goes to its fallback queue (the consumer's, or ${this.name}.results)`,
          ),
        );
      }, timeout);
    });
    try {
      await Promise.race([
        this.#puts.put(value, { id, call: true, priority: options.priority }),
        timedOut,
      ]);
      return this.#wire.decode<R>(await Promise.race([answer, timedOut]));
    } finally {
      clearTimeout(timer);
    }
  }

  flush(): Promise<void> {
    return this.#puts.flush();
  }

  /** @internal Stops every consumer of this queue (on close). */
  async stopConsumers(): Promise<void> {
    await Promise.allSettled([...this.#consumers].map((c) => c.return()));
    this.#consumers.clear();
  }
}
