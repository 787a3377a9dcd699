/**
 * Every limit and default the god applies, in one place: what one client (or
 * one address) may use, the defaults of requests that leave a field out, and
 * the bounds of every argument. The god's doors, its operations layer and the
 * clients all read them from here.
 */
import { DEFAULT_MAX_FRAME, HANDSHAKE_MAX_FRAME } from "./frame.ts";
import { DEFAULT_HANDSHAKE_TIMEOUT_MS } from "./handshake.ts";

/** Every limit the god enforces; each has a default in {@link DEFAULT_LIMITS}. */
export interface Limits {
  /** Connections open at once, all addresses together. */
  maxConnections: number;
  /** Connections open at once from one IP address. */
  maxConnectionsPerAddress: number;
  /** Connections that have not finished the handshake yet, all addresses together. */
  maxUnauthenticated: number;
  /** A client that has not finished the handshake by then is dropped (ms). */
  handshakeTimeoutMs: number;
  /** Largest frame before the handshake has succeeded (bytes; fixed by the protocol). */
  maxHandshakeFrame: number;
  /** Largest frame after the handshake (bytes). */
  maxFrameSize: number;
  /** Requests one connection may have waiting for their reply (parked gets and puts included). */
  maxInFlight: number;
  /** Queues the god holds (the broker's `maxQueues`). */
  maxQueues: number;
  /** Largest payload of one job (bytes). */
  maxPayloadBytes: number;
  /** Largest progress value a job may report (bytes of its superjson text). */
  maxProgressBytes: number;
  /** Gets one connection may have parked waiting for a job. */
  maxParkedGets: number;
  /** Lease tags one ack may carry. */
  maxAckTags: number;
  /** Unread bytes queued to one client above which deliveries to it pause (resume on drain). */
  writeHighWater: number;
  /** Unread bytes queued to one client above which it is cut off (a slow consumer). */
  writeLimit: number;
  /** Failed handshakes one address may make in a burst before it is refused. */
  authFailureBurst: number;
  /** Time in which one failure of the burst is forgiven (ms): the bucket's refill period. */
  authFailureRefillMs: number;
  /**
   * A connection quiet this long (ms) is pinged; one silent for three of these
   * is taken for dead (the god drops it and returns its jobs; clients reconnect).
   */
  heartbeatMs: number;
}

/**
 * The defaults: generous for honest clients on one machine, small enough that
 * one hostile address cannot exhaust the god.
 */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxConnections: 10_000,
  maxConnectionsPerAddress: 1_000,
  maxUnauthenticated: 1_000,
  handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS,
  maxHandshakeFrame: HANDSHAKE_MAX_FRAME,
  maxFrameSize: DEFAULT_MAX_FRAME,
  maxInFlight: 65_536,
  maxQueues: 10_000,
  maxPayloadBytes: DEFAULT_MAX_FRAME,
  maxProgressBytes: 4096,
  maxParkedGets: 16_384,
  maxAckTags: 100_000,
  writeHighWater: 4 * 1024 * 1024,
  writeLimit: 64 * 1024 * 1024,
  authFailureBurst: 10,
  authFailureRefillMs: 6_000,
  heartbeatMs: 10_000,
});

/** The names of the counters in {@link LimitStats.hits}. */
export const LIMIT_NAMES = [
  "connections",
  "connectionsPerAddress",
  "unauthenticated",
  "handshakeTimeout",
  "frameSize",
  "inFlight",
  "queues",
  "payload",
  "progress",
  "parkedGets",
  "ackTags",
  "slowConsumer",
  "authThrottled",
] as const;
/** One of {@link LIMIT_NAMES}. */
export type LimitName = typeof LIMIT_NAMES[number];

/** What stats and metrics show about limits. */
export interface LimitStats {
  settings: Limits;
  /** How many times each limit refused something since the god started. */
  hits: Record<LimitName, number>;
  /** Failed handshakes (wrong key, bad version, replay) since the god started. */
  authFailures: number;
  /** Addresses refused right now because of failed handshakes. */
  throttledAddresses: number;
  unauthenticated: number;
  /** Sessions paused because their write buffer is over `writeHighWater`. */
  pausedWriters: number;
}

/**
 * Fills in defaults and checks each given value is a positive integer.
 *
 * @example
 * ```ts
 * resolveLimits({ maxConnections: 100 }).maxParkedGets; // 16384
 * ```
 */
export function resolveLimits(given: Partial<Limits> = {}): Limits {
  const limits = { ...DEFAULT_LIMITS };
  for (const [name, value] of Object.entries(given)) {
    if (value === undefined) continue;
    if (!(name in DEFAULT_LIMITS)) throw new TypeError(`Unknown limit "${name}"`);
    if (!Number.isSafeInteger(value) || (value as number) < 1) {
      throw new TypeError(
        `Invalid limit ${name}: ${JSON.stringify(value)} (expected a positive integer)`,
      );
    }
    (limits as Record<string, number>)[name] = value as number;
  }
  return limits;
}

/** What a request gets when it leaves a field out. */
export const DEFAULTS = Object.freeze({
  /** How long a put to a full queue waits for room before `queue_full` (ms). */
  putTimeoutMs: 30_000,
  /** Unacked jobs a push consumer holds when it does not say. */
  prefetch: 64,
  /** Jobs a peek lists when it does not say. */
  peekLimit: 10,
  /** Dead letters a listing shows when it does not say. */
  deadListLimit: 100,
  /** How long `queue.call()` waits for the answer when it does not say. */
  callTimeoutMs: 30_000,
});

/** The bounds of request arguments. */
export const BOUNDS = Object.freeze({
  /** Longest timeout, delay or lease: a day (ms). */
  maxDurationMs: 24 * 3600_000,
  /** Longest job id a client may choose. */
  maxIdLength: 256,
  /** Most unacked jobs one push consumer may ask for. */
  maxPrefetch: 100_000,
  /** Most jobs one listing (peek, dead letters) returns. */
  maxListed: 10_000,
  /** Most jobs one get may take. */
  maxGetJobs: 1_000,
  /** Longest reason a failed job keeps. */
  maxReasonLength: 1_000,
});
