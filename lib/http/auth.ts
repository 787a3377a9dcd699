/**
 * Who may do what on the HTTP face: open pages, the read-only viewer token
 * (`Authorization: Bearer …` or `?token=…`), and requests signed with the key
 * (lib/http/sign.ts). The headers are checked before the body is read; the
 * body is read (up to a limit) only to check its signature.
 */
import { ErrorCode } from "../protocol/errors.ts";
import { HttpError, malformed } from "./errors.ts";
import type { Peer, Peers } from "./peers.ts";
import { checkSignedHeaders, SignHeader, verifyRequest, verifyViewerToken } from "./sign.ts";
import type { KeyRing } from "../protocol/keys.ts";

/** What a route needs: nothing, the viewer token (or a signature), or a signature. */
export type Access = "open" | "viewer" | "signed";

/** Who made a request. */
export type Visitor =
  | { kind: "open" }
  | { kind: "viewer" }
  | { kind: "client"; peer: Peer; body: Uint8Array; signature: string };

/** What authentication needs from the face. */
export interface AuthContext {
  /** The god's key and the worker keys derived from it. */
  keys: KeyRing;
  peers: Peers;
  maxBodyBytes: number;
  skewMs: number;
}

const UNAUTHORIZED = { "www-authenticate": 'Bearer realm="taskwire"' };

/**
 * Decides who made `request` for a route with `access` (doing `action`, for
 * the viewer's 403). A signed request's client is entered into `peers` (the
 * caller must `leave` it when the request is over).
 */
export async function authenticate(
  ctx: AuthContext,
  request: Request,
  url: URL,
  route: { access: Access; action: string },
  remote: string,
): Promise<Visitor> {
  if (route.access === "open") return { kind: "open" };
  const bearer = request.headers.get("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1];
  const viewer = bearer ?? url.searchParams.get("token") ?? undefined;
  const signed = request.headers.has(SignHeader.Signature);
  if (viewer !== undefined && !signed) {
    if (!(await verifyViewerToken(ctx.keys.key, viewer))) {
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
    return { kind: "viewer" };
  }
  const early = checkSignedHeaders(request.headers, Date.now(), ctx.skewMs);
  if (!early.ok) throw new HttpError(401, ErrorCode.AuthFailed, early.reason, UNAUTHORIZED);
  // A worker key's client sends its scope; the key it signed with is derived from it.
  const { key, scope } = await ctx.keys.keyFor(request.headers.get(SignHeader.Scope)).catch(
    (error) => {
      throw new HttpError(401, ErrorCode.AuthFailed, (error as Error).message, UNAUTHORIZED);
    },
  );
  const body = await readBody(request, ctx.maxBodyBytes);
  const verdict = await verifyRequest(
    key,
    { method: request.method, url, headers: request.headers, body },
    Date.now(),
    ctx.skewMs,
  );
  if (!verdict.ok) {
    const reason = scope !== null && verdict.reason.startsWith("Bad signature")
      ? "Bad signature: the worker key was not made from the god's key, or the request was changed on the way"
      : verdict.reason;
    throw new HttpError(401, ErrorCode.AuthFailed, reason, UNAUTHORIZED);
  }
  const peer = ctx.peers.enter(verdict.clientId, verdict.peer, remote, scope, Date.now());
  return { kind: "client", peer, body, signature: request.headers.get(SignHeader.Signature)! };
}

/** Reads a body up to `limit` bytes; throws a 413 beyond. */
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

const decoder = new TextDecoder();

/** A signed request's body as a JSON object (an empty body is `{}`). */
export function parseJson(body: Uint8Array): Record<string, unknown> {
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(body));
  } catch {
    throw malformed("Malformed request body: not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw malformed("Malformed request body: expected a JSON object");
  }
  return parsed as Record<string, unknown>;
}
