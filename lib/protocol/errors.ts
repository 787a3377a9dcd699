/**
 * Error classes shared by every part of taskwire. Each says whose fault it was:
 * a {@link ProtocolError} is the peer's (bad bytes), an {@link AuthError} is a
 * key mismatch, a {@link RemoteError} is an error the god reported for a request.
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

/** The god refused a request; `code` says why (unknown queue, full queue, ...). */
export class RemoteError extends TaskwireError {}

/** The connection to the god was lost before the request was answered. */
export class ConnectionLostError extends TaskwireError {
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.Unavailable, message, options);
  }
}
