/**
 * One endpoint of the HTTP face: a path with a route per method. Each request
 * is authenticated for its route's access, handled, and answered; a failure
 * becomes an error reply (lib/http/errors.ts). A wrong method gets a 405 with
 * `Allow`.
 */
import type { Context, Hono } from "hono";
import { ErrorCode, TaskwireError } from "../protocol/errors.ts";
import { type AuthContext, authenticate, type Visitor } from "./auth.ts";
import { errorResponse, HttpError } from "./errors.ts";
import type { Peer } from "./peers.ts";

/** Per-request facts the server adapter knows. */
export interface HttpBindings {
  /** The peer's address, "host:port". */
  remote?: string;
}

/** The Hono environment of the face's apps. */
export type HttpEnv = { Bindings: HttpBindings };

/** A request as a route handles it. */
export interface Call {
  c: Context<HttpEnv>;
  request: Request;
  url: URL;
  visitor: Visitor;
}

/** A signed request: its client and body. */
export interface SignedCall extends Call {
  peer: Peer;
  body: Uint8Array;
  signature: string;
}

/** What one method of an endpoint does, and who may do it. */
export type Route =
  | { access: "open" | "viewer"; action: string; handle(call: Call): Response | Promise<Response> }
  | {
    access: "signed";
    action: string;
    /** Whether a request signed without this god's id is taken (the hello, which learns it). */
    anyGod?: boolean;
    handle(call: SignedCall): Response | Promise<Response>;
  };

/** Builds a route that needs a signature (`anyGod`: also one made before the client knew the god's id). */
export function signed(
  action: string,
  handle: (call: SignedCall) => Response | Promise<Response>,
  options: { anyGod?: boolean } = {},
): Route {
  return { access: "signed", action, handle, anyGod: options.anyGod };
}

/** Builds a route open to the viewer token (and to signed requests). */
export function viewer(
  action: string,
  handle: (call: Call) => Response | Promise<Response>,
): Route {
  return { access: "viewer", action, handle };
}

/** Builds a route open to anyone. */
export function open(handle: (call: Call) => Response | Promise<Response>): Route {
  return { access: "open", action: "read", handle };
}

/** What endpoints need from the face. */
export interface EndpointContext extends AuthContext {
  log(event: Record<string, unknown>): void;
}

/** Serves `methods` on `path` of `app`. */
export function endpoint(
  app: Hono<HttpEnv>,
  ctx: EndpointContext,
  path: string,
  methods: Record<string, Route>,
): void {
  const allow = Object.keys(methods).join(", ");
  app.all(path, async (c) => {
    const method = c.req.method === "HEAD" && methods.GET ? "GET" : c.req.method;
    const route = methods[method];
    if (route === undefined) {
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
    let peer: Peer | null = null;
    try {
      const visitor = await authenticate(ctx, request, url, route, c.env?.remote ?? "http");
      const call: Call | SignedCall = visitor.kind === "client"
        ? {
          c,
          request,
          url,
          visitor,
          peer: visitor.peer,
          body: visitor.body,
          signature: visitor.signature,
        }
        : { c, request, url, visitor };
      if (visitor.kind === "client") peer = visitor.peer;
      // A signed route is only reached with a signature (authenticate refuses the rest).
      return await route.handle(call as SignedCall);
    } catch (error) {
      if (!(error instanceof TaskwireError) || error.code === ErrorCode.Internal) {
        ctx.log({ event: "error", via: "http", path: url.pathname, error: String(error) });
      }
      return errorResponse(error);
    } finally {
      if (peer !== null) ctx.peers.leave(peer, Date.now());
    }
  });
}
