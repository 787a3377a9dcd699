/**
 * The seam between the client surface (one Client, Queue, Job and Consumer
 * for every transport) and a transport: what a transport adapter does, in
 * its own terms. Two adapters: TCP/TLS (lib/client/tcp_wire.ts, a framed
 * connection that reconnects) and HTTP (lib/client/http_wire.ts, signed
 * fetches and long-polls).
 *
 * A lease is its tag plus the adapter's `epoch` for it (TCP: the connection
 * that leased it, since a lease dies with its connection; HTTP: nothing).
 * Payloads stay in the adapter's form until {@link Wire.decode}.
 */
import type { AttemptInfo, GodStats, ScheduleInfo } from "../protocol/replies.ts";
import type { QueueOptions } from "../queue/types.ts";
import type { PutEntry } from "./put_batch.ts";

/** A job as an adapter hands it over. */
export interface WireJob {
  tag: number;
  epoch: unknown;
  id: string;
  attempts: number;
  priority: number;
  reason?: string;
  origin?: string;
  history?: AttemptInfo[];
  /** In flight: its holder, lease deadline and last progress (adapter form, see {@link Wire.decode}). */
  by?: string;
  deadline?: number;
  progress?: unknown;
  progressAt?: number;
  /** The encoded value, in the adapter's form (see {@link Wire.decode}). */
  payload: unknown;
}

/** A schedule as a client asks for it: its fields (the value travels apart, as superjson text). */
export interface ScheduleFields {
  name: string;
  queue: string;
  cron?: string;
  timezone?: string;
  every?: number;
  priority?: number;
  catchUp?: boolean;
}

/** Where a subscription's jobs go (the shared consumer). */
export interface JobSink {
  /** A job arrived. */
  job(
    tag: number,
    epoch: unknown,
    id: string,
    attempts: number,
    priority: number,
    payload: unknown,
  ): void;
  /** The jobs of one delivery have all arrived: wake the reader. */
  delivered(): void;
  /** The subscription cannot go on (the god refused it). */
  fail(error: unknown): void;
  /** How many more jobs the reader has room for (a polling adapter asks for no more). */
  room(): number;
  /** Resolves when the room may have grown (a job was settled, or the consumer stopped). */
  roomChanged(): Promise<void>;
}

/** A running subscription. */
export interface WireSubscription {
  /** Resolves once the god accepted it (rejects if it refused). */
  readonly ready: Promise<void>;
  /** Stops fetching jobs. */
  stop(): Promise<void>;
}

/** What a transport adapter does. */
export interface Wire {
  /** The god's address as given. */
  readonly addr: string;
  readonly connected: boolean;
  /** The longest wait one get may ask the god for; longer gets are made of several. */
  readonly maxWaitMs: number;
  /** The largest prefetch a consumer may ask for. */
  readonly maxPrefetch: number;
  /** The default prefetch of a consumer. */
  readonly defaultPrefetch: number;
  /** How many puts travel in one request at most. */
  readonly putBatch: { maxItems: number; maxBytes: number };

  put(queue: string, entries: PutEntry[], timeout: number | undefined): Promise<void>;
  /** Leases up to `max` jobs, waiting up to `timeoutMs` for the first; none when the time passes. */
  get(queue: string, timeoutMs: number, max: number): Promise<WireJob[]>;
  subscribe(queue: string, prefetch: number, sink: JobSink): WireSubscription;
  ack(tag: number, epoch: unknown): Promise<void>;
  /** Finishes a lease with its result (superjson text, or null for none) in one step. */
  complete(
    tag: number,
    epoch: unknown,
    result: string | null,
    queue: string | null,
    id: string | null,
  ): Promise<void>;
  /**
   * Waits for the answer to called task `id` (put with `call: true`):
   * resolves to the result's payload in this adapter's form; rejects when
   * the task was dead-lettered or the connection dropped. `onProgress` hears
   * each progress its consumer reports meanwhile (adapter form).
   */
  awaitResult(id: string, onProgress?: (payload: unknown) => void): Promise<unknown>;
  /** Stops waiting for called task `id` (its result goes to its fallback queue). */
  forget(id: string): void;
  /** Hands a lease back, ready after `delayMs` (null: as the queue's retry policy says). */
  nack(tag: number, epoch: unknown, delayMs: number | null): Promise<void>;
  fail(tag: number, epoch: unknown, reason: string): Promise<void>;
  touch(tag: number, epoch: unknown): Promise<number>;
  /** Reports a leased job's progress (superjson text). */
  progress(tag: number, epoch: unknown, value: string): Promise<void>;
  /** Whether leases of `epoch` can still be settled (TCP: their connection is still up). */
  alive(epoch: unknown): boolean;
  /** Decodes a payload in this adapter's form; throws when it is not a superjson value. */
  decode<T>(payload: unknown): T;

  stats(queue?: string): Promise<GodStats>;
  declare(queue: string, options: Partial<QueueOptions>): Promise<QueueOptions>;
  list(kind: "peek" | "dead", queue: string, limit: number | undefined): Promise<WireJob[]>;
  purge(queue: string): Promise<number>;
  requeue(queue: string, ids: string[] | null): Promise<number>;
  inFlight(queue: string, limit: number | undefined): Promise<WireJob[]>;
  deadDelete(queue: string, ids: string[] | null): Promise<number>;
  pause(queue: string, paused: boolean): Promise<QueueOptions>;
  schedule(fields: ScheduleFields, payload: string): Promise<ScheduleInfo>;
  unschedule(name: string): Promise<boolean>;
  /** Every schedule, with the value it puts in this adapter's form. */
  schedules(): Promise<{ info: ScheduleInfo; payload: unknown }[]>;
  /** Says goodbye; the god returns unacked jobs. */
  close(): Promise<void>;
}
