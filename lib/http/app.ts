/**
 * The god's HTTP face as a Hono app, Web standards only: a signed JSON API
 * that translates onto the same operations as the TCP door (lib/http/api.ts),
 * `/healthz`, `/metrics` and the live dashboard (lib/http/pages.ts).
 * `lib/http/serve.ts` puts it on a socket; tests call `app.request()`. The
 * routes, their access and their errors are listed in docs/HTTP.md.
 *
 * Each HTTP client names itself with a client id (signed with every request);
 * the jobs it leases belong to it (lib/http/peers.ts). A long-poll whose
 * request goes away (client disconnect, abort) is ended at once: no waiter is
 * left behind.
 */
import { Hono } from "hono";
import { cors } from "hono/cors";
import { ErrorCode } from "../protocol/errors.ts";
import { checkCorsOrigins } from "./cors.ts";
import { runtimeName } from "../util/runtime.ts";
import type { God } from "../server/server.ts";
import { apiApp } from "./api.ts";
import type { HttpBindings, HttpEnv } from "./endpoint.ts";
import { errorResponse, HttpError } from "./errors.ts";
import { EventStreams, History } from "./events.ts";
import { ByteBudget } from "./budget.ts";
import { ReplayGuard } from "./replay.ts";
import { toBase64url } from "../util/base64.ts";
import type { Face } from "./face.ts";
import { pagesApp } from "./pages.ts";
import { Peers } from "./peers.ts";
import { DEFAULT_SKEW_MS, SignHeader, viewerToken } from "./sign.ts";

export type { HttpBindings };

/** Options of {@link createHttpApp}. */
export interface HttpAppOptions {
  /** Largest request body (default 16 MiB). */
  maxBodyBytes?: number;
  /** How far a signed request's timestamp may be from the god's clock (default 30 s). */
  skewMs?: number;
  /** An HTTP client silent this long loses its leases (default 60 s). */
  idleMs?: number;
  /** Serve `/metrics` without any token (default false: viewer token or signature). */
  openMetrics?: boolean;
  /**
   * Web pages on these origins ("https://app.example", or "*" for any) may
   * call the API from a browser: preflights are answered and responses carry
   * CORS headers. Default none: no CORS headers at all.
   */
  cors?: readonly string[];
  /** Receives one object per notable event. */
  log?: (event: Record<string, unknown>) => void;
}

/** The app and what its owner needs to run and stop it. */
export interface HttpApp {
  readonly app: Hono<HttpEnv>;
  /** Handles a request (what the server adapter calls). */
  fetch(request: Request, bindings?: HttpBindings): Response | Promise<Response>;
  /** The dashboard's read-only token. */
  readonly viewerToken: string;
  /** This face's god id: signed requests name it (learnt at hello), so they serve on no other god. */
  readonly godId: string;
  /** Ends long-polls and event streams, forgets every client (their jobs go back), stops timers. */
  close(): void;
}

/** The CORS middleware: preflights answered for the signed headers, on the given origins only. */
function corsFor(origins: readonly string[]) {
  const allowed = checkCorsOrigins(origins);
  return cors({
    origin: allowed.includes("*") ? "*" : allowed,
    allowMethods: ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"],
    allowHeaders: ["authorization", "content-type", ...Object.values(SignHeader)],
    // The client reads the god's id from replies (after a restart, say).
    exposeHeaders: [SignHeader.God],
    maxAge: 600,
  });
}

/**
 * Builds the HTTP face of `god`, checking requests with the god's own key.
 *
 * @example
 * ```ts
 * const face = await createHttpApp(god);
 * const res = await face.app.request("/healthz");
 * console.log(await res.json()); // { ok: true, ... }
 * face.close();
 * ```
 */
export async function createHttpApp(god: God, options: HttpAppOptions = {}): Promise<HttpApp> {
  const { ops, keys } = god;
  const log = options.log ?? (() => {});
  const idleMs = options.idleMs ?? 60_000;
  const closing = new AbortController();
  const limits = ops.limits;
  const skewMs = options.skewMs ?? DEFAULT_SKEW_MS;
  const history = new History(() => ops.snapshot());
  const countLimit = (name: string) => ops.countLimit(name);
  const face: Face = {
    ops,
    keys,
    log,
    idleMs,
    maxBodyBytes: options.maxBodyBytes ?? 16 * 1024 * 1024,
    skewMs,
    godId: toBase64url(crypto.getRandomValues(new Uint8Array(12))),
    replay: new ReplayGuard({ skewMs }),
    unverified: new ByteBudget({
      total: limits.maxUnverifiedBodyBytes,
      perKey: limits.maxUnverifiedBodyBytesPerAddress,
    }),
    countLimit,
    openMetrics: options.openMetrics ?? false,
    closing: closing.signal,
    peers: new Peers(ops, { idleMs, log }),
    viewer: ops.attach({
      door: "http",
      remote: "http",
      role: "viewer",
      runtime: runtimeName(),
      name: "viewer token",
      listed: false,
    }),
    history,
    streams: new EventStreams({
      maxStreams: limits.maxEventStreams,
      maxPerAddress: limits.maxEventStreamsPerAddress,
      history,
      stats: () => ops.snapshot(),
      countLimit,
    }),
  };
  const app = new Hono<HttpEnv>();
  // Every reply names this god, so a client whose requests were signed for another learns the id.
  app.use("*", async (c, next) => {
    await next();
    c.res.headers.set(SignHeader.God, face.godId);
  });
  if (options.cors !== undefined && options.cors.length > 0) {
    app.use("*", corsFor(options.cors));
  }
  app.route("/api", apiApp(face));
  app.route("/", pagesApp(face));
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
  const token = await viewerToken(keys.key);

  return {
    app,
    fetch: (request, bindings) => app.fetch(request, bindings ?? {}),
    viewerToken: token,
    godId: face.godId,
    close() {
      if (closing.signal.aborted) return;
      closing.abort();
      face.streams.close();
      face.history.stop();
      face.peers.close("the HTTP face is closing");
      ops.detach(face.viewer);
    },
  };
}
