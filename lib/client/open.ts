/**
 * Opens a client to a god by its address: "host:port" speaks the TCP protocol,
 * "http://..." or "https://..." the god's signed HTTP API. Both give the same
 * queue surface, so roles work over either.
 */
import type { GodStats } from "../server/server.ts";
import { type ClientEvent, connect, type ListedJob } from "./client.ts";
import type { TlsClientOptions } from "../transport/tls.ts";

/** A job as roles use it, over TCP or HTTP. */
export interface OpenJob<T> {
  readonly id: string;
  readonly value: T;
  readonly attempts: number;
  ack(): Promise<void>;
  nack(options?: { delay?: number }): Promise<void>;
  fail(reason: string): Promise<void>;
}

/** A stream of jobs as roles use it. */
export interface OpenConsumer<T> extends AsyncIterable<OpenJob<T>> {
  next(): Promise<IteratorResult<OpenJob<T>>>;
  return(): Promise<IteratorResult<OpenJob<T>>>;
}

/** A queue as roles use it. */
export interface OpenQueue<T> {
  put(value: T, options?: { id?: string; priority?: number; delay?: number }): Promise<string>;
  putMany(values: Iterable<T>, options?: { priority?: number; delay?: number }): Promise<string[]>;
  consume(options?: { prefetch?: number }): OpenConsumer<T>;
}

/** A client as roles use it, over TCP or HTTP. */
export interface OpenClient {
  queue<T = unknown>(name: string): OpenQueue<T>;
  stats(queue?: string): Promise<GodStats>;
  peek<T = unknown>(queue: string, limit?: number): Promise<ListedJob<T>[]>;
  purge(queue: string): Promise<number>;
  deadList<T = unknown>(queue: string, limit?: number): Promise<ListedJob<T>[]>;
  deadRequeue(queue: string, ids?: string[]): Promise<number>;
  close(): Promise<void>;
}

/** Options of {@link openClient}. */
export interface OpenOptions {
  /** "host:port" for TCP, or the http(s):// URL of the god's HTTP face. */
  addr: string;
  authkey: string;
  role: string;
  name?: string;
  /** TCP only: reconnect when the connection drops (default true). */
  reconnect?: boolean;
  /** TCP only: keep trying while the god cannot be reached at start. */
  waitForGod?: boolean;
  /** TCP only: told about connection changes. */
  onEvent?: (event: ClientEvent) => void;
  /** TCP only: TLS settings for a "tls://" address (a CA file's PEM to trust). */
  tls?: TlsClientOptions;
}

/** Whether `addr` names the god's HTTP face rather than its TCP port. */
export function isHttpAddress(addr: string): boolean {
  return /^https?:\/\//i.test(addr);
}

/**
 * Connects over TCP or HTTP, whichever `addr` names.
 *
 * @example
 * ```ts
 * const client = await openClient({ addr: "127.0.0.1:5678", authkey: "secret", role: "producer" });
 * await client.queue<number>("tasks").put(12);
 * await client.close();
 * ```
 */
export async function openClient(options: OpenOptions): Promise<OpenClient> {
  if (isHttpAddress(options.addr)) {
    // Loaded only for http:// addresses, so TCP clients never load the HTTP client.
    const { connectHttp } = await import("../http/client.ts");
    return await connectHttp({
      url: options.addr,
      authkey: options.authkey,
      role: options.role,
      name: options.name,
    });
  }
  return await connect({
    addr: options.addr,
    authkey: options.authkey,
    role: options.role,
    name: options.name,
    reconnect: options.reconnect,
    waitForGod: options.waitForGod,
    onEvent: options.onEvent,
    tls: options.tls,
  });
}
