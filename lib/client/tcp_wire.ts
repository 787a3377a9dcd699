/**
 * The TCP (and TLS) transport of the client: one authenticated, pipelined
 * connection at a time ({@link Link}), replaced with backoff and jitter when
 * the god goes away. Puts and read-only requests are retried on the new
 * connection (put ids make retried puts safe); gets, acks and nacks fail with
 * a clear error, since their leases died with the old connection.
 */
import { AuthError, ConnectionLostError, ErrorCode } from "../protocol/errors.ts";
import { decodeValue } from "../protocol/codec.ts";
import { DEFAULT_HANDSHAKE_TIMEOUT_MS } from "../protocol/handshake.ts";
import { BOUNDS, DEFAULTS } from "../protocol/limits.ts";
import { type Message, MessageType, splitPayload } from "../protocol/messages.ts";
import type { GodStats, JobMeta, ScheduleInfo } from "../protocol/replies.ts";
import type { QueueOptions } from "../queue/types.ts";
import type { Address, Dialer } from "../transport/transport.ts";
import { formatAddress } from "../util/address.ts";
import { backoffMs, sleep } from "../util/backoff.ts";
import { type Deferred, deferred } from "../util/deferred.ts";
import { runtimeName } from "../util/runtime.ts";
import type { ClientEvent } from "./api.ts";
import { Link, remoteError } from "./link.ts";
import { itemFields, type PutEntry } from "./put_batch.ts";
import type { JobSink, ScheduleFields, Wire, WireJob, WireSubscription } from "./wire.ts";
import { SOFTWARE } from "../version.ts";

const textDecoder = new TextDecoder();

/** Jobs of a listing reply: fields in the header, values as payload parts. */
function listed(reply: Message): WireJob[] {
  const parts = splitPayload(reply.payload, reply.header.sizes);
  return (reply.header.jobs as JobMeta[]).map((meta, i) => {
    const job: WireJob = { ...meta, tag: meta.tag ?? 0, epoch: null, payload: parts[i] };
    // Progress comes as superjson text in the header: the same form as a payload here.
    if (meta.progress !== undefined) job.progress = new TextEncoder().encode(meta.progress);
    return job;
  });
}

/** What the TCP transport needs to connect. */
export interface TcpWireOptions {
  /** How the address was given, for messages ("host:port" or "tls://host:port"). */
  addr: string;
  address: Address;
  dial: Dialer;
  key: CryptoKey;
  /** With a worker key, its scope text (sent in the handshake). */
  scope: string | null;
  role: string;
  name: string;
  /** Keep reconnecting when the connection drops (default true). */
  reconnect?: boolean;
  /** Longest pause between reconnect attempts (default 5 s). */
  maxBackoffMs?: number;
  handshakeTimeoutMs?: number;
  /** How long a request may go unanswered beyond what it waits for on the god (default 30 s). */
  requestTimeoutMs?: number;
  onEvent?: (event: ClientEvent) => void;
}

/** Handshake refusals that retrying cannot fix. */
const PERMANENT_REFUSALS: ReadonlySet<string> = new Set([
  ErrorCode.AuthFailed,
  ErrorCode.VersionMismatch,
]);

/**
 * A handshake refusal that retrying cannot fix: a wrong key (or a
 * certificate not trusted), a protocol the other side does not speak. Anything
 * else may pass: a god's limit, its shutdown, a handshake that timed out on a
 * busy god.
 */
export function refusedForGood(error: unknown): boolean {
  return error instanceof AuthError && PERMANENT_REFUSALS.has(error.code);
}

/** Quick retries of a connect the god refused because too many handshakes were in progress. */
const BUSY_RETRIES = 8;

/**
 * The god refused the connection because too many handshakes were in
 * progress (from this address, or in all): those end within milliseconds, so
 * a connect tries again at once, a few times, even without `waitForGod`.
 */
function handshakesBusy(error: unknown): boolean {
  return error instanceof AuthError && error.code === ErrorCode.Limit &&
    /maxUnauthenticated/.test(error.message);
}

/** The TCP transport; make one with {@link TcpWire.open}. */
export class TcpWire implements Wire {
  readonly addr: string;
  readonly maxWaitMs = BOUNDS.maxDurationMs;
  readonly maxPrefetch = BOUNDS.maxPrefetch;
  readonly defaultPrefetch = DEFAULTS.prefetch;
  // One Put frame per batch: up to 1000 jobs or 1 MiB of payload.
  readonly putBatch = { maxItems: 1000, maxBytes: 1 << 20 };
  readonly #options: TcpWireOptions;
  #link: Link | null = null;
  #waiting = deferred<Link>();
  #closed = false;
  /** Called with each new link, so subscriptions are made again after a reconnect. */
  readonly #onLink = new Set<(link: Link) => void>();
  /** Called tasks waiting for their answer, by task id, and who hears their progress. */
  readonly #calls = new Map<string, Deferred<unknown>>();
  readonly #progress = new Map<string, (payload: unknown) => void>();

  private constructor(options: TcpWireOptions) {
    this.#options = options;
    this.addr = options.addr;
    this.#waiting.promise.catch(() => {});
  }

  /**
   * Connects (with `waitForGod`, keeps trying while the god cannot be reached);
   * rejects with an {@link AuthError} when the key is refused.
   */
  static async open(options: TcpWireOptions & { waitForGod?: boolean }): Promise<TcpWire> {
    const wire = new TcpWire(options);
    let attempt = 0;
    let busy = 0;
    for (;;) {
      try {
        wire.#adopt(await wire.#dial());
        return wire;
      } catch (error) {
        if (handshakesBusy(error) && ++busy <= BUSY_RETRIES) {
          await sleep(backoffMs(busy, { baseMs: 50, maxMs: 500 }));
          continue;
        }
        if (!options.waitForGod || refusedForGood(error)) throw error;
        await wire.#backoff(++attempt, error as Error);
      }
    }
  }

  get connected(): boolean {
    return this.#link !== null;
  }

  put(queue: string, entries: PutEntry[], timeout: number | undefined): Promise<void> {
    const header: Record<string, unknown> = {
      q: queue,
      items: entries.map(itemFields),
      sizes: entries.map((e) => e.bytes),
    };
    if (timeout !== undefined) header.timeout = timeout;
    return this.#request(
      MessageType.Put,
      header,
      true,
      entries.map((e) => e.payload),
      timeout ?? DEFAULTS.putTimeoutMs,
    ).then(() => {});
  }

  async get(queue: string, timeoutMs: number, max: number): Promise<WireJob[]> {
    const link = this.#link;
    const header: Record<string, unknown> = { q: queue, timeout: timeoutMs };
    if (max > 1) header.max = max;
    const reply = await this.#request(MessageType.Get, header, false, undefined, timeoutMs);
    if (max > 1) {
      // The batched form: every job's fields in the header, the values as payload parts.
      const parts = splitPayload(reply.payload, reply.header.sizes);
      return (reply.header.jobs as (JobMeta & { tag: number })[]).map((meta, i) => ({
        ...meta,
        epoch: link,
        payload: parts[i],
      }));
    }
    const meta = reply.header.job as (JobMeta & { tag: number }) | null;
    if (!meta) return [];
    return [{
      tag: meta.tag,
      epoch: link,
      id: meta.id,
      attempts: meta.attempts,
      priority: meta.priority,
      payload: reply.payload,
    }];
  }

  subscribe(queue: string, prefetch: number, sink: JobSink): WireSubscription {
    let current: { link: Link; id: number } | null = null;
    let stopped = false;
    const start = async (link: Link) => {
      if (stopped) return;
      const id = link.nextSubscriptionId();
      link.onPush(id, (message) => deliver(link, message));
      current = { link, id };
      try {
        await link.request(MessageType.Consume, { q: queue, prefetch, sub: id });
      } catch (error) {
        link.onPush(id, null);
        if (current?.id === id) current = null;
        if (error instanceof ConnectionLostError) return; // the next link subscribes again
        sink.fail(error);
        throw error;
      }
    };
    const deliver = (link: Link, message: Message) => {
      const parts = splitPayload(message.payload, message.header.sizes);
      const jobs = message.header.jobs as [number, string, number, number][];
      for (let i = 0; i < jobs.length; i++) {
        const [tag, id, attempts, priority] = jobs[i];
        sink.job(tag, link, id, attempts, priority, parts[i]);
      }
      sink.delivered();
    };
    const unwatch = this.#watchLinks((link) => start(link).catch(() => {}));
    const link = this.#link;
    const ready = link ? start(link) : Promise.resolve();
    return {
      ready,
      stop: async () => {
        stopped = true;
        unwatch();
        const sub = current;
        current = null;
        if (sub && !sub.link.isClosed) {
          sub.link.onPush(sub.id, null);
          await sub.link.request(MessageType.Cancel, { sub: sub.id }).catch(() => {});
        }
      },
    };
  }

  ack(tag: number, epoch: unknown): Promise<void> {
    const link = this.#leaseLink(epoch, "ack");
    return link instanceof Error ? Promise.reject(link) : link.ack(tag);
  }

  complete(
    tag: number,
    epoch: unknown,
    result: string | null,
    queue: string | null,
    id: string | null,
  ): Promise<void> {
    const link = this.#leaseLink(epoch, "complete");
    return link instanceof Error ? Promise.reject(link) : link.complete(tag, result, queue, id);
  }

  awaitResult(id: string, onProgress?: (payload: unknown) => void): Promise<unknown> {
    const answer = deferred<unknown>();
    this.#calls.set(id, answer);
    if (onProgress !== undefined) this.#progress.set(id, onProgress);
    answer.promise.finally(() => this.#progress.delete(id)).catch(() => {});
    return answer.promise;
  }

  forget(id: string): void {
    this.#progress.delete(id);
    if (this.#calls.delete(id)) {
      this.#link?.request(MessageType.Forget, { ids: [id] }).catch(() => {});
    }
  }

  nack(tag: number, epoch: unknown, delayMs: number | null): Promise<void> {
    return this.#settle(epoch, "nack", delayMs === null ? { tag } : { tag, delay: delayMs });
  }

  fail(tag: number, epoch: unknown, reason: string): Promise<void> {
    return this.#settle(epoch, "fail", { tag, dead: reason });
  }

  async touch(tag: number, epoch: unknown): Promise<number> {
    const link = this.#leaseLink(epoch, "touch");
    if (link instanceof Error) throw link;
    const reply = await link.request(MessageType.Touch, { tag });
    return reply.header.deadline as number;
  }

  async progress(tag: number, epoch: unknown, value: string): Promise<void> {
    const link = this.#leaseLink(epoch, "report progress");
    if (link instanceof Error) throw link;
    await link.request(MessageType.Progress, { tag }, [value]);
  }

  alive(epoch: unknown): boolean {
    return epoch === this.#link && epoch !== null;
  }

  decode<T>(payload: unknown): T {
    return decodeValue<T>(payload as Uint8Array);
  }

  async stats(queue?: string): Promise<GodStats> {
    const reply = await this.#request(
      MessageType.Stats,
      queue === undefined ? {} : { q: queue },
      true,
    );
    return reply.header as unknown as GodStats;
  }

  async declare(queue: string, options: Partial<QueueOptions>): Promise<QueueOptions> {
    const reply = await this.#request(MessageType.Declare, { q: queue, options }, true);
    return reply.header.options as QueueOptions;
  }

  async list(kind: "peek" | "dead", queue: string, limit: number | undefined): Promise<WireJob[]> {
    const reply = await this.#request(
      kind === "peek" ? MessageType.Peek : MessageType.DeadList,
      limit === undefined ? { q: queue } : { q: queue, n: limit },
      true,
    );
    return listed(reply).map((job) => ({ ...job, tag: 0 }));
  }

  async inFlight(queue: string, limit: number | undefined): Promise<WireJob[]> {
    const reply = await this.#request(
      MessageType.InFlight,
      limit === undefined ? { q: queue } : { q: queue, n: limit },
      true,
    );
    return listed(reply);
  }

  async deadDelete(queue: string, ids: string[] | null): Promise<number> {
    const reply = await this.#request(MessageType.DeadDelete, { q: queue, ids }, true);
    return reply.header.deleted as number;
  }

  async pause(queue: string, paused: boolean): Promise<QueueOptions> {
    const reply = await this.#request(MessageType.Pause, { q: queue, paused }, true);
    return reply.header.options as QueueOptions;
  }

  async schedule(fields: ScheduleFields, payload: string): Promise<ScheduleInfo> {
    const reply = await this.#request(MessageType.Schedule, { schedule: fields }, true, [payload]);
    return reply.header.schedule as ScheduleInfo;
  }

  async unschedule(name: string): Promise<boolean> {
    const reply = await this.#request(MessageType.Unschedule, { name }, true);
    return reply.header.removed as boolean;
  }

  async schedules(): Promise<{ info: ScheduleInfo; payload: unknown }[]> {
    const reply = await this.#request(MessageType.Schedules, {}, true);
    const parts = splitPayload(reply.payload, reply.header.sizes);
    return (reply.header.schedules as ScheduleInfo[]).map((info, i) => ({
      info,
      payload: parts[i],
    }));
  }

  async purge(queue: string): Promise<number> {
    const reply = await this.#request(MessageType.Purge, { q: queue }, false);
    return reply.header.purged as number;
  }

  async requeue(queue: string, ids: string[] | null): Promise<number> {
    const reply = await this.#request(MessageType.DeadRequeue, { q: queue, ids }, true);
    return reply.header.requeued as number;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const link = this.#link;
    this.#link = null;
    for (const call of this.#calls.values()) {
      call.reject(new ConnectionLostError("The client was closed before the answer came"));
    }
    this.#calls.clear();
    this.#waiting.reject(new ConnectionLostError("Cannot send: the client is closed"));
    await link?.close();
  }

  // -- internals --

  /** The link a lease of `epoch` can be settled on, or why not. */
  #leaseLink(epoch: unknown, what: string): Link | ConnectionLostError {
    if (epoch !== this.#link || this.#link === null) {
      return new ConnectionLostError(
        `Cannot ${what}: the connection that leased this job was lost; the god will deliver it again`,
      );
    }
    return this.#link;
  }

  async #settle(epoch: unknown, what: string, header: object): Promise<void> {
    const link = this.#leaseLink(epoch, what);
    if (link instanceof Error) throw link;
    await link.request(MessageType.Nack, header);
  }

  /**
   * Sends a request. With `retry`, a request cut off by a dropped connection
   * is sent again once the client has reconnected.
   */
  async #request(
    type: MessageType,
    header: object,
    retry: boolean,
    payload?: string[],
    waitMs = 0,
  ): Promise<Message> {
    for (;;) {
      const link = this.#link ?? (retry && !this.#closed ? await this.#waiting.promise : null);
      if (link === null) {
        throw new ConnectionLostError(
          this.#closed
            ? "Cannot send: the client is closed"
            : `Cannot send: not connected to the god at ${this.addr} (reconnecting)`,
        );
      }
      try {
        return await link.request(type, header, payload, waitMs);
      } catch (error) {
        if (!(error instanceof ConnectionLostError) || !retry || this.#closed) throw error;
      }
    }
  }

  #watchLinks(callback: (link: Link) => void): () => void {
    this.#onLink.add(callback);
    return () => this.#onLink.delete(callback);
  }

  #dial(): Promise<Link> {
    const o = this.#options;
    return o.dial(o.address).then((transport) =>
      Link.open(transport, o.key, {
        role: o.role,
        runtime: runtimeName(),
        name: o.name,
        software: SOFTWARE,
      }, {
        timeoutMs: o.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
        scope: o.scope,
        requestTimeoutMs: o.requestTimeoutMs,
      })
    );
  }

  #adopt(link: Link): void {
    this.#link = link;
    link.onResult = (message) => this.#answer(message);
    this.#waiting.resolve(link);
    this.#emit({
      event: "connected",
      addr: formatAddress(this.#options.address),
      god: link.server.name,
      runtime: link.server.runtime,
    });
    for (const callback of this.#onLink) callback(link);
    link.closed.then((reason) => this.#lost(link, reason));
  }

  /** A Result push (the answer to a task this client called) or a Progressed push. */
  #answer(message: Message): void {
    const id = String(message.header.id);
    if (message.type === MessageType.Progressed) {
      this.#progress.get(id)?.(message.payload);
      return;
    }
    const call = this.#calls.get(id);
    if (call === undefined) {
      // An answer this client no longer waits for (its call timed out): not lost, but stored.
      const fallback = message.header.fallback;
      if (typeof fallback === "string" && message.payload.length > 0) {
        const payload = textDecoder.decode(message.payload);
        this.put(fallback, [{ id: `result:${id}`, payload, bytes: message.payload.length }], 0)
          .catch(() => {});
      }
      return;
    }
    this.#calls.delete(id);
    const error = message.header.error as { code?: string; message?: string } | undefined;
    if (error === undefined) call.resolve(message.payload);
    else call.reject(remoteError({ ...message, header: error }));
  }

  async #lost(link: Link, reason: Error): Promise<void> {
    if (this.#link !== link) return;
    this.#link = null;
    // The god routes answers by connection: calls made on the lost one will not hear back here.
    for (const [id, call] of this.#calls) {
      call.reject(
        new ConnectionLostError(
          `The connection to the god dropped before the answer to task ${id}; its result goes to its fallback queue`,
          { cause: reason },
        ),
      );
    }
    this.#calls.clear();
    if (this.#closed) return;
    this.#waiting = deferred<Link>();
    this.#waiting.promise.catch(() => {});
    const addr = formatAddress(this.#options.address);
    this.#emit({ event: "disconnected", addr, reason: reason.message });
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
        const next = await this.#dial();
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
          this.#emit({ event: "disconnected", addr, reason: reason.message });
          return;
        }
      }
    }
  }

  async #backoff(attempt: number, reason: Error): Promise<void> {
    const delayMs = backoffMs(attempt, { maxMs: this.#options.maxBackoffMs ?? 5000 });
    this.#emit({
      event: "retrying",
      addr: formatAddress(this.#options.address),
      attempt,
      delayMs,
      reason: reason.message,
    });
    await sleep(delayMs);
  }

  #emit(event: ClientEvent): void {
    this.#options.onEvent?.(event);
  }
}
