/**
 * The shapes of what the god answers that clients read: its stats (server,
 * store, queues, connections, limits) and the jobs it lists. Both doors (TCP
 * and HTTP) answer with these, and both clients read them; the god's modules
 * fill them in.
 */
import type { LimitStats } from "./limits.ts";

/** Counters and gauges of one queue. */
export interface QueueStats {
  name: string;
  ready: number;
  delayed: number;
  inFlight: number;
  /** Jobs in this queue's dead-letter queue. */
  dead: number;
  consumers: number;
  waitingGets: number;
  waitingPuts: number;
  maxsize: number;
  /** Paused: puts are taken, nothing is handed out. */
  paused: boolean;
  /** At most `count` jobs handed out per `perMs` (null: no limit). */
  rateLimit: { count: number; perMs: number } | null;
  /** Jobs wait for the rate limit's next token right now. */
  throttled: boolean;
  /** In-flight jobs that reported progress, most recent first (at most 10). */
  progress: ProgressInfo[];
  totals: {
    put: number;
    acked: number;
    nacked: number;
    redelivered: number;
    expired: number;
    deadLettered: number;
    duplicates: number;
    /** Times jobs had to wait for the rate limit (a queue going from handing out to held back). */
    throttled: number;
    /** Jobs put by the queue's schedules. */
    scheduled: number;
  };
  /** Per second over the last ten seconds. */
  rates: { put: number; acked: number };
}

/** What the embedded store tells about itself. */
export interface StoreStats {
  kind: "memory" | "journal";
  fsync?: string;
  journalBytes?: number;
  lastCompaction?: string | null;
  recovered?: Record<string, number>;
  /** Recent fsync durations in ms (for the metrics histogram). */
  fsyncMs?: number[];
  /** Whether the store can make new records durable: "ok", "stalled" (disk full) or "failed". */
  state?: "ok" | "stalled" | "failed";
}

/** What a remote queue backend tells about itself. */
export interface BackendInfo {
  kind: "jetstream";
  /** Where a taskwire guarantee is weaker than the embedded store's, in words. */
  limitations: string[];
  /** The NATS server the god is connected to now, and whether it is connected. */
  servers: string;
  connected: boolean;
  /** Stream name prefix and stream replicas. */
  prefix: string;
  replicas: number;
  /** How old the stats snapshot is (ms), or null before the first refresh. */
  snapshotAgeMs: number | null;
}

/** How a client reaches the god. */
export type Door = "tcp" | "http" | "python" | "local";

/** One connected client, as stats show it. */
export interface ConnectionInfo {
  remote: string;
  role: string;
  runtime: string;
  name: string;
  /** Which of the god's doors it came through. */
  transport: Door;
  connectedAt: string;
  leases: number;
}

/** Everything the god can tell about itself. */
export interface GodStats {
  server: {
    name: string;
    runtime: string;
    uptimeMs: number;
    address: string;
    store: StoreStats | BackendInfo;
  };
  queues: QueueStats[];
  connections: ConnectionInfo[];
  /** The limits in force and how often each was hit. */
  limits?: LimitStats;
}

/** What an in-flight job last said about its progress. */
export interface ProgressInfo {
  id: string;
  tag: number;
  /** The consumer holding the job. */
  by: string;
  /** The value, superjson text (a number or a small object). */
  value: string;
  /** When it was reported (epoch ms). */
  at: number;
}

/** One attempt at a job that did not finish: when (epoch ms), which consumer, why. */
export interface AttemptInfo {
  at: number;
  by: string;
  why: string;
}

/** A job as listed (peek, dead letters, in flight) or handed out: everything but its payload. */
export interface JobMeta {
  id: string;
  attempts: number;
  priority: number;
  /** The lease, when the job is handed out (or listed in flight). */
  tag?: number;
  /** Why the job was dead-lettered, and the queue it died in. */
  reason?: string;
  origin?: string;
  /** Earlier attempts that did not finish, oldest first (at most 20). */
  history?: AttemptInfo[];
  /** In flight: the consumer holding it, its lease's deadline (epoch ms), its last progress. */
  by?: string;
  deadline?: number;
  /** Superjson text of the last progress value, and when it came. */
  progress?: string;
  progressAt?: number;
}

/** A schedule as listed: its definition, its next and last slots; `payload` travels apart. */
export interface ScheduleInfo {
  name: string;
  queue: string;
  cron: string | null;
  timezone: string | null;
  everyMs: number | null;
  priority: number;
  catchUp: boolean;
  /** The last slot put (epoch ms), or null before the first. */
  last: number | null;
  /** The next slot (epoch ms), or null when the cron has none left. */
  next: number | null;
}

/**
 * The answer to a called task (`queue.call()`): its result, or why it has
 * none (it was dead-lettered). `payload` is the result's superjson text.
 */
export interface CallResult {
  /** The called task's id. */
  id: string;
  /** The queue the task was put to. */
  queue: string;
  payload?: string;
  /**
   * Where the result goes when the caller no longer waits for it (it timed
   * out meanwhile): the client puts it there, with the id `result:<task id>`.
   */
  fallback?: string;
  error?: { code: string; message: string };
  /**
   * Set instead of a result while the task runs: the superjson text of its
   * consumer's latest `job.progress(value)`. More may follow; the result ends it.
   */
  progress?: string;
}
