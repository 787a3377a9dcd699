/**
 * MD5 and HMAC-MD5 in TypeScript (WebCrypto has no MD5; Python ≤ 3.11 authenticates
 * with HMAC-MD5): RFC 1321 and RFC 2202 vectors, then node:crypto on random inputs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import fc from "fast-check";
import { constantTimeEqual, hmacMd5, md5 } from "../lib/python/md5.ts";

const enc = new TextEncoder();
const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const fromHex = (text: string) => Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));

test("md5() matches the RFC 1321 test suite", () => {
  const vectors: [string, string][] = [
    ["", "d41d8cd98f00b204e9800998ecf8427e"],
    ["a", "0cc175b9c0f1b6a831c399e269772661"],
    ["abc", "900150983cd24fb0d6963f7d28e17f72"],
    ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
    ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
    [
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
      "d174ab98d277d9f5a5611c2c9f419d9f",
    ],
    [
      "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
      "57edf4a22be3c955ac49da2e2107b67a",
    ],
  ];
  for (const [input, digest] of vectors) assert.equal(hex(md5(enc.encode(input))), digest, input);
});

test("md5() handles every length around the 64-byte block and padding boundaries", () => {
  for (let n = 0; n <= 200; n++) {
    const data = Uint8Array.from({ length: n }, (_, i) => (i * 31 + n) & 0xff);
    assert.equal(hex(md5(data)), createHash("md5").update(data).digest("hex"), `length ${n}`);
  }
});

test("hmacMd5() matches the RFC 2202 test cases", () => {
  const cases: [Uint8Array, Uint8Array, string][] = [
    [new Uint8Array(16).fill(0x0b), enc.encode("Hi There"), "9294727a3638bb1c13f48ef8158bfc9d"],
    [
      enc.encode("Jefe"),
      enc.encode("what do ya want for nothing?"),
      "750c783e6ab0b503eaa86e310a5db738",
    ],
    [
      new Uint8Array(16).fill(0xaa),
      new Uint8Array(50).fill(0xdd),
      "56be34521d144c88dbb8c733f0e8b3f6",
    ],
    [
      fromHex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
      new Uint8Array(50).fill(0xcd),
      "697eaf0aca3a3aea3a75164746ffaa79",
    ],
    [
      new Uint8Array(80).fill(0xaa),
      enc.encode("Test Using Larger Than Block-Size Key - Hash Key First"),
      "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd",
    ],
    [
      new Uint8Array(80).fill(0xaa),
      enc.encode("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"),
      "6f630fad67cda0ee1fb1f562db3aa53e",
    ],
  ];
  for (const [key, data, mac] of cases) assert.equal(hex(hmacMd5(key, data)), mac);
});

test("md5() and hmacMd5() agree with node:crypto on random inputs (property)", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ minLength: 1, maxLength: 150 }),
      (data, key) => {
        assert.equal(hex(md5(data)), createHash("md5").update(data).digest("hex"));
        assert.equal(hex(hmacMd5(key, data)), createHmac("md5", key).update(data).digest("hex"));
      },
    ),
    { numRuns: 300 },
  );
});

test("constantTimeEqual() compares content and length", () => {
  const a = Uint8Array.from([1, 2, 3]);
  assert.equal(constantTimeEqual(a, Uint8Array.from([1, 2, 3])), true);
  assert.equal(constantTimeEqual(a, Uint8Array.from([1, 2, 4])), false);
  assert.equal(constantTimeEqual(a, Uint8Array.from([1, 2])), false);
  assert.equal(constantTimeEqual(a, Uint8Array.from([1, 2, 3, 0])), false);
  assert.equal(constantTimeEqual(new Uint8Array(0), new Uint8Array(0)), true);
});
