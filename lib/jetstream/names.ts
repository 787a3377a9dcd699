/**
 * How taskwire names map onto JetStream: stream and subject names, the
 * headers a job carries, and the queue options kept in a stream's description
 * (so every god reads the same options). Pure functions, no I/O.
 */
import type { Attempt, Backoff, Job, QueueOptions } from "../queue/types.ts";

/** Headers on a job message. */
export const Header = {
  /** The job's put id (Nats-Msg-Id is the dedupe key, which differs after a requeue). */
  id: "Tw-Id",
  priority: "Tw-Priority",
  /** Epoch ms at which a delayed job becomes ready (delay stream only). */
  readyAt: "Tw-Ready-At",
  /** The queue a delayed job goes to (delay stream only). */
  queue: "Tw-Queue",
  /** Why a job was dead-lettered, the queue it died in and its attempts then. */
  reason: "Tw-Reason",
  origin: "Tw-Origin",
  attempts: "Tw-Attempts",
  /** A job's own retry policy (JSON), set by its put. */
  backoff: "Tw-Backoff",
  /** A dead letter's attempts that did not finish (JSON), as far as the gods saw them. */
  history: "Tw-History",
  /** The caller waiting for a called task's result (`<god instance>.<caller>`). */
  replyTo: "Tw-Reply-To",
  msgId: "Nats-Msg-Id",
} as const;

/** The durable pull consumer every god shares on every stream. */
export const CONSUMER = "taskwire";

/** Marks a stream description as taskwire's. */
const DESCRIPTION_TAG = "taskwire queue ";

/**
 * Escapes a queue name into the characters streams and subject tokens allow:
 * letters, digits and `-` stay; `_` becomes `__`, `.` becomes `_d`, `:` becomes `_c`.
 */
export function encodeQueueName(name: string): string {
  return name.replace(/[_.:]/g, (c) => c === "_" ? "__" : c === "." ? "_d" : "_c");
}

/** Names of one queue's stream and subject under `prefix`. */
export function queueNames(prefix: string, queue: string): { stream: string; subject: string } {
  const encoded = encodeQueueName(queue);
  return { stream: `${prefix}_${encoded}`, subject: `${prefix.toLowerCase()}.q.${encoded}` };
}

/** The stream holding delayed puts of every queue until they are due, and its subjects. */
export function delayNames(
  prefix: string,
): { stream: string; subjects: string; subject(queue: string): string } {
  const lower = prefix.toLowerCase();
  return {
    stream: `${prefix}__DELAYED`,
    subjects: `${lower}.delayed.>`,
    subject: (queue) => `${lower}.delayed.${encodeQueueName(queue)}`,
  };
}

/** The description a queue's stream carries: its name and options. */
export function describeQueue(name: string, options: QueueOptions): string {
  return DESCRIPTION_TAG + JSON.stringify({ name, ...options });
}

/** Reads a description written by {@link describeQueue}; null for foreign streams. */
export function parseDescription(
  description: string | undefined,
): { name: string; options: QueueOptions } | null {
  if (description === undefined || !description.startsWith(DESCRIPTION_TAG)) return null;
  try {
    const o = JSON.parse(description.slice(DESCRIPTION_TAG.length)) as Record<string, unknown>;
    if (typeof o.name !== "string") return null;
    return {
      name: o.name,
      options: {
        maxsize: Number(o.maxsize ?? 0),
        leaseMs: Number(o.leaseMs ?? 30_000),
        maxAttempts: Number(o.maxAttempts ?? 5),
        deadLetter: typeof o.deadLetter === "string" ? o.deadLetter : null,
        paused: o.paused === true,
        rateLimit: (o.rateLimit ?? null) as QueueOptions["rateLimit"],
        backoff: (o.backoff ?? null) as QueueOptions["backoff"],
      },
    };
  } catch {
    return null;
  }
}

/**
 * Reads delivery facts from a JetStream ack subject:
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`, or the
 * longer form with a domain and account hash in front.
 */
export function parseAckSubject(reply: string): { deliveries: number; seq: number } | null {
  const t = reply.split(".");
  if (t[0] !== "$JS" || t[1] !== "ACK") return null;
  const at = t.length === 9 ? 4 : t.length >= 11 ? 6 : -1;
  if (at < 0) return null;
  const deliveries = Number(t[at]);
  const seq = Number(t[at + 1]);
  return Number.isSafeInteger(deliveries) && Number.isSafeInteger(seq) ? { deliveries, seq } : null;
}

/**
 * Sets what a job carries in flow-control headers (its own retry policy, the
 * attempt history of a dead letter) from a message's headers (`get`).
 */
export function readFlowHeaders(get: (name: string) => string | undefined, job: Job): void {
  const backoff = jsonHeader<Backoff>(get(Header.backoff));
  if (backoff !== undefined && backoff !== null && typeof backoff === "object") {
    job.backoff = backoff;
  }
  const history = jsonHeader<Attempt[]>(get(Header.history));
  if (Array.isArray(history)) job.history = history;
}

/** A JSON header, or undefined when absent or not JSON. */
function jsonHeader<T>(text: string | undefined): T | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}
