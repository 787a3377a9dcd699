/**
 * The one Client implementation over any transport adapter (lib/client/wire.ts).
 * `connect()` (lib/client/connect.ts) picks the adapter from the address.
 */
import { ArgumentError } from "../protocol/errors.ts";
import { encodeText } from "../protocol/codec.ts";
import type { GodStats, ScheduleInfo } from "../protocol/replies.ts";
import type { QueueOptions } from "../queue/types.ts";
import type { Client, ListedJob, Queue, ScheduleOptions } from "./api.ts";
import { QueueHandle } from "./queue.ts";
import type { Wire, WireJob } from "./wire.ts";

/** A connection to a god; see {@link Client}. Make one with `connect()`. */
export class GodClient implements Client {
  readonly #wire: Wire;
  readonly #queues = new Map<string, QueueHandle<unknown>>();
  #closing: Promise<void> | null = null;

  /** @internal */
  constructor(wire: Wire) {
    this.#wire = wire;
  }

  get addr(): string {
    return this.#wire.addr;
  }

  get connected(): boolean {
    return this.#wire.connected;
  }

  queue<T = unknown>(name: string): Queue<T> {
    let queue = this.#queues.get(name);
    if (!queue) {
      queue = new QueueHandle<unknown>(this.#wire, name);
      this.#queues.set(name, queue);
    }
    return queue as Queue<T>;
  }

  stats(queue?: string): Promise<GodStats> {
    return this.#wire.stats(queue);
  }

  declare(queue: string, options: Partial<QueueOptions> = {}): Promise<QueueOptions> {
    return this.#wire.declare(queue, options);
  }

  async peek<T = unknown>(queue: string, limit?: number): Promise<ListedJob<T>[]> {
    return (await this.#wire.list("peek", queue, limit)).map((job) => this.#listed<T>(job));
  }

  purge(queue: string): Promise<number> {
    return this.#wire.purge(queue);
  }

  async deadList<T = unknown>(queue: string, limit?: number): Promise<ListedJob<T>[]> {
    return (await this.#wire.list("dead", queue, limit)).map((job) => this.#listed<T>(job));
  }

  deadRequeue(queue: string, ids?: string[]): Promise<number> {
    return this.#wire.requeue(queue, ids ?? null);
  }

  deadDelete(queue: string, ids?: string[]): Promise<number> {
    return this.#wire.deadDelete(queue, ids ?? null);
  }

  async inFlight<T = unknown>(queue: string, limit?: number): Promise<ListedJob<T>[]> {
    return (await this.#wire.inFlight(queue, limit)).map((job) => this.#listed<T>(job));
  }

  pause(queue: string): Promise<QueueOptions> {
    return this.#wire.pause(queue, true);
  }

  resume(queue: string): Promise<QueueOptions> {
    return this.#wire.pause(queue, false);
  }

  async schedule(name: string, options: ScheduleOptions): Promise<ScheduleInfo> {
    if (typeof options !== "object" || options === null) {
      throw new ArgumentError(`Invalid schedule "${name}": options must be an object`);
    }
    const { value, ...fields } = options;
    return await this.#wire.schedule({ ...fields, name }, encodeText(value ?? null));
  }

  unschedule(name: string): Promise<boolean> {
    return this.#wire.unschedule(name);
  }

  async schedules<T = unknown>(): Promise<(ScheduleInfo & { value: T })[]> {
    return (await this.#wire.schedules()).map(({ info, payload }) => {
      let value: T;
      try {
        value = this.#wire.decode<T>(payload);
      } catch {
        value = undefined as T;
      }
      return { ...info, value };
    });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      // Not connected: puts waiting for a reconnect fail now instead of waiting forever.
      if (!this.#wire.connected) await this.#wire.close();
      for (const queue of this.#queues.values()) await queue.flush();
      await Promise.allSettled([...this.#queues.values()].map((q) => q.stopConsumers()));
      await this.#wire.close();
    })();
    return this.#closing;
  }

  /** A listed job with its value decoded; a job whose payload cannot be decoded is still listed. */
  #listed<T>(job: WireJob): ListedJob<T> {
    const listed: ListedJob<T> = {
      id: job.id,
      attempts: job.attempts,
      priority: job.priority,
      value: undefined as T,
    };
    if (job.reason !== undefined) listed.reason = job.reason;
    if (job.origin !== undefined) listed.origin = job.origin;
    if (job.history !== undefined) listed.history = job.history;
    if (job.by !== undefined) {
      listed.tag = job.tag;
      listed.by = job.by;
      listed.deadline = job.deadline;
    }
    if (job.progress !== undefined) {
      try {
        listed.progress = this.#wire.decode(job.progress);
      } catch {
        // A progress that cannot be decoded is left out; the job is still listed.
      }
      listed.progressAt = job.progressAt;
    }
    try {
      listed.value = this.#wire.decode<T>(job.payload);
    } catch (error) {
      listed.error = (error as Error).message;
    }
    return listed;
  }
}
