import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_MAX_FRAME,
  encodeFrame,
  FrameDecoder,
  HANDSHAKE_MAX_FRAME,
  HEADER_BYTES,
} from "../lib/protocol/frame.ts";
import { ErrorCode, ProtocolError } from "../lib/protocol/errors.ts";
import fc from "fast-check";

/** Bodies of assorted sizes, including empty ones, filled with recognisable bytes. */
function sampleBodies(): Uint8Array[] {
  const sizes = [0, 1, 3, 4, 5, 17, 0, 255, 256, 1000, 2];
  return sizes.map((size, n) => Uint8Array.from({ length: size }, (_, i) => (n * 31 + i) & 0xff));
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Feeds `chunks` and copies out every body (a copy proves later pushes do not clobber them). */
function feed(decoder: FrameDecoder, chunks: readonly Uint8Array[]): Uint8Array[] {
  const bodies: Uint8Array[] = [];
  for (const chunk of chunks) bodies.push(...decoder.push(chunk));
  return bodies;
}

test("encodeFrame() prefixes the body with its 4-byte big-endian length", () => {
  assert.deepEqual(encodeFrame(new Uint8Array([1, 2])), Uint8Array.from([0, 0, 0, 2, 1, 2]));
  assert.deepEqual(encodeFrame(new Uint8Array(0)), Uint8Array.from([0, 0, 0, 0]));
  const big = encodeFrame(new Uint8Array(0x0304));
  assert.deepEqual([...big.subarray(0, 4)], [0, 0, 0x03, 0x04]);
  assert.equal(HEADER_BYTES, 4);
  assert.equal(DEFAULT_MAX_FRAME, 16 * 1024 * 1024);
  assert.equal(HANDSHAKE_MAX_FRAME, 4096);
});

test("FrameDecoder.push() reassembles a stream split at every offset", () => {
  const bodies = sampleBodies();
  const stream = concat(bodies.map(encodeFrame));
  for (let cut = 0; cut <= stream.length; cut++) {
    const decoder = new FrameDecoder({ maxFrameSize: 4096 });
    const got = feed(decoder, [stream.subarray(0, cut), stream.subarray(cut)]);
    assert.deepEqual(got, bodies, `split at ${cut}`);
    assert.equal(decoder.pendingBytes, 0);
  }
});

test("FrameDecoder.push() reassembles a stream split at every pair of offsets", () => {
  const bodies = sampleBodies().filter((b) => b.length < 300);
  const stream = concat(bodies.map(encodeFrame));
  for (let a = 0; a <= stream.length; a += 3) {
    for (let b = a; b <= stream.length; b += 7) {
      const decoder = new FrameDecoder({ maxFrameSize: 4096 });
      const got = feed(decoder, [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]);
      assert.deepEqual(got, bodies, `split at ${a} and ${b}`);
    }
  }
});

test("FrameDecoder.push() reassembles a stream fed one byte at a time", () => {
  const bodies = sampleBodies();
  const stream = concat(bodies.map(encodeFrame));
  const decoder = new FrameDecoder({ maxFrameSize: 4096 });
  const got: Uint8Array[] = [];
  for (let i = 0; i < stream.length; i++) {
    got.push(...decoder.push(stream.subarray(i, i + 1)));
    // Bytes of a frame not yet complete stay pending.
    assert.ok(decoder.pendingBytes < HEADER_BYTES + 1001);
  }
  assert.deepEqual(got, bodies);
  assert.equal(decoder.pendingBytes, 0);
});

test("FrameDecoder.push() returns many frames from one chunk, in order", () => {
  const bodies = Array.from({ length: 5000 }, (_, i) => new TextEncoder().encode(`frame ${i}`));
  const decoder = new FrameDecoder();
  const got = decoder.push(concat(bodies.map(encodeFrame)));
  assert.equal(got.length, 5000);
  assert.deepEqual(got, bodies);
});

test("FrameDecoder.push() assembles a frame far larger than its chunks", () => {
  const body = Uint8Array.from({ length: 3 * 1024 * 1024 + 7 }, (_, i) => (i * 7) & 0xff);
  const stream = encodeFrame(body);
  const decoder = new FrameDecoder();
  const got: Uint8Array[] = [];
  for (let i = 0; i < stream.length; i += 1000) {
    got.push(...decoder.push(stream.subarray(i, i + 1000)));
    if (i + 1000 < stream.length) assert.equal(got.length, 0);
  }
  assert.equal(got.length, 1);
  assert.deepEqual(got[0], body);
});

test("FrameDecoder.push() bodies stay valid after later pushes (no copy needed)", () => {
  const bodies = sampleBodies();
  const stream = concat(bodies.map(encodeFrame));
  for (const size of [1, 3, 64, 300]) {
    const decoder = new FrameDecoder();
    const got: Uint8Array[] = [];
    // Fresh chunks each time (sockets hand out fresh buffers); bodies are kept as returned.
    for (let i = 0; i < stream.length; i += size) {
      got.push(...decoder.push(stream.slice(i, i + size)));
    }
    assert.deepEqual(got, bodies, `chunks of ${size}`);
  }
});

test("FrameDecoder.push() rejects a length over maxFrameSize as soon as the header arrives", () => {
  const decoder = new FrameDecoder({ maxFrameSize: 100 });
  assert.deepEqual(decoder.push(Uint8Array.from([0, 0, 0])), []);
  assert.throws(
    () => decoder.push(Uint8Array.from([101])),
    (error: unknown) =>
      error instanceof ProtocolError && error.code === ErrorCode.FrameTooLarge &&
      error.message === "Cannot decode frame: length 101 exceeds maxFrameSize 100",
  );
  // A body of exactly maxFrameSize is fine.
  const ok = new FrameDecoder({ maxFrameSize: 100 });
  assert.equal(ok.push(encodeFrame(new Uint8Array(100))).length, 1);
});

test("FrameDecoder.push() rejects a huge length without waiting for (or allocating) its body", () => {
  const decoder = new FrameDecoder();
  assert.throws(
    () => decoder.push(Uint8Array.from([0xff, 0xff, 0xff, 0xff])),
    /Cannot decode frame: length 4294967295 exceeds maxFrameSize 16777216/,
  );
  assert.equal(decoder.pendingBytes, 0);
});

test("FrameDecoder.push() rejects an oversized frame that follows good ones in the same chunk", () => {
  const decoder = new FrameDecoder({ maxFrameSize: 10 });
  const stream = concat([encodeFrame(new Uint8Array(3)), Uint8Array.from([0, 0, 0, 11, 1, 2])]);
  assert.throws(() => decoder.push(stream), /length 11 exceeds maxFrameSize 10/);
});

test("FrameDecoder honours HANDSHAKE_MAX_FRAME, then a raised maxFrameSize", () => {
  const decoder = new FrameDecoder({ maxFrameSize: HANDSHAKE_MAX_FRAME });
  assert.equal(decoder.push(encodeFrame(new Uint8Array(HANDSHAKE_MAX_FRAME))).length, 1);
  assert.throws(
    () => decoder.push(encodeFrame(new Uint8Array(HANDSHAKE_MAX_FRAME + 1))),
    /length 4097 exceeds maxFrameSize 4096/,
  );
  const raised = new FrameDecoder({ maxFrameSize: HANDSHAKE_MAX_FRAME });
  raised.maxFrameSize = DEFAULT_MAX_FRAME;
  assert.equal(raised.push(encodeFrame(new Uint8Array(HANDSHAKE_MAX_FRAME + 1))).length, 1);
});

test("FrameDecoder keeps a partial frame pending and reports its size", () => {
  const decoder = new FrameDecoder();
  const frame = encodeFrame(new Uint8Array(10));
  assert.deepEqual(decoder.push(frame.subarray(0, 7)), []);
  assert.equal(decoder.pendingBytes, 7);
  assert.equal(decoder.push(frame.subarray(7)).length, 1);
  assert.equal(decoder.pendingBytes, 0);
});

test("FrameDecoder.push() returns the same bodies however the stream is cut (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 30 }),
      fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 40 }),
      (sizes, cuts) => {
        const bodies = sizes.map((size, n) =>
          Uint8Array.from({ length: size }, (_, i) => (n * 13 + i * 7) & 0xff)
        );
        const stream = concat(bodies.map(encodeFrame));
        const decoder = new FrameDecoder({ maxFrameSize: 3000 });
        const got: Uint8Array[] = [];
        let offset = 0;
        for (let i = 0; offset < stream.length; i++) {
          const size = cuts[i % cuts.length];
          // Bodies are kept as returned (no copy) until the end.
          got.push(...decoder.push(stream.slice(offset, offset + size)));
          offset += size;
        }
        assert.deepEqual(got, bodies);
        assert.equal(decoder.pendingBytes, 0);
      },
    ),
    { numRuns: 300 },
  );
});
