/**
 * Every put id recovery reads, in journal order: the queue, the id, when it
 * was put, and the seq of the job put (-1 for a snapshot's id).
 *
 * A million puts make a million entries, so they are kept as the journal's
 * record of recent ids keeps them ({@link IdBlock}: every
 * {@link BLOCK_IDS} ids front-coded into one string, queues and times in typed
 * arrays), with the seqs beside each block. The id strings decoded from the
 * records then die young instead of a million of them being carried through
 * the collector's generations, and the journal takes the blocks over as they
 * are when it seeds its recent ids.
 */
import { BLOCK_IDS, blockId, freeze, type IdBlock, type IdSource } from "./recent_ids.ts";
import { releaseNow } from "../util/release.ts";

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
  /** Full blocks, oldest first, and the seqs of each. */
  readonly #blocks: IdBlock[] = [];
  readonly #blockSeqs: Float64Array[] = [];
  /** The newest entries, until there are a block's worth. */
  #q: string[] = [];
  #id: string[] = [];
  #at: number[] = [];
  #seq: number[] = [];

  get length(): number {
    return this.#length;
  }

  push(queue: string, id: string, at: number, seq: number): void {
    this.#q.push(queue);
    this.#id.push(id);
    this.#at.push(at);
    this.#seq.push(seq);
    this.#length++;
    if (this.#q.length < BLOCK_IDS) return;
    this.#blocks.push(freeze(this.#q, this.#id, this.#at));
    this.#blockSeqs.push(Float64Array.from(this.#seq));
    this.#q = [];
    this.#id = [];
    this.#at = [];
    this.#seq = [];
  }

  queue(i: number): string {
    const b = Math.floor(i / BLOCK_IDS);
    if (b === this.#blocks.length) return this.#q[i - b * BLOCK_IDS];
    const block = this.#blocks[b];
    return block.names[block.queue[i - b * BLOCK_IDS]];
  }

  id(i: number): string {
    const b = Math.floor(i / BLOCK_IDS);
    const j = i - b * BLOCK_IDS;
    if (b === this.#blocks.length) return this.#id[j];
    return blockId(this.#blocks[b], j);
  }

  at(i: number): number {
    const b = Math.floor(i / BLOCK_IDS);
    if (b === this.#blocks.length) return this.#at[i - b * BLOCK_IDS];
    return this.#blocks[b].at[i - b * BLOCK_IDS];
  }

  seq(i: number): number {
    const b = Math.floor(i / BLOCK_IDS);
    if (b === this.#blocks.length) return this.#seq[i - b * BLOCK_IDS];
    return this.#blockSeqs[b][i - b * BLOCK_IDS];
  }

  /**
   * Frees the seqs beside the blocks (8 bytes an entry, megabytes after a big
   * recovery) now, not at a full collection, and lets go of the blocks,
   * which are whoever took them over's alone from then on. The log is not
   * read again after this.
   */
  release(): void {
    for (const seqs of this.#blockSeqs) releaseNow(seqs);
    this.#blockSeqs.length = 0;
    // The store that took the blocks over frees them as it trims them.
    this.#blocks.length = 0;
  }

  /**
   * The entries put at or after `since`, oldest first, as a view (the log
   * must not change while it is read). A clock that stepped back can leave
   * older times among newer ones: those are left out one by one.
   */
  since(since: number): IdSource {
    const n = this.#length;
    let first = 0;
    while (first < n && this.at(first) < since) first++;
    let rest = first;
    while (rest < n && this.at(rest) >= since) rest++;
    if (rest === n) return this.#view(first, n - first, null);
    let kept = 0;
    const positions = new Uint32Array(n - first);
    for (let i = first; i < n; i++) if (this.at(i) >= since) positions[kept++] = i;
    return this.#view(0, kept, positions);
  }

  #view(offset: number, length: number, positions: Uint32Array | null): IdSource {
    const position = positions === null ? (i: number) => offset + i : (i: number) => positions[i];
    const view: IdSource = {
      length,
      queue: (i) => this.queue(position(i)),
      id: (i) => this.id(position(i)),
      at: (i) => this.at(position(i)),
    };
    // A run to the end: its full blocks can be handed over whole.
    const inBlocks = this.#blocks.length * BLOCK_IDS;
    if (positions !== null || offset >= inBlocks) return view;
    const first = Math.floor(offset / BLOCK_IDS);
    return {
      ...view,
      frozen: {
        blocks: this.#blocks.slice(first),
        skip: offset - first * BLOCK_IDS,
        count: inBlocks - offset,
      },
    };
  }
}
