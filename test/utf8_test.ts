/**
 * decodeUtf8 (journal replay's string decoding): its short-ASCII path gives
 * exactly what a fatal TextDecoder gives, and everything else goes to it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeUtf8, SHORT_ASCII } from "../lib/util/utf8.ts";

const encoder = new TextEncoder();
const strict = new TextDecoder("utf-8", { fatal: true });

/** `text` encoded with bytes around it, as a field inside a record. */
function framed(text: string): { bytes: Uint8Array; start: number; end: number } {
  const body = encoder.encode(text);
  const bytes = new Uint8Array(body.length + 6);
  bytes.set([0xff, 0x41, 0x80], 0);
  bytes.set(body, 3);
  bytes.set([0xc3, 0x42, 0xff], 3 + body.length);
  return { bytes, start: 3, end: 3 + body.length };
}

test("decodeUtf8() reads ASCII, empty, non-ASCII and long text as TextDecoder does", () => {
  const cases = [
    "",
    "a",
    "k3_Zq9-bT1-2s",
    '{"json":517}',
    "x".repeat(SHORT_ASCII),
    "y".repeat(SHORT_ASCII + 1),
    "z".repeat(100_000),
    "\u0000\u007f",
    "café",
    "€",
    "日本語のジョブ",
    "😀",
    "a".repeat(SHORT_ASCII - 1) + "é",
    "é" + "a".repeat(SHORT_ASCII - 1),
  ];
  for (const text of cases) {
    const { bytes, start, end } = framed(text);
    assert.equal(decodeUtf8(bytes, start, end), text, JSON.stringify(text.slice(0, 20)));
  }
});

test("decodeUtf8() gives U+FFFD for a lone surrogate, as the journal's encoder wrote it", () => {
  // encodeInto writes a lone surrogate as EF BF BD: it reads back as U+FFFD, not as the surrogate.
  for (const text of ["\ud800", "a\udc00b", "x".repeat(40) + "\ud83d"]) {
    const { bytes, start, end } = framed(text);
    assert.equal(decodeUtf8(bytes, start, end), strict.decode(encoder.encode(text)));
    assert.equal(decodeUtf8(bytes, start, end), text.replace(/[\ud800-\udfff]/g, "\ufffd"));
  }
});

test("decodeUtf8() refuses bytes that are not UTF-8, short or long", () => {
  for (
    const bad of [[0x80], [0x41, 0xc3], [0xff, 0x41], [
      ...encoder.encode("a".repeat(70)),
      0xc0,
      0x80,
    ]]
  ) {
    assert.throws(() => decodeUtf8(new Uint8Array(bad), 0, bad.length), TypeError);
  }
});

test("decodeUtf8() agrees with TextDecoder on any string", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 90 }), (text: string) => {
      const { bytes, start, end } = framed(text);
      assert.equal(decodeUtf8(bytes, start, end), strict.decode(bytes.subarray(start, end)));
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (bytes: Uint8Array) => {
      let expected: string | Error;
      try {
        expected = strict.decode(bytes);
      } catch (error) {
        expected = error as Error;
      }
      if (typeof expected === "string") assert.equal(decodeUtf8(bytes, 0, bytes.length), expected);
      else assert.throws(() => decodeUtf8(bytes, 0, bytes.length), TypeError);
    }),
    { numRuns: 1000 },
  );
});
