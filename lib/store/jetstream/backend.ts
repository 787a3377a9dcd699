/**
 * Queues kept in NATS JetStream, so several gods can serve the same queues.
 *
 * Each taskwire queue is one stream (work-queue retention, discard-new at
 * `maxsize`, a dedupe window for `Nats-Msg-Id`) with one durable pull
 * consumer, `taskwire`, that every god shares (explicit acks, ack wait =
 * lease). A god pulls with its own pull requests (any expiry, `no_wait` for a
 * zero timeout) and leases what arrives to the connection that asked. Ack,
 * nack (with delay), touch and dead-lettering become ack, nak, in-progress and
 * a publish to the dead-letter queue's stream followed by an ack.
 *
 * What JetStream cannot give exactly is listed in {@link LIMITATIONS}, shown
 * in the god's stats and in the README.
 */
import {
  headers,
  type Msg,
  type NatsConnection,
  type Subscription as NatsSub,
} from "@nats-io/transport-node";
import {
  AckPolicy,
  type ConsumerInfo,
  DiscardPolicy,
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import { ErrorCode, RemoteError, TaskwireError } from "../../protocol/errors.ts";
import { checkDuration, checkPutItems } from "../../queue/arguments.ts";
import type {
  BackendInfo,
  Owner,
  PutResult,
  QueueBackend,
  Subscription,
} from "../../queue/backend.ts";
import { defaultQueueOptions, resolveQueueOptions } from "../../queue/options.ts";
import { Deque } from "../../queue/deque.ts";
import { RateMeter } from "../../queue/rate.ts";
import type { Delivery, Job, PutItem, QueueOptions, QueueStats } from "../../queue/types.ts";
import {
  CONSUMER,
  delayNames,
  describeQueue,
  Header,
  parseAckSubject,
  parseDescription,
  queueNames,
} from "./names.ts";

/** Where this store differs from the embedded one; shown in stats and the README. */
export const LIMITATIONS: readonly string[] = [
  "priority: kept and reported with each job, but jobs are delivered in FIFO order (JetStream has no priority order)",
  "delayed puts wait in a delay stream and move to their queue when due, moved by whichever god pulls them (so at least one god must run); they become ready within a few milliseconds of their time",
  "a nack with a delay is a JetStream nak with that delay: the job counts as in flight (not delayed) until then",
  "a dropped client connection returns its jobs at once; a god that dies returns its jobs only when their leases run out (ack wait)",
  "attempts count JetStream deliveries: a job a god received just as the asking connection went away is handed back and counts one attempt",
  "ready, inFlight, dead and delayed come from stream and consumer info (all gods; snapshot refreshed every few seconds and on every stats request); totals, rates, consumers and waiting gets/puts count this god only",
  "a full queue (maxsize) is seen when a publish is refused: a waiting put retries with backoff instead of being woken by the ack that made room on another god",
  "peek lists jobs not yet delivered; jobs waiting for redelivery are not listed",
  "purge also removes jobs in flight",
] as const;

/**
 * Queue options of flow control that this store does not implement yet: a
 * queue asking for one is refused (rather than the option silently ignored).
 * See docs/FLOW.md, "JetStream".
 */
export function refuseFlowOptions(name: string, options: QueueOptions): void {
  const unsupported = [
    options.paused ? "paused" : null,
    options.rateLimit !== null ? "rateLimit" : null,
    options.backoff !== null ? "backoff" : null,
  ].filter((o) => o !== null);
  if (unsupported.length === 0) return;
  throw new RemoteError(
    ErrorCode.BadArgument,
    `Cannot declare queue "${name}" with ${
      unsupported.join(", ")
    }: the JetStream store does not support ${
      unsupported.length === 1 ? "it" : "them"
    } yet (docs/FLOW.md); use the embedded store for this queue, or leave ${
      unsupported.length === 1 ? "it" : "them"
    } out`,
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

const NS = 1_000_000;
/** Longest single pull request; longer waits are made of several. */
const PULL_CHUNK_MS = 5_000;
/** A pull request not ended this long after its expiry is taken as lost. */
const PULL_GRACE_MS = 3_000;
const ACK = new TextEncoder().encode("+ACK");
const NAK = new TextEncoder().encode("-NAK");
const WPI = new TextEncoder().encode("+WPI");
const ENCODER = new TextEncoder();

interface Lease {
  tag: number;
  queue: JsQueue;
  reply: string;
  seq: number;
  job: Job;
  owner: Owner;
  sub: JsSub | null;
  deadline: number;
  ended: boolean;
}

interface GetWait {
  owner: Owner;
  queue: JsQueue;
  deadline: number;
  done: ((delivery: Delivery | null | RemoteError) => void) | null;
  lastError: string | null;
}

interface JsSub extends Subscription {
  readonly jsQueue: JsQueue;
  requested: number;
  batch: Delivery[];
  flushing: boolean;
}

interface Mover {
  kind: "mover";
  requested: number;
}

interface Pull {
  id: number;
  queue: JsQueue | null;
  target: GetWait | JsSub | Mover;
  batch: number;
  received: number;
  expiresAt: number;
  /** The inbox this pull's messages arrive on (one per pull, so they can be told apart). */
  sub: NatsSub | null;
}

interface Snapshot {
  ready: number;
  inFlight: number;
  dead: number;
  delayed: number;
  at: number;
}

class JsQueue {
  readonly name: string;
  readonly stream: string;
  readonly subject: string;
  options: QueueOptions;
  /** Settles once the stream and consumer exist with this god's settings. */
  ensured: Promise<void> | null = null;
  subs: JsSub[] = [];
  roundRobin = 0;
  waits = 0;
  waitingPuts = 0;
  inFlight = 0;
  leaseOrder = new Deque<Lease>();
  readonly bySeq = new Map<number, Lease>();
  /** Waiting puts, woken when this god frees room. */
  readonly roomWaiters = new Set<() => void>();
  snapshot: Snapshot = { ready: 0, inFlight: 0, dead: 0, delayed: 0, at: 0 };
  readonly totals = {
    put: 0,
    acked: 0,
    nacked: 0,
    redelivered: 0,
    expired: 0,
    deadLettered: 0,
    duplicates: 0,
    throttled: 0,
    scheduled: 0,
  };
  readonly putRate = new RateMeter();
  readonly ackRate = new RateMeter();

  constructor(name: string, prefix: string, options: QueueOptions) {
    this.name = name;
    const names = queueNames(prefix, name);
    this.stream = names.stream;
    this.subject = names.subject;
    this.options = options;
  }
}

/** Is this a JetStream "maximum messages exceeded" refusal (a full queue)? */
function isFull(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown };
  return e?.code === 10077 || /maximum messages exceeded/i.test(String(e?.message));
}

/** Is this a "stream/consumer not found" answer? */
function isNotFound(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown };
  return e?.code === 10059 || e?.code === 10014 || /not found/i.test(String(e?.message));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #prefix: string;
  readonly #allowCreate: boolean;
  readonly #dedupeWindowMs: number;
  readonly #replicas: number;
  readonly #unavailableWaitMs: number;
  readonly #log: (event: Record<string, unknown>) => void;
  readonly #queues = new Map<string, JsQueue>();
  readonly #leases = new Map<number, Lease>();
  readonly #pulls = new Map<number, Pull>();
  readonly #waits = new Map<Owner, Set<GetWait>>();
  readonly #released = new WeakSet<Owner>();
  readonly #inbox: string;
  readonly #mover: Mover = { kind: "mover", requested: 0 };
  readonly #delay: ReturnType<typeof delayNames>;
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  #moverReady = false;
  #tag = 1;
  #pullId = 1;
  #subId = 1;
  #connected = true;
  #closed = false;
  #lastRefresh = 0;
  readonly #refreshMs: number;

  private constructor(
    nc: NatsConnection,
    jsm: JetStreamManager,
    options: JetStreamBackendOptions,
  ) {
    this.#nc = nc;
    this.#jsm = jsm;
    this.#js = jetstream(nc, { timeout: 5_000 });
    this.#prefix = options.prefix ?? "TW";
    this.#allowCreate = options.allowCreate ?? true;
    this.#dedupeWindowMs = options.dedupeWindowMs ?? 600_000;
    this.#replicas = options.replicas ?? 1;
    this.#unavailableWaitMs = options.unavailableWaitMs ?? 10_000;
    this.#refreshMs = options.refreshMs ?? 2_000;
    this.#log = options.log ?? (() => {});
    this.#delay = delayNames(this.#prefix);
    this.#inbox = `_INBOX.tw.${crypto.randomUUID().replaceAll("-", "")}`;
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
    await this.#ensureDelayStream();
    await this.#loadExisting();
    for (const [name, given] of Object.entries(queues)) await this.declare(name, given);
    this.#moverReady = true;
    this.#pumpMover();
    this.#watchStatus();
    this.#timers.push(setInterval(() => this.#sweep(Date.now()), 1_000));
    await this.refresh();
  }

  // -- QueueBackend --

  get queueNames(): string[] {
    return [...this.#queues.keys()];
  }

  async declare(name: string, options: Partial<QueueOptions> = {}): Promise<QueueOptions> {
    const existing = this.#queues.get(name);
    if (existing?.ensured) await existing.ensured.catch(() => {});
    const merged = resolveQueueOptions(name, this.#queues.get(name)?.options, options);
    refuseFlowOptions(name, merged);
    let queue = this.#queues.get(name);
    if (queue === undefined) {
      queue = new JsQueue(name, this.#prefix, merged);
      this.#queues.set(name, queue);
    }
    queue.options = merged;
    const q = queue;
    q.ensured = this.#ensureQueue(q, true);
    q.ensured.catch(() => q.ensured = null);
    await q.ensured;
    return merged;
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
      queue = this.#queue(queueName);
      checkPutItems(items);
      if (items.some((item) => item.backoff !== undefined)) {
        throw new RemoteError(
          ErrorCode.BadArgument,
          `Cannot put to "${queueName}" with a retry policy (backoff): the JetStream store does not support one yet (docs/FLOW.md); put without it`,
        );
      }
    } catch (error) {
      done(error as RemoteError);
      return;
    }
    const deadline = options.now + (options.timeoutMs ?? 30_000);
    this.#put(owner, queue, items, deadline).then(
      (result) => {
        if (owner === null || !this.#released.has(owner)) done(result);
      },
      (error) => {
        if (owner === null || !this.#released.has(owner)) {
          done(this.#remote(error, "put to", queue));
        }
      },
    );
  }

  get(
    owner: Owner,
    queueName: string,
    options: { now: number; timeoutMs: number },
    done: (delivery: Delivery | null | RemoteError) => void,
  ): void {
    checkDuration(options.timeoutMs, "timeout");
    const queue = this.#queue(queueName);
    const wait: GetWait = {
      owner,
      queue,
      deadline: options.now + options.timeoutMs,
      done,
      lastError: null,
    };
    let waits = this.#waits.get(owner);
    if (waits === undefined) this.#waits.set(owner, waits = new Set());
    waits.add(wait);
    queue.waits++;
    this.#whenEnsured(queue, () => this.#pullForWait(wait, true), (error) => {
      this.#endWait(wait, this.#remote(error, "get from", queue));
    });
  }

  subscribe(
    owner: Owner,
    queueName: string,
    options: { prefetch: number; now: number },
    deliver: (deliveries: Delivery[]) => void,
  ): Subscription {
    const { prefetch } = options;
    if (!Number.isSafeInteger(prefetch) || prefetch < 1 || prefetch > 100_000) {
      throw new RemoteError(
        ErrorCode.BadArgument,
        `Invalid prefetch: ${JSON.stringify(prefetch)} (expected an integer from 1 to 100000)`,
      );
    }
    const queue = this.#queue(queueName);
    const sub: JsSub = {
      id: this.#subId++,
      owner,
      queue: queueName,
      prefetch,
      inFlight: 0,
      deliver,
      cancelled: false,
      jsQueue: queue,
      requested: 0,
      batch: [],
      flushing: false,
    };
    queue.subs.push(sub);
    owner.subscriptions.add(sub);
    this.#whenEnsured(queue, () => this.#pumpSub(sub), (error) => {
      this.#log({ event: "error", error: String(error), queue: queue.name });
    });
    return sub;
  }

  unsubscribe(subscription: Subscription): void {
    if (subscription.cancelled) return;
    subscription.cancelled = true;
    subscription.owner.subscriptions.delete(subscription);
    const queue = (subscription as JsSub).jsQueue;
    if (queue) queue.subs = queue.subs.filter((s) => s !== subscription);
  }

  ack(
    owner: Owner,
    tags: readonly number[],
    _now: number,
  ): Promise<{ tag: number; message: string }[]> {
    const failures: { tag: number; message: string }[] = [];
    const confirms: Promise<void>[] = [];
    for (const tag of tags) {
      const lease = this.#ownLease(owner, tag);
      if (typeof lease === "string") {
        failures.push({ tag, message: lease });
        continue;
      }
      this.#endLease(lease);
      lease.queue.totals.acked++;
      confirms.push(
        this.#confirm(lease.reply, ACK).then(
          () => this.#roomFreed(lease.queue),
          (error) =>
            void failures.push({
              tag,
              message:
                `Cannot ack job ${lease.job.id}: NATS JetStream did not confirm (${
                  errorText(error)
                }); ` +
                `the job may be delivered again`,
            }),
        ),
      );
      if (lease.sub) this.#pumpSub(lease.sub);
    }
    return Promise.all(confirms).then(() => failures);
  }

  nack(
    owner: Owner,
    tag: number,
    options: { now: number; delayMs?: number; dead?: string },
  ): void | Promise<void> {
    const lease = this.#ownLease(owner, tag);
    if (typeof lease === "string") throw new RemoteError(ErrorCode.NotLeased, lease);
    const delayMs = checkDuration(options.delayMs ?? 0, "delay");
    this.#checkConnected("nack a job in", lease.queue);
    this.#endLease(lease);
    lease.queue.totals.nacked++;
    if (lease.sub) this.#pumpSub(lease.sub);
    if (options.dead !== undefined) {
      return this.#deadLetter(lease.queue, lease, String(options.dead).slice(0, 1000));
    }
    return this.#giveBack(lease, delayMs, "nacked");
  }

  touch(owner: Owner, tag: number, now: number): number {
    const lease = this.#ownLease(owner, tag);
    if (typeof lease === "string") throw new RemoteError(ErrorCode.NotLeased, lease);
    this.#checkConnected("touch a job in", lease.queue);
    this.#respond(lease.reply, WPI);
    lease.deadline = now + lease.queue.options.leaseMs;
    lease.queue.leaseOrder.push(lease);
    return lease.deadline;
  }

  release(owner: Owner, _now: number): void {
    this.#released.add(owner);
    for (const sub of [...owner.subscriptions]) this.unsubscribe(sub);
    for (const wait of this.#waits.get(owner) ?? []) this.#endWait(wait, null, false);
    this.#waits.delete(owner);
    for (const tag of [...owner.leases]) {
      const lease = this.#leases.get(tag);
      if (lease === undefined) continue;
      this.#endLease(lease);
      this.#giveBack(lease, 0, "connection lost")?.catch((error) => {
        this.#log({ event: "error", error: `cannot return job: ${errorText(error)}` });
      });
    }
  }

  nextDeadline(): number {
    let next = Infinity;
    for (const queue of this.#queues.values()) {
      const lease = queue.leaseOrder.peek();
      if (lease && lease.deadline < next) next = lease.deadline;
    }
    return next;
  }

  tick(now: number): void {
    for (const queue of this.#queues.values()) {
      const order = queue.leaseOrder;
      while (order.length > 0 && order.peek()!.deadline <= now) {
        const lease = order.shift()!;
        if (lease.ended || lease.deadline > now) continue;
        // JetStream redelivers it on its own (ack wait); the late ack is refused here.
        this.#endLease(lease);
        queue.totals.expired++;
        if (lease.sub) this.#pumpSub(lease.sub);
      }
    }
  }

  sampleRates(now: number): void {
    for (const queue of this.#queues.values()) {
      queue.putRate.sample(now, queue.totals.put);
      queue.ackRate.sample(now, queue.totals.acked);
    }
    if (now - this.#lastRefresh >= this.#refreshMs && this.#connected) {
      this.#lastRefresh = now;
      this.refresh().catch(() => {});
    }
  }

  stats(now: number, queueName?: string): QueueStats[] {
    const queues = queueName === undefined
      ? [...this.#queues.values()]
      : [this.#queue(queueName, false)];
    return queues.map((queue) => ({
      name: queue.name,
      ready: queue.snapshot.ready,
      delayed: queue.snapshot.delayed,
      inFlight: queue.snapshot.inFlight,
      dead: queue.snapshot.dead,
      consumers: queue.subs.length,
      waitingGets: queue.waits,
      waitingPuts: queue.waitingPuts,
      maxsize: queue.options.maxsize,
      paused: false,
      rateLimit: null,
      throttled: false,
      progress: [],
      totals: { ...queue.totals },
      rates: {
        put: queue.putRate.rate(now, queue.totals.put),
        acked: queue.ackRate.rate(now, queue.totals.acked),
      },
    }));
  }

  /** Reads stream and consumer info of every queue (or one) into the stats snapshot. */
  async refresh(queueName?: string): Promise<void> {
    if (queueName === undefined) await this.#loadExisting().catch(() => {});
    const queues = queueName === undefined
      ? [...this.#queues.values()]
      : [this.#queue(queueName, false)];
    let delayed: Record<string, number> = {};
    try {
      const info = await this.#jsm.streams.info(this.#delay.stream, {
        subjects_filter: this.#delay.subjects,
      });
      delayed = (info.state as { subjects?: Record<string, number> }).subjects ?? {};
    } catch {
      // Stats stay as they were; the next refresh tries again.
    }
    await Promise.all(queues.map(async (queue) => {
      try {
        if (queue.ensured) await queue.ensured;
        const [consumer, dead] = await Promise.all([
          this.#jsm.consumers.info(queue.stream, CONSUMER),
          queue.options.deadLetter === null ? Promise.resolve(null) : this.#streamInfo(
            queueNames(this.#prefix, queue.options.deadLetter).stream,
          ),
        ]);
        queue.snapshot = {
          ready: consumer.num_pending + consumer.num_redelivered,
          inFlight: Math.max(0, consumer.num_ack_pending - consumer.num_redelivered),
          dead: dead?.state.messages ?? 0,
          delayed: delayed[this.#delay.subject(queue.name)] ?? 0,
          at: Date.now(),
        };
      } catch {
        // Keep the last snapshot.
      }
    }));
  }

  async peek(queueName: string, limit: number): Promise<Job[]> {
    const queue = this.#queue(queueName, false);
    await this.#ready(queue, "peek at");
    try {
      const consumer = await this.#jsm.consumers.info(queue.stream, CONSUMER);
      const from = consumer.delivered.stream_seq + 1;
      return await this.#scan(queue.stream, from, limit, () => true);
    } catch (error) {
      throw this.#remote(error, "peek at", queue);
    }
  }

  async purge(queueName: string, _now: number): Promise<number> {
    const queue = this.#queue(queueName, false);
    await this.#ready(queue, "purge");
    try {
      const [main, delayed] = await Promise.all([
        this.#jsm.streams.purge(queue.stream),
        this.#jsm.streams.purge(this.#delay.stream, { filter: this.#delay.subject(queue.name) }),
      ]);
      this.#wakePuts(queue);
      await this.refresh(queue.name);
      return main.purged + delayed.purged;
    } catch (error) {
      throw this.#remote(error, "purge", queue);
    }
  }

  async deadList(queueName: string, limit: number): Promise<Job[]> {
    const queue = this.#queue(queueName, false);
    const dlq = this.#deadQueue(queue);
    try {
      const info = await this.#streamInfo(dlq.stream);
      if (info === null) return [];
      return await this.#scan(
        dlq.stream,
        info.state.first_seq,
        limit,
        (job) => job.origin === queueName,
      );
    } catch (error) {
      throw this.#remote(error, "list dead letters of", queue);
    }
  }

  async deadRequeue(
    queueName: string,
    ids: readonly string[] | null,
    _now: number,
  ): Promise<number> {
    const queue = this.#queue(queueName, false);
    const dlq = this.#deadQueue(queue);
    await this.#ready(dlq, "requeue dead letters of");
    await this.#ready(queue, "requeue dead letters to");
    const wanted = ids === null ? null : new Set(ids);
    let moved = 0;
    try {
      const info = await this.#jsm.streams.info(dlq.stream);
      const jobs = await this.#scan(
        dlq.stream,
        info.state.first_seq,
        Infinity,
        (job) => job.origin === queueName && (wanted === null || wanted.has(job.id)),
      );
      for (const job of jobs) {
        const h = headers();
        h.set(Header.id, job.id);
        h.set(Header.priority, String(job.priority));
        await this.#js.publish(queue.subject, job.payload, {
          headers: h,
          msgID: `requeue-${dlq.stream}-${job.seq}`,
        });
        await this.#jsm.streams.deleteMessage(dlq.stream, job.seq, false).catch((error) => {
          if (!isNotFound(error)) throw error;
        });
        moved++;
      }
    } catch (error) {
      throw this.#remote(error, `requeue dead letters (${moved} moved) of`, queue);
    }
    await this.refresh(queue.name).catch(() => {});
    return moved;
  }

  info(): BackendInfo {
    return {
      kind: "jetstream",
      servers: this.#nc.getServer(),
      connected: this.#connected,
      prefix: this.#prefix,
      replicas: this.#replicas,
      snapshotAgeMs: this.#lastRefresh === 0 ? null : Date.now() - this.#lastRefresh,
      limitations: [...LIMITATIONS],
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    // Jobs still leased go back at once rather than after their lease.
    for (const lease of [...this.#leases.values()]) {
      this.#endLease(lease);
      this.#respond(lease.reply, NAK);
    }
    try {
      for (const pull of this.#pulls.values()) pull.sub?.unsubscribe();
      await this.#nc.drain();
    } catch {
      await this.#nc.close().catch(() => {});
    }
  }

  // -- streams and consumers --

  async #ensureDelayStream(): Promise<void> {
    const { stream, subjects } = this.#delay;
    await this.#ensureStream(stream, "(delayed jobs)", {
      name: stream,
      subjects: [subjects],
      retention: RetentionPolicy.Workqueue,
      discard: DiscardPolicy.Old,
      max_msgs: -1,
      duplicate_window: this.#dedupeWindowMs * NS,
      num_replicas: this.#replicas,
      storage: StorageType.File,
      description: "taskwire delayed jobs",
    });
    await this.#ensureConsumer(stream, "(delayed jobs)", 30_000);
  }

  async #ensureQueue(queue: JsQueue, write: boolean): Promise<void> {
    const config: Partial<StreamConfig> & { name: string } = {
      name: queue.stream,
      subjects: [queue.subject],
      retention: RetentionPolicy.Workqueue,
      discard: DiscardPolicy.New,
      max_msgs: queue.options.maxsize === 0 ? -1 : queue.options.maxsize,
      duplicate_window: this.#dedupeWindowMs * NS,
      num_replicas: this.#replicas,
      storage: StorageType.File,
      description: describeQueue(queue.name, queue.options),
    };
    await this.#ensureStream(queue.stream, `"${queue.name}"`, config, write);
    await this.#ensureConsumer(queue.stream, `"${queue.name}"`, queue.options.leaseMs);
    // The dead-letter queue exists from the start, so dead-lettering never has
    // to create a stream (which a cluster missing a node may refuse).
    const dead = queue.options.deadLetter;
    if (dead !== null && !this.#queues.has(dead)) {
      const dlq = new JsQueue(dead, this.#prefix, defaultQueueOptions(dead));
      this.#queues.set(dead, dlq);
      dlq.ensured = this.#ensureQueue(dlq, false);
      dlq.ensured.catch(() => dlq.ensured = null);
      await dlq.ensured;
    }
  }

  async #ensureStream(
    stream: string,
    what: string,
    wanted: Partial<StreamConfig> & { name: string },
    write = true,
  ): Promise<void> {
    const info = await this.#streamInfo(stream);
    if (info === null) {
      try {
        await this.#jsm.streams.add(wanted);
        return;
      } catch (error) {
        // Another god created it just now: check that one instead.
        if (!/already in use/i.test(errorText(error)) || !write) throw error;
        return await this.#ensureStream(stream, what, wanted, false);
      }
    }
    const have = info.config;
    const refuse = (setting: string, value: unknown, need: unknown) =>
      new TaskwireError(
        ErrorCode.BadArgument,
        `Cannot use NATS stream "${stream}" for queue ${what}: its ${setting} is ${
          JSON.stringify(value)
        } but taskwire needs ${JSON.stringify(need)}. ` +
          `Delete the stream (nats stream rm ${stream}) if its jobs are not needed, or give the god another stream prefix`,
      );
    if (have.retention !== RetentionPolicy.Workqueue) {
      throw refuse("retention", have.retention, RetentionPolicy.Workqueue);
    }
    if (!(have.subjects ?? []).includes(wanted.subjects![0])) {
      throw refuse("subjects", have.subjects, wanted.subjects);
    }
    if (have.storage !== wanted.storage) throw refuse("storage", have.storage, wanted.storage);
    if (have.sealed || have.deny_delete) {
      throw refuse(have.sealed ? "sealed" : "deny_delete", true, false);
    }
    const changed =
      (["discard", "duplicate_window", "num_replicas"] as const).some((k) =>
        have[k] !== wanted[k]
      ) ||
      (write && (have.max_msgs !== wanted.max_msgs || have.description !== wanted.description));
    if (changed) {
      const update = { ...have, ...wanted };
      if (!write) {
        update.max_msgs = have.max_msgs;
        update.description = have.description;
      }
      try {
        await this.#jsm.streams.update(stream, update);
      } catch (error) {
        const setting = have.num_replicas !== wanted.num_replicas ? "num_replicas" : "settings";
        throw new TaskwireError(
          ErrorCode.BadArgument,
          `Cannot update NATS stream "${stream}" for queue ${what}: changing its ${setting} (${
            JSON.stringify(have[setting === "num_replicas" ? "num_replicas" : "discard"])
          } → ${
            JSON.stringify(wanted[setting === "num_replicas" ? "num_replicas" : "discard"])
          }) failed: ${errorText(error)}`,
          { cause: error },
        );
      }
    }
  }

  async #ensureConsumer(stream: string, what: string, leaseMs: number): Promise<void> {
    let info: ConsumerInfo | null = null;
    try {
      info = await this.#jsm.consumers.info(stream, CONSUMER);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    const wanted = {
      durable_name: CONSUMER,
      ack_policy: AckPolicy.Explicit,
      ack_wait: leaseMs * NS,
      max_deliver: -1,
      max_ack_pending: -1,
      max_waiting: 4096,
    };
    if (info === null) {
      try {
        await this.#jsm.consumers.add(stream, wanted);
        return;
      } catch (error) {
        // Another god created it just now: use that one.
        if (!/already in use|already exists/i.test(errorText(error))) throw error;
        info = await this.#jsm.consumers.info(stream, CONSUMER);
      }
    }
    const have = info.config;
    const refuse = (setting: string, value: unknown, need: unknown) =>
      new TaskwireError(
        ErrorCode.BadArgument,
        `Cannot use consumer "${CONSUMER}" of NATS stream "${stream}" for queue ${what}: its ${setting} is ${
          JSON.stringify(value)
        } but taskwire needs ${JSON.stringify(need)}. ` +
          `Delete the consumer (nats consumer rm ${stream} ${CONSUMER}); the jobs stay in the stream`,
      );
    if (have.ack_policy !== AckPolicy.Explicit) {
      throw refuse("ack_policy", have.ack_policy, AckPolicy.Explicit);
    }
    if (have.deliver_subject) throw refuse("deliver_subject (push)", have.deliver_subject, null);
    if (have.filter_subject) throw refuse("filter_subject", have.filter_subject, null);
    if (have.ack_wait !== wanted.ack_wait || have.max_deliver !== -1) {
      await this.#jsm.consumers.update(stream, CONSUMER, {
        ack_wait: wanted.ack_wait,
        max_deliver: -1,
      });
    }
  }

  async #streamInfo(stream: string): Promise<StreamInfo | null> {
    try {
      return await this.#jsm.streams.info(stream);
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  /** Learns the queues other gods created (from stream descriptions). */
  async #loadExisting(): Promise<void> {
    const lister = this.#jsm.streams.list();
    for await (const info of lister) {
      const parsed = parseDescription(info.config.description);
      if (parsed === null || !info.config.name.startsWith(`${this.#prefix}_`)) continue;
      if (info.config.name !== queueNames(this.#prefix, parsed.name).stream) continue;
      const known = this.#queues.get(parsed.name);
      if (known) {
        if (known.ensured === null) known.options = parsed.options;
        continue;
      }
      const queue = new JsQueue(parsed.name, this.#prefix, parsed.options);
      this.#queues.set(parsed.name, queue);
    }
  }

  /** The queue named `name`, creating it (in the background) when allowed. */
  #queue(name: string, create = this.#allowCreate): JsQueue {
    const queue = this.#queues.get(name);
    if (queue) {
      if (queue.ensured === null) {
        queue.ensured = this.#ensureQueue(queue, false);
        queue.ensured.catch(() => queue.ensured = null);
      }
      return queue;
    }
    if (!create) throw new RemoteError(ErrorCode.UnknownQueue, `Unknown queue "${name}"`);
    const options = resolveQueueOptions(name, undefined, {});
    const created = new JsQueue(name, this.#prefix, options);
    this.#queues.set(name, created);
    created.ensured = this.#ensureQueue(created, true);
    created.ensured.catch(() => created.ensured = null);
    return created;
  }

  #deadQueue(queue: JsQueue): JsQueue {
    if (queue.options.deadLetter === null) {
      throw new RemoteError(
        ErrorCode.BadArgument,
        `Queue "${queue.name}" has no dead-letter queue`,
      );
    }
    return this.#queue(queue.options.deadLetter, true);
  }

  async #ready(queue: JsQueue, action: string): Promise<void> {
    try {
      if (queue.ensured === null) this.#queue(queue.name);
      await queue.ensured;
    } catch (error) {
      throw this.#remote(error, action, queue);
    }
  }

  #whenEnsured(queue: JsQueue, then: () => void, fail: (error: unknown) => void): void {
    if (queue.ensured === null) {
      fail(new Error("the queue's stream could not be set up"));
      return;
    }
    queue.ensured.then(then, fail);
  }

  // -- puts --

  async #put(
    owner: Owner | null,
    queue: JsQueue,
    items: PutItem[],
    deadline: number,
  ): Promise<PutResult> {
    await this.#ready(queue, "put to");
    const result = { accepted: 0, duplicates: 0 };
    const one = async (item: PutItem): Promise<void> => {
      const h = headers();
      h.set(Header.id, item.id);
      if (item.priority !== 0) h.set(Header.priority, String(item.priority));
      let subject = queue.subject;
      if (item.delayMs > 0) {
        subject = this.#delay.subject(queue.name);
        h.set(Header.readyAt, String(Date.now() + item.delayMs));
        h.set(Header.queue, queue.name);
      }
      const ack = await this.#publish(owner, queue, subject, item, h, deadline, result);
      if (ack === null) return;
      if (ack.duplicate) {
        result.duplicates++;
        queue.totals.duplicates++;
      } else {
        result.accepted++;
        queue.totals.put++;
      }
    };
    if (queue.options.maxsize > 0) {
      // One at a time, so a full queue cannot reorder the batch.
      for (const item of items) await one(item);
    } else {
      await Promise.all(items.map(one));
    }
    return result;
  }

  /** Publishes one job, waiting while the queue is full or NATS is away, up to `deadline`. */
  async #publish(
    owner: Owner | null,
    queue: JsQueue,
    subject: string,
    item: PutItem,
    h: ReturnType<typeof headers>,
    deadline: number,
    result: PutResult,
  ): Promise<{ duplicate: boolean } | null> {
    let pause = 5;
    const unavailableUntil = Math.min(deadline, Date.now() + this.#unavailableWaitMs);
    for (;;) {
      if (owner !== null && this.#released.has(owner)) return null;
      try {
        const ack = await this.#js.publish(subject, item.payload, {
          msgID: item.id,
          headers: h,
          timeout: Math.max(1_000, Math.min(5_000, deadline - Date.now())),
        });
        return { duplicate: ack.duplicate };
      } catch (error) {
        const full = isFull(error);
        const now = Date.now();
        if (full ? now >= deadline : now >= unavailableUntil) {
          if (full) {
            throw new RemoteError(
              ErrorCode.QueueFull,
              `Cannot put to queue "${queue.name}": still full (maxsize ${queue.options.maxsize}) after waiting; ${result.accepted} jobs were stored`,
            );
          }
          throw error;
        }
        if (full) {
          queue.waitingPuts++;
          await new Promise<void>((resolve) => {
            const wake = () => {
              clearTimeout(timer);
              queue.roomWaiters.delete(wake);
              resolve();
            };
            const timer = setTimeout(wake, Math.min(pause, Math.max(0, deadline - now)));
            queue.roomWaiters.add(wake);
          });
          queue.waitingPuts--;
          pause = Math.min(pause * 2, 200);
        } else {
          await sleep(Math.min(pause * 10, 500));
          pause = Math.min(pause * 2, 100);
        }
      }
    }
  }

  #roomFreed(queue: JsQueue): void {
    if (queue.roomWaiters.size > 0 && queue.options.maxsize > 0) this.#wakePuts(queue);
  }

  #wakePuts(queue: JsQueue): void {
    for (const wake of [...queue.roomWaiters]) wake();
  }

  // -- pulls --

  #pull(queue: JsQueue | null, target: Pull["target"], batch: number, expiresMs: number): void {
    const id = this.#pullId++;
    const stream = queue?.stream ?? this.#delay.stream;
    const noWait = expiresMs <= 0;
    const pull: Pull = {
      id,
      queue,
      target,
      batch,
      received: 0,
      expiresAt: Date.now() + Math.max(0, expiresMs),
      sub: null,
    };
    this.#pulls.set(id, pull);
    const request = noWait
      ? { batch, no_wait: true }
      : { batch, expires: Math.max(1, Math.floor(expiresMs)) * NS };
    try {
      pull.sub = this.#nc.subscribe(`${this.#inbox}.${id}`, {
        callback: (error, msg) => {
          if (error === null) this.#onPullMessage(pull, msg);
        },
      });
      this.#nc.publish(
        `$JS.API.CONSUMER.MSG.NEXT.${stream}.${CONSUMER}`,
        ENCODER.encode(JSON.stringify(request)),
        { reply: `${this.#inbox}.${id}` },
      );
    } catch {
      // The connection is closed or draining: the sweep ends this pull.
    }
  }

  #pullForWait(wait: GetWait, first: boolean): void {
    if (wait.done === null) return;
    const left = wait.deadline - Date.now();
    if (left <= 0 && !first) {
      this.#endWait(wait, wait.lastError ? this.#unavailable(wait.lastError, wait.queue) : null);
      return;
    }
    this.#pull(wait.queue, wait, 1, left <= 0 ? 0 : Math.min(left, PULL_CHUNK_MS));
  }

  #pumpSub(sub: JsSub): void {
    if (sub.cancelled || !this.#connected || sub.jsQueue.ensured === null) return;
    const room = sub.prefetch - sub.inFlight - sub.requested;
    if (room <= 0) return;
    if (sub.requested > 0 && room < Math.max(1, Math.floor(sub.prefetch / 2))) return;
    sub.requested += room;
    this.#pull(sub.jsQueue, sub, room, PULL_CHUNK_MS);
  }

  #pumpMover(): void {
    if (!this.#moverReady || this.#closed || !this.#connected) return;
    const room = 256 - this.#mover.requested;
    if (room < 128) return;
    this.#mover.requested += room;
    this.#pull(null, this.#mover, room, PULL_CHUNK_MS);
  }

  /** A message on a pull request's inbox: a job, or a status that ends the request. */
  #onPullMessage(pull: Pull, msg: Msg): void {
    const code = msg.headers?.code ?? 0;
    if (!msg.reply || code >= 100) {
      if (code === 100) return;
      this.#endPull(pull, code, msg.headers?.description ?? "");
      return;
    }
    const delivery = parseAckSubject(msg.reply);
    if (!this.#pulls.has(pull.id) || delivery === null) {
      // A job for a pull this god already gave up on: straight back.
      this.#respond(msg.reply, NAK);
      return;
    }
    pull.received++;
    if (pull.received >= pull.batch) {
      this.#pulls.delete(pull.id);
      pull.sub?.unsubscribe();
    }
    const target = pull.target;
    if ("kind" in target) {
      target.requested--;
      this.#moveDelayed(msg).finally(() => this.#pumpMover());
      return;
    }
    const queue = pull.queue!;
    if ("prefetch" in target) target.requested--;
    const job = this.#job(msg, delivery.seq, delivery.deliveries);
    const stale = queue.bySeq.get(delivery.seq);
    if (stale !== undefined) {
      // JetStream redelivered it: the lease this god still had is over.
      this.#endLease(stale);
      queue.totals.expired++;
    }
    if (job.attempts > 1) queue.totals.redelivered++;
    if (queue.options.deadLetter !== null && job.attempts > queue.options.maxAttempts) {
      // This delivery is not an attempt: the last one ended when its lease ran out.
      job.attempts--;
      const lease = this.#makeLease(queue, msg.reply, job, null, null);
      this.#deadLetter(queue, lease, `lease expired after ${job.attempts} attempts`)
        .catch((error) => {
          this.#log({ event: "error", error: `cannot dead-letter: ${errorText(error)}` });
        });
      if ("prefetch" in target) this.#pumpSub(target);
      else this.#pullForWait(target, true);
      return;
    }
    if ("prefetch" in target) {
      if (target.cancelled) {
        this.#respond(msg.reply, NAK);
        return;
      }
      const lease = this.#makeLease(queue, msg.reply, job, target.owner, target);
      target.batch.push({ tag: lease.tag, queue: queue.name, job });
      if (!target.flushing) {
        target.flushing = true;
        queueMicrotask(() => this.#flush(target));
      }
      if (pull.received >= pull.batch) this.#pumpSub(target);
      return;
    }
    if (target.done === null) {
      this.#respond(msg.reply, NAK);
      return;
    }
    const lease = this.#makeLease(queue, msg.reply, job, target.owner, null);
    this.#endWait(target, { tag: lease.tag, queue: queue.name, job });
  }

  #flush(sub: JsSub): void {
    sub.flushing = false;
    const batch = sub.batch;
    sub.batch = [];
    if (batch.length === 0) return;
    if (sub.cancelled) {
      for (const d of batch) {
        const lease = this.#leases.get(d.tag);
        if (lease) {
          this.#endLease(lease);
          this.#respond(lease.reply, NAK);
        }
      }
      return;
    }
    sub.deliver(batch);
  }

  /** A pull request ended (expired, no messages, or refused): carry on for its target. */
  #endPull(pull: Pull, code: number, description: string): void {
    if (!this.#pulls.delete(pull.id)) return;
    pull.sub?.unsubscribe();
    const target = pull.target;
    const missing = pull.batch - pull.received;
    const trouble = code === 503 || code === 409 && !/Exceeded Max/i.test(description)
      ? `${code} ${description}`.trim()
      : null;
    if ("kind" in target) {
      target.requested -= missing;
      setTimeout(() => this.#pumpMover(), trouble || code === 409 ? 500 : 0);
      return;
    }
    if ("prefetch" in target) {
      target.requested -= missing;
      if (trouble !== null || code === 409) setTimeout(() => this.#pumpSub(target), 250);
      else this.#pumpSub(target);
      return;
    }
    if (target.done === null) return;
    if (trouble !== null || code === 409) {
      target.lastError = trouble ?? description;
      if (Date.now() + 250 < target.deadline) {
        setTimeout(() => this.#pullForWait(target, false), 250);
        return;
      }
    } else {
      target.lastError = null;
    }
    if (code === 404 || Date.now() >= target.deadline - 1) {
      this.#endWait(
        target,
        target.lastError !== null ? this.#unavailable(target.lastError, target.queue) : null,
      );
      return;
    }
    this.#pullForWait(target, false);
  }

  #endWait(wait: GetWait, result: Delivery | null | RemoteError, call = true): void {
    const done = wait.done;
    if (done === null) return;
    wait.done = null;
    wait.queue.waits--;
    const waits = this.#waits.get(wait.owner);
    waits?.delete(wait);
    if (waits?.size === 0) this.#waits.delete(wait.owner);
    if (call) done(result);
  }

  /** Ends pulls lost with a connection or a NATS node; called every second. */
  #sweep(now: number): void {
    for (const pull of [...this.#pulls.values()]) {
      if (now > pull.expiresAt + PULL_GRACE_MS) this.#endPull(pull, 408, "lost");
    }
    this.#pumpMover();
  }

  // -- leases --

  #job(msg: Msg, seq: number, attempts: number): Job {
    const h = msg.headers;
    const job: Job = {
      seq,
      id: h?.get(Header.id) || h?.get(Header.msgId) || `js-${seq}`,
      payload: msg.string(),
      priority: Number(h?.get(Header.priority) || 0),
      attempts,
      readyAt: 0,
    };
    const reason = h?.get(Header.reason);
    if (reason) {
      job.reason = reason;
      job.origin = h?.get(Header.origin) || undefined;
    }
    return job;
  }

  #makeLease(
    queue: JsQueue,
    reply: string,
    job: Job,
    owner: Owner | null,
    sub: JsSub | null,
  ): Lease {
    const tag = this.#tag++;
    const lease: Lease = {
      tag,
      queue,
      reply,
      seq: job.seq,
      job,
      owner: owner as Owner,
      sub,
      deadline: Date.now() + queue.options.leaseMs,
      ended: owner === null,
    };
    if (owner === null) return lease;
    this.#leases.set(tag, lease);
    queue.bySeq.set(job.seq, lease);
    queue.leaseOrder.push(lease);
    owner.leases.add(tag);
    queue.inFlight++;
    if (sub) sub.inFlight++;
    return lease;
  }

  #ownLease(owner: Owner, tag: number): Lease | string {
    const lease = this.#leases.get(tag);
    if (lease === undefined) {
      return `No lease ${tag}: it was already acked or nacked, or it expired and the job went back to the queue`;
    }
    if (lease.owner !== owner) return `Lease ${tag} belongs to another connection`;
    return lease;
  }

  #endLease(lease: Lease): void {
    if (lease.ended) return;
    lease.ended = true;
    const order = lease.queue.leaseOrder;
    while (order.length > 0 && order.peek()!.ended) order.shift();
    this.#leases.delete(lease.tag);
    if (lease.queue.bySeq.get(lease.seq) === lease) lease.queue.bySeq.delete(lease.seq);
    lease.owner.leases.delete(lease.tag);
    lease.queue.inFlight--;
    if (lease.sub) lease.sub.inFlight--;
  }

  /** A job a consumer handed back: nak (with delay), or dead when attempts are used up. */
  #giveBack(lease: Lease, delayMs: number, why: string): void | Promise<void> {
    const { queue, job } = lease;
    if (queue.options.deadLetter !== null && job.attempts >= queue.options.maxAttempts) {
      return this.#deadLetter(queue, lease, `${why} after ${job.attempts} attempts`);
    }
    this.#respond(
      lease.reply,
      delayMs > 0 ? ENCODER.encode(`-NAK ${JSON.stringify({ delay: delayMs * NS })}`) : NAK,
    );
  }

  /** Publishes the job to the dead-letter queue's stream, then acks it here. */
  async #deadLetter(queue: JsQueue, lease: Lease, reason: string): Promise<void> {
    if (queue.options.deadLetter === null) {
      this.#respond(lease.reply, NAK);
      return;
    }
    const dlq = this.#queue(queue.options.deadLetter, true);
    await this.#ready(dlq, "dead-letter a job into");
    const h = headers();
    h.set(Header.id, lease.job.id);
    h.set(Header.priority, String(lease.job.priority));
    h.set(Header.reason, reason);
    h.set(Header.origin, queue.name);
    h.set(Header.attempts, String(lease.job.attempts));
    try {
      await this.#js.publish(dlq.subject, lease.job.payload, {
        headers: h,
        msgID: `dead-${queue.stream}-${lease.seq}`,
      });
      await this.#confirm(lease.reply, ACK);
    } catch (error) {
      // Not moved: the job stays in its queue and comes back when its lease runs out.
      throw this.#remote(error, "dead-letter a job of", queue);
    }
    queue.totals.deadLettered++;
    this.#roomFreed(queue);
  }

  /** A delayed job: back to sleep until due, or on to its queue. */
  async #moveDelayed(msg: Msg): Promise<void> {
    const h = msg.headers;
    const readyAt = Number(h?.get(Header.readyAt) || 0);
    const name = h?.get(Header.queue) || "";
    const now = Date.now();
    if (readyAt > now) {
      this.#respond(
        msg.reply!,
        ENCODER.encode(`-NAK ${JSON.stringify({ delay: (readyAt - now) * NS })}`),
      );
      return;
    }
    try {
      const queue = this.#queue(name, true);
      await queue.ensured;
      const out = headers();
      for (const key of [Header.id, Header.priority]) {
        const value = h?.get(key);
        if (value) out.set(key, value);
      }
      await this.#js.publish(queue.subject, msg.data, {
        headers: out,
        msgID: h?.get(Header.msgId) || undefined,
      });
      await this.#confirm(msg.reply!, ACK);
    } catch (error) {
      // Full queue or NATS trouble: try again shortly.
      this.#respond(msg.reply!, ENCODER.encode(`-NAK ${JSON.stringify({ delay: 250 * NS })}`));
      if (!isFull(error)) {
        this.#log({
          event: "error",
          error: `cannot move a delayed job to "${name}": ${errorText(error)}`,
        });
      }
    }
  }

  // -- NATS plumbing --

  #respond(reply: string, body: Uint8Array): void {
    try {
      this.#nc.publish(reply, body);
    } catch {
      // Closed: JetStream redelivers when the lease runs out.
    }
  }

  /** Sends an ack and waits for JetStream to confirm it. */
  async #confirm(reply: string, body: Uint8Array): Promise<void> {
    await this.#nc.request(reply, body, { timeout: 5_000 });
  }

  #checkConnected(action: string, queue: JsQueue): void {
    if (!this.#connected) throw this.#unavailable("disconnected", queue, action);
  }

  #unavailable(why: string, queue: JsQueue, action = "reach the store of"): RemoteError {
    return new RemoteError(
      ErrorCode.Unavailable,
      `Cannot ${action} queue "${queue.name}": the god's NATS JetStream store is unavailable (${why}); try again shortly`,
    );
  }

  /** Turns a failure into what a client should see. */
  #remote(error: unknown, action: string, queue: JsQueue): RemoteError {
    if (error instanceof RemoteError) return error;
    if (error instanceof TaskwireError) {
      return new RemoteError(error.code, error.message, { cause: error });
    }
    return new RemoteError(
      ErrorCode.Unavailable,
      `Cannot ${action} queue "${queue.name}": the god's NATS JetStream store did not answer (${
        errorText(error)
      }); try again shortly`,
      { cause: error },
    );
  }

  #watchStatus(): void {
    (async () => {
      for await (const status of this.#nc.status()) {
        if (status.type === "disconnect") {
          this.#connected = false;
          this.#log({ event: "nats", state: "disconnected", server: status.server });
        } else if (status.type === "reconnect") {
          this.#connected = true;
          this.#log({ event: "nats", state: "reconnected", server: status.server });
          // Pull requests died with the old connection: ask again.
          for (const pull of [...this.#pulls.values()]) this.#endPull(pull, 408, "reconnected");
          for (const queue of this.#queues.values()) {
            for (const sub of queue.subs) this.#pumpSub(sub);
          }
          this.#pumpMover();
        }
      }
    })().catch(() => {});
  }

  /** Reads up to `limit` messages of `stream` from `from` on, those `keep` accepts. */
  async #scan(
    stream: string,
    from: number,
    limit: number,
    keep: (job: Job) => boolean,
  ): Promise<Job[]> {
    const jobs: Job[] = [];
    const info = await this.#jsm.streams.info(stream);
    if (info.state.messages === 0) return jobs;
    const last = info.state.last_seq;
    let seq = Math.max(from, info.state.first_seq, 1);
    // Bounded: never more lookups than the stream has sequence numbers.
    while (jobs.length < limit && seq <= last) {
      const stored = await this.#jsm.streams.getMessage(stream, { seq });
      seq++;
      if (stored === null) continue;
      const h = stored.header;
      const job: Job = {
        seq: stored.seq,
        id: h?.get(Header.id) || h?.get(Header.msgId) || `js-${stored.seq}`,
        payload: stored.string(),
        priority: Number(h?.get(Header.priority) || 0),
        attempts: Number(h?.get(Header.attempts) || 0),
        readyAt: 0,
      };
      const reason = h?.get(Header.reason);
      if (reason) {
        job.reason = reason;
        job.origin = h?.get(Header.origin) || undefined;
      }
      if (keep(job)) jobs.push(job);
    }
    return jobs;
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
