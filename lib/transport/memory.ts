/**
 * Two connected in-memory transports, for tests that exercise the protocol
 * without sockets. Delivery is asynchronous (a microtask), as on a socket.
 */
import type { Transport, TransportHandlers } from "./transport.ts";

class MemoryTransport implements Transport {
  readonly remote: string;
  peer!: MemoryTransport;
  /** Every byte written, for tests that inspect the wire (empty unless recording). */
  readonly sent: Uint8Array[] = [];
  record = true;
  #handlers: TransportHandlers | null = null;
  #early: Uint8Array[] = [];
  #closed = false;

  constructor(remote: string) {
    this.remote = remote;
  }

  start(handlers: TransportHandlers): void {
    this.#handlers = handlers;
    for (const chunk of this.#early.splice(0)) handlers.data(chunk);
    if (this.#closed) handlers.closed();
  }

  get bufferedAmount(): number {
    return 0;
  }

  write(bytes: Uint8Array): boolean {
    if (this.#closed) return false;
    const copy = bytes.slice();
    if (this.record) this.sent.push(copy);
    queueMicrotask(() => this.peer.#receive(copy));
    return true;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handlers?.closed();
    queueMicrotask(() => this.peer.close());
  }

  #receive(chunk: Uint8Array): void {
    if (this.#closed) return;
    if (this.#handlers) this.#handlers.data(chunk);
    else this.#early.push(chunk);
  }
}

/**
 * Makes a connected pair: bytes written to one arrive at the other.
 *
 * @example
 * ```ts
 * const [client, server] = memoryPair();
 * ```
 */
export function memoryPair(options: {
  /** Keep every chunk written in `sent` (default true; a long-lived pair must not). */
  record?: boolean;
} = {}): [
  Transport & { sent: Uint8Array[] },
  Transport & { sent: Uint8Array[] },
] {
  const a = new MemoryTransport("memory:client");
  const b = new MemoryTransport("memory:server");
  a.peer = b;
  b.peer = a;
  a.record = b.record = options.record ?? true;
  return [a, b];
}
