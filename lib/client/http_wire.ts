/**
 * The HTTP transport of the client: signed requests to the god's HTTP face
 * (docs/HTTP.md), using only fetch and WebCrypto, so it runs on Node, Deno,
 * Bun, edge runtimes and browsers.
 *
 * Puts travel in one request per batch and are retried on network errors
 * (put ids make that safe). Gets are long-polls; a consumer keeps up to its
 * prefetch of jobs leased with repeated long-polls. While jobs are leased the
 * client pings now and then, so the god does not take it for gone.
 */
import superjson from "superjson";
import {
  ArgumentError,
  AuthError,
  ConnectionLostError,
  ErrorCode,
  isTransient,
  ProtocolError,
  RemoteError,
} from "../protocol/errors.ts";
import { BOUNDS, DEFAULT_LIMITS } from "../protocol/limits.ts";
import type { GodStats, JobMeta, ScheduleInfo } from "../protocol/replies.ts";
import type { QueueOptions } from "../queue/types.ts";
import { backoffMs, sleep } from "../util/backoff.ts";
import { type Deferred, deferred } from "../util/deferred.ts";
import { nextTurn } from "../util/next_turn.ts";
import { runtimeName } from "../util/runtime.ts";
import { newClientId, SignHeader, signRequest } from "../http/sign.ts";
import { itemFields, type PutEntry } from "./put_batch.ts";
import type { JobSink, ScheduleFields, Wire, WireJob, WireSubscription } from "./wire.ts";

/** What the god tells a client that says hello. */
export interface HttpHello {
  name: string;
  runtime: string;
  protocol: string;
  /** The god's id: every request after the hello is signed for it, so it serves on no other god. */
  god: string;
  /** A client silent for this long loses its leases. */
  idleMs: number;
  maxBodyBytes: number;
}

/** What the HTTP transport needs to connect. */
export interface HttpWireOptions {
  /** Base URL of the god's HTTP face, e.g. "http://127.0.0.1:8080". */
  url: string;
  key: CryptoKey;
  /** With a worker key, its scope text (sent with every request). */
  scope: string | null;
  role: string;
  name: string;
  /** The fetch to use (default the global one). */
  fetch?: typeof fetch;
}

/** Longest single long-poll; longer waits are made of several. */
const POLL_MS = 25_000;
const PUT_ATTEMPTS = 5;
const encoder = new TextEncoder();

/** The answer to a called task, as the HTTP face sends it. */
interface HttpAnswer {
  id: string;
  queue: string;
  result?: unknown;
  resultText?: string;
  fallback?: string;
  error?: { code: string; message: string };
  progress?: unknown;
  progressText?: string;
}

/** A job as the HTTP face sends it: the payload is the superjson object, spliced in. */
interface HttpJob extends Omit<JobMeta, "progress"> {
  tag: number;
  payload?: unknown;
  /** The stored text, when it is not JSON (a raw TCP put): it cannot be decoded. */
  payloadText?: string;
  progress?: unknown;
  progressText?: string;
}

/** A value the HTTP face spliced in (`name`), or its text when it is not JSON (`nameText`). */
function splicedValue(object: Record<string, unknown>, name: string): unknown {
  const text = `${name}Text`;
  return text in object ? { text: object[text] } : object[name];
}

/**
 * In a browser page, a request to another origin that fails without a
 * response is most often a CORS refusal (the browser does not say): name it.
 */
function crossOriginHint(url: URL): string {
  const page = (globalThis as { location?: { origin?: string } }).location?.origin;
  if (
    page === undefined || page === url.origin ||
    (globalThis as { document?: unknown }).document === undefined
  ) {
    return "";
  }
  return ` (from a page on ${page}, this is usually the browser refusing the request: start the god with --http-cors ${page}, or serve the page from ${url.origin})`;
}

function queuePath(queue: string): string {
  return `/api/queues/${encodeURIComponent(queue)}`;
}

function wireJob(job: HttpJob): WireJob {
  const out: WireJob = {
    tag: job.tag ?? 0,
    epoch: null,
    id: job.id,
    attempts: job.attempts,
    priority: job.priority,
    payload: splicedValue(job as unknown as Record<string, unknown>, "payload"),
  };
  if (job.reason !== undefined) out.reason = job.reason;
  if (job.origin !== undefined) out.origin = job.origin;
  if (job.history !== undefined) out.history = job.history;
  if (job.by !== undefined) out.by = job.by;
  if (job.deadline !== undefined) out.deadline = job.deadline;
  if ("progress" in job || "progressText" in job) {
    out.progress = splicedValue(job as unknown as Record<string, unknown>, "progress");
    out.progressAt = job.progressAt;
  }
  return out;
}

/** An ack or completion waiting for this turn's request. */
interface HttpSettle {
  tag: number;
  result: string | null;
  queue: string | null;
  id: string | null;
  done: { resolve(): void; reject(e: unknown): void };
}

/** The HTTP transport; make one with {@link HttpWire.open}. */
export class HttpWire implements Wire {
  readonly addr: string;
  readonly maxWaitMs = POLL_MS;
  readonly maxPrefetch = BOUNDS.maxGetJobs;
  readonly defaultPrefetch = 16;
  // One request per batch: up to 1000 jobs or 512 KiB of payload.
  readonly putBatch = { maxItems: 1000, maxBytes: 512 * 1024 };
  /** This client's id, signed with every request. */
  readonly id: string;
  readonly #base: string;
  readonly #key: CryptoKey;
  readonly #scope: string | null;
  readonly #fetch: typeof fetch;
  readonly #peer: string;
  readonly #requests = new Set<AbortController>();
  #closed = false;
  #server: HttpHello | null = null;
  /** The god's id, from its hello (and from any reply, should it restart). */
  #god = "";
  #lastRequest = 0;
  #keepAlive: ReturnType<typeof setInterval> | undefined;
  /** Jobs handed out and not yet settled; while any exist the client keeps its leases alive. */
  #leased = 0;
  readonly #ackRequests = new Set<Promise<unknown>>();
  /** Acks and completions made this turn: they travel together in one request. */
  #settles: HttpSettle[] = [];
  /** Called tasks waiting for their answer, by task id, and the long-poll that fetches answers. */
  readonly #calls = new Map<string, Deferred<unknown>>();
  readonly #progress = new Map<string, (payload: unknown) => void>();
  #answering: Promise<void> | null = null;

  private constructor(options: HttpWireOptions) {
    let base: URL;
    try {
      base = new URL(options.url);
    } catch (cause) {
      throw new ArgumentError(`Invalid HTTP address ${JSON.stringify(options.url)}: not a URL`, {
        cause,
      });
    }
    if (base.protocol !== "http:" && base.protocol !== "https:") {
      throw new ArgumentError(
        `Invalid HTTP address ${JSON.stringify(options.url)}: use http(s)://`,
      );
    }
    this.addr = options.url;
    this.#base = base.origin + base.pathname.replace(/\/+$/, "");
    this.#key = options.key;
    this.#scope = options.scope;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    const runtime = runtimeName();
    this.id = newClientId(runtime.split(" ")[0]);
    this.#peer = new URLSearchParams({ role: options.role, runtime, name: options.name })
      .toString();
  }

  /** Says hello: checks the key (an {@link AuthError} when refused) and registers this client. */
  static async open(options: HttpWireOptions): Promise<HttpWire> {
    const wire = new HttpWire(options);
    wire.#server = await wire.#request<HttpHello>("GET", "/api/hello", { retries: 2 });
    wire.#god = typeof wire.#server.god === "string" ? wire.#server.god : "";
    return wire;
  }

  /** What the god said at hello. */
  get server(): HttpHello | null {
    return this.#server;
  }

  get connected(): boolean {
    return !this.#closed;
  }

  put(queue: string, entries: PutEntry[], timeout: number | undefined): Promise<void> {
    // The superjson text is spliced in as it is, not parsed and written again.
    const items = entries.map((entry) =>
      `${JSON.stringify(itemFields(entry)).slice(0, -1)},"payload":${entry.payload}}`
    );
    let text = `{"items":[${items.join(",")}]`;
    if (timeout !== undefined) text += `,"timeout":${Number(timeout)}`;
    return this.#request("POST", `${queuePath(queue)}/put`, {
      body: encoder.encode(`${text}}`),
      retries: PUT_ATTEMPTS,
    }).then(() => {});
  }

  get(queue: string, timeoutMs: number, max: number): Promise<WireJob[]> {
    return this.#poll(queue, timeoutMs, max);
  }

  subscribe(queue: string, _prefetch: number, sink: JobSink): WireSubscription {
    const abort = new AbortController();
    const started = deferred<void>();
    started.promise.catch(() => {});
    let stopped = false;
    const pump = (async () => {
      let failures = 0;
      while (!stopped) {
        const room = sink.room();
        if (room <= 0) {
          await sink.roomChanged();
          continue;
        }
        try {
          const jobs = await this.#poll(queue, POLL_MS, room, abort.signal);
          started.resolve();
          failures = 0;
          if (stopped) {
            // Nobody will take these: hand them back.
            await Promise.allSettled(jobs.map((job) => this.nack(job.tag, null, 0)));
            break;
          }
          for (const job of jobs) {
            sink.job(job.tag, null, job.id, job.attempts, job.priority, job.payload);
          }
          if (jobs.length > 0) sink.delivered();
        } catch (error) {
          if (stopped) break;
          if (!isTransient(error) || this.#closed) {
            started.reject(error);
            sink.fail(error);
            return;
          }
          await sleep(backoffMs(++failures, { maxMs: 5000 }));
        }
      }
    })();
    return {
      ready: started.promise,
      stop: async () => {
        stopped = true;
        abort.abort();
        await pump;
      },
    };
  }

  ack(tag: number, epoch: unknown): Promise<void> {
    return this.complete(tag, epoch, null, null, null);
  }

  complete(
    tag: number,
    _epoch: unknown,
    result: string | null,
    queue: string | null,
    id: string | null,
  ): Promise<void> {
    const done = deferred<void>();
    // Acks and completions made in the same turn of the event loop (a whole batch of
    // jobs handled at once) travel in one request.
    if (this.#settles.length === 0) nextTurn(() => this.#sendSettles());
    this.#settles.push({ tag, result, queue, id, done });
    this.#settled();
    return done.promise;
  }

  awaitResult(id: string, onProgress?: (payload: unknown) => void): Promise<unknown> {
    const answer = deferred<unknown>();
    this.#calls.set(id, answer);
    if (onProgress !== undefined) this.#progress.set(id, onProgress);
    answer.promise.finally(() => this.#progress.delete(id)).catch(() => {});
    this.#answering ??= this.#pollAnswers().finally(() => this.#answering = null);
    return answer.promise;
  }

  forget(id: string): void {
    this.#progress.delete(id);
    if (this.#calls.delete(id)) {
      this.#request("POST", "/api/forget", { json: { ids: [id] } }).catch(() => {});
    }
  }

  async nack(tag: number, _epoch: unknown, delayMs: number | null): Promise<void> {
    this.#settled();
    await this.#request("POST", `/api/leases/${tag}/nack`, {
      json: delayMs === null ? {} : { delay: delayMs },
    });
  }

  async fail(tag: number, _epoch: unknown, reason: string): Promise<void> {
    this.#settled();
    await this.#request("POST", `/api/leases/${tag}/nack`, { json: { dead: reason } });
  }

  async touch(tag: number, _epoch: unknown): Promise<number> {
    const reply = await this.#request<{ deadline: number }>(
      "POST",
      `/api/leases/${tag}/touch`,
      {},
    );
    return reply.deadline;
  }

  async progress(tag: number, _epoch: unknown, value: string): Promise<void> {
    await this.#request("POST", `/api/leases/${tag}/progress`, {
      body: encoder.encode(`{"value":${value}}`),
    });
  }

  alive(_epoch: unknown): boolean {
    return true;
  }

  decode<T>(payload: unknown): T {
    if (typeof payload !== "object" || payload === null || !("json" in payload)) {
      throw new ProtocolError(
        ErrorCode.BadMessage,
        "Cannot decode job value: not a superjson object",
      );
    }
    // deno-lint-ignore no-explicit-any -- superjson's SuperJSONResult shape is checked just above
    return superjson.deserialize(payload as any) as T;
  }

  stats(queue?: string): Promise<GodStats> {
    return this.#request<GodStats>("GET", "/api/stats", {
      query: queue === undefined ? {} : { queue },
      retries: 2,
    });
  }

  async declare(queue: string, options: Partial<QueueOptions>): Promise<QueueOptions> {
    const reply = await this.#request<{ options: QueueOptions }>("PUT", queuePath(queue), {
      json: { options },
      retries: 2,
    });
    return reply.options;
  }

  async list(kind: "peek" | "dead", queue: string, limit: number | undefined): Promise<WireJob[]> {
    const reply = await this.#request<{ jobs: HttpJob[] }>(
      "GET",
      `${queuePath(queue)}/${kind}`,
      { query: limit === undefined ? {} : { limit: String(limit) }, retries: 2 },
    );
    return reply.jobs.map(wireJob);
  }

  async purge(queue: string): Promise<number> {
    const reply = await this.#request<{ purged: number }>("POST", `${queuePath(queue)}/purge`, {});
    return reply.purged;
  }

  async requeue(queue: string, ids: string[] | null): Promise<number> {
    const reply = await this.#request<{ requeued: number }>(
      "POST",
      `${queuePath(queue)}/dead/requeue`,
      { json: { ids }, retries: 2 },
    );
    return reply.requeued;
  }

  async inFlight(queue: string, limit: number | undefined): Promise<WireJob[]> {
    const reply = await this.#request<{ jobs: HttpJob[] }>(
      "GET",
      `${queuePath(queue)}/in-flight`,
      { query: limit === undefined ? {} : { limit: String(limit) }, retries: 2 },
    );
    return reply.jobs.map(wireJob);
  }

  async deadDelete(queue: string, ids: string[] | null): Promise<number> {
    const reply = await this.#request<{ deleted: number }>(
      "POST",
      `${queuePath(queue)}/dead/delete`,
      { json: { ids }, retries: 2 },
    );
    return reply.deleted;
  }

  async pause(queue: string, paused: boolean): Promise<QueueOptions> {
    const reply = await this.#request<{ options: QueueOptions }>(
      "POST",
      `${queuePath(queue)}/${paused ? "pause" : "resume"}`,
      { retries: 2 },
    );
    return reply.options;
  }

  async schedule(fields: ScheduleFields, payload: string): Promise<ScheduleInfo> {
    const { name, ...rest } = fields;
    const reply = await this.#request<{ schedule: ScheduleInfo }>(
      "PUT",
      `/api/schedules/${encodeURIComponent(name)}`,
      {
        body: encoder.encode(`${JSON.stringify(rest).slice(0, -1)},"value":${payload}}`),
        retries: 2,
      },
    );
    return reply.schedule;
  }

  async unschedule(name: string): Promise<boolean> {
    const reply = await this.#request<{ removed: boolean }>(
      "DELETE",
      `/api/schedules/${encodeURIComponent(name)}`,
      { retries: 2 },
    );
    return reply.removed;
  }

  async schedules(): Promise<{ info: ScheduleInfo; payload: unknown }[]> {
    const reply = await this.#request<{ schedules: (ScheduleInfo & Record<string, unknown>)[] }>(
      "GET",
      "/api/schedules",
      { retries: 2 },
    );
    return reply.schedules.map((s) => {
      const payload = splicedValue(s, "value");
      const info = { ...s };
      delete info.value;
      delete info.valueText;
      return { info: info as ScheduleInfo, payload };
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await Promise.allSettled([...this.#ackRequests]);
    this.#closed = true;
    for (const call of this.#calls.values()) {
      call.reject(new ConnectionLostError("The client was closed before the answer came"));
    }
    this.#calls.clear();
    clearInterval(this.#keepAlive);
    for (const controller of this.#requests) controller.abort();
    try {
      await this.#request("POST", "/api/bye", { force: true });
    } catch {
      // The god is gone already: its idle timeout returns our leases.
    }
  }

  // -- internals --

  /** One long-poll for up to `max` jobs. */
  async #poll(
    queue: string,
    timeoutMs: number,
    max: number,
    signal?: AbortSignal,
  ): Promise<WireJob[]> {
    const reply = await this.#request<{ jobs: HttpJob[] }>(
      "POST",
      `${queuePath(queue)}/get`,
      { query: { timeout: String(Math.round(timeoutMs)), max: String(max) }, signal },
    );
    this.#lease(reply.jobs.length);
    return reply.jobs.map(wireJob);
  }

  /**
   * Sends this turn's acks and completions: to /api/ack when none has a
   * result, else /api/complete, each request within the god's default limits
   * (maxAckTags, maxPutItems).
   */
  #sendSettles(): void {
    const all = this.#settles;
    this.#settles = [];
    const plain = all.every((s) => s.result === null);
    const size = plain ? DEFAULT_LIMITS.maxAckTags : DEFAULT_LIMITS.maxPutItems;
    for (let i = 0; i < all.length; i += size) this.#sendSettleBatch(all.slice(i, i + size), plain);
  }

  /** One request for a batch of acks (`plain`) or completions. */
  #sendSettleBatch(batch: HttpSettle[], plain: boolean): void {
    const request = plain
      ? this.#request<{ failed: { tag: number; message: string }[] }>("POST", "/api/ack", {
        json: { tags: batch.map((s) => s.tag) },
      })
      : this.#request<{ failed: { tag: number; message: string }[] }>("POST", "/api/complete", {
        // Results are superjson text: spliced in as they are, not parsed and written again.
        body: encoder.encode(`{"items":[${
          batch.map((s) => {
            const fields: Record<string, unknown> = { tag: s.tag };
            if (s.queue !== null) fields.q = s.queue;
            if (s.id !== null) fields.id = s.id;
            const head = JSON.stringify(fields);
            return s.result === null ? head : `${head.slice(0, -1)},"result":${s.result}}`;
          }).join(",")
        }]}`),
      });
    const sent = request.then((reply) => {
      const failed = new Map((reply.failed ?? []).map((f) => [f.tag, f.message]));
      for (const s of batch) {
        const why = failed.get(s.tag);
        if (why === undefined) s.done.resolve();
        else {
          s.done.reject(
            new RemoteError(ErrorCode.NotLeased, `Cannot ${plain ? "ack" : "complete"}: ${why}`),
          );
        }
      }
    }, (error) => {
      for (const s of batch) s.done.reject(error);
    });
    this.#ackRequests.add(sent);
    sent.finally(() => this.#ackRequests.delete(sent));
  }

  /** Long-polls for the answers to called tasks while any are awaited. */
  async #pollAnswers(): Promise<void> {
    let failures = 0;
    // Polling goes on a little after the last call ended, to collect answers that come late.
    let idleUntil = 0;
    while ((this.#calls.size > 0 || Date.now() < idleUntil) && !this.#closed) {
      if (this.#calls.size > 0) idleUntil = Date.now() + 1000;
      try {
        const reply = await this.#request<{ results: HttpAnswer[] }>("POST", "/api/results", {
          query: { timeout: String(this.#calls.size > 0 ? POLL_MS : 1000) },
        });
        failures = 0;
        for (const answer of reply.results) {
          if ("progress" in answer || "progressText" in answer) {
            const heard = this.#progress.get(answer.id);
            heard?.(splicedValue(answer as unknown as Record<string, unknown>, "progress"));
            continue;
          }
          const call = this.#calls.get(answer.id);
          if (call === undefined) {
            // An answer this client no longer waits for (its call timed out): not lost, but stored.
            if (answer.fallback !== undefined && "result" in answer) {
              const payload = JSON.stringify(answer.result);
              this.put(answer.fallback, [{
                id: `result:${answer.id}`,
                payload,
                bytes: payload.length,
              }], 0)
                .catch(() => {});
            }
            continue;
          }
          this.#calls.delete(answer.id);
          if (answer.error !== undefined) {
            call.reject(
              new RemoteError(answer.error.code as ErrorCode, answer.error.message),
            );
          } else {
            call.resolve("resultText" in answer ? { text: answer.resultText } : answer.result);
          }
        }
      } catch (error) {
        if (!isTransient(error) || this.#closed) {
          for (const call of this.#calls.values()) call.reject(error);
          this.#calls.clear();
          return;
        }
        await sleep(backoffMs(++failures, { maxMs: 5000 }));
      }
    }
  }

  /** Counts jobs handed out, and keeps their leases alive with pings while any are held. */
  #lease(count: number): void {
    this.#leased += count;
    if (this.#leased > 0 && this.#keepAlive === undefined && !this.#closed) {
      const every = Math.max(1000, Math.floor((this.#server?.idleMs ?? 60_000) / 3));
      this.#keepAlive = setInterval(() => {
        if (Date.now() - this.#lastRequest < every) return;
        this.#request("POST", "/api/ping", {}).catch(() => {});
      }, every);
    } else if (this.#leased <= 0 && this.#keepAlive !== undefined) {
      clearInterval(this.#keepAlive);
      this.#keepAlive = undefined;
    }
  }

  #settled(): void {
    this.#lease(-1);
  }

  /**
   * Sends a signed request and decodes the JSON reply. Network failures are
   * retried `retries` times (only for requests safe to repeat).
   */
  async #request<R = Record<string, unknown>>(
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
    const url = new URL(this.#base + path);
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
    const retries = options.retries ?? 0;
    let godChanged = false;
    for (let attempt = 0;; attempt++) {
      if (this.#closed && !options.force) {
        throw new ConnectionLostError(`Cannot ${method} ${path}: the HTTP client is closed`);
      }
      // Signed afresh each attempt: a fresh nonce (the god serves each once), for this god.
      const headers = await signRequest(this.#key, {
        method,
        url,
        clientId: this.id,
        peer: this.#peer,
        body,
        scope: this.#scope,
        god: this.#god,
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
          await sleep(backoffMs(attempt + 1, { maxMs: 2000 }));
          continue;
        }
        throw new ConnectionLostError(
          `Cannot ${method} ${url.origin}${path}: ${(cause as Error).message ?? cause}${
            crossOriginHint(url)
          }`,
          { cause },
        );
      } finally {
        options.signal?.removeEventListener("abort", onAbort);
        this.#requests.delete(controller);
      }
      const text = await response.text();
      // Signed for a god that is not there any more (it restarted): sign for the one that is, once.
      const god = response.headers.get(SignHeader.God);
      if (response.status === 401 && god !== null && god !== this.#god && !godChanged) {
        this.#god = god;
        godChanged = true;
        attempt--;
        continue;
      }
      let parsed: Record<string, unknown> = {};
      try {
        parsed = text === "" ? {} : JSON.parse(text);
      } catch {
        if (response.ok) {
          throw new ProtocolError(
            ErrorCode.BadMessage,
            `Cannot ${method} ${path}: the reply is not JSON (status ${response.status}); is this the god's HTTP face?`,
          );
        }
      }
      if (response.ok) return parsed as R;
      const error = (parsed.error ?? {}) as { code?: string; message?: string };
      const message = `${method} ${path} failed with HTTP ${response.status}: ${
        error.message ?? (text.slice(0, 200) || response.statusText)
      }`;
      if (response.status === 403 && error.code === ErrorCode.Forbidden) {
        throw new RemoteError(ErrorCode.Forbidden, message);
      }
      if (response.status === 401 || response.status === 403) {
        throw new AuthError(ErrorCode.AuthFailed, message);
      }
      const code = (Object.values(ErrorCode) as string[]).includes(error.code ?? "")
        ? error.code as ErrorCode
        : response.status >= 500
        ? ErrorCode.Unavailable
        : ErrorCode.BadMessage;
      if ((response.status === 502 || response.status === 504) && attempt < retries) {
        await sleep(backoffMs(attempt + 1, { maxMs: 2000 }));
        continue;
      }
      throw new RemoteError(code, message);
    }
  }
}
