/**
 * A transport that speaks frames: bytes in are cut into bodies by a
 * {@link FrameDecoder}; bodies out are gathered for the rest of the current
 * turn of the event loop and written with one `write` call, so a burst of
 * small messages costs one system call instead of one each.
 */
import { FrameDecoder, HEADER_BYTES } from "../protocol/frame.ts";
import type { Transport } from "./transport.ts";

/** Called with each complete frame body; a throw closes the connection through `onError`. */
export interface FramedHandlers {
  frame(body: Uint8Array): void;
  /** The decoder or a frame handler threw (bad bytes): the connection is being closed. */
  error(error: Error): void;
  closed(error?: Error): void;
  drain?(): void;
}

export class FramedConnection {
  readonly transport: Transport;
  readonly decoder: FrameDecoder;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #scheduled = false;
  #closed = false;

  constructor(transport: Transport, options: { maxFrameSize: number }) {
    this.transport = transport;
    this.decoder = new FrameDecoder({ maxFrameSize: options.maxFrameSize });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes waiting to be written (queued here and in the transport). */
  get bufferedAmount(): number {
    return this.#pendingBytes + this.transport.bufferedAmount;
  }

  start(handlers: FramedHandlers): void {
    this.transport.start({
      data: (chunk) => {
        if (this.#closed) return;
        let frames: Uint8Array[];
        try {
          frames = this.decoder.push(chunk);
        } catch (error) {
          handlers.error(error as Error);
          return;
        }
        for (const body of frames) {
          if (this.#closed) return;
          try {
            handlers.frame(body);
          } catch (error) {
            handlers.error(error as Error);
            return;
          }
        }
      },
      closed: (error) => {
        this.#closed = true;
        this.#pending = [];
        handlers.closed(error);
      },
      drain: () => handlers.drain?.(),
    });
  }

  /** Queues one frame body; it is written at the end of this turn with the others. */
  send(body: Uint8Array): void {
    if (this.#closed) return;
    this.#pending.push(body);
    this.#pendingBytes += HEADER_BYTES + body.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Writes everything queued now. */
  flush(): void {
    this.#scheduled = false;
    if (this.#pending.length === 0 || this.#closed) return;
    const out = new Uint8Array(this.#pendingBytes);
    const view = new DataView(out.buffer);
    let offset = 0;
    for (const body of this.#pending) {
      view.setUint32(offset, body.length);
      out.set(body, offset + HEADER_BYTES);
      offset += HEADER_BYTES + body.length;
    }
    this.#pending = [];
    this.#pendingBytes = 0;
    this.transport.write(out);
  }

  /** Flushes what is queued, then closes. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.transport.close();
  }
}
