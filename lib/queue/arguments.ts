/** Checking what clients send (durations, put items) before a backend acts on it: one place for every front door. */
import { ErrorCode, RemoteError } from "../protocol/errors.ts";
import type { PutItem } from "./types.ts";

/** Longest timeout, delay or lease: a day. */
export const MAX_TIMEOUT_MS = 24 * 3600_000;

/** Checks a duration argument: a finite number of milliseconds within a day. */
export function checkDuration(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > MAX_TIMEOUT_MS) {
    throw new RemoteError(
      ErrorCode.BadArgument,
      `Invalid ${what}: ${
        JSON.stringify(value)
      } (expected milliseconds from 0 to ${MAX_TIMEOUT_MS})`,
    );
  }
  return value;
}

/** Longest job id a client may choose. */
export const MAX_ID_LENGTH = 256;

/**
 * Builds a {@link PutItem} from a client's `{id?, priority?, delay?}` and the
 * payload text; `makeId` names a job the client sent without an id. Throws
 * `bad_argument` naming the bad field.
 *
 * @example
 * ```ts
 * putItem({ id: "a", priority: 2 }, '{"json":1}', () => "x"); // { id: "a", priority: 2, delayMs: 0, ... }
 * ```
 */
export function putItem(
  fields: Record<string, unknown>,
  payload: string,
  makeId: () => string,
): PutItem {
  const id = fields.id === undefined ? makeId() : fields.id;
  if (typeof id !== "string" || id.length === 0 || id.length > MAX_ID_LENGTH) {
    throw new RemoteError(
      ErrorCode.BadArgument,
      `Invalid job id: ${JSON.stringify(id)?.slice(0, 80)} (1 to ${MAX_ID_LENGTH} characters)`,
    );
  }
  const priority = fields.priority ?? 0;
  if (!Number.isSafeInteger(priority)) {
    throw new RemoteError(ErrorCode.BadArgument, `Invalid priority: ${JSON.stringify(priority)}`);
  }
  return {
    id,
    payload,
    priority: priority as number,
    delayMs: fields.delay === undefined ? 0 : checkDuration(fields.delay, "delay"),
  };
}

/** Checks items built elsewhere (library callers of a backend): priorities and delays. */
export function checkPutItems(items: readonly PutItem[]): void {
  for (const item of items) {
    if (!Number.isSafeInteger(item.priority)) {
      throw new RemoteError(ErrorCode.BadArgument, `Invalid priority: ${item.priority}`);
    }
    checkDuration(item.delayMs, "delay");
  }
}
