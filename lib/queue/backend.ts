/**
 * The seam between the god's front (TCP sessions, the HTTP face, the server's
 * clock) and where its queues live: exactly the operations those fronts use.
 *
 * Two implementations: the embedded {@link Broker} (in memory, journaled by a
 * store; every result is synchronous and allocation-free on the hot path), and
 * the JetStream backend (lib/jetstream/backend.ts), whose results for
 * acks, nacks, listings and admin requests may arrive later. Callers handle a
 * result with {@link settle}, which stays synchronous for plain values.
 */
import type { RemoteError } from "../protocol/errors.ts";
import type { BackendInfo, CallResult } from "../protocol/replies.ts";

export type { BackendInfo };
import type { Delivery, Job, PutItem, QueueOptions, QueueStats } from "./types.ts";
import type { ScheduleRequest } from "./schedules.ts";
import type { ScheduleInfo } from "../protocol/replies.ts";
import { IntSet } from "./int_map.ts";

/**
 * One connection (or in-process user) that can hold leases. Backends keep
 * their own bookkeeping of what an owner waits for; these are the parts every
 * backend shares.
 */
export class Owner {
  static #next = 1;
  readonly id: number = Owner.#next++;
  /** Who this owner is, for a job's history of attempts (a consumer's name). */
  label = "";
  /** Tags of the leases this owner holds. */
  readonly leases: IntSet = new IntSet();
  readonly subscriptions: Set<Subscription> = new Set();
}

/** A push consumer: up to `prefetch` unacked jobs at a time. */
export interface Subscription {
  readonly id: number;
  readonly owner: Owner;
  readonly queue: string;
  prefetch: number;
  inFlight: number;
  readonly deliver: (deliveries: Delivery[]) => void;
  cancelled: boolean;
}

/** A job in flight, as listed: its lease, holder, deadline and last progress. */
export interface InFlightJob {
  job: Job;
  tag: number;
  by: string;
  deadline: number;
  progress?: string;
  progressAt?: number;
}

/** A result to store with a completion: its job, and the queue it goes to. */
export interface ResultPut {
  queue: string;
  item: PutItem;
  /**
   * The answer for a caller that waits on another god sharing the store:
   * handed there first ({@link QueueBackend.relay}); the result is put only
   * if that caller did not take it.
   */
  answer?: { replyTo: string; result: CallResult };
}

/** What a backend tells the operations layer as it happens. */
export interface BackendEvents {
  /** This god's name among the gods sharing a store: the prefix of its callers' ids. */
  instance: string;
  /** A called job (with `replyTo`) was dead-lettered. */
  dead(job: Job, queue: string, reason: string): void;
  /** A called job (with `replyTo`) reported progress (`value`: superjson text). */
  progress?(job: Job, queue: string, value: string): void;
  /** An answer relayed by another god for caller `replyTo`; whether the caller took it. */
  answer(replyTo: string, result: CallResult): boolean;
}

/** The outcome of a put: how many jobs were stored and how many were repeats. */
export interface PutResult {
  accepted: number;
  duplicates: number;
}

/** A value now, or a promise of it. */
export type Awaitable<T> = T | Promise<T>;

/**
 * The queue operations a god's fronts call. Errors of a request are thrown as
 * {@link RemoteError}s (synchronously, or as the rejection of the promise), or
 * passed to the callback where the operation has one.
 */
export interface QueueBackend {
  /** Names of the queues this god knows. */
  readonly queueNames: string[];
  /** Creates a queue or changes its options (at `now`); returns the options in force. */
  declare(name: string, options?: Partial<QueueOptions>, now?: number): Awaitable<QueueOptions>;
  /** Adds jobs; `done` once stored (a full queue makes the put wait up to `timeoutMs`). */
  put(
    owner: Owner | null,
    queueName: string,
    items: PutItem[],
    options: { now: number; timeoutMs?: number },
    done: (result: PutResult | RemoteError) => void,
  ): void;
  /** Leases the next job to `owner`, waiting up to `timeoutMs`; null when none came. */
  get(
    owner: Owner,
    queueName: string,
    options: { now: number; timeoutMs: number },
    done: (delivery: Delivery | null | RemoteError) => void,
  ): void;
  /** Starts pushing jobs to `deliver`, at most `prefetch` unacked at a time. */
  subscribe(
    owner: Owner,
    queueName: string,
    options: { prefetch: number; now: number },
    deliver: (deliveries: Delivery[]) => void,
  ): Subscription;
  /** Stops pushing to a subscription; its unacked jobs stay leased. */
  unsubscribe(subscription: Subscription): void;
  /** Finishes leased jobs; returns the tags that could not be acked, with why. */
  ack(
    owner: Owner,
    tags: readonly number[],
    now: number,
  ): Awaitable<{ tag: number; message: string }[]>;
  /**
   * Finishes leased jobs, each with the result `route` gives for it stored in
   * the same step (or, where the store cannot, stored first and the job acked
   * after, as the JetStream store does); returns the tags that could not be
   * completed, with why.
   */
  complete(
    owner: Owner,
    tags: readonly number[],
    route: (job: Job, queue: string, index: number) => ResultPut | null,
    now: number,
  ): Awaitable<{ tag: number; message: string }[]>;
  /**
   * Tells `events` when a called job (one with `replyTo`) is dead-lettered,
   * so its caller hears of it. Backends that cannot tell leave this out.
   */
  watch?(events: BackendEvents): void;
  /**
   * Hands a called task's result (or its death) to caller `replyTo` on the
   * god sharing this store that holds it; resolves whether the caller took
   * it. Backends of one god leave this out.
   */
  relay?(replyTo: string, result: CallResult): Promise<boolean>;
  /** The job and queue of lease `tag` of `owner`, or null (used to complete in steps). */
  leased?(owner: Owner, tag: number): { job: Job; queue: string } | null;
  /** Hands a leased job back (after `delayMs`), or dead-letters it with the reason `dead`. */
  nack(
    owner: Owner,
    tag: number,
    options: { now: number; delayMs?: number; dead?: string },
  ): Awaitable<void>;
  /** Extends a lease; returns the new deadline (epoch ms). */
  touch(owner: Owner, tag: number, now: number): Awaitable<number>;
  /** The owner went away: its leases return to their queues, its waits end. */
  release(owner: Owner, now: number): void;
  /** Earliest time at which {@link QueueBackend.tick} has work, or Infinity. */
  nextDeadline(): number;
  /** Does what is due at `now` (lease expiry, wait timeouts, delays). */
  tick(now: number): void;
  /** Samples rates; the server calls it about once a second. */
  sampleRates(now: number): void;
  /**
   * Counters and gauges of every queue (or one). Synchronous so the dashboard
   * and metrics can read it at any time; a remote backend answers from a
   * snapshot that {@link QueueBackend.refresh} brings up to date.
   */
  stats(now: number, queueName?: string): QueueStats[];
  /** Brings the stats snapshot up to date (remote backends only). */
  refresh?(queueName?: string): Promise<void>;
  /** The next `limit` ready jobs in delivery order, left in place. */
  peek(queueName: string, limit: number): Awaitable<Job[]>;
  /** Removes waiting jobs; returns how many. */
  purge(queueName: string, now: number): Awaitable<number>;
  /** Dead jobs of `queueName`, oldest first. */
  deadList(queueName: string, limit: number): Awaitable<Job[]>;
  /** Moves dead jobs of `queueName` (all, or those with the given ids) back; returns how many. */
  deadRequeue(queueName: string, ids: readonly string[] | null, now: number): Awaitable<number>;
  // Flow control a backend may lack: the operations layer refuses a request
  // for a missing one with a message that names the store.

  /** Records a leased job's progress (superjson text). */
  progress?(owner: Owner, tag: number, value: string, now: number): Awaitable<void>;
  /** Jobs of a queue in flight, with their holders and progress. */
  inFlight?(queueName: string, limit: number): Awaitable<InFlightJob[]>;
  /** Deletes dead letters of a queue (all, or those with the given ids); returns how many. */
  deadDelete?(queueName: string, ids: readonly string[] | null, now: number): Awaitable<number>;
  /** Adds or replaces a schedule. */
  schedule?(request: ScheduleRequest, now: number): Awaitable<ScheduleInfo>;
  /** Removes a schedule; false when there was none. */
  unschedule?(name: string): Awaitable<boolean>;
  /** Every schedule with the value it puts (superjson text). */
  schedules?(): Awaitable<{ info: ScheduleInfo; payload: string }[]>;
  /** The god's clock, for a backend that reads the time itself (the embedded broker is given `now`). */
  useClock?(now: () => number): void;
  /** What this backend says about itself in the god's store stats (remote backends). */
  info?(): BackendInfo;
  /** Releases connections and timers (remote backends); the server calls it on close. */
  close?(): Promise<void>;
}

/**
 * Runs `then` with the value of `result`: at once if it is a plain value (so
 * the embedded broker's path stays synchronous), else when the promise settles.
 * A rejection (or a synchronous throw by `then`) goes to `fail`.
 */
export function settle<T>(
  result: Awaitable<T>,
  then: (value: T) => void,
  fail: (error: unknown) => void,
): void {
  if (result instanceof Promise) {
    result.then(then).catch(fail);
    return;
  }
  then(result);
}
