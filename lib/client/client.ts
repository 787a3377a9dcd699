/**
 * The client producers and consumers use: connects, authenticates, and keeps
 * reconnecting (with backoff and jitter) when the god goes away. Puts and
 * read-only requests are retried on the new connection (put ids make retried
 * puts safe); gets, acks and nacks fail with a clear error, since their leases
 * died with the old connection.
 */
import { AuthError, ConnectionLostError, ErrorCode, TaskwireError } from "../protocol/errors.ts";
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, importAuthKey } from "../protocol/handshake.ts";
import { decodeValue } from "../protocol/codec.ts";
import { type Message, MessageType, splitPayload } from "../protocol/messages.ts";
import type { GodStats } from "../server/server.ts";
import type { QueueOptions } from "../queue/types.ts";
import { dialTcp } from "../transport/tcp.ts";
import { splitScheme, type TlsClientOptions, tlsDialer } from "../transport/tls.ts";
import type { Address, Dialer } from "../transport/transport.ts";
import { DEFAULT_ADDRESS, formatAddress, parseAddress } from "../util/address.ts";
import { deferred } from "../util/deferred.ts";
import { runtimeName } from "../util/runtime.ts";
import { Link } from "./link.ts";
import { Queue } from "./queue.ts";

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** "host:port" of the god (default 127.0.0.1:5678); "tls://host:port" speaks TLS. */
  addr?: string | Address;
  /** TLS settings (a CA to trust; default the system's roots); given, TLS is used even without tls://. */
  tls?: TlsClientOptions;
  authkey: string | Uint8Array;
  /** What this client is, shown in the god's stats ("producer", "consumer", ...). */
  role?: string;
  /** A name for this client (default: runtime and a random suffix). */
  name?: string;
  /** Keep reconnecting when the connection drops (default true). */
  reconnect?: boolean;
  /** When the god cannot be reached at start, keep trying instead of failing (default false). */
  waitForGod?: boolean;
  /** Longest pause between reconnect attempts (default 5 s). */
  maxBackoffMs?: number;
  handshakeTimeoutMs?: number;
  /** Opens connections; default TCP. Tests pass `god.connectLocal`. */
  dial?: Dialer;
  /** Told about connection changes. */
  onEvent?: (event: ClientEvent) => void;
}

/** What a client tells `onEvent`. */
export type ClientEvent =
  | { event: "connected"; addr: string; god: string; runtime: string }
  | { event: "disconnected"; addr: string; reason: string }
  | { event: "retrying"; addr: string; attempt: number; delayMs: number; reason: string };

/** A job listed by peek or the dead-letter listing. */
export interface ListedJob<T = unknown> {
  id: string;
  value: T;
  attempts: number;
  priority: number;
  reason?: string;
  origin?: string;
  /** Set when the job's bytes could not be decoded (then `value` is undefined). */
  error?: string;
}

/**
 * Connects to a god.
 *
 * @example
 * ```ts
 * const client = await connect({ addr: "127.0.0.1:5678", authkey: "secret", role: "producer" });
 * await client.queue<number>("tasks").put(12);
 * await client.close();
 * ```
 */
export async function connect(options: ConnectOptions): Promise<Client> {
  const client = new Client(options, await importAuthKey(options.authkey));
  await client.start();
  return client;
}

/** A connection to a god that survives restarts of the god. Make one with {@link connect}. */
export class Client {
  readonly addr: Address;
  readonly #options: ConnectOptions;
  readonly #key: CryptoKey;
  readonly #dial: Dialer;
  readonly #name: string;
  #link: Link | null = null;
  #waiting = deferred<Link>();
  #closed = false;
  readonly #queues = new Map<string, Queue<unknown>>();
  /** Called with each new link, so consumers can subscribe again. */
  readonly #onLink = new Set<(link: Link) => void>();

  constructor(options: ConnectOptions, key: CryptoKey) {
    this.#options = options;
    this.#key = key;
    const scheme = typeof options.addr === "string"
      ? splitScheme(options.addr)
      : { tls: false, rest: "" };
    this.addr = typeof options.addr === "string"
      ? parseAddress(scheme.rest)
      : options.addr ?? parseAddress(DEFAULT_ADDRESS);
    this.#dial = options.dial ??
      (scheme.tls || options.tls ? tlsDialer(options.tls) : dialTcp);
    this.#name = options.name ??
      `${runtimeName().split(" ")[0]}-${Math.random().toString(36).slice(2, 8)}`;
    this.#waiting.promise.catch(() => {});
  }

  /** Whether a connection is up right now. */
  get connected(): boolean {
    return this.#link !== null;
  }

  /** @internal Opens the first connection (retrying if `waitForGod`), then watches it. */
  async start(): Promise<void> {
    let attempt = 0;
    for (;;) {
      try {
        this.#adopt(await this.#open());
        return;
      } catch (error) {
        if (!this.#options.waitForGod || refusedForGood(error) || this.#closed) throw error;
        await this.#backoff(++attempt, error as Error);
      }
    }
  }

  /** A named queue. The same object is returned for the same name. */
  queue<T = unknown>(name: string): Queue<T> {
    let queue = this.#queues.get(name);
    if (!queue) {
      queue = new Queue<unknown>(this, name);
      this.#queues.set(name, queue);
    }
    return queue as Queue<T>;
  }

  /** Stats of the god: its queues, its store, its connections. */
  async stats(queue?: string): Promise<GodStats> {
    const reply = await this.request(MessageType.Stats, queue === undefined ? {} : { q: queue }, {
      retry: true,
    });
    return reply.header as GodStats;
  }

  /** Creates a queue or changes its options. */
  async declare(queue: string, options: Partial<QueueOptions> = {}): Promise<QueueOptions> {
    const reply = await this.request(MessageType.Declare, { q: queue, options }, { retry: true });
    return reply.header.options;
  }

  /** The next `limit` ready jobs of a queue, left in place. */
  async peek<T = unknown>(queue: string, limit = 10): Promise<ListedJob<T>[]> {
    return listed<T>(await this.request(MessageType.Peek, { q: queue, n: limit }, { retry: true }));
  }

  /** Removes every ready and delayed job of a queue; resolves to how many. */
  async purge(queue: string): Promise<number> {
    const reply = await this.request(MessageType.Purge, { q: queue }, { retry: false });
    return reply.header.purged;
  }

  /** Dead letters of a queue, with the reason each died. */
  async deadList<T = unknown>(queue: string, limit = 100): Promise<ListedJob<T>[]> {
    return listed<T>(
      await this.request(MessageType.DeadList, { q: queue, n: limit }, { retry: true }),
    );
  }

  /** Moves dead letters of a queue (all, or those with `ids`) back to it; resolves to how many. */
  async deadRequeue(queue: string, ids?: string[]): Promise<number> {
    const reply = await this.request(MessageType.DeadRequeue, { q: queue, ids: ids ?? null }, {
      retry: true,
    });
    return reply.header.requeued;
  }

  /** Says goodbye to the god and stops reconnecting. Unacked jobs go back to their queues. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Not connected: puts waiting for a reconnect fail now instead of waiting forever.
    if (this.#link === null) this.#waiting.reject(new ConnectionLostError("Client closed"));
    for (const queue of this.#queues.values()) await queue.flush();
    const link = this.#link;
    this.#link = null;
    this.#waiting.reject(new ConnectionLostError("Client closed"));
    await link?.close();
  }

  /**
   * @internal Sends a request. With `retry`, a request cut off by a dropped
   * connection is sent again once the client has reconnected.
   */
  async request(
    type: MessageType,
    header: object,
    options: { retry: boolean; payload?: string[] },
  ): Promise<Message> {
    for (;;) {
      const link = this.#link ??
        (options.retry && !this.#closed ? await this.#waiting.promise : null);
      if (link === null) {
        throw new ConnectionLostError(
          this.#closed
            ? "Cannot send: the client is closed"
            : `Cannot send: not connected to the god at ${formatAddress(this.addr)} (reconnecting)`,
        );
      }
      try {
        return await link.request(type, header, options.payload);
      } catch (error) {
        if (!(error instanceof ConnectionLostError) || !options.retry || this.#closed) throw error;
      }
    }
  }

  /** @internal The current link, if connected. */
  get link(): Link | null {
    return this.#link;
  }

  /** @internal Registers a callback run on every new link (after reconnects too). */
  onLink(callback: (link: Link) => void): () => void {
    this.#onLink.add(callback);
    return () => this.#onLink.delete(callback);
  }

  async #open(): Promise<Link> {
    const transport = await this.#dial(this.addr);
    return Link.open(transport, this.#key, {
      role: this.#options.role ?? "client",
      runtime: runtimeName(),
      name: this.#name,
    }, { timeoutMs: this.#options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS });
  }

  #adopt(link: Link): void {
    this.#link = link;
    this.#waiting.resolve(link);
    this.#emit({
      event: "connected",
      addr: formatAddress(this.addr),
      god: link.server.name,
      runtime: link.server.runtime,
    });
    for (const callback of this.#onLink) callback(link);
    link.closed.then((reason) => this.#lost(link, reason));
  }

  async #lost(link: Link, reason: Error): Promise<void> {
    if (this.#link !== link) return;
    this.#link = null;
    if (this.#closed) return;
    this.#waiting = deferred<Link>();
    this.#waiting.promise.catch(() => {});
    this.#emit({ event: "disconnected", addr: formatAddress(this.addr), reason: reason.message });
    if (this.#options.reconnect === false || refusedForGood(reason)) {
      this.#closed = true;
      this.#waiting.reject(reason);
      return;
    }
    let attempt = 0;
    while (!this.#closed) {
      await this.#backoff(++attempt, reason);
      if (this.#closed) return;
      try {
        const next = await this.#open();
        if (this.#closed) {
          await next.close();
          return;
        }
        this.#adopt(next);
        return;
      } catch (error) {
        reason = error as Error;
        if (refusedForGood(error)) {
          this.#closed = true;
          this.#waiting.reject(error);
          this.#emit({
            event: "disconnected",
            addr: formatAddress(this.addr),
            reason: reason.message,
          });
          return;
        }
      }
    }
  }

  async #backoff(attempt: number, reason: Error): Promise<void> {
    const max = this.#options.maxBackoffMs ?? 5000;
    const base = Math.min(max, 100 * 2 ** Math.min(attempt - 1, 10));
    const delayMs = Math.round(base / 2 + Math.random() * base / 2);
    this.#emit({
      event: "retrying",
      addr: formatAddress(this.addr),
      attempt,
      delayMs,
      reason: reason.message,
    });
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }

  #emit(event: ClientEvent): void {
    this.#options.onEvent?.(event);
  }
}

function listed<T>(reply: Message): ListedJob<T>[] {
  const parts = splitPayload(reply.payload, reply.header.sizes);
  return (reply.header.jobs as Record<string, unknown>[]).map((meta, i) => {
    const job = { ...(meta as Omit<ListedJob<T>, "value">) } as ListedJob<T>;
    try {
      job.value = decodeValue<T>(parts[i]);
    } catch (error) {
      // A listing must still show a job whose bytes cannot be decoded (a poison job).
      job.value = undefined as T;
      job.error = (error as Error).message;
    }
    return job;
  });
}

/** A handshake refusal that retrying cannot fix (a wrong key); a god's limit may pass. */
function refusedForGood(error: unknown): boolean {
  return error instanceof AuthError && error.code !== ErrorCode.Limit &&
    error.code !== ErrorCode.ShuttingDown;
}

/** True for errors worth retrying later (connection trouble), false for refusals. */
export function isTransient(error: unknown): boolean {
  return error instanceof ConnectionLostError ||
    (error instanceof TaskwireError && error.code === ErrorCode.Unavailable);
}
