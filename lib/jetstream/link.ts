/**
 * The NATS connection as every part of the JetStream backend uses it: the
 * clients, the settings they share, whether NATS is reachable, fire-and-forget
 * and confirmed replies to JetStream, and the translation of NATS failures
 * into the errors a taskwire client sees.
 */
import type { Msg, MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import type { JetStreamManager } from "@nats-io/jetstream";
import { ErrorCode, RemoteError, TaskwireError } from "../protocol/errors.ts";
import { Inbox } from "./inbox.ts";

/** Nanoseconds per millisecond (JetStream durations are in ns). */
export const NS = 1_000_000;
export const ENCODER: TextEncoder = new TextEncoder();
const DECODER = new TextDecoder();
export const ACK: Uint8Array = ENCODER.encode("+ACK");
export const NAK: Uint8Array = ENCODER.encode("-NAK");
export const WPI: Uint8Array = ENCODER.encode("+WPI");

/** A nak that asks JetStream to redeliver after `delayMs`. */
export function nakAfter(delayMs: number): Uint8Array {
  return ENCODER.encode(`-NAK ${JSON.stringify({ delay: delayMs * NS })}`);
}

/** Settings of the backend that several parts read. */
export interface LinkSettings {
  prefix: string;
  replicas: number;
  dedupeWindowMs: number;
  log: (event: Record<string, unknown>) => void;
}

/** The backend's NATS connection, its clients and its state. */
export class JsLink {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly prefix: string;
  readonly replicas: number;
  readonly dedupeWindowMs: number;
  readonly log: (event: Record<string, unknown>) => void;
  /** Where the replies this god waits for arrive (PubAcks, confirmed acks, stored messages). */
  readonly inbox: Inbox;
  /** False while the NATS client is disconnected (it reconnects by itself). */
  connected = true;
  closed = false;

  constructor(nc: NatsConnection, jsm: JetStreamManager, settings: LinkSettings) {
    this.nc = nc;
    this.jsm = jsm;
    this.prefix = settings.prefix;
    this.replicas = settings.replicas;
    this.dedupeWindowMs = settings.dedupeWindowMs;
    this.log = settings.log;
    this.inbox = new Inbox(nc, `_INBOX.tw.${crypto.randomUUID().replaceAll("-", "")}`);
  }

  /**
   * Publishes to a stream's subject; `done` gets JetStream's PubAck, or the
   * error (a {@link JetStreamReplyError} when JetStream refused, a
   * NoReplyError when it did not answer in `timeoutMs`).
   */
  publishTo(
    subject: string,
    data: Uint8Array | string,
    options: { headers?: MsgHdrs; timeoutMs: number },
    done: (error: Error | null, ack: PubAck | null) => void,
  ): void {
    try {
      this.inbox.request(subject, data, options, (error, reply) => {
        if (error !== null) return done(error, null);
        const ack = parsePubAck(reply!);
        if (ack instanceof Error) done(ack, null);
        else done(null, ack);
      });
    } catch (error) {
      done(error as Error, null);
    }
  }

  /** {@link JsLink.publishTo} as a promise (5 s timeout unless given). */
  publish(
    subject: string,
    data: Uint8Array | string,
    options: { headers?: MsgHdrs; timeoutMs?: number } = {},
  ): Promise<PubAck> {
    return new Promise((resolve, reject) => {
      this.publishTo(
        subject,
        data,
        { ...options, timeoutMs: options.timeoutMs ?? 5_000 },
        (e, a) => {
          if (e !== null) reject(e);
          else resolve(a!);
        },
      );
    });
  }

  /** Sends an ack (or in-progress) with a reply subject; `done` once JetStream confirmed it. */
  confirmTo(reply: string, body: Uint8Array, done: (error: Error | null) => void): void {
    try {
      this.inbox.request(reply, body, { timeoutMs: 5_000 }, (error) => done(error));
    } catch (error) {
      done(error as Error);
    }
  }

  /** Publishes a reply (ack, nak, in-progress) without waiting for JetStream. */
  respond(reply: string, body: Uint8Array): void {
    try {
      this.nc.publish(reply, body);
    } catch {
      // Closed: JetStream redelivers when the lease runs out.
    }
  }

  /** Sends an ack and waits for JetStream to confirm it. */
  confirm(reply: string, body: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.confirmTo(reply, body, (error) => error === null ? resolve() : reject(error));
    });
  }

  /** Throws `unavailable` while NATS is away. */
  checkConnected(action: string, queue: string): void {
    if (!this.connected) throw this.unavailable("disconnected", queue, action);
  }

  unavailable(why: string, queue: string, action = "reach the store of"): RemoteError {
    return new RemoteError(
      ErrorCode.Unavailable,
      `Cannot ${action} queue "${queue}": the god's NATS JetStream store is unavailable (${why}); try again shortly`,
    );
  }

  /** Turns a failure into what a client should see. */
  remote(error: unknown, action: string, queue: string): RemoteError {
    if (error instanceof RemoteError) return error;
    if (error instanceof TaskwireError) {
      return new RemoteError(error.code, error.message, { cause: error });
    }
    return new RemoteError(
      ErrorCode.Unavailable,
      `Cannot ${action} queue "${queue}": the god's NATS JetStream store did not answer (${
        errorText(error)
      }); try again shortly`,
      { cause: error },
    );
  }
}

/** What JetStream answers to a publish into a stream. */
export interface PubAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

/** JetStream refused a request; `code` is its error code (10077: the stream is full). */
export class JetStreamReplyError extends Error {
  override name = "JetStreamReplyError";
  readonly code: number;
  readonly status: number;

  constructor(status: number, code: number, description: string) {
    super(description);
    this.status = status;
    this.code = code;
  }
}

/** Reads a PubAck, or the refusal JetStream sent instead. */
export function parsePubAck(reply: Msg): PubAck | JetStreamReplyError {
  let body: {
    stream?: string;
    seq?: number;
    duplicate?: boolean;
    error?: { code?: number; err_code?: number; description?: string };
  };
  try {
    body = JSON.parse(DECODER.decode(reply.data));
  } catch {
    return new JetStreamReplyError(0, 0, "unreadable reply to a publish");
  }
  if (body.error !== undefined) {
    const e = body.error;
    return new JetStreamReplyError(e.code ?? 0, e.err_code ?? 0, e.description ?? "refused");
  }
  return { stream: body.stream ?? "", seq: body.seq ?? 0, duplicate: body.duplicate === true };
}

/** Is this a JetStream "maximum messages exceeded" refusal (a full queue)? */
export function isFull(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown };
  return e?.code === 10077 || /maximum messages exceeded/i.test(String(e?.message));
}

/** Is this a "stream/consumer not found" answer? */
export function isNotFound(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown };
  return e?.code === 10059 || e?.code === 10014 || /not found/i.test(String(e?.message));
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
