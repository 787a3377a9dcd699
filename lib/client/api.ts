/**
 * The client surface: what a producer, a consumer or an operator holds,
 * whichever way it reaches the god (TCP, TLS or the HTTP face). `connect()`
 * returns a {@link Client}; the classes behind these interfaces are shared by
 * every transport, and each transport is a small adapter (lib/client/wire.ts).
 */
import type { AttemptInfo, GodStats, ScheduleInfo } from "../protocol/replies.ts";
import type { QueueOptions } from "../queue/types.ts";

/** A connection to a god. */
export interface Client {
  /** Where the god is, as given (`host:port`, `tls://…`, `http(s)://…`). */
  readonly addr: string;
  /** Whether the god can be reached right now (TCP: a connection is up). */
  readonly connected: boolean;
  /** A named queue. The same object is returned for the same name. */
  queue<T = unknown>(name: string): Queue<T>;
  /** Stats of the god: its queues, its store, its connections. */
  stats(queue?: string): Promise<GodStats>;
  /** Creates a queue or changes its options; resolves to the options in force. */
  declare(queue: string, options?: Partial<QueueOptions>): Promise<QueueOptions>;
  /** The next `limit` ready jobs of a queue (default 10), left in place. */
  peek<T = unknown>(queue: string, limit?: number): Promise<ListedJob<T>[]>;
  /** Removes every ready and delayed job of a queue; resolves to how many. */
  purge(queue: string): Promise<number>;
  /** Dead letters of a queue (default 100), with the reason each died. */
  deadList<T = unknown>(queue: string, limit?: number): Promise<ListedJob<T>[]>;
  /** Moves dead letters of a queue (all, or those with `ids`) back to it; resolves to how many. */
  deadRequeue(queue: string, ids?: string[]): Promise<number>;
  /** Deletes dead letters of a queue (all, or those with `ids`); resolves to how many. */
  deadDelete(queue: string, ids?: string[]): Promise<number>;
  /**
   * Jobs of a queue in flight (default 10), oldest lease first: who holds
   * each, its lease's deadline and the last progress it reported.
   */
  inFlight<T = unknown>(queue: string, limit?: number): Promise<ListedJob<T>[]>;
  /** Pauses a queue: puts are still taken, nothing is handed out until {@link Client.resume}. */
  pause(queue: string): Promise<QueueOptions>;
  /** Resumes a paused queue: its waiting consumers get jobs at once. */
  resume(queue: string): Promise<QueueOptions>;
  /**
   * Adds (or replaces) a schedule on the god: a job with `value` put on
   * `queue` at every slot of `cron` (in `timezone`, default UTC) or every
   * `every` ms. Stored with the god's queues; see docs/FLOW.md.
   */
  schedule(name: string, options: ScheduleOptions): Promise<ScheduleInfo>;
  /** Removes a schedule; resolves to whether there was one. */
  unschedule(name: string): Promise<boolean>;
  /** Every schedule, with the value it puts. */
  schedules<T = unknown>(): Promise<(ScheduleInfo & { value: T })[]>;
  /**
   * Sends the puts made so far, stops consumers (jobs fetched but not taken
   * go back), says goodbye; unacked jobs go back to their queues.
   */
  close(): Promise<void>;
}

/** Options of {@link Client.schedule}: a cron expression (and zone) or an interval. */
export interface ScheduleOptions {
  queue: string;
  /** Five fields (minute hour day-of-month month day-of-week), or six with seconds first. */
  cron?: string;
  /** The cron's IANA time zone, e.g. "Europe/Paris" (default UTC). */
  timezone?: string;
  /** A fixed interval in ms instead of a cron (at least 1000). */
  every?: number;
  /** The job's value (default null). */
  value?: unknown;
  priority?: number;
  /** After downtime, put every slot missed (default: only slots from now on). */
  catchUp?: boolean;
}

/** A job's own retry policy (see {@link PutOptions.backoff}). */
export interface BackoffOptions {
  type: "fixed" | "exponential";
  /** The first wait (ms); "exponential" doubles it at each attempt. */
  delayMs: number;
  /** The longest wait (default a day). */
  maxMs?: number;
  /** A random wait in the upper half of the computed one (default false). */
  jitter?: boolean;
}

/** Options of a put. */
export interface PutOptions {
  /** Milliseconds before the job becomes ready. */
  delay?: number;
  /** Higher first; FIFO within a priority (default 0). */
  priority?: number;
  /** The job's id; a repeat within the god's dedupe window is ignored. Default: a fresh unique id. */
  id?: string;
  /** How long to wait for room in a full queue before failing with `queue_full` (default 30 s). */
  timeout?: number;
  /**
   * This job's retry policy, over its queue's: how long it waits after a
   * nack without a delay, or an expired lease, before it is tried again.
   */
  backoff?: BackoffOptions;
}

/** A named queue on the god. Get one with `client.queue<T>(name)`. */
export interface Queue<T = unknown> {
  readonly name: string;
  /**
   * Adds a job; resolves to its id once the god has stored it (durably, with
   * the journal). Puts made in the same turn of the event loop travel together.
   */
  put(value: T, options?: PutOptions): Promise<string>;
  /** Adds many jobs in as few requests as possible; resolves to their ids. */
  putMany(values: Iterable<T>, options?: Omit<PutOptions, "id">): Promise<string[]>;
  /**
   * Takes the next job, waiting on the god up to `timeout` ms (default: until
   * one arrives). Resolves to null when the time passes first.
   */
  get(options?: { timeout?: number }): Promise<Job<T> | null>;
  /**
   * Takes up to `max` jobs (at most 1000) in one request, waiting on the god up
   * to `timeout` ms for the first; resolves to none when the time passes.
   * Completing or acking them in the same turn sends one request, so a worker
   * spends about two requests per batch.
   */
  getMany(max: number, options?: { timeout?: number }): Promise<Job<T>[]>;
  /** Streams jobs as they come, at most `prefetch` unsettled at a time. */
  consume(options?: { prefetch?: number }): Consumer<T>;
  /**
   * Puts a task and resolves to the result its consumer completes it with
   * (`job.complete(result)`), waiting up to `timeout` ms (default 30 s).
   * Rejects with a `TimeoutError` when the time passes (the task stays queued;
   * its result then goes to its fallback queue), a `RemoteError` with code
   * `dead_lettered` when the task is dead-lettered, and a
   * `ConnectionLostError` when the connection to the god drops first.
   */
  call<R = unknown>(
    value: T,
    options?: { timeout?: number; priority?: number; onProgress?: (progress: unknown) => void },
  ): Promise<R>;
  /** Resolves once every put made so far has been answered. */
  flush(): Promise<void>;
}

/**
 * A job handed out under a lease. Finish it with {@link Job.ack}, hand it back
 * with {@link Job.nack}, dead-letter it with {@link Job.fail}, or keep it
 * longer with {@link Job.touch}.
 */
export interface Job<T = unknown> {
  readonly queue: string;
  readonly id: string;
  readonly value: T;
  /** Deliveries so far, this one included. */
  readonly attempts: number;
  readonly priority: number;
  /** The lease number the god gave this delivery. */
  readonly tag: number;
  /** Whether ack, nack or fail was already called. */
  readonly settled: boolean;
  /** Finishes the job: it will not be delivered again. */
  ack(): Promise<void>;
  /**
   * Finishes the job and stores its result in the same step (one request,
   * one journal record: after a crash both happened or neither). The result
   * goes to the caller when the task was made with `queue.call()`; otherwise
   * (or when the caller has gone) to `options.queue`, or `<queue>.results`,
   * with the id `result:<task id>` unless `options.id` says otherwise. It is
   * stored once: a repeated completion finds the job no longer leased.
   * Without a result it is an ack.
   */
  complete(result?: unknown, options?: { queue?: string; id?: string }): Promise<void>;
  /**
   * Hands the job back, ready again after `delay` ms; without one, after the
   * wait its retry policy (the queue's `backoff`, or the put's) says, or at
   * once when there is none. Counts as an attempt.
   */
  nack(options?: { delay?: number }): Promise<void>;
  /** Sends the job straight to the dead-letter queue, with the reason. */
  fail(reason: string): Promise<void>;
  /** Extends the lease by the queue's lease time; resolves to the new deadline (epoch ms). */
  touch(): Promise<number>;
  /**
   * Says how far the job got: a number or a small object (at most the god's
   * `maxProgressBytes`, 4 KiB by default). Shown with the job in flight
   * (admin peek --in-flight, stats, the dashboard) and told to the task's
   * caller (`call(value, { onProgress })`). It does not extend the lease.
   */
  progress(value: unknown): Promise<void>;
}

/**
 * Jobs as an async iterator, at most `prefetch` unsettled at once. Leaving
 * the loop (break, return, throw) stops it and hands back jobs fetched but
 * not yet taken.
 */
export interface Consumer<T = unknown> extends AsyncIterableIterator<Job<T>> {
  next(): Promise<IteratorResult<Job<T>>>;
  /** Stops: no more jobs are fetched; jobs fetched but not taken go back to the queue. */
  return(): Promise<IteratorResult<Job<T>>>;
  /** Resolves once the god accepted the subscription (rejects if it refused it). */
  ready(): Promise<void>;
  /** Stops, like leaving the loop. */
  cancel(): Promise<void>;
}

/** A job listed by peek or the dead-letter listing. */
export interface ListedJob<T = unknown> {
  id: string;
  value: T;
  attempts: number;
  priority: number;
  reason?: string;
  origin?: string;
  /** Earlier attempts that did not finish, oldest first: when, which consumer, why. */
  history?: AttemptInfo[];
  /** Listed in flight: its lease, who holds it, the lease's deadline, its last progress and when. */
  tag?: number;
  by?: string;
  deadline?: number;
  progress?: unknown;
  progressAt?: number;
  /** Set when the job's payload could not be decoded (then `value` is undefined). */
  error?: string;
}

/** What a client tells `onEvent` about its connection (TCP and TLS). */
export type ClientEvent =
  | { event: "connected"; addr: string; god: string; runtime: string }
  | { event: "disconnected"; addr: string; reason: string }
  | { event: "retrying"; addr: string; attempt: number; delayMs: number; reason: string };
