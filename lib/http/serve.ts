/**
 * Puts the god's HTTP face on a socket. This is the one runtime edge of the
 * HTTP side: `node:http`, which Node and Deno both provide (Deno.serve would
 * do too, but its request signals abort after every successful response and
 * warn about it). The Hono app gets a Web `Request` whose `signal` aborts when
 * the client goes away, so abandoned long-polls and event streams end at once.
 *
 * What a client without the key can make the socket side hold is bounded
 * here: connections per address and in total, the time to send headers and a
 * whole request, the size of the headers; a request refused before its body
 * was read is answered with `connection: close`, and its body is not read.
 */
import * as http from "node:http";
import * as https from "node:https";
import type { Socket } from "node:net";
import { ErrorCode, TaskwireError } from "../protocol/errors.ts";
import type { Limits } from "../protocol/limits.ts";
import { addressKey, hostOf } from "../server/admission.ts";
import type { God } from "../server/server.ts";
import type { Address } from "../transport/transport.ts";
import { formatAddress, parseAddress } from "../util/address.ts";
import { createHttpApp, type HttpAppOptions, type HttpBindings } from "./app.ts";

/** A running HTTP face. */
export interface HttpFace {
  /** Base URL, e.g. "http://127.0.0.1:8080". */
  url: string;
  /** The read-only token for the dashboard and metrics (derived from the key). */
  viewerToken: string;
  /** The id signed requests must name (clients learn it at hello). */
  godId: string;
  /** Stops serving: ends long-polls and event streams, returns HTTP clients' jobs, closes the socket. */
  close(): Promise<void>;
}

/** Options of {@link serveHttp}. */
export interface ServeHttpOptions extends Omit<HttpAppOptions, "log"> {
  /** "host:port" or an address; port 0 picks a free port. */
  listen: string | Address;
  /** Receives one object per notable event (HTTP clients coming and going, errors). */
  log?: (event: Record<string, unknown>) => void;
  /** Serve HTTPS with this certificate and key (PEM) instead of plain HTTP. */
  tls?: { cert: string | Uint8Array; key: string | Uint8Array };
}

type Handler = (request: Request, bindings: HttpBindings) => Response | Promise<Response>;

interface Served {
  host: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves the god's HTTP face (API, `/healthz`, `/metrics`, dashboard),
 * checking requests with the god's own key.
 * Close it before the god: closing ends its long-polls and event streams and
 * returns the jobs HTTP clients hold.
 *
 * @example
 * ```ts
 * const god = await serve({ listen: "127.0.0.1:5678", authkey: "secret" });
 * const face = await serveHttp(god, { listen: "127.0.0.1:8080" });
 * console.log(`dashboard: ${face.url}/?token=${face.viewerToken}`);
 * await face.close();
 * await god.close();
 * ```
 */
export async function serveHttp(god: God, options: ServeHttpOptions): Promise<HttpFace> {
  const address = typeof options.listen === "string"
    ? parseAddress(options.listen)
    : options.listen;
  const face = await createHttpApp(god, options);
  const handler: Handler = (request, bindings) => face.fetch(request, bindings);
  let served: Served;
  try {
    served = await serveNode(address, handler, {
      tls: options.tls,
      limits: god.ops.limits,
      countLimit: (name) => god.ops.countLimit(name),
      log: options.log ?? (() => {}),
    });
  } catch (error) {
    face.close();
    throw error;
  }
  options.log?.({ event: "http-listening", address: formatAddress(served) });
  const host = served.host.includes(":") ? `[${served.host}]` : served.host;
  let closed: Promise<void> | null = null;
  return {
    url: `${options.tls ? "https" : "http"}://${
      host === "0.0.0.0" ? "127.0.0.1" : host
    }:${served.port}`,
    viewerToken: face.viewerToken,
    godId: face.godId,
    close() {
      closed ??= (async () => {
        face.close();
        await served.close();
      })();
      return closed;
    },
  };
}

/** What {@link serveNode} bounds, and where it reports. */
interface NodeServeOptions {
  tls?: ServeHttpOptions["tls"];
  limits: Limits;
  countLimit(name: string): void;
  log(event: Record<string, unknown>): void;
}

/** Largest request head (request line and headers) a client may send. */
const MAX_HEADER_BYTES = 16 * 1024;

function serveNode(
  address: Address,
  handler: Handler,
  options: NodeServeOptions,
): Promise<Served> {
  const { limits } = options;
  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handleNode(req, res, handler).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  };
  // Node checks these timeouts on an interval: short, so a stalled client goes within about a second.
  const requestTimeout = limits.httpRequestTimeoutMs;
  const headersTimeout = Math.min(limits.httpHeadersTimeoutMs, requestTimeout);
  const settings = {
    headersTimeout,
    requestTimeout,
    keepAliveTimeout: 5000,
    maxHeaderSize: MAX_HEADER_BYTES,
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(headersTimeout / 2))),
  };
  const server: http.Server = options.tls
    ? https.createServer({
      cert: options.tls.cert as string,
      key: options.tls.key as string,
      ...settings,
    }, listener)
    : http.createServer(settings, listener);
  server.headersTimeout = headersTimeout;
  server.requestTimeout = requestTimeout;
  server.keepAliveTimeout = settings.keepAliveTimeout;
  server.on("connection", capConnections(options));
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host, () => {
      server.off("error", reject);
      const bound = server.address();
      const port = typeof bound === "object" && bound !== null ? bound.port : address.port;
      resolve({
        host: address.host,
        port,
        close() {
          return new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          });
        },
      });
    });
  });
}

/**
 * The `connection` listener that counts HTTP connections per address and in
 * total from the moment they are accepted (before TLS, for HTTPS) and closes
 * those over `maxHttpConnectionsPerAddress` or `maxHttpConnections` at once.
 * Refusals are logged at most once a second.
 */
function capConnections(options: NodeServeOptions): (socket: Socket) => void {
  const { limits } = options;
  const perAddress = new Map<string, number>();
  let total = 0;
  let lastLog = 0;
  let quiet = 0;
  return (socket) => {
    socket.setNoDelay(true);
    const host = hostOf(`${socket.remoteAddress ?? "?"}:0`);
    const key = addressKey(host);
    const mine = perAddress.get(key) ?? 0;
    const limit = total >= limits.maxHttpConnections
      ? "httpConnections"
      : mine >= limits.maxHttpConnectionsPerAddress
      ? "httpConnectionsPerAddress"
      : null;
    if (limit !== null) {
      options.countLimit(limit);
      socket.destroy();
      const now = Date.now();
      if (now - lastLog < 1000) {
        quiet++;
        return;
      }
      options.log({
        event: "refused",
        remote: host,
        limit,
        message: limit === "httpConnections"
          ? `Cannot accept an HTTP connection from ${host}: ${total} are open (maxHttpConnections ${limits.maxHttpConnections})`
          : `Cannot accept an HTTP connection from ${host}: it has ${mine} open (maxHttpConnectionsPerAddress ${limits.maxHttpConnectionsPerAddress})`,
        unlogged: quiet,
      });
      lastLog = now;
      quiet = 0;
      return;
    }
    total++;
    perAddress.set(key, mine + 1);
    socket.once("close", () => {
      total--;
      const left = (perAddress.get(key) ?? 1) - 1;
      if (left <= 0) perAddress.delete(key);
      else perAddress.set(key, left);
    });
  };
}

async function handleNode(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  handler: Handler,
): Promise<void> {
  const controller = new AbortController();
  res.on("close", () => controller.abort());
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) { for (const v of value) headers.append(name, v); }
    else headers.set(name, value);
  }
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  let received = !hasBody;
  const body = hasBody
    ? new ReadableStream<Uint8Array>({
      start(stream) {
        const fail = (error: Error) => {
          try {
            stream.error(error);
          } catch {
            // cancelled
          }
        };
        req.on("data", (chunk: Uint8Array) => {
          stream.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          if ((stream.desiredSize ?? 1) <= 0) req.pause();
        });
        req.on("end", () => {
          received = true;
          try {
            stream.close();
          } catch {
            // cancelled
          }
        });
        req.on("error", fail);
        // Cut off (the client went away, or the request timed out): a reader must not wait forever.
        req.on("close", () => {
          if (!received) {
            fail(new TaskwireError(ErrorCode.BadMessage, "the request body was cut off"));
          }
        });
      },
      pull() {
        req.resume();
      },
      cancel() {
        req.resume(); // drain and discard what the app did not read
      },
    }, { highWaterMark: 4 })
    : null;
  const target = req.url ?? "/";
  const url = target.startsWith("/")
    ? `http://${req.headers.host ?? "localhost"}${target}`
    : target; // absolute-form, as sent to proxies
  const request = new Request(url, {
    method,
    headers,
    body,
    signal: controller.signal,
    // @ts-ignore: Node's fetch wants duplex for a streamed body; the DOM types lack it
    duplex: "half",
  });
  const response = await handler(request, {
    remote: `${req.socket.remoteAddress ?? "?"}:${req.socket.remotePort ?? "?"}`,
  });
  const outHeaders: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    outHeaders[name] = value;
  });
  // A request answered before its body was read (refused, most often): its body is not read
  // at all; the connection closes after the answer.
  if (!received) outHeaders["connection"] = "close";
  if (controller.signal.aborted) {
    await response.body?.cancel().catch(() => {});
    return;
  }
  if (response.body === null || method === "HEAD") {
    await response.body?.cancel().catch(() => {});
    res.writeHead(response.status, outHeaders);
    res.end();
    return;
  }
  if (!(response.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    // A whole reply goes out in one write: head and body in one packet.
    const body = new Uint8Array(await response.arrayBuffer());
    outHeaders["content-length"] = String(body.length);
    res.writeHead(response.status, outHeaders);
    res.end(body);
    return;
  }
  res.writeHead(response.status, outHeaders);
  const reader = response.body.getReader();
  const stop = () => reader.cancel().catch(() => {});
  res.on("close", stop);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          res.once("drain", resolve);
          res.once("close", resolve);
        });
      }
      if (res.destroyed) break;
    }
  } catch {
    // the client went away, or the stream failed; either way the reply ends here
  } finally {
    res.off("close", stop);
    res.end();
  }
}
