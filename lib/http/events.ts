/**
 * What the live dashboard follows: a short history of each queue's counters
 * (one sample every 2 s for 10 minutes, for its chart), and a server-sent
 * event stream that sends that history once, then the god's stats every
 * second.
 */
import type { GodStats } from "../protocol/replies.ts";

/** Samples kept for the dashboard chart: one every 2 s for 10 minutes. */
export const HISTORY_EVERY_MS = 2000;
const HISTORY_LENGTH = 300;

/** One point of the dashboard's chart. */
export interface HistorySample {
  t: number;
  queues: Record<string, { put: number; acked: number; ready: number; inFlight: number }>;
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
    const queues: HistorySample["queues"] = {};
    for (const q of this.#stats().queues) {
      queues[q.name] = {
        put: q.totals.put,
        acked: q.totals.acked,
        ready: q.ready,
        inFlight: q.inFlight,
      };
    }
    this.samples.push({ t: Date.now(), queues });
    if (this.samples.length > HISTORY_LENGTH) this.samples.shift();
  }
}

const encoder = new TextEncoder();

/**
 * The event stream: `history` once, then `stats` every second, until the
 * request or `closing` aborts.
 */
export function eventStream(
  request: Request,
  closing: AbortSignal,
  history: History,
  stats: () => GodStats,
): Response {
  let timer: ReturnType<typeof setInterval> | undefined;
  let stop = () => {};
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = () => {
        try {
          const payload = { stats: stats(), now: Date.now() };
          controller.enqueue(encoder.encode(`event: stats\ndata: ${JSON.stringify(payload)}\n\n`));
        } catch {
          stop();
        }
      };
      stop = () => {
        clearInterval(timer);
        request.signal.removeEventListener("abort", stop);
        closing.removeEventListener("abort", stop);
        try {
          controller.close();
        } catch {
          // already closed or cancelled
        }
      };
      controller.enqueue(
        encoder.encode(
          `retry: 2000\nevent: history\ndata: ${
            JSON.stringify({ every: HISTORY_EVERY_MS, samples: history.samples })
          }\n\n`,
        ),
      );
      send();
      timer = setInterval(send, 1000);
      request.signal.addEventListener("abort", stop);
      closing.addEventListener("abort", stop);
      if (request.signal.aborted || closing.aborted) stop();
    },
    cancel() {
      stop();
    },
  });
  return new Response(stream, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    },
  });
}
