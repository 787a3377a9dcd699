/**
 * A named queue as a client sees it: put, get, consume, and the jobs those
 * hand out. Puts made in the same turn of the event loop travel in one frame.
 */
import { ConnectionLostError, ErrorCode, RemoteError } from "../protocol/errors.ts";
import { decodeValue } from "../protocol/codec.ts";
import { type Message, MessageType, splitPayload } from "../protocol/messages.ts";
import { Deque } from "../queue/deque.ts";
import type { Client } from "./client.ts";
import type { Link } from "./link.ts";
import { itemFields, PutBatcher, type PutOptions } from "./put_batch.ts";

export type { PutOptions };

/** The longest a single get waits on the god; longer waits are made of several. */
const MAX_GET_WAIT_MS = 24 * 3600_000;

/**
 * A job handed out under a lease. Finish it with {@link Job.ack}, hand it back
 * with {@link Job.nack}, or keep it longer with {@link Job.touch}.
 */
export class Job<T = unknown> {
  readonly queue: string;
  readonly id: string;
  readonly value: T;
  /** Deliveries so far, this one included. */
  readonly attempts: number;
  readonly priority: number;
  readonly #tag: number;
  readonly #link: Link;
  readonly #client: Client;
  #settled = false;

  /** @internal */
  constructor(
    client: Client,
    link: Link,
    fields: {
      queue: string;
      id: string;
      value: T;
      attempts: number;
      priority: number;
      tag: number;
    },
  ) {
    this.#client = client;
    this.#link = link;
    this.queue = fields.queue;
    this.id = fields.id;
    this.value = fields.value;
    this.attempts = fields.attempts;
    this.priority = fields.priority;
    this.#tag = fields.tag;
  }

  /** The lease number the god gave this delivery. */
  get tag(): number {
    return this.#tag;
  }

  /** Whether ack, nack or fail was already called. */
  get settled(): boolean {
    return this.#settled;
  }

  /** Finishes the job: it will not be delivered again. */
  ack(): Promise<void> {
    this.#settle("ack");
    return this.#link.ack(this.#tag);
  }

  /** Hands the job back, ready again after `delay` ms (default now). Counts as an attempt. */
  async nack(options: { delay?: number } = {}): Promise<void> {
    this.#settle("nack");
    await this.#request(MessageType.Nack, { tag: this.#tag, delay: options.delay ?? 0 });
  }

  /** Sends the job straight to the dead-letter queue, with the reason. */
  async fail(reason: string): Promise<void> {
    this.#settle("fail");
    await this.#request(MessageType.Nack, { tag: this.#tag, dead: reason });
  }

  /** Extends the lease by the queue's lease time; resolves to the new deadline (epoch ms). */
  async touch(): Promise<number> {
    const reply = await this.#request(MessageType.Touch, { tag: this.#tag });
    return reply.header.deadline;
  }

  #settle(what: string): void {
    if (this.#settled) {
      throw new RemoteError(
        ErrorCode.NotLeased,
        `Cannot ${what} job ${this.id}: it was already settled`,
      );
    }
    this.#settled = true;
  }

  #request(type: MessageType, header: object): Promise<Message> {
    if (this.#client.link !== this.#link) {
      return Promise.reject(
        new ConnectionLostError(
          `Cannot settle job ${this.id}: the connection that leased it was lost; the god will deliver it again`,
        ),
      );
    }
    return this.#link.request(type, header);
  }
}

/**
 * Jobs pushed by the god as an async iterator, at most `prefetch` unacked at once.
 * Leaving the loop (break, return, throw) cancels the subscription and hands
 * back jobs that were delivered but not yet taken.
 */
export class Consumer<T = unknown> implements AsyncIterableIterator<Job<T>> {
  readonly #client: Client;
  readonly #queue: string;
  readonly #prefetch: number;
  readonly #buffer = new Deque<Job<T>>();
  #wake: ((value: void) => void) | null = null;
  #error: unknown = null;
  #done = false;
  #sub: { link: Link; id: number } | null = null;
  readonly #unwatch: () => void;
  readonly #started: Promise<void>;

  /** @internal */
  constructor(client: Client, queue: string, prefetch: number) {
    this.#client = client;
    this.#queue = queue;
    this.#prefetch = prefetch;
    this.#unwatch = client.onLink((link) => this.#subscribe(link));
    const link = client.link;
    this.#started = link ? this.#subscribe(link) : Promise.resolve();
  }

  /** Resolves once the first subscription is in place (rejects if the god refused it). */
  ready(): Promise<void> {
    return this.#started;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Job<T>>> {
    for (;;) {
      const job = this.#buffer.shift();
      if (job !== undefined) return { value: job, done: false };
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

  /** Stops the subscription; undelivered jobs go back to the queue. */
  async return(): Promise<IteratorResult<Job<T>>> {
    if (!this.#done) {
      this.#done = true;
      this.#unwatch();
      const sub = this.#sub;
      this.#sub = null;
      if (sub && !sub.link.isClosed) {
        sub.link.onPush(sub.id, null);
        const unclaimed = [...this.#buffer];
        this.#buffer.clear();
        await Promise.allSettled([
          sub.link.request(MessageType.Cancel, { sub: sub.id }),
          ...unclaimed.map((job) => job.nack()),
        ]);
      }
      this.#wakeUp();
    }
    return { value: undefined, done: true };
  }

  /** Same as {@link Consumer.return}. */
  cancel(): Promise<void> {
    return this.return().then(() => {});
  }

  async #subscribe(link: Link): Promise<void> {
    // Jobs buffered from a lost connection are leased no more: the god redelivers them.
    if (this.#sub && this.#sub.link !== link) this.#buffer.clear();
    const id = link.nextSubscriptionId();
    link.onPush(id, (message) => this.#onDeliver(link, message));
    this.#sub = { link, id };
    try {
      await link.request(MessageType.Consume, {
        q: this.#queue,
        prefetch: this.#prefetch,
        sub: id,
      });
    } catch (error) {
      link.onPush(id, null);
      if (this.#sub?.id === id) this.#sub = null;
      if (error instanceof ConnectionLostError) return; // the next link subscribes again
      this.#error = error;
      this.#wakeUp();
      throw error;
    }
  }

  #onDeliver(link: Link, message: Message): void {
    const parts = splitPayload(message.payload, message.header.sizes);
    const jobs = message.header.jobs as [number, string, number, number][];
    for (let i = 0; i < jobs.length; i++) {
      const [tag, id, attempts, priority] = jobs[i];
      let value: T;
      try {
        value = decodeValue<T>(parts[i]);
      } catch (error) {
        // Undecodable bytes can never succeed: dead-letter them instead of looping.
        link.request(MessageType.Nack, {
          tag,
          dead: `undecodable payload: ${(error as Error).message}`,
        })
          .catch(() => {});
        continue;
      }
      this.#buffer.push(
        new Job<T>(this.#client, link, { queue: this.#queue, id, value, attempts, priority, tag }),
      );
    }
    this.#wakeUp();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}

/**
 * A named queue on the god. Get one with `client.queue<T>(name)`.
 *
 * @example
 * ```ts
 * const tasks = client.queue<number>("tasks");
 * await tasks.put(12);
 * for await (const job of tasks.consume({ prefetch: 16 })) {
 *   console.log(job.value * job.value);
 *   await job.ack();
 * }
 * ```
 */
export class Queue<T = unknown> {
  readonly name: string;
  readonly #client: Client;
  readonly #puts: PutBatcher<T>;

  /** @internal */
  constructor(client: Client, name: string) {
    this.#client = client;
    this.name = name;
    // One Put frame per batch: up to 1000 jobs or 1 MiB of payload.
    this.#puts = new PutBatcher<T>((entries, timeout) => {
      const header: Record<string, unknown> = {
        q: name,
        items: entries.map(itemFields),
        sizes: entries.map((e) => e.bytes),
      };
      if (timeout !== undefined) header.timeout = timeout;
      return client.request(MessageType.Put, header, {
        retry: true,
        payload: entries.map((e) => e.payload),
      });
    }, { maxItems: 1000, maxBytes: 1 << 20 });
  }

  /**
   * Adds a job; resolves to its id once the god has stored it (durably, with
   * the journal). Waits while the queue is full, up to `timeout`.
   */
  put(value: T, options: PutOptions = {}): Promise<string> {
    return this.#puts.put(value, options);
  }

  /** Adds many jobs in as few frames as possible; resolves to their ids. */
  putMany(values: Iterable<T>, options: Omit<PutOptions, "id"> = {}): Promise<string[]> {
    return this.#puts.putMany(values, options);
  }

  /**
   * Takes the next job, waiting on the god up to `timeout` ms (default: until
   * one arrives). Resolves to null when the time passes first.
   */
  async get(options: { timeout?: number } = {}): Promise<Job<T> | null> {
    let remaining = options.timeout ?? Infinity;
    if (typeof remaining !== "number" || Number.isNaN(remaining) || remaining < 0) {
      throw new RemoteError(ErrorCode.BadArgument, `Invalid timeout: ${String(options.timeout)}`);
    }
    for (;;) {
      const wait = Math.min(remaining, MAX_GET_WAIT_MS);
      const link = this.#client.link;
      const reply = await this.#client.request(MessageType.Get, { q: this.name, timeout: wait }, {
        retry: false,
      });
      const meta = reply.header.job;
      if (meta) {
        let value: T;
        try {
          value = decodeValue<T>(reply.payload);
        } catch (error) {
          // Undecodable bytes can never succeed: dead-letter them (as consume does), then report.
          link?.request(MessageType.Nack, {
            tag: meta.tag,
            dead: `undecodable payload: ${(error as Error).message}`,
          }).catch(() => {});
          throw error;
        }
        return new Job<T>(this.#client, link!, {
          queue: this.name,
          id: meta.id,
          value,
          attempts: meta.attempts,
          priority: meta.priority,
          tag: meta.tag,
        });
      }
      remaining -= wait;
      if (remaining <= 0) return null;
    }
  }

  /**
   * Streams jobs as the god pushes them, at most `prefetch` unacked at a time.
   * Acks open the window again.
   */
  consume(options: { prefetch?: number } = {}): Consumer<T> {
    return new Consumer<T>(this.#client, this.name, options.prefetch ?? 64);
  }

  /** Resolves once every put made so far has been answered. */
  flush(): Promise<void> {
    return this.#puts.flush();
  }
}
