/**
 * What the benchmark asks of a peer's client: put bodies on a named queue,
 * and take bodies from one with a bounded number in hand, putting each one's
 * result on another queue before acking it. Each peer has one adapter in
 * `clients/<system>.ts` that does this the way that system's users do (its
 * usual Node client, its own acks); the pipeline roles (`worker.ts`) are
 * written once over this interface.
 */
import process from "node:process";

/** How a process reaches its peer server. */
export interface ClientOptions {
  /** Where the server listens, e.g. `redis://127.0.0.1:6379` (the harness passes it). */
  url: string;
  /** The fsync-each-write mode: durable queues and persistent messages where the client chooses. */
  durable: boolean;
  /** This process's name (connection names, per-consumer keys). */
  name: string;
}

/** How a process takes jobs from a queue. */
export interface ConsumeOptions {
  /** Most jobs in hand (taken, not yet acked) at once — the consumer's concurrency. */
  window: number;
  /** Where `handle`'s result goes; the job is acked once that put is confirmed. */
  resultsTo?: string;
  /** Consumer processes sharing this queue (JetStream sizes its shared consumer's max_ack_pending by it). */
  sharedBy?: number;
}

/** One process's connection(s) to a peer server. */
export interface PeerClient {
  /** Puts `bodies` on `queue`, resolving once the server has confirmed every one. */
  put(queue: string, bodies: readonly string[]): Promise<void>;
  /**
   * Takes jobs from `queue`, at most `options.window` in hand, and calls
   * `handle` with each body. When it returns a string and `resultsTo` is set,
   * that result is put there first; then the job is acked. Resolves once
   * consuming has started.
   */
  consume(
    queue: string,
    options: ConsumeOptions,
    handle: (body: string) => string | null,
  ): Promise<void>;
  /** Stops consuming and closes every connection. */
  close(): Promise<void>;
}

/** What each `clients/<system>.ts` exports. */
export interface ClientModule {
  open(options: ClientOptions): Promise<PeerClient>;
}

/**
 * Counts jobs in hand against a window: `take()` waits while the window is
 * full, `release()` frees a place. For clients whose own API does not bound it.
 */
export class Window {
  readonly size: number;
  #inHand = 0;
  #waiting: (() => void)[] = [];

  constructor(size: number) {
    this.size = size;
  }

  /** Places free now. */
  get free(): number {
    return this.size - this.#inHand;
  }

  /** Takes one place, waiting for one to be released when the window is full. */
  async take(): Promise<void> {
    await this.room();
    this.#inHand++;
  }

  /** Takes `n` places at once (the caller checked `free`). */
  takeNow(n: number): void {
    this.#inHand += n;
  }

  /** Resolves once at least one place is free. */
  async room(): Promise<void> {
    while (this.#inHand >= this.size) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  release(): void {
    this.#inHand--;
    this.#waiting.shift()?.();
  }
}

/** Ends this process over an error it cannot go on after; the harness shows the line and fails the run. */
export function fatal(what: string, error: unknown): never {
  process.stderr.write(`peer: ${what}: ${(error as Error)?.message ?? String(error)}\n`);
  process.exit(1);
}
