/**
 * Text at the Python door's edges: Python's `surrogatepass` UTF-8 (how
 * pickles carry a str holding a lone surrogate), and text from a peer made
 * safe for messages and logs.
 */
const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** Text from a peer, made safe for messages and logs: control characters escaped, length bounded. */
export function printable(text: string, max = 80): string {
  const cut = text.length > max ? text.slice(0, max) + "..." : text;
  return cut.replace(
    // deno-lint-ignore no-control-regex -- escaping control characters is the point
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * UTF-8 as Python's pickle writes it: `surrogatepass`, so a str holding a lone
 * surrogate survives. Well-formed text takes the fast path.
 */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch (error) {
    return decodeSurrogatepass(bytes, error);
  }
}

function decodeSurrogatepass(bytes: Uint8Array, error: unknown): string {
  // Only three-byte sequences ED A0..BF xx (U+D800..U+DFFF) are allowed beyond strict UTF-8.
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    let end = i;
    while (
      end < bytes.length &&
      !(bytes[end] === 0xed && end + 2 < bytes.length && bytes[end + 1] >= 0xa0 &&
        bytes[end + 1] <= 0xbf)
    ) end++;
    out += utf8.decode(bytes.subarray(i, end));
    if (end >= bytes.length) break;
    const third = bytes[end + 2];
    if ((third & 0xc0) !== 0x80) throw error;
    out += String.fromCharCode(0xd000 | ((bytes[end + 1] & 0x3f) << 6) | (third & 0x3f));
    i = end + 3;
  }
  return out;
}

/** UTF-8 with `surrogatepass`, as Python's unpickler expects. */
export function encodeUtf8(text: string): Uint8Array {
  if (!/\p{Surrogate}/u.test(text)) return encoder.encode(text);
  const parts: number[] = [];
  for (const c of text) {
    const code = c.codePointAt(0)!;
    if (code >= 0xd800 && code <= 0xdfff) {
      parts.push(0xed, 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f));
    } else {
      parts.push(...encoder.encode(c));
    }
  }
  return Uint8Array.from(parts);
}
