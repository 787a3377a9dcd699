/**
 * The put ids a snapshot must keep: every put's queue, id and time, oldest
 * first, trimmed to the dedupe window and to a maximum count, so a god
 * restarted from a snapshot still ignores a retried put.
 *
 * A god with a million jobs in the window holds a million ids here, so they
 * are kept packed: the newest (up to {@link BLOCK_IDS}) in plain arrays, the
 * rest in frozen blocks of one string, their ends, their queues (an index
 * into the block's few names) and their times. About 15 bytes and a few
 * characters per id, against some 80 as one string object and three array
 * slots each; a block never changes once made, so a capture for a snapshot
 * shares the blocks instead of copying a million entries.
 *
 * The string holds each id front-coded: only what follows the prefix it
 * shares with the id before it (ids of one client share most of their text:
 * `k3_Zq9-bT1-2s`, `k3_Zq9-bT1-2t`; a result's id is its task's behind a
 * prefix). A million ids of 15 to 21 characters then keep 3 or 4 each. Every
 * {@link RESTART_IDS}th id is whole, so one id is read from at most that
 * many pieces.
 */
import { releaseNow } from "../util/release.ts";
import { readOnce } from "../util/read_once.ts";

/** Ids per frozen block: large enough to spread a block's own cost, small enough to freeze in one go. */
export const BLOCK_IDS = 4096;
/** Every this many ids of a block, one is kept whole (shares nothing), where reading one may start. */
const RESTART_IDS = 16;
/** The longest prefix an id shares with the one before it, as stored (in a byte). */
const MAX_SHARED = 255;

/** Ids frozen together; never changed once made. */
export interface IdBlock {
  readonly length: number;
  /** What each id adds to the prefix it shares with the one before it, joined. */
  readonly text: string;
  /** Where id i's own part ends in `text` (it starts where id i-1's ends). */
  readonly ends: Uint32Array;
  /** How many leading characters id i shares with id i-1 (0 for every {@link RESTART_IDS}th). */
  readonly shared: Uint8Array;
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
  /** Called for each block once this list is done reading it (they are held for it). */
  readonly #done: (block: IdBlock) => void;
  readonly #once = readOnce("put ids", () => this.#ids());

  constructor(blocks: IdBlock[], skip: number, done: (block: IdBlock) => void) {
    this.#blocks = blocks;
    this.#skip = skip;
    this.#done = done;
    let length = 0;
    for (const block of blocks) length += block.length;
    this.length = length - skip;
  }

  /** Goes through the ids once: the blocks are let go as they are passed (see {@link RecentIds.capture}). */
  [Symbol.iterator](): Iterator<RecentId> {
    return this.#once[Symbol.iterator]();
  }

  *#ids(): IterableIterator<RecentId> {
    const blocks = this.#blocks;
    let next = 0;
    try {
      let from = this.#skip;
      for (; next < blocks.length; next++) {
        const block = blocks[next];
        let id = from < block.length ? blockId(block, from) : "";
        for (let i = from; i < block.length; i++) {
          if (i > from) id = nextId(block, i, id);
          yield { q: block.names[block.queue[i]], id, at: block.at[i] };
        }
        from = 0;
        this.#done(block);
      }
    } finally {
      // Left early (a snapshot given up): the blocks not reached are let go too.
      for (; next < blocks.length; next++) this.#done(blocks[next]);
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
  /**
   * Blocks captures still read, with how many read each. Weak: a capture
   * never read (a snapshot that failed before it began) must not keep its
   * blocks alive; they are then left to the collector.
   */
  readonly #readers = new WeakMap<IdBlock, number>();
  /** Blocks trimmed while a capture read them: freed when the last is done. */
  readonly #trimmedWhileRead = new WeakSet<IdBlock>();

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

  /**
   * Records many puts, oldest first, as `remember` would one by one (recovery
   * hands over all at once). Frozen blocks are taken over: from then on they
   * are this store's alone (it frees them as it trims them), so the source
   * must not read them again.
   */
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

  /**
   * The ids still inside the window at `now`, oldest first, as they are now.
   * The list shares the frozen blocks, which are then held for it: a block
   * trimmed meanwhile is freed once the list has been read past it (or at a
   * full collection, if the list is never read).
   */
  capture(now: number): IdList {
    this.#trim(now);
    for (const block of this.#blocks) this.#readers.set(block, (this.#readers.get(block) ?? 0) + 1);
    const open = this.#q.length > 0 ? [freeze(this.#q, this.#id, this.#at)] : [];
    return new IdList([...this.#blocks, ...open], this.#skip, (block) => this.#letGo(block));
  }

  #letGo(block: IdBlock): void {
    const readers = this.#readers.get(block);
    if (readers === undefined) return; // the list's own open block
    if (readers > 1) return void this.#readers.set(block, readers - 1);
    this.#readers.delete(block);
    if (this.#trimmedWhileRead.delete(block)) freeBlock(block);
  }

  /**
   * Drops a trimmed block. It lived long enough to be old, and dropped
   * memory of the old generation waits for a full collection (seconds, while
   * a stream of puts trims a block every few thousand): its arrays are freed
   * now unless a capture still reads it.
   */
  #drop(block: IdBlock): void {
    if (this.#readers.has(block)) this.#trimmedWhileRead.add(block);
    else freeBlock(block);
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
      this.#drop(this.#blocks.shift()!);
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
  const shared = new Uint8Array(ids.length);
  const parts: string[] = [];
  let end = 0;
  for (let i = 0; i < qs.length; i++) {
    let n = index.get(qs[i]);
    if (n === undefined) index.set(qs[i], n = names.push(qs[i]) - 1);
    queue[i] = n;
    const id = ids[i];
    const common = i % RESTART_IDS === 0 ? 0 : commonPrefix(ids[i - 1], id);
    shared[i] = common;
    parts.push(id.slice(common));
    end += id.length - common;
    ends[i] = end;
  }
  return {
    length: qs.length,
    // One flat string: the ids' own string objects can go.
    text: parts.join(""),
    ends,
    shared,
    names,
    queue,
    at: Float64Array.from(at),
  };
}

/** Frees a block's arrays now (see releaseNow); nothing may read it after. */
function freeBlock(block: IdBlock): void {
  releaseNow(block.ends);
  releaseNow(block.shared);
  releaseNow(block.queue);
  releaseNow(block.at);
}

/** Id `i` of a block (read from the whole id at or before it). */
export function blockId(block: IdBlock, i: number): string {
  let at = i - (i % RESTART_IDS);
  let id = ownPart(block, at);
  while (at < i) id = nextId(block, ++at, id);
  return id;
}

/** Id `i` of a block, given id `i - 1`. */
function nextId(block: IdBlock, i: number, previous: string): string {
  const own = ownPart(block, i);
  const common = block.shared[i];
  return common === 0 ? own : previous.slice(0, common) + own;
}

function ownPart(block: IdBlock, i: number): string {
  return block.text.slice(i === 0 ? 0 : block.ends[i - 1], block.ends[i]);
}

/** The length of the prefix `a` and `b` share, in UTF-16 units (exact for any string), at most {@link MAX_SHARED}. */
function commonPrefix(a: string, b: string): number {
  const max = Math.min(a.length, b.length, MAX_SHARED);
  let n = 0;
  while (n < max && a.charCodeAt(n) === b.charCodeAt(n)) n++;
  return n;
}
