/**
 * Who may do what on the HTTP face: open pages, the read-only viewer token
 * (`Authorization: Bearer …` or `?token=…`), and requests signed with the key
 * (lib/http/sign.ts). Everything the headers say is checked before a byte of
 * the body is read: their shape, the timestamp, that the request was signed
 * for this god, that its nonce was not seen. The body is then read (up to a
 * limit, and within a budget of unverified bytes per address and in total)
 * only to check its signature.
 */
import { ErrorCode } from "../protocol/errors.ts";
import { addressKey, hostOf } from "../server/admission.ts";
import type { ByteBudget } from "./budget.ts";
import { HttpError, malformed } from "./errors.ts";
import type { Peer, Peers } from "./peers.ts";
import type { ReplayGuard } from "./replay.ts";
import { checkSignedHeaders, SignHeader, verifyRequest, verifyViewerToken } from "./sign.ts";
import type { KeyRing } from "../protocol/keys.ts";
import { jsonTooDeep, MAX_DEPTH } from "../protocol/codec.ts";

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
  /** This god's id: signed requests must name it (lib/http/sign.ts). */
  godId: string;
  /** Nonces seen within the skew window. */
  replay: ReplayGuard;
  /** Bytes of bodies read and not verified yet, per address and in total. */
  unverified: ByteBudget;
  /** Counts a refusal by a limit. */
  countLimit(name: string): void;
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
  route: { access: Access; action: string; anyGod?: boolean },
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
  // Signed for this god? Only the hello, which learns the id, may go without it.
  if (early.god !== ctx.godId && !(early.god === "" && route.anyGod === true)) {
    throw new HttpError(
      401,
      ErrorCode.AuthFailed,
      early.god === ""
        ? `Missing ${SignHeader.God}: say hello first (GET /api/hello) and sign every request with the god id it gives`
        : `This request was signed for another god (${SignHeader.God} ${early.god}; this god is ${ctx.godId}): the god restarted, or the request was sent elsewhere; say hello again`,
      UNAUTHORIZED,
    );
  }
  const seen = ctx.replay.check(early.nonce, early.timestamp, Date.now());
  if (seen !== "fresh") throw refusedReplay(ctx, seen);
  // A worker key's client sends its scope; the key it signed with is derived from it.
  const { key, scope } = await ctx.keys.keyFor(request.headers.get(SignHeader.Scope)).catch(
    (error) => {
      throw new HttpError(401, ErrorCode.AuthFailed, (error as Error).message, UNAUTHORIZED);
    },
  );
  const body = await readBody(request, ctx, addressKey(hostOf(remote)));
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
  // Its twin may have been verified meanwhile: only one of them is served.
  if (!ctx.replay.remember(early.nonce, early.timestamp, Date.now())) {
    throw refusedReplay(ctx, "replayed");
  }
  const peer = ctx.peers.enter(verdict.clientId, verdict.peer, remote, scope, Date.now());
  return { kind: "client", peer, body, signature: request.headers.get(SignHeader.Signature)! };
}

function refusedReplay(ctx: AuthContext, seen: "replayed" | "stale"): HttpError {
  if (seen === "replayed") {
    ctx.countLimit("replayed");
    return new HttpError(
      401,
      ErrorCode.AuthFailed,
      `Replayed request: its nonce was used already; sign every request (and every retry) with a fresh ${SignHeader.Nonce}`,
      UNAUTHORIZED,
    );
  }
  return new HttpError(
    401,
    ErrorCode.AuthFailed,
    `Stale timestamp: under this many requests the god remembers nonces only for timestamps after ${ctx.replay.floor}; sign just before sending, and check the clocks`,
    UNAUTHORIZED,
  );
}

/**
 * Reads a body up to `ctx.maxBodyBytes` (a 413 beyond), holding its bytes in
 * the budget of unverified bytes of `address` while it is read (a 429 past
 * it, and the rest is not read). The bytes go back to the budget once read:
 * the caller verifies the signature at once.
 */
async function readBody(request: Request, ctx: AuthContext, address: string): Promise<Uint8Array> {
  const limit = ctx.maxBodyBytes;
  const tooLarge = (size: string) =>
    new HttpError(
      413,
      ErrorCode.Limit,
      `Request body too large: ${size} exceeds the limit of ${limit} bytes`,
    );
  const overBudget = () => {
    ctx.countLimit("unverifiedBodyBytes");
    return new HttpError(
      429,
      ErrorCode.Limit,
      `Too many request bytes from ${address} are waiting for their signature check (maxUnverifiedBodyBytesPerAddress ${ctx.unverified.perKey}, maxUnverifiedBodyBytes ${ctx.unverified.total}); retry shortly`,
      { "retry-after": "1" },
    );
  };
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) throw tooLarge(`${declared} bytes`);
  if (request.body === null) return new Uint8Array(0);
  // A declared length that cannot fit is refused before reading anything.
  if (declared !== null && !ctx.unverified.take(address, Number(declared))) throw overBudget();
  let held = declared === null ? 0 : Number(declared);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      let step: ReadableStreamReadResult<Uint8Array>;
      try {
        step = await reader.read();
      } catch {
        throw new HttpError(
          400,
          ErrorCode.BadMessage,
          "The request body was cut off before its end (the client went away or was too slow)",
        );
      }
      if (step.done) break;
      const value = step.value;
      size += value.length;
      if (size > limit) throw tooLarge(`more than ${limit} bytes`);
      if (size > held) {
        if (!ctx.unverified.take(address, size - held)) throw overBudget();
        held = size;
      }
      chunks.push(value);
    }
  } catch (error) {
    reader.cancel().catch(() => {});
    throw error;
  } finally {
    ctx.unverified.give(address, held);
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

/**
 * A signed request's body as a JSON object (an empty body is `{}`). Nesting
 * is bounded like a payload's (a little deeper, for the request around it).
 */
export function parseJson(body: Uint8Array): Record<string, unknown> {
  if (body.length === 0) return {};
  const text = decoder.decode(body);
  if (jsonTooDeep(text, MAX_DEPTH + 8)) {
    throw malformed(
      `Malformed request body: nested deeper than ${MAX_DEPTH} levels (values cannot be that deep)`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw malformed("Malformed request body: not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw malformed("Malformed request body: expected a JSON object");
  }
  return parsed as Record<string, unknown>;
}
