/**
 * The pull engine: this god's pull requests on the shared durable consumers,
 * what arrives on them (leased to the `get` or subscription that asked), and
 * how leases end — ack, nak (with delay), in-progress, and dead-lettering (a
 * publish to the dead-letter queue's stream, then an ack).
 *
 * Each pull asks for a batch with an expiry (`no_wait` for a zero-timeout
 * get) on its own reply subject, so what arrives can be told apart (a pulled
 * message keeps its stream subject: only the subscription tells).
 * A subscription keeps up to its prefetch window asked for, in half-window
 * steps; acks go out pipelined, each confirmed through the inbox. Other parts
 * (the delay mover) pull through {@link PullEngine.pull} with a client of
 * their own.
 *
 * A late ack must never take a job from the god that holds it now. JetStream
 * takes an ack of an older delivery as an ack of the message, so the god
 * refuses it itself: its lease ends (by the clock, checked at each ack) a
 * grace before JetStream's ack wait runs out (see `ackWaitMs`); and a god
 * that receives a redelivery says so on `<prefix>.redelivered.<stream>`, so
 * that a god which holds an older delivery of the job (it was stalled past
 * the grace) ends its lease at once.
 */
import { headers, type Msg, type Subscription as NatsSub } from "@nats-io/transport-node";
import { ErrorCode, RemoteError } from "../protocol/errors.ts";
import type { BackendEvents, Owner, Subscription } from "../queue/backend.ts";
import type { Attempt, Delivery, Job } from "../queue/types.ts";
import { backoffDelay } from "../queue/options.ts";
import type { LeaseTable } from "./leases.ts";
import { ACK, ENCODER, errorText, type JsLink, NAK, nakAfter, NS, WPI } from "./link.ts";
import { CONSUMER, Header, parseAckSubject, readFlowHeaders } from "./names.ts";
import type { Queues } from "./provision.ts";
import type { GetWait, JsQueue, JsSub, Lease } from "./queue.ts";

/** Longest single pull request; longer waits are made of several. */
export const PULL_CHUNK_MS = 5_000;
/** A pull request not ended this long after its expiry is taken as lost. */
const PULL_GRACE_MS = 3_000;
/** Redelivery notices remembered per queue (for deliveries that arrive after their notice). */
const NOTICES_KEPT = 4_096;

/** Someone else pulling through the engine (the delay mover). */
export interface PullClient {
  readonly kind: "client";
  /** A message arrived for this client's pull. */
  received(msg: Msg): void;
  /** A pull ended with `missing` messages not delivered; `trouble` when NATS refused. */
  ended(missing: number, code: number, trouble: string | null): void;
}

type PullTarget = GetWait | JsSub | PullClient;

class Pull {
  received = 0;
  /** The subscription its messages arrive on (they keep their stream subject, so one per pull). */
  sub: NatsSub | null = null;
  constructor(
    readonly id: number,
    readonly queue: JsQueue | null,
    readonly target: PullTarget,
    readonly batch: number,
    readonly expiresAt: number,
  ) {}
}

/** Pulls, deliveries and leases of one god. */
export class PullEngine {
  readonly #link: JsLink;
  readonly #queues: Queues;
  readonly #leases: LeaseTable;
  /** Told when a called job is dead-lettered (see QueueBackend.watch). */
  events: BackendEvents | null = null;
  readonly #pulls = new Map<number, Pull>();
  readonly #waits = new Map<Owner, Set<GetWait>>();
  readonly #noticeSubject: (stream: string) => string;
  readonly #notices: NatsSub;
  #subId = 1;
  #pullId = 1;
  /** Reply subjects of pulls: `<inbox>.p.<id>` (beside, not under, the inbox's routes). */
  readonly #pullPrefix: string;

  constructor(link: JsLink, queues: Queues, leases: LeaseTable) {
    this.#link = link;
    this.#queues = queues;
    this.#leases = leases;
    this.#pullPrefix = `${link.inbox.prefix}.p.`;
    leases.onExpire = (lease) => {
      if (lease.sub) this.pumpSub(lease.sub);
    };
    const root = `${link.prefix.toLowerCase()}.redelivered`;
    this.#noticeSubject = (stream) => `${root}.${stream}`;
    this.#notices = link.nc.subscribe(`${root}.*`, {
      callback: (error, msg) => {
        if (error === null) this.#onNotice(msg);
      },
    });
  }

  // -- gets and subscriptions --

  /** Waits up to `timeoutMs` for one job of `queue`, leased to `owner`. */
  get(
    owner: Owner,
    queue: JsQueue,
    options: { now: number; timeoutMs: number },
    done: (delivery: Delivery | null | RemoteError) => void,
  ): void {
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
    this.#queues.whenEnsured(queue, () => this.#pullForWait(wait, true), (error) => {
      this.#endWait(wait, this.#link.remote(error, "get from", queue.name));
    });
  }

  /** Starts pulling for a push subscription. */
  subscribe(
    owner: Owner,
    queue: JsQueue,
    prefetch: number,
    deliver: (deliveries: Delivery[]) => void,
  ): JsSub {
    const sub: JsSub = {
      id: this.#subId++,
      owner,
      queue: queue.name,
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
    this.#queues.whenEnsured(queue, () => this.pumpSub(sub), (error) => {
      this.#link.log({ event: "error", error: String(error), queue: queue.name });
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

  /** Asks for as many jobs as the subscription has room for (in half-window steps). */
  pumpSub(sub: JsSub): void {
    if (sub.cancelled || !this.#link.connected || sub.jsQueue.ensured === null) return;
    if (sub.jsQueue.options.paused) return; // resuming pumps it again
    const room = sub.prefetch - sub.inFlight - sub.requested;
    if (room <= 0) return;
    if (sub.requested > 0 && room < Math.max(1, Math.floor(sub.prefetch / 2))) return;
    sub.requested += room;
    this.pull(sub.jsQueue, sub, room, PULL_CHUNK_MS);
  }

  // -- finishing leases --

  /**
   * Acks leased jobs, each confirmed by JetStream; resolves with the tags
   * that could not be acked and why (all at once when none needs NATS).
   */
  ack(
    owner: Owner,
    tags: readonly number[],
    now: number,
  ): { tag: number; message: string }[] | Promise<{ tag: number; message: string }[]> {
    const failures: { tag: number; message: string }[] = [];
    let waiting = 0;
    let finish: (() => void) | null = null;
    for (const tag of tags) {
      const lease = this.#leases.own(owner, tag, now);
      if (typeof lease === "string") {
        failures.push({ tag, message: lease });
        continue;
      }
      waiting++;
      this.ackLease(lease, (message) => {
        if (message !== null) failures.push({ tag, message });
        if (--waiting === 0) finish?.();
      });
    }
    if (waiting === 0) return failures;
    return new Promise((resolve) => finish = () => resolve(failures));
  }

  /** The lease `tag` if `owner` holds it at `now`, else why not (see {@link LeaseTable.own}). */
  own(owner: Owner, tag: number, now: number): Lease | string {
    return this.#leases.own(owner, tag, now);
  }

  /**
   * Ends a lease `owner` holds and acks its job; `done` gets null once
   * JetStream confirmed the ack, else why it may be delivered again.
   */
  ackLease(lease: Lease, done: (failure: string | null) => void): void {
    this.#leases.end(lease);
    lease.queue.totals.acked++;
    this.#link.confirmTo(lease.reply, ACK, (error) => {
      if (error === null) {
        lease.queue.roomFreed();
        done(null);
      } else {
        done(
          `Cannot ack job ${lease.job.id}: NATS JetStream did not confirm (${
            errorText(error)
          }); the job may be delivered again`,
        );
      }
    });
    if (lease.sub) this.pumpSub(lease.sub);
  }

  nack(
    owner: Owner,
    tag: number,
    options: { now: number; delayMs?: number; dead?: string },
  ): void | Promise<void> {
    const lease = this.#leases.own(owner, tag, options.now);
    if (typeof lease === "string") throw new RemoteError(ErrorCode.NotLeased, lease);
    // No delay asked for: the job's retry policy (its put's, else its queue's) says how long.
    const policy = lease.job.backoff ?? lease.queue.options.backoff;
    const delayMs = options.delayMs ??
      (policy === null ? 0 : backoffDelay(policy, lease.job.attempts, Math.random()));
    this.#link.checkConnected("nack a job in", lease.queue.name);
    this.#leases.end(lease);
    lease.queue.totals.nacked++;
    if (lease.sub) this.pumpSub(lease.sub);
    if (options.dead !== undefined) {
      const reason = String(options.dead).slice(0, 1000);
      return this.#deadLetter(lease.queue, lease, reason, {
        at: options.now,
        by: owner.label,
        why: reason,
      });
    }
    return this.#giveBack(lease, delayMs, "nacked");
  }

  /** Records a leased job's progress (kept with the lease, on this god). */
  progress(owner: Owner, tag: number, value: string, now: number): void {
    const lease = this.#leases.own(owner, tag, now);
    if (typeof lease === "string") throw new RemoteError(ErrorCode.NotLeased, lease);
    lease.progress = value;
    lease.progressAt = now;
    lease.queue.reporting.add(lease);
    // A caller on this god hears it (one waiting on another god does not: see docs/FLOW.md).
    if (lease.job.replyTo !== undefined) {
      this.events?.progress?.(lease.job, lease.queue.name, value);
    }
  }

  /** This god's leases of `queue`, oldest first. */
  inFlight(queue: JsQueue, limit: number): Lease[] {
    return this.#leases.all().filter((lease) => lease.queue === queue).slice(0, limit);
  }

  /** The job and queue of lease `tag` if `owner` holds it now, else null (completing in steps). */
  leased(owner: Owner, tag: number): { job: Job; queue: string } | null {
    const lease = this.#leases.own(owner, tag, Date.now());
    return typeof lease === "string" ? null : { job: lease.job, queue: lease.queue.name };
  }

  /**
   * Extends a lease: an in-progress (`+WPI`) confirmed by JetStream, which
   * restarts its ack wait; the new deadline counts from when it was sent.
   */
  touch(owner: Owner, tag: number, now: number): Promise<number> {
    const lease = this.#leases.own(owner, tag, now);
    if (typeof lease === "string") throw new RemoteError(ErrorCode.NotLeased, lease);
    const queue = lease.queue;
    this.#link.checkConnected("touch a job in", queue.name);
    const deadline = now + queue.options.leaseMs;
    return new Promise((resolve, reject) => {
      this.#link.confirmTo(lease.reply, WPI, (error) => {
        if (error !== null) {
          reject(this.#link.remote(error, "touch a job in", queue.name));
        } else if (lease.ended) {
          reject(new RemoteError(ErrorCode.NotLeased, `No lease ${tag}: it ended while touched`));
        } else {
          if (deadline > lease.deadline) {
            lease.deadline = deadline;
            queue.leaseOrder.push(lease);
          }
          resolve(lease.deadline);
        }
      });
    });
  }

  /** The owner went away: its subscriptions and waits end, its jobs go back at once. */
  release(owner: Owner, now: number): void {
    for (const sub of [...owner.subscriptions]) this.unsubscribe(sub);
    for (const wait of this.#waits.get(owner) ?? []) this.#endWait(wait, null, false);
    this.#waits.delete(owner);
    for (const tag of [...owner.leases]) {
      const lease = this.#leases.get(tag);
      if (lease === undefined) continue;
      // Past its deadline the job may be another god's now: leave it to JetStream.
      if (lease.deadline <= now) {
        this.#leases.expireLease(lease);
        continue;
      }
      this.#leases.end(lease);
      this.#giveBack(lease, 0, "connection lost")?.catch((error) => {
        this.#link.log({ event: "error", error: `cannot return job: ${errorText(error)}` });
      });
    }
  }

  /** The earliest lease deadline, or Infinity. */
  nextDeadline(): number {
    return this.#leases.nextDeadline(this.#queues.each());
  }

  /** Ends the leases whose time ran out (JetStream redelivers those jobs by itself). */
  tick(now: number): void {
    this.#leases.expire(this.#queues.each(), now);
  }

  /** Jobs still leased go back at once (the god is closing), and every pull stops. */
  close(): void {
    const now = Date.now();
    for (const lease of this.#leases.all()) {
      this.#leases.end(lease);
      if (lease.deadline > now) this.#link.respond(lease.reply, NAK);
    }
    for (const pull of [...this.#pulls.values()]) this.#stopPull(pull);
    try {
      this.#notices.unsubscribe();
    } catch {
      // Closed already.
    }
  }

  /** Ends pulls lost with a connection or a NATS node; called every second. */
  sweep(now: number): void {
    for (const pull of [...this.#pulls.values()]) {
      if (now > pull.expiresAt + PULL_GRACE_MS) this.#endPull(pull, 408, "lost");
    }
  }

  /** After a reconnect: the pull requests died with the old connection, so ask again. */
  reconnected(): void {
    for (const pull of [...this.#pulls.values()]) this.#endPull(pull, 408, "reconnected");
    for (const queue of this.#queues.all()) {
      for (const sub of queue.subs) this.pumpSub(sub);
    }
  }

  // -- pulls --

  /** Sends one pull request for up to `batch` messages of `queue` (null: the delay stream). */
  pull(queue: JsQueue | null, target: PullTarget, batch: number, expiresMs: number): void {
    const stream = queue?.stream ?? this.#queues.delay.stream;
    const noWait = expiresMs <= 0;
    const id = this.#pullId++;
    const pull = new Pull(id, queue, target, batch, Date.now() + Math.max(0, expiresMs));
    this.#pulls.set(id, pull);
    const request = noWait
      ? `{"batch":${batch},"no_wait":true}`
      : `{"batch":${batch},"expires":${Math.max(1, Math.floor(expiresMs)) * NS}}`;
    const reply = `${this.#pullPrefix}${id}`;
    const nc = this.#link.nc;
    try {
      pull.sub = nc.subscribe(reply, {
        callback: (error, msg) => {
          if (error === null) this.#onPullMessage(pull, msg);
        },
      });
      nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${CONSUMER}`, ENCODER.encode(request), {
        reply,
      });
    } catch {
      // The connection is closed or draining: the sweep ends this pull.
    }
  }

  #stopPull(pull: Pull): void {
    this.#pulls.delete(pull.id);
    try {
      pull.sub?.unsubscribe();
    } catch {
      // Closed already.
    }
  }

  #pullForWait(wait: GetWait, first: boolean): void {
    if (wait.done === null) return;
    const left = wait.deadline - Date.now();
    if (wait.queue.options.paused) {
      // Nothing is asked of a paused queue; look again soon (other gods may resume it).
      if (left <= 0) this.#endWait(wait, null);
      else setTimeout(() => this.#pullForWait(wait, false), Math.min(left, 250));
      return;
    }
    if (left <= 0 && !first) {
      this.#endWait(
        wait,
        wait.lastError ? this.#link.unavailable(wait.lastError, wait.queue.name) : null,
      );
      return;
    }
    this.pull(wait.queue, wait, 1, left <= 0 ? 0 : Math.min(left, PULL_CHUNK_MS));
  }

  /** A message on a pull request's route: a job, or a status that ends the request. */
  #onPullMessage(pull: Pull, msg: Msg): void {
    const reply = msg.reply;
    if (!reply) {
      const code = msg.headers?.code ?? 0;
      if (code !== 100) this.#endPull(pull, code, msg.headers?.description ?? "");
      return;
    }
    const delivery = parseAckSubject(reply);
    if (delivery === null || !this.#pulls.has(pull.id)) {
      // Not a job, or a job for a pull this god already gave up on: straight back.
      this.#link.respond(reply, NAK);
      return;
    }
    pull.received++;
    if (pull.received >= pull.batch) this.#stopPull(pull);
    const target = pull.target;
    if ("kind" in target) {
      target.received(msg);
      return;
    }
    const queue = pull.queue!;
    if ("prefetch" in target) target.requested--;
    if (!this.#current(queue, delivery.seq, delivery.deliveries)) {
      // An older delivery than one already handed out again (this god was stalled): JetStream
      // no longer counts it, so it is dropped without a word.
      if ("prefetch" in target) this.pumpSub(target);
      else this.#pullForWait(target, true);
      return;
    }
    const job = readJob(msg, delivery.seq, delivery.deliveries);
    if (queue.options.deadLetter !== null && job.attempts > queue.options.maxAttempts) {
      // This delivery is not an attempt: the last one ended when its lease ran out.
      job.attempts--;
      const lease = this.#leases.make(queue, reply, job, null, null);
      this.#deadLetter(queue, lease, `lease expired after ${job.attempts} attempts`)
        .catch((error) => {
          this.#link.log({ event: "error", error: `cannot dead-letter: ${errorText(error)}` });
        });
      if ("prefetch" in target) this.pumpSub(target);
      else this.#pullForWait(target, true);
      return;
    }
    if ("prefetch" in target) {
      if (target.cancelled) {
        this.#link.respond(reply, NAK);
        return;
      }
      const lease = this.#leases.make(queue, reply, job, target.owner, target);
      target.batch.push({ tag: lease.tag, queue: queue.name, job });
      if (!target.flushing) {
        target.flushing = true;
        queueMicrotask(() => this.#flush(target));
      }
      if (pull.received >= pull.batch) this.pumpSub(target);
      return;
    }
    if (target.done === null) {
      this.#link.respond(reply, NAK);
      return;
    }
    const lease = this.#leases.make(queue, reply, job, target.owner, null);
    this.#endWait(target, { tag: lease.tag, queue: queue.name, job });
  }

  /**
   * Whether a delivery that arrived is the job's latest (false when a newer
   * one was announced already). A redelivery ends the job's older leases:
   * here, and by a notice, on the other gods.
   */
  #current(queue: JsQueue, seq: number, deliveries: number): boolean {
    const known = queue.notices.size === 0 ? undefined : queue.notices.get(seq);
    if (known !== undefined && known > deliveries) return false;
    if (deliveries === 1) return true;
    queue.totals.redelivered++;
    const stale = queue.bySeq.get(seq);
    if (stale !== undefined) this.#leases.expireLease(stale);
    try {
      this.#link.nc.publish(this.#noticeSubject(queue.stream), `${seq} ${deliveries}`);
    } catch {
      // Closed: no other god needs telling then.
    }
    return true;
  }

  /** Another god (or this one) received delivery `deliveries` of a job: older leases end. */
  #onNotice(msg: Msg): void {
    const stream = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
    const queue = this.#queues.byStream(stream);
    if (queue === undefined) return;
    const [seq, deliveries] = msg.string().split(" ").map(Number);
    if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(deliveries)) return;
    const notices = queue.notices;
    if ((notices.get(seq) ?? 0) < deliveries) {
      notices.delete(seq);
      notices.set(seq, deliveries);
      if (notices.size > NOTICES_KEPT) notices.delete(notices.keys().next().value!);
    }
    const lease = queue.bySeq.get(seq);
    if (lease !== undefined && lease.job.attempts < deliveries) this.#leases.expireLease(lease);
  }

  /** Hands a subscription the deliveries gathered in this turn, in one call. */
  #flush(sub: JsSub): void {
    sub.flushing = false;
    let batch = sub.batch;
    sub.batch = [];
    if (batch.length === 0) return;
    if (sub.cancelled) {
      for (const d of batch) {
        const lease = this.#leases.get(d.tag);
        if (lease) {
          this.#leases.end(lease);
          this.#link.respond(lease.reply, NAK);
        }
      }
      return;
    }
    // A lease may have ended in this turn (a newer delivery of its job was announced).
    if (batch.some((d) => this.#leases.get(d.tag) === undefined)) {
      batch = batch.filter((d) => this.#leases.get(d.tag) !== undefined);
      if (batch.length === 0) return;
    }
    sub.deliver(batch);
  }

  /** A pull request ended (expired, no messages, or refused): carry on for its target. */
  #endPull(pull: Pull, code: number, description: string): void {
    if (!this.#pulls.has(pull.id)) return;
    this.#stopPull(pull);
    const target = pull.target;
    const missing = pull.batch - pull.received;
    const trouble = code === 503 || code === 409 && !/Exceeded Max/i.test(description)
      ? `${code} ${description}`.trim()
      : null;
    if ("kind" in target) {
      target.ended(missing, code, trouble);
      return;
    }
    if ("prefetch" in target) {
      target.requested -= missing;
      if (trouble !== null || code === 409) setTimeout(() => this.pumpSub(target), 250);
      else this.pumpSub(target);
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
        target.lastError !== null
          ? this.#link.unavailable(target.lastError, target.queue.name)
          : null,
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

  // -- giving jobs back --

  /** A job a consumer handed back: nak (with delay), or dead when attempts are used up. */
  #giveBack(lease: Lease, delayMs: number, why: string): void | Promise<void> {
    const { queue, job } = lease;
    if (queue.options.deadLetter !== null && job.attempts >= queue.options.maxAttempts) {
      return this.#deadLetter(queue, lease, `${why} after ${job.attempts} attempts`, {
        at: Date.now(),
        by: lease.owner?.label ?? "",
        why,
      });
    }
    this.#link.respond(lease.reply, delayMs > 0 ? nakAfter(delayMs) : NAK);
  }

  /** Publishes the job to the dead-letter queue's stream, then acks it here. */
  async #deadLetter(
    queue: JsQueue,
    lease: Lease,
    reason: string,
    last?: Attempt,
  ): Promise<void> {
    if (queue.options.deadLetter === null) {
      this.#link.respond(lease.reply, NAK);
      return;
    }
    const dlq = this.#queues.get(queue.options.deadLetter, true);
    await this.#queues.ready(dlq, "dead-letter a job into");
    const h = headers();
    h.set(Header.id, lease.job.id);
    h.set(Header.priority, String(lease.job.priority));
    h.set(Header.reason, reason);
    h.set(Header.origin, queue.name);
    h.set(Header.attempts, String(lease.job.attempts));
    // The attempts this god saw end (the others ended on other gods, or by JetStream's ack wait).
    const history = [...lease.job.history ?? [], ...(last === undefined ? [] : [last])];
    if (history.length > 0) h.set(Header.history, JSON.stringify(history.slice(-20)));
    h.set(Header.msgId, `dead-${queue.stream}-${lease.seq}`);
    try {
      await this.#link.publish(dlq.subject, lease.job.payload, { headers: h });
      await this.#link.confirm(lease.reply, ACK);
    } catch (error) {
      // Not moved: the job stays in its queue and comes back when its lease runs out.
      throw this.#link.remote(error, "dead-letter a job of", queue.name);
    }
    queue.totals.deadLettered++;
    queue.roomFreed();
    if (lease.job.replyTo !== undefined) this.events?.dead(lease.job, queue.name, reason);
  }
}

/** The job a delivered message carries. */
function readJob(msg: Msg, seq: number, attempts: number): Job {
  // The headers read in one pass: each get() of nats.js scans and copies every name.
  const found = new Map<string, string>();
  for (const [name, values] of msg.headers ?? []) {
    if (values.length > 0) found.set(name, values[0]);
  }
  const get = (name: string) => found.get(name);
  const job: Job = {
    seq,
    id: get(Header.id) || get(Header.msgId) || `js-${seq}`,
    payload: msg.string(),
    priority: Number(get(Header.priority) || 0),
    attempts,
    readyAt: 0,
  };
  const replyTo = get(Header.replyTo);
  if (replyTo) job.replyTo = replyTo;
  const reason = get(Header.reason);
  if (reason) {
    job.reason = reason;
    job.origin = get(Header.origin) || undefined;
  }
  readFlowHeaders(get, job);
  return job;
}
