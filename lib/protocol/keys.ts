/**
 * Worker keys: keys derived from the god's key that may only take and finish
 * jobs of named queues and put to named result queues, for workers that
 * should not hold the key that can purge queues (an edge function, a browser
 * page). The god stores nothing for them: like the viewer token, a worker
 * key is computed from the god's key, here over its scope.
 *
 * ```
 * scope text = base64url(JSON {consume: [queue…], put: [queue…]})
 * worker key = "twk1." ‖ scope text ‖ "." ‖ base64url(HMAC-SHA256(god key, "taskwire worker key\n" ‖ scope text))
 * ```
 *
 * A worker uses the whole worker key as its key (the handshake's and the HTTP
 * signatures' HMAC key) and sends the scope text along; the god recomputes
 * the worker key from the scope text, so a changed scope fails the proof.
 */
import { ArgumentError, AuthError, ErrorCode } from "./errors.ts";
import { fromBase64url, toBase64url } from "../util/base64.ts";

/**
 * Imports a shared key (a string as typed by users, or raw bytes) for HMAC-SHA256.
 *
 * @example
 * ```ts
 * const key = await importAuthKey(Deno.env.get("TASKWIRE_AUTHKEY")!);
 * ```
 */
export function importAuthKey(authkey: string | Uint8Array): Promise<CryptoKey> {
  const raw = typeof authkey === "string" ? encoder.encode(authkey) : authkey;
  if (raw.length === 0) throw new ArgumentError("Cannot use an empty key: give the god's key");
  if (globalThis.crypto?.subtle === undefined) {
    throw new ArgumentError(
      "WebCrypto is not available here: use HTTPS or localhost (browsers offer crypto.subtle only to secure contexts)",
    );
  }
  return crypto.subtle.importKey(
    "raw",
    raw as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
}

/** Makes a strong random key (32 random bytes, base64url) for a god started without one. */
export function generateAuthKey(): string {
  return toBase64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** Keys shorter than this (in characters) are warned about. */
export const MIN_KEY_LENGTH = 16;
/** Keys with less estimated entropy than this (in bits) are warned about. */
export const MIN_KEY_BITS = 64;

/**
 * Why a shared key is easy to guess, if it is: shorter than
 * {@link MIN_KEY_LENGTH} characters, or with less than {@link MIN_KEY_BITS}
 * bits of entropy by a rough estimate (how varied its characters are, times
 * its length), which catches repeats like "aaaaaaaaaaaaaaaaaaaa". A sniffed
 * handshake lets anyone try keys offline at the speed of HMAC, so a short or
 * plain key falls in seconds. Worker keys are derived, hence strong. Returns
 * one line per weakness, empty for a good key.
 *
 * @example
 * ```ts
 * keyWarnings("secret"); // ["the key is only 6 characters long ..."]
 * keyWarnings(generateAuthKey()); // []
 * ```
 */
export function keyWarnings(authkey: string): string[] {
  if (authkey.startsWith(WORKER_KEY_PREFIX)) return [];
  const warnings: string[] = [];
  const length = [...authkey].length;
  if (length < MIN_KEY_LENGTH) {
    warnings.push(
      `the key is only ${length} characters long: anyone who records one handshake can find it offline in moments`,
    );
  }
  const bits = Math.round(estimatedBits(authkey));
  if (length >= MIN_KEY_LENGTH && bits < MIN_KEY_BITS) {
    warnings.push(
      `the key looks easy to guess (about ${bits} bits: few different characters, or repeats)`,
    );
  }
  return warnings;
}

/** How to make a good key, for messages. */
export const GOOD_KEY_HINT =
  "use 32 random bytes, e.g. `openssl rand -base64 32`, or start a god without a key and use the one it makes (docs/SECURITY.md)";

/** A rough entropy estimate: the Shannon entropy of the key's characters, times its length. */
function estimatedBits(text: string): number {
  const chars = [...text];
  const counts = new Map<string, number>();
  for (const c of chars) counts.set(c, (counts.get(c) ?? 0) + 1);
  let perChar = 0;
  for (const n of counts.values()) {
    const p = n / chars.length;
    perChar -= p * Math.log2(p);
  }
  return perChar * chars.length;
}

/** What a worker key may do. */
export interface WorkerScope {
  /** Queues whose jobs it may take (get, consume) and finish (ack, nack, fail, touch). */
  consume: string[];
  /** Queues it may put to. */
  put: string[];
  /**
   * Queues it may manage: read their stats and jobs (waiting, in flight,
   * dead), pause and resume, purge, requeue and delete dead letters, and
   * schedule jobs on (an operator's key for the dashboard). Absent: none.
   */
  manage?: string[];
}

/** The prefix of every worker key. */
export const WORKER_KEY_PREFIX = "twk1.";
const LABEL = "taskwire worker key\n";
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const QUEUE = /^[A-Za-z0-9_.:-]{1,200}$/;
/** Most queues one scope may name. */
const MAX_SCOPE_QUEUES = 64;

/** Checks a scope's queue lists; throws an {@link ArgumentError} naming the bad one. */
export function checkScope(scope: WorkerScope): WorkerScope {
  const lists = [["consume", scope.consume], ["put", scope.put], [
    "manage",
    scope.manage ?? [],
  ]] as const;
  for (const [what, queues] of lists) {
    if (!Array.isArray(queues) || queues.length > MAX_SCOPE_QUEUES) {
      throw new ArgumentError(
        `Invalid worker key scope: ${what} must list at most ${MAX_SCOPE_QUEUES} queues`,
      );
    }
    for (const queue of queues) {
      if (typeof queue !== "string" || !QUEUE.test(queue)) {
        throw new ArgumentError(
          `Invalid worker key scope: ${
            JSON.stringify(queue)
          } is not a queue name (1-200 of A-Z a-z 0-9 _ . : -)`,
        );
      }
    }
  }
  const manage = scope.manage ?? [];
  if (scope.consume.length + scope.put.length + manage.length === 0) {
    throw new ArgumentError(
      "Invalid worker key scope: name at least one queue to take jobs from, put to or manage",
    );
  }
  const checked: WorkerScope = { consume: [...scope.consume], put: [...scope.put] };
  if (manage.length > 0) checked.manage = [...manage];
  return checked;
}

/** The scope text of a scope (what a worker sends along, and what the key's MAC covers). */
export function scopeText(scope: WorkerScope): string {
  // `manage` only when there is one: the scope texts of keys made before it stay the same.
  const fields: WorkerScope = { consume: scope.consume, put: scope.put };
  if (scope.manage !== undefined && scope.manage.length > 0) fields.manage = scope.manage;
  return toBase64url(encoder.encode(JSON.stringify(fields)));
}

/** Reads a scope text; throws an {@link AuthError} when it is not one. */
export function parseScope(text: string): WorkerScope {
  const bytes = fromBase64url(text, 20_000);
  let parsed: unknown = null;
  try {
    if (bytes !== null) parsed = JSON.parse(decoder.decode(bytes));
  } catch {
    parsed = null;
  }
  const candidate = parsed as Partial<WorkerScope> | null;
  try {
    if (candidate === null || typeof candidate !== "object") {
      throw new ArgumentError("not an object");
    }
    return checkScope({
      consume: candidate.consume ?? [],
      put: candidate.put ?? [],
      manage: candidate.manage ?? [],
    });
  } catch {
    throw new AuthError(
      ErrorCode.AuthFailed,
      "authentication failed: the worker key's scope is not valid",
    );
  }
}

/** The scope text of a worker key, or null for a key that is not one. */
export function scopeOfKey(authkey: string | Uint8Array | CryptoKey): string | null {
  if (typeof authkey !== "string" || !authkey.startsWith(WORKER_KEY_PREFIX)) return null;
  const rest = authkey.slice(WORKER_KEY_PREFIX.length);
  const dot = rest.lastIndexOf(".");
  return dot > 0 ? rest.slice(0, dot) : null;
}

async function workerKeyText(godKey: CryptoKey, text: string): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", godKey, encoder.encode(LABEL + text));
  return `${WORKER_KEY_PREFIX}${text}.${toBase64url(new Uint8Array(mac))}`;
}

/**
 * Makes a worker key from the god's key (as given to the god, or as
 * imported by {@link importAuthKey}). A worker key cannot make others.
 *
 * @example
 * ```ts
 * const key = await makeWorkerKey("the god's key", { consume: ["tasks"], put: ["results"] });
 * ```
 */
export async function makeWorkerKey(
  godKey: string | Uint8Array | CryptoKey,
  scope: WorkerScope,
): Promise<string> {
  if (scopeOfKey(godKey as string) !== null) {
    throw new ArgumentError("Cannot make a worker key from a worker key: use the god's own key");
  }
  const key = godKey instanceof CryptoKey ? godKey : await importAuthKey(godKey);
  return workerKeyText(key, scopeText(checkScope(scope)));
}

/** What a scope allows, in words: "take and finish jobs of tasks; put to results". */
export function describeScope(scope: WorkerScope): string {
  const parts = [];
  if (scope.consume.length > 0) parts.push(`take and finish jobs of ${scope.consume.join(", ")}`);
  if (scope.put.length > 0) parts.push(`put to ${scope.put.join(", ")}`);
  if ((scope.manage ?? []).length > 0) parts.push(`manage ${scope.manage!.join(", ")}`);
  return parts.join("; ");
}

/** Most derived keys a god keeps imported. */
const CACHE = 1024;

/**
 * The god's keys: its own, and the worker keys derived from it on demand
 * (imported once, then kept; the oldest are dropped past {@link CACHE}).
 */
export class KeyRing {
  /** The god's own key. */
  readonly key: CryptoKey;
  readonly #derived = new Map<string, Promise<{ key: CryptoKey; scope: WorkerScope }>>();

  constructor(key: CryptoKey) {
    this.key = key;
  }

  /**
   * The key a peer that sent `scope` (a worker key's scope text) must know,
   * and what it may do; the god's own key and no scope when `scope` is absent.
   */
  keyFor(scope: string | undefined | null): Promise<{ key: CryptoKey; scope: WorkerScope | null }> {
    if (scope === undefined || scope === null || scope === "") {
      return Promise.resolve({ key: this.key, scope: null });
    }
    let derived = this.#derived.get(scope);
    if (derived === undefined) {
      const parsed = parseScope(scope);
      derived = workerKeyText(this.key, scope).then(async (text) => ({
        key: await importAuthKey(text),
        scope: parsed,
      }));
      if (this.#derived.size >= CACHE) this.#derived.delete(this.#derived.keys().next().value!);
      this.#derived.set(scope, derived);
    }
    return derived;
  }
}
