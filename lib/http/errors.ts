/**
 * How the HTTP face answers: JSON bodies, and errors as
 * `{error: {code, message, status}}` with the status each error code maps to.
 */
import { ErrorCode, TaskwireError } from "../protocol/errors.ts";

/** The HTTP status of each error code. */
const STATUS: Readonly<Record<string, number>> = {
  [ErrorCode.UnknownQueue]: 404,
  [ErrorCode.BadArgument]: 400,
  [ErrorCode.BadMessage]: 400,
  [ErrorCode.BadFrame]: 400,
  [ErrorCode.NotLeased]: 409,
  [ErrorCode.Forbidden]: 403,
  [ErrorCode.QueueFull]: 503,
  [ErrorCode.Limit]: 429,
  [ErrorCode.FrameTooLarge]: 413,
  [ErrorCode.AuthFailed]: 401,
  [ErrorCode.ShuttingDown]: 503,
  [ErrorCode.Unavailable]: 503,
  [ErrorCode.Internal]: 500,
};

/** An error answered with a given HTTP status (and headers). */
export class HttpError extends TaskwireError {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(
    status: number,
    code: ErrorCode,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(code, message);
    this.status = status;
    this.headers = headers;
  }
}

export const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" } as const;

/** A JSON reply. */
export function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), { status, headers: JSON_HEADERS });
}

/** What a client is told of an internal error (the god logs the details). */
export const INTERNAL_MESSAGE = "Internal error in the god: its log says what went wrong";

/**
 * The reply for an error: its status, and `{error: {code, message, status}}`.
 * An internal error says only that it happened: its details (stack depths,
 * file names, values) are for the god's log, not for whoever sent the request.
 */
export function errorResponse(error: unknown): Response {
  const e = error instanceof TaskwireError && error.code !== ErrorCode.Internal
    ? error
    : new TaskwireError(ErrorCode.Internal, INTERNAL_MESSAGE);
  const status = e instanceof HttpError ? e.status : STATUS[e.code] ?? 500;
  return new Response(
    JSON.stringify({ error: { code: e.code, message: e.message, status } }),
    { status, headers: { ...JSON_HEADERS, ...(e instanceof HttpError ? e.headers : {}) } },
  );
}

/** The face is closing: requests get a 503 to retry elsewhere or later. */
export function shuttingDown(): HttpError {
  return new HttpError(
    503,
    ErrorCode.ShuttingDown,
    "The god's HTTP face is shutting down; try again when it is back",
  );
}

/** A malformed request (not JSON, wrong shape). */
export function malformed(message: string): HttpError {
  return new HttpError(400, ErrorCode.BadMessage, message);
}
