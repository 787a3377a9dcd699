import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeMessage,
  encodeMessage,
  MESSAGE_NAMES,
  MessageType,
  PREFIX_BYTES,
  splitPayload,
} from "../lib/protocol/messages.ts";
import { ErrorCode, ProtocolError } from "../lib/protocol/errors.ts";

const utf8 = new TextEncoder();

/** A body assembled by hand: type, id, header length as given (may lie), header bytes, payload. */
function rawBody(
  type: number,
  id: number,
  header: Uint8Array,
  options: { headerLen?: number; payload?: Uint8Array } = {},
): Uint8Array {
  const payload = options.payload ?? new Uint8Array(0);
  const body = new Uint8Array(PREFIX_BYTES + header.length + payload.length);
  const view = new DataView(body.buffer);
  body[0] = type;
  view.setUint32(1, id);
  view.setUint32(5, options.headerLen ?? header.length);
  body.set(header, PREFIX_BYTES);
  body.set(payload, PREFIX_BYTES + header.length);
  return body;
}

function protocolError(code: string, pattern: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof ProtocolError, `expected ProtocolError, got ${error}`);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  };
}

test("encodeMessage() lays out type, id, header length, header, payload", () => {
  const body = encodeMessage(MessageType.Get, 0x01020304, { q: "tasks" }, [
    Uint8Array.from([9, 8]),
    Uint8Array.from([7]),
  ]);
  const header = utf8.encode('{"q":"tasks"}');
  assert.deepEqual(
    [...body],
    [17, 1, 2, 3, 4, 0, 0, 0, header.length, ...header, 9, 8, 7],
  );
});

test("decodeMessage() round-trips every message type, id and payload", () => {
  for (const type of Object.values(MessageType)) {
    for (const id of [0, 1, 0x7fffffff, 0xffffffff]) {
      const header = { name: MESSAGE_NAMES[type], n: id, nested: { a: [1, "ü", null] } };
      const payload = [utf8.encode("abc"), new Uint8Array(0), Uint8Array.from([0, 255])];
      const message = decodeMessage(encodeMessage(type, id, header, payload));
      assert.equal(message.type, type);
      assert.equal(message.id, id);
      assert.deepEqual(message.header, header);
      assert.deepEqual([...message.payload], [97, 98, 99, 0, 255]);
    }
  }
});

test("decodeMessage() gives an empty payload when nothing follows the header", () => {
  const message = decodeMessage(encodeMessage(MessageType.Ok, 5, {}));
  assert.equal(message.payload.length, 0);
  assert.deepEqual(message.header, {});
});

test("decodeMessage() reads a body that is a view into a larger buffer", () => {
  const body = encodeMessage(MessageType.Ack, 42, { tags: [1, 2] }, [Uint8Array.from([5])]);
  const big = new Uint8Array(body.length + 20).fill(0xaa);
  big.set(body, 13);
  const message = decodeMessage(big.subarray(13, 13 + body.length));
  assert.equal(message.id, 42);
  assert.deepEqual(message.header, { tags: [1, 2] });
  assert.deepEqual([...message.payload], [5]);
});

test("decodeMessage() rejects a body shorter than the 9-byte prefix", () => {
  for (let n = 0; n < PREFIX_BYTES; n++) {
    assert.throws(
      () => decodeMessage(new Uint8Array(n).fill(MessageType.Ok, 0, 1)),
      protocolError(ErrorCode.BadMessage, new RegExp(`body of ${n} bytes is shorter`)),
    );
  }
});

test("decodeMessage() rejects an unknown message type", () => {
  const known = new Set<number>(Object.values(MessageType));
  for (let type = 0; type < 256; type++) {
    if (known.has(type)) continue;
    assert.throws(
      () => decodeMessage(rawBody(type, 1, utf8.encode("{}"))),
      protocolError(ErrorCode.UnknownType, new RegExp(`unknown type ${type}$`)),
    );
  }
});

test("decodeMessage() rejects a header length past the end of the body", () => {
  assert.throws(
    () => decodeMessage(rawBody(MessageType.Get, 1, utf8.encode("{}"), { headerLen: 3 })),
    protocolError(ErrorCode.BadMessage, /header length 3 exceeds body length 11/),
  );
  assert.throws(
    () => decodeMessage(rawBody(MessageType.Get, 1, utf8.encode("{}"), { headerLen: 0xffffffff })),
    protocolError(ErrorCode.BadMessage, /header length 4294967295 exceeds/),
  );
});

test("decodeMessage() rejects a header that is not UTF-8 JSON", () => {
  const cases = [
    utf8.encode("{"),
    utf8.encode("not json"),
    utf8.encode(""),
    Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]), // invalid UTF-8
    utf8.encode('{"a":1} trailing'),
  ];
  for (const header of cases) {
    assert.throws(
      () => decodeMessage(rawBody(MessageType.Put, 1, header)),
      protocolError(ErrorCode.BadMessage, /header of Put is not UTF-8 JSON/),
    );
  }
});

test("decodeMessage() rejects a header that is JSON but not an object", () => {
  for (const text of ["null", "[]", "[1,2]", "1", '"s"', "true"]) {
    assert.throws(
      () => decodeMessage(rawBody(MessageType.Get, 1, utf8.encode(text))),
      protocolError(ErrorCode.BadMessage, /header of Get is not a JSON object/),
    );
  }
});

test("decodeMessage() keeps a __proto__ header key as plain data", () => {
  const header = utf8.encode('{"__proto__":{"polluted":true},"constructor":{"prototype":1}}');
  const message = decodeMessage(rawBody(MessageType.Stats, 1, header));
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.getPrototypeOf(message.header), Object.prototype);
  assert.ok(Object.hasOwn(message.header, "__proto__"));
  assert.equal(message.header.polluted, undefined);
});

test("splitPayload() cuts the payload into parts of the given sizes", () => {
  const payload = Uint8Array.from([1, 2, 3, 4, 5, 6]);
  const parts = splitPayload(payload, [1, 0, 2, 3]);
  assert.deepEqual(parts.map((p) => [...p]), [[1], [], [2, 3], [4, 5, 6]]);
  assert.deepEqual(splitPayload(new Uint8Array(0), []), []);
  assert.deepEqual(splitPayload(new Uint8Array(0), [0, 0]).length, 2);
});

test("splitPayload() rejects sizes that do not add up or are not sizes", () => {
  const payload = Uint8Array.from([1, 2, 3]);
  const cases: [unknown, RegExp][] = [
    [undefined, /sizes is not an array/],
    [{ length: 1, 0: 3 }, /sizes is not an array/],
    ["3", /sizes is not an array/],
    [[1, 1], /sizes add up to 2 but payload has 3 bytes/],
    [[], /sizes add up to 0 but payload has 3 bytes/],
    [[2, 2], /size 2 at index 1 does not fit 3 bytes/],
    [[4], /size 4 at index 0 does not fit/],
    [[-1, 4], /size -1 at index 0/],
    [[1.5, 1.5], /size 1.5 at index 0/],
    [["3"], /size "3" at index 0/],
    [[null], /size null at index 0/],
    [[Number.MAX_SAFE_INTEGER], /does not fit 3 bytes/],
  ];
  for (const [sizes, pattern] of cases) {
    assert.throws(
      () => splitPayload(payload, sizes),
      protocolError(ErrorCode.BadMessage, pattern),
      JSON.stringify(sizes),
    );
  }
});

test("MESSAGE_NAMES names every message type", () => {
  for (const [name, code] of Object.entries(MessageType)) assert.equal(MESSAGE_NAMES[code], name);
});
