/**
 * A map from integer keys (lease tags) to values that allocates only when it
 * grows: open addressing with linear probing, deletion by moving later
 * entries of a probe run back (no tombstones).
 *
 * Why not a `Map`: a `Map` that stays about the same size while keys come and
 * go (a lease is set and deleted once a task) rebuilds its table every few
 * hundred changes, and a long-lived `Map`'s table is rebuilt straight in the
 * old generation. Draining a million tasks made about 230 MB of such garbage
 * in the god, which only full collections free: the old generation grew to
 * four times what was live between them. This table's arrays are reused for
 * as long as it holds no more than they fit.
 *
 * Keys must be integers (safe integers; tags count up from 1); consecutive
 * keys land in consecutive slots, so a run of tags never collides.
 */

/** Slots at first (a power of two). */
const MIN_SLOTS = 16;

/**
 * @example
 * ```ts
 * const leases = new IntMap<string>();
 * leases.set(7, "a");
 * leases.get(7); // "a"
 * leases.delete(7); // true
 * ```
 */
export class IntMap<V> {
  #keys = new Float64Array(MIN_SLOTS);
  /** undefined: the slot is empty. */
  #values: (V | undefined)[] = new Array(MIN_SLOTS).fill(undefined);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(key: number): V | undefined {
    const slot = this.#find(key);
    return slot < 0 ? undefined : this.#values[slot];
  }

  has(key: number): boolean {
    return this.#find(key) >= 0;
  }

  /** `value` must not be undefined (that marks an empty slot). */
  set(key: number, value: V): this {
    const keys = this.#keys;
    const mask = keys.length - 1;
    let slot = key & mask;
    while (this.#values[slot] !== undefined) {
      if (keys[slot] === key) {
        this.#values[slot] = value;
        return this;
      }
      slot = (slot + 1) & mask;
    }
    keys[slot] = key;
    this.#values[slot] = value;
    // At most half full: probe runs stay short.
    if (++this.#size * 2 > keys.length) this.#resize(keys.length * 2);
    return this;
  }

  delete(key: number): boolean {
    let hole = this.#find(key);
    if (hole < 0) return false;
    const keys = this.#keys;
    const values = this.#values;
    const mask = keys.length - 1;
    // Later entries of the run move back into the hole unless their home lies after it.
    for (let next = (hole + 1) & mask; values[next] !== undefined; next = (next + 1) & mask) {
      const home = keys[next] & mask;
      const stays = hole <= next ? hole < home && home <= next : hole < home || home <= next;
      if (!stays) {
        keys[hole] = keys[next];
        values[hole] = values[next];
        hole = next;
      }
    }
    values[hole] = undefined;
    this.#size--;
    if (keys.length > MIN_SLOTS && this.#size * 8 < keys.length) this.#resize(keys.length / 2);
    return true;
  }

  clear(): void {
    this.#keys = new Float64Array(MIN_SLOTS);
    this.#values = new Array(MIN_SLOTS).fill(undefined);
    this.#size = 0;
  }

  /** Keys in no particular order. */
  *keys(): IterableIterator<number> {
    const keys = this.#keys;
    const values = this.#values;
    for (let slot = 0; slot < keys.length; slot++) {
      if (values[slot] !== undefined) yield keys[slot];
    }
  }

  /** Values in no particular order. */
  *values(): IterableIterator<V> {
    for (const value of this.#values) {
      if (value !== undefined) yield value;
    }
  }

  #find(key: number): number {
    const keys = this.#keys;
    const values = this.#values;
    const mask = keys.length - 1;
    for (let slot = key & mask; values[slot] !== undefined; slot = (slot + 1) & mask) {
      if (keys[slot] === key) return slot;
    }
    return -1;
  }

  #resize(slots: number): void {
    const keys = this.#keys;
    const values = this.#values;
    this.#keys = new Float64Array(slots);
    this.#values = new Array(slots).fill(undefined);
    this.#size = 0;
    for (let slot = 0; slot < keys.length; slot++) {
      const value = values[slot];
      if (value !== undefined) this.set(keys[slot], value);
    }
  }
}

/** A set of integer keys on an {@link IntMap}, for the same reason (an owner's lease tags). */
export class IntSet {
  readonly #map = new IntMap<true>();

  get size(): number {
    return this.#map.size;
  }

  add(key: number): this {
    this.#map.set(key, true);
    return this;
  }

  has(key: number): boolean {
    return this.#map.has(key);
  }

  delete(key: number): boolean {
    return this.#map.delete(key);
  }

  /** Keys in no particular order. */
  [Symbol.iterator](): IterableIterator<number> {
    return this.#map.keys();
  }
}
