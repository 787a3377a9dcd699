/**
 * Remembers the nonces of signed HTTP requests seen within the time window in
 * which their timestamps are accepted, so a captured request cannot be sent
 * again. Memory is bounded: nonces are kept in one bucket per second of their
 * timestamp, and past `maxEntries` the oldest bucket is dropped and the
 * window's lower edge (`floor`) moves up to it, so a request that old is
 * refused as stale rather than checked against a forgotten bucket. A replay
 * is never accepted; under a flood of requests the window only narrows.
 * Sans-I/O: time comes in as an argument.
 */

/** What {@link ReplayGuard.check} finds. */
export type ReplayVerdict = "fresh" | "replayed" | "stale";

/** Nonces remembered at most by default (about 20 MB at worst). */
export const DEFAULT_MAX_NONCES = 250_000;

/**
 * @example
 * ```ts
 * const guard = new ReplayGuard({ skewMs: 30_000 });
 * if (guard.check(nonce, timestamp, Date.now()) !== "fresh") refuse();
 * // ... verify the signature, then:
 * if (!guard.remember(nonce, timestamp, Date.now())) refuse(); // a twin got there first
 * ```
 */
export class ReplayGuard {
  readonly skewMs: number;
  readonly maxEntries: number;
  /** Nonces by the second of their request's timestamp. */
  readonly #buckets = new Map<number, Set<string>>();
  #size = 0;
  /** Requests with a timestamp before this are refused as stale (epoch ms). */
  #floor = 0;

  constructor(options: { skewMs: number; maxEntries?: number }) {
    this.skewMs = options.skewMs;
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_NONCES;
  }

  /** Nonces remembered now. */
  get size(): number {
    return this.#size;
  }

  /** Epoch ms before which timestamps are refused even within the skew (0 while nothing was dropped). */
  get floor(): number {
    return this.#floor;
  }

  /**
   * Whether a request with `nonce` and `timestamp` may be served: "stale"
   * when its timestamp is outside the window, "replayed" when its nonce was
   * seen, else "fresh" (nothing is recorded yet: see {@link remember}).
   */
  check(nonce: string, timestamp: number, now: number): ReplayVerdict {
    if (Math.abs(now - timestamp) > this.skewMs || timestamp < this.#floor) return "stale";
    return this.#buckets.get(Math.floor(timestamp / 1000))?.has(nonce) ? "replayed" : "fresh";
  }

  /**
   * Records a request whose signature was verified; false when it cannot be
   * served after all (its nonce was recorded meanwhile, or it became stale).
   */
  remember(nonce: string, timestamp: number, now: number): boolean {
    this.#expire(now);
    if (this.check(nonce, timestamp, now) !== "fresh") return false;
    const second = Math.floor(timestamp / 1000);
    let bucket = this.#buckets.get(second);
    if (bucket === undefined) this.#buckets.set(second, bucket = new Set());
    bucket.add(nonce);
    this.#size++;
    while (this.#size > this.maxEntries) this.#dropOldest();
    return true;
  }

  /** Drops buckets whose timestamps can no longer be accepted. */
  #expire(now: number): void {
    for (const second of this.#buckets.keys()) {
      if ((second + 1) * 1000 + this.skewMs < now) this.#drop(second);
    }
  }

  #dropOldest(): void {
    let oldest = Infinity;
    for (const second of this.#buckets.keys()) oldest = Math.min(oldest, second);
    this.#drop(oldest);
    this.#floor = Math.max(this.#floor, (oldest + 1) * 1000);
  }

  #drop(second: number): void {
    const bucket = this.#buckets.get(second);
    if (bucket === undefined) return;
    this.#size -= bucket.size;
    this.#buckets.delete(second);
  }
}
