/**
 * Bytes a door holds for peers it has not authenticated yet (HTTP request
 * bodies read only to check their signature), bounded in total and per
 * address: one address cannot make the god hold more than `perKey` bytes
 * for it, all of them together not more than `total`.
 */
export class ByteBudget {
  readonly total: number;
  readonly perKey: number;
  #used = 0;
  readonly #byKey = new Map<string, number>();

  constructor(options: { total: number; perKey: number }) {
    this.total = options.total;
    this.perKey = options.perKey;
  }

  /** Bytes held now, all keys together. */
  get used(): number {
    return this.#used;
  }

  /** Bytes held now for `key`. */
  usedBy(key: string): number {
    return this.#byKey.get(key) ?? 0;
  }

  /**
   * Takes `n` bytes for `key`; false (and nothing taken) when that would pass
   * either bound.
   *
   * @example
   * ```ts
   * const budget = new ByteBudget({ total: 1 << 27, perKey: 1 << 25 });
   * if (!budget.take("10.0.0.7", chunk.length)) refuse();
   * // ... later
   * budget.give("10.0.0.7", taken);
   * ```
   */
  take(key: string, n: number): boolean {
    const mine = this.#byKey.get(key) ?? 0;
    if (mine + n > this.perKey || this.#used + n > this.total) return false;
    this.#byKey.set(key, mine + n);
    this.#used += n;
    return true;
  }

  /** Gives back `n` bytes taken for `key`. */
  give(key: string, n: number): void {
    if (n <= 0) return;
    const mine = (this.#byKey.get(key) ?? 0) - n;
    if (mine <= 0) this.#byKey.delete(key);
    else this.#byKey.set(key, mine);
    this.#used = Math.max(0, this.#used - n);
  }
}
