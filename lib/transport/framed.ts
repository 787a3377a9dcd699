/**
 * A transport that speaks frames: bytes in are cut into bodies by a
 * {@link FrameDecoder}; messages out are encoded in place by a
 * {@link FrameWriter}, gathered for the rest of the current turn of the event
 * loop and written with one `write` call, so a burst of small messages costs
 * one system call instead of one each.
 */
import { FrameDecoder } from "../protocol/frame.ts";
import { FrameWriter } from "../protocol/frame_writer.ts";
import type { MessageType } from "../protocol/messages.ts";
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
  readonly #out = new FrameWriter();
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
    return this.#out.pendingBytes + this.transport.bufferedAmount;
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
        this.#out.clear();
        handlers.closed(error);
      },
      drain: () => handlers.drain?.(),
    });
  }

  /** Queues an encoded message body; it is written at the end of this turn with the others. */
  send(body: Uint8Array): void {
    if (this.#closed) return;
    this.#out.frame(body);
    this.#schedule();
  }

  /**
   * Queues a message, encoded straight into the outgoing bytes (see
   * {@link FrameWriter.message}); written at the end of this turn.
   */
  sendMessage(
    type: MessageType,
    id: number,
    header: object,
    payload?: readonly (Uint8Array | string)[],
    payloadBytes?: number,
  ): void {
    if (this.#closed) return;
    this.#out.message(type, id, header, payload, payloadBytes);
    this.#schedule();
  }

  #schedule(): void {
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Writes everything queued now. */
  flush(): void {
    this.#scheduled = false;
    if (this.#closed) return;
    const bytes = this.#out.take();
    if (bytes !== null) this.transport.write(bytes);
  }

  /** Flushes what is queued, then closes. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.transport.close();
  }
}
