/**
 * The fetch-based client: the same Queue interface as the TCP client, over
 * the god's signed HTTP API, using only fetch and WebCrypto, so it runs on
 * Node, Deno and edge runtimes.
 *
 * Puts made in the same turn of the event loop travel in one request and are
 * retried on network errors (put ids make that safe). Gets are long-polls;
 * `consume` keeps up to `prefetch` jobs leased with repeated long-polls.
 */
import superjson from "superjson";
import {
  AuthError,
  ConnectionLostError,
  ErrorCode,
  RemoteError,
  TaskwireError,
} from "../protocol/errors.ts";
import { importAuthKey } from "../protocol/handshake.ts";
import type { ListedJob } from "../client/client.ts";
import { itemFields, PutBatcher, type PutOptions } from "../client/put_batch.ts";
import type { GodStats } from "../server/server.ts";
import type { QueueOptions } from "../queue/types.ts";
import { deferred } from "../util/deferred.ts";
import { runtimeName } from "../util/runtime.ts";
import { newClientId, signRequest } from "./sign.ts";

/** Options of {@link connectHttp}. */
export interface HttpConnectOptions {
  /** Base URL of the god's HTTP face, e.g. "http://127.0.0.1:8080". */
  url: string;
  authkey: string | Uint8Array;
  /** What this client is, shown in the god's stats ("producer", "consumer", ...). */
  role?: string;
  /** A name for this client (default: runtime and a random suffix). */
  name?: string;
  /** The fetch to use (default the global one). */
  fetch?: typeof fetch;
}

/** What the god tells a client that says hello. */
export interface HttpHello {
  name: string;
  runtime: string;
  protocol: string;
  /** A client silent for this long loses its leases. */
  idleMs: number;
  maxBodyBytes: number;
}

/**
 * What producers and consumers use, whichever way they reach the god: both the
 * TCP `Client` and {@link HttpClient} fit it, so a role can pick by address
 * (`http://…` or `host:port`) and run the same code.
 */
export interface WorkerClient {
  queue<T = unknown>(name: string): WorkerQueue<T>;
  stats(queue?: string): Promise<GodStats>;
  close(): Promise<void>;
}

/** A queue as {@link WorkerClient} hands it out. */
export interface WorkerQueue<T = unknown> {
  readonly name: string;
  put(value: T, options?: PutOptions): Promise<string>;
  putMany(values: Iterable<T>, options?: Omit<PutOptions, "id">): Promise<string[]>;
  get(options?: { timeout?: number }): Promise<WorkerJob<T> | null>;
  consume(options?: { prefetch?: number }): AsyncIterableIterator<WorkerJob<T>> & {
    cancel(): Promise<void>;
  };
}

/** A leased job as {@link WorkerQueue} hands it out. */
export interface WorkerJob<T = unknown> {
  readonly queue: string;
  readonly id: string;
  readonly value: T;
  readonly attempts: number;
  readonly priority: number;
  readonly settled: boolean;
  ack(): Promise<void>;
  nack(options?: { delay?: number }): Promise<void>;
  fail(reason: string): Promise<void>;
  touch(): Promise<number>;
}

/** Longest single long-poll; longer waits are made of several. */
const POLL_MS = 25_000;
const PUT_ATTEMPTS = 5;

const encoder = new TextEncoder();

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Decodes a superjson object embedded in a JSON reply. */
function revive<T>(serialized: unknown): T {
  if (typeof serialized !== "object" || serialized === null || !("json" in serialized)) {
    throw new RemoteError(ErrorCode.BadMessage, "Cannot decode job value: not a superjson object");
  }
  // deno-lint-ignore no-explicit-any -- superjson's SuperJSONResult shape is checked just above
  return superjson.deserialize(serialized as any) as T;
}

interface WireJob {
  tag: number;
  id: string;
  attempts: number;
  priority: number;
  payload: unknown;
  reason?: string;
  origin?: string;
}

/**
 * Connects to a god's HTTP face and checks the key with a signed hello.
 *
 * @example
 * ```ts
 * const client = await connectHttp({ url: "http://127.0.0.1:8080", authkey: "secret", role: "producer" });
 * await client.queue<number>("tasks").put(12);
 * await client.close();
 * ```
 */
export async function connectHttp(options: HttpConnectOptions): Promise<HttpClient> {
  const client = new HttpClient(options, await importAuthKey(options.authkey));
  await client.hello();
  return client;
}

/** A client of the god's HTTP face. Make one with {@link connectHttp}. */
export class HttpClient {
  readonly url: string;
  readonly id: string;
  readonly #key: CryptoKey;
  readonly #fetch: typeof fetch;
  readonly #peer: string;
  readonly #queues = new Map<string, HttpQueue<unknown>>();
  readonly #requests = new Set<AbortController>();
  #closed = false;
  #server: HttpHello | null = null;
  #lastRequest = 0;
  #keepAlive: ReturnType<typeof setInterval> | undefined;
  /** Jobs handed out and not yet settled; while any exist the client keeps its leases alive. */
  #unsettled = 0;

  constructor(options: HttpConnectOptions, key: CryptoKey) {
    let base: URL;
    try {
      base = new URL(options.url);
    } catch (cause) {
      throw new TypeError(`Invalid HTTP address ${JSON.stringify(options.url)}: not a URL`, {
        cause,
      });
    }
    if (base.protocol !== "http:" && base.protocol !== "https:") {
      throw new TypeError(`Invalid HTTP address ${JSON.stringify(options.url)}: use http(s)://`);
    }
    this.url = base.origin + base.pathname.replace(/\/+$/, "");
    this.#key = key;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    const runtime = runtimeName();
    const name = options.name ??
      `${runtime.split(" ")[0]}-${Math.random().toString(36).slice(2, 8)}`;
    this.id = newClientId(runtime.split(" ")[0]);
    this.#peer = new URLSearchParams({ role: options.role ?? "client", runtime, name }).toString();
  }

  /** What the god said at hello. */
  get server(): HttpHello | null {
    return this.#server;
  }

  /** @internal Says hello: checks the key and registers this client. */
  async hello(): Promise<HttpHello> {
    this.#server = await this.request<HttpHello>("GET", "/api/hello", { retries: 2 });
    return this.#server;
  }

  /** A named queue. The same object is returned for the same name. */
  queue<T = unknown>(name: string): HttpQueue<T> {
    let queue = this.#queues.get(name);
    if (!queue) {
      queue = new HttpQueue<unknown>(this, name);
      this.#queues.set(name, queue);
    }
    return queue as HttpQueue<T>;
  }

  /** Stats of the god: its queues, its store, its connections (TCP and HTTP). */
  stats(queue?: string): Promise<GodStats> {
    return this.request<GodStats>("GET", "/api/stats", {
      query: queue === undefined ? {} : { queue },
      retries: 2,
    });
  }

  /** Creates a queue or changes its options. */
  async declare(queue: string, options: Partial<QueueOptions> = {}): Promise<QueueOptions> {
    const reply = await this.request<{ options: QueueOptions }>("PUT", queuePath(queue), {
      json: { options },
      retries: 2,
    });
    return reply.options;
  }

  /** The next `limit` ready jobs of a queue, left in place. */
  async peek<T = unknown>(queue: string, limit = 10): Promise<ListedJob<T>[]> {
    const reply = await this.request<{ jobs: WireJob[] }>("GET", `${queuePath(queue)}/peek`, {
      query: { limit: String(limit) },
      retries: 2,
    });
    return reply.jobs.map(listed<T>);
  }

  /** Removes every ready and delayed job of a queue; resolves to how many. */
  async purge(queue: string): Promise<number> {
    const reply = await this.request<{ purged: number }>("POST", `${queuePath(queue)}/purge`, {});
    return reply.purged;
  }

  /** Dead letters of a queue, with the reason each died. */
  async deadList<T = unknown>(queue: string, limit = 100): Promise<ListedJob<T>[]> {
    const reply = await this.request<{ jobs: WireJob[] }>("GET", `${queuePath(queue)}/dead`, {
      query: { limit: String(limit) },
      retries: 2,
    });
    return reply.jobs.map(listed<T>);
  }

  /** Moves dead letters of a queue (all, or those with `ids`) back to it; resolves to how many. */
  async deadRequeue(queue: string, ids?: string[]): Promise<number> {
    const reply = await this.request<{ requeued: number }>(
      "POST",
      `${queuePath(queue)}/dead/requeue`,
      { json: { ids: ids ?? null }, retries: 2 },
    );
    return reply.requeued;
  }

  /** Flushes puts, stops consumers, and tells the god this client is gone (its unacked jobs go back). */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const queue of this.#queues.values()) await queue.flush();
    for (const queue of this.#queues.values()) await queue.stopConsumers();
    await Promise.allSettled([...this.#ackRequests]);
    this.#closed = true;
    clearInterval(this.#keepAlive);
    for (const controller of this.#requests) controller.abort();
    try {
      await this.request("POST", "/api/bye", { force: true });
    } catch {
      // The god is gone already: its idle timeout returns our leases.
    }
  }

  /** Whether {@link HttpClient.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  readonly #ackRequests = new Set<Promise<unknown>>();
  #acks: {
    tag: number;
    done: { resolve(message: string | null): void; reject(e: unknown): void };
  }[] = [];

  /**
   * @internal Acks a lease; acks made in the same turn of the event loop
   * travel in one request. Resolves to null, or to why the god refused it.
   */
  ack(tag: number): Promise<string | null> {
    const done = deferred<string | null>();
    if (this.#acks.length === 0) queueMicrotask(() => this.#sendAcks());
    this.#acks.push({ tag, done });
    return done.promise;
  }

  #sendAcks(): void {
    const batch = this.#acks;
    this.#acks = [];
    const sent = this.request<{ failed: { tag: number; message: string }[] }>("POST", "/api/ack", {
      json: { tags: batch.map((a) => a.tag) },
    }).then((reply) => {
      const failed = new Map((reply.failed ?? []).map((f) => [f.tag, f.message]));
      for (const a of batch) a.done.resolve(failed.get(a.tag) ?? null);
    }, (error) => {
      for (const a of batch) a.done.reject(error);
    });
    this.#ackRequests.add(sent);
    sent.finally(() => this.#ackRequests.delete(sent));
  }

  /** @internal Counts leased jobs so the client keeps them alive while the user works. */
  leased(delta: number): void {
    this.#unsettled += delta;
    if (this.#unsettled > 0 && this.#keepAlive === undefined && !this.#closed) {
      const every = Math.max(1000, Math.floor((this.#server?.idleMs ?? 60_000) / 3));
      this.#keepAlive = setInterval(() => {
        if (Date.now() - this.#lastRequest < every) return;
        this.request("POST", "/api/ping", {}).catch(() => {});
      }, every);
    } else if (this.#unsettled <= 0 && this.#keepAlive !== undefined) {
      clearInterval(this.#keepAlive);
      this.#keepAlive = undefined;
    }
  }

  /**
   * @internal Sends a signed request and decodes the JSON reply. Network
   * failures are retried `retries` times (only for requests safe to repeat).
   */
  async request<R = Record<string, unknown>>(
    method: string,
    path: string,
    options: {
      query?: Record<string, string>;
      json?: unknown;
      body?: Uint8Array;
      retries?: number;
      signal?: AbortSignal;
      force?: boolean;
    },
  ): Promise<R> {
    const body = options.body ??
      (options.json === undefined
        ? new Uint8Array(0)
        : encoder.encode(JSON.stringify(options.json)));
    const url = new URL(this.url + path);
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
    const retries = options.retries ?? 0;
    for (let attempt = 0;; attempt++) {
      if (this.#closed && !options.force) {
        throw new ConnectionLostError(`Cannot ${method} ${path}: the HTTP client is closed`);
      }
      const headers = await signRequest(this.#key, {
        method,
        url,
        clientId: this.id,
        peer: this.#peer,
        body,
      });
      if (body.length > 0) headers["content-type"] = "application/json";
      const controller = new AbortController();
      const onAbort = () => controller.abort();
      options.signal?.addEventListener("abort", onAbort);
      this.#requests.add(controller);
      this.#lastRequest = Date.now();
      let response: Response;
      try {
        response = await this.#fetch(url, {
          method,
          headers,
          body: method === "GET" || method === "HEAD" ? undefined : body as Uint8Array<ArrayBuffer>,
          signal: controller.signal,
        });
      } catch (cause) {
        if (controller.signal.aborted) {
          throw new ConnectionLostError(`Cannot ${method} ${path}: cancelled`, { cause });
        }
        if (attempt < retries && !this.#closed) {
          await sleep(Math.min(2000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2));
          continue;
        }
        throw new ConnectionLostError(
          `Cannot ${method} ${url.origin}${path}: ${(cause as Error).message ?? cause}`,
          { cause },
        );
      } finally {
        options.signal?.removeEventListener("abort", onAbort);
        this.#requests.delete(controller);
      }
      const text = await response.text();
      let parsed: Record<string, unknown> = {};
      try {
        parsed = text === "" ? {} : JSON.parse(text);
      } catch {
        if (response.ok) {
          throw new RemoteError(
            ErrorCode.BadMessage,
            `Cannot ${method} ${path}: the reply is not JSON (status ${response.status})`,
          );
        }
      }
      if (response.ok) return parsed as R;
      const error = (parsed.error ?? {}) as { code?: string; message?: string };
      const message = `${method} ${path} failed with HTTP ${response.status}: ${
        error.message ?? (text.slice(0, 200) || response.statusText)
      }`;
      if (response.status === 401 || response.status === 403) {
        throw new AuthError(ErrorCode.AuthFailed, message);
      }
      const code = (Object.values(ErrorCode) as string[]).includes(error.code ?? "")
        ? error.code as ErrorCode
        : response.status >= 500
        ? ErrorCode.Unavailable
        : ErrorCode.BadMessage;
      if ((response.status === 502 || response.status === 504) && attempt < retries) {
        await sleep(Math.min(2000, 100 * 2 ** attempt));
        continue;
      }
      throw new RemoteError(code, message);
    }
  }
}

function queuePath(queue: string): string {
  return `/api/queues/${encodeURIComponent(queue)}`;
}

function listed<T>(job: WireJob): ListedJob<T> {
  const out: ListedJob<T> = {
    id: job.id,
    value: revive<T>(job.payload),
    attempts: job.attempts,
    priority: job.priority,
  };
  if (job.reason !== undefined) out.reason = job.reason;
  if (job.origin !== undefined) out.origin = job.origin;
  return out;
}

/**
 * A job handed out under a lease over HTTP. Finish it with {@link HttpJob.ack},
 * hand it back with {@link HttpJob.nack}, or keep it longer with {@link HttpJob.touch}.
 */
export class HttpJob<T = unknown> {
  readonly queue: string;
  readonly id: string;
  readonly value: T;
  /** Deliveries so far, this one included. */
  readonly attempts: number;
  readonly priority: number;
  readonly #tag: number;
  readonly #client: HttpClient;
  readonly #onSettle: () => void;
  #settled = false;

  /** @internal */
  constructor(
    client: HttpClient,
    fields: {
      queue: string;
      id: string;
      value: T;
      attempts: number;
      priority: number;
      tag: number;
    },
    onSettle: () => void,
  ) {
    this.#client = client;
    this.queue = fields.queue;
    this.id = fields.id;
    this.value = fields.value;
    this.attempts = fields.attempts;
    this.priority = fields.priority;
    this.#tag = fields.tag;
    this.#onSettle = onSettle;
    client.leased(1);
  }

  /** The lease number the god gave this delivery. */
  get tag(): number {
    return this.#tag;
  }

  /** Whether ack, nack or fail was already called. */
  get settled(): boolean {
    return this.#settled;
  }

  /** Finishes the job: it will not be delivered again. */
  async ack(): Promise<void> {
    this.#settle("ack");
    const refused = await this.#client.ack(this.#tag);
    if (refused !== null) {
      throw new RemoteError(ErrorCode.NotLeased, `Cannot ack job ${this.id}: ${refused}`);
    }
  }

  /** Hands the job back, ready again after `delay` ms (default now). Counts as an attempt. */
  async nack(options: { delay?: number } = {}): Promise<void> {
    this.#settle("nack");
    await this.#client.request("POST", `/api/leases/${this.#tag}/nack`, {
      json: { delay: options.delay ?? 0 },
    });
  }

  /** Sends the job straight to the dead-letter queue, with the reason. */
  async fail(reason: string): Promise<void> {
    this.#settle("fail");
    await this.#client.request("POST", `/api/leases/${this.#tag}/nack`, {
      json: { dead: String(reason) },
    });
  }

  /** Extends the lease by the queue's lease time; resolves to the new deadline (epoch ms). */
  async touch(): Promise<number> {
    const reply = await this.#client.request<{ deadline: number }>(
      "POST",
      `/api/leases/${this.#tag}/touch`,
      {},
    );
    return reply.deadline;
  }

  #settle(what: string): void {
    if (this.#settled) {
      throw new RemoteError(
        ErrorCode.NotLeased,
        `Cannot ${what} job ${this.id}: it was already settled`,
      );
    }
    this.#settled = true;
    this.#client.leased(-1);
    this.#onSettle();
  }
}

/**
 * Jobs as an async iterator, at most `prefetch` unsettled at once, fetched by
 * long-polls running ahead of the loop. Leaving the loop (break, return,
 * throw) stops polling and hands back jobs fetched but not yet taken.
 */
export class HttpConsumer<T = unknown> implements AsyncIterableIterator<HttpJob<T>> {
  readonly #queue: HttpQueue<T>;
  readonly #client: HttpClient;
  readonly #prefetch: number;
  readonly #buffer: HttpJob<T>[] = [];
  /** Jobs taken from the buffer and not yet settled. */
  #taken = 0;
  #error: unknown = null;
  #done = false;
  #wake: (() => void) | null = null;
  #roomWake: (() => void) | null = null;
  readonly #abort = new AbortController();
  readonly #pump: Promise<void>;
  readonly #started = deferred<void>();

  /** @internal */
  constructor(client: HttpClient, queue: HttpQueue<T>, prefetch: number) {
    if (!Number.isSafeInteger(prefetch) || prefetch < 1 || prefetch > 1000) {
      throw new RemoteError(
        ErrorCode.BadArgument,
        `Invalid prefetch: ${
          JSON.stringify(prefetch)
        } (expected an integer from 1 to 1000 over HTTP)`,
      );
    }
    this.#client = client;
    this.#queue = queue;
    this.#prefetch = prefetch;
    this.#started.promise.catch(() => {});
    this.#pump = this.#run();
  }

  /** Resolves once the first long-poll was accepted (rejects if the god refused it). */
  ready(): Promise<void> {
    return this.#started.promise;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<HttpJob<T>>> {
    for (;;) {
      const job = this.#buffer.shift();
      if (job !== undefined) {
        this.#taken++;
        return { value: job, done: false };
      }
      if (this.#error !== null) {
        const error = this.#error;
        this.#error = null;
        await this.return();
        throw error;
      }
      if (this.#done) return { value: undefined, done: true };
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  /** Stops polling; fetched jobs not yet taken go back to the queue. */
  async return(): Promise<IteratorResult<HttpJob<T>>> {
    if (!this.#done) {
      this.#done = true;
      this.#abort.abort();
      this.#wakeRoom();
      await this.#pump;
      const unclaimed = this.#buffer.splice(0);
      await Promise.allSettled(unclaimed.map((job) => job.nack()));
      this.#wakeUp();
    }
    return { value: undefined, done: true };
  }

  /** Same as {@link HttpConsumer.return}. */
  cancel(): Promise<void> {
    return this.return().then(() => {});
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#done) {
      const room = this.#prefetch - this.#taken - this.#buffer.length;
      if (room <= 0) {
        await new Promise<void>((resolve) => this.#roomWake = resolve);
        continue;
      }
      try {
        const jobs = await this.#queue.poll(POLL_MS, room, this.#abort.signal, () => {
          this.#settled();
        });
        this.#started.resolve();
        failures = 0;
        if (this.#done) {
          await Promise.allSettled(jobs.map((job) => job.nack()));
          break;
        }
        this.#buffer.push(...jobs);
        if (jobs.length > 0) this.#wakeUp();
      } catch (error) {
        if (this.#done) break;
        const transient = error instanceof ConnectionLostError ||
          (error instanceof TaskwireError &&
            (error.code === ErrorCode.Unavailable || error.code === ErrorCode.ShuttingDown));
        if (!transient || this.#client.closed) {
          this.#started.reject(error);
          this.#error = error;
          this.#wakeUp();
          return;
        }
        failures++;
        await sleep(Math.min(5000, 100 * 2 ** Math.min(failures, 6)) * (0.5 + Math.random() / 2));
      }
    }
  }

  #settled(): void {
    this.#taken--;
    this.#wakeRoom();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  #wakeRoom(): void {
    const wake = this.#roomWake;
    this.#roomWake = null;
    wake?.();
  }
}

/**
 * A named queue on the god, over HTTP. Get one with `client.queue<T>(name)`.
 *
 * @example
 * ```ts
 * const tasks = client.queue<number>("tasks");
 * await tasks.put(12);
 * for await (const job of tasks.consume({ prefetch: 16 })) {
 *   console.log(job.value * job.value);
 *   await job.ack();
 * }
 * ```
 */
export class HttpQueue<T = unknown> {
  readonly name: string;
  readonly #client: HttpClient;
  readonly #puts: PutBatcher<T>;
  readonly #consumers = new Set<HttpConsumer<T>>();

  /** @internal */
  constructor(client: HttpClient, name: string) {
    this.#client = client;
    this.name = name;
    // One request per batch: up to 1000 jobs or 512 KiB of payload, the superjson spliced in as is.
    this.#puts = new PutBatcher<T>((entries, timeout) => {
      const items = entries.map((entry) =>
        `${JSON.stringify(itemFields(entry)).slice(0, -1)},"payload":${entry.payload}}`
      );
      let text = `{"items":[${items.join(",")}]`;
      if (timeout !== undefined) text += `,"timeout":${Number(timeout)}`;
      return client.request("POST", `${queuePath(name)}/put`, {
        body: encoder.encode(`${text}}`),
        retries: PUT_ATTEMPTS,
      });
    }, { maxItems: 1000, maxBytes: 512 * 1024 });
  }

  /**
   * Adds a job; resolves to its id once the god has stored it (durably, with
   * the journal). Waits while the queue is full, up to `timeout`.
   */
  put(value: T, options: PutOptions = {}): Promise<string> {
    return this.#puts.put(value, options);
  }

  /** Adds many jobs in as few requests as possible; resolves to their ids. */
  putMany(values: Iterable<T>, options: Omit<PutOptions, "id"> = {}): Promise<string[]> {
    return this.#puts.putMany(values, options);
  }

  /**
   * Takes the next job, waiting on the god up to `timeout` ms (default: until
   * one arrives). Resolves to null when the time passes first.
   */
  async get(options: { timeout?: number } = {}): Promise<HttpJob<T> | null> {
    let remaining = options.timeout ?? Infinity;
    if (typeof remaining !== "number" || Number.isNaN(remaining) || remaining < 0) {
      throw new RemoteError(ErrorCode.BadArgument, `Invalid timeout: ${String(options.timeout)}`);
    }
    for (;;) {
      const wait = Math.min(remaining, POLL_MS);
      const [job] = await this.poll(wait, 1, undefined, () => {});
      if (job) return job;
      remaining -= wait;
      if (remaining <= 0) return null;
    }
  }

  /**
   * Streams jobs, at most `prefetch` unsettled at a time (default 16), fetched
   * by long-polls. Settling a job makes room for the next.
   */
  consume(options: { prefetch?: number } = {}): HttpConsumer<T> {
    const consumer = new HttpConsumer<T>(this.#client, this, options.prefetch ?? 16);
    this.#consumers.add(consumer);
    return consumer;
  }

  /** Resolves once every put made so far has been answered. */
  flush(): Promise<void> {
    return this.#puts.flush();
  }

  /** @internal Stops every consumer of this queue (on close). */
  async stopConsumers(): Promise<void> {
    await Promise.allSettled([...this.#consumers].map((c) => c.return()));
    this.#consumers.clear();
  }

  /** @internal One long-poll for up to `max` jobs. */
  async poll(
    timeoutMs: number,
    max: number,
    signal: AbortSignal | undefined,
    onSettle: () => void,
  ): Promise<HttpJob<T>[]> {
    const reply = await this.#client.request<{ jobs: WireJob[] }>(
      "POST",
      `${queuePath(this.name)}/get`,
      { query: { timeout: String(Math.round(timeoutMs)), max: String(max) }, signal },
    );
    const jobs: HttpJob<T>[] = [];
    for (const job of reply.jobs) {
      let value: T;
      try {
        value = revive<T>(job.payload);
      } catch (error) {
        // Undecodable bytes can never succeed: dead-letter them instead of looping.
        this.#client.request("POST", `/api/leases/${job.tag}/nack`, {
          json: { dead: `undecodable payload: ${(error as Error).message}` },
        }).catch(() => {});
        continue;
      }
      jobs.push(
        new HttpJob<T>(this.#client, {
          queue: this.name,
          id: job.id,
          value,
          attempts: job.attempts,
          priority: job.priority,
          tag: job.tag,
        }, onSettle),
      );
    }
    return jobs;
  }
}
