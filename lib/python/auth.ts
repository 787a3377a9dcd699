/**
 * multiprocessing.connection authentication, server side, sans-I/O. Both
 * directions run before anything else is read:
 *
 * ```
 * door   → python   #CHALLENGE# + M          M = {sha256} + 40 random bytes (or 20 bytes, legacy)
 * python → door     answer                   raw HMAC-MD5(key, M)          (Python ≤ 3.11)
 *                                            {sha256} + HMAC-SHA256(key, M) (Python ≥ 3.12)
 * door   → python   #WELCOME# | #FAILURE#
 * python → door     #CHALLENGE# + M'         M' = 20 bytes (≤ 3.11) or {sha256} + 40 bytes (≥ 3.12)
 * door   → python   the answer to M', in the form M' asks for
 * python → door     #WELCOME# | #FAILURE#
 * ```
 *
 * A Python ≥ 3.12 verifier accepts a raw 16-byte MD5 answer even to a
 * `{sha256}` challenge, and an older client answers any challenge with raw
 * MD5 over the whole message: that is how mixed versions work, and why the
 * door can always send the modern challenge. Comparisons are constant-time
 * (`crypto.subtle.verify` for SHA-2, {@link constantTimeEqual} for MD5).
 * Nothing is unpickled before both directions succeed.
 */
import {
  ArgumentError,
  AuthError,
  ErrorCode,
  ProtocolError,
  TaskwireError,
} from "../protocol/errors.ts";
import { constantTimeEqual, hmacMd5 } from "./md5.ts";

const encoder = new TextEncoder();
export const CHALLENGE: Uint8Array = encoder.encode("#CHALLENGE#");
export const WELCOME: Uint8Array = encoder.encode("#WELCOME#");
export const FAILURE: Uint8Array = encoder.encode("#FAILURE#");

/** Random bytes of a modern challenge (Python ≥ 3.12's MESSAGE_LENGTH). */
const MODERN_RANDOM = 40;
/** Length of a legacy (≤ 3.11) challenge, and the smallest Python accepts. */
const LEGACY_LENGTH = 20;
const MD5_LENGTH = 16;
/** Digests Python allows in `{name}` prefixes; the door computes the first three. */
const PYTHON_DIGESTS = ["md5", "sha256", "sha384", "sha3_256", "sha3_384"] as const;
type Digest = "md5" | "sha256" | "sha384";

/** The shared key in the forms the handshake needs. */
export interface PythonKey {
  /** The key's bytes (HMAC-MD5 is computed here, not by WebCrypto). */
  readonly raw: Uint8Array;
  readonly sha256: CryptoKey;
  readonly sha384: CryptoKey;
}

/**
 * Prepares the god's key for Python peers: the UTF-8 bytes of the key string
 * (what a seed-style script passes as `authkey=b"..."`), so there is one secret.
 *
 * @example
 * ```ts
 * const key = await importPythonKey("www.17python.com");
 * ```
 */
export async function importPythonKey(authkey: string | Uint8Array): Promise<PythonKey> {
  const raw = typeof authkey === "string" ? encoder.encode(authkey) : new Uint8Array(authkey);
  if (raw.length === 0) throw new ArgumentError("Cannot use an empty authkey");
  const load = (hash: string) =>
    crypto.subtle.importKey(
      "raw",
      raw as Uint8Array<ArrayBuffer>,
      { name: "HMAC", hash },
      false,
      ["sign", "verify"],
    );
  return { raw, sha256: await load("SHA-256"), sha384: await load("SHA-384") };
}

/** What the handshake learned about the peer's Python, for guessing its version. */
export interface AuthFacts {
  /** How the peer answered the door's challenge: raw MD5 (≤ 3.11) or a named digest (≥ 3.12). */
  answeredWith: "md5-raw" | Digest;
  /** The peer's own challenge: 20 bytes (≤ 3.11) or `{digest}`-prefixed (≥ 3.12). */
  challengedWith: "legacy" | Digest;
}

/** One step of {@link ServerAuth}: bytes to send, and whether it is over. */
export interface AuthStep {
  /** Message bodies to send, in order (frame each with `encodePyFrame`). */
  send: Uint8Array[];
  /** Set once both directions succeeded. */
  done?: AuthFacts;
  /** Set when the handshake failed: send `send`, then close. */
  error?: AuthError | ProtocolError;
}

/**
 * The server's side of the handshake as a state machine: {@link ServerAuth.start}
 * gives the challenge, then each message from the peer goes to
 * {@link ServerAuth.receive}, which resolves with what to send next.
 *
 * @example
 * ```ts
 * const auth = new ServerAuth(key);
 * send(auth.start());
 * const step = await auth.receive(body); // send step.send; done or error ends it
 * ```
 */
export class ServerAuth {
  readonly #key: PythonKey;
  readonly #legacy: boolean;
  #message: Uint8Array | null = null;
  #state: "new" | "answer" | "challenge" | "welcome" | "over" = "new";
  #answeredWith: AuthFacts["answeredWith"] = "md5-raw";
  #challengedWith: AuthFacts["challengedWith"] = "legacy";

  /**
   * `legacy: true` sends a 20-byte challenge as Python ≤ 3.11 does (tests
   * use it); the default is the `{sha256}` challenge of Python ≥ 3.12, which
   * every version answers.
   */
  constructor(key: PythonKey, options: { legacy?: boolean } = {}) {
    this.#key = key;
    this.#legacy = options.legacy ?? false;
  }

  /** The first message: `#CHALLENGE#` and a fresh random message. */
  start(random: Uint8Array = crypto.getRandomValues(new Uint8Array(MODERN_RANDOM))): Uint8Array {
    if (this.#state !== "new") {
      throw new TaskwireError(ErrorCode.Internal, "ServerAuth.start() called twice");
    }
    this.#state = "answer";
    this.#message = this.#legacy
      ? random.slice(0, LEGACY_LENGTH)
      : concat(encoder.encode("{sha256}"), random.slice(0, MODERN_RANDOM));
    return concat(CHALLENGE, this.#message);
  }

  /** Takes the peer's next message; resolves with what to send (and whether it is over). */
  async receive(body: Uint8Array): Promise<AuthStep> {
    switch (this.#state) {
      case "answer":
        return await this.#checkAnswer(body);
      case "challenge":
        return await this.#answerChallenge(body);
      case "welcome":
        return this.#checkWelcome(body);
      default:
        throw new TaskwireError(
          ErrorCode.Internal,
          `ServerAuth.receive() called in state ${this.#state}`,
        );
    }
  }

  async #checkAnswer(answer: Uint8Array): Promise<AuthStep> {
    const message = this.#message!;
    this.#state = "challenge";
    const parsed = parseDigest(answer);
    let ok = false;
    if (parsed === null || "unsupported" in parsed) {
      ok = false;
    } else if (parsed.digest === "md5") {
      this.#answeredWith = parsed.legacy ? "md5-raw" : "md5";
      ok = parsed.mac.length === MD5_LENGTH &&
        constantTimeEqual(hmacMd5(this.#key.raw, message), parsed.mac);
    } else {
      this.#answeredWith = parsed.digest;
      ok = await crypto.subtle.verify(
        "HMAC",
        this.#key[parsed.digest],
        parsed.mac as Uint8Array<ArrayBuffer>,
        message as Uint8Array<ArrayBuffer>,
      );
    }
    if (!ok) {
      this.#state = "over";
      const why = parsed !== null && "unsupported" in parsed
        ? `it answered with digest "${parsed.unsupported}", which the door does not support`
        : "its answer to the challenge is wrong";
      return {
        send: [FAILURE],
        error: new AuthError(
          ErrorCode.AuthFailed,
          `Cannot authenticate a Python peer: ${why} (is its authkey the god's key?)`,
        ),
      };
    }
    return { send: [WELCOME] };
  }

  async #answerChallenge(body: Uint8Array): Promise<AuthStep> {
    if (!startsWith(body, CHALLENGE)) {
      return this.#protocolError("expected its #CHALLENGE# after #WELCOME#");
    }
    const message = body.subarray(CHALLENGE.length);
    if (message.length < LEGACY_LENGTH) {
      return this.#protocolError(`its challenge has ${message.length} bytes (at least 20)`);
    }
    const parsed = parseDigest(message);
    if (parsed === null) {
      return this.#protocolError("its challenge names no digest and is not 20 bytes long");
    }
    if ("unsupported" in parsed) {
      return this.#protocolError(
        `its challenge asks for digest "${parsed.unsupported}"; the door answers md5, sha256 and sha384`,
      );
    }
    this.#state = "welcome";
    if (parsed.legacy) {
      this.#challengedWith = "legacy";
      return { send: [hmacMd5(this.#key.raw, message)] };
    }
    this.#challengedWith = parsed.digest;
    const mac = parsed.digest === "md5" ? hmacMd5(this.#key.raw, message) : new Uint8Array(
      await crypto.subtle.sign(
        "HMAC",
        this.#key[parsed.digest],
        message as Uint8Array<ArrayBuffer>,
      ),
    );
    return { send: [concat(encoder.encode(`{${parsed.digest}}`), mac)] };
  }

  #checkWelcome(body: Uint8Array): AuthStep {
    this.#state = "over";
    if (equal(body, WELCOME)) {
      return {
        send: [],
        done: { answeredWith: this.#answeredWith, challengedWith: this.#challengedWith },
      };
    }
    return {
      send: [],
      error: new AuthError(
        ErrorCode.AuthFailed,
        equal(body, FAILURE)
          ? "Cannot authenticate to a Python peer: it rejected the door's answer to its challenge"
          : "Cannot authenticate a Python peer: expected #WELCOME# or #FAILURE# after answering its challenge",
      ),
    };
  }

  #protocolError(why: string): AuthStep {
    this.#state = "over";
    return {
      send: [],
      error: new ProtocolError(ErrorCode.BadMessage, `Cannot authenticate a Python peer: ${why}`),
    };
  }
}

/**
 * Python's `_get_digest_name_and_payload`: 16 or 20 bytes are legacy (MD5,
 * no prefix); otherwise a `{name}` prefix names the digest. Null when there
 * is neither.
 */
function parseDigest(
  message: Uint8Array,
): { digest: Digest; mac: Uint8Array; legacy: boolean } | { unsupported: string } | null {
  if (message.length === MD5_LENGTH || message.length === LEGACY_LENGTH) {
    return { digest: "md5", mac: message, legacy: true };
  }
  if (message[0] !== 0x7b /* { */) return null;
  const longest = Math.max(...PYTHON_DIGESTS.map((d) => d.length));
  const close = message.subarray(1, longest + 2).indexOf(0x7d /* } */);
  if (close < 1) return null;
  const name = String.fromCharCode(...message.subarray(1, close + 1));
  if (!(PYTHON_DIGESTS as readonly string[]).includes(name)) return null;
  const mac = message.subarray(close + 2);
  if (name === "md5" || name === "sha256" || name === "sha384") {
    return { digest: name, mac, legacy: false };
  }
  return { unsupported: name };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && startsWith(a, b);
}

/**
 * Narrows the Python version from the peer's own challenge (20 bytes up to
 * 3.11, `{sha256}` from 3.12) and its first pickle's protocol (3 up to 3.7,
 * 4 from 3.8, 5 from 3.14). "python" when they do not fit together.
 */
export function guessPythonVersion(facts: AuthFacts | null, pickleProtocol: number | null): string {
  if (facts === null || pickleProtocol === null) return "python";
  if (facts.challengedWith === "legacy") {
    if (pickleProtocol === 3) return "python <=3.7";
    if (pickleProtocol === 4) return "python 3.8-3.11";
  } else if (facts.challengedWith === "sha256") {
    if (pickleProtocol === 4) return "python 3.12-3.13";
    if (pickleProtocol === 5) return "python >=3.14";
  }
  return "python";
}
