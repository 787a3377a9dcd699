/** A per-second rate over a sliding window, from a monotonically growing total. */
export class RateMeter {
  readonly #samples: { at: number; total: number }[] = [];
  readonly #windowMs: number;

  constructor(windowMs = 10_000) {
    this.#windowMs = windowMs;
  }

  /** Records `total` at `now`; call about once a second. */
  sample(now: number, total: number): void {
    this.#samples.push({ at: now, total });
    while (this.#samples.length > 2 && now - this.#samples[1].at >= this.#windowMs) {
      this.#samples.shift();
    }
  }

  /** Events per second between the oldest sample in the window and `total` at `now`. */
  rate(now: number, total: number): number {
    const first = this.#samples[0];
    if (first === undefined || now <= first.at) return 0;
    return Math.round(((total - first.total) * 1000) / (now - first.at));
  }
}
