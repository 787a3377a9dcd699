/**
 * Checking what clients send, one checker per operation, before a backend
 * acts on it: every door (TCP, HTTP, in-process, Python) hands its request's
 * fields here, as received, and gets a typed request or a `bad_argument`
 * {@link RemoteError} naming the bad field. Defaults and bounds come from
 * lib/protocol/limits.ts.
 */
import { ErrorCode, LimitError, RemoteError } from "../protocol/errors.ts";
import { BOUNDS, DEFAULTS } from "../protocol/limits.ts";
import { utf8Length } from "../protocol/messages.ts";
import { checkBackoff } from "./options.ts";
import { checkScheduleRequest, type ScheduleRequest } from "./schedules.ts";
import type { PutItem, QueueOptions } from "./types.ts";

/** Longest timeout, delay or lease: a day. */
export const MAX_TIMEOUT_MS = BOUNDS.maxDurationMs;
/** Longest job id a client may choose. */
export const MAX_ID_LENGTH = BOUNDS.maxIdLength;

function bad(message: string): RemoteError {
  return new RemoteError(ErrorCode.BadArgument, message);
}

/** A short, quoted rendering of a value a client sent, for error messages. */
function shown(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Checks a duration argument: a finite number of milliseconds within a day. */
export function checkDuration(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > MAX_TIMEOUT_MS) {
    throw bad(
      `Invalid ${what}: ${shown(value)} (expected milliseconds from 0 to ${MAX_TIMEOUT_MS})`,
    );
  }
  return value;
}

/** A duration that may be left out (then `fallback`). */
function optionalDuration(value: unknown, what: string, fallback: number): number {
  return value === undefined || value === null ? fallback : checkDuration(value, what);
}

/** Checks an integer argument within `[min, max]`; left out, it is `fallback`. */
function integer(
  value: unknown,
  what: string,
  min: number,
  max: number,
  fallback?: number,
): number {
  if ((value === undefined || value === null) && fallback !== undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw bad(`Invalid ${what}: ${shown(value)} (expected an integer from ${min} to ${max})`);
  }
  return value;
}

/** Checks that a queue is named by a string (the backend checks the name itself when it creates one). */
export function checkQueue(value: unknown): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 200) {
    throw bad(`Invalid queue name: ${shown(value)} (1 to 200 characters)`);
  }
  return value;
}

/** Checks a lease tag: a positive integer. */
export function checkTag(value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw bad(`Invalid lease tag: ${shown(value)} (expected a positive integer)`);
  }
  return value;
}

// -- one checker per operation --

/** `put`/`putMany`: jobs for one queue; waits up to `timeoutMs` while the queue is full. */
export interface PutRequest {
  queue: string;
  items: PutItem[];
  timeoutMs: number;
  /** Ids of the items put with `call: true` (their caller waits for their results), or null. */
  called: string[] | null;
}

/**
 * A put as a door received it: `items[i]` holds the fields of job `i`
 * (`{id?, priority?, delay?, call?}`, as sent) and `payloads[i]` its stored text.
 */
export interface RawPut {
  queue: unknown;
  items: readonly unknown[];
  payloads: readonly string[];
  timeout?: unknown;
}

/**
 * Checks a put. `makeId(i)` names item `i` when the client gave it no id
 * (each door has its own rule, see docs/PROTOCOL.md); `maxPayloadBytes` bounds
 * each payload's UTF-8 size. An item with `call: true` is a called task: its
 * job's `replyTo` is `replyTo` (the caller's id).
 *
 * @example
 * ```ts
 * checkPut({ queue: "tasks", items: [{}], payloads: ['{"json":1}'] }, (i) => `x-${i}`, 1 << 20);
 * ```
 */
export function checkPut(
  raw: RawPut,
  makeId: (index: number) => string,
  maxPayloadBytes: number,
  replyTo?: string,
): PutRequest {
  const queue = checkQueue(raw.queue);
  const { items: fields, payloads } = raw;
  if (fields.length !== payloads.length) {
    throw bad(`Invalid put: ${fields.length} items but ${payloads.length} payloads`);
  }
  const items: PutItem[] = new Array(fields.length);
  let called: string[] | null = null;
  for (let i = 0; i < fields.length; i++) {
    const f = (typeof fields[i] === "object" && fields[i] !== null ? fields[i] : {}) as {
      id?: unknown;
      priority?: unknown;
      delay?: unknown;
      call?: unknown;
      backoff?: unknown;
    };
    const id = f.id === undefined || f.id === null ? makeId(i) : f.id;
    if (typeof id !== "string" || id.length === 0 || id.length > MAX_ID_LENGTH) {
      throw bad(`Invalid job id: ${shown(id)} (1 to ${MAX_ID_LENGTH} characters)`);
    }
    const priority = f.priority ?? 0;
    if (typeof priority !== "number" || !Number.isSafeInteger(priority)) {
      throw bad(`Invalid priority: ${shown(priority)} (expected an integer)`);
    }
    const payload = payloads[i];
    const size = utf8Bound(payload, maxPayloadBytes);
    if (size > maxPayloadBytes) {
      throw new LimitError(
        "payload",
        `Cannot put: a payload of ${size} bytes exceeds maxPayloadBytes ${maxPayloadBytes}`,
      );
    }
    items[i] = { id, payload, priority, delayMs: optionalDuration(f.delay, "delay", 0) };
    if (f.backoff !== undefined && f.backoff !== null) {
      items[i].backoff = checkBackoff(
        f.backoff,
        (what, value, expected) =>
          bad(`Invalid ${what} for job ${shown(id)}: ${shown(value)} (expected ${expected})`),
      );
    }
    if (f.call === true) {
      if (replyTo === undefined) throw bad("Invalid put: this door cannot wait for results (call)");
      items[i].replyTo = replyTo;
      (called ??= []).push(id);
    }
  }
  return {
    queue,
    items,
    timeoutMs: optionalDuration(raw.timeout, "timeout", DEFAULTS.putTimeoutMs),
    called,
  };
}

/**
 * The UTF-8 size of `text`, computed only when it matters: a string of n
 * UTF-16 units takes n to 3n bytes, so most payloads are settled by length.
 */
function utf8Bound(text: string, limit: number): number {
  if (text.length * 3 <= limit || text.length > limit) return text.length;
  return utf8Length(text);
}

/**
 * Refuses a put (or complete) of more than `max` jobs in one request
 * (`maxPutItems`): each stores a job, so one request stays a few
 * milliseconds of work. Doors call it before they unpack the items.
 */
export function checkPutCount(count: number, max: number, verb: "put" | "complete"): void {
  if (count > max) {
    throw new LimitError(
      "putItems",
      `Cannot ${verb} ${count} jobs in one request: the limit is ${max} (maxPutItems); split it`,
    );
  }
}

/** `get`: lease up to `max` jobs, waiting up to `timeoutMs` for the first. */
export interface GetRequest {
  queue: string;
  timeoutMs: number;
  max: number;
}

export function checkGet(raw: { queue: unknown; timeout?: unknown; max?: unknown }): GetRequest {
  return {
    queue: checkQueue(raw.queue),
    timeoutMs: optionalDuration(raw.timeout, "timeout", 0),
    max: integer(raw.max, "max", 1, BOUNDS.maxGetJobs, 1),
  };
}

/** `consume`: push jobs, at most `prefetch` unacked at a time. */
export interface ConsumeRequest {
  queue: string;
  prefetch: number;
}

export function checkConsume(raw: { queue: unknown; prefetch?: unknown }): ConsumeRequest {
  return {
    queue: checkQueue(raw.queue),
    prefetch: integer(raw.prefetch, "prefetch", 1, BOUNDS.maxPrefetch, DEFAULTS.prefetch),
  };
}

/** `ack`: finish leased jobs. */
export interface AckRequest {
  tags: number[];
}

export function checkAck(raw: { tags: unknown }, maxTags: number): AckRequest {
  const tags = raw.tags;
  if (!Array.isArray(tags)) throw bad(`Invalid ack: tags must be an array of integers`);
  if (tags.length > maxTags) {
    throw new LimitError(
      "ackTags",
      `Cannot ack ${tags.length} tags in one request: the limit is ${maxTags} (maxAckTags); split it`,
    );
  }
  for (const tag of tags) {
    if (!Number.isSafeInteger(tag)) {
      throw bad(`Invalid ack: tags must be integers, not ${shown(tag)}`);
    }
  }
  return { tags: tags as number[] };
}

/** One finished job of a `complete`: its lease, and where its result goes (if it has one). */
export interface Completion {
  tag: number;
  /** The result's stored text, or null for none (a plain ack). */
  result: string | null;
  /** The queue for the result (default: the caller, for a called task; else `<queue>.results`). */
  queue: string | null;
  /** The result's id (default `result:<task id>`, which names the task it answers). */
  id: string | null;
}

/**
 * `complete`: finish leased jobs, each with its result stored in the same
 * step. As a door received it: `items[i]` holds `{tag, q?, id?}`, and
 * `results[i]` the result's text, or "" for none.
 */
export interface RawComplete {
  items: readonly unknown[];
  results: readonly string[];
}

export function checkComplete(
  raw: RawComplete,
  maxTags: number,
  maxPayloadBytes: number,
): Completion[] {
  const { items, results } = raw;
  if (!Array.isArray(items) || items.length !== results.length) {
    throw bad("Invalid complete: items must be an array with one result each");
  }
  if (items.length > maxTags) {
    throw new LimitError(
      "ackTags",
      `Cannot complete ${items.length} jobs in one request: the limit is ${maxTags} (maxAckTags); split it`,
    );
  }
  const out: Completion[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const f = (typeof items[i] === "object" && items[i] !== null ? items[i] : {}) as {
      tag?: unknown;
      q?: unknown;
      id?: unknown;
    };
    const id = f.id === undefined || f.id === null ? null : f.id;
    if (id !== null && (typeof id !== "string" || id.length === 0 || id.length > MAX_ID_LENGTH)) {
      throw bad(`Invalid result id: ${shown(id)} (1 to ${MAX_ID_LENGTH} characters)`);
    }
    const result = results[i] === "" ? null : results[i];
    if (result !== null) {
      const size = utf8Bound(result, maxPayloadBytes);
      if (size > maxPayloadBytes) {
        throw new LimitError(
          "payload",
          `Cannot complete: a result of ${size} bytes exceeds maxPayloadBytes ${maxPayloadBytes}`,
        );
      }
    }
    out[i] = {
      tag: checkTag(f.tag),
      result,
      queue: f.q === undefined || f.q === null ? null : checkQueue(f.q),
      id: id as string | null,
    };
  }
  return out;
}

/** `forget`: the caller waits no more for the results of these called tasks. */
export function checkForget(raw: { ids: unknown }): string[] {
  const ids = raw.ids;
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === "string")) {
    throw bad("Invalid forget: ids must be an array of strings");
  }
  return ids as string[];
}

/** `nack`: hand a leased job back, ready again after `delayMs` (null: as its retry policy says). */
export interface NackRequest {
  tag: number;
  delayMs: number | null;
}

export function checkNack(raw: { tag: unknown; delay?: unknown }): NackRequest {
  return {
    tag: checkTag(raw.tag),
    delayMs: raw.delay === undefined || raw.delay === null
      ? null
      : checkDuration(raw.delay, "delay"),
  };
}

/** `fail`: send a leased job to the dead-letter queue with a reason. */
export interface FailRequest {
  tag: number;
  reason: string;
}

export function checkFail(raw: { tag: unknown; reason: unknown }): FailRequest {
  const reason = typeof raw.reason === "string" ? raw.reason : shown(raw.reason);
  return { tag: checkTag(raw.tag), reason: reason.slice(0, BOUNDS.maxReasonLength) };
}

/** `touch`: extend a lease. */
export interface TouchRequest {
  tag: number;
}

export function checkTouch(raw: { tag: unknown }): TouchRequest {
  return { tag: checkTag(raw.tag) };
}

/** `stats`: of the whole god, or of one queue. */
export interface StatsRequest {
  queue?: string;
}

export function checkStats(raw: { queue?: unknown }): StatsRequest {
  return raw.queue === undefined || raw.queue === null || raw.queue === ""
    ? {}
    : { queue: checkQueue(raw.queue) };
}

/** `peek` and the dead-letter listing: up to `limit` jobs, left in place. */
export interface ListRequest {
  queue: string;
  limit: number;
}

export function checkPeek(raw: { queue: unknown; limit?: unknown }): ListRequest {
  return {
    queue: checkQueue(raw.queue),
    limit: integer(raw.limit, "count", 0, BOUNDS.maxListed, DEFAULTS.peekLimit),
  };
}

export function checkDeadList(raw: { queue: unknown; limit?: unknown }): ListRequest {
  return {
    queue: checkQueue(raw.queue),
    limit: integer(raw.limit, "count", 0, BOUNDS.maxListed, DEFAULTS.deadListLimit),
  };
}

/** `dead requeue`: move dead letters (all, or those with `ids`) back to their queue. */
export interface RequeueRequest {
  queue: string;
  ids: string[] | null;
}

export function checkRequeue(raw: { queue: unknown; ids?: unknown }): RequeueRequest {
  return checkIds(raw, "requeue");
}

/** A queue and the ids of some of its jobs (null: all of them), for `what` ("requeue", "delete"). */
function checkIds(raw: { queue: unknown; ids?: unknown }, what: string): RequeueRequest {
  const ids = raw.ids === undefined || raw.ids === null ? null : raw.ids;
  if (ids !== null && (!Array.isArray(ids) || !ids.every((id) => typeof id === "string"))) {
    throw bad(`Invalid ${what}: ids must be an array of strings`);
  }
  return { queue: checkQueue(raw.queue), ids: ids as string[] | null };
}

/** `purge`: remove a queue's waiting jobs. */
export interface PurgeRequest {
  queue: string;
}

export function checkPurge(raw: { queue: unknown }): PurgeRequest {
  return { queue: checkQueue(raw.queue) };
}

/** `declare`: create a queue or change its options. */
export interface DeclareRequest {
  queue: string;
  options: Partial<QueueOptions>;
}

export function checkDeclare(raw: { queue: unknown; options?: unknown }): DeclareRequest {
  const options = raw.options ?? {};
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw bad(`Invalid declare: options must be an object`);
  }
  return { queue: checkQueue(raw.queue), options: options as Partial<QueueOptions> };
}

/** `progress`: what a leased job says of how far it got (superjson text). */
export interface ProgressRequest {
  tag: number;
  value: string;
}

export function checkProgress(
  raw: { tag: unknown; value: string },
  maxProgressBytes: number,
): ProgressRequest {
  const tag = checkTag(raw.tag);
  const size = utf8Bound(raw.value, maxProgressBytes);
  if (size > maxProgressBytes) {
    throw new LimitError(
      "progress",
      `Cannot report progress: a value of ${size} bytes exceeds maxProgressBytes ${maxProgressBytes}; report a number or a small object (a result carries large data)`,
    );
  }
  if (raw.value === "") throw bad("Invalid progress: a value is required");
  return { tag, value: raw.value };
}

/** The jobs of a queue in flight, up to `limit`. */
export function checkInFlight(raw: { queue: unknown; limit?: unknown }): ListRequest {
  return checkPeek(raw);
}

/** `dead delete`: delete dead letters (all, or those with `ids`) of a queue. */
export function checkDeadDelete(raw: { queue: unknown; ids?: unknown }): RequeueRequest {
  return checkIds(raw, "delete");
}

/** `pause` and `resume`: a queue. */
export function checkPause(raw: { queue: unknown }): { queue: string } {
  return { queue: checkQueue(raw.queue) };
}

/**
 * A schedule as a door received it: `{name, queue, cron?, timezone?, every?,
 * priority?, catchUp?}`, and the value's stored text.
 */
export interface RawSchedule {
  fields: unknown;
  payload: string;
}

export function checkSchedule(raw: RawSchedule, maxPayloadBytes: number): ScheduleRequest {
  const f = (typeof raw.fields === "object" && raw.fields !== null ? raw.fields : {}) as Record<
    string,
    unknown
  >;
  const size = utf8Bound(raw.payload, maxPayloadBytes);
  if (size > maxPayloadBytes) {
    throw new LimitError(
      "payload",
      `Cannot schedule: a value of ${size} bytes exceeds maxPayloadBytes ${maxPayloadBytes}`,
    );
  }
  return checkScheduleRequest({
    name: f.name as string,
    queue: f.queue as string,
    cron: (f.cron ?? null) as string | null,
    timezone: (f.timezone ?? null) as string | null,
    everyMs: (f.every ?? null) as number | null,
    payload: raw.payload === "" ? '{"json":null}' : raw.payload,
    priority: (f.priority ?? 0) as number,
    catchUp: (f.catchUp ?? false) as boolean,
  });
}

/** `unschedule`: a schedule's name. */
export function checkUnschedule(raw: { name: unknown }): { name: string } {
  if (typeof raw.name !== "string" || raw.name.length === 0 || raw.name.length > 200) {
    throw bad(`Invalid schedule name: ${shown(raw.name)} (1 to 200 characters)`);
  }
  return { name: raw.name };
}
