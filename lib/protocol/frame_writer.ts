/**
 * Outgoing frames, encoded in place. Sans-I/O: {@link FrameWriter.message}
 * appends one complete frame (length prefix, message prefix, JSON header,
 * payload) to a shared chunk of memory, and {@link FrameWriter.take} hands the
 * bytes appended since the last take to whoever writes them.
 *
 * Why: encoding a message on its own, then copying it behind a length prefix,
 * then copying all of a turn's frames into one buffer cost three allocations
 * and two copies per message, and most of the god's garbage — which made for
 * frequent young-generation collections, each a pause in the middle of some
 * task's trip. Here a message is written once, into memory that is allocated
 * 16 KiB at a time. (The layout itself is written by `writeMessage`, as for
 * `encodeMessage`.)
 *
 * Bytes handed out by `take` are never written again (the next frames go after
 * them, or into a fresh chunk), so a transport may keep them until it has sent them.
 */
import { HEADER_BYTES } from "./frame.ts";
import {
  type MessageType,
  payloadSize,
  PREFIX_BYTES,
  utf8Length,
  writeMessage,
  writeU32,
} from "./messages.ts";

/** Frames smaller than this share chunks; bigger ones get memory of their own. */
const CHUNK_BYTES = 16 * 1024;
const EMPTY = new Uint8Array(0);

export class FrameWriter {
  #chunk: Uint8Array = EMPTY;
  /** Bytes of #chunk already handed out by `take`. */
  #taken = 0;
  /** Bytes of #chunk written so far. */
  #end = 0;
  /** Full chunks not taken yet (frames written before the current chunk). */
  #full: Uint8Array[] = [];
  #fullBytes = 0;

  /** Bytes appended and not yet taken. */
  get pendingBytes(): number {
    return this.#fullBytes + this.#end - this.#taken;
  }

  /**
   * Appends a message as one frame. `payload` parts follow the header in order;
   * `payloadBytes`, when given, is their UTF-8 size (saves measuring twice).
   */
  message(
    type: MessageType,
    id: number,
    header: object,
    payload: readonly (Uint8Array | string)[] = [],
    payloadBytes = -1,
  ): void {
    const headerText = JSON.stringify(header);
    const headerBytes = utf8Length(headerText);
    if (payloadBytes < 0) payloadBytes = payloadSize(payload);
    const bodyBytes = PREFIX_BYTES + headerBytes + payloadBytes;
    const out = this.#room(HEADER_BYTES + bodyBytes);
    const at = writeU32(out, this.#end, bodyBytes);
    this.#end = writeMessage(out, at, type, id, headerText, headerBytes, payload);
  }

  /** Appends an already encoded message body as one frame. */
  frame(body: Uint8Array): void {
    const out = this.#room(HEADER_BYTES + body.length);
    const at = writeU32(out, this.#end, body.length);
    out.set(body, at);
    this.#end = at + body.length;
  }

  /** The bytes appended since the last take, as one array; null if there are none. */
  take(): Uint8Array | null {
    let bytes: Uint8Array | null = null;
    const fresh = this.#end - this.#taken;
    if (this.#full.length === 0) {
      if (fresh > 0) bytes = this.#chunk.subarray(this.#taken, this.#end);
    } else {
      // Frames span chunks (a burst bigger than one chunk): join them for one write.
      bytes = new Uint8Array(this.#fullBytes + fresh);
      let at = 0;
      for (const part of this.#full) {
        bytes.set(part, at);
        at += part.length;
      }
      bytes.set(this.#chunk.subarray(this.#taken, this.#end), at);
      this.#full = [];
      this.#fullBytes = 0;
    }
    this.#taken = this.#end;
    // A full chunk, or one made for a single big frame, is the transport's now: let it go.
    if (this.#end === this.#chunk.length || this.#chunk.length > CHUNK_BYTES) this.#release();
    return bytes;
  }

  /** Drops everything not taken (the connection is gone). */
  clear(): void {
    this.#full = [];
    this.#fullBytes = 0;
    this.#release();
  }

  #release(): void {
    this.#chunk = EMPTY;
    this.#taken = 0;
    this.#end = 0;
  }

  /** The chunk to write `bytes` more into, at `#end`. */
  #room(bytes: number): Uint8Array {
    if (this.#end + bytes <= this.#chunk.length) return this.#chunk;
    if (this.#end > this.#taken) {
      const rest = this.#chunk.subarray(this.#taken, this.#end);
      this.#full.push(rest);
      this.#fullBytes += rest.length;
    }
    this.#chunk = new Uint8Array(Math.max(CHUNK_BYTES, bytes));
    this.#taken = 0;
    this.#end = 0;
    return this.#chunk;
  }
}
