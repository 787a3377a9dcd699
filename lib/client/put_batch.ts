/**
 * Puts made in the same turn of the event loop, gathered into batches that
 * travel as one request. Both clients (TCP and HTTP) use it; each says how to
 * ship a batch.
 */
import { ArgumentError } from "../protocol/errors.ts";
import { encodeText } from "../protocol/codec.ts";
import { utf8Length } from "../protocol/messages.ts";
import { MAX_ID_LENGTH } from "../queue/arguments.ts";
import { deferred } from "../util/deferred.ts";
import { nextTurn } from "../util/next_turn.ts";

import type { BackoffOptions, PutOptions } from "./api.ts";

export type { PutOptions };

/** One put as it travels: the job's fields, its superjson text and that text's UTF-8 size. */
export interface PutEntry {
  id: string;
  priority?: number;
  delay?: number;
  /** A called task: the putting client waits for its result. */
  call?: true;
  backoff?: BackoffOptions;
  payload: string;
  bytes: number;
}

/** The fields of a put as a request lists them (the payload travels apart). */
export interface ItemFields {
  id: string;
  priority?: number;
  delay?: number;
  call?: true;
  backoff?: BackoffOptions;
}

/** An entry's fields as a put request lists them (the payload travels apart). */
export function itemFields(entry: PutEntry): ItemFields {
  const fields: ItemFields = { id: entry.id };
  if (entry.priority !== undefined) fields.priority = entry.priority;
  if (entry.delay !== undefined) fields.delay = entry.delay;
  if (entry.call) fields.call = true;
  if (entry.backoff !== undefined) fields.backoff = entry.backoff;
  return fields;
}

/** Ships one batch; resolves once the god has stored it. */
export type SendBatch = (entries: PutEntry[], timeout: number | undefined) => Promise<unknown>;

let idPrefix = "";
let idCounter = 0;
const ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-";

/**
 * Cheap unique ids: a random per-process prefix (10 characters, 60 bits) and
 * a counter, e.g. `k3_Zq9-bT1-2s`. For the first 60 million puts an id has
 * at most 16 characters: V8 stores such a string in 32 bytes (17 to 24 take
 * 40), which adds up with a million jobs queued and their ids remembered.
 */
export function nextId(): string {
  if (idPrefix === "" || idCounter >= 0xffff_ffff) {
    idPrefix = Array.from(crypto.getRandomValues(new Uint8Array(10)), (b) => ID_ALPHABET[b & 63])
      .join("");
    idCounter = 0;
  }
  return `${idPrefix}-${(++idCounter).toString(36)}`;
}

interface Batch {
  entries: PutEntry[];
  bytes: number;
  timeout: number | undefined;
  done: { resolve(): void; reject(error: unknown): void }[];
}

/**
 * Gathers puts until the next turn of the event loop, or until a batch holds
 * `maxItems` jobs or `maxBytes` of payload, then hands each batch to `send`.
 */
export class PutBatcher<T> {
  readonly #send: SendBatch;
  readonly #maxItems: number;
  readonly #maxBytes: number;
  #batch: Batch | null = null;
  readonly #inFlight = new Set<Promise<unknown>>();

  constructor(send: SendBatch, limits: { maxItems: number; maxBytes: number }) {
    this.#send = send;
    this.#maxItems = limits.maxItems;
    this.#maxBytes = limits.maxBytes;
  }

  /** Adds a job; resolves to its id once the god has stored it. */
  put(value: T, options: PutOptions & { call?: true } = {}): Promise<string> {
    try {
      const id = this.#add(value, options);
      const done = deferred<void>();
      this.#batch!.done.push(done);
      return done.promise.then(() => id);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Adds many jobs in as few batches as possible; resolves to their ids. */
  putMany(values: Iterable<T>, options: Omit<PutOptions, "id"> = {}): Promise<string[]> {
    const ids: string[] = [];
    const waits: Promise<void>[] = [];
    try {
      for (const value of values) {
        ids.push(this.#add(value, options));
        const done = deferred<void>();
        this.#batch!.done.push(done);
        waits.push(done.promise);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return Promise.all(waits).then(() => ids);
  }

  /** Sends what is gathered now; resolves once every put made so far has been answered. */
  async flush(): Promise<void> {
    this.#ship();
    await Promise.allSettled([...this.#inFlight]);
  }

  #add(value: T, options: PutOptions & { call?: true }): string {
    const payload = encodeText(value);
    const bytes = utf8Length(payload);
    const id = options.id ?? nextId();
    if (typeof id !== "string" || id.length === 0 || id.length > MAX_ID_LENGTH) {
      throw new ArgumentError(
        `Invalid job id: ${JSON.stringify(id)} (1 to ${MAX_ID_LENGTH} characters)`,
      );
    }
    let batch = this.#batch;
    if (
      batch !== null &&
      (batch.entries.length >= this.#maxItems || batch.bytes + bytes > this.#maxBytes ||
        batch.timeout !== options.timeout)
    ) {
      this.#ship();
      batch = null;
    }
    if (batch === null) {
      batch = this.#batch = { entries: [], bytes: 0, timeout: options.timeout, done: [] };
      nextTurn(() => this.#ship());
    }
    const entry: PutEntry = { id, payload, bytes };
    if (options.priority) entry.priority = options.priority;
    if (options.delay) entry.delay = options.delay;
    if (options.call) entry.call = true;
    if (options.backoff !== undefined) entry.backoff = options.backoff;
    batch.entries.push(entry);
    batch.bytes += bytes;
    return id;
  }

  #ship(): void {
    const batch = this.#batch;
    if (batch === null) return;
    this.#batch = null;
    const sent = this.#send(batch.entries, batch.timeout).then(
      () => {
        for (const d of batch.done) d.resolve();
      },
      (error) => {
        for (const d of batch.done) d.reject(error);
      },
    );
    this.#inFlight.add(sent);
    sent.finally(() => this.#inFlight.delete(sent));
  }
}
