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
  totals: {
    put: number;
    acked: number;
    nacked: number;
    redelivered: number;
    expired: number;
    deadLettered: number;
    duplicates: number;
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

/** A job as listed (peek, dead letters) or handed out: everything but its payload. */
export interface JobMeta {
  id: string;
  attempts: number;
  priority: number;
  /** The lease, when the job is handed out. */
  tag?: number;
  /** Why the job was dead-lettered, and the queue it died in. */
  reason?: string;
  origin?: string;
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
}
