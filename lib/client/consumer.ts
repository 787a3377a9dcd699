/**
 * The one Consumer implementation: jobs a transport delivers (pushed by the
 * god over TCP, fetched by long-polls over HTTP) wait in a buffer until the
 * loop takes them. A payload that cannot be decoded never will be, so its
 * job is dead-lettered with the reason instead of looping.
 */
import { ArgumentError } from "../protocol/errors.ts";
import { Deque } from "../queue/deque.ts";
import { deferred } from "../util/deferred.ts";
import type { Consumer, Job } from "./api.ts";
import { LeasedJob } from "./job.ts";
import type { JobSink, Wire, WireSubscription } from "./wire.ts";

/** Jobs of one queue as an async iterator; see {@link Consumer}. */
export class JobStream<T = unknown> implements Consumer<T>, JobSink {
  readonly #wire: Wire;
  readonly #queue: string;
  readonly #prefetch: number;
  readonly #buffer = new Deque<LeasedJob<T>>();
  /** Jobs handed to the loop and not yet settled. */
  #taken = 0;
  #wake: (() => void) | null = null;
  #roomWake: (() => void) | null = null;
  #error: unknown = null;
  #done = false;
  readonly #subscription: WireSubscription;
  readonly #onStop: (() => void) | undefined;
  readonly #onSettle = () => {
    this.#taken--;
    this.#wakeRoom();
  };

  /** @internal */
  constructor(wire: Wire, queue: string, prefetch: number, onStop?: () => void) {
    if (!Number.isSafeInteger(prefetch) || prefetch < 1 || prefetch > wire.maxPrefetch) {
      throw new ArgumentError(
        `Invalid prefetch: ${
          JSON.stringify(prefetch)
        } (expected an integer from 1 to ${wire.maxPrefetch} for ${wire.addr})`,
      );
    }
    this.#wire = wire;
    this.#queue = queue;
    this.#prefetch = prefetch;
    this.#onStop = onStop;
    this.#subscription = wire.subscribe(queue, prefetch, this);
    this.#subscription.ready.catch(() => {});
  }

  ready(): Promise<void> {
    return this.#subscription.ready;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Job<T>>> {
    for (;;) {
      const job = this.#buffer.shift();
      if (job !== undefined) {
        // Jobs buffered from a lost connection are leased no more: the god redelivers them.
        if (!this.#wire.alive(job.epoch)) continue;
        this.#taken++;
        return { value: job, done: false };
      }
      if (this.#error !== null) {
        const error = this.#error;
        this.#error = null;
        await this.return();
        throw error;
      }
      if (this.#done) return { value: undefined, done: true };
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  /** Stops; jobs fetched but not taken go back to the queue. */
  async return(): Promise<IteratorResult<Job<T>>> {
    if (!this.#done) {
      this.#done = true;
      this.#onStop?.();
      this.#wakeRoom();
      await this.#subscription.stop();
      const unclaimed = [...this.#buffer].filter((job) => this.#wire.alive(job.epoch));
      this.#buffer.clear();
      await Promise.allSettled(unclaimed.map((job) => job.nack({ delay: 0 })));
      this.#wakeUp();
    }
    return { value: undefined, done: true };
  }

  cancel(): Promise<void> {
    return this.return().then(() => {});
  }

  // -- JobSink: what the transport calls --

  /** @internal */
  job(
    tag: number,
    epoch: unknown,
    id: string,
    attempts: number,
    priority: number,
    payload: unknown,
  ): void {
    let value: T;
    try {
      value = this.#wire.decode<T>(payload);
    } catch (error) {
      this.#wire.fail(tag, epoch, `undecodable payload: ${(error as Error).message}`)
        .catch(() => {});
      return;
    }
    this.#buffer.push(
      new LeasedJob<T>(
        this.#wire,
        { queue: this.#queue, id, value, attempts, priority, tag, epoch },
        this.#onSettle,
      ),
    );
  }

  /** @internal */
  delivered(): void {
    this.#wakeUp();
  }

  /** @internal */
  fail(error: unknown): void {
    this.#error = error;
    this.#wakeUp();
  }

  /** @internal */
  room(): number {
    return this.#done ? 0 : this.#prefetch - this.#taken - this.#buffer.length;
  }

  /** @internal */
  roomChanged(): Promise<void> {
    const changed = deferred<void>();
    const previous = this.#roomWake;
    this.#roomWake = () => {
      previous?.();
      changed.resolve();
    };
    return changed.promise;
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  #wakeRoom(): void {
    const wake = this.#roomWake;
    this.#roomWake = null;
    wake?.();
  }
}
