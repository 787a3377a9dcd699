/** The one Job implementation, whichever transport leased it. */
import { ArgumentError } from "../protocol/errors.ts";
import { encodeText } from "../protocol/codec.ts";
import type { Job } from "./api.ts";
import type { Wire } from "./wire.ts";

/** A job handed out under a lease; see {@link Job}. */
export class LeasedJob<T = unknown> implements Job<T> {
  readonly queue: string;
  readonly id: string;
  readonly value: T;
  readonly attempts: number;
  readonly priority: number;
  readonly #tag: number;
  readonly #epoch: unknown;
  readonly #wire: Wire;
  /** Told once when the job is settled (a consumer counts its jobs in hand). */
  readonly #onSettle: (() => void) | null;
  #settled = false;

  /** @internal */
  constructor(
    wire: Wire,
    fields: {
      queue: string;
      id: string;
      value: T;
      attempts: number;
      priority: number;
      tag: number;
      epoch: unknown;
    },
    onSettle: (() => void) | null,
  ) {
    this.#wire = wire;
    this.queue = fields.queue;
    this.id = fields.id;
    this.value = fields.value;
    this.attempts = fields.attempts;
    this.priority = fields.priority;
    this.#tag = fields.tag;
    this.#epoch = fields.epoch;
    this.#onSettle = onSettle;
  }

  get tag(): number {
    return this.#tag;
  }

  get settled(): boolean {
    return this.#settled;
  }

  /** @internal The adapter's token for the connection that leased this job. */
  get epoch(): unknown {
    return this.#epoch;
  }

  ack(): Promise<void> {
    return this.#settle("ack") ?? this.#wire.ack(this.#tag, this.#epoch);
  }

  complete(result?: unknown, options: { queue?: string; id?: string } = {}): Promise<void> {
    let text: string | null;
    try {
      text = result === undefined ? null : encodeText(result);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#settle("complete") ??
      this.#wire.complete(this.#tag, this.#epoch, text, options.queue ?? null, options.id ?? null);
  }

  nack(options: { delay?: number } = {}): Promise<void> {
    const delay = options.delay ?? null;
    if (delay !== null && (typeof delay !== "number" || !Number.isFinite(delay) || delay < 0)) {
      return Promise.reject(
        new ArgumentError(`Invalid delay: ${String(delay)} (expected milliseconds ≥ 0)`),
      );
    }
    return this.#settle("nack") ?? this.#wire.nack(this.#tag, this.#epoch, delay);
  }

  fail(reason: string): Promise<void> {
    return this.#settle("fail") ?? this.#wire.fail(this.#tag, this.#epoch, String(reason));
  }

  progress(value: unknown): Promise<void> {
    if (this.#settled) {
      return Promise.reject(
        new ArgumentError(`Cannot report progress of job ${this.id}: it was already settled`),
      );
    }
    let text: string;
    try {
      text = encodeText(value);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#wire.progress(this.#tag, this.#epoch, text);
  }

  touch(): Promise<number> {
    if (this.#settled) {
      return Promise.reject(
        new ArgumentError(`Cannot touch job ${this.id}: it was already settled`),
      );
    }
    return this.#wire.touch(this.#tag, this.#epoch);
  }

  /** Marks the job settled; a rejection instead when it already was. */
  #settle(what: string): Promise<never> | undefined {
    if (this.#settled) {
      return Promise.reject(
        new ArgumentError(`Cannot ${what} job ${this.id}: it was already settled`),
      );
    }
    this.#settled = true;
    this.#onSettle?.();
    return undefined;
  }
}
