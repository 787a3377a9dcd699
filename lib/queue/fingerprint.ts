/**
 * 64-bit fingerprints of put ids, so the dedupe window remembers a million
 * ids in typed arrays instead of a million strings in a Map.
 *
 * The hash is seeded: each {@link SeenIds} table draws its own random seed
 * (and a snapshot stores it with the fingerprints), so nobody outside the
 * god can predict which ids share a probe chain. Two lanes of 32 bits each
 * run over the UTF-16 code units with different multipliers and a xorshift
 * per step, then a murmur3 finaliser mixes each lane with the other's.
 *
 * Collision odds: for ids that are not chosen against the seed, a new id
 * matches one of `n` remembered fingerprints with probability about
 * n / 2^64 (see {@link SeenIds} for what that means for a queue).
 */

/** A seed: two 32-bit words. */
export type Seed = readonly [number, number];

/** A fresh random seed. */
export function randomSeed(): Seed {
  const words = crypto.getRandomValues(new Uint32Array(2));
  return [words[0], words[1]];
}

/**
 * Writes the two 32-bit halves of `id`'s fingerprint under `seed` to
 * `out[0]` (high) and `out[1]` (low). No allocation: this runs on every put.
 *
 * @example
 * ```ts
 * const out = new Uint32Array(2);
 * fingerprint("job-1", [1, 2], out);
 * ```
 */
export function fingerprint(id: string, seed: Seed, out: Uint32Array): void {
  fingerprintJoined("", 0, id, 0, id.length, seed, out);
}

/**
 * {@link fingerprint} of `head.slice(0, headLength) + body.slice(bodyStart,
 * bodyEnd)`, without making that string: how a packed job's id is stored.
 */
export function fingerprintJoined(
  head: string,
  headLength: number,
  body: string,
  bodyStart: number,
  bodyEnd: number,
  seed: Seed,
  out: Uint32Array,
): void {
  let h1 = seed[0] ^ 0x9e3779b9;
  let h2 = seed[1] ^ 0x7f4a7c15;
  for (let i = 0; i < headLength; i++) {
    const c = head.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x85ebca6b);
    h1 ^= h1 >>> 15;
    h2 = Math.imul(h2 ^ c, 0xc2b2ae35);
    h2 ^= h2 >>> 13;
  }
  for (let i = bodyStart; i < bodyEnd; i++) {
    const c = body.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x85ebca6b);
    h1 ^= h1 >>> 15;
    h2 = Math.imul(h2 ^ c, 0xc2b2ae35);
    h2 ^= h2 >>> 13;
  }
  // The length, so that ids differing only by trailing NULs differ.
  const length = headLength + bodyEnd - bodyStart;
  h1 ^= length;
  h2 ^= Math.imul(length, 0x27d4eb2f);
  h1 = fmix(h1 ^ Math.imul(h2, 0x165667b1));
  h2 = fmix(h2 ^ Math.imul(h1, 0x9e3779b1));
  out[0] = h1;
  out[1] = h2;
}

/** murmur3's 32-bit finaliser: every input bit flips each output bit with probability about 1/2. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
