/**
 * Request signing for the HTTP face, shared by the server ({@link verifyRequest})
 * and the fetch client ({@link signRequest}). Web standards only (WebCrypto).
 *
 * A signed request carries the client id, a timestamp (epoch ms), a fresh
 * random nonce, the id of the god it is meant for (learnt at hello; only the
 * hello itself goes without) and an HMAC-SHA256 over
 *
 * ```
 * taskwire-http-2 \n METHOD \n /path \n sorted query \n timestamp \n nonce \n god id \n client id \n peer \n sha256(body) hex
 * ```
 *
 * keyed with the shared key, or, for a client holding a worker key, with that
 * worker key; such a client also sends the key's scope text (`x-taskwire-scope`),
 * from which the god derives the worker key (lib/protocol/keys.ts). The key
 * itself never crosses the wire. The god serves each nonce once (lib/http/replay.ts)
 * and only requests signed for it, so a captured request can be sent again
 * neither to it nor to another god with the same key. The read-only viewer
 * token is `HMAC(key, "taskwire viewer")`, base64url.
 */
import { fromBase64url, toBase64url } from "../util/base64.ts";

/** Header names of a signed request. */
export const SignHeader = {
  Client: "x-taskwire-client",
  Peer: "x-taskwire-peer",
  Timestamp: "x-taskwire-timestamp",
  Signature: "x-taskwire-signature",
  Scope: "x-taskwire-scope",
  Nonce: "x-taskwire-nonce",
  God: "x-taskwire-god",
} as const;

/** The name and version of the signature scheme: the first line of the signed text. */
export const SIGNATURE_SCHEME = "taskwire-http-2";

/** How far a request's timestamp may be from the server's clock (default ±30 s). */
export const DEFAULT_SKEW_MS = 30_000;

const encoder = new TextEncoder();
const CLIENT_ID = /^[A-Za-z0-9_.-]{8,64}$/;
/** A nonce: 16 to 64 base64url characters (the client sends 22: 16 random bytes). */
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;
/** A god id, as the god makes them (base64url). */
const GOD_ID = /^[A-Za-z0-9_-]{8,64}$/;
/** An HMAC-SHA256 in base64url: 43 characters. */
const SIGNATURE = /^[A-Za-z0-9_-]{43}$/;

/** Lower-case hex of bytes. */
function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The query string in a canonical order (sorted by name, then value), percent-encoded. */
export function canonicalQuery(url: URL): string {
  return [...url.searchParams]
    .sort(([a, av], [b, bv]) => a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join("&");
}

/** What is signed for one request. */
export interface SignedParts {
  method: string;
  url: URL;
  timestamp: string;
  /** Fresh for every request (a retry included): the god serves each nonce once. */
  nonce: string;
  /** The id of the god the request is meant for ("" only for the hello that learns it). */
  god: string;
  clientId: string;
  peer: string;
  body: Uint8Array;
}

async function canonical(parts: SignedParts): Promise<Uint8Array<ArrayBuffer>> {
  const bodyHash = hex(
    await crypto.subtle.digest("SHA-256", parts.body as Uint8Array<ArrayBuffer>),
  );
  return encoder.encode(
    [
      SIGNATURE_SCHEME,
      parts.method.toUpperCase(),
      parts.url.pathname,
      canonicalQuery(parts.url),
      parts.timestamp,
      parts.nonce,
      parts.god,
      parts.clientId,
      parts.peer,
      bodyHash,
    ].join("\n"),
  );
}

/**
 * Signs a request: returns the headers to send with it.
 *
 * @example
 * ```ts
 * const key = await importAuthKey("secret");
 * const headers = await signRequest(key, {
 *   method: "POST", url: new URL("http://127.0.0.1:8080/api/queues/tasks/put"),
 *   clientId: "node-abcdef12", peer: "role=producer", body, god: hello.god,
 * });
 * ```
 */
export async function signRequest(
  key: CryptoKey,
  request: Omit<SignedParts, "timestamp" | "nonce" | "god"> & {
    now?: number;
    scope?: string | null;
    /** The god's id from its hello; leave it out only for the hello. */
    god?: string;
    /** Default: 16 fresh random bytes. */
    nonce?: string;
  },
): Promise<Record<string, string>> {
  const timestamp = String(Math.round(request.now ?? Date.now()));
  const nonce = request.nonce ?? toBase64url(crypto.getRandomValues(new Uint8Array(16)));
  const god = request.god ?? "";
  const signature = await crypto.subtle.sign(
    "HMAC",
    key,
    await canonical({ ...request, timestamp, nonce, god }),
  );
  const headers: Record<string, string> = {
    [SignHeader.Client]: request.clientId,
    [SignHeader.Peer]: request.peer,
    [SignHeader.Timestamp]: timestamp,
    [SignHeader.Nonce]: nonce,
    [SignHeader.Signature]: toBase64url(new Uint8Array(signature)),
  };
  if (god !== "") headers[SignHeader.God] = god;
  if (request.scope) headers[SignHeader.Scope] = request.scope;
  return headers;
}

/** The outcome of {@link checkSignedHeaders} / {@link verifyRequest}. */
export type Verdict =
  | {
    ok: true;
    clientId: string;
    peer: string;
    nonce: string;
    timestamp: number;
    /** The god the request was signed for ("" for a hello that does not know it yet). */
    god: string;
  }
  | { ok: false; reason: string };

/**
 * Checks what can be checked before the body is read: the headers are present
 * and well formed (client id, nonce, god id, the signature's length), and the
 * timestamp is within `skewMs` of `now`.
 */
export function checkSignedHeaders(
  headers: Headers,
  now: number,
  skewMs: number = DEFAULT_SKEW_MS,
): Verdict {
  const clientId = headers.get(SignHeader.Client);
  const timestamp = headers.get(SignHeader.Timestamp);
  const signature = headers.get(SignHeader.Signature);
  const nonce = headers.get(SignHeader.Nonce);
  const god = headers.get(SignHeader.God) ?? "";
  if (clientId === null || timestamp === null || signature === null) {
    return {
      ok: false,
      reason:
        `Missing authentication: sign the request (headers ${SignHeader.Client}, ${SignHeader.Timestamp}, ${SignHeader.Nonce}, ${SignHeader.Signature}) or send the viewer token for read-only pages`,
    };
  }
  if (nonce === null || !NONCE.test(nonce)) {
    return {
      ok: false,
      reason:
        `Missing or invalid ${SignHeader.Nonce}: send 16-64 fresh random base64url characters with every request (${SIGNATURE_SCHEME})`,
    };
  }
  if (god !== "" && !GOD_ID.test(god)) {
    return { ok: false, reason: `Invalid ${SignHeader.God}: use the id the god gave at hello` };
  }
  if (!SIGNATURE.test(signature)) {
    return {
      ok: false,
      reason:
        `Invalid ${SignHeader.Signature}: expected an HMAC-SHA256 in base64url (43 characters)`,
    };
  }
  if (!CLIENT_ID.test(clientId)) {
    return {
      ok: false,
      reason: `Invalid ${SignHeader.Client} ${
        JSON.stringify(clientId.slice(0, 80))
      }: use 8-64 of A-Z a-z 0-9 _ . -`,
    };
  }
  const at = /^\d{1,15}$/.test(timestamp) ? Number(timestamp) : NaN;
  if (!Number.isFinite(at) || Math.abs(now - at) > skewMs) {
    return {
      ok: false,
      reason: `Stale or invalid timestamp ${
        JSON.stringify(timestamp.slice(0, 40))
      }: it must be epoch milliseconds within ${skewMs} ms of the server's clock (server time ${now}); check the clocks`,
    };
  }
  return {
    ok: true,
    clientId,
    peer: headers.get(SignHeader.Peer) ?? "",
    nonce,
    timestamp: at,
    god,
  };
}

/**
 * Verifies a signed request in constant time (WebCrypto `verify`).
 *
 * @example
 * ```ts
 * const verdict = await verifyRequest(key, { method: req.method, url: new URL(req.url), headers: req.headers, body }, Date.now());
 * if (!verdict.ok) return new Response(verdict.reason, { status: 401 });
 * ```
 */
export async function verifyRequest(
  key: CryptoKey,
  request: { method: string; url: URL; headers: Headers; body: Uint8Array },
  now: number,
  skewMs: number = DEFAULT_SKEW_MS,
): Promise<Verdict> {
  const verdict = checkSignedHeaders(request.headers, now, skewMs);
  if (!verdict.ok) return verdict;
  const signature = fromBase64url(request.headers.get(SignHeader.Signature)!, 200);
  const data = await canonical({
    method: request.method,
    url: request.url,
    timestamp: request.headers.get(SignHeader.Timestamp)!,
    nonce: verdict.nonce,
    god: verdict.god,
    clientId: verdict.clientId,
    peer: verdict.peer,
    body: request.body,
  });
  if (
    signature === null ||
    !(await crypto.subtle.verify("HMAC", key, signature as Uint8Array<ArrayBuffer>, data))
  ) {
    return {
      ok: false,
      reason:
        "Bad signature: the request was not signed with the god's key (check TASKWIRE_AUTHKEY), or it was changed on the way",
    };
  }
  return verdict;
}

const VIEWER_INPUT = encoder.encode("taskwire viewer");

/**
 * The read-only viewer token derived from the key: it opens the dashboard,
 * its live stream, stats and metrics, and nothing that changes state.
 */
export async function viewerToken(key: CryptoKey): Promise<string> {
  return toBase64url(new Uint8Array(await crypto.subtle.sign("HMAC", key, VIEWER_INPUT)));
}

/** Checks a viewer token in constant time. */
export async function verifyViewerToken(key: CryptoKey, token: string): Promise<boolean> {
  const bytes = fromBase64url(token, 200);
  if (bytes === null || bytes.length !== 32) return false;
  return await crypto.subtle.verify("HMAC", key, bytes as Uint8Array<ArrayBuffer>, VIEWER_INPUT);
}

/** A fresh random client id (base64url, 16 characters) with a readable prefix. */
export function newClientId(prefix: string): string {
  const clean = prefix.replace(/[^A-Za-z0-9_.-]/g, "").slice(0, 24) || "client";
  const random = toBase64url(crypto.getRandomValues(new Uint8Array(12)));
  return `${clean}.${random}`;
}
