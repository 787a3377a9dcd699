/**
 * What the paced (latency) drivers share, whichever queue they run on: the
 * pacing loop and the latency record with its percentiles. Each latency is
 * result received − task put, both read from this process's monotonic clock.
 */

/** The `{"event":"latency"}` line a paced driver prints (what bench/runners.ts reads). */
export interface LatencySummary {
  event: "latency";
  /** Distinct results received, the warm-up included. */
  count: number;
  /** Of those, the ones counted in the percentiles. */
  counted: number;
  warmup: number;
  elapsedMs: number;
  p50: number;
  p99: number;
  /** p99 over every task, the warm-up included. */
  p99All: number;
  max: number;
  mean: number;
  /** When the slowest counted task was put, ms after the first put (null when none counted). */
  worstAtMs: number | null;
  t: number;
}

/**
 * Latencies of tasks `0..count-1`: the first `warmup` must arrive like the
 * others but are left out of the percentiles (p99All counts them).
 */
export class LatencyRecord {
  readonly count: number;
  readonly warmup: number;
  readonly #latencies: Float64Array;
  readonly #all: Float64Array;
  readonly #putAt: Float64Array;
  readonly #seen: Uint8Array;
  #received = 0;
  #counted = 0;
  /** performance.now() of the first put. */
  #t0: number | null = null;
  #worst = { ms: -1, n: -1 };

  constructor(count: number, warmup: number) {
    this.count = count;
    this.warmup = Math.min(warmup, count - 1);
    this.#latencies = new Float64Array(count);
    this.#all = new Float64Array(count);
    this.#putAt = new Float64Array(count);
    this.#seen = new Uint8Array(count);
  }

  /** Notes that task `n` is put now (`performance.now()`), and returns that time. */
  put(n: number): number {
    const now = performance.now();
    this.#t0 ??= now;
    return this.#putAt[n] = now;
  }

  /** Records the result of task `n` put at `t`; a repeat or an unknown `n` is ignored. */
  result(n: number, t: number, now: number = performance.now()): void {
    if (!(n >= 0 && n < this.count) || this.#seen[n] === 1) return;
    this.#seen[n] = 1;
    this.#all[this.#received++] = now - t;
    if (n >= this.warmup) {
      this.#latencies[this.#counted++] = now - t;
      if (now - t > this.#worst.ms) this.#worst = { ms: now - t, n };
    }
  }

  /** Whether every task's result has arrived. */
  get complete(): boolean {
    return this.#received === this.count;
  }

  /** The percentiles so far; elapsed and `worstAtMs` count from the first put. */
  summary(): LatencySummary {
    const t0 = this.#t0 ?? performance.now();
    const sorted = this.#latencies.slice(0, this.#counted).sort();
    const sortedAll = this.#all.slice(0, this.#received).sort();
    const pick = (q: number, from = sorted) =>
      from[Math.min(from.length - 1, Math.floor(q * from.length))];
    return {
      event: "latency",
      count: this.#received,
      counted: this.#counted,
      warmup: this.warmup,
      elapsedMs: performance.now() - t0,
      p50: pick(0.5),
      p99: pick(0.99),
      p99All: pick(0.99, sortedAll),
      max: sorted[sorted.length - 1],
      mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
      worstAtMs: this.#worst.n >= 0 ? this.#putAt[this.#worst.n] - t0 : null,
      t: Date.now(),
    };
  }
}

/**
 * Calls `put(n)` for n = 0..count-1 at a steady `rate` per second (catching up
 * at once after a late timer, never running ahead); resolves once the last
 * one is issued. Sleeps until the next one is due, like the Python producer,
 * rather than waking every millisecond: the wake-ups made a fifth of this
 * process's garbage at 500/s.
 */
export async function pace(count: number, rate: number, put: (n: number) => void): Promise<void> {
  const t0 = performance.now();
  for (let n = 0; n < count; n++) {
    const wait = t0 + (n * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    put(n);
  }
}
