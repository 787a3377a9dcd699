/**
 * Puts the god's HTTP face on a socket. This is the one runtime edge of the
 * HTTP side: `node:http`, which Node and Deno both provide (Deno.serve would
 * do too, but its request signals abort after every successful response and
 * warn about it). The Hono app gets a Web `Request` whose `signal` aborts when
 * the client goes away, so abandoned long-polls and event streams end at once.
 */
import * as http from "node:http";
import * as https from "node:https";
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
    served = await serveNode(address, handler, options.tls);
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
    close() {
      closed ??= (async () => {
        face.close();
        await served.close();
      })();
      return closed;
    },
  };
}

function serveNode(
  address: Address,
  handler: Handler,
  tls?: ServeHttpOptions["tls"],
): Promise<Served> {
  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handleNode(req, res, handler).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  };
  const server: http.Server = tls
    ? https.createServer({ cert: tls.cert as string, key: tls.key as string }, listener)
    : http.createServer(listener);
  server.keepAliveTimeout = 5000;
  server.on("connection", (socket) => socket.setNoDelay(true));
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
  const body = hasBody
    ? new ReadableStream<Uint8Array>({
      start(stream) {
        req.on("data", (chunk: Uint8Array) => {
          stream.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          if ((stream.desiredSize ?? 1) <= 0) req.pause();
        });
        req.on("end", () => {
          try {
            stream.close();
          } catch {
            // cancelled
          }
        });
        req.on("error", (error) => {
          try {
            stream.error(error);
          } catch {
            // cancelled
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
