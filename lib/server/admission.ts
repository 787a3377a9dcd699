/**
 * Admission: which connections the god lets in (per address and in total,
 * throttling addresses that keep failing the handshake), and a counter for
 * every time a limit was hit. The limits themselves are in
 * lib/protocol/limits.ts. Sans-I/O: time comes in as an argument, so the rules
 * are tested without sockets or sleeps.
 */
import { LIMIT_NAMES, type LimitName, type Limits, type LimitStats } from "../protocol/limits.ts";

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

/** Addresses the auth limiter remembers at most. */
const MAX_TRACKED_ADDRESSES = 100_000;

interface Bucket {
  /** Failures that may still happen before the address is refused (fractional while refilling). */
  tokens: number;
  at: number;
  /** Failures and refusals not logged yet (they belong to a burst already logged). */
  quiet: number;
  /** Whether this burst has been logged. */
  logged: boolean;
}

/**
 * Rate-limits failed handshakes per address with a token bucket: each address
 * may fail `burst` times; one failure is forgiven every `refillMs`. While the
 * bucket is empty, new connections from the address are refused at once.
 * Logging is once per burst: the first failure of a burst is logged, the rest
 * are counted and reported when the next burst starts.
 *
 * @example
 * ```ts
 * const limiter = new AuthLimiter({ burst: 10, refillMs: 6000 });
 * if (limiter.retryAfter("10.0.0.7", Date.now()) > 0) refuse();
 * ```
 */
export class AuthLimiter {
  readonly burst: number;
  readonly refillMs: number;
  #buckets = new Map<string, Bucket>();

  constructor(options: { burst: number; refillMs: number }) {
    this.burst = options.burst;
    this.refillMs = options.refillMs;
  }

  #refill(address: string, now: number): Bucket | undefined {
    const bucket = this.#buckets.get(address);
    if (!bucket) return undefined;
    bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) / this.refillMs);
    bucket.at = now;
    if (bucket.tokens >= this.burst) {
      // The burst is over: the next failure is logged again.
      bucket.logged = false;
      if (bucket.quiet === 0) {
        this.#buckets.delete(address);
        return undefined;
      }
    }
    return bucket;
  }

  /** Milliseconds until `address` may try again; 0 when it may try now. */
  retryAfter(address: string, now: number): number {
    const bucket = this.#refill(address, now);
    if (!bucket || bucket.tokens >= 1) return 0;
    return Math.ceil((1 - bucket.tokens) * this.refillMs);
  }

  /** Counts a refusal made because the address was throttled (reported with the burst). */
  refused(address: string, now: number): void {
    const bucket = this.#refill(address, now);
    if (bucket) bucket.quiet++;
  }

  /**
   * Records one failed handshake. Returns what to log: `null` while the burst
   * was already logged, else the number of failures and refusals not logged
   * since the last log line (0 for a fresh address).
   */
  failed(address: string, now: number): { unlogged: number } | null {
    let bucket = this.#refill(address, now);
    if (!bucket) {
      // Bounded memory under failures from very many addresses: forget the oldest.
      if (this.#buckets.size >= MAX_TRACKED_ADDRESSES) {
        this.#buckets.delete(this.#buckets.keys().next().value!);
      }
      bucket = { tokens: this.burst, at: now, quiet: 0, logged: false };
      this.#buckets.set(address, bucket);
    }
    bucket.tokens = Math.max(0, bucket.tokens - 1);
    if (bucket.logged) {
      bucket.quiet++;
      return null;
    }
    const unlogged = bucket.quiet;
    bucket.quiet = 0;
    bucket.logged = true;
    return { unlogged };
  }

  /** Addresses that are refused right now. */
  throttled(now: number): number {
    let n = 0;
    for (const address of [...this.#buckets.keys()]) {
      if (this.retryAfter(address, now) > 0) n++;
    }
    return n;
  }

  /**
   * Forgets addresses whose buckets are full again (call now and then);
   * returns those whose burst ended with failures or refusals not logged yet.
   */
  sweep(now: number): { address: string; unlogged: number }[] {
    const ended: { address: string; unlogged: number }[] = [];
    for (const [address, bucket] of [...this.#buckets]) {
      this.#refill(address, now);
      if (bucket.tokens >= this.burst) {
        if (bucket.quiet > 0) ended.push({ address, unlogged: bucket.quiet });
        this.#buckets.delete(address);
      }
    }
    return ended;
  }
}

/** Counts open connections per address and in total, and hits of every limit. */
export class LimitCounters {
  readonly settings: Limits;
  readonly auth: AuthLimiter;
  readonly hits: Record<LimitName, number> = Object.fromEntries(
    LIMIT_NAMES.map((n) => [n, 0]),
  ) as Record<LimitName, number>;
  authFailures = 0;
  unauthenticated = 0;
  pausedWriters = 0;
  #perAddress = new Map<string, number>();
  #total = 0;

  constructor(settings: Limits) {
    this.settings = settings;
    this.auth = new AuthLimiter({
      burst: settings.authFailureBurst,
      refillMs: settings.authFailureRefillMs,
    });
  }

  /** Counts one hit of the limit `name` (names not in {@link LIMIT_NAMES} are ignored). */
  hit(name: LimitName | string): void {
    if (Object.hasOwn(this.hits, name)) this.hits[name as LimitName]++;
  }

  /**
   * Decides whether a new connection from `address` may open; returns the
   * reason and the limit's name when not (and counts the hit), else records it.
   */
  admit(address: string, now: number): { limit: LimitName; message: string } | null {
    const s = this.settings;
    const refuse = (limit: LimitName, message: string) => {
      this.hit(limit);
      return { limit, message };
    };
    const wait = this.auth.retryAfter(address, now);
    if (wait > 0) {
      this.auth.refused(address, now);
      return refuse(
        "authThrottled",
        `Cannot accept a connection from ${address}: too many failed handshakes from it; retry in ${
          Math.ceil(wait / 1000)
        } s`,
      );
    }
    if (this.#total >= s.maxConnections) {
      return refuse(
        "connections",
        `Cannot accept a connection from ${address}: the god has ${this.#total} connections (maxConnections ${s.maxConnections})`,
      );
    }
    const mine = this.#perAddress.get(address) ?? 0;
    if (mine >= s.maxConnectionsPerAddress) {
      return refuse(
        "connectionsPerAddress",
        `Cannot accept a connection from ${address}: it has ${mine} connections (maxConnectionsPerAddress ${s.maxConnectionsPerAddress})`,
      );
    }
    if (this.unauthenticated >= s.maxUnauthenticated) {
      return refuse(
        "unauthenticated",
        `Cannot accept a connection from ${address}: ${this.unauthenticated} connections are still in their handshake (maxUnauthenticated ${s.maxUnauthenticated})`,
      );
    }
    this.#total++;
    this.#perAddress.set(address, mine + 1);
    this.unauthenticated++;
    return null;
  }

  /** A connection admitted by {@link admit} finished its handshake (or failed it). */
  handshakeOver(): void {
    this.unauthenticated = Math.max(0, this.unauthenticated - 1);
  }

  /** A connection admitted by {@link admit} closed. */
  release(address: string): void {
    this.#total = Math.max(0, this.#total - 1);
    const mine = (this.#perAddress.get(address) ?? 1) - 1;
    if (mine <= 0) this.#perAddress.delete(address);
    else this.#perAddress.set(address, mine);
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
