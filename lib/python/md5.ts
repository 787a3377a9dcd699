/**
 * MD5 (RFC 1321) and HMAC-MD5 (RFC 2104), because WebCrypto has no MD5 and
 * Python's multiprocessing authenticates with HMAC-MD5 up to 3.11 (and
 * accepts it from older peers after that). Used only for that handshake;
 * nothing else in taskwire should choose MD5.
 */

/** Per-round shift amounts. */
const S = [
  7,
  12,
  17,
  22,
  7,
  12,
  17,
  22,
  7,
  12,
  17,
  22,
  7,
  12,
  17,
  22,
  5,
  9,
  14,
  20,
  5,
  9,
  14,
  20,
  5,
  9,
  14,
  20,
  5,
  9,
  14,
  20,
  4,
  11,
  16,
  23,
  4,
  11,
  16,
  23,
  4,
  11,
  16,
  23,
  4,
  11,
  16,
  23,
  6,
  10,
  15,
  21,
  6,
  10,
  15,
  21,
  6,
  10,
  15,
  21,
  6,
  10,
  15,
  21,
] as const;

/** K[i] = floor(abs(sin(i + 1)) * 2^32). */
const K: Uint32Array = Uint32Array.from(
  { length: 64 },
  (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 0x1_0000_0000) >>> 0,
);

/** The MD5 block size in bytes (also HMAC-MD5's key block). */
const BLOCK = 64;

/**
 * The 16-byte MD5 digest of `data`.
 *
 * @example
 * ```ts
 * md5(new TextEncoder().encode("abc")); // 90 01 50 98 3c d2 4f b0 d6 96 3f 7d 28 e1 7f 72
 * ```
 */
export function md5(data: Uint8Array): Uint8Array {
  // Message, 0x80, zeros, then the bit length as 64-bit little-endian.
  const padded = new Uint8Array((((data.length + 8) >>> 6) + 1) * BLOCK);
  padded.set(data);
  padded[data.length] = 0x80;
  const view = new DataView(padded.buffer);
  const bits = data.length * 8;
  view.setUint32(padded.length - 8, bits >>> 0, true);
  view.setUint32(padded.length - 4, Math.floor(bits / 0x1_0000_0000) >>> 0, true);

  let a0 = 0x67452301;
  let b0 = 0xefcdab89;
  let c0 = 0x98badcfe;
  let d0 = 0x10325476;
  const m = new Uint32Array(16);
  for (let offset = 0; offset < padded.length; offset += BLOCK) {
    for (let i = 0; i < 16; i++) m[i] = view.getUint32(offset + i * 4, true);
    let a = a0;
    let b = b0;
    let c = c0;
    let d = d0;
    for (let i = 0; i < 64; i++) {
      let f: number;
      let g: number;
      if (i < 16) {
        f = (b & c) | (~b & d);
        g = i;
      } else if (i < 32) {
        f = (d & b) | (~d & c);
        g = (5 * i + 1) & 15;
      } else if (i < 48) {
        f = b ^ c ^ d;
        g = (3 * i + 5) & 15;
      } else {
        f = c ^ (b | ~d);
        g = (7 * i) & 15;
      }
      const sum = (a + f + K[i] + m[g]) >>> 0;
      a = d;
      d = c;
      c = b;
      b = (b + ((sum << S[i]) | (sum >>> (32 - S[i])))) >>> 0;
    }
    a0 = (a0 + a) >>> 0;
    b0 = (b0 + b) >>> 0;
    c0 = (c0 + c) >>> 0;
    d0 = (d0 + d) >>> 0;
  }
  const out = new Uint8Array(16);
  const outView = new DataView(out.buffer);
  outView.setUint32(0, a0, true);
  outView.setUint32(4, b0, true);
  outView.setUint32(8, c0, true);
  outView.setUint32(12, d0, true);
  return out;
}

/**
 * HMAC-MD5 of `message` under `key` (RFC 2104): what Python's
 * `hmac.new(key, message, "md5").digest()` returns.
 *
 * @example
 * ```ts
 * hmacMd5(key, challenge); // 16 bytes
 * ```
 */
export function hmacMd5(key: Uint8Array, message: Uint8Array): Uint8Array {
  const block = new Uint8Array(BLOCK);
  block.set(key.length > BLOCK ? md5(key) : key);
  const inner = new Uint8Array(BLOCK + message.length);
  const outer = new Uint8Array(BLOCK + 16);
  for (let i = 0; i < BLOCK; i++) {
    inner[i] = block[i] ^ 0x36;
    outer[i] = block[i] ^ 0x5c;
  }
  inner.set(message, BLOCK);
  outer.set(md5(inner), BLOCK);
  return md5(outer);
}

/**
 * Compares two byte strings in time that depends only on the length of `a`
 * (the expected value), not on where they first differ.
 *
 * @example
 * ```ts
 * constantTimeEqual(expected, received); // true or false
 * ```
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ (b[i] ?? 0);
  return diff === 0;
}
