/**
 * The put ids a queue remembers for dedupe, as 64-bit fingerprints in typed
 * arrays: about 14 bytes an id, where a `Map<string, number>` took about 40
 * plus the id string itself (which it kept alive after its job was gone).
 *
 * Three parts:
 * - a ring of fingerprints (high and low word) in the order they were
 *   remembered, so the oldest are forgotten first, in O(1);
 * - time marks: the tick at which each run of entries was remembered (one
 *   mark per tick in which ids came, not one number per id);
 * - an open-addressing index (linear probing, at most 3/4 full) from a
 *   fingerprint to its newest entry in the ring.
 *
 * Times are ticks of 100 ms, like the broker's window always was: an id
 * counts as seen while `(now - then) < windowMs` at that precision.
 *
 * **Collision odds.** Ids are compared by fingerprint only, so a new id whose
 * fingerprint equals a remembered one is taken for a duplicate and its job is
 * not stored (the producer is told "duplicate"). With `n` ids remembered, the
 * chance for one put is about n / 2^64: with the default cap of 1,000,000 ids
 * and a queue always holding that many, 5.4e-14 per put, i.e. one lost job
 * expected per 1.8e13 puts (5.8 years of a constant 100,000 puts/s; one god
 * takes a few tens of thousands). The seed is random per table, so ids cannot
 * be chosen to collide (or to crowd one probe run) without knowing it.
 */
import { fingerprint, randomSeed, type Seed } from "./fingerprint.ts";
import { releaseNow } from "../util/release.ts";

/** Ids by position, given as their fingerprints (so that packed ids need not be made). */
export interface IdSequence {
  readonly length: number;
  /** Writes the fingerprint of id `i` under `seed` to `out`, as {@link fingerprint} does. */
  fingerprint(i: number, seed: Seed, out: Uint32Array): void;
}

/** Ids are remembered at this precision. */
const TICK_MS = 100;
/** Ring entries allocated at first (grows by doubling, up to the cap). */
const MIN_CAPACITY = 16;

/** Settings of a {@link SeenIds} table. */
export interface SeenIdsOptions {
  /** An id is a duplicate for this long after it was remembered. */
  windowMs: number;
  /** At most this many ids; the oldest are forgotten first. */
  maxIds: number;
}

/**
 * @example
 * ```ts
 * const seen = new SeenIds({ windowMs: 600_000, maxIds: 1_000_000 });
 * seen.add("put-1", Date.now());
 * seen.has("put-1", Date.now()); // true
 * ```
 */
export class SeenIds {
  readonly #seed: Seed = randomSeed();
  #windowMs: number;
  #maxIds: number;
  /** Fingerprints, two words an entry, oldest at `#head`. */
  #ring = new Int32Array(MIN_CAPACITY * 2);
  #capacity = MIN_CAPACITY;
  #head = 0;
  #count = 0;
  /** Entries ever forgotten: entry `i` from the head has serial `#forgotten + i`. */
  #forgotten = 0;
  /** Time marks: from serial `#markSerial[k]` on, entries came at tick `#markTick[k]`. */
  #markSerial: number[] = [];
  #markTick: number[] = [];
  /** Marks before this one cover forgotten entries only. */
  #markHead = 0;
  /**
   * Per slot, 0 when empty, else the ring position + 1 in the low
   * `#positionMask` bits and the fingerprint's low word's high bits above
   * them: a probe passes over most other entries without reading the ring
   * (a cache miss each, on a table of a million).
   */
  #index = new Uint32Array(indexSize(MIN_CAPACITY));
  #positionMask = positionMask(MIN_CAPACITY);
  readonly #fp = new Uint32Array(2);
  /** The id last hashed (a put asks `has`, then `add`, for the same id). */
  #lastId: string | null = null;

  constructor(options: SeenIdsOptions) {
    this.#windowMs = options.windowMs;
    this.#maxIds = options.maxIds;
  }

  /** Ids remembered (some may be past the window until the next `add` forgets them). */
  get size(): number {
    return this.#count;
  }

  /** Whether `id` was remembered less than the window before `now`. */
  has(id: string, now: number): boolean {
    this.#hash(id);
    const slot = this.#find(this.#fp[0] | 0, this.#fp[1] | 0);
    return slot >= 0 && this.#fresh(slot, this.#tick(now));
  }

  /** Whether the entry index `slot` points at was remembered within the window before `tick`. */
  #fresh(slot: number, tick: number): boolean {
    const then = this.#tickOf(this.#serialAt((this.#index[slot] & this.#positionMask) - 1));
    return (tick - then) * TICK_MS < this.#windowMs;
  }

  /**
   * Remembers `id` as seen at `now`, then forgets what is past the window or
   * over the cap. Meant for an id `has` calls new: adding one again renews
   * it, but its older entry also counts toward `maxIds` until it is forgotten.
   */
  add(id: string, now: number): void {
    this.#hash(id);
    const tick = this.#tick(now);
    this.#insert(this.#fp[0] | 0, this.#fp[1] | 0, tick);
    this.#forget(tick);
  }

  /**
   * Remembers each of `ids` that `has` calls new, all at `now`, as `has` and
   * `add` one by one would: what a restore does with a queue's ids. The table
   * is sized for them once instead of doubling its way up (and not shrunk
   * while it fills, as `add` would right after sizing).
   */
  addNew(ids: readonly string[], now: number): void;
  /** The same for ids given as their fingerprints (the jobs of a restored queue, some packed). */
  addNew(ids: IdSequence, now: number): void;
  addNew(ids: readonly string[] | IdSequence, now: number): void {
    if (ids.length === 0) return; // as no `add`: nothing is forgotten either
    const room = Math.min(this.#count + ids.length, this.#maxIds + 1);
    if (room > this.#capacity) this.#resize(room);
    const tick = this.#tick(now);
    const list = Array.isArray(ids) ? ids as readonly string[] : null;
    const sequence = list === null ? ids as IdSequence : null;
    if (sequence !== null) this.#lastId = null; // #fp is written below without an id
    for (let i = 0; i < ids.length; i++) {
      if (sequence !== null) sequence.fingerprint(i, this.#seed, this.#fp);
      else this.#hash(list![i]);
      const hi = this.#fp[0] | 0;
      const lo = this.#fp[1] | 0;
      if (this.#count === this.#capacity) this.#resize(this.#grown());
      // One probe for both: the slot of this fingerprint (seen if within the window), or the empty one for it.
      const slot = this.#slotFor(hi, lo);
      if (this.#index[slot] !== 0 && this.#fresh(slot, tick)) continue;
      this.#index[slot] = this.#entry(lo, this.#append(hi, lo, tick));
      // Every entry added here has the same tick: only the cap can make one go.
      if (this.#count > this.#maxIds) this.#forget(tick);
    }
    this.#forget(tick);
  }

  #hash(id: string): void {
    if (id === this.#lastId) return;
    fingerprint(id, this.#seed, this.#fp);
    this.#lastId = id;
  }

  #tick(ms: number): number {
    return Math.floor(ms / TICK_MS);
  }

  /** The ring position of entry `i` from the head. */
  #position(i: number): number {
    const p = this.#head + i;
    return p >= this.#capacity ? p - this.#capacity : p;
  }

  /** The serial of the entry at ring position `p`. */
  #serialAt(p: number): number {
    const i = p >= this.#head ? p - this.#head : p + this.#capacity - this.#head;
    return this.#forgotten + i;
  }

  /** The tick of the entry with `serial`: the last mark at or before it. */
  #tickOf(serial: number): number {
    const marks = this.#markSerial;
    let lo = this.#markHead;
    let hi = marks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (marks[mid] <= serial) lo = mid;
      else hi = mid - 1;
    }
    return this.#markTick[lo];
  }

  #home(hi: number, lo: number): number {
    return Math.floor(((hi ^ lo) >>> 0) * this.#index.length / 0x1_0000_0000);
  }

  /** The index slot of the newest entry with this fingerprint, or -1. */
  #find(hi: number, lo: number): number {
    const slot = this.#slotFor(hi, lo);
    return this.#index[slot] === 0 ? -1 : slot;
  }

  #insert(hi: number, lo: number, tick: number): void {
    if (this.#count === this.#capacity) this.#resize(this.#grown());
    this.#point(hi, lo, this.#append(hi, lo, tick));
  }

  /** Puts a fingerprint at the end of the ring (with room there); returns its position, for the index. */
  #append(hi: number, lo: number, tick: number): number {
    const serial = this.#forgotten + this.#count;
    const last = this.#markTick.length - 1;
    if (last < this.#markHead || this.#markTick[last] !== tick) {
      this.#markSerial.push(serial);
      this.#markTick.push(tick);
    }
    const position = this.#position(this.#count);
    this.#ring[position * 2] = hi;
    this.#ring[position * 2 + 1] = lo;
    this.#count++;
    return position;
  }

  /** Points the fingerprint's slot at `position` (an older entry of it is then just left to expire). */
  #point(hi: number, lo: number, position: number): void {
    this.#index[this.#slotFor(hi, lo)] = this.#entry(lo, position);
  }

  /** The slot word for ring `position` of a fingerprint with low word `lo`. */
  #entry(lo: number, position: number): number {
    return ((lo & ~this.#positionMask) | (position + 1)) >>> 0;
  }

  /** The index slot of the fingerprint's entry, or else the empty slot where it goes. */
  #slotFor(hi: number, lo: number): number {
    const index = this.#index;
    const size = index.length;
    const mask = this.#positionMask;
    for (let slot = this.#home(hi, lo);; slot = slot + 1 === size ? 0 : slot + 1) {
      const at = index[slot];
      if (at === 0) return slot;
      if (((at ^ lo) & ~mask) !== 0) continue; // another fingerprint: its tag bits differ
      const q = ((at & mask) - 1) * 2;
      if (this.#ring[q] === hi && this.#ring[q + 1] === lo) return slot;
    }
  }

  /** Drops entries from the oldest while over the cap or past the window. */
  #forget(now: number): void {
    const ring = this.#ring;
    while (this.#count > 0) {
      const serial = this.#forgotten;
      while (
        this.#markHead + 1 < this.#markSerial.length &&
        this.#markSerial[this.#markHead + 1] <= serial
      ) this.#markHead++;
      const tick = this.#markTick[this.#markHead];
      if (this.#count <= this.#maxIds && (now - tick) * TICK_MS < this.#windowMs) break;
      const p = this.#head * 2;
      const slot = this.#find(ring[p], ring[p + 1]);
      // Only if the slot points here: a newer entry of the same fingerprint keeps it.
      if (slot >= 0 && (this.#index[slot] & this.#positionMask) === this.#head + 1) {
        this.#unindex(slot);
      }
      this.#head = this.#head + 1 === this.#capacity ? 0 : this.#head + 1;
      this.#count--;
      this.#forgotten++;
    }
    if (this.#markHead > 1024 && this.#markHead * 2 > this.#markSerial.length) {
      this.#markSerial = this.#markSerial.slice(this.#markHead);
      this.#markTick = this.#markTick.slice(this.#markHead);
      this.#markHead = 0;
    }
    // Give memory back once most of it is idle (after a burst has aged out).
    if (this.#capacity > MIN_CAPACITY && this.#count < this.#capacity / 8) {
      this.#resize(Math.max(MIN_CAPACITY, Math.ceil(this.#capacity / 2)));
    }
  }

  /** The next capacity: double, but no more than the cap needs (insert runs before forget: +1). */
  #grown(): number {
    const cap = this.#maxIds + 1;
    return this.#capacity >= cap ? this.#capacity * 2 : Math.min(this.#capacity * 2, cap);
  }

  /** Empties a slot, moving later entries of its probe run back (linear probing has no tombstones). */
  #unindex(slot: number): void {
    const index = this.#index;
    const size = index.length;
    let hole = slot;
    for (let next = hole + 1 === size ? 0 : hole + 1;; next = next + 1 === size ? 0 : next + 1) {
      const at = index[next];
      if (at === 0) break;
      const p = ((at & this.#positionMask) - 1) * 2;
      const home = this.#home(this.#ring[p], this.#ring[p + 1]);
      // It stays unless the hole lies cyclically between its home and it.
      const stays = hole <= next ? hole < home && home <= next : hole < home || home <= next;
      if (!stays) {
        index[hole] = at;
        hole = next;
      }
    }
    index[hole] = 0;
  }

  /** Copies the ring in order into `capacity` entries and rebuilds the index. */
  #resize(capacity: number): void {
    const ring = new Int32Array(capacity * 2);
    for (let i = 0; i < this.#count; i++) {
      const from = this.#position(i) * 2;
      ring[i * 2] = this.#ring[from];
      ring[i * 2 + 1] = this.#ring[from + 1];
    }
    // The old arrays are this table's alone: free them now, not at a full collection.
    releaseNow(this.#ring);
    releaseNow(this.#index);
    this.#ring = ring;
    this.#capacity = capacity;
    this.#head = 0;
    this.#index = new Uint32Array(indexSize(capacity));
    this.#positionMask = positionMask(capacity);
    // In order: later entries of a fingerprint win, as in #insert.
    for (let position = 0; position < this.#count; position++) {
      this.#point(ring[position * 2], ring[position * 2 + 1], position);
    }
  }
}

/** The low bits of a slot word that hold a position + 1 of a ring of `capacity` (the rest tag it). */
function positionMask(capacity: number): number {
  const bits = 32 - Math.clz32(capacity);
  return bits >= 31 ? 0x7fff_ffff : (1 << bits) - 1;
}

/** Index slots for a ring of `capacity`: at most 3/4 full. */
function indexSize(capacity: number): number {
  return Math.ceil(capacity * 4 / 3) + 1;
}
