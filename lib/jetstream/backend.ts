/**
 * Queues kept in NATS JetStream, so several gods can serve the same queues.
 *
 * Each taskwire queue is one stream (work-queue retention, discard-new at
 * `maxsize`, a dedupe window for `Nats-Msg-Id`) with one durable pull
 * consumer, `taskwire`, that every god shares (explicit acks, ack wait =
 * lease). A god pulls with its own pull requests and leases what arrives to
 * the connection that asked. Ack, nack (with delay), touch and dead-lettering
 * become ack, nak, in-progress and a publish to the dead-letter queue's
 * stream followed by an ack.
 *
 * This class composes the parts, each in its own module:
 * - {@link Queues} (provision.ts): the queues, their streams and consumers;
 * - {@link Publisher} (publisher.ts): puts, full queues;
 * - {@link Completions} (complete.ts): acks that store a result first;
 * - {@link PullEngine} (pull_engine.ts) and {@link LeaseTable} (leases.ts):
 *   pulls, deliveries and leases;
 * - {@link DelayMover} (delayed.ts): the delay stream and its mover;
 * - {@link Admin} (admin.ts): stats snapshot, peek, purge, dead letters;
 * - {@link JsLink} (link.ts): the NATS connection they share.
 *
 * What JetStream cannot give exactly is listed in {@link LIMITATIONS}, shown
 * in the god's stats and in the README.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { ErrorCode, RemoteError } from "../protocol/errors.ts";
import type { CallResult } from "../protocol/replies.ts";
import type {
  Awaitable,
  BackendEvents,
  BackendInfo,
  InFlightJob,
  Owner,
  PutResult,
  QueueBackend,
  ResultPut,
  Subscription,
} from "../queue/backend.ts";
import type { Delivery, Job, PutItem, QueueOptions, QueueStats } from "../queue/types.ts";
import { ScheduleBook, scheduledJobId, type ScheduleRequest } from "../queue/schedules.ts";
import type { ScheduleInfo } from "../protocol/replies.ts";
import { JsSchedules } from "./schedules.ts";
import { Admin } from "./admin.ts";
import { CallAnswers } from "./answers.ts";
import { Completions } from "./complete.ts";
import { DelayMover } from "./delayed.ts";
import { LeaseTable } from "./leases.ts";
import { JsLink } from "./link.ts";
import { Queues } from "./provision.ts";
import { Publisher } from "./publisher.ts";
import { PullEngine } from "./pull_engine.ts";
import type { JsQueue } from "./queue.ts";

/** Where this store differs from the embedded one; shown in stats and the README. */
export const LIMITATIONS: readonly string[] = [
  "priority: kept and reported with each job, but jobs are delivered in FIFO order (JetStream has no priority order)",
  "delayed puts wait in a delay stream and move to their queue when due, moved by whichever god pulls them (so at least one god must run); they become ready within a few milliseconds of their time",
  "a nack with a delay is a JetStream nak with that delay: the job counts as in flight (not delayed) until then",
  "a dropped client connection returns its jobs at once; a god that dies returns its jobs only when their leases run out (JetStream's ack wait)",
  "JetStream's ack wait is the lease plus a grace (a tenth of it, 100 ms to 5 s): the god ends a lease on time and refuses a late ack itself, and JetStream redelivers the job that grace later",
  "attempts count JetStream deliveries: a job a god received just as the asking connection went away is handed back and counts one attempt",
  "ready, inFlight, dead and delayed come from stream and consumer info (all gods; snapshot refreshed every few seconds and on every stats request); totals, rates, consumers and waiting gets/puts count this god only",
  "a full queue (maxsize) is seen when a publish is refused: a waiting put retries with backoff instead of being woken by the ack that made room on another god",
  "peek lists jobs not yet delivered; jobs waiting for redelivery are not listed",
  "purge also removes jobs in flight",
  "pause: a god stops asking for jobs of a paused queue at once; other gods see the pause at their next refresh (within a few seconds); jobs already on their way are still handed out",
  "backoff applies to nacks without a delay; a job whose lease ran out comes back after JetStream's ack wait, without the backoff",
  "the attempt history of a dead letter holds the attempts the gods saw end (nacks, fails, the last one), not each lease that ran out",
  "progress and the jobs in flight are listed by the god that handed them out (each god lists its own)",
  "rate limits are refused: a limit across gods needs shared state that this store does not keep yet",
] as const;

/**
 * Queue options this store does not implement yet: a queue asking for one
 * is refused (rather than the option silently ignored). See docs/FLOW.md.
 */
export function refuseFlowOptions(name: string, options: Partial<QueueOptions>): void {
  if (options.rateLimit === undefined || options.rateLimit === null) return;
  throw new RemoteError(
    ErrorCode.BadArgument,
    `Cannot declare queue "${name}" with rateLimit: the JetStream store does not support it yet (docs/FLOW.md); use the embedded store for this queue, or leave it out`,
  );
}

/** Options of {@link JetStreamBackend.open}. */
export interface JetStreamBackendOptions {
  /** Queues that exist from the start; existing streams keep options not given here. */
  queues?: Record<string, Partial<QueueOptions>>;
  /** Whether clients may create queues by naming them (default true). */
  allowCreate?: boolean;
  /** Stream `duplicate_window`: a put id seen within it is ignored (default 10 minutes). */
  dedupeWindowMs?: number;
  /** Stream replicas (default 1; 3 on a 3-node cluster). */
  replicas?: number;
  /** Stream name prefix (default "TW"): streams are `<prefix>_<queue>`. */
  prefix?: string;
  /** How long a put waits for NATS to come back before failing with `unavailable` (default 10 s). */
  unavailableWaitMs?: number;
  /** How often the stats snapshot refreshes in the background (default 2 s). */
  refreshMs?: number;
  /** Receives notable events (NATS disconnects and reconnects, dead-lettering failures). */
  log?: (event: Record<string, unknown>) => void;
}

/**
 * A {@link QueueBackend} on NATS JetStream. Make one with
 * {@link JetStreamBackend.open} (or `openJetStream`, which also connects).
 *
 * @example
 * ```ts
 * const nc = await connect({ servers: "127.0.0.1:4222" });
 * const backend = await JetStreamBackend.open(nc, { queues: { tasks: {}, results: {} } });
 * const god = await serve({ authkey: "secret", backend });
 * ```
 */
export class JetStreamBackend implements QueueBackend {
  readonly #link: JsLink;
  readonly #queues: Queues;
  readonly #publisher: Publisher;
  readonly #engine: PullEngine;
  readonly #answers: CallAnswers;
  readonly #completions: Completions;
  readonly #mover: DelayMover;
  readonly #admin: Admin;
  readonly #released = new WeakSet<Owner>();
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  readonly #refreshMs: number;
  /** Schedules: stored in their stream, run by every god (a slot's msg-id makes it one job). */
  readonly #schedules: JsSchedules;
  readonly #book = new ScheduleBook();
  /** The god's clock (the operations layer's, see {@link JetStreamBackend.useClock}). */
  #now: () => number = Date.now;

  private constructor(
    nc: NatsConnection,
    jsm: Awaited<ReturnType<typeof jetstreamManager>>,
    options: JetStreamBackendOptions,
  ) {
    this.#link = new JsLink(nc, jsm, {
      prefix: options.prefix ?? "TW",
      replicas: options.replicas ?? 1,
      dedupeWindowMs: options.dedupeWindowMs ?? 600_000,
      log: options.log ?? (() => {}),
    });
    this.#refreshMs = options.refreshMs ?? 2_000;
    this.#queues = new Queues(this.#link, options.allowCreate ?? true);
    this.#publisher = new Publisher(this.#link, this.#queues, {
      unavailableWaitMs: options.unavailableWaitMs ?? 10_000,
      gone: (owner) => this.#released.has(owner),
    });
    this.#engine = new PullEngine(this.#link, this.#queues, new LeaseTable());
    this.#mover = new DelayMover(this.#link, this.#queues, this.#engine);
    this.#admin = new Admin(this.#link, this.#queues);
    this.#schedules = new JsSchedules(this.#link);
    // Resumed (here or by another god): ask for jobs again.
    this.#queues.changed = (queue) => {
      if (queue.options.paused) return;
      for (const sub of queue.subs) this.#engine.pumpSub(sub);
    };
    this.#answers = new CallAnswers(this.#link);
    this.#completions = new Completions({
      engine: this.#engine,
      publisher: this.#publisher,
      answers: this.#answers,
      queues: this.#queues,
    });
  }

  /**
   * Checks or creates the streams and consumers of `options.queues` (and the
   * delay stream), loads the queues other gods made, and starts pulling
   * delayed jobs. Fails with a message naming the setting when a stream exists
   * with settings taskwire cannot use.
   */
  static async open(
    nc: NatsConnection,
    options: JetStreamBackendOptions = {},
  ): Promise<JetStreamBackend> {
    const jsm = await jetstreamManager(nc, { timeout: 5_000 });
    const backend = new JetStreamBackend(nc, jsm, options);
    try {
      await backend.#start(options.queues ?? { tasks: {}, results: {} });
    } catch (error) {
      await backend.close();
      throw error;
    }
    return backend;
  }

  async #start(queues: Record<string, Partial<QueueOptions>>): Promise<void> {
    await this.#queues.ensureDelayStream();
    await this.#queues.loadExisting();
    for (const [name, given] of Object.entries(queues)) await this.declare(name, given);
    this.#book.restore(await this.#schedules.load(), Date.now());
    this.#mover.start();
    this.#watchStatus();
    this.#timers.push(setInterval(() => {
      this.#engine.sweep(Date.now());
      this.#mover.pump();
    }, 1_000));
    await this.refresh();
  }

  // -- QueueBackend --

  get queueNames(): string[] {
    return this.#queues.names;
  }

  declare(name: string, options: Partial<QueueOptions> = {}): Promise<QueueOptions> {
    refuseFlowOptions(name, options);
    return this.#queues.declare(name, options);
  }

  put(
    owner: Owner | null,
    queueName: string,
    items: PutItem[],
    options: { now: number; timeoutMs?: number },
    done: (result: PutResult | RemoteError) => void,
  ): void {
    let queue: JsQueue;
    try {
      queue = this.#queues.get(queueName);
    } catch (error) {
      done(error as RemoteError);
      return;
    }
    const deadline = options.now + (options.timeoutMs ?? 30_000);
    this.#publisher.put(owner, queue, items, deadline, (result) => {
      if (owner !== null && this.#released.has(owner)) return;
      done(result instanceof Error ? this.#link.remote(result, "put to", queue.name) : result);
    });
  }

  get(
    owner: Owner,
    queueName: string,
    options: { now: number; timeoutMs: number },
    done: (delivery: Delivery | null | RemoteError) => void,
  ): void {
    this.#engine.get(owner, this.#queues.get(queueName), options, done);
  }

  subscribe(
    owner: Owner,
    queueName: string,
    options: { prefetch: number; now: number },
    deliver: (deliveries: Delivery[]) => void,
  ): Subscription {
    return this.#engine.subscribe(owner, this.#queues.get(queueName), options.prefetch, deliver);
  }

  unsubscribe(subscription: Subscription): void {
    this.#engine.unsubscribe(subscription);
  }

  ack(
    owner: Owner,
    tags: readonly number[],
    now: number,
  ): Awaitable<{ tag: number; message: string }[]> {
    return this.#engine.ack(owner, tags, now);
  }

  complete(
    owner: Owner,
    tags: readonly number[],
    route: (job: Job, queue: string, index: number) => ResultPut | null,
    now: number,
  ): Awaitable<{ tag: number; message: string }[]> {
    return this.#completions.complete(owner, tags, route, now);
  }

  nack(
    owner: Owner,
    tag: number,
    options: { now: number; delayMs?: number; dead?: string },
  ): void | Promise<void> {
    return this.#engine.nack(owner, tag, options);
  }

  touch(owner: Owner, tag: number, now: number): Promise<number> {
    return this.#engine.touch(owner, tag, now);
  }

  leased(owner: Owner, tag: number): { job: Job; queue: string } | null {
    return this.#engine.leased(owner, tag);
  }

  watch(events: BackendEvents): void {
    this.#engine.events = events;
    this.#answers.listen(events.instance, events.answer);
  }

  relay(replyTo: string, result: CallResult): Promise<boolean> {
    return this.#answers.relay(replyTo, result);
  }

  release(owner: Owner, now: number): void {
    this.#released.add(owner);
    this.#engine.release(owner, now);
  }

  progress(owner: Owner, tag: number, value: string, now: number): void {
    this.#engine.progress(owner, tag, value, now);
  }

  inFlight(queueName: string, limit: number): InFlightJob[] {
    return this.#engine.inFlight(this.#queues.get(queueName, false), limit).map((lease) => {
      const listed: InFlightJob = {
        job: lease.job,
        tag: lease.tag,
        by: lease.owner.label,
        deadline: lease.deadline,
      };
      if (lease.progress !== undefined) {
        listed.progress = lease.progress;
        listed.progressAt = lease.progressAt;
      }
      return listed;
    });
  }

  deadDelete(queueName: string, ids: readonly string[] | null, _now: number): Promise<number> {
    return this.#admin.deadDelete(queueName, ids);
  }

  async schedule(request: ScheduleRequest, now: number): Promise<ScheduleInfo> {
    this.#queues.get(request.queue);
    const old = this.#book.get(request.name);
    const schedule = {
      ...request,
      anchor: old !== undefined && old.everyMs === request.everyMs ? old.anchor : now,
      last: old?.last ?? 0,
    };
    try {
      await this.#schedules.save(schedule);
    } catch (error) {
      throw this.#link.remote(error, `store schedule "${request.name}" of`, request.queue);
    }
    this.#book.add(schedule, now);
    return this.#book.list().find((s) => s.name === request.name)!;
  }

  async unschedule(name: string): Promise<boolean> {
    await this.#reloadSchedules();
    if (this.#book.get(name) === undefined) return false;
    try {
      await this.#schedules.remove(name);
    } catch (error) {
      throw this.#link.remote(error, `remove schedule "${name}" of`, "schedules");
    }
    this.#book.remove(name);
    return true;
  }

  async schedules(): Promise<{ info: ScheduleInfo; payload: string }[]> {
    await this.#reloadSchedules();
    return this.#book.list().map((info) => ({ info, payload: this.#book.get(info.name)!.payload }));
  }

  nextDeadline(): number {
    return Math.min(this.#engine.nextDeadline(), this.#book.nextDeadline());
  }

  tick(now: number): void {
    for (const { schedule, slot } of this.#book.due(now)) {
      const item = {
        id: scheduledJobId(schedule.name, slot),
        payload: schedule.payload,
        priority: schedule.priority,
        delayMs: 0,
      };
      // Every god puts the slot; its Nats-Msg-Id keeps one job in the queue.
      this.put(null, schedule.queue, [item], { now }, (result) => {
        if (result instanceof RemoteError) {
          this.#link.log({ event: "schedule", name: schedule.name, slot, error: result.message });
          return;
        }
        if (result.accepted > 0) {
          const queue = this.#queues.all().find((q) => q.name === schedule.queue);
          if (queue) queue.totals.scheduled++;
        }
      });
      this.#schedules.save({ ...schedule }).catch(() => {});
    }
    this.#engine.tick(now);
  }

  /**
   * Takes in schedules other gods added, changed or removed (and their last
   * slots): on each refresh, and before listing.
   */
  async #reloadSchedules(): Promise<void> {
    const stored = await this.#schedules.load();
    const now = this.#now();
    const names = new Set(stored.map((s) => s.name));
    for (const schedule of this.#book.all()) {
      if (!names.has(schedule.name)) this.#book.remove(schedule.name);
    }
    for (const schedule of stored) {
      const known = this.#book.get(schedule.name);
      if (
        known !== undefined && known.cron === schedule.cron && known.everyMs === schedule.everyMs &&
        known.timezone === schedule.timezone && known.queue === schedule.queue &&
        known.payload === schedule.payload && known.catchUp === schedule.catchUp &&
        known.priority === schedule.priority
      ) {
        if (schedule.last > known.last) known.last = schedule.last;
        continue;
      }
      this.#book.add({ ...schedule, last: Math.max(schedule.last, known?.last ?? 0) }, now);
    }
  }

  /** The clock the god runs on (for schedules); the operations layer passes its own. */
  useClock(now: () => number): void {
    this.#now = now;
  }

  sampleRates(now: number): void {
    this.#admin.sampleRates(now);
    if (now - this.#admin.lastRefresh >= this.#refreshMs && this.#link.connected) {
      this.#admin.lastRefresh = now;
      this.refresh().catch(() => {});
    }
  }

  stats(now: number, queueName?: string): QueueStats[] {
    return this.#admin.stats(now, queueName);
  }

  /** Reads stream and consumer info of every queue (or one) into the stats snapshot. */
  async refresh(queueName?: string): Promise<void> {
    if (queueName === undefined) await this.#reloadSchedules().catch(() => {});
    return await this.#admin.refresh(queueName);
  }

  peek(queueName: string, limit: number): Promise<Job[]> {
    return this.#admin.peek(queueName, limit);
  }

  purge(queueName: string, _now: number): Promise<number> {
    return this.#admin.purge(queueName);
  }

  deadList(queueName: string, limit: number): Promise<Job[]> {
    return this.#admin.deadList(queueName, limit);
  }

  deadRequeue(queueName: string, ids: readonly string[] | null, _now: number): Promise<number> {
    return this.#admin.deadRequeue(queueName, ids);
  }

  info(): BackendInfo {
    const last = this.#admin.lastRefresh;
    return {
      kind: "jetstream",
      servers: this.#link.nc.getServer(),
      connected: this.#link.connected,
      prefix: this.#link.prefix,
      replicas: this.#link.replicas,
      snapshotAgeMs: last === 0 ? null : Date.now() - last,
      limitations: [...LIMITATIONS],
    };
  }

  async close(): Promise<void> {
    if (this.#link.closed) return;
    this.#link.closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    try {
      try {
        this.#answers.close();
        this.#engine.close();
      } finally {
        this.#link.inbox.stop();
      }
      await this.#link.nc.drain();
    } catch {
      await this.#link.nc.close().catch(() => {});
    }
  }

  /** Follows the NATS client's disconnects and reconnects. */
  #watchStatus(): void {
    (async () => {
      for await (const status of this.#link.nc.status()) {
        if (status.type === "disconnect") {
          this.#link.connected = false;
          this.#link.log({ event: "nats", state: "disconnected", server: status.server });
        } else if (status.type === "reconnect") {
          this.#link.connected = true;
          this.#link.log({ event: "nats", state: "reconnected", server: status.server });
          this.#engine.reconnected();
          this.#mover.pump();
        }
      }
    })().catch(() => {});
  }
}
