/**
 * The god's HTTP face as a Hono app, Web standards only: a signed JSON API
 * with the TCP protocol's operations, `/healthz`, `/metrics`, and the live
 * dashboard with its server-sent event stream. `lib/http/serve.ts` puts it on
 * a socket; tests call `app.request()`.
 *
 * Each HTTP client names itself with a client id (signed with every request).
 * The jobs it leases belong to it; a client silent for `idleMs` is forgotten
 * and its jobs go back to their queues. A long-poll whose request goes away
 * (client disconnect, abort) is ended at once: no waiter is left behind.
 *
 * Routes (signed = HMAC headers from `sign.ts`; viewer = the read-only token
 * as `Authorization: Bearer …` or `?token=…`; bodies and replies are JSON,
 * job values are superjson objects, byte for byte what the TCP protocol carries):
 *
 * | route                                   | access  | body / query → reply                            |
 * | --------------------------------------- | ------- | ----------------------------------------------- |
 * | GET  /                                  | open    | the dashboard page (its data needs the token)   |
 * | GET  /healthz                           | open    | `{ok, live, ready, name, runtime, uptimeMs, store}` |
 * | GET  /metrics                           | viewer  | Prometheus text (open with `openMetrics`)        |
 * | GET  /api/events                        | viewer  | SSE: `history` once, then `stats` every second   |
 * | GET  /api/stats?queue=                  | viewer  | god stats, HTTP clients among the connections    |
 * | GET  /api/hello                         | signed  | `{name, runtime, protocol, idleMs, maxBodyBytes}` |
 * | POST /api/ping, /api/bye                | signed  | keep alive / forget me (my jobs go back)         |
 * | PUT  /api/queues/:q                     | signed  | `{options}` → `{options}` (declare)              |
 * | POST /api/queues/:q/put                 | signed  | `{items:[{id?, payload, priority?, delay?}], timeout?}` → `{accepted, duplicates, ids}` |
 * | POST /api/queues/:q/get?timeout=&max=   | signed  | long-poll → `{jobs:[{tag, id, attempts, priority, payload}]}` |
 * | GET  /api/queues/:q/peek?limit=         | signed  | `{jobs}`                                         |
 * | GET  /api/queues/:q/dead?limit=         | signed  | `{jobs}` with `reason`, `origin`                 |
 * | POST /api/queues/:q/dead/requeue        | signed  | `{ids?}` → `{requeued}`                          |
 * | POST /api/queues/:q/purge               | signed  | `{purged}`                                       |
 * | POST /api/ack                           | signed  | `{tags}` → `{failed:[{tag, message}]}`           |
 * | POST /api/leases/:tag/nack              | signed  | `{delay?}` or `{dead: reason}` → `{}`            |
 * | POST /api/leases/:tag/touch             | signed  | `{deadline}`                                     |
 *
 * Errors are `{error: {code, message, status}}`: 401 bad/missing/stale
 * signature or bad token, 403 viewer token on a write, 400 malformed JSON or
 * superjson or arguments, 404 unknown queue or route, 405 wrong method (with
 * `Allow`), 409 lease not held, 413 body over `maxBodyBytes`, 503 queue still
 * full or shutting down.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { Owner } from "../queue/backend.ts";
import type { Delivery, Job, PutItem } from "../queue/types.ts";
import { checkDuration, putItem } from "../queue/arguments.ts";
import { decodeValue } from "../protocol/codec.ts";
import { ErrorCode, RemoteError, TaskwireError } from "../protocol/errors.ts";
import type { ConnectionInfo, God, GodStats } from "../server/server.ts";
import { deferred } from "../util/deferred.ts";
import {
  checkSignedHeaders,
  DEFAULT_SKEW_MS,
  SignHeader,
  verifyRequest,
  verifyViewerToken,
  viewerToken,
} from "./sign.ts";
import { renderMetrics } from "./metrics.ts";
import { DASHBOARD_HTML } from "./dashboard.ts";

/** Options of {@link createHttpApp}. */
export interface HttpAppOptions {
  /** The shared key, imported for HMAC (see `importAuthKey`). */
  key: CryptoKey;
  /** Largest request body (default 16 MiB). */
  maxBodyBytes?: number;
  /** How far a signed request's timestamp may be from the god's clock (default 60 s). */
  skewMs?: number;
  /** An HTTP client silent this long loses its leases (default 60 s). */
  idleMs?: number;
  /** Serve `/metrics` without any token (default false: viewer token or signature). */
  openMetrics?: boolean;
  /** Receives one object per notable event. */
  log?: (event: Record<string, unknown>) => void;
}

/** Longest long-poll one request may ask for. */
export const MAX_POLL_MS = 120_000;
/** Most jobs one get may take. */
const MAX_GET_JOBS = 1000;
/** Most HTTP clients remembered at once. */
const MAX_PEERS = 10_000;
/** Samples kept for the dashboard chart: one every 2 s for 10 minutes. */
const HISTORY_EVERY_MS = 2000;
const HISTORY_LENGTH = 300;

/** One HTTP client as the god remembers it. */
interface HttpPeer {
  id: string;
  role: string;
  runtime: string;
  name: string;
  remote: string;
  connectedAt: number;
  lastSeen: number;
  /** Requests of this client being handled right now (a long-poll keeps it alive). */
  active: number;
  /** Every get runs under its own owner, so an abandoned long-poll can be ended alone. */
  owners: Set<Owner>;
  /** Which owner holds each lease this client took. */
  tags: Map<number, Owner>;
  /** Owners whose get or put is waiting right now. */
  waiting: Set<Owner>;
}

/** One point of the dashboard's chart. */
export interface HistorySample {
  t: number;
  queues: Record<string, { put: number; acked: number; ready: number; inFlight: number }>;
}

/** The app and what its owner needs to run and stop it. */
export interface HttpApp {
  readonly app: Hono<{ Bindings: HttpBindings }>;
  /** Handles a request (what the server adapter calls). */
  fetch(request: Request, bindings?: HttpBindings): Response | Promise<Response>;
  /** The dashboard's read-only token. */
  readonly viewerToken: string;
  /** HTTP clients as connections, for stats. */
  connections(): ConnectionInfo[];
  /** Ends long-polls and event streams, forgets every client (their jobs go back), stops timers. */
  close(): void;
}

/** Per-request facts the server adapter knows. */
export interface HttpBindings {
  /** The peer's address, "host:port". */
  remote?: string;
}

const STATUS: Record<string, number> = {
  [ErrorCode.UnknownQueue]: 404,
  [ErrorCode.BadArgument]: 400,
  [ErrorCode.BadMessage]: 400,
  [ErrorCode.BadFrame]: 400,
  [ErrorCode.NotLeased]: 409,
  [ErrorCode.QueueFull]: 503,
  [ErrorCode.Limit]: 429,
  [ErrorCode.FrameTooLarge]: 413,
  [ErrorCode.AuthFailed]: 401,
  [ErrorCode.ShuttingDown]: 503,
  [ErrorCode.Unavailable]: 503,
  [ErrorCode.Internal]: 500,
};

/** An error answered with a given HTTP status. */
class HttpError extends TaskwireError {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(
    status: number,
    code: ErrorCode,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(code, message);
    this.status = status;
    this.headers = headers;
  }
}

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" } as const;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function errorResponse(error: unknown): Response {
  const e = error instanceof TaskwireError
    ? error
    : new TaskwireError(ErrorCode.Internal, `internal error: ${String(error)}`);
  const status = e instanceof HttpError ? e.status : STATUS[e.code] ?? 500;
  return new Response(
    JSON.stringify({ error: { code: e.code, message: e.message, status } }),
    {
      status,
      headers: { ...JSON_HEADERS, ...(e instanceof HttpError ? e.headers : {}) },
    },
  );
}

function shuttingDown(): HttpError {
  return new HttpError(
    503,
    ErrorCode.ShuttingDown,
    "The god's HTTP face is shutting down; try again when it is back",
  );
}

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), { status, headers: JSON_HEADERS });
}

/** A job as a JSON object with its stored superjson payload spliced in unchanged. */
function jobJson(job: Job, tag?: number): string {
  const meta: Record<string, unknown> = {
    id: job.id,
    attempts: job.attempts,
    priority: job.priority,
  };
  if (tag !== undefined) meta.tag = tag;
  if (job.reason !== undefined) meta.reason = job.reason;
  if (job.origin !== undefined) meta.origin = job.origin;
  const head = JSON.stringify(meta);
  return `${head.slice(0, -1)},"payload":${job.payload}}`;
}

function jobsResponse(jobs: string[]): Response {
  return new Response(`{"jobs":[${jobs.join(",")}]}`, { headers: JSON_HEADERS });
}

/** Reads a body up to `limit` bytes; throws a 413 HttpError beyond. */
async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const tooLarge = (size: string) =>
    new HttpError(
      413,
      ErrorCode.Limit,
      `Request body too large: ${size} exceeds the limit of ${limit} bytes`,
    );
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) throw tooLarge(`${declared} bytes`);
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      reader.cancel().catch(() => {});
      throw tooLarge(`more than ${limit} bytes`);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

function parseJson(body: Uint8Array): Record<string, unknown> {
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(body));
  } catch {
    throw new HttpError(400, ErrorCode.BadMessage, "Malformed request body: not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(
      400,
      ErrorCode.BadMessage,
      "Malformed request body: expected a JSON object",
    );
  }
  return parsed as Record<string, unknown>;
}

function intParam(
  value: string | undefined,
  what: string,
  fallback: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n > max) {
    throw new HttpError(
      400,
      ErrorCode.BadArgument,
      `Invalid ${what}: ${
        JSON.stringify(value.slice(0, 40))
      } (expected an integer from 0 to ${max})`,
    );
  }
  return n;
}

function tagParam(value: string): number {
  const n = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new HttpError(400, ErrorCode.BadArgument, `Invalid lease tag: ${JSON.stringify(value)}`);
  }
  return n;
}

/** Who made a request. */
type Caller = { kind: "open" } | { kind: "viewer" } | { kind: "client"; peer: HttpPeer };

/** What a route needs to have. */
type Access = "open" | "viewer" | "signed";

interface Call {
  c: Context<{ Bindings: HttpBindings }>;
  request: Request;
  url: URL;
  body: Uint8Array;
  caller: Caller;
  /** The calling client; only for "signed" routes. */
  peer: HttpPeer;
  signature: string;
}

interface Route {
  access: Access;
  /** What the route does, for the 403 a viewer gets. */
  action: string;
  handle(call: Call): Response | Promise<Response>;
}

/**
 * Builds the god's HTTP face.
 *
 * @example
 * ```ts
 * const face = await createHttpApp(god, { key: await importAuthKey("secret") });
 * const res = await face.app.request("/healthz");
 * console.log(await res.json()); // { ok: true, ... }
 * face.close();
 * ```
 */
export async function createHttpApp(god: God, options: HttpAppOptions): Promise<HttpApp> {
  const { key } = options;
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const skewMs = options.skewMs ?? DEFAULT_SKEW_MS;
  const idleMs = options.idleMs ?? 60_000;
  const log = options.log ?? (() => {});
  const broker = god.broker;
  const token = await viewerToken(key);
  const peers = new Map<string, HttpPeer>();
  /** Aborts every long-poll and event stream at close. */
  const closing = new AbortController();
  const history: HistorySample[] = [];

  const sample = () => {
    const now = Date.now();
    const queues: HistorySample["queues"] = {};
    for (const q of broker.stats(now)) {
      queues[q.name] = {
        put: q.totals.put,
        acked: q.totals.acked,
        ready: q.ready,
        inFlight: q.inFlight,
      };
    }
    history.push({ t: now, queues });
    if (history.length > HISTORY_LENGTH) history.shift();
  };
  sample();
  const sampler = setInterval(sample, HISTORY_EVERY_MS);
  const reaper = setInterval(
    () => expire(Date.now()),
    Math.max(250, Math.min(15_000, Math.floor(idleMs / 4))),
  );

  function forget(peer: HttpPeer, why: string): void {
    peers.delete(peer.id);
    const now = Date.now();
    for (const owner of peer.owners) broker.release(owner, now);
    peer.owners.clear();
    peer.tags.clear();
    god.schedule();
    log({
      event: "disconnected",
      via: "http",
      client: peer.id,
      role: peer.role,
      name: peer.name,
      runtime: peer.runtime,
      reason: why,
    });
  }

  function expire(now: number): void {
    for (const peer of peers.values()) {
      if (peer.active === 0 && now - peer.lastSeen > idleMs) {
        forget(peer, `silent for more than ${idleMs} ms`);
      }
    }
  }

  function peerFor(clientId: string, peerText: string, remote: string, now: number): HttpPeer {
    let peer = peers.get(clientId);
    if (peer === undefined) {
      if (peers.size >= MAX_PEERS) {
        expire(now);
        if (peers.size >= MAX_PEERS) {
          throw new HttpError(
            429,
            ErrorCode.Limit,
            `Too many HTTP clients (limit ${MAX_PEERS}); try again later`,
          );
        }
      }
      const info = new URLSearchParams(peerText.slice(0, 600));
      peer = {
        id: clientId,
        role: (info.get("role") ?? "client").slice(0, 40),
        runtime: (info.get("runtime") ?? "unknown").slice(0, 60),
        name: (info.get("name") ?? clientId).slice(0, 100),
        remote,
        connectedAt: now,
        lastSeen: now,
        active: 0,
        owners: new Set(),
        tags: new Map(),
        waiting: new Set(),
      };
      peers.set(clientId, peer);
      log({
        event: "connected",
        via: "http",
        client: clientId,
        role: peer.role,
        name: peer.name,
        runtime: peer.runtime,
        remote,
      });
    }
    peer.lastSeen = now;
    return peer;
  }

  /** Drops owners that hold nothing any more, and tags whose lease ended. */
  function tidy(peer: HttpPeer): void {
    for (const [tag, owner] of peer.tags) if (!owner.leases.has(tag)) peer.tags.delete(tag);
    for (const owner of peer.owners) {
      if (owner.leases.size === 0 && !peer.waiting.has(owner)) {
        peer.owners.delete(owner);
      }
    }
  }

  function ownerOf(peer: HttpPeer, tag: number): Owner {
    const owner = peer.tags.get(tag);
    if (owner === undefined || !owner.leases.has(tag)) {
      peer.tags.delete(tag);
      throw new RemoteError(
        ErrorCode.NotLeased,
        `No lease ${tag} for this client: it was already acked or nacked, it expired and the job went back to the queue, or another client holds it`,
      );
    }
    return owner;
  }

  function connections(): ConnectionInfo[] {
    return [...peers.values()].map((peer) => {
      let leases = 0;
      for (const owner of peer.owners) leases += owner.leases.size;
      return {
        remote: peer.remote,
        role: peer.role,
        runtime: peer.runtime,
        name: peer.name,
        connectedAt: new Date(peer.connectedAt).toISOString(),
        leases,
        transport: "http",
      } as ConnectionInfo;
    });
  }

  function allStats(queue?: string): GodStats {
    const stats = god.stats(queue);
    return {
      ...stats,
      connections: [
        ...stats.connections.map((c) => ({ ...c, transport: "tcp" }) as ConnectionInfo),
        ...connections(),
      ],
    };
  }

  /** Waits for a broker callback, ending the wait when the request goes away. */
  function waitFor<T>(
    signal: AbortSignal,
    start: (done: (value: T) => void) => void,
    abandon: () => void,
  ): Promise<T | "aborted"> {
    const result = deferred<T | "aborted">();
    let settled = false;
    const onAbort = () => {
      if (settled) return;
      settled = true;
      abandon();
      result.resolve("aborted");
    };
    const signals = [signal, closing.signal];
    for (const s of signals) s.addEventListener("abort", onAbort);
    try {
      start((value) => {
        if (settled) return;
        settled = true;
        result.resolve(value);
      });
    } catch (error) {
      settled = true;
      result.reject(error);
    }
    if (signal.aborted || closing.signal.aborted) onAbort();
    return result.promise.finally(() => {
      for (const s of signals) s.removeEventListener("abort", onAbort);
    });
  }

  function afterCommit(): Promise<void> {
    return new Promise((resolve) => god.afterCommit(resolve));
  }

  // ---- routes ----

  const put: Route = {
    access: "signed",
    action: "put jobs",
    async handle({ c, body, peer, request, signature }) {
      const queue = c.req.param("queue")!;
      const parsed = parseJson(body);
      if (!Array.isArray(parsed.items)) {
        throw new HttpError(400, ErrorCode.BadMessage, 'Malformed put: "items" must be an array');
      }
      const timeoutMs = parsed.timeout === undefined
        ? 30_000
        : checkDuration(parsed.timeout, "timeout");
      const ids: string[] = [];
      const items: PutItem[] = parsed.items.map((raw: unknown, i: number) => {
        if (typeof raw !== "object" || raw === null) {
          throw new HttpError(
            400,
            ErrorCode.BadMessage,
            `Malformed put: item ${i} is not an object`,
          );
        }
        const o = raw as Record<string, unknown>;
        if (!("payload" in o)) {
          throw new HttpError(
            400,
            ErrorCode.BadMessage,
            `Malformed put: item ${i} has no "payload"`,
          );
        }
        const payload = JSON.stringify(o.payload);
        try {
          decodeValue(encoder.encode(payload));
        } catch (error) {
          throw new HttpError(
            400,
            ErrorCode.BadMessage,
            `Malformed put: item ${i} payload is not valid superjson (${(error as Error).message})`,
          );
        }
        // A put without ids gets ids made from its signature, so a replay still dedupes.
        const item = putItem(o, payload, () => `http-${signature.slice(0, 22)}-${i}`);
        ids.push(item.id);
        return item;
      });
      const owner = new Owner();
      peer.owners.add(owner);
      peer.waiting.add(owner);
      const result = await waitFor<unknown>(
        request.signal,
        (done) => {
          broker.put(owner, queue, items, { now: Date.now(), timeoutMs }, done);
          god.schedule();
        },
        () => broker.release(owner, Date.now()),
      ).finally(() => peer.waiting.delete(owner));
      peer.owners.delete(owner);
      if (closing.signal.aborted) throw shuttingDown();
      if (result === "aborted") return new Response(null, { status: 499 });
      if (result instanceof TaskwireError) throw result;
      await afterCommit();
      return json({ ...(result as object), ids });
    },
  };

  const get: Route = {
    access: "signed",
    action: "take jobs",
    async handle({ c, peer, request }) {
      const queue = c.req.param("queue")!;
      const timeoutMs = intParam(c.req.query("timeout"), "timeout", 0, MAX_POLL_MS);
      const max = Math.max(1, intParam(c.req.query("max"), "max", 1, MAX_GET_JOBS));
      const owner = new Owner();
      peer.owners.add(owner);
      peer.waiting.add(owner);
      const first = await waitFor<Delivery | null | TaskwireError>(
        request.signal,
        (done) => {
          broker.get(owner, queue, { now: Date.now(), timeoutMs }, done);
          god.schedule();
        },
        () => broker.release(owner, Date.now()),
      ).catch((error) => {
        peer.owners.delete(owner); // refused (unknown queue, bad timeout): it holds nothing
        throw error;
      }).finally(() => peer.waiting.delete(owner));
      if (first instanceof TaskwireError) {
        peer.owners.delete(owner);
        throw first;
      }
      const deliveries: Delivery[] = [];
      if (first !== "aborted" && first !== null) {
        deliveries.push(first);
        while (deliveries.length < max) {
          // The embedded broker answers at once; a remote backend (JetStream) a little later.
          const next = await new Promise<Delivery | null | TaskwireError>((resolve) =>
            broker.get(owner, queue, { now: Date.now(), timeoutMs: 0 }, resolve)
          );
          if (next === null || next instanceof TaskwireError) break;
          deliveries.push(next);
        }
      }
      if (first === "aborted" || request.signal.aborted || closing.signal.aborted) {
        // Nobody will read the reply: jobs taken go straight back.
        broker.release(owner, Date.now());
        peer.owners.delete(owner);
        god.schedule();
        if (closing.signal.aborted) throw shuttingDown();
        return new Response(null, { status: 499 });
      }
      for (const d of deliveries) peer.tags.set(d.tag, owner);
      if (deliveries.length === 0) peer.owners.delete(owner);
      god.schedule();
      return jobsResponse(deliveries.map((d) => jobJson(d.job, d.tag)));
    },
  };

  const ack: Route = {
    access: "signed",
    action: "ack jobs",
    async handle({ body, peer }) {
      const parsed = parseJson(body);
      const tags = parsed.tags;
      if (!Array.isArray(tags) || tags.length > 100_000 || !tags.every(Number.isSafeInteger)) {
        throw new RemoteError(
          ErrorCode.BadArgument,
          'Invalid ack: "tags" must be an array of integers',
        );
      }
      const failed: { tag: number; message: string }[] = [];
      const byOwner = new Map<Owner, number[]>();
      for (const tag of tags as number[]) {
        try {
          const owner = ownerOf(peer, tag);
          let list = byOwner.get(owner);
          if (!list) byOwner.set(owner, list = []);
          list.push(tag);
        } catch (error) {
          failed.push({ tag, message: (error as Error).message });
        }
      }
      const now = Date.now();
      for (const [owner, list] of byOwner) failed.push(...await broker.ack(owner, list, now));
      tidy(peer);
      god.schedule();
      await afterCommit();
      return json({ failed });
    },
  };

  const nack: Route = {
    access: "signed",
    action: "nack a job",
    async handle({ c, body, peer }) {
      const tag = tagParam(c.req.param("tag")!);
      const parsed = parseJson(body);
      const owner = ownerOf(peer, tag);
      await broker.nack(owner, tag, {
        now: Date.now(),
        delayMs: parsed.delay === undefined ? 0 : checkDuration(parsed.delay, "delay"),
        dead: parsed.dead === undefined ? undefined : String(parsed.dead),
      });
      tidy(peer);
      god.schedule();
      await afterCommit();
      return json({});
    },
  };

  const touch: Route = {
    access: "signed",
    action: "touch a job",
    async handle({ c, peer }) {
      const tag = tagParam(c.req.param("tag")!);
      const deadline = await broker.touch(ownerOf(peer, tag), tag, Date.now());
      god.schedule();
      return json({ deadline });
    },
  };

  const listing = (kind: "peek" | "dead"): Route => ({
    access: "signed",
    action: kind === "peek" ? "peek at jobs" : "list dead letters",
    async handle({ c }) {
      const queue = c.req.param("queue")!;
      const limit = intParam(c.req.query("limit"), "limit", kind === "peek" ? 10 : 100, 10_000);
      const jobs =
        await (kind === "peek" ? broker.peek(queue, limit) : broker.deadList(queue, limit));
      return jobsResponse(jobs.map((job) => jobJson(job)));
    },
  });

  const purge: Route = {
    access: "signed",
    action: "purge a queue",
    async handle({ c }) {
      const purged = await broker.purge(c.req.param("queue")!, Date.now());
      await afterCommit();
      return json({ purged });
    },
  };

  const requeue: Route = {
    access: "signed",
    action: "requeue dead letters",
    async handle({ c, body }) {
      const parsed = parseJson(body);
      const ids = parsed.ids === undefined || parsed.ids === null ? null : parsed.ids;
      if (ids !== null && (!Array.isArray(ids) || !ids.every((id) => typeof id === "string"))) {
        throw new RemoteError(ErrorCode.BadArgument, 'Invalid requeue: "ids" must be strings');
      }
      const requeued = await broker.deadRequeue(
        c.req.param("queue")!,
        ids as string[] | null,
        Date.now(),
      );
      god.schedule();
      await afterCommit();
      return json({ requeued });
    },
  };

  const declare: Route = {
    access: "signed",
    action: "declare a queue",
    async handle({ c, body }) {
      const parsed = parseJson(body);
      const queueOptions = parsed.options ?? {};
      if (
        typeof queueOptions !== "object" || queueOptions === null || Array.isArray(queueOptions)
      ) {
        throw new RemoteError(
          ErrorCode.BadArgument,
          'Invalid declare: "options" must be an object',
        );
      }
      const declared = await broker.declare(
        c.req.param("queue")!,
        queueOptions as Record<string, never>,
      );
      await afterCommit();
      return json({ options: declared });
    },
  };

  const stats: Route = {
    access: "viewer",
    action: "read stats",
    async handle({ c }) {
      const queue = c.req.query("queue");
      const name = queue === undefined || queue === "" ? undefined : queue;
      // A remote backend's stats are a snapshot: bring it up to date first.
      await broker.refresh?.(name);
      return json(allStats(name));
    },
  };

  const events: Route = {
    access: "viewer",
    action: "watch stats",
    handle({ request }) {
      let timer: ReturnType<typeof setInterval> | undefined;
      let stop = () => {};
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          const send = () => {
            try {
              const payload = { stats: allStats(), now: Date.now() };
              controller.enqueue(
                encoder.encode(`event: stats\ndata: ${JSON.stringify(payload)}\n\n`),
              );
            } catch {
              stop();
            }
          };
          stop = () => {
            clearInterval(timer);
            request.signal.removeEventListener("abort", stop);
            closing.signal.removeEventListener("abort", stop);
            try {
              controller.close();
            } catch {
              // already closed or cancelled
            }
          };
          controller.enqueue(
            encoder.encode(
              `retry: 2000\nevent: history\ndata: ${
                JSON.stringify({ every: HISTORY_EVERY_MS, samples: history })
              }\n\n`,
            ),
          );
          send();
          timer = setInterval(send, 1000);
          request.signal.addEventListener("abort", stop);
          closing.signal.addEventListener("abort", stop);
          if (request.signal.aborted || closing.signal.aborted) stop();
        },
        cancel() {
          stop();
        },
      });
      return new Response(stream, {
        headers: {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-store",
          "x-accel-buffering": "no",
        },
      });
    },
  };

  const app = new Hono<{ Bindings: HttpBindings }>();

  async function authenticate(
    c: Context<{ Bindings: HttpBindings }>,
    route: Route,
    url: URL,
  ): Promise<{ caller: Caller; body: Uint8Array; signature: string }> {
    const request = c.req.raw;
    const now = Date.now();
    if (route.access === "open") {
      return { caller: { kind: "open" }, body: new Uint8Array(0), signature: "" };
    }
    const authorization = request.headers.get("authorization");
    const bearer = authorization?.match(/^Bearer\s+(\S+)$/i)?.[1];
    const viewer = bearer ?? url.searchParams.get("token") ?? undefined;
    const signed = request.headers.has(SignHeader.Signature);
    if (viewer !== undefined && !signed) {
      if (!(await verifyViewerToken(key, viewer))) {
        throw new HttpError(
          401,
          ErrorCode.AuthFailed,
          "Bad viewer token: use the token the god printed at start",
        );
      }
      if (route.access !== "viewer") {
        throw new HttpError(
          403,
          ErrorCode.AuthFailed,
          `The viewer token is read-only: it cannot ${route.action}; sign the request with the key instead`,
        );
      }
      return { caller: { kind: "viewer" }, body: new Uint8Array(0), signature: "" };
    }
    const early = checkSignedHeaders(request.headers, now, skewMs);
    if (!early.ok) {
      throw new HttpError(401, ErrorCode.AuthFailed, early.reason, {
        "www-authenticate": 'Bearer realm="taskwire"',
      });
    }
    const body = await readBody(request, maxBodyBytes);
    const verdict = await verifyRequest(
      key,
      { method: request.method, url, headers: request.headers, body },
      Date.now(),
      skewMs,
    );
    if (!verdict.ok) {
      throw new HttpError(401, ErrorCode.AuthFailed, verdict.reason, {
        "www-authenticate": 'Bearer realm="taskwire"',
      });
    }
    const remote = c.env?.remote ?? "http";
    const peer = peerFor(verdict.clientId, verdict.peer, remote, Date.now());
    return {
      caller: { kind: "client", peer },
      body,
      signature: request.headers.get(SignHeader.Signature)!,
    };
  }

  function route(path: string, methods: Record<string, Route>): void {
    const allow = Object.keys(methods).join(", ");
    app.all(path, async (c) => {
      const method = c.req.method === "HEAD" && methods.GET ? "GET" : c.req.method;
      const r = methods[method];
      if (r === undefined) {
        return errorResponse(
          new HttpError(
            405,
            ErrorCode.BadMessage,
            `Method ${c.req.method} is not allowed on ${path}; use ${allow}`,
            { allow },
          ),
        );
      }
      const request = c.req.raw;
      const url = new URL(request.url);
      let peer: HttpPeer | null = null;
      try {
        const { caller, body, signature } = await authenticate(c, r, url);
        if (caller.kind === "client") {
          peer = caller.peer;
          peer.active++;
        }
        return await r.handle({ c, request, url, body, caller, peer: peer!, signature });
      } catch (error) {
        if (error instanceof TaskwireError && error.code === ErrorCode.Internal) {
          log({ event: "error", via: "http", path: url.pathname, error: error.message });
        } else if (!(error instanceof TaskwireError)) {
          log({ event: "error", via: "http", path: url.pathname, error: String(error) });
        }
        return errorResponse(error);
      } finally {
        if (peer !== null) {
          peer.active--;
          peer.lastSeen = Date.now();
        }
      }
    });
  }

  const open = (handle: Route["handle"]): Route => ({ access: "open", action: "read", handle });
  const signedJson = (action: string, handle: Route["handle"]): Route => ({
    access: "signed",
    action,
    handle,
  });

  route("/", {
    GET: open(() =>
      new Response(DASHBOARD_HTML, {
        headers: {
          "content-type": "text/html; charset=utf-8",
          "cache-control": "no-store",
          "content-security-policy":
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
          "referrer-policy": "no-referrer",
        },
      })
    ),
  });
  route("/healthz", {
    GET: open(() => {
      const stats = god.stats();
      const ok = !closing.signal.aborted;
      return json({
        ok,
        live: true,
        ready: ok,
        name: stats.server.name,
        runtime: stats.server.runtime,
        uptimeMs: stats.server.uptimeMs,
        store: stats.server.store,
      }, ok ? 200 : 503);
    }),
  });
  route("/metrics", {
    GET: {
      access: options.openMetrics ? "open" : "viewer",
      action: "read metrics",
      handle: () =>
        new Response(renderMetrics(allStats()), {
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
        }),
    },
  });
  route("/api/hello", {
    GET: signedJson("say hello", () => {
      const stats = god.stats();
      return json({
        name: stats.server.name,
        runtime: stats.server.runtime,
        protocol: "taskwire-http-1",
        idleMs,
        maxBodyBytes,
      });
    }),
  });
  route("/api/ping", { POST: signedJson("ping", () => json({})) });
  route("/api/bye", {
    POST: signedJson("say goodbye", ({ peer }) => {
      forget(peer, "said goodbye");
      return json({});
    }),
  });
  route("/api/stats", { GET: stats });
  route("/api/events", { GET: events });
  route("/api/queues/:queue", { PUT: declare });
  route("/api/queues/:queue/put", { POST: put });
  route("/api/queues/:queue/get", { POST: get });
  route("/api/queues/:queue/peek", { GET: listing("peek") });
  route("/api/queues/:queue/dead", { GET: listing("dead") });
  route("/api/queues/:queue/dead/requeue", { POST: requeue });
  route("/api/queues/:queue/purge", { POST: purge });
  route("/api/ack", { POST: ack });
  route("/api/leases/:tag/nack", { POST: nack });
  route("/api/leases/:tag/touch", { POST: touch });
  app.notFound((c) =>
    errorResponse(
      new HttpError(
        404,
        ErrorCode.BadMessage,
        `No such endpoint: ${c.req.method} ${new URL(c.req.url).pathname}`,
      ),
    )
  );
  app.onError((error) => errorResponse(error));

  return {
    app,
    fetch: (request, bindings) => app.fetch(request, bindings ?? {}),
    viewerToken: token,
    connections,
    close() {
      if (closing.signal.aborted) return;
      closing.abort();
      clearInterval(sampler);
      clearInterval(reaper);
      for (const peer of [...peers.values()]) forget(peer, "the HTTP face is closing");
    },
  };
}
