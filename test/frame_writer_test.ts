/** FrameWriter: messages encoded in place read back exactly, and bytes handed out are never overwritten. */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { FrameDecoder } from "../lib/protocol/frame.ts";
import { FrameWriter } from "../lib/protocol/frame_writer.ts";
import {
  decodeMessage,
  encodeMessage,
  MessageType,
  splitPayload,
} from "../lib/protocol/messages.ts";

const text = new TextDecoder();

test("message() writes the same bytes as encodeMessage() behind a length prefix", () => {
  const cases: [object, (string | Uint8Array)[]][] = [
    [{}, []],
    [{ q: "tasks", sizes: [3, 2] }, ["abc", new Uint8Array([1, 2])]],
    [{ note: "ünïcødé ✓ 🚀 \u0000" }, ["😀 lone \ud800 surrogate", "x".repeat(300)]],
  ];
  for (const [header, payload] of cases) {
    const writer = new FrameWriter();
    writer.message(MessageType.Deliver, 7, header, payload);
    const [body] = new FrameDecoder().push(writer.take()!);
    assert.deepEqual(body, encodeMessage(MessageType.Deliver, 7, header, payload));
  }
});

test("take() hands out each byte once, and later frames never touch bytes already taken", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({ text: fc.string({ maxLength: 3000 }), take: fc.boolean() }),
        { maxLength: 60 },
      ),
      (steps) => {
        const writer = new FrameWriter();
        const taken: { bytes: Uint8Array; copy: Uint8Array }[] = [];
        const keep = (bytes: Uint8Array | null) => {
          if (bytes) taken.push({ bytes, copy: bytes.slice() });
        };
        steps.forEach((step, i) => {
          writer.message(MessageType.Ok, i, { i }, [step.text]);
          if (step.take) keep(writer.take());
        });
        keep(writer.take());
        assert.equal(writer.pendingBytes, 0);
        assert.equal(writer.take(), null);
        // Nothing handed out changed afterwards.
        for (const { bytes, copy } of taken) assert.deepEqual(bytes, copy);
        const decoder = new FrameDecoder({ maxFrameSize: 1 << 20 });
        const messages = taken.flatMap(({ copy }) => decoder.push(copy)).map(decodeMessage);
        assert.equal(messages.length, steps.length);
        messages.forEach((message, i) => {
          assert.equal(message.id, i);
          assert.deepEqual(message.header, { i });
          assert.equal(
            text.decode(message.payload),
            steps[i].text.toWellFormed?.() ?? steps[i].text,
          );
        });
      },
    ),
    { numRuns: 200 },
  );
});

test("a frame bigger than a chunk gets its own memory; pendingBytes counts it; clear() drops it", () => {
  const writer = new FrameWriter();
  const big = new Uint8Array(100_000).fill(7);
  writer.message(MessageType.Ok, 1, { sizes: [big.length] }, [big]);
  writer.frame(encodeMessage(MessageType.Bye, 0, {}));
  const body = encodeMessage(MessageType.Ok, 1, { sizes: [big.length] }, [big]);
  const bye = encodeMessage(MessageType.Bye, 0, {});
  assert.equal(writer.pendingBytes, 4 + body.length + 4 + bye.length);
  const frames = new FrameDecoder({ maxFrameSize: 1 << 20 }).push(writer.take()!);
  assert.deepEqual(splitPayload(decodeMessage(frames[0]).payload, [big.length])[0], big);
  assert.deepEqual(frames[1], bye);
  writer.message(MessageType.Ok, 2, {});
  writer.clear();
  assert.equal(writer.pendingBytes, 0);
  assert.equal(writer.take(), null);
});
