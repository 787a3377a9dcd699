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
}

/** A job to add. */
export interface PutItem {
  id: string;
  payload: string;
  priority: number;
  delayMs: number;
  /** See {@link Job.replyTo}. */
  replyTo?: string;
}

/** A job handed to a consumer under a lease. */
export interface Delivery {
  tag: number;
  queue: string;
  job: Job;
}

export type { QueueStats } from "../protocol/replies.ts";

/** What changes the god's durable state; the store writes these, recovery replays them. */
export type JournalRecord =
  | { t: "declare"; q: string; options: QueueOptions }
  | { t: "put"; q: string; job: Job }
  | { t: "ack"; q: string; seq: number }
  /** An ack and, when `put` is there, the result it stored: one record, so both or neither. */
  | { t: "complete"; q: string; seq: number; put?: { q: string; job: Job } }
  | { t: "return"; q: string; seq: number; attempts: number; readyAt: number }
  | { t: "dead"; q: string; seq: number; to: string; reason: string; attempts: number }
  | { t: "requeue"; q: string; seq: number; to: string }
  | { t: "purge"; q: string };
