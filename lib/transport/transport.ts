/**
 * The seam between the protocol and the network: bytes in through a callback,
 * bytes out through `write`, one `close`. Everything above this file is
 * runtime-agnostic; each adapter below it is small.
 */

/** Callbacks a transport calls; set once with {@link Transport.start}. */
export interface TransportHandlers {
  /**
   * Bytes arrived. The chunk must not be reused or changed by the transport afterwards:
   * frame bodies handed on are views into it and may be read later.
   */
  data(chunk: Uint8Array): void;
  /** The connection is gone (either side closed it, or it broke). Called once. */
  closed(error?: Error): void;
  /** The write buffer has drained below its high-water mark again. */
  drain?(): void;
}

/** One connection. */
export interface Transport {
  /** "host:port" of the other end, for logs and stats. */
  readonly remote: string;
  start(handlers: TransportHandlers): void;
  /** Queues bytes; returns false when the write buffer is above its high-water mark. */
  write(bytes: Uint8Array): boolean;
  /** Bytes queued but not yet handed to the operating system. */
  readonly bufferedAmount: number;
  /** Closes at once; buffered bytes are flushed first where the runtime allows. */
  close(): void;
}

/** A listening server. */
export interface Listener {
  readonly host: string;
  readonly port: number;
  /** Stops accepting; existing connections are left to their owners. */
  close(): Promise<void>;
}

/** Where to listen or connect. */
export interface Address {
  host: string;
  port: number;
}

/** Opens connections to a god; the client takes one so tests can pass an in-memory pair. */
export type Dialer = (address: Address) => Promise<Transport>;
