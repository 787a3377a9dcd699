/**
 * A queue's options: their defaults, and the one check every backend applies
 * when a queue is declared or changed.
 */
import { ErrorCode, RemoteError } from "../protocol/errors.ts";
import { MAX_TIMEOUT_MS } from "./arguments.ts";
import type { QueueOptions } from "./types.ts";

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
  if (options.deadLetter !== null) {
    if (typeof options.deadLetter !== "string" || !QUEUE_NAME.test(options.deadLetter)) {
      throw bad("deadLetter", options.deadLetter, "a queue name or null");
    }
    if (options.deadLetter === name) throw bad("deadLetter", options.deadLetter, "another queue");
  }
}
