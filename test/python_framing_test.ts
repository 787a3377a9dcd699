/**
 * multiprocessing.connection framing: a signed 4-byte length (-1 then an
 * 8-byte length for large messages), cut at every offset and fed byte by
 * byte, on captured CPython traffic and on synthetic streams.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  encodePyFrame,
  PY_HANDSHAKE_MAX_FRAME,
  PyFrameDecoder,
  type PyFrameEvent,
} from "../lib/python/framing.ts";
import { ErrorCode, ProtocolError } from "../lib/protocol/errors.ts";
import { CAPTURED, loadCapture } from "./_support/python_fixtures.ts";

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function frames(events: PyFrameEvent[]): Uint8Array[] {
  return events.map((e) => {
    assert.equal(e.type, "frame");
    return (e as { body: Uint8Array }).body.slice();
  });
}

/** Every client message of every captured connection of one interpreter. */
function capturedBodies(version: string): Uint8Array[] {
  return loadCapture(version).connections.flatMap((c) =>
    c.filter((f) => f.from === "client").map((f) => f.body)
  );
}

test("encodePyFrame() writes a signed big-endian length as Python's send_bytes does", () => {
  assert.deepEqual([...encodePyFrame(Uint8Array.from([7, 8]))], [0, 0, 0, 2, 7, 8]);
  assert.deepEqual([...encodePyFrame(new Uint8Array(0))], [0, 0, 0, 0]);
  assert.deepEqual([...encodePyFrame(new Uint8Array(0x0102)).subarray(0, 4)], [0, 0, 1, 2]);
});

test("PyFrameDecoder.push() reassembles captured traffic cut at every offset", () => {
  for (const version of ["3.6", "3.13"]) {
    const bodies = capturedBodies(version).slice(0, 40);
    const stream = concat(bodies.map(encodePyFrame));
    for (let cut = 0; cut <= stream.length; cut++) {
      const decoder = new PyFrameDecoder();
      const got = frames([
        ...decoder.push(stream.slice(0, cut)),
        ...decoder.push(stream.slice(cut)),
      ]);
      assert.deepEqual(got, bodies, `${version}: cut at ${cut}`);
      assert.equal(decoder.pendingBytes, 0);
    }
  }
});

test("PyFrameDecoder.push() reassembles captured traffic fed one byte at a time", () => {
  for (const version of CAPTURED) {
    const bodies = capturedBodies(version);
    const stream = concat(bodies.map(encodePyFrame));
    const decoder = new PyFrameDecoder();
    const got: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i++) {
      got.push(...frames(decoder.push(stream.slice(i, i + 1))));
    }
    assert.deepEqual(got, bodies, version);
  }
});

test("PyFrameDecoder.push() reads the -1 + 8-byte length form (Python ≥ 3.8), cut anywhere", () => {
  const body = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
  const long = new Uint8Array(12 + body.length);
  const view = new DataView(long.buffer);
  view.setInt32(0, -1);
  view.setBigUint64(4, BigInt(body.length));
  long.set(body, 12);
  const stream = concat([encodePyFrame(Uint8Array.of(1)), long, encodePyFrame(Uint8Array.of(2))]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const decoder = new PyFrameDecoder();
    const got = frames([...decoder.push(stream.slice(0, cut)), ...decoder.push(stream.slice(cut))]);
    assert.deepEqual(got, [Uint8Array.of(1), body, Uint8Array.of(2)], `cut at ${cut}`);
  }
});

test("PyFrameDecoder announces an oversized message at its header and skips it without storing it", () => {
  const decoder = new PyFrameDecoder({ maxFrameSize: PY_HANDSHAKE_MAX_FRAME });
  const big = encodePyFrame(new Uint8Array(1000));
  const events = decoder.push(big.slice(0, 4));
  assert.deepEqual(events, [{ type: "oversized", size: 1000n, maxFrameSize: 256 }]);
  assert.equal(decoder.skipping, true);
  // The body is skipped in pieces, never buffered; the next message is read normally.
  assert.deepEqual(decoder.push(big.slice(4, 500)), []);
  assert.equal(decoder.pendingBytes, 0);
  const got = decoder.push(concat([big.slice(500), encodePyFrame(Uint8Array.of(9))]));
  assert.deepEqual(frames(got), [Uint8Array.of(9)]);
  assert.equal(decoder.skipping, false);
});

test("PyFrameDecoder refuses a 2^64-1 byte message politely and allocates nothing for it", () => {
  const header = new Uint8Array(12);
  const view = new DataView(header.buffer);
  view.setInt32(0, -1);
  view.setBigUint64(4, 0xffff_ffff_ffff_ffffn);
  const decoder = new PyFrameDecoder();
  const events = decoder.push(header);
  assert.equal(events.length, 1);
  assert.equal(events[0].type, "oversized");
  assert.equal((events[0] as { size: bigint }).size, 0xffff_ffff_ffff_ffffn);
  assert.equal(decoder.pendingBytes, 0);
  assert.deepEqual(decoder.push(new Uint8Array(65536)), []);
  assert.equal(decoder.pendingBytes, 0);
});

test("PyFrameDecoder refuses a negative length other than -1", () => {
  const decoder = new PyFrameDecoder();
  assert.throws(
    () => decoder.push(Uint8Array.of(0xff, 0xff, 0xff, 0xfe)),
    (e: unknown) =>
      e instanceof ProtocolError && e.code === ErrorCode.BadFrame &&
      /length -2 is negative/.test(e.message),
  );
});

test("PyFrameDecoder returns the same messages however the stream is cut (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 600 }), { minLength: 1, maxLength: 20 }),
      fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 20 }),
      (sizes, cuts) => {
        const bodies = sizes.map((n, k) =>
          Uint8Array.from({ length: n }, (_, i) => (i + k) & 0xff)
        );
        const stream = concat(bodies.map(encodePyFrame));
        const decoder = new PyFrameDecoder({ maxFrameSize: 600 });
        const got: Uint8Array[] = [];
        for (let at = 0, i = 0; at < stream.length; i++) {
          const n = cuts[i % cuts.length];
          got.push(...frames(decoder.push(stream.slice(at, at + n))));
          at += n;
        }
        assert.deepEqual(got, bodies);
      },
    ),
    { numRuns: 200 },
  );
});
