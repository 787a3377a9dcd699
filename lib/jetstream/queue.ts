/**
 * What one god knows of one queue kept in JetStream, and the records that
 * hang off it: the leases it handed out, the subscriptions and the waiting
 * gets it pulls for. Plain state; the parts of the backend act on it.
 */
import type { RemoteError } from "../protocol/errors.ts";
import type { Owner, Subscription } from "../queue/backend.ts";
import { Deque } from "../queue/deque.ts";
import { RateMeter } from "../queue/rate.ts";
import type { Delivery, Job, QueueOptions } from "../queue/types.ts";
import { queueNames } from "./names.ts";

/** A job this god leased to a connection, until acked, nacked or expired. */
export interface Lease {
  tag: number;
  queue: JsQueue;
  /** The JetStream ack subject of the delivery. */
  reply: string;
  seq: number;
  job: Job;
  owner: Owner;
  sub: JsSub | null;
  /** Epoch ms after which the lease is over here (JetStream redelivers on its ack wait). */
  deadline: number;
  ended: boolean;
  /** The job's last progress (superjson text) and when it came; kept by this god only. */
  progress?: string;
  progressAt?: number;
}

/** A `get` waiting for a job. */
export interface GetWait {
  owner: Owner;
  queue: JsQueue;
  deadline: number;
  /** Null once answered. */
  done: ((delivery: Delivery | null | RemoteError) => void) | null;
  /** The last pull failure, reported when the wait ends empty. */
  lastError: string | null;
}

/** A push subscription and what is being pulled for it. */
export interface JsSub extends Subscription {
  readonly jsQueue: JsQueue;
  /** Jobs asked of JetStream and not yet arrived. */
  requested: number;
  /** Deliveries gathered in this turn, handed over together. */
  batch: Delivery[];
  flushing: boolean;
}

/** Cluster-wide counts from stream and consumer info. */
export interface Snapshot {
  ready: number;
  inFlight: number;
  dead: number;
  delayed: number;
  at: number;
}

/** One queue: its stream and subject, options, and this god's bookkeeping. */
export class JsQueue {
  readonly name: string;
  readonly stream: string;
  readonly subject: string;
  options: QueueOptions;
  /** Settles once the stream and consumer exist with this god's settings. */
  ensured: Promise<void> | null = null;
  subs: JsSub[] = [];
  waits = 0;
  waitingPuts = 0;
  inFlight = 0;
  /** Leases in deadline order (touched leases are pushed again; ended ones skipped). */
  leaseOrder = new Deque<Lease>();
  readonly bySeq = new Map<number, Lease>();
  /** This god's leases whose job reported progress. */
  readonly reporting = new Set<Lease>();
  /** Stream sequence → the latest delivery count announced by a god (recent ones only). */
  readonly notices = new Map<number, number>();
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

  /** Wakes every waiting put (room was made). */
  wakePuts(): void {
    for (const wake of [...this.roomWaiters]) wake();
  }

  /** Wakes the waiting puts of a bounded queue after this god freed a place. */
  roomFreed(): void {
    if (this.roomWaiters.size > 0 && this.options.maxsize > 0) this.wakePuts();
  }
}
