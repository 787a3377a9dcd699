/**
 * Error classes shared by every part of taskwire. Each says whose fault it was:
 * a {@link ProtocolError} is the peer's (bad bytes), an {@link AuthError} is a
 * key mismatch, a {@link RemoteError} is an error the god reported for a
 * request, an {@link ArgumentError} is a call this side refused before
 * sending anything.
 */

/** Error codes carried on the wire in error frames (see docs/PROTOCOL.md). */
export const ErrorCode = {
  BadFrame: "bad_frame",
  FrameTooLarge: "frame_too_large",
  BadMessage: "bad_message",
  UnknownType: "unknown_type",
  AuthFailed: "auth_failed",
  VersionMismatch: "version_mismatch",
  HandshakeTimeout: "handshake_timeout",
  UnknownQueue: "unknown_queue",
  QueueFull: "queue_full",
  BadArgument: "bad_argument",
  NotLeased: "not_leased",
  Forbidden: "forbidden",
  DeadLettered: "dead_lettered",
  Timeout: "timeout",
  Limit: "limit",
  ShuttingDown: "shutting_down",
  Unavailable: "unavailable",
  Internal: "internal",
} as const;
export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode];

/** Base class: every taskwire error has a machine-readable `code`. */
export class TaskwireError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The peer sent bytes that break the protocol (framing, encoding, message shape). */
export class ProtocolError extends TaskwireError {}

/** The handshake failed: wrong key, wrong version, replay or timeout. */
export class AuthError extends TaskwireError {}

/**
 * A call refused on this side, before anything was sent: an argument out of
 * range, a job settled twice, an address that cannot be parsed.
 */
export class ArgumentError extends TaskwireError {
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.BadArgument, message, options);
  }
}

/** The god refused a request; `code` says why (unknown queue, full queue, ...). */
export class RemoteError extends TaskwireError {}

/**
 * The god refused a request because it would pass one of its limits; `limit`
 * names which (see lib/protocol/limits.ts), so the god can count the refusal.
 */
export class LimitError extends RemoteError {
  readonly limit: string;
  constructor(limit: string, message: string, options?: ErrorOptions) {
    super(ErrorCode.Limit, message, options);
    this.limit = limit;
  }
}

/** A wait ran out of time: a call's answer, or a request's reply. The message names what. */
export class TimeoutError extends TaskwireError {
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.Timeout, message, options);
  }
}

/** The connection to the god was lost before the request was answered. */
export class ConnectionLostError extends TaskwireError {
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.Unavailable, message, options);
  }
}

/** True for errors worth retrying later (the god unreachable, busy or restarting), false for refusals. */
export function isTransient(error: unknown): boolean {
  return error instanceof ConnectionLostError ||
    (error instanceof TaskwireError &&
      (error.code === ErrorCode.Unavailable || error.code === ErrorCode.ShuttingDown));
}
