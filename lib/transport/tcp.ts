/**
 * TCP through `node:net`, which both Node and Deno provide. This is the only
 * file in lib/transport that touches sockets.
 */
import * as net from "node:net";
import type { Address, Listener, Transport, TransportHandlers } from "./transport.ts";

/** Idle time before the kernel starts TCP keepalive probes on a connection. */
const KEEPALIVE_MS = 15_000;

/** A `node:net` (or `node:tls`) socket as a {@link Transport}. */
export class SocketTransport implements Transport {
  readonly remote: string;
  readonly #socket: net.Socket;
  #handlers: TransportHandlers | null = null;
  #closed = false;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    // Small frames must not wait for Nagle's algorithm.
    socket.setNoDelay(true);
    // A second line behind the protocol's heartbeats: the kernel notices a peer that vanished.
    socket.setKeepAlive(true, KEEPALIVE_MS);
    this.remote = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
  }

  start(handlers: TransportHandlers): void {
    this.#handlers = handlers;
    const socket = this.#socket;
    socket.on("data", (chunk: Uint8Array) => handlers.data(chunk));
    socket.on("drain", () => handlers.drain?.());
    socket.on("error", (error: Error) => this.#finish(error));
    socket.on("close", () => this.#finish());
  }

  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  write(bytes: Uint8Array): boolean {
    if (this.#closed) return false;
    return this.#socket.write(bytes);
  }

  close(): void {
    if (this.#closed) return;
    // Flush what is queued, then make sure the socket really goes away even
    // if the peer never reads (Deno's node:net does not rely on half-close).
    this.#socket.end();
    const timer = setTimeout(() => this.#socket.destroy(), 1000);
    this.#socket.once("close", () => clearTimeout(timer));
    this.#finish();
  }

  #finish(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handlers?.closed(error);
  }
}

/**
 * Opens a TCP connection.
 *
 * @example
 * ```ts
 * const transport = await dialTcp({ host: "127.0.0.1", port: 5678 });
 * ```
 */
export function dialTcp(address: Address): Promise<Transport> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address.host, port: address.port });
    const onError = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      socket.off("error", onError);
      resolve(new SocketTransport(socket));
    });
  });
}

/**
 * Listens for TCP connections; `port: 0` picks a free port (read it back from the listener).
 */
export function listenTcp(
  address: Address,
  onConnection: (transport: Transport) => void,
): Promise<Listener> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    onConnection(new SocketTransport(socket));
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: address.host, port: address.port }, () => {
      server.off("error", reject);
      const bound = server.address() as net.AddressInfo;
      resolve({
        host: bound.address,
        port: bound.port,
        close: () =>
          new Promise<void>((done) => {
            // Track sockets ourselves: server.close() waits for every one of them.
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
