/**
 * A queue's options: their defaults, and the one check every backend applies
 * when a queue is declared or changed.
 */
import { ErrorCode, RemoteError } from "../protocol/errors.ts";
import { BOUNDS } from "../protocol/limits.ts";
import type { Backoff, QueueOptions, RateLimit } from "./types.ts";

const MAX_TIMEOUT_MS = BOUNDS.maxDurationMs;
/** Most jobs a rate limit may allow per window (the broker keeps the time of each). */
export const MAX_RATE_COUNT = 100_000;

/** What a queue name may be made of. */
export const QUEUE_NAME: RegExp = /^[A-Za-z0-9_.:-]{1,200}$/;

/**
 * Defaults for a queue named `name`: unbounded, 30 s leases, 5 attempts, dead
 * letters to `<name>.dead` (a queue whose name ends in `.dead` has none).
 */
export function defaultQueueOptions(name: string): QueueOptions {
  return {
    maxsize: 0,
    leaseMs: 30_000,
    maxAttempts: 5,
    deadLetter: name.endsWith(".dead") ? null : `${name}.dead`,
    paused: false,
    rateLimit: null,
    backoff: null,
  };
}

/** Throws `bad_argument` unless `name` is a valid queue name. */
export function checkQueueName(name: unknown): string {
  if (typeof name !== "string" || !QUEUE_NAME.test(name)) {
    throw new RemoteError(
      ErrorCode.BadArgument,
      `Invalid queue name ${JSON.stringify(name)?.slice(0, 80)}: use 1-200 of A-Z a-z 0-9 _ . : -`,
    );
  }
  return name;
}

/**
 * The options a queue has after a declare: the defaults, overlaid by what it
 * has now (`current`), overlaid by what is `given`; checked as a whole.
 * Throws `bad_argument` naming the bad option.
 *
 * @example
 * ```ts
 * resolveQueueOptions("tasks", undefined, { maxsize: 100 }).leaseMs; // 30000
 * ```
 */
export function resolveQueueOptions(
  name: string,
  current: QueueOptions | undefined,
  given: Partial<QueueOptions>,
): QueueOptions {
  checkQueueName(name);
  if (typeof given !== "object" || given === null || Array.isArray(given)) {
    throw new RemoteError(
      ErrorCode.BadArgument,
      `Invalid options for queue "${name}": expected an object`,
    );
  }
  const merged: QueueOptions = { ...defaultQueueOptions(name), ...current };
  for (const key of Object.keys(merged) as (keyof QueueOptions)[]) {
    if (given[key] !== undefined) (merged as unknown as Record<string, unknown>)[key] = given[key];
  }
  checkOptions(name, merged);
  return merged;
}

function checkOptions(name: string, options: QueueOptions): void {
  const bad = (what: string, value: unknown, expected: string) =>
    new RemoteError(
      ErrorCode.BadArgument,
      `Invalid ${what} for queue "${name}": ${JSON.stringify(value)} (expected ${expected})`,
    );
  if (!Number.isSafeInteger(options.maxsize) || options.maxsize < 0) {
    throw bad("maxsize", options.maxsize, "an integer ≥ 0");
  }
  if (
    !Number.isSafeInteger(options.leaseMs) || options.leaseMs < 1 ||
    options.leaseMs > MAX_TIMEOUT_MS
  ) {
    throw bad("leaseMs", options.leaseMs, `an integer from 1 to ${MAX_TIMEOUT_MS}`);
  }
  if (!Number.isSafeInteger(options.maxAttempts) || options.maxAttempts < 1) {
    throw bad("maxAttempts", options.maxAttempts, "an integer ≥ 1");
  }
  if (typeof options.paused !== "boolean") throw bad("paused", options.paused, "true or false");
  if (options.rateLimit !== null) {
    const r = options.rateLimit as Partial<RateLimit>;
    if (
      typeof r !== "object" || !Number.isSafeInteger(r.count) || r.count! < 1 ||
      r.count! > MAX_RATE_COUNT || !Number.isSafeInteger(r.perMs) || r.perMs! < 1 ||
      r.perMs! > MAX_TIMEOUT_MS
    ) {
      throw bad(
        "rateLimit",
        r,
        `{count: integer from 1 to ${MAX_RATE_COUNT}, perMs: integer from 1 to ${MAX_TIMEOUT_MS}} or null`,
      );
    }
  }
  if (options.backoff !== null) checkBackoff(options.backoff, bad);
  if (options.deadLetter !== null) {
    if (typeof options.deadLetter !== "string" || !QUEUE_NAME.test(options.deadLetter)) {
      throw bad("deadLetter", options.deadLetter, "a queue name or null");
    }
    if (options.deadLetter === name) throw bad("deadLetter", options.deadLetter, "another queue");
  }
}

/** Checks a retry policy; `bad(what, value, expected)` makes the error. */
export function checkBackoff(
  backoff: unknown,
  bad: (what: string, value: unknown, expected: string) => Error,
): Backoff {
  const b = backoff as Partial<Backoff>;
  const expected =
    `{type: "fixed" or "exponential", delayMs: 0 to ${MAX_TIMEOUT_MS}, maxMs?: ≥ delayMs, jitter?: boolean}`;
  if (
    typeof b !== "object" || b === null || (b.type !== "fixed" && b.type !== "exponential") ||
    !Number.isSafeInteger(b.delayMs) || b.delayMs! < 0 || b.delayMs! > MAX_TIMEOUT_MS ||
    (b.maxMs !== undefined &&
      (!Number.isSafeInteger(b.maxMs) || b.maxMs < b.delayMs! || b.maxMs > MAX_TIMEOUT_MS)) ||
    (b.jitter !== undefined && typeof b.jitter !== "boolean")
  ) {
    throw bad("backoff", backoff, expected);
  }
  return {
    type: b.type,
    delayMs: b.delayMs!,
    maxMs: b.maxMs ?? MAX_TIMEOUT_MS,
    jitter: b.jitter ?? false,
  };
}

/** The wait before the attempt after `attempts` under `backoff` (`random` in [0, 1)). */
export function backoffDelay(backoff: Backoff, attempts: number, random: number): number {
  const raw = backoff.type === "fixed"
    ? backoff.delayMs
    : backoff.delayMs * 2 ** Math.min(Math.max(attempts - 1, 0), 40);
  const capped = Math.min(backoff.maxMs, raw);
  return Math.round(backoff.jitter ? capped / 2 + random * capped / 2 : capped);
}
