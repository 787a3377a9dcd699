/**
 * Strict UTF-8 to string for many short fields (journal replay decodes two
 * strings per job: an id and a payload, mostly a dozen ASCII bytes each).
 *
 * A `TextDecoder` call costs far more than the bytes for such short input (a
 * subarray to make, a call into the runtime: about 0.5 µs on Node, 1.5 µs on
 * Deno), so short ASCII is turned into a string here, from a reused array of
 * char codes. ASCII bytes are the same code points in UTF-8 and UTF-16, so
 * the result is exactly what the decoder gives; anything else (a byte
 * >= 0x80, or longer text) goes to the fatal decoder, which throws on bytes
 * that are not UTF-8.
 */

/** Longest input taken by the ASCII path (longer text is where TextDecoder is fast). */
export const SHORT_ASCII = 64;

const decoder = new TextDecoder("utf-8", { fatal: true });

/** One array of char codes per length, reused: `String.fromCharCode.apply` takes no offsets. */
const codes: number[][] = Array.from(
  { length: SHORT_ASCII + 1 },
  (_, n) => Array.from({ length: n }, () => 0),
);

/**
 * The text of `bytes[start, end)`; throws a `TypeError` if it is not UTF-8.
 *
 * @example
 * ```ts
 * decodeUtf8(new TextEncoder().encode("job-1"), 0, 5); // "job-1"
 * ```
 */
export function decodeUtf8(bytes: Uint8Array, start: number, end: number): string {
  const n = end - start;
  if (n <= SHORT_ASCII) {
    const out = codes[n];
    let i = 0;
    for (; i < n; i++) {
      const b = bytes[start + i];
      if (b >= 0x80) break;
      out[i] = b;
    }
    if (i === n) return String.fromCharCode.apply(null, out);
  }
  return decoder.decode(bytes.subarray(start, end));
}
