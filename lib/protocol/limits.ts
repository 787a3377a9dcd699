/**
 * Every limit and default the god applies, in one place: what one client (or
 * one address) may use, the defaults of requests that leave a field out, and
 * the bounds of every argument. The god's doors, its operations layer and the
 * clients all read them from here.
 */
import { DEFAULT_MAX_FRAME, HANDSHAKE_MAX_FRAME } from "./frame.ts";
import { DEFAULT_HANDSHAKE_TIMEOUT_MS } from "./handshake.ts";
import { ArgumentError } from "./errors.ts";

/** Every limit the god enforces; each has a default in {@link DEFAULT_LIMITS}. */
export interface Limits {
  /** Connections open at once, all addresses together. */
  maxConnections: number;
  /** Connections open at once from one IP address. */
  maxConnectionsPerAddress: number;
  /** Connections that have not finished the handshake yet, all addresses together. */
  maxUnauthenticated: number;
  /**
   * Connections from one address (an IPv6 address: its /64) that have not
   * finished the handshake yet (TLS included): well below `maxUnauthenticated`,
   * so one address cannot hold every handshake slot.
   */
  maxUnauthenticatedPerAddress: number;
  /** A client that has not finished the handshake by then is dropped (ms). */
  handshakeTimeoutMs: number;
  /** Largest frame before the handshake has succeeded (bytes; fixed by the protocol). */
  maxHandshakeFrame: number;
  /** Largest frame after the handshake (bytes). */
  maxFrameSize: number;
  /** Largest JSON header of one request (bytes): it is parsed whole, so it is kept small. */
  maxRequestHeaderBytes: number;
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
  /** Jobs one put may carry, and jobs one complete may finish (each stores a job). */
  maxPutItems: number;
  /** Subscriptions (consumes) one connection may have open. */
  maxSubscriptions: number;
  /** Unread bytes queued to one client above which deliveries to it pause (resume on drain). */
  writeHighWater: number;
  /** Unread bytes queued to one client above which it is cut off (a slow consumer). */
  writeLimit: number;
  /** Failed handshakes one address may make in a burst before its failures are answered late. */
  authFailureBurst: number;
  /** Time in which one failure of the burst is forgiven (ms): the bucket's refill period. */
  authFailureRefillMs: number;
  /**
   * A connection quiet this long (ms) is pinged; one silent for three of these
   * is taken for dead (the god drops it and returns its jobs; clients reconnect).
   */
  heartbeatMs: number;
  /**
   * How late a failed handshake is answered once its address has used up its
   * burst (ms). Only failures wait: a client with the key is never held back.
   */
  authFailureDelayMs: number;
  /** HTTP connections open at once, all addresses together. */
  maxHttpConnections: number;
  /** HTTP connections open at once from one address (an IPv6 address: its /64). */
  maxHttpConnectionsPerAddress: number;
  /** Bytes of HTTP request bodies received and not yet checked against their signature, all addresses together. */
  maxUnverifiedBodyBytes: number;
  /** The same, from one address. */
  maxUnverifiedBodyBytesPerAddress: number;
  /** An HTTP client must send a request's headers within this time (ms). */
  httpHeadersTimeoutMs: number;
  /** An HTTP client must send a whole request, headers and body, within this time (ms). */
  httpRequestTimeoutMs: number;
  /** Live event streams (`/api/events`) open at once, all addresses together. */
  maxEventStreams: number;
  /** Live event streams open at once from one address. */
  maxEventStreamsPerAddress: number;
}

/**
 * The defaults: generous for honest clients on one machine, small enough that
 * one hostile address cannot exhaust the god.
 */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxConnections: 10_000,
  maxConnectionsPerAddress: 1_000,
  maxUnauthenticated: 1_000,
  maxUnauthenticatedPerAddress: 64,
  handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS,
  maxHandshakeFrame: HANDSHAKE_MAX_FRAME,
  maxFrameSize: DEFAULT_MAX_FRAME,
  maxRequestHeaderBytes: 1024 * 1024,
  maxInFlight: 65_536,
  maxQueues: 10_000,
  maxPayloadBytes: DEFAULT_MAX_FRAME,
  maxProgressBytes: 4096,
  maxParkedGets: 16_384,
  maxAckTags: 10_000,
  maxPutItems: 1_000,
  maxSubscriptions: 1_000,
  writeHighWater: 4 * 1024 * 1024,
  writeLimit: 64 * 1024 * 1024,
  authFailureBurst: 10,
  authFailureRefillMs: 6_000,
  heartbeatMs: 10_000,
  authFailureDelayMs: 2_000,
  maxHttpConnections: 4_096,
  maxHttpConnectionsPerAddress: 256,
  maxUnverifiedBodyBytes: 128 * 1024 * 1024,
  maxUnverifiedBodyBytesPerAddress: 32 * 1024 * 1024,
  httpHeadersTimeoutMs: 10_000,
  httpRequestTimeoutMs: 30_000,
  maxEventStreams: 64,
  maxEventStreamsPerAddress: 4,
});

/** The names of the counters in {@link LimitStats.hits}. */
export const LIMIT_NAMES = [
  "connections",
  "connectionsPerAddress",
  "unauthenticated",
  "unauthenticatedPerAddress",
  "handshakeTimeout",
  "frameSize",
  "headerSize",
  "inFlight",
  "queues",
  "payload",
  "progress",
  "parkedGets",
  "ackTags",
  "putItems",
  "subscriptions",
  "slowConsumer",
  "authThrottled",
  "httpConnections",
  "httpConnectionsPerAddress",
  "unverifiedBodyBytes",
  "eventStreams",
  "replayed",
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
  /** Addresses whose failed handshakes are answered late right now (they used up their burst). */
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
    if (!(name in DEFAULT_LIMITS)) throw new ArgumentError(`Unknown limit "${name}"`);
    if (!Number.isSafeInteger(value) || (value as number) < 1) {
      throw new ArgumentError(
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
