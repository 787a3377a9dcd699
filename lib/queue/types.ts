/** Data shapes shared by the queue rules, the store and the server. */

/** How a named queue behaves. */
export interface QueueOptions {
  /** Most jobs waiting (ready + delayed) before `put` waits; 0 for no bound. */
  maxsize: number;
  /** How long a consumer holds a job before it goes back to the queue. */
  leaseMs: number;
  /** Deliveries before a job moves to the dead-letter queue. */
  maxAttempts: number;
  /** Where dead jobs go; `null` means jobs here are never dead-lettered. */
  deadLetter: string | null;
  /** While paused, puts are taken but no job is handed out. */
  paused: boolean;
  /** At most `count` jobs handed out per `perMs`, across all consumers; null for no limit. */
  rateLimit: RateLimit | null;
  /** How long a job handed back (nacked without a delay, or expired) waits before it is tried again; null: at once. */
  backoff: Backoff | null;
}

/** A rate limit: at most `count` jobs handed out per `perMs` milliseconds. */
export interface RateLimit {
  count: number;
  perMs: number;
}

/**
 * A retry policy: the wait before attempt n+1 is `delayMs` ("fixed"), or
 * `delayMs * 2^(n-1)` ("exponential"), at most `maxMs`; with `jitter`, a
 * random point in the upper half of that.
 */
export interface Backoff {
  type: "fixed" | "exponential";
  delayMs: number;
  maxMs: number;
  jitter: boolean;
}

/**
 * One job as the god holds it. The payload stays encoded — the superjson text
 * the producer sent — and the god never parses it. A string, not bytes: a
 * short string costs a few dozen bytes, a Uint8Array several hundred, which
 * matters with a million jobs queued.
 */
export interface Job {
  /** Broker-wide order; the journal's key for the job. */
  readonly seq: number;
  /** The put id (client-made unless given), used for dedupe. */
  readonly id: string;
  readonly payload: string;
  priority: number;
  /** Deliveries so far. */
  attempts: number;
  /** When the job becomes ready (epoch ms); in the past for ready jobs. */
  readyAt: number;
  /** Why the job was dead-lettered, and the queue it died in. */
  reason?: string;
  origin?: string;
  /**
   * For a task made with `call()`: the caller waiting for its result (the
   * operations layer's id for it). Held in memory only: after a restart the
   * caller is gone, and the result goes where an uncalled task's would.
   */
  replyTo?: string;
  /**
   * The owner whose lease on this job ran out: the job goes to another
   * consumer when there is one. In memory only, and only after an expiry.
   */
  avoid?: number;
  /** This job's own retry policy, over its queue's (set by its put). */
  backoff?: Backoff;
  /** Why each earlier attempt did not finish (most recent last, at most 20). */
  history?: Attempt[];
}

/** One attempt that did not finish: when, which consumer, why. */
export interface Attempt {
  /** Epoch ms. */
  at: number;
  /** The consumer's name ("" when unknown). */
  by: string;
  why: string;
}

/** A job to add. */
export interface PutItem {
  id: string;
  payload: string;
  priority: number;
  delayMs: number;
  /** Its own retry policy, over its queue's. */
  backoff?: Backoff;
  /** See {@link Job.replyTo}. */
  replyTo?: string;
}

/**
 * A schedule: a job put on `queue` at every slot of a cron expression (in a
 * time zone) or of a fixed interval. The job's id is `schedule:NAME:SLOT`
 * (SLOT in epoch ms), so a slot put twice (two gods, a retried fire) is
 * stored once.
 */
export interface Schedule {
  /** 1-200 of `A-Z a-z 0-9 _ . : -`. */
  name: string;
  queue: string;
  /** A cron expression (5 or 6 fields, croner syntax); or null with `everyMs`. */
  cron: string | null;
  /** The cron's IANA time zone, e.g. "Europe/Paris" (default UTC). */
  timezone: string | null;
  /** A fixed interval instead of a cron: slots at `anchor + k * everyMs`. */
  everyMs: number | null;
  /** Where interval slots are counted from (epoch ms; when the schedule was made). */
  anchor: number;
  /** The job's value, superjson text as stored for any job. */
  payload: string;
  priority: number;
  /** After downtime, put every slot missed (at most {@link MAX_CATCH_UP}); default: only slots from now on. */
  catchUp: boolean;
  /** The last slot put (epoch ms), or 0 before the first. */
  last: number;
}

/** Most missed slots one schedule puts at once with `catchUp`. */
export const MAX_CATCH_UP = 1000;

/** A job handed to a consumer under a lease. */
export interface Delivery {
  tag: number;
  queue: string;
  job: Job;
  /** When the lease ends unless touched (epoch ms); absent when the backend does not say. */
  deadline?: number;
}

export type { QueueStats } from "../protocol/replies.ts";

/** What changes the god's durable state; the store writes these, recovery replays them. */
export type JournalRecord =
  | { t: "declare"; q: string; options: QueueOptions }
  | { t: "put"; q: string; job: Job }
  | { t: "ack"; q: string; seq: number }
  /** An ack and, when `put` is there, the result it stored: one record, so both or neither. */
  | { t: "complete"; q: string; seq: number; put?: { q: string; job: Job } }
  | {
    t: "return";
    q: string;
    seq: number;
    attempts: number;
    readyAt: number;
    /** The attempt that did not finish, for the job's history. */
    attempt?: Attempt;
  }
  | {
    t: "dead";
    q: string;
    seq: number;
    to: string;
    reason: string;
    attempts: number;
    attempt?: Attempt;
  }
  /** What a job carries beyond its put: its own retry policy, its history (after a put or in a snapshot). */
  | { t: "extra"; q: string; seq: number; backoff?: Backoff; history?: Attempt[] }
  | { t: "requeue"; q: string; seq: number; to: string }
  | { t: "purge"; q: string }
  /** A schedule made or replaced (its `last` as it is then). */
  | { t: "schedule"; schedule: Schedule }
  | { t: "unschedule"; name: string }
  /** A schedule put the job of `slot`. */
  | { t: "fired"; name: string; slot: number };
