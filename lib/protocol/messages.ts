/**
 * Message layout inside a frame body (see docs/PROTOCOL.md):
 *
 * ```
 * offset 0  u8     type       (MessageType)
 * offset 1  u32be  id         request id; 0 when the message answers nothing
 * offset 5  u32be  headerLen  bytes of the JSON header
 * offset 9  ...    header     UTF-8 JSON object
 * then      ...    payload    opaque bytes (superjson values, lengths in the header)
 * ```
 *
 * The god never decodes payloads: it stores and forwards the bytes as given.
 * Pure functions, no I/O.
 */
import { ErrorCode, ProtocolError } from "./errors.ts";
import { jsonTooDeep } from "./json_depth.ts";

/** How deeply a message header may nest (the deepest, a stats reply, has about 6 levels). */
export const MAX_HEADER_DEPTH = 32;

/** Every message type on the wire. */
export const MessageType = {
  // handshake
  Hello: 1,
  Auth: 2,
  Welcome: 3,
  // either direction
  Error: 4,
  Bye: 5,
  // replies
  Ok: 6,
  // heartbeats, either direction: a Ping is answered with a Pong of the same id
  Ping: 7,
  Pong: 8,
  // requests (client → god)
  Put: 16,
  Get: 17,
  Consume: 18,
  Cancel: 19,
  Ack: 20,
  Nack: 21,
  Touch: 22,
  Stats: 23,
  Peek: 24,
  Purge: 25,
  DeadList: 26,
  DeadRequeue: 27,
  Declare: 28,
  Complete: 29,
  Forget: 30,
  Progress: 31,
  InFlight: 32,
  DeadDelete: 33,
  Pause: 34,
  Schedule: 35,
  Unschedule: 36,
  Schedules: 37,
  // pushes (god → client)
  Deliver: 40,
  Result: 41,
  Progressed: 42,
} as const;
export type MessageType = typeof MessageType[keyof typeof MessageType];

const KNOWN_TYPES: ReadonlySet<number> = new Set(Object.values(MessageType));
/** Name of each type, for error messages. */
export const MESSAGE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(MessageType).map(([name, code]) => [code, name]),
);

/** Bytes before the header. */
export const PREFIX_BYTES = 9;

/**
 * A decoded message: `payload` is whatever followed the header (possibly
 * empty). The header's fields are as the peer sent them: each is checked by
 * whoever reads it (on the god, the operation's checker).
 */
export interface Message {
  type: MessageType;
  id: number;
  header: Readonly<Record<string, unknown>>;
  payload: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const EMPTY = new Uint8Array(0);
/** Up to this many characters, a JS loop writes ASCII faster than a call to `encodeInto`. */
const SHORT_TEXT = 256;

/**
 * Builds a message body. `payload` parts are appended after the header, in order.
 *
 * @example
 * ```ts
 * encodeMessage(MessageType.Get, 7, { q: "tasks", timeout: 1000 });
 * ```
 */
export function encodeMessage(
  type: MessageType,
  id: number,
  header: object,
  payload: readonly (Uint8Array | string)[] = [],
): Uint8Array {
  const headerText = JSON.stringify(header);
  const headerBytes = utf8Length(headerText);
  const body = new Uint8Array(PREFIX_BYTES + headerBytes + payloadSize(payload));
  writeMessage(body, 0, type, id, headerText, headerBytes, payload);
  return body;
}

/** UTF-8 bytes of payload parts. */
export function payloadSize(payload: readonly (Uint8Array | string)[]): number {
  let size = 0;
  for (const part of payload) size += typeof part === "string" ? utf8Length(part) : part.length;
  return size;
}

/**
 * Writes a message body at `at` in `out` (which has room for it): the prefix,
 * `headerText` (`headerBytes` in UTF-8), then the payload parts. Returns the
 * offset after it. The one place that lays out a message; see also FrameWriter.
 */
export function writeMessage(
  out: Uint8Array,
  at: number,
  type: MessageType,
  id: number,
  headerText: string,
  headerBytes: number,
  payload: readonly (Uint8Array | string)[],
): number {
  out[at++] = type;
  at = writeU32(out, at, id);
  at = writeU32(out, at, headerBytes);
  at = writeText(out, at, headerText, headerBytes);
  for (const part of payload) {
    if (typeof part === "string") at = writeText(out, at, part, -1);
    else {
      out.set(part, at);
      at += part.length;
    }
  }
  return at;
}

/** Writes `value` as a big-endian u32 at `at`; returns the offset after it. */
export function writeU32(out: Uint8Array, at: number, value: number): number {
  out[at] = value >>> 24;
  out[at + 1] = (value >>> 16) & 0xff;
  out[at + 2] = (value >>> 8) & 0xff;
  out[at + 3] = value & 0xff;
  return at + 4;
}

/**
 * Writes `text` as UTF-8 at `at`; returns the offset after it. `bytes` is its
 * UTF-8 size if known, else -1. Short ASCII text is copied by a loop.
 */
function writeText(out: Uint8Array, at: number, text: string, bytes: number): number {
  const n = text.length;
  if (n <= SHORT_TEXT && (bytes === n || bytes < 0)) {
    let i = 0;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) break;
      out[at + i] = c;
    }
    if (i === n) return at + n;
    // Not ASCII after all: encode the rest properly.
    return at + i + encoder.encodeInto(text.slice(i), out.subarray(at + i)).written;
  }
  return at + encoder.encodeInto(text, out.subarray(at)).written;
}

/** Bytes `text` takes in UTF-8 (what TextEncoder would produce), without encoding it. */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 2; // a surrogate pair: 4 bytes for 2 units
        i++;
      } else bytes += 2; // a lone surrogate becomes U+FFFD
    } else bytes += 2;
  }
  return bytes;
}

/** Parses a frame body; throws {@link ProtocolError} naming what was wrong. */
/**
 * Refuses a message whose JSON header is longer than `maxHeaderBytes`,
 * reading only its prefix: call it before {@link decodeMessage}, which parses
 * the header whole.
 */
export function checkHeaderSize(body: Uint8Array, maxHeaderBytes: number): void {
  if (body.length < PREFIX_BYTES) return; // decodeMessage says what is wrong
  const headerLen = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(5);
  if (headerLen > maxHeaderBytes) {
    throw new ProtocolError(
      ErrorCode.BadMessage,
      `Cannot decode message: the header of ${
        MESSAGE_NAMES[body[0]] ?? `type ${body[0]}`
      } has ${headerLen} bytes, over the limit of ${maxHeaderBytes} (maxRequestHeaderBytes); split the request`,
    );
  }
}

export function decodeMessage(body: Uint8Array): Message {
  if (body.length < PREFIX_BYTES) {
    throw new ProtocolError(
      ErrorCode.BadMessage,
      `Cannot decode message: body of ${body.length} bytes is shorter than the ${PREFIX_BYTES}-byte prefix`,
    );
  }
  const type = body[0];
  if (!KNOWN_TYPES.has(type)) {
    throw new ProtocolError(ErrorCode.UnknownType, `Cannot decode message: unknown type ${type}`);
  }
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const id = view.getUint32(1);
  const headerLen = view.getUint32(5);
  if (headerLen > body.length - PREFIX_BYTES) {
    throw new ProtocolError(
      ErrorCode.BadMessage,
      `Cannot decode message: header length ${headerLen} exceeds body length ${body.length}`,
    );
  }
  let header: unknown;
  try {
    const text = decoder.decode(body.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLen));
    if (jsonTooDeep(text, MAX_HEADER_DEPTH)) {
      throw new ProtocolError(
        ErrorCode.BadMessage,
        `Cannot decode message: the header of ${
          MESSAGE_NAMES[type]
        } nests deeper than ${MAX_HEADER_DEPTH} levels`,
      );
    }
    header = JSON.parse(text);
  } catch (cause) {
    if (cause instanceof ProtocolError) throw cause;
    throw new ProtocolError(
      ErrorCode.BadMessage,
      `Cannot decode message: header of ${MESSAGE_NAMES[type]} is not UTF-8 JSON`,
      { cause },
    );
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new ProtocolError(
      ErrorCode.BadMessage,
      `Cannot decode message: header of ${MESSAGE_NAMES[type]} is not a JSON object`,
    );
  }
  const payloadStart = PREFIX_BYTES + headerLen;
  const payload = payloadStart === body.length ? EMPTY : body.subarray(payloadStart);
  return { type: type as MessageType, id, header: header as Record<string, unknown>, payload };
}

/** Splits `payload` into parts of the given sizes; throws if they do not add up. */
export function splitPayload(payload: Uint8Array, sizes: unknown): Uint8Array[] {
  if (!Array.isArray(sizes)) {
    throw new ProtocolError(ErrorCode.BadMessage, "Cannot split payload: sizes is not an array");
  }
  const parts: Uint8Array[] = new Array(sizes.length);
  let offset = 0;
  for (let i = 0; i < sizes.length; i++) {
    const size = sizes[i];
    if (!Number.isInteger(size) || size < 0 || offset + size > payload.length) {
      throw new ProtocolError(
        ErrorCode.BadMessage,
        `Cannot split payload: size ${
          JSON.stringify(size)
        } at index ${i} does not fit ${payload.length} bytes`,
      );
    }
    parts[i] = payload.subarray(offset, offset + size);
    offset += size;
  }
  if (offset !== payload.length) {
    throw new ProtocolError(
      ErrorCode.BadMessage,
      `Cannot split payload: sizes add up to ${offset} but payload has ${payload.length} bytes`,
    );
  }
  return parts;
}
