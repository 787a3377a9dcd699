/**
 * Puts: each job is published to its queue's subject (or, delayed, to the
 * delay stream) with its put id as `Nats-Msg-Id`, and counts as stored once
 * JetStream's PubAck says so (the stream's replicas have it).
 *
 * The publishes of a batch go out together, pipelined, each answered through
 * the god's inbox; the batch is done when every PubAck is in. A publish that
 * finds the stream full (discard-new at `maxsize`) or NATS away leaves that
 * fast path and retries with backoff until the put's deadline (full) or
 * `unavailableWaitMs` (away). A bounded queue takes its batch one job at a
 * time, so that a full queue cannot reorder it.
 */
import { headers, type MsgHdrs } from "@nats-io/transport-node";
import { ErrorCode, RemoteError } from "../protocol/errors.ts";
import type { Owner, PutResult } from "../queue/backend.ts";
import type { PutItem } from "../queue/types.ts";
import { NoReplyError } from "./inbox.ts";
import { isFull, type JsLink, type PubAck, sleep } from "./link.ts";
import { Header } from "./names.ts";
import type { Queues } from "./provision.ts";
import type { JsQueue } from "./queue.ts";

/** Publishes puts and waits out full queues. */
export class Publisher {
  readonly #link: JsLink;
  readonly #queues: Queues;
  readonly #unavailableWaitMs: number;
  /** Whether the owner went away (its puts stop retrying). */
  readonly #gone: (owner: Owner) => boolean;

  constructor(
    link: JsLink,
    queues: Queues,
    options: { unavailableWaitMs: number; gone: (owner: Owner) => boolean },
  ) {
    this.#link = link;
    this.#queues = queues;
    this.#unavailableWaitMs = options.unavailableWaitMs;
    this.#gone = options.gone;
  }

  /**
   * Stores `items` in `queue`; `done` gets how many were new and how many
   * repeats, or the first error (the other publishes still finish and count).
   */
  put(
    owner: Owner | null,
    queue: JsQueue,
    items: PutItem[],
    deadline: number,
    done: (result: PutResult | Error) => void,
  ): void {
    this.#queues.ready(queue, "put to").then(() => {
      if (queue.options.maxsize > 0) {
        this.#putInOrder(owner, queue, items, deadline).then(done, done);
      } else {
        this.#putPipelined(owner, queue, items, deadline, done);
      }
    }, done);
  }

  /**
   * Stores the results of a completion, all published at once, each answered
   * on its own; `each` hears of item `index`: null once stored (or a repeat),
   * else why not. Nothing waits out a full queue or NATS away: that job's
   * completion fails and its lease stays, as in the embedded store.
   */
  putEach(
    queue: JsQueue,
    items: readonly PutItem[],
    each: (index: number, failure: Error | null) => void,
  ): void {
    this.#queues.ready(queue, "put a result to").then(() => {
      const counted: PutResult = { accepted: 0, duplicates: 0 };
      items.forEach((item, index) => {
        const { subject, h } = this.#message(queue, item);
        const options = { headers: h, timeoutMs: RESULT_TIMEOUT_MS };
        this.#link.publishTo(subject, item.payload, options, (error, ack) => {
          if (error === null) {
            this.#count(queue, counted, ack);
            each(index, null);
          } else if (isFull(error)) {
            each(
              index,
              new RemoteError(
                ErrorCode.QueueFull,
                `Cannot complete: queue "${queue.name}" for its result is full (maxsize ${queue.options.maxsize}); the job stays leased, try again`,
              ),
            );
          } else {
            each(index, this.#link.remote(error, "put a result to", queue.name));
          }
        });
      });
    }, (error: Error) => items.forEach((_, index) => each(index, error)));
  }

  /** Every publish at once; the answers are counted as they come. */
  #putPipelined(
    owner: Owner | null,
    queue: JsQueue,
    items: PutItem[],
    deadline: number,
    done: (result: PutResult | Error) => void,
  ): void {
    const result: PutResult = { accepted: 0, duplicates: 0 };
    let left = items.length;
    let failed = false;
    const count = (ack: PubAck | null) => {
      this.#count(queue, result, ack);
      if (--left === 0 && !failed) done(result);
    };
    const fail = (error: Error) => {
      left--;
      if (failed) return;
      failed = true;
      done(error);
    };
    if (left === 0) {
      done(result);
      return;
    }
    const timeoutMs = publishTimeout(deadline);
    const patience = this.#patience(deadline);
    for (const item of items) {
      const { subject, h } = this.#message(queue, item);
      this.#link.publishTo(subject, item.payload, { headers: h, timeoutMs }, (error, ack) => {
        if (error === null) return count(ack);
        // Full or away: this one waits and retries; the others carry on.
        this.#publishPatiently(owner, queue, { subject, item, h }, patience, result, error)
          .then(count, fail);
      });
    }
  }

  /** One job after the other (a bounded queue). */
  async #putInOrder(
    owner: Owner | null,
    queue: JsQueue,
    items: PutItem[],
    deadline: number,
  ): Promise<PutResult> {
    const result: PutResult = { accepted: 0, duplicates: 0 };
    const patience = this.#patience(deadline);
    for (const item of items) {
      const { subject, h } = this.#message(queue, item);
      const ack = await this.#publishPatiently(
        owner,
        queue,
        { subject, item, h },
        patience,
        result,
      );
      this.#count(queue, result, ack);
    }
    return result;
  }

  #count(queue: JsQueue, result: PutResult, ack: PubAck | null): void {
    if (ack === null) return;
    if (ack.duplicate) {
      result.duplicates++;
      queue.totals.duplicates++;
    } else {
      result.accepted++;
      queue.totals.put++;
    }
  }

  /** Where a job goes and its headers (the put id is the dedupe key; readers fall back on it). */
  #message(queue: JsQueue, item: PutItem): { subject: string; h: MsgHdrs } {
    const h = headers();
    h.set(Header.msgId, item.id);
    if (item.priority !== 0) h.set(Header.priority, String(item.priority));
    if (item.backoff !== undefined) h.set(Header.backoff, JSON.stringify(item.backoff));
    if (item.replyTo !== undefined) h.set(Header.replyTo, item.replyTo);
    if (item.delayMs <= 0) return { subject: queue.subject, h };
    h.set(Header.readyAt, String(Date.now() + item.delayMs));
    h.set(Header.queue, queue.name);
    return { subject: this.#queues.delay.subject(queue.name), h };
  }

  /** How long a put keeps trying: until its deadline while full, a while when NATS is away. */
  #patience(deadline: number): { deadline: number; unavailableUntil: number } {
    return { deadline, unavailableUntil: Math.min(deadline, Date.now() + this.#unavailableWaitMs) };
  }

  /**
   * Publishes one job, waiting while the queue is full or NATS is away, within
   * `patience` (counted from the start of the put); null when its owner went
   * away meanwhile. `first` is the error of an attempt already made.
   */
  async #publishPatiently(
    owner: Owner | null,
    queue: JsQueue,
    message: { subject: string; item: PutItem; h: MsgHdrs },
    patience: { deadline: number; unavailableUntil: number },
    result: PutResult,
    first: Error | null = null,
  ): Promise<PubAck | null> {
    const { subject, item, h } = message;
    const { deadline, unavailableUntil } = patience;
    let pause = 5;
    let error = first;
    // Once an attempt went unanswered it may have been stored all the same: a "duplicate"
    // answer to a later attempt is then most likely that attempt's job, stored by this put.
    let unanswered = false;
    for (;;) {
      if (error !== null) {
        if (error instanceof NoReplyError && error.reason === "timeout") unanswered = true;
        const full = isFull(error);
        const now = Date.now();
        if (full ? now >= deadline : now >= unavailableUntil) {
          if (full) {
            throw new RemoteError(
              ErrorCode.QueueFull,
              `Cannot put to queue "${queue.name}": still full (maxsize ${queue.options.maxsize}) after waiting; ${result.accepted} jobs were stored`,
            );
          }
          throw error;
        }
        if (full) {
          queue.waitingPuts++;
          await new Promise<void>((resolve) => {
            const wake = () => {
              clearTimeout(timer);
              queue.roomWaiters.delete(wake);
              resolve();
            };
            const timer = setTimeout(wake, Math.min(pause, Math.max(0, deadline - now)));
            queue.roomWaiters.add(wake);
          });
          queue.waitingPuts--;
          pause = Math.min(pause * 2, 200);
        } else {
          await sleep(Math.min(pause * 10, 500));
          pause = Math.min(pause * 2, 100);
        }
      }
      if (owner !== null && this.#gone(owner)) return null;
      try {
        const ack = await this.#link.publish(subject, item.payload, {
          headers: h,
          timeoutMs: publishTimeout(deadline),
        });
        return unanswered && ack.duplicate ? { ...ack, duplicate: false } : ack;
      } catch (e) {
        error = e as Error;
      }
    }
  }
}

/** How long a completion's result waits for its PubAck (a put with no time to wait gets as long). */
const RESULT_TIMEOUT_MS = 1_000;

/** How long one publish waits for its PubAck: the time left, within 1 to 5 s. */
function publishTimeout(deadline: number): number {
  return Math.max(1_000, Math.min(5_000, deadline - Date.now()));
}
