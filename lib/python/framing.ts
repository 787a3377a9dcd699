/**
 * multiprocessing.connection framing, sans-I/O: a 4-byte **signed** big-endian
 * length, then the bytes. From Python 3.8 a length of -1 is followed by an
 * 8-byte unsigned length, for messages over 2 GiB. Python reads handshake
 * messages with a 256-byte cap (`recv_bytes(256)`).
 *
 * {@link PyFrameDecoder.push} takes whatever bytes a socket produced and
 * returns events: complete frames, and frames over the limit, which are
 * announced as soon as their header arrives and then skipped without being
 * stored (so a peer can never make the door allocate what it announces).
 */
import { ErrorCode, ProtocolError } from "../protocol/errors.ts";

/** Largest handshake message Python itself accepts (`recv_bytes(256)`). */
export const PY_HANDSHAKE_MAX_FRAME = 256;
/** Default largest request after authentication: 16 MiB, like the main door. */
export const PY_DEFAULT_MAX_FRAME = 16 * 1024 * 1024;
/** Largest length the 4-byte header can carry; longer bodies use the -1 + 8-byte form. */
const MAX_SHORT_LENGTH = 0x7fff_ffff;

/** What {@link PyFrameDecoder.push} returns. */
export type PyFrameEvent =
  /** A complete message (a view into bytes the decoder no longer touches). */
  | { type: "frame"; body: Uint8Array }
  /** A header announced `size` bytes, over the limit; those bytes are being skipped. */
  | { type: "oversized"; size: bigint; maxFrameSize: number };

/**
 * Prefixes `body` with its length, the way Python's `Connection.send_bytes` does.
 *
 * @example
 * ```ts
 * encodePyFrame(new TextEncoder().encode("#WELCOME#")); // 00 00 00 09 23 57 ...
 * ```
 */
export function encodePyFrame(body: Uint8Array): Uint8Array {
  const long = body.length > MAX_SHORT_LENGTH;
  const header = long ? 12 : 4;
  const out = new Uint8Array(header + body.length);
  const view = new DataView(out.buffer);
  if (long) {
    view.setInt32(0, -1);
    view.setBigUint64(4, BigInt(body.length));
  } else {
    view.setInt32(0, body.length);
  }
  out.set(body, header);
  return out;
}

/**
 * Reassembles multiprocessing.connection messages from a byte stream cut anywhere.
 *
 * @example
 * ```ts
 * const decoder = new PyFrameDecoder({ maxFrameSize: PY_HANDSHAKE_MAX_FRAME });
 * for (const event of decoder.push(chunk)) if (event.type === "frame") handle(event.body);
 * ```
 */
export class PyFrameDecoder {
  /** Largest body kept; raise it after authentication. */
  maxFrameSize: number;
  #buffer: Uint8Array = new Uint8Array(0);
  #start = 0;
  #end = 0;
  /** Bytes of an oversized frame still to be skipped. */
  #skip = 0n;

  constructor(options: { maxFrameSize?: number } = {}) {
    this.maxFrameSize = options.maxFrameSize ?? PY_DEFAULT_MAX_FRAME;
  }

  /** Bytes received but not yet part of a complete frame (skipped bytes not counted). */
  get pendingBytes(): number {
    return this.#end - this.#start;
  }

  /** Whether the decoder is discarding the body of an oversized frame. */
  get skipping(): boolean {
    return this.#skip > 0n;
  }

  /**
   * Feeds bytes; returns the events they complete, in order. Throws
   * {@link ProtocolError} for a negative length other than -1.
   */
  push(chunk: Uint8Array): PyFrameEvent[] {
    const events: PyFrameEvent[] = [];
    if (this.#skip > 0n) {
      if (BigInt(chunk.length) <= this.#skip) {
        this.#skip -= BigInt(chunk.length);
        return events;
      }
      chunk = chunk.subarray(Number(this.#skip));
      this.#skip = 0n;
    }
    this.#append(chunk);
    const data = this.#buffer;
    let pos = this.#start;
    const end = this.#end;
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    while (end - pos >= 4) {
      let size = BigInt(view.getInt32(pos));
      let header = 4;
      if (size === -1n) {
        if (end - pos < 12) break;
        size = view.getBigUint64(pos + 4);
        header = 12;
      } else if (size < 0n) {
        this.#reset();
        throw new ProtocolError(
          ErrorCode.BadFrame,
          `Cannot decode a Python message: length ${size} is negative (only -1 has a meaning)`,
        );
      }
      if (size > BigInt(this.maxFrameSize)) {
        events.push({ type: "oversized", size, maxFrameSize: this.maxFrameSize });
        const available = BigInt(end - pos - header);
        if (available >= size) {
          pos += header + Number(size);
          continue;
        }
        this.#skip = size - available;
        pos = end;
        break;
      }
      const length = Number(size);
      if (end - pos - header < length) break;
      events.push({ type: "frame", body: data.subarray(pos + header, pos + header + length) });
      pos += header + length;
    }
    if (pos === end) {
      // Bodies handed out are views into this buffer: the next bytes go to a fresh one.
      this.#reset();
    } else {
      this.#start = pos;
    }
    return events;
  }

  #append(chunk: Uint8Array): void {
    const pending = this.#end - this.#start;
    if (pending === 0) {
      // Nothing buffered: parse straight out of a copy-free view (chunks are not reused).
      this.#buffer = chunk;
      this.#start = 0;
      this.#end = chunk.length;
      return;
    }
    const needed = pending + chunk.length;
    if (this.#start === 0 && this.#end + chunk.length <= this.#buffer.length) {
      this.#buffer.set(chunk, this.#end);
      this.#end += chunk.length;
      return;
    }
    // Grow geometrically while one frame is assembled, but never past what the
    // largest allowed frame needs (12-byte header included).
    const size = Math.max(needed, Math.min(pending * 2, this.maxFrameSize + 12));
    const next = new Uint8Array(size);
    next.set(this.#buffer.subarray(this.#start, this.#end));
    next.set(chunk, pending);
    this.#buffer = next;
    this.#start = 0;
    this.#end = needed;
  }

  #reset(): void {
    this.#buffer = new Uint8Array(0);
    this.#start = 0;
    this.#end = 0;
  }
}
