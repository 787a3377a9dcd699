/**
 * What the live dashboard follows: a short history of the god's counters
 * summed over its queues (one sample every 2 s for 10 minutes, for its
 * chart), and server-sent event streams that send that history once, then
 * the god's stats every second.
 *
 * Memory stays bounded whatever the number of queues and however slowly a
 * viewer reads: the history keeps sums, not one entry per queue; the stats
 * are encoded once a second for all streams together; a stream whose reader
 * has not taken the last sample skips the next ones (it gets the newest when
 * it reads again); and streams are capped per address and in total.
 */
import { ErrorCode } from "../protocol/errors.ts";
import type { GodStats } from "../protocol/replies.ts";
import { HttpError } from "./errors.ts";

/** Samples kept for the dashboard chart: one every 2 s for 10 minutes. */
export const HISTORY_EVERY_MS = 2000;
const HISTORY_LENGTH = 300;
/** How often a stream gets the god's stats. */
export const STATS_EVERY_MS = 1000;

/** One point of the dashboard's chart: counters summed over the god's queues (dead-letter queues aside). */
export interface HistorySample {
  t: number;
  put: number;
  acked: number;
  ready: number;
  inFlight: number;
}

/** Whether a queue is a dead-letter queue (left out of the chart's sums). */
function isDeadQueue(name: string): boolean {
  return name.endsWith(".dead");
}

/** The chart's history, sampled from `stats` on a timer until {@link History.stop}. */
export class History {
  readonly samples: HistorySample[] = [];
  readonly #stats: () => GodStats;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(stats: () => GodStats) {
    this.#stats = stats;
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), HISTORY_EVERY_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #sample(): void {
    const sample: HistorySample = { t: Date.now(), put: 0, acked: 0, ready: 0, inFlight: 0 };
    for (const q of this.#stats().queues) {
      if (isDeadQueue(q.name)) continue;
      sample.put += q.totals.put;
      sample.acked += q.totals.acked;
      sample.ready += q.ready;
      sample.inFlight += q.inFlight;
    }
    this.samples.push(sample);
    if (this.samples.length > HISTORY_LENGTH) this.samples.shift();
  }
}

const encoder = new TextEncoder();

interface Stream {
  controller: ReadableStreamDefaultController<Uint8Array>;
  address: string;
  stop(): void;
}

/**
 * The live event streams of one HTTP face: `history` once, then `stats`
 * every second, until the request or the face goes away.
 *
 * @example
 * ```ts
 * const streams = new EventStreams({ maxStreams: 64, maxPerAddress: 4, history, stats: () => ops.snapshot() });
 * return streams.open(request, closing, "10.0.0.7");
 * ```
 */
export class EventStreams {
  readonly maxStreams: number;
  readonly maxPerAddress: number;
  readonly #history: History;
  readonly #stats: () => GodStats;
  readonly #countLimit: (name: string) => void;
  readonly #streams = new Set<Stream>();
  readonly #perAddress = new Map<string, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Samples skipped because their stream's reader had not taken the one before. */
  skipped = 0;

  constructor(options: {
    maxStreams: number;
    maxPerAddress: number;
    history: History;
    stats: () => GodStats;
    countLimit?: (name: string) => void;
  }) {
    this.maxStreams = options.maxStreams;
    this.maxPerAddress = options.maxPerAddress;
    this.#history = options.history;
    this.#stats = options.stats;
    this.#countLimit = options.countLimit ?? (() => {});
  }

  /** Streams open now. */
  get size(): number {
    return this.#streams.size;
  }

  /**
   * The event stream for `request` from `address`; a 429 when that address
   * or the face has as many open as allowed.
   */
  open(request: Request, closing: AbortSignal, address: string): Response {
    const mine = this.#perAddress.get(address) ?? 0;
    if (mine >= this.maxPerAddress || this.#streams.size >= this.maxStreams) {
      this.#countLimit("eventStreams");
      throw new HttpError(
        429,
        ErrorCode.Limit,
        mine >= this.maxPerAddress
          ? `Too many live event streams from ${address}: ${mine} open (maxEventStreamsPerAddress ${this.maxPerAddress}); close a dashboard first`
          : `Too many live event streams: ${this.#streams.size} open (maxEventStreams ${this.maxStreams}); try again later`,
        { "retry-after": "5" },
      );
    }
    let entry: Stream | null = null;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        const stream: Stream = {
          controller,
          address,
          stop: () => {
            if (!this.#streams.delete(stream)) return;
            const left = (this.#perAddress.get(address) ?? 1) - 1;
            if (left <= 0) this.#perAddress.delete(address);
            else this.#perAddress.set(address, left);
            request.signal.removeEventListener("abort", stream.stop);
            closing.removeEventListener("abort", stream.stop);
            if (this.#streams.size === 0) {
              clearInterval(this.#timer);
              this.#timer = undefined;
            }
            try {
              controller.close();
            } catch {
              // already closed or cancelled
            }
          },
        };
        entry = stream;
        this.#streams.add(stream);
        this.#perAddress.set(address, mine + 1);
        controller.enqueue(
          encoder.encode(
            `retry: 2000\nevent: history\ndata: ${
              JSON.stringify({ every: HISTORY_EVERY_MS, samples: this.#history.samples })
            }\n\n`,
          ),
        );
        controller.enqueue(this.#encodeStats());
        this.#timer ??= setInterval(() => this.#tick(), STATS_EVERY_MS);
        request.signal.addEventListener("abort", stream.stop);
        closing.addEventListener("abort", stream.stop);
        if (request.signal.aborted || closing.aborted) stream.stop();
      },
      cancel: () => entry?.stop(),
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-accel-buffering": "no",
      },
    });
  }

  /** Ends every stream. */
  close(): void {
    for (const stream of [...this.#streams]) stream.stop();
  }

  #encodeStats(): Uint8Array {
    const payload = { stats: this.#stats(), now: Date.now() };
    return encoder.encode(`event: stats\ndata: ${JSON.stringify(payload)}\n\n`);
  }

  /** One sample, encoded once, to every stream whose reader has taken the last one. */
  #tick(): void {
    let bytes: Uint8Array | null = null;
    for (const stream of [...this.#streams]) {
      if ((stream.controller.desiredSize ?? 0) <= 0) {
        this.skipped++;
        continue;
      }
      try {
        bytes ??= this.#encodeStats();
        stream.controller.enqueue(bytes);
      } catch {
        stream.stop();
      }
    }
  }
}
