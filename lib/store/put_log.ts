/**
 * Every put id recovery reads, in journal order: the queue, the id, when it
 * was put, and the seq of the job put (-1 for a snapshot's id).
 *
 * A million puts make a million entries, so the numbers live in typed
 * columns (a queue as an index into its few names) that double as they
 * fill: no pointers for the collector to trace, and far fewer fresh pages
 * than four arrays that grow by half again each time. Fresh pages are what
 * a replay pays for most on a virtual machine, where touching one can cost
 * some microseconds.
 */
import type { IdSource } from "./recent_ids.ts";

const MIN_ENTRIES = 1024;

/**
 * @example
 * ```ts
 * const log = new PutLog();
 * log.push("tasks", "put-1", Date.now(), 1);
 * log.id(0); // "put-1"
 * ```
 */
export class PutLog implements IdSource {
  #length = 0;
  readonly #names: string[] = [];
  readonly #nameIndex = new Map<string, number>();
  /** The last queue pushed and its index (a journal's puts come in runs of one queue). */
  #lastName = "";
  #lastIndex = -1;
  #queues = new Uint32Array(MIN_ENTRIES);
  #ids: string[] = [];
  #at = new Float64Array(MIN_ENTRIES);
  #seqs = new Float64Array(MIN_ENTRIES);

  get length(): number {
    return this.#length;
  }

  push(queue: string, id: string, at: number, seq: number): void {
    const n = this.#length;
    if (n === this.#at.length) this.#grow(n * 2);
    if (queue !== this.#lastName || this.#lastIndex < 0) {
      let index = this.#nameIndex.get(queue);
      if (index === undefined) {
        index = this.#names.push(queue) - 1;
        this.#nameIndex.set(queue, index);
      }
      this.#lastName = queue;
      this.#lastIndex = index;
    }
    this.#queues[n] = this.#lastIndex;
    this.#ids.push(id);
    this.#at[n] = at;
    this.#seqs[n] = seq;
    this.#length = n + 1;
  }

  queue(i: number): string {
    return this.#names[this.#queues[i]];
  }

  id(i: number): string {
    return this.#ids[i];
  }

  at(i: number): number {
    return this.#at[i];
  }

  seq(i: number): number {
    return this.#seqs[i];
  }

  /**
   * The entries put at or after `since`, oldest first, as a view (the log
   * must not change while it is read). A clock that stepped back can leave
   * older times among newer ones: those are left out one by one.
   */
  since(since: number): IdSource {
    const at = this.#at;
    const n = this.#length;
    let first = 0;
    while (first < n && at[first] < since) first++;
    let rest = first;
    while (rest < n && at[rest] >= since) rest++;
    if (rest === n) return this.#view(first, n - first, null);
    let kept = 0;
    const positions = new Uint32Array(n - first);
    for (let i = first; i < n; i++) if (at[i] >= since) positions[kept++] = i;
    return this.#view(0, kept, positions);
  }

  #view(offset: number, length: number, positions: Uint32Array | null): IdSource {
    const position = positions === null ? (i: number) => offset + i : (i: number) => positions[i];
    return {
      length,
      queue: (i) => this.queue(position(i)),
      id: (i) => this.id(position(i)),
      at: (i) => this.at(position(i)),
    };
  }

  #grow(entries: number): void {
    const queues = new Uint32Array(entries);
    queues.set(this.#queues);
    this.#queues = queues;
    const at = new Float64Array(entries);
    at.set(this.#at);
    this.#at = at;
    const seqs = new Float64Array(entries);
    seqs.set(this.#seqs);
    this.#seqs = seqs;
  }
}
