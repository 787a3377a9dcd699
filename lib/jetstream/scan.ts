/**
 * Reading stored jobs of a stream in sequence order, for peek and the
 * dead-letter list: without a JetStream call per sequence number (a work-queue
 * stream is full of gaps where jobs were acked out of order, requeued or
 * deleted) and without one round trip per job.
 *
 * Each `STREAM.MSG.GET` asks with `next_by_subj` for the first message at or
 * after a sequence number, so a gap costs one request. A round asks for
 * consecutive starting points, all at once through the god's inbox; their
 * distinct answers are every stored message between the first starting point
 * and the last answer (the answers grow with the starting point), and the
 * next round starts after the last. The round grows while the stream has no
 * gaps (one round trip reads it) and shrinks to what the last round found
 * when it met one, so a gap costs few requests.
 */
import type { Job } from "../queue/types.ts";
import { JetStreamReplyError, type JsLink } from "./link.ts";
import { Header, readFlowHeaders } from "./names.ts";

/** Requests of the first round, and most of any round. */
const FIRST_ROUND = 64;
const MAX_ROUND = 256;
/** Rounds one scan may take (a bound; each round moves past at least one message). */
const MAX_ROUNDS = 10_000;

const DECODER = new TextDecoder();

/** A message as `STREAM.MSG.GET` returns it. */
interface StoredMessage {
  seq: number;
  data?: string;
  hdrs?: string;
}

/**
 * Up to `limit` jobs of `stream` (published on `subject`) from sequence
 * `from` on that `keep` accepts, in sequence order.
 */
export async function scanStream(
  link: JsLink,
  stream: string,
  subject: string,
  options: { from: number; limit: number; keep?: (job: Job) => boolean },
): Promise<Job[]> {
  const jobs: Job[] = [];
  let next = Math.max(1, options.from);
  let size = FIRST_ROUND;
  for (let round = 0; round < MAX_ROUNDS && jobs.length < options.limit; round++) {
    const count = Math.min(size, options.limit - jobs.length);
    const asks: Promise<StoredMessage | null>[] = [];
    for (let i = 0; i < count; i++) asks.push(getNext(link, stream, subject, next + i));
    const answers = await Promise.all(asks);
    let last = 0;
    let distinct = 0;
    let end = false;
    for (const message of answers) {
      if (message === null) {
        // Nothing at or after this starting point: the stream ends here.
        end = true;
        break;
      }
      if (message.seq <= last) continue; // the same message, found from an earlier start
      last = message.seq;
      distinct++;
      const job = readStored(message);
      if (options.keep === undefined || options.keep(job)) jobs.push(job);
      if (jobs.length >= options.limit) break;
    }
    if (end || last === 0) break;
    next = last + 1;
    size = distinct < count ? Math.max(1, distinct) : Math.min(MAX_ROUND, size * 2);
  }
  return jobs;
}

/** The first message of `subject` in `stream` at or after `seq`, or null when there is none. */
function getNext(
  link: JsLink,
  stream: string,
  subject: string,
  seq: number,
): Promise<StoredMessage | null> {
  return new Promise((resolve, reject) => {
    try {
      link.inbox.request(
        `$JS.API.STREAM.MSG.GET.${stream}`,
        JSON.stringify({ seq, next_by_subj: subject }),
        { timeoutMs: 5_000 },
        (error, reply) => {
          if (error !== null) return reject(error);
          let body: {
            message?: StoredMessage;
            error?: { code?: number; err_code?: number; description?: string };
          };
          try {
            body = JSON.parse(DECODER.decode(reply!.data));
          } catch {
            return reject(new JetStreamReplyError(0, 0, `unreadable reply from ${stream}`));
          }
          if (body.error !== undefined) {
            // 10037: no message found.
            if (body.error.code === 404) return resolve(null);
            const e = body.error;
            return reject(
              new JetStreamReplyError(e.code ?? 0, e.err_code ?? 0, e.description ?? ""),
            );
          }
          resolve(body.message ?? null);
        },
      );
    } catch (error) {
      reject(error);
    }
  });
}

/** The job a stored message carries (its attempts and reason as dead-lettering wrote them). */
function readStored(message: StoredMessage): Job {
  const h = message.hdrs ? parseHeaders(fromBase64(message.hdrs)) : new Map<string, string>();
  const job: Job = {
    seq: message.seq,
    id: h.get(Header.id) || h.get(Header.msgId) || `js-${message.seq}`,
    payload: message.data ? DECODER.decode(fromBase64(message.data)) : "",
    priority: Number(h.get(Header.priority) || 0),
    attempts: Number(h.get(Header.attempts) || 0),
    readyAt: 0,
  };
  const reason = h.get(Header.reason);
  if (reason) {
    job.reason = reason;
    job.origin = h.get(Header.origin) || undefined;
  }
  readFlowHeaders((name) => h.get(name), job);
  return job;
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Reads a NATS header block (`NATS/1.0\r\nKey: value\r\n…\r\n`); the first
 * value of each key wins.
 */
export function parseHeaders(block: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  const lines = DECODER.decode(block).split("\r\n");
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const key = line.slice(0, colon).trim();
    if (!out.has(key)) out.set(key, line.slice(colon + 1).trim());
  }
  return out;
}
