/**
 * Admission: which connections the god lets in (per address and in total,
 * open and still in their handshake), how failed handshakes are slowed down,
 * how rejections are logged without flooding the log, and a counter for
 * every time a limit was hit. The limits themselves are in
 * lib/protocol/limits.ts. Sans-I/O: time comes in as an argument, so the rules
 * are tested without sockets or sleeps.
 */
import { LIMIT_NAMES, type LimitName, type Limits, type LimitStats } from "../protocol/limits.ts";
import { ErrorCode } from "../protocol/errors.ts";

/** Whether a connection is in-process (the HTTP face, the god's own consumer): not limited per address. */
export function isLocal(transport: { readonly remote: string }): boolean {
  return transport.remote.startsWith("memory:");
}

/** The IP part of "host:port" (or "[v6]:port"); the whole string when there is no port. */
export function hostOf(remote: string): string {
  const bracket = /^\[([^\]]*)\]:\d+$/.exec(remote);
  if (bracket) return bracket[1];
  // Transports write "host:port" (an IPv6 host unbracketed): the port is the last part.
  const host = /^(.+):(\d+|\?)$/.exec(remote)?.[1] ?? remote;
  // "::ffff:127.0.0.1" and "127.0.0.1" are one address.
  return host.startsWith("::ffff:") ? host.slice(7) : host;
}

/**
 * The key per-address limits count under: an IPv4 address as it is, an IPv6
 * address by its /64 network (one machine usually holds a whole /64, so
 * counting single IPv6 addresses would not bound it).
 *
 * @example
 * ```ts
 * addressKey("10.0.0.7"); // "10.0.0.7"
 * addressKey("2001:db8::1"); // "2001:db8:0:0::/64"
 * ```
 */
export function addressKey(host: string): string {
  if (!host.includes(":")) return host;
  const bare = host.replace(/%.*$/, "").toLowerCase();
  const [head, tail] = bare.includes("::") ? bare.split("::", 2) : [bare, null];
  const left = head === "" ? [] : head.split(":");
  const right = tail === null || tail === "" ? [] : tail.split(":");
  // An embedded IPv4 tail ("::ffff:1.2.3.4") counts as two groups; only the first four matter.
  const groups = tail === null
    ? left
    : [...left, ...new Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  if (groups.length < 4) return bare;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

/** Addresses the auth limiter and the rejection log remember at most. */
const MAX_TRACKED_ADDRESSES = 100_000;

interface Bucket {
  /** Failures that may still happen before failures are answered late (fractional while refilling). */
  tokens: number;
  at: number;
}

/**
 * Slows down failed handshakes per address with a token bucket: each address
 * may fail `burst` times at full speed; one failure is forgiven every
 * `refillMs`. Once its bucket is empty, each further failure is answered only
 * after `delayMs` (the connection is held, silent, then told "authentication
 * failed"). New connections are never refused for it, and a handshake that
 * proves the key is never delayed: a client with the key gets in at once even
 * while another program on its address keeps failing.
 *
 * @example
 * ```ts
 * const limiter = new AuthLimiter({ burst: 10, refillMs: 6000, delayMs: 2000 });
 * const wait = limiter.failed("10.0.0.7", Date.now()); // 0 within the burst, then 2000
 * ```
 */
export class AuthLimiter {
  readonly burst: number;
  readonly refillMs: number;
  readonly delayMs: number;
  #buckets = new Map<string, Bucket>();

  constructor(options: { burst: number; refillMs: number; delayMs: number }) {
    this.burst = options.burst;
    this.refillMs = options.refillMs;
    this.delayMs = options.delayMs;
  }

  #refill(address: string, now: number): Bucket | undefined {
    const bucket = this.#buckets.get(address);
    if (!bucket) return undefined;
    bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) / this.refillMs);
    bucket.at = now;
    if (bucket.tokens >= this.burst) {
      this.#buckets.delete(address);
      return undefined;
    }
    return bucket;
  }

  /** Records one failed handshake; returns how long to wait before answering it (ms). */
  failed(address: string, now: number): number {
    let bucket = this.#refill(address, now);
    if (!bucket) {
      // Bounded memory under failures from very many addresses: forget the oldest.
      if (this.#buckets.size >= MAX_TRACKED_ADDRESSES) {
        this.#buckets.delete(this.#buckets.keys().next().value!);
      }
      bucket = { tokens: this.burst, at: now };
      this.#buckets.set(address, bucket);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return this.delayMs;
  }

  /** Addresses whose failures are answered late right now. */
  throttled(now: number): number {
    let n = 0;
    for (const address of [...this.#buckets.keys()]) {
      const bucket = this.#refill(address, now);
      if (bucket !== undefined && bucket.tokens < 1) n++;
    }
    return n;
  }

  /** Forgets addresses whose buckets are full again (call now and then). */
  sweep(now: number): void {
    for (const address of [...this.#buckets.keys()]) this.#refill(address, now);
  }
}

/** What the rejection log says about an address at the end of an interval. */
export interface RejectionSummary {
  address: string;
  /** Rejections not logged one by one. */
  count: number;
  /** How many of them had each error code, e.g. "auth_failed x40, version_mismatch x2". */
  codes: string;
  intervalMs: number;
}

interface RejectionWindow {
  start: number;
  quiet: number;
  codes: Map<string, number>;
  /** Codes already logged in this interval. */
  logged: Set<string>;
}

/**
 * Keeps the god's log readable under a flood of bad connections: from each
 * address, the first rejection of each kind (a failed handshake, a bad frame,
 * a handshake that timed out, a failed TLS handshake: a handful of kinds) of
 * an interval is logged in full; the rest are counted and told in one summary
 * line when the interval ends.
 * Memory is bounded: past `maxAddresses`, the oldest address is summarised
 * early.
 *
 * @example
 * ```ts
 * const log = new RejectionLog({ intervalMs: 10_000 });
 * if (log.note("10.0.0.7", "auth_failed", Date.now())) console.log("refused 10.0.0.7 ...");
 * for (const s of log.sweep(Date.now())) console.log(`${s.count} more from ${s.address}`);
 * ```
 */
export class RejectionLog {
  readonly intervalMs: number;
  readonly #maxAddresses: number;
  #windows = new Map<string, RejectionWindow>();
  #ended: RejectionSummary[] = [];

  constructor(options: { intervalMs: number; maxAddresses?: number }) {
    this.intervalMs = options.intervalMs;
    this.#maxAddresses = options.maxAddresses ?? MAX_TRACKED_ADDRESSES;
  }

  /**
   * Records a rejection; true when it is to be logged now (the first of its
   * `code` from `address` this interval).
   */
  note(address: string, code: string, now: number): boolean {
    const window = this.#windows.get(address);
    if (window !== undefined && now - window.start < this.intervalMs) {
      if (!window.logged.has(code) && window.logged.size < MAX_LOGGED_CODES) {
        window.logged.add(code);
        return true;
      }
      window.quiet++;
      window.codes.set(code, (window.codes.get(code) ?? 0) + 1);
      return false;
    }
    if (window !== undefined) this.#end(address, window);
    else if (this.#windows.size >= this.#maxAddresses) {
      const [oldest, oldWindow] = this.#windows.entries().next().value!;
      this.#end(oldest, oldWindow);
    }
    this.#windows.set(address, { start: now, quiet: 0, codes: new Map(), logged: new Set([code]) });
    return true;
  }

  /** Ends the intervals that are over; returns one summary per address with rejections not logged. */
  sweep(now: number): RejectionSummary[] {
    for (const [address, window] of [...this.#windows]) {
      if (now - window.start >= this.intervalMs) this.#end(address, window);
    }
    const ended = this.#ended;
    this.#ended = [];
    return ended;
  }

  #end(address: string, window: RejectionWindow): void {
    this.#windows.delete(address);
    if (window.quiet === 0) return;
    this.#ended.push({
      address,
      count: window.quiet,
      codes: [...window.codes].map(([code, n]) => `${code} x${n}`).join(", "),
      intervalMs: this.intervalMs,
    });
  }
}

/** Kinds of rejection logged in full per address per interval, at most. */
const MAX_LOGGED_CODES = 8;

/** How often the rejections of one address are summarised in the log (ms). */
export const REJECTION_LOG_INTERVAL_MS = 10_000;

/**
 * Counts open connections and connections still in their handshake, per
 * address and in total, and hits of every limit. Per-address counts are kept
 * under {@link addressKey}.
 */
export class LimitCounters {
  readonly settings: Limits;
  readonly auth: AuthLimiter;
  readonly rejections: RejectionLog;
  readonly hits: Record<LimitName, number> = Object.fromEntries(
    LIMIT_NAMES.map((n) => [n, 0]),
  ) as Record<LimitName, number>;
  authFailures = 0;
  unauthenticated = 0;
  pausedWriters = 0;
  #perAddress = new Map<string, number>();
  #pendingPerAddress = new Map<string, number>();
  #total = 0;

  constructor(settings: Limits) {
    this.settings = settings;
    this.auth = new AuthLimiter({
      burst: settings.authFailureBurst,
      refillMs: settings.authFailureRefillMs,
      delayMs: settings.authFailureDelayMs,
    });
    this.rejections = new RejectionLog({ intervalMs: REJECTION_LOG_INTERVAL_MS });
  }

  /** Counts one hit of the limit `name` (names not in {@link LIMIT_NAMES} are ignored). */
  hit(name: LimitName | string): void {
    if (Object.hasOwn(this.hits, name)) this.hits[name as LimitName]++;
  }

  /**
   * Decides whether a new connection from `address` (an IP address) may open;
   * returns the reason and the limit's name when not (and counts the hit),
   * else records it as open and in its handshake.
   */
  admit(address: string, _now: number): { limit: LimitName; message: string } | null {
    const s = this.settings;
    const key = addressKey(address);
    const refuse = (limit: LimitName, message: string) => {
      this.hit(limit);
      return { limit, message };
    };
    if (this.#total >= s.maxConnections) {
      return refuse(
        "connections",
        `Cannot accept a connection from ${address}: the god has ${this.#total} connections (maxConnections ${s.maxConnections})`,
      );
    }
    const mine = this.#perAddress.get(key) ?? 0;
    if (mine >= s.maxConnectionsPerAddress) {
      return refuse(
        "connectionsPerAddress",
        `Cannot accept a connection from ${address}: it has ${mine} connections (maxConnectionsPerAddress ${s.maxConnectionsPerAddress})`,
      );
    }
    const pending = this.#pendingPerAddress.get(key) ?? 0;
    if (pending >= s.maxUnauthenticatedPerAddress) {
      return refuse(
        "unauthenticatedPerAddress",
        `Cannot accept a connection from ${address}: ${pending} of its connections are still in their handshake (maxUnauthenticatedPerAddress ${s.maxUnauthenticatedPerAddress})`,
      );
    }
    if (this.unauthenticated >= s.maxUnauthenticated) {
      return refuse(
        "unauthenticated",
        `Cannot accept a connection from ${address}: ${this.unauthenticated} connections are still in their handshake (maxUnauthenticated ${s.maxUnauthenticated})`,
      );
    }
    this.#total++;
    this.#perAddress.set(key, mine + 1);
    this.#pendingPerAddress.set(key, pending + 1);
    this.unauthenticated++;
    return null;
  }

  /** A connection from `address` admitted by {@link admit} finished its handshake (or failed it). */
  handshakeOver(address: string): void {
    this.unauthenticated = Math.max(0, this.unauthenticated - 1);
    decrement(this.#pendingPerAddress, addressKey(address));
  }

  /** A connection from `address` admitted by {@link admit} closed. */
  release(address: string): void {
    this.#total = Math.max(0, this.#total - 1);
    decrement(this.#perAddress, addressKey(address));
  }

  /** Open connections counted here. */
  get connections(): number {
    return this.#total;
  }

  /** A snapshot for stats. */
  stats(now: number): LimitStats {
    return {
      settings: { ...this.settings },
      hits: { ...this.hits },
      authFailures: this.authFailures,
      throttledAddresses: this.auth.throttled(now),
      unauthenticated: this.unauthenticated,
      pausedWriters: this.pausedWriters,
    };
  }
}

function decrement(counts: Map<string, number>, key: string): void {
  const n = (counts.get(key) ?? 1) - 1;
  if (n <= 0) counts.delete(key);
  else counts.set(key, n);
}

/**
 * What a door does with a connection-level failure of a peer, whichever door:
 * counts it against its limit, says how long to hold the answer (a failed
 * handshake from an address past its burst, see {@link AuthLimiter}) and
 * whether to log it now (rejections before the handshake from other hosts
 * are logged once per address per interval, see {@link RejectionLog}).
 */
export function judgeFailure(
  limits: LimitCounters,
  failure: { code: string; address: string; remote: boolean; beforeAuth: boolean },
  now: number,
): { delayMs: number; log: boolean } {
  const { code, address, remote, beforeAuth } = failure;
  let delayMs = 0;
  if (code === ErrorCode.HandshakeTimeout) limits.hit("handshakeTimeout");
  else if (code === ErrorCode.FrameTooLarge) limits.hit("frameSize");
  else if (code === ErrorCode.AuthFailed && beforeAuth) {
    limits.authFailures++;
    if (remote) {
      delayMs = limits.auth.failed(address, now);
      if (delayMs > 0) limits.hit("authThrottled");
    }
  }
  const log = !beforeAuth || !remote || limits.rejections.note(address, code, now);
  return { delayMs, log };
}

/**
 * A logger of refused connections: at most one line a second per limit,
 * saying how many refusals were not logged meanwhile (a flood of connections
 * makes one line a second, not one each).
 */
export function refusalLogger(
  log: (event: Record<string, unknown>) => void,
  fields: Record<string, unknown> = {},
): (remote: string, limit: string, message: string) => void {
  const refusals = new Map<string, { at: number; quiet: number }>();
  return (remote, limit, message) => {
    const now = Date.now();
    const seen = refusals.get(limit);
    if (seen && now - seen.at < 1000) {
      seen.quiet++;
      return;
    }
    refusals.set(limit, { at: now, quiet: 0 });
    log({ event: "refused", ...fields, remote, limit, message, unlogged: seen?.quiet ?? 0 });
  };
}
