/**
 * The put ids a snapshot must keep: every put's queue, id and time, oldest
 * first, trimmed to the dedupe window and to a maximum count, so a god
 * restarted from a snapshot still ignores a retried put.
 */

/** Put ids in three parallel arrays (few objects for a million ids). */
export interface IdList {
  q: string[];
  id: string[];
  at: number[];
}

/**
 * @example
 * ```ts
 * const ids = new RecentIds({ windowMs: 600_000, maxIds: 1_000_000 });
 * ids.remember("tasks", "put-1", Date.now());
 * ids.capture(Date.now()).id; // ["put-1"]
 * ```
 */
export class RecentIds {
  readonly #windowMs: number;
  readonly #maxIds: number;
  #q: string[] = [];
  #id: string[] = [];
  #at: number[] = [];

  constructor(options: { windowMs: number; maxIds: number }) {
    this.#windowMs = options.windowMs;
    this.#maxIds = options.maxIds;
  }

  /** Records one put (times must not go backwards by more than the window). */
  remember(q: string, id: string, at: number): void {
    this.#q.push(q);
    this.#id.push(id);
    this.#at.push(at);
    if (this.#q.length > this.#maxIds * 1.5) this.#trim(Date.now());
  }

  /**
   * Records many puts, oldest first, as `remember` would one by one; the
   * arrays are kept, not copied (recovery hands over a million ids at once).
   */
  seed(ids: IdList): void {
    if (this.#q.length > 0) {
      for (let i = 0; i < ids.q.length; i++) this.remember(ids.q[i], ids.id[i], ids.at[i]);
      return;
    }
    this.#q = ids.q;
    this.#id = ids.id;
    this.#at = ids.at;
    if (this.#q.length > this.#maxIds * 1.5) this.#trim(Date.now());
  }

  /** A copy of the ids still inside the window at `now`, oldest first. */
  capture(now: number): IdList {
    this.#trim(now);
    return { q: this.#q.slice(), id: this.#id.slice(), at: this.#at.slice() };
  }

  #trim(now: number): void {
    let head = 0;
    const since = now - this.#windowMs;
    const length = this.#q.length;
    while (head < length && (length - head > this.#maxIds || this.#at[head] < since)) head++;
    if (head === 0) return;
    this.#q = this.#q.slice(head);
    this.#id = this.#id.slice(head);
    this.#at = this.#at.slice(head);
  }
}
