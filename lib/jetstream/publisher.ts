/**
 * Puts: each job is published to its queue's subject (or, delayed, to the
 * delay stream) with its put id as `Nats-Msg-Id`, and counts as stored once
 * JetStream's PubAck says so. A full stream (discard-new at `maxsize`) makes
 * the put wait and retry until its deadline; NATS being away makes it wait up
 * to `unavailableWaitMs`.
 */
import { headers } from "@nats-io/transport-node";
import { ErrorCode, RemoteError } from "../protocol/errors.ts";
import type { Owner, PutResult } from "../queue/backend.ts";
import type { PutItem } from "../queue/types.ts";
import { isFull, type JsLink, sleep } from "./link.ts";
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

  /** Stores `items` in `queue`; resolves with how many were new and how many repeats. */
  async put(
    owner: Owner | null,
    queue: JsQueue,
    items: PutItem[],
    deadline: number,
  ): Promise<PutResult> {
    await this.#queues.ready(queue, "put to");
    const result = { accepted: 0, duplicates: 0 };
    const one = async (item: PutItem): Promise<void> => {
      const h = headers();
      h.set(Header.id, item.id);
      if (item.priority !== 0) h.set(Header.priority, String(item.priority));
      let subject = queue.subject;
      if (item.delayMs > 0) {
        subject = this.#queues.delay.subject(queue.name);
        h.set(Header.readyAt, String(Date.now() + item.delayMs));
        h.set(Header.queue, queue.name);
      }
      const ack = await this.#publish(owner, queue, subject, item, h, deadline, result);
      if (ack === null) return;
      if (ack.duplicate) {
        result.duplicates++;
        queue.totals.duplicates++;
      } else {
        result.accepted++;
        queue.totals.put++;
      }
    };
    if (queue.options.maxsize > 0) {
      // One at a time, so a full queue cannot reorder the batch.
      for (const item of items) await one(item);
    } else {
      await Promise.all(items.map(one));
    }
    return result;
  }

  /** Publishes one job, waiting while the queue is full or NATS is away, up to `deadline`. */
  async #publish(
    owner: Owner | null,
    queue: JsQueue,
    subject: string,
    item: PutItem,
    h: ReturnType<typeof headers>,
    deadline: number,
    result: PutResult,
  ): Promise<{ duplicate: boolean } | null> {
    let pause = 5;
    const unavailableUntil = Math.min(deadline, Date.now() + this.#unavailableWaitMs);
    for (;;) {
      if (owner !== null && this.#gone(owner)) return null;
      try {
        const ack = await this.#link.js.publish(subject, item.payload, {
          msgID: item.id,
          headers: h,
          timeout: Math.max(1_000, Math.min(5_000, deadline - Date.now())),
        });
        return { duplicate: ack.duplicate };
      } catch (error) {
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
    }
  }
}
