/**
 * The put ids a snapshot must keep: every put's queue, id and time, oldest
 * first, trimmed to the dedupe window and to a maximum count, so a god
 * restarted from a snapshot still ignores a retried put.
 *
 * A god with a million jobs in the window holds a million ids here, so they
 * are kept packed: the newest (up to {@link BLOCK_IDS}) in plain arrays, the
 * rest in frozen blocks of one string (the ids joined), their ends, their
 * queues (an index into the block's few names) and their times. About 14
 * bytes and the id's text per id, against some 80 as one string object and
 * three array slots each; a block never changes once made, so a capture for
 * a snapshot shares the blocks instead of copying a million entries.
 */

/** Ids per frozen block: large enough to spread a block's own cost, small enough to freeze in one go. */
export const BLOCK_IDS = 4096;

/** Ids frozen together; never changed once made. */
export interface IdBlock {
  readonly length: number;
  /** The ids, joined. */
  readonly text: string;
  /** Where id i ends in `text` (it starts where id i-1 ends). */
  readonly ends: Uint32Array;
  /** The queue of id i: `names[queue[i]]`. */
  readonly names: string[];
  readonly queue: Uint16Array;
  readonly at: Float64Array;
}

/** Put ids to seed from, oldest first (what recovery read back). */
export interface IdSource {
  readonly length: number;
  queue(i: number): string;
  id(i: number): string;
  at(i: number): number;
  /**
   * The first `count` of them as frozen blocks (the first `skip` ids of the
   * first block left out), when the source keeps them so: a store with no
   * ids yet takes the blocks over as they are.
   */
  readonly frozen?: { blocks: readonly IdBlock[]; skip: number; count: number };
}

/** One remembered put. */
export interface RecentId {
  q: string;
  id: string;
  at: number;
}

/**
 * Put ids as they were at a capture, oldest first: iterate them any time
 * later (a snapshot writes them across many turns), the ids remembered or
 * trimmed since do not show.
 */
export class IdList implements Iterable<RecentId> {
  readonly length: number;
  readonly #blocks: IdBlock[];
  /** Ids of the first block already trimmed away. */
  readonly #skip: number;

  constructor(blocks: IdBlock[], skip: number) {
    this.#blocks = blocks;
    this.#skip = skip;
    let length = 0;
    for (const block of blocks) length += block.length;
    this.length = length - skip;
  }

  *[Symbol.iterator](): IterableIterator<RecentId> {
    let from = this.#skip;
    for (const block of this.#blocks) {
      for (let i = from; i < block.length; i++) {
        yield {
          q: block.names[block.queue[i]],
          id: block.text.slice(i === 0 ? 0 : block.ends[i - 1], block.ends[i]),
          at: block.at[i],
        };
      }
      from = 0;
    }
  }
}

/**
 * @example
 * ```ts
 * const ids = new RecentIds({ windowMs: 600_000, maxIds: 1_000_000 });
 * ids.remember("tasks", "put-1", Date.now());
 * [...ids.capture(Date.now())]; // [{ q: "tasks", id: "put-1", at: ... }]
 * ```
 */
export class RecentIds {
  readonly #windowMs: number;
  readonly #maxIds: number;
  /** Frozen blocks, oldest first; the first `#skip` ids of the first are trimmed. */
  #blocks: IdBlock[] = [];
  #skip = 0;
  /** Ids in the frozen blocks, less the skipped. */
  #frozen = 0;
  // The newest ids, not frozen yet.
  #q: string[] = [];
  #id: string[] = [];
  #at: number[] = [];

  constructor(options: { windowMs: number; maxIds: number }) {
    this.#windowMs = options.windowMs;
    this.#maxIds = options.maxIds;
  }

  /** Ids remembered and not trimmed yet. */
  get length(): number {
    return this.#frozen + this.#q.length;
  }

  /** Records one put (times must not go backwards by more than the window). */
  remember(q: string, id: string, at: number): void {
    this.#q.push(q);
    this.#id.push(id);
    this.#at.push(at);
    if (this.#q.length < BLOCK_IDS) return;
    this.#blocks.push(freeze(this.#q, this.#id, this.#at));
    this.#frozen += this.#q.length;
    this.#q = [];
    this.#id = [];
    this.#at = [];
    // Over the cap by a block: drop the oldest (the window is applied at a capture).
    if (this.length > this.#maxIds + BLOCK_IDS) this.#trim(-Infinity);
  }

  /** Records many puts, oldest first, as `remember` would one by one (recovery hands over all at once). */
  seed(ids: IdSource): void {
    let from = 0;
    const frozen = ids.frozen;
    if (frozen !== undefined && this.length === 0 && frozen.count > 0) {
      this.#blocks = [...frozen.blocks];
      this.#skip = frozen.skip;
      this.#frozen = frozen.count;
      from = frozen.count;
      if (this.length > this.#maxIds + BLOCK_IDS) this.#trim(-Infinity);
    }
    for (let i = from; i < ids.length; i++) this.remember(ids.queue(i), ids.id(i), ids.at(i));
  }

  /** The ids still inside the window at `now`, oldest first, as they are now. */
  capture(now: number): IdList {
    this.#trim(now);
    const open = this.#q.length > 0 ? [freeze(this.#q, this.#id, this.#at)] : [];
    return new IdList([...this.#blocks, ...open], this.#skip);
  }

  /** Forgets the oldest ids beyond the cap and those older than the window at `now`. */
  #trim(now: number): void {
    const since = now - this.#windowMs;
    while (this.#blocks.length > 0) {
      const block = this.#blocks[0];
      let skip = this.#skip;
      while (skip < block.length && (this.length > this.#maxIds || block.at[skip] < since)) {
        skip++;
        this.#frozen--;
      }
      if (skip < block.length) {
        this.#skip = skip;
        return;
      }
      this.#blocks.shift();
      this.#skip = 0;
    }
    // Only the open arrays are left: trim them in place.
    let head = 0;
    while (
      head < this.#q.length && (this.#q.length - head > this.#maxIds || this.#at[head] < since)
    ) head++;
    if (head === 0) return;
    this.#q = this.#q.slice(head);
    this.#id = this.#id.slice(head);
    this.#at = this.#at.slice(head);
  }
}

/** A block of the ids `ids[i]` put into `qs[i]` at `at[i]`. */
export function freeze(
  qs: readonly string[],
  ids: readonly string[],
  at: readonly number[],
): IdBlock {
  const names: string[] = [];
  const index = new Map<string, number>();
  // A block has at most BLOCK_IDS ids, so at most that many names.
  const queue = new Uint16Array(qs.length);
  const ends = new Uint32Array(ids.length);
  let end = 0;
  for (let i = 0; i < qs.length; i++) {
    let n = index.get(qs[i]);
    if (n === undefined) index.set(qs[i], n = names.push(qs[i]) - 1);
    queue[i] = n;
    end += ids[i].length;
    ends[i] = end;
  }
  return {
    length: qs.length,
    // One flat string: the ids' own string objects can go.
    text: ids.join(""),
    ends,
    names,
    queue,
    at: Float64Array.from(at),
  };
}
