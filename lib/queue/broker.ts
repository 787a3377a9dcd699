/**
 * The god's queue rules, with no I/O: named queues, leases, parked gets, push
 * subscriptions, delays, priorities, dead letters, dedupe and backpressure.
 *
 * Time comes in as `now` arguments; the driver asks {@link Broker.nextDeadline}
 * when to call {@link Broker.tick} next. Results that may wait (a get on an
 * empty queue, a put to a full one) come back through callbacks, and pushes to
 * subscribers through the `deliver` function each subscription was made with.
 * Every durable change is reported to `journal`, in order. Arguments come
 * checked by the operations layer (lib/queue/arguments.ts); the broker checks
 * only what it alone knows (queue names and options, leases).
 */
import { ErrorCode, LimitError, RemoteError } from "../protocol/errors.ts";
import { Heap } from "./heap.ts";
import { Deque } from "./deque.ts";
import { RateMeter } from "./rate.ts";
import { ReadyQueue } from "./ready_queue.ts";
import { copyJob, idsOf, type LiveJobs, PackedJobs } from "./packed_jobs.ts";
import { SeenIds } from "./seen_ids.ts";
import { IntMap } from "./int_map.ts";
import type {
  BackendEvents,
  InFlightJob,
  Owner,
  PutResult,
  QueueBackend,
  ResultPut,
  Subscription,
} from "./backend.ts";
import { backoffDelay, defaultQueueOptions, resolveQueueOptions } from "./options.ts";
import { ScheduleBook, scheduledJobId, type ScheduleRequest } from "./schedules.ts";
import type {
  Attempt,
  Delivery,
  Job,
  JournalRecord,
  PutItem,
  QueueOptions,
  QueueStats,
  Schedule,
} from "./types.ts";
import type { ProgressInfo, ScheduleInfo } from "../protocol/replies.ts";

interface Waiter {
  owner: Owner;
  queue: string;
  deadline: number;
  done: ((delivery: Delivery | null) => void) | null;
}

interface PendingPut {
  owner: Owner | null;
  queue: string;
  items: PutItem[];
  next: number;
  accepted: number;
  duplicates: number;
  deadline: number;
  done: ((result: PutResult | RemoteError) => void) | null;
}

interface Lease {
  tag: number;
  queue: NamedQueue;
  job: Job;
  owner: Owner;
  subscription: Subscription | null;
  deadline: number;
  ended: boolean;
  /** The job's last progress (superjson text) and when it came; in memory only. */
  progress?: string;
  progressAt?: number;
}

/** Settings of the whole broker. */
export interface BrokerOptions {
  /** Queues that exist from the start, with their options. */
  queues?: Record<string, Partial<QueueOptions>>;
  /** Whether clients may create queues by using a new name (default true). */
  allowCreate?: boolean;
  /** A put id seen within this window is ignored (default 10 minutes). */
  dedupeWindowMs?: number;
  /** At most this many remembered put ids per queue; the oldest are forgotten first. */
  dedupeMaxIds?: number;
  /** Most queues (default 10,000). */
  maxQueues?: number;
  /** Ready jobs of a priority kept as objects before they are packed (default 512; see ready_queue.ts). */
  packAt?: number;
  /** Receives every durable change, in order. */
  journal?: (record: JournalRecord) => void;
  /** Random numbers in [0, 1) for backoff jitter (default Math.random; tests pass their own). */
  random?: () => number;
}

class NamedQueue {
  readonly name: string;
  options: QueueOptions;
  readonly ready: ReadyQueue;
  readonly delayed = new Heap<Job>((a, b) =>
    a.readyAt < b.readyAt || (a.readyAt === b.readyAt && a.seq < b.seq)
  );
  /** Parked gets and waiting puts; entries whose `done` is null ended early and are skipped. */
  waiters = new Deque<Waiter>();
  puts = new Deque<PendingPut>();
  /** Live entries in `waiters` and `puts`. */
  parkedGets = 0;
  parkedPuts = 0;
  /** Every live subscription of this queue. */
  readonly subscriptions = new Set<Subscription>();
  /**
   * Subscriptions with room, in round-robin order: a job goes to the front
   * one, which goes to the back if it still has room. Entries in `withRoom`
   * are the live ones (cancelled or full subscriptions are dropped when they
   * reach the front), so each step is O(1) however many subscriptions there are.
   */
  readonly rotation = new Deque<Subscription>();
  readonly withRoom = new Set<Subscription>();
  inFlight = 0;
  delayedCount = 0;
  /**
   * Leases in deadline order. A queue's lease time is fixed, so deadlines only
   * grow and a FIFO is enough; ended leases are dropped from the front as they end.
   */
  leaseOrder = new Deque<Lease>();
  /** Leases whose job reported progress (so stats need not visit every lease). */
  readonly reporting = new Set<Lease>();
  /** Put ids seen within the dedupe window (made at the first put). */
  dedupe: SeenIds | null = null;
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
  /**
   * The rate limit's window: the times of the last `count` hand-outs, in a
   * ring (allocated when a limit is set). A job may go when the oldest of
   * them is `perMs` old, so no window of `perMs` ever holds more than
   * `count`, however the consumers are spread over connections. (A token
   * bucket would let a full bucket's burst and its refill meet in one
   * window: up to twice the limit.)
   */
  #handouts: Float64Array | null = null;
  #head = 0;
  #filled = 0;

  constructor(name: string, options: QueueOptions, packAt?: number) {
    this.name = name;
    this.options = options;
    this.ready = new ReadyQueue({ packAt });
  }

  /** The options changed: a new rate limit starts with an empty window. */
  setOptions(options: QueueOptions): void {
    const before = this.options.rateLimit;
    const after = options.rateLimit;
    this.options = options;
    if (before?.count !== after?.count || before?.perMs !== after?.perMs) {
      this.#handouts = null;
      this.#head = 0;
      this.#filled = 0;
    }
  }

  /** Whether a job may be handed out now: not paused, and within the rate limit (counting it). */
  mayHandOut(now: number): boolean {
    if (this.options.paused) return false;
    const limit = this.options.rateLimit;
    if (limit === null) return true;
    const ring = this.#handouts ??= new Float64Array(limit.count);
    if (this.#filled < limit.count) {
      ring[(this.#head + this.#filled++) % limit.count] = now;
      return true;
    }
    if (now - ring[this.#head] < limit.perMs) return false;
    ring[this.#head] = now;
    this.#head = (this.#head + 1) % limit.count;
    return true;
  }

  /** When the rate limit lets the next job go (epoch ms), for a queue held back by it. */
  nextToken(): number {
    const limit = this.options.rateLimit;
    if (limit === null || this.#handouts === null || this.#filled < limit.count) return 0;
    return this.#handouts[this.#head] + limit.perMs;
  }

  get waiting(): number {
    return this.ready.length + this.delayedCount;
  }

  hasRoom(): boolean {
    return this.options.maxsize === 0 || this.waiting < this.options.maxsize;
  }
}

/**
 * The queue rules. One per god.
 *
 * @example
 * ```ts
 * const broker = new Broker({ queues: { tasks: {}, results: {} } });
 * const owner = new Owner();
 * broker.put(owner, "tasks", [{ id: "a", payload, priority: 0, delayMs: 0 }], { now: Date.now() }, console.log);
 * broker.get(owner, "tasks", { timeoutMs: 0, now: Date.now() }, (delivery) => console.log(delivery));
 * ```
 */
export class Broker implements QueueBackend {
  readonly #queues = new Map<string, NamedQueue>();
  readonly #leases = new IntMap<Lease>();
  readonly #waitDeadlines = new Heap<Waiter | PendingPut>((a, b) => a.deadline < b.deadline);
  readonly #allowCreate: boolean;
  readonly #dedupeWindowMs: number;
  readonly #dedupeMaxIds: number;
  readonly #maxQueues: number;
  readonly #packAt: number | undefined;
  readonly #journal: ((record: JournalRecord) => void) | null;
  readonly #random: () => number;
  readonly #schedules = new ScheduleBook();
  #seq = 1;
  #tag = 1;
  #subscriptionId = 1;
  /** Queues with delayed jobs, so tick need not visit every queue. */
  readonly #delayedQueues = new Set<NamedQueue>();
  /** Queues held back by their rate limit while jobs wait, to dispatch when a token is due. */
  readonly #throttled = new Set<NamedQueue>();
  /** Queues with leases in flight, so tick need not visit every queue. */
  readonly #leasedQueues = new Set<NamedQueue>();
  /** Parked gets and puts, across queues (to know when the deadline heap is mostly stale). */
  #parked = 0;
  /** Told when a called job dies (see {@link Broker.watch}). */
  #events: BackendEvents | null = null;
  /** What each owner has parked, so its waits end when it goes away. */
  readonly #parkedBy = new Map<Owner, Set<Waiter | PendingPut>>();

  constructor(options: BrokerOptions = {}) {
    this.#allowCreate = options.allowCreate ?? true;
    this.#dedupeWindowMs = options.dedupeWindowMs ?? 600_000;
    this.#dedupeMaxIds = options.dedupeMaxIds ?? 1_000_000;
    this.#maxQueues = options.maxQueues ?? 10_000;
    this.#packAt = options.packAt;
    this.#journal = options.journal ?? null;
    this.#random = options.random ?? Math.random;
    for (const [name, queueOptions] of Object.entries(options.queues ?? {})) {
      this.declare(name, queueOptions);
    }
  }

  /** Tells `events` when a called job is dead-lettered. */
  watch(events: BackendEvents): void {
    this.#events = events;
  }

  /** Names of all queues. */
  get queueNames(): string[] {
    return [...this.#queues.keys()];
  }

  /** The next sequence number; the store uses it to resume numbering after recovery. */
  get nextSeq(): number {
    return this.#seq;
  }

  /** Creates a queue, or changes an existing queue's options. */
  declare(
    name: string,
    options: Partial<QueueOptions> = {},
    now: number = Date.now(),
  ): QueueOptions {
    const merged = resolveQueueOptions(name, this.#queues.get(name)?.options, options);
    let queue = this.#queues.get(name);
    if (queue === undefined) {
      if (this.#queues.size >= this.#maxQueues) {
        throw new LimitError(
          "queues",
          `Cannot create queue "${name}": the god already has ${this.#maxQueues} queues (maxQueues)`,
        );
      }
      queue = new NamedQueue(name, merged, this.#packAt);
      this.#queues.set(name, queue);
    } else {
      queue.setOptions(merged);
    }
    this.#journal?.({ t: "declare", q: name, options: merged });
    // Resumed, or a limit raised: hand out what can go now.
    this.#dispatch(queue, now);
    return merged;
  }

  /**
   * Adds jobs. Resolves once all are stored (repeats of an id seen within the
   * dedupe window count as duplicates, not jobs). If the queue is full the put
   * waits up to `timeoutMs` for room, storing jobs as room appears; when the
   * time runs out it fails with `queue_full`, saying how many were stored.
   */
  put(
    owner: Owner | null,
    queueName: string,
    items: PutItem[],
    options: { now: number; timeoutMs?: number },
    done: (result: PutResult | RemoteError) => void,
  ): void {
    let queue: NamedQueue;
    try {
      queue = this.#queue(queueName);
    } catch (error) {
      done(error as RemoteError);
      return;
    }
    const pending: PendingPut = {
      owner,
      queue: queueName,
      items,
      next: 0,
      accepted: 0,
      duplicates: 0,
      deadline: options.now + (options.timeoutMs ?? 30_000),
      done,
    };
    if (queue.parkedPuts === 0) this.#admit(queue, pending, options.now);
    if (pending.next < items.length) {
      queue.puts.push(pending);
      queue.parkedPuts++;
      if (owner) this.#holdWait(owner, pending);
      this.#park(pending);
    } else {
      pending.done = null;
      done({ accepted: pending.accepted, duplicates: pending.duplicates });
    }
    this.#dispatch(queue, options.now);
  }

  /** Leases the next ready job to `owner`, waiting up to `timeoutMs`; null when none came. */
  get(
    owner: Owner,
    queueName: string,
    options: { now: number; timeoutMs: number },
    done: (delivery: Delivery | null) => void,
  ): void {
    const queue = this.#queue(queueName);
    if (queue.ready.length > 0 && queue.parkedGets === 0 && this.#mayHandOut(queue, options.now)) {
      done(this.#lease(queue, queue.ready.shift()!, owner, null, options.now));
      this.#admitWaitingPuts(queue, options.now);
      return;
    }
    if (options.timeoutMs === 0) {
      done(null);
      return;
    }
    const waiter: Waiter = {
      owner,
      queue: queueName,
      deadline: options.now + options.timeoutMs,
      done,
    };
    queue.waiters.push(waiter);
    queue.parkedGets++;
    this.#holdWait(owner, waiter);
    this.#park(waiter);
  }

  /** Starts pushing jobs of `queueName` to `deliver`, at most `prefetch` unacked at a time. */
  subscribe(
    owner: Owner,
    queueName: string,
    options: { prefetch: number; now: number },
    deliver: (deliveries: Delivery[]) => void,
  ): Subscription {
    const queue = this.#queue(queueName);
    const { prefetch } = options;
    const subscription: Subscription = {
      id: this.#subscriptionId++,
      owner,
      queue: queueName,
      prefetch,
      inFlight: 0,
      deliver,
      cancelled: false,
    };
    queue.subscriptions.add(subscription);
    owner.subscriptions.add(subscription);
    this.#hasRoom(queue, subscription);
    this.#dispatch(queue, options.now);
    return subscription;
  }

  /** Stops pushing to a subscription; its unacked jobs stay leased until acked or expired. */
  unsubscribe(subscription: Subscription): void {
    if (subscription.cancelled) return;
    subscription.cancelled = true;
    subscription.owner.subscriptions.delete(subscription);
    const queue = this.#queues.get(subscription.queue);
    if (queue) {
      queue.subscriptions.delete(subscription);
      queue.withRoom.delete(subscription);
      // Its entry in the rotation is dropped when reached; many such entries are swept at once.
      if (queue.rotation.length > 2 * queue.withRoom.size + 64) {
        const live = [];
        for (let sub = queue.rotation.shift(); sub !== undefined; sub = queue.rotation.shift()) {
          if (queue.withRoom.has(sub)) live.push(sub);
        }
        for (const sub of live) queue.rotation.push(sub);
      }
    }
  }

  /** Puts a subscription that has room (back) into its queue's rotation. */
  #hasRoom(queue: NamedQueue, subscription: Subscription): void {
    if (
      subscription.cancelled || subscription.inFlight >= subscription.prefetch ||
      queue.withRoom.has(subscription)
    ) return;
    queue.withRoom.add(subscription);
    queue.rotation.push(subscription);
  }

  /** Finishes leased jobs. Returns the tags that could not be acked, with why. */
  ack(owner: Owner, tags: readonly number[], now: number): { tag: number; message: string }[] {
    const failures: { tag: number; message: string }[] = [];
    const touched = new Set<NamedQueue>();
    for (const tag of tags) {
      const lease = this.#ownLease(owner, tag);
      if (typeof lease === "string") {
        failures.push({ tag, message: lease });
        continue;
      }
      this.#endLease(lease);
      const { queue, job } = lease;
      queue.totals.acked++;
      this.#journal?.({ t: "ack", q: queue.name, seq: job.seq });
      touched.add(queue);
    }
    for (const queue of touched) this.#dispatch(queue, now);
    return failures;
  }

  /**
   * Finishes leased jobs, each together with the result `route` gives for it
   * (or none), in one step: one journal record per job, so after a crash
   * either both the ack and the result happened or neither. A task's result
   * is therefore stored once without a dedupe of its id: only the holder of
   * the lease can complete, a completion ends the lease, and a task
   * redelivered was never completed. Returns the tags that could not be
   * completed, with why (a full or unknown result queue); their leases stay.
   */
  complete(
    owner: Owner,
    tags: readonly number[],
    route: (job: Job, queue: string, index: number) => ResultPut | null,
    now: number,
  ): { tag: number; message: string }[] {
    const failures: { tag: number; message: string }[] = [];
    const touched = new Set<NamedQueue>();
    for (let i = 0; i < tags.length; i++) {
      const tag = tags[i];
      const lease = this.#ownLease(owner, tag);
      if (typeof lease === "string") {
        failures.push({ tag, message: lease });
        continue;
      }
      let target: NamedQueue | null = null;
      let result: Job | undefined;
      try {
        const put = route(lease.job, lease.queue.name, i);
        if (put !== null) {
          target = this.#queue(put.queue);
          if (!target.hasRoom() || target.parkedPuts > 0) {
            throw new RemoteError(
              ErrorCode.QueueFull,
              `Cannot complete: queue "${target.name}" for its result is full (maxsize ${target.options.maxsize}); the job stays leased, try again`,
            );
          }
          // Not remembered for dedupe: it needs none (see the method's comment), and a
          // million results' ids would hold megabytes for the whole window.
          result = this.#newJob(put.item, now);
          target.totals.put++;
        }
      } catch (error) {
        failures.push({ tag, message: (error as Error).message });
        continue;
      }
      this.#endLease(lease);
      lease.queue.totals.acked++;
      this.#journal?.({
        t: "complete",
        q: lease.queue.name,
        seq: lease.job.seq,
        put: result === undefined ? undefined : { q: target!.name, job: result },
      });
      touched.add(lease.queue);
      if (result !== undefined) {
        this.#enqueue(target!, result);
        touched.add(target!);
      }
    }
    for (const queue of touched) this.#dispatch(queue, now);
    return failures;
  }

  /**
   * Hands a leased job back: ready again after `delayMs`, or straight to the
   * dead-letter queue when `dead` gives a reason (or attempts are used up).
   */
  nack(
    owner: Owner,
    tag: number,
    options: { now: number; delayMs?: number; dead?: string },
  ): void {
    const lease = this.#ownLease(owner, tag);
    if (typeof lease === "string") throw new RemoteError(ErrorCode.NotLeased, lease);
    const delayMs = options.delayMs ?? null;
    this.#endLease(lease);
    lease.queue.totals.nacked++;
    if (options.dead !== undefined) {
      this.#deadLetter(
        lease.queue,
        lease.job,
        String(options.dead).slice(0, 1000),
        options.now,
        owner,
      );
    } else {
      this.#return(lease.queue, lease.job, options.now, delayMs, "nacked", owner);
    }
    this.#dispatch(lease.queue, options.now);
  }

  /** Extends a lease by the queue's `leaseMs` from now. */
  touch(owner: Owner, tag: number, now: number): number {
    const lease = this.#ownLease(owner, tag);
    if (typeof lease === "string") throw new RemoteError(ErrorCode.NotLeased, lease);
    lease.deadline = now + lease.queue.options.leaseMs;
    // The earlier entry is found stale when reached (its deadline moved).
    lease.queue.leaseOrder.push(lease);
    return lease.deadline;
  }

  /**
   * Records what a leased job says of its progress (`value`: superjson text,
   * checked for size by the operations layer). In memory only: it is shown
   * with the job in flight, and a called task's caller hears it.
   */
  progress(owner: Owner, tag: number, value: string, now: number): void {
    const lease = this.#ownLease(owner, tag);
    if (typeof lease === "string") throw new RemoteError(ErrorCode.NotLeased, lease);
    lease.progress = value;
    lease.progressAt = now;
    lease.queue.reporting.add(lease);
    if (lease.job.replyTo !== undefined) {
      this.#events?.progress?.(lease.job, lease.queue.name, value);
    }
  }

  /** An owner went away: its leased jobs return to their queues, its waits end. */
  release(owner: Owner, now: number): void {
    for (const subscription of owner.subscriptions) this.unsubscribe(subscription);
    for (const wait of this.#parkedBy.get(owner) ?? []) {
      this.#unpark(wait);
      if ("items" in wait) wait.items = []; // its deadline-heap entry must not hold the payloads
    }
    this.#parkedBy.delete(owner);
    const touched = new Set<NamedQueue>();
    for (const tag of [...owner.leases]) {
      const lease = this.#leases.get(tag);
      if (lease === undefined) continue;
      this.#endLease(lease);
      this.#return(lease.queue, lease.job, now, 0, "connection lost", owner);
      touched.add(lease.queue);
    }
    for (const queue of touched) this.#dispatch(queue, now);
  }

  /** Earliest time at which {@link Broker.tick} has work, or Infinity. */
  nextDeadline(): number {
    let next = Infinity;
    for (const queue of this.#leasedQueues) {
      const lease = queue.leaseOrder.peek();
      if (lease && lease.deadline < next) next = lease.deadline;
    }
    const wait = this.#waitDeadlines.peek();
    if (wait && wait.deadline < next) next = wait.deadline;
    for (const queue of this.#delayedQueues) {
      const job = queue.delayed.peek();
      if (job && job.readyAt < next) next = job.readyAt;
    }
    for (const queue of this.#throttled) {
      const due = queue.nextToken();
      if (due < next) next = due;
    }
    const slot = this.#schedules.nextDeadline();
    if (slot < next) next = slot;
    return next;
  }

  /**
   * Does what is due at `now`: schedules put their jobs, delayed jobs become
   * ready, leases expire, waits time out, throttled queues hand out again.
   */
  tick(now: number): void {
    for (const { schedule, slot } of this.#schedules.due(now)) this.#fire(schedule, slot, now);
    for (const queue of [...this.#throttled]) {
      if (queue.nextToken() > now) continue;
      this.#throttled.delete(queue);
      this.#dispatch(queue, now);
    }
    for (const queue of this.#delayedQueues) {
      let moved = false;
      while (queue.delayed.length > 0 && queue.delayed.peek()!.readyAt <= now) {
        queue.ready.push(queue.delayed.pop()!);
        queue.delayedCount--;
        moved = true;
      }
      if (queue.delayed.length === 0) this.#delayedQueues.delete(queue);
      if (moved) this.#dispatch(queue, now);
    }
    for (const queue of this.#leasedQueues) {
      let expired = false;
      const order = queue.leaseOrder;
      while (order.length > 0 && order.peek()!.deadline <= now) {
        const lease = order.shift()!;
        if (lease.ended || lease.deadline > now) continue;
        this.#endLease(lease);
        queue.totals.expired++;
        lease.job.avoid = lease.owner.id;
        this.#return(queue, lease.job, now, null, "lease expired", lease.owner);
        expired = true;
      }
      if (order.length === 0) this.#leasedQueues.delete(queue);
      if (expired) this.#dispatch(queue, now);
    }
    while (this.#waitDeadlines.length > 0 && this.#waitDeadlines.peek()!.deadline <= now) {
      const wait = this.#waitDeadlines.pop()!;
      const done = wait.done;
      if (done === null) continue;
      this.#unpark(wait);
      if ("items" in wait) {
        if (wait.owner) this.#dropWait(wait.owner, wait);
        const queue = this.#queues.get(wait.queue);
        const maxsize = queue?.options.maxsize ?? 0;
        (done as PendingPut["done"] & object)(
          new RemoteError(
            ErrorCode.QueueFull,
            `Cannot put to queue "${wait.queue}": still full (maxsize ${maxsize}) after waiting; ${wait.accepted} of ${wait.items.length} jobs were stored`,
          ),
        );
      } else {
        this.#dropWait(wait.owner, wait);
        (done as (delivery: Delivery | null) => void)(null);
      }
    }
  }

  /** Samples put/ack rates; call about once a second. */
  sampleRates(now: number): void {
    for (const queue of this.#queues.values()) {
      queue.putRate.sample(now, queue.totals.put);
      queue.ackRate.sample(now, queue.totals.acked);
    }
  }

  /** Counters and gauges of every queue (or one). */
  stats(now: number, queueName?: string): QueueStats[] {
    const queues = queueName === undefined ? [...this.#queues.values()] : [this.#queue(queueName)];
    return queues.map((queue) => {
      const dlq = queue.options.deadLetter === null
        ? undefined
        : this.#queues.get(queue.options.deadLetter);
      return {
        name: queue.name,
        ready: queue.ready.length,
        delayed: queue.delayedCount,
        inFlight: queue.inFlight,
        dead: dlq ? dlq.waiting + dlq.inFlight : 0,
        consumers: queue.subscriptions.size,
        waitingGets: queue.parkedGets,
        waitingPuts: queue.parkedPuts,
        maxsize: queue.options.maxsize,
        paused: queue.options.paused,
        rateLimit: queue.options.rateLimit,
        throttled: this.#throttled.has(queue),
        progress: this.#progressOf(queue),
        totals: { ...queue.totals },
        rates: {
          put: queue.putRate.rate(now, queue.totals.put),
          acked: queue.ackRate.rate(now, queue.totals.acked),
        },
      };
    });
  }

  /** The next `limit` ready jobs in delivery order, left in place. */
  peek(queueName: string, limit: number): Job[] {
    const queue = this.#queue(queueName, false);
    const jobs: Job[] = [];
    for (const job of queue.ready) {
      if (jobs.length >= limit) break;
      jobs.push(job);
    }
    return jobs;
  }

  /** Removes every ready and delayed job (in-flight jobs finish normally). Returns the count. */
  purge(queueName: string, now: number): number {
    const queue = this.#queue(queueName, false);
    const removed = queue.ready.clear() + queue.delayedCount;
    queue.delayed.clear();
    queue.delayedCount = 0;
    this.#journal?.({ t: "purge", q: queue.name });
    this.#admitWaitingPuts(queue, now);
    return removed;
  }

  /** The dead-letter queue of `queueName`, or throws if it has none. */
  deadLetterQueue(queueName: string): string {
    const queue = this.#queue(queueName, false);
    if (queue.options.deadLetter === null) {
      throw new RemoteError(
        ErrorCode.BadArgument,
        `Queue "${queueName}" has no dead-letter queue`,
      );
    }
    return queue.options.deadLetter;
  }

  /** Dead jobs of `queueName` (ready ones in its dead-letter queue), oldest first. */
  deadList(queueName: string, limit: number): Job[] {
    const dlq = this.#queues.get(this.deadLetterQueue(queueName));
    if (dlq === undefined) return [];
    const jobs: Job[] = [];
    for (const job of dlq.ready) {
      if (jobs.length >= limit) break;
      if (job.origin === queueName) jobs.push(job);
    }
    return jobs;
  }

  /** Moves dead jobs of `queueName` (all, or those with the given ids) back, attempts reset. */
  deadRequeue(queueName: string, ids: readonly string[] | null, now: number): number {
    const queue = this.#queue(queueName, false);
    const dlq = this.#queues.get(this.deadLetterQueue(queueName));
    if (dlq === undefined) return 0;
    const wanted = ids === null ? null : new Set(ids);
    const moved = dlq.ready.filter((job) =>
      !(job.origin === queueName && (wanted === null || wanted.has(job.id)))
    );
    for (const job of moved) {
      this.#journal?.({ t: "requeue", q: dlq.name, seq: job.seq, to: queue.name });
      job.attempts = 0;
      job.reason = undefined;
      job.origin = undefined;
      queue.ready.push(job);
    }
    this.#admitWaitingPuts(dlq, now);
    this.#dispatch(queue, now);
    return moved.length;
  }

  /** Deletes dead letters of `queueName` (all, or those with the given ids); returns how many. */
  deadDelete(queueName: string, ids: readonly string[] | null, now: number): number {
    this.#queue(queueName, false);
    const dlq = this.#queues.get(this.deadLetterQueue(queueName));
    if (dlq === undefined) return 0;
    const wanted = ids === null ? null : new Set(ids);
    const deleted = dlq.ready.filter((job) =>
      !(job.origin === queueName && (wanted === null || wanted.has(job.id)))
    );
    // An ack of a dead letter is how the journal forgets it.
    for (const job of deleted) this.#journal?.({ t: "ack", q: dlq.name, seq: job.seq });
    this.#admitWaitingPuts(dlq, now);
    return deleted.length;
  }

  /** Up to `limit` jobs of `queueName` in flight, oldest lease first, with their holders and progress. */
  inFlight(queueName: string, limit: number): InFlightJob[] {
    const queue = this.#queue(queueName, false);
    const out: InFlightJob[] = [];
    if (queue.inFlight === 0) return out;
    for (const lease of this.#leasesByTag()) {
      if (out.length >= limit) break;
      if (lease.queue !== queue) continue;
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
      out.push(listed);
    }
    return out;
  }

  // -- schedules --

  /**
   * Adds (or replaces) a schedule; its first job is put at its next slot
   * after `now`. The queue is created if it does not exist (and may be).
   */
  schedule(request: ScheduleRequest, now: number): ScheduleInfo {
    this.#queue(request.queue);
    const old = this.#schedules.get(request.name);
    const schedule: Schedule = {
      ...request,
      // A replaced schedule keeps its interval's anchor and its last slot: no slot is put twice.
      anchor: old?.everyMs === request.everyMs && old !== undefined ? old.anchor : now,
      last: old?.last ?? 0,
    };
    this.#schedules.add(schedule, now);
    this.#journal?.({ t: "schedule", schedule });
    return this.#schedules.list().find((s) => s.name === schedule.name)!;
  }

  /** Removes a schedule; false when there was none of that name. */
  unschedule(name: string): boolean {
    if (!this.#schedules.remove(name)) return false;
    this.#journal?.({ t: "unschedule", name });
    return true;
  }

  /** Every schedule, by name, with the value it puts (superjson text). */
  schedules(): { info: ScheduleInfo; payload: string }[] {
    return this.#schedules.list().map((info) => ({
      info,
      payload: this.#schedules.get(info.name)!.payload,
    }));
  }

  /** Every schedule as stored (for writing a snapshot). */
  scheduleRecords(): Schedule[] {
    return this.#schedules.all().map((s) => ({ ...s }));
  }

  // -- recovery --

  /**
   * Loads state read back from the store (before serving). Jobs come in
   * delivery order per queue, as lists by queue (`queueJobs`, what the store
   * recovers; its packed chunks are taken as they are) or one list (`jobs`,
   * used when `queueJobs` is absent); `ids` are recent put ids to keep
   * deduplicating (remembered from now, like the ids of the jobs).
   */
  restore(
    state: {
      queues: Record<string, QueueOptions>;
      queueJobs?: ReadonlyMap<string, LiveJobs>;
      jobs?: Iterable<{ queue: string; job: Job }>;
      ids?: Iterable<{ queue: string; id: string }>;
      schedules?: Iterable<Schedule>;
    },
    now: number,
  ): void {
    this.#schedules.restore(state.schedules ?? [], now);
    for (const [name, options] of Object.entries(state.queues)) {
      const queue = this.#queues.get(name);
      if (queue) queue.setOptions(options);
      else this.#queues.set(name, new NamedQueue(name, options, this.#packAt));
    }
    for (const { queue: name, id } of state.ids ?? []) {
      const queue = this.#queues.get(name);
      if (queue) this.#remember(queue, id, now);
    }
    if (state.queueJobs !== undefined) {
      for (const [name, jobs] of state.queueJobs) this.#restoreJobs(name, jobs, now);
    } else {
      for (const { queue, job } of state.jobs ?? []) this.#restoreJobs(queue, [job], now);
    }
  }

  /** Loads one queue's jobs, in delivery order: their ids, seqs, and where they wait. */
  #restoreJobs(name: string, list: LiveJobs, now: number): void {
    const queue = this.#queues.get(name) ??
      this.#queues.set(name, new NamedQueue(name, defaultQueueOptions(name), this.#packAt))
        .get(name)!;
    // All the queue's ids at once: the table is sized for them once.
    this.#seen(queue).addNew(idsOf(list), now);
    // Single jobs gather into runs; a chunk of plain jobs all ready goes in as it is.
    let run: Job[] = [];
    const flush = () => {
      if (run.length === 0) return;
      this.#restoreRun(queue, run, now);
      run = [];
    };
    for (const part of list) {
      if (!(part instanceof PackedJobs)) {
        run.push(part);
      } else if (part.plain && part.latestReadyAt <= now) {
        flush();
        if (part.maxSeq >= this.#seq) this.#seq = part.maxSeq + 1;
        queue.ready.pushPacked(part);
      } else {
        for (let i = 0; i < part.length; i++) run.push(part.job(i));
      }
    }
    flush();
  }

  /** Loads a run of a queue's jobs as objects (delayed ones to wait). */
  #restoreRun(queue: NamedQueue, jobs: readonly Job[], now: number): void {
    let delayed = 0;
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i];
      if (job.seq >= this.#seq) this.#seq = job.seq + 1;
      if (job.readyAt > now) delayed++;
    }
    // A backlog is usually all ready: loaded as it is, without a second list of a million.
    let ready = jobs;
    if (delayed > 0) {
      const readyNow: Job[] = [];
      for (const job of jobs) {
        if (job.readyAt <= now) readyNow.push(job);
        else {
          queue.delayed.push(job);
          queue.delayedCount++;
          this.#delayedQueues.add(queue);
        }
      }
      ready = readyNow;
    }
    queue.ready.pushAll(ready);
  }

  /**
   * Every live job as it is now, to write a snapshot over many turns: what
   * changes after this call does not show. Ready jobs come from the ready
   * queues' captures (packed chunks shared, not unpacked here); delayed jobs
   * and jobs in flight, which the broker changes in place, are copied now.
   */
  captureLiveJobs(): Iterable<{ queue: string; job: Job }> {
    const parts: { queue: string; jobs: Iterable<Job> }[] = [];
    for (const queue of this.#queues.values()) {
      parts.push({ queue: queue.name, jobs: queue.ready.capture() });
      if (queue.delayed.length > 0) {
        parts.push({ queue: queue.name, jobs: queue.delayed.values().map(copyJob) });
      }
    }
    const leased = this.#leasesByTag().map((lease) => ({
      queue: lease.queue.name,
      job: copyJob(lease.job),
    }));
    return {
      *[Symbol.iterator]() {
        for (const { queue, jobs } of parts) {
          for (const job of jobs) yield { queue, job };
        }
        yield* leased;
      },
    };
  }

  /** How many jobs live and about the characters of their ids and payloads, without making packed jobs. */
  liveSize(): { jobs: number; chars: number } {
    let jobs = this.#leases.size;
    let chars = 0;
    const add = (job: Job) => chars += job.id.length + job.payload.length;
    for (const queue of this.#queues.values()) {
      jobs += queue.ready.length + queue.delayed.length;
      chars += queue.ready.textLength();
      queue.delayed.values().forEach(add);
    }
    for (const lease of this.#leases.values()) add(lease.job);
    return { jobs, chars };
  }

  /** Options of every queue, for writing a snapshot. */
  queueOptions(): Record<string, QueueOptions> {
    return Object.fromEntries([...this.#queues].map(([name, q]) => [name, q.options]));
  }

  // -- internals --

  #queue(name: string, create = this.#allowCreate): NamedQueue {
    const queue = this.#queues.get(name);
    if (queue) return queue;
    if (!create) {
      throw new RemoteError(ErrorCode.UnknownQueue, `Unknown queue "${name}"`);
    }
    return this.#create(name);
  }

  #create(name: string): NamedQueue {
    this.declare(name);
    return this.#queues.get(name)!;
  }

  /** Stores as many items of `pending` as the queue has room for. */
  #admit(queue: NamedQueue, pending: PendingPut, now: number): void {
    while (pending.next < pending.items.length) {
      const item = pending.items[pending.next];
      if (this.#seen(queue).has(item.id, now)) {
        pending.next++;
        pending.duplicates++;
        queue.totals.duplicates++;
        continue;
      }
      if (!queue.hasRoom()) return;
      pending.next++;
      pending.accepted++;
      const job = this.#newJob(item, now);
      this.#seen(queue).add(item.id, now);
      queue.totals.put++;
      this.#journal?.({ t: "put", q: queue.name, job });
      if (job.backoff !== undefined) {
        this.#journal?.({ t: "extra", q: queue.name, seq: job.seq, backoff: job.backoff });
      }
      this.#enqueue(queue, job);
    }
  }

  /** A job for a put item, numbered. */
  #newJob(item: PutItem, now: number): Job {
    const job: Job = {
      seq: this.#seq++,
      id: item.id,
      payload: item.payload,
      priority: item.priority,
      attempts: 0,
      // 0 for ready now: a small integer costs no heap number per job.
      readyAt: item.delayMs > 0 ? now + item.delayMs : 0,
    };
    // Only called tasks carry it: other jobs keep the smaller shape.
    if (item.replyTo !== undefined) job.replyTo = item.replyTo;
    if (item.backoff !== undefined) job.backoff = item.backoff;
    return job;
  }

  /** A new job joins its queue: ready, or delayed until `readyAt`. */
  #enqueue(queue: NamedQueue, job: Job): void {
    if (job.readyAt > 0) {
      queue.delayed.push(job);
      queue.delayedCount++;
      this.#delayedQueues.add(queue);
    } else {
      queue.ready.push(job);
    }
  }

  #admitWaitingPuts(queue: NamedQueue, now: number): void {
    while (queue.puts.length > 0 && queue.hasRoom()) {
      const pending = queue.puts.peek()!;
      if (pending.done === null) {
        queue.puts.shift();
        continue;
      }
      this.#admit(queue, pending, now);
      if (pending.next < pending.items.length) break;
      queue.puts.shift();
      queue.parkedPuts--;
      this.#parked--;
      if (pending.owner) this.#dropWait(pending.owner, pending);
      const done = pending.done;
      pending.done = null;
      // The entry may stay in the deadline heap until its deadline: drop its payloads now.
      pending.items = [];
      done({ accepted: pending.accepted, duplicates: pending.duplicates });
    }
  }

  #holdWait(owner: Owner, wait: Waiter | PendingPut): void {
    let waits = this.#parkedBy.get(owner);
    if (waits === undefined) this.#parkedBy.set(owner, waits = new Set());
    waits.add(wait);
  }

  #dropWait(owner: Owner, wait: Waiter | PendingPut): void {
    const waits = this.#parkedBy.get(owner);
    if (waits === undefined) return;
    waits.delete(wait);
    if (waits.size === 0) this.#parkedBy.delete(owner);
  }

  /** Parks a get or put until its deadline (or until it is served or ended). */
  #park(wait: Waiter | PendingPut): void {
    this.#parked++;
    this.#waitDeadlines.push(wait);
    // Entries of waits that ended early stay in the heap until their deadline;
    // rebuild it when they outnumber the live ones.
    if (this.#waitDeadlines.length > 2 * this.#parked + 1024) {
      const live = this.#waitDeadlines.values().filter((w) => w.done !== null);
      this.#waitDeadlines.clear();
      for (const w of live) this.#waitDeadlines.push(w);
    }
  }

  /** Ends a parked get or put early; compacts the queue's list once dead entries pile up. */
  #unpark(wait: Waiter | PendingPut): void {
    if (wait.done === null) return;
    wait.done = null;
    this.#parked--;
    const queue = this.#queues.get(wait.queue);
    if (!queue) return;
    if ("items" in wait) {
      queue.parkedPuts--;
      if (queue.puts.length > 2 * queue.parkedPuts + 64) queue.puts = liveOnly(queue.puts);
    } else {
      queue.parkedGets--;
      if (queue.waiters.length > 2 * queue.parkedGets + 64) queue.waiters = liveOnly(queue.waiters);
    }
  }

  /**
   * Whether `queue` may hand out a job now (not paused, within its rate
   * limit). A queue held back by its limit is woken by {@link tick} when its
   * next token is due.
   */
  #mayHandOut(queue: NamedQueue, now: number): boolean {
    if (queue.mayHandOut(now)) return true;
    if (queue.options.rateLimit !== null && !queue.options.paused && !this.#throttled.has(queue)) {
      this.#throttled.add(queue);
      queue.totals.throttled++;
    }
    return false;
  }

  /** Remembers a put id read back from the store (a live job's id may be among the recent ids too). */
  #remember(queue: NamedQueue, id: string, now: number): void {
    const seen = this.#seen(queue);
    if (!seen.has(id, now)) seen.add(id, now);
  }

  /** The put ids `queue` remembers. */
  #seen(queue: NamedQueue): SeenIds {
    return queue.dedupe ??= new SeenIds({
      windowMs: this.#dedupeWindowMs,
      maxIds: this.#dedupeMaxIds,
    });
  }

  /** Gives ready jobs to parked gets and subscriptions with room, fairly. */
  #dispatch(queue: NamedQueue, now: number): void {
    while (queue.ready.length > 0 && queue.waiters.length > 0) {
      if (queue.waiters.peek()!.done === null) {
        queue.waiters.shift();
        continue;
      }
      if (!this.#mayHandOut(queue, now)) break;
      const waiter = queue.waiters.shift()!;
      const done = waiter.done!;
      waiter.done = null;
      queue.parkedGets--;
      this.#parked--;
      this.#dropWait(waiter.owner, waiter);
      done(this.#lease(queue, queue.ready.shift()!, waiter.owner, null, now));
    }
    if (queue.ready.length > 0 && queue.withRoom.size > 0) {
      const batches = new Map<Subscription, Delivery[]>();
      let passedOver = 0;
      // Round-robin one job at a time over subscriptions with room.
      while (queue.ready.length > 0 && queue.rotation.length > 0) {
        const sub = queue.rotation.shift()!;
        if (!queue.withRoom.has(sub)) continue; // cancelled since it was queued
        if (sub.cancelled || sub.inFlight >= sub.prefetch) {
          queue.withRoom.delete(sub);
          continue;
        }
        // A job whose lease ran out on this consumer (gone silent, or stuck) goes to another
        // consumer when there is one: to one with room now, else it waits for room there.
        if (queue.ready.peek()!.avoid === sub.owner.id && queue.subscriptions.size > 1) {
          if (queue.withRoom.size > 1 && passedOver++ < queue.withRoom.size) {
            queue.rotation.push(sub);
            continue;
          }
          queue.rotation.unshift(sub);
          break;
        }
        if (!this.#mayHandOut(queue, now)) {
          queue.rotation.unshift(sub); // its turn comes first when a token does
          break;
        }
        passedOver = 0;
        const delivery = this.#lease(queue, queue.ready.shift()!, sub.owner, sub, now);
        let batch = batches.get(sub);
        if (batch === undefined) batches.set(sub, batch = []);
        batch.push(delivery);
        if (sub.inFlight < sub.prefetch) queue.rotation.push(sub);
        else queue.withRoom.delete(sub);
      }
      for (const [sub, batch] of batches) sub.deliver(batch);
    }
    this.#admitWaitingPuts(queue, now);
  }

  #lease(
    queue: NamedQueue,
    job: Job,
    owner: Owner,
    subscription: Subscription | null,
    now: number,
  ): Delivery {
    const tag = this.#tag++;
    if (job.attempts > 0) {
      queue.totals.redelivered++;
      if (job.avoid !== undefined) job.avoid = undefined;
    }
    job.attempts++;
    const lease: Lease = {
      tag,
      queue,
      job,
      owner,
      subscription,
      deadline: now + queue.options.leaseMs,
      ended: false,
    };
    this.#leases.set(tag, lease);
    queue.leaseOrder.push(lease);
    this.#leasedQueues.add(queue);
    owner.leases.add(tag);
    queue.inFlight++;
    if (subscription) subscription.inFlight++;
    return { tag, queue: queue.name, job, deadline: lease.deadline };
  }

  /** Every lease, oldest first (tags count up). */
  #leasesByTag(): Lease[] {
    return [...this.#leases.values()].sort((a, b) => a.tag - b.tag);
  }

  #ownLease(owner: Owner, tag: number): Lease | string {
    const lease = this.#leases.get(tag);
    if (lease === undefined) {
      return `No lease ${tag}: it was already acked or nacked, or it expired and the job went back to the queue`;
    }
    if (lease.owner !== owner) {
      return `Lease ${tag} belongs to another connection`;
    }
    return lease;
  }

  #endLease(lease: Lease): void {
    lease.ended = true;
    const order = lease.queue.leaseOrder;
    while (order.length > 0 && order.peek()!.ended) order.shift();
    this.#leases.delete(lease.tag);
    if (lease.progress !== undefined) lease.queue.reporting.delete(lease);
    lease.owner.leases.delete(lease.tag);
    lease.queue.inFlight--;
    if (lease.subscription) {
      lease.subscription.inFlight--;
      this.#hasRoom(lease.queue, lease.subscription);
    }
  }

  /**
   * A job comes back from a consumer: ready again (at the front), delayed, or
   * dead. `delayMs` null: none was asked for, so the job's (or its queue's)
   * retry policy says how long it waits; a lost connection is not the job's
   * fault, so it comes back at once.
   */
  #return(
    queue: NamedQueue,
    job: Job,
    now: number,
    delayMs: number | null,
    why: string,
    by: Owner | null,
  ): void {
    const attempt = noteAttempt(job, now, by, why);
    if (queue.options.deadLetter !== null && job.attempts >= queue.options.maxAttempts) {
      this.#deadLetter(queue, job, `${why} after ${job.attempts} attempts`, now, by, attempt);
      return;
    }
    let delay = delayMs ?? 0;
    const policy = job.backoff ?? queue.options.backoff;
    if (delayMs === null && policy !== null && why !== "connection lost") {
      delay = backoffDelay(policy, job.attempts, this.#random());
    }
    job.readyAt = delay > 0 ? now + delay : 0;
    this.#journal?.({
      t: "return",
      q: queue.name,
      seq: job.seq,
      attempts: job.attempts,
      readyAt: job.readyAt,
      attempt,
    });
    if (delay > 0) {
      queue.delayed.push(job);
      queue.delayedCount++;
      this.#delayedQueues.add(queue);
    } else {
      queue.ready.unshift(job);
    }
  }

  /** A schedule's slot is due: its job goes to its queue (a repeat of the slot's id is ignored). */
  #fire(schedule: Schedule, slot: number, now: number): void {
    const item: PutItem = {
      id: scheduledJobId(schedule.name, slot),
      payload: schedule.payload,
      priority: schedule.priority,
      delayMs: 0,
    };
    this.put(null, schedule.queue, [item], { now }, (result) => {
      if (!(result instanceof RemoteError) && result.accepted > 0) {
        this.#queues.get(schedule.queue)!.totals.scheduled++;
      }
    });
    // After the put: a crash in between puts the slot again at a catch-up, and its id dedupes it.
    this.#journal?.({ t: "fired", name: schedule.name, slot });
  }

  /** The in-flight jobs of `queue` that reported progress, latest first (at most 10). */
  #progressOf(queue: NamedQueue): ProgressInfo[] {
    const out: ProgressInfo[] = [];
    for (const lease of queue.reporting) {
      out.push({
        id: lease.job.id,
        tag: lease.tag,
        by: lease.owner.label,
        value: lease.progress!,
        at: lease.progressAt!,
      });
    }
    return out.sort((a, b) => b.at - a.at).slice(0, 10);
  }

  /**
   * Moves a job to its queue's dead letters (with none, back for another
   * try). `attempt`: the failed attempt that led here, when the caller noted
   * it already (retries used up); else the consumer's failure is noted here.
   * Either way the dead record carries it, so a restart keeps the history.
   */
  #deadLetter(
    queue: NamedQueue,
    job: Job,
    reason: string,
    now: number,
    by: Owner | null,
    attempt?: Attempt,
  ): void {
    const target = queue.options.deadLetter;
    if (target === null) {
      // No dead-letter queue: the job goes back and is tried again.
      this.#return(queue, job, now, null, reason, by);
      return;
    }
    attempt ??= noteAttempt(job, now, by, reason);
    const dlq = this.#queues.get(target) ?? this.#create(target);
    queue.totals.deadLettered++;
    this.#journal?.({
      t: "dead",
      q: queue.name,
      seq: job.seq,
      to: target,
      reason,
      attempts: job.attempts,
      attempt,
    });
    job.reason = reason;
    job.origin = queue.name;
    job.readyAt = 0;
    dlq.ready.push(job);
    if (job.replyTo !== undefined) this.#events?.dead(job, queue.name, reason);
    this.#dispatch(dlq, now);
  }
}

/** Most attempts a job's history keeps (the most recent). */
const HISTORY = 20;

/** Adds an attempt that did not finish to a job's history; returns it, for the journal. */
function noteAttempt(job: Job, now: number, by: Owner | null, why: string): Attempt {
  const attempt: Attempt = { at: now, by: by?.label ?? "", why };
  const history = job.history ??= [];
  history.push(attempt);
  if (history.length > HISTORY) history.splice(0, history.length - HISTORY);
  return attempt;
}

function liveOnly<T extends { done: unknown }>(items: Deque<T>): Deque<T> {
  const live = new Deque<T>();
  for (const item of items) if (item.done !== null) live.push(item);
  return live;
}
