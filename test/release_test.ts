/**
 * releaseNow: the memory of a typed array handed back at once (see lib/util/release.ts).
 * That the memory is gone at the next scavenge is the runtime's doing and not
 * observable from a test; what is checked is what the callers rely on.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { releaseNow } from "../lib/util/release.ts";

test("releaseNow empties the array and every view of its buffer, and nothing else", () => {
  const array = new Int32Array(1 << 16).fill(7);
  const view = new Uint8Array(array.buffer, 4, 8);
  const other = new Int32Array(16).fill(7);
  releaseNow(array);
  assert.equal(array.length, 0);
  assert.equal(array.buffer.byteLength, 0);
  assert.equal(view.length, 0);
  assert.equal(other.length, 16);
  assert.equal(other[15], 7);
});

test("releaseNow accepts what it cannot or need not release: an empty or a shared buffer", () => {
  const empty = new Uint32Array(0);
  releaseNow(empty);
  assert.equal(empty.length, 0);
  if (typeof SharedArrayBuffer === "function") {
    const shared = new Int32Array(new SharedArrayBuffer(64)).fill(3);
    releaseNow(shared);
    assert.equal(shared.length, 16, "a shared buffer cannot be transferred: it stays");
    assert.equal(shared[0], 3);
  }
});
