/**
 * Framing: every message is a 4-byte unsigned big-endian body length followed
 * by the body. Sans-I/O: {@link FrameDecoder.push} takes whatever bytes a
 * socket produced and returns the complete bodies; {@link encodeFrame} returns
 * the bytes to write.
 */
import { ErrorCode, ProtocolError } from "./errors.ts";

/** Default largest body after authentication: 16 MiB. */
export const DEFAULT_MAX_FRAME = 16 * 1024 * 1024;
/** Largest body accepted before the handshake has succeeded: 4 KiB. */
export const HANDSHAKE_MAX_FRAME = 4 * 1024;
/** Bytes in the length prefix. */
export const HEADER_BYTES = 4;

/**
 * Prefixes `body` with its length.
 *
 * @example
 * ```ts
 * encodeFrame(new Uint8Array([1, 2])); // Uint8Array [0, 0, 0, 2, 1, 2]
 * ```
 */
export function encodeFrame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, HEADER_BYTES);
  return out;
}

/**
 * Reassembles frames from a byte stream cut anywhere.
 *
 * @example
 * ```ts
 * const decoder = new FrameDecoder({ maxFrameSize: 1024 });
 * for (const body of decoder.push(chunk)) handle(body);
 * ```
 */
export class FrameDecoder {
  /** Largest body accepted; raise it after authentication with {@link FrameDecoder.maxFrameSize}. */
  maxFrameSize: number;
  #buffer: Uint8Array = new Uint8Array(0);
  #start = 0;
  #end = 0;

  constructor(options: { maxFrameSize?: number } = {}) {
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME;
  }

  /** Bytes received but not yet part of a complete frame. */
  get pendingBytes(): number {
    return this.#end - this.#start;
  }

  /**
   * Feeds bytes; returns every body completed by them, in order. Bodies are
   * views into `chunk` or into a buffer the decoder no longer touches, so they
   * stay valid as long as the caller does not change `chunk` afterwards.
   * Throws {@link ProtocolError} as soon as a header announces a body over
   * {@link FrameDecoder.maxFrameSize}, before allocating for it.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    // Fast path: nothing buffered, parse straight out of the chunk.
    let data: Uint8Array;
    let pos: number;
    let end: number;
    if (this.#end === this.#start) {
      data = chunk;
      pos = 0;
      end = chunk.length;
    } else {
      this.#append(chunk);
      data = this.#buffer;
      pos = this.#start;
      end = this.#end;
    }
    while (end - pos >= HEADER_BYTES) {
      const length = ((data[pos] << 24) >>> 0) + (data[pos + 1] << 16) + (data[pos + 2] << 8) +
        data[pos + 3];
      if (length > this.maxFrameSize) {
        this.#reset();
        throw new ProtocolError(
          ErrorCode.FrameTooLarge,
          `Cannot decode frame: length ${length} exceeds maxFrameSize ${this.maxFrameSize}`,
        );
      }
      if (end - pos - HEADER_BYTES < length) break;
      const bodyStart = pos + HEADER_BYTES;
      frames.push(data.subarray(bodyStart, bodyStart + length));
      pos = bodyStart + length;
    }
    if (data === chunk) {
      if (pos < end) {
        // Keep the tail; copy it, since the caller may reuse the chunk's memory.
        this.#buffer = chunk.slice(pos, end);
        this.#start = 0;
        this.#end = this.#buffer.length;
      }
    } else if (pos === end) {
      // Frames handed out are views into this buffer: start a fresh one next time.
      this.#reset();
    } else {
      this.#start = pos;
    }
    return frames;
  }

  #append(chunk: Uint8Array): void {
    const pending = this.#end - this.#start;
    const needed = pending + chunk.length;
    if (this.#end + chunk.length <= this.#buffer.length) {
      // Writing past #end never touches bodies already handed out (they lie before #start).
      this.#buffer.set(chunk, this.#end);
      this.#end += chunk.length;
      return;
    }
    // While one frame is being assembled (#start is 0: nothing handed out from
    // this buffer), grow geometrically so a large frame costs amortised O(n),
    // but never past what the largest possible frame needs. After frames were
    // handed out, start a buffer just big enough: doubling a buffer that keeps
    // being replaced would allocate up to maxFrameSize for every chunk.
    const size = this.#start === 0
      ? Math.max(needed, Math.min(this.#buffer.length * 2, this.maxFrameSize + HEADER_BYTES))
      : needed;
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
