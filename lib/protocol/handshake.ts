/**
 * The mutual handshake, as two state machines. The key never crosses the wire:
 *
 * ```
 * god    → client  Hello   {proto, version, nonce: sNonce}
 * client → god     Auth    {proto, version, nonce: cNonce, role, runtime, name, scope?, heartbeat,
 *                           proof: HMAC(key, "taskwire/1 client" ‖ sNonce ‖ cNonce ‖ role)}
 * god    → client  Welcome {proof: HMAC(key, "taskwire/1 server" ‖ sNonce ‖ cNonce ‖ role), ...}
 * ```
 *
 * `key` is the god's key, or for a client holding a worker key that worker
 * key, which the god derives from the `scope` the client sends
 * (lib/protocol/keys.ts).
 *
 * The god's nonce is fresh per connection, so a recorded Auth fails against
 * any other Hello; the client's nonce is fresh too, so a recorded Welcome
 * fails against any other Auth. Proofs are checked with `crypto.subtle.verify`
 * (constant time). Time is not read here: the driver enforces the deadline.
 */
import { AuthError, ErrorCode, ProtocolError } from "./errors.ts";
import { fromBase64, toBase64 } from "../util/base64.ts";
import type { KeyRing, WorkerScope } from "./keys.ts";
import { decodeMessage, encodeMessage, type Message, MessageType } from "./messages.ts";

export const PROTOCOL_NAME = "taskwire";
export const PROTOCOL_VERSION = 1;
/** A peer that has not finished the handshake by then is dropped. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5000;
const NONCE_BYTES = 32;

/** Who is on the other side of an authenticated connection. */
export interface PeerInfo {
  role: string;
  runtime: string;
  name: string;
  /** The client's software and version, e.g. `taskwire 0.2.0` (optional in Auth). */
  software?: string;
}

/** Settings the god announces in its Welcome. */
export interface ServerInfo {
  maxFrameSize: number;
  runtime: string;
  name: string;
  /**
   * How long a connection may stay quiet before a side pings, in ms; a peer
   * silent for three of these is taken for dead. 0 (or absent, from a god
   * without heartbeats): no pings.
   */
  heartbeatMs?: number;
  /** The god's software and version, e.g. `taskwire 0.2.0` (optional in Welcome). */
  software?: string;
}

const encoder = new TextEncoder();

function proofInput(
  side: "client" | "server",
  sNonce: Uint8Array,
  cNonce: Uint8Array,
  role: string,
) {
  const label = encoder.encode(`${PROTOCOL_NAME}/${PROTOCOL_VERSION} ${side}`);
  const roleBytes = encoder.encode(role);
  const out = new Uint8Array(label.length + sNonce.length + cNonce.length + roleBytes.length);
  out.set(label, 0);
  out.set(sNonce, label.length);
  out.set(cNonce, label.length + sNonce.length);
  out.set(roleBytes, label.length + sNonce.length + cNonce.length);
  return out;
}

async function sign(key: CryptoKey, data: Uint8Array): Promise<string> {
  return toBase64(
    new Uint8Array(await crypto.subtle.sign("HMAC", key, data as Uint8Array<ArrayBuffer>)),
  );
}

function verify(key: CryptoKey, proof: unknown, data: Uint8Array): Promise<boolean> {
  if (typeof proof !== "string") return Promise.resolve(false);
  const bytes = fromBase64(proof);
  if (bytes === null || bytes.length !== 32) return Promise.resolve(false);
  return crypto.subtle.verify(
    "HMAC",
    key,
    bytes as Uint8Array<ArrayBuffer>,
    data as Uint8Array<ArrayBuffer>,
  );
}

function checkVersion(header: Record<string, unknown>, who: string): void {
  if (header.proto !== PROTOCOL_NAME) {
    throw new AuthError(
      ErrorCode.VersionMismatch,
      `Cannot handshake: ${who} speaks ${
        JSON.stringify(header.proto)
      }, expected "${PROTOCOL_NAME}"`,
    );
  }
  if (header.version !== PROTOCOL_VERSION) {
    throw new AuthError(
      ErrorCode.VersionMismatch,
      `Cannot handshake: ${who} speaks ${PROTOCOL_NAME}/${header.version}, this side speaks ${PROTOCOL_NAME}/${PROTOCOL_VERSION}`,
    );
  }
}

function nonceOf(header: Record<string, unknown>, who: string): Uint8Array {
  const nonce = typeof header.nonce === "string" ? fromBase64(header.nonce) : null;
  if (nonce === null || nonce.length !== NONCE_BYTES) {
    throw new ProtocolError(
      ErrorCode.BadMessage,
      `Cannot handshake: ${who} sent no valid ${NONCE_BYTES}-byte nonce`,
    );
  }
  return nonce;
}

function expect(message: Message, type: MessageType, who: string): void {
  if (message.type === MessageType.Error) {
    const code = typeof message.header.code === "string" ? message.header.code : "error";
    throw new AuthError(
      (Object.values(ErrorCode) as string[]).includes(code)
        ? code as ErrorCode
        : ErrorCode.AuthFailed,
      `${who} refused the handshake: ${String(message.header.message ?? code)}`,
    );
  }
  if (message.type !== type) {
    throw new ProtocolError(
      ErrorCode.BadMessage,
      `Cannot handshake: expected message type ${type} from ${who}, got ${message.type}`,
    );
  }
}

/**
 * The god's side. Send {@link ServerHandshake.hello}, feed the client's first
 * frame to {@link ServerHandshake.receive}, send the Welcome it returns.
 */
export class ServerHandshake {
  readonly #keys: KeyRing;
  readonly #nonce: Uint8Array;
  readonly #info: ServerInfo;
  #used = false;

  /** `keys`: the god's key, and the worker keys derived from it (lib/protocol/keys.ts). */
  constructor(keys: KeyRing, info: ServerInfo, options: { nonce?: Uint8Array } = {}) {
    this.#keys = keys;
    this.#info = info;
    this.#nonce = options.nonce ?? crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  }

  /** The Hello body to send first. */
  hello(): Uint8Array {
    return encodeMessage(MessageType.Hello, 0, {
      proto: PROTOCOL_NAME,
      version: PROTOCOL_VERSION,
      nonce: toBase64(this.#nonce),
    });
  }

  /**
   * Checks the client's Auth. Resolves to the Welcome body, who the peer is
   * and, for a worker key, what it may do; rejects with {@link AuthError}
   * (send {@link errorBody} of it, then close).
   */
  async receive(
    body: Uint8Array,
  ): Promise<
    { reply: Uint8Array; peer: PeerInfo; scope: WorkerScope | null; heartbeat: boolean }
  > {
    if (this.#used) throw new ProtocolError(ErrorCode.BadMessage, "Handshake already finished");
    this.#used = true;
    const message = decodeMessage(body);
    expect(message, MessageType.Auth, "client");
    const h = message.header;
    checkVersion(h, "client");
    const cNonce = nonceOf(h, "client");
    // The proof covers the role exactly as sent (the frame limit bounds it);
    // it is shortened only for display.
    const role = typeof h.role === "string" ? h.role : "";
    // A worker key sends its scope; the key it must know is derived from it.
    const { key, scope } = await this.#keys.keyFor(typeof h.scope === "string" ? h.scope : null);
    if (!(await verify(key, h.proof, proofInput("client", this.#nonce, cNonce, role)))) {
      throw new AuthError(
        ErrorCode.AuthFailed,
        scope === null
          ? "authentication failed: the client's key does not match the god's key"
          : "authentication failed: the worker key was not made from the god's key",
      );
    }
    const proof = await sign(key, proofInput("server", this.#nonce, cNonce, role));
    const peer: PeerInfo = {
      role: role.slice(0, 64),
      runtime: typeof h.runtime === "string" ? h.runtime.slice(0, 64) : "unknown",
      name: typeof h.name === "string" ? h.name.slice(0, 128) : "",
      ...(typeof h.software === "string" ? { software: h.software.slice(0, 64) } : {}),
    };
    return {
      reply: encodeMessage(MessageType.Welcome, 0, { proof, ...this.#info }),
      peer,
      scope,
      // A client that answers pings says so; older ones are not pinged.
      heartbeat: h.heartbeat === true,
    };
  }
}

/**
 * The client's side. Feed the Hello to {@link ClientHandshake.receive} and send
 * the Auth it returns; feed the Welcome and get the god's settings.
 */
export class ClientHandshake {
  readonly #key: CryptoKey;
  readonly #peer: PeerInfo;
  readonly #scope: string | null;
  readonly #nonce: Uint8Array;
  #serverNonce: Uint8Array | null = null;

  /** `scope`: with a worker key, its scope text (sent along; see lib/protocol/keys.ts). */
  constructor(
    key: CryptoKey,
    peer: PeerInfo,
    options: { nonce?: Uint8Array; scope?: string | null } = {},
  ) {
    this.#key = key;
    this.#peer = peer;
    this.#scope = options.scope ?? null;
    this.#nonce = options.nonce ?? crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  }

  /**
   * First call: the god's Hello → the Auth body to send. Second call: the
   * Welcome → `{ done: ServerInfo }`. Rejects with {@link AuthError} when the
   * god's proof is wrong (it does not know the key) or the god refused us.
   */
  async receive(body: Uint8Array): Promise<{ send: Uint8Array } | { done: ServerInfo }> {
    const message = decodeMessage(body);
    if (this.#serverNonce === null) {
      expect(message, MessageType.Hello, "god");
      checkVersion(message.header, "god");
      this.#serverNonce = nonceOf(message.header, "god");
      const proof = await sign(
        this.#key,
        proofInput("client", this.#serverNonce, this.#nonce, this.#peer.role),
      );
      return {
        send: encodeMessage(MessageType.Auth, 0, {
          proto: PROTOCOL_NAME,
          version: PROTOCOL_VERSION,
          nonce: toBase64(this.#nonce),
          ...this.#peer,
          ...(this.#scope === null ? {} : { scope: this.#scope }),
          heartbeat: true,
          proof,
        }),
      };
    }
    expect(message, MessageType.Welcome, "god");
    const input = proofInput("server", this.#serverNonce, this.#nonce, this.#peer.role);
    if (!(await verify(this.#key, message.header.proof, input))) {
      throw new AuthError(
        ErrorCode.AuthFailed,
        "authentication failed: the god could not prove it knows the key (wrong key, or not a taskwire god)",
      );
    }
    const h = message.header;
    return {
      done: {
        maxFrameSize: typeof h.maxFrameSize === "number" ? h.maxFrameSize : 0,
        runtime: String(h.runtime ?? "unknown"),
        name: String(h.name ?? ""),
        heartbeatMs: typeof h.heartbeatMs === "number" && h.heartbeatMs > 0 ? h.heartbeatMs : 0,
        ...(typeof h.software === "string" ? { software: h.software.slice(0, 64) } : {}),
      },
    };
  }
}

/** The Error body that tells a peer why the connection is about to close. */
export function errorBody(error: { code: string; message: string }, id = 0): Uint8Array {
  return encodeMessage(MessageType.Error, id, { code: error.code, message: error.message });
}
