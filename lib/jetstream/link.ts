/**
 * The NATS connection as every part of the JetStream backend uses it: the
 * clients, the settings they share, whether NATS is reachable, fire-and-forget
 * and confirmed replies to JetStream, and the translation of NATS failures
 * into the errors a taskwire client sees.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { ErrorCode, RemoteError, TaskwireError } from "../protocol/errors.ts";

/** Nanoseconds per millisecond (JetStream durations are in ns). */
export const NS = 1_000_000;
export const ENCODER: TextEncoder = new TextEncoder();
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
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly prefix: string;
  readonly replicas: number;
  readonly dedupeWindowMs: number;
  readonly log: (event: Record<string, unknown>) => void;
  /** The prefix of this god's private reply subjects. */
  readonly inbox: string = `_INBOX.tw.${crypto.randomUUID().replaceAll("-", "")}`;
  /** False while the NATS client is disconnected (it reconnects by itself). */
  connected = true;
  closed = false;

  constructor(nc: NatsConnection, jsm: JetStreamManager, settings: LinkSettings) {
    this.nc = nc;
    this.jsm = jsm;
    this.js = jetstream(nc, { timeout: 5_000 });
    this.prefix = settings.prefix;
    this.replicas = settings.replicas;
    this.dedupeWindowMs = settings.dedupeWindowMs;
    this.log = settings.log;
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
  async confirm(reply: string, body: Uint8Array): Promise<void> {
    await this.nc.request(reply, body, { timeout: 5_000 });
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
