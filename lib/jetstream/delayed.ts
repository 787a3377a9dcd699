/**
 * Delayed jobs: a put with a delay waits in the delay stream (one for every
 * queue, a subject per queue) until it is due. Every god pulls from that
 * stream; a job not yet due is nak'ed with the time left as its delay, a due
 * one is published to its queue (same `Nats-Msg-Id`, so a repeat is dropped)
 * and then acked.
 */
import { headers, type Msg } from "@nats-io/transport-node";
import { ACK, errorText, isFull, type JsLink, nakAfter } from "./link.ts";
import { Header } from "./names.ts";
import type { Queues } from "./provision.ts";
import { PULL_CHUNK_MS, type PullClient, type PullEngine } from "./pull_engine.ts";

/** Jobs asked of the delay stream at once. */
const WINDOW = 256;

/** Moves due jobs from the delay stream to their queues. */
export class DelayMover implements PullClient {
  readonly kind = "client" as const;
  readonly #link: JsLink;
  readonly #queues: Queues;
  readonly #engine: PullEngine;
  #requested = 0;
  #started = false;

  constructor(link: JsLink, queues: Queues, engine: PullEngine) {
    this.#link = link;
    this.#queues = queues;
    this.#engine = engine;
  }

  /** Starts pulling (once the delay stream exists). */
  start(): void {
    this.#started = true;
    this.pump();
  }

  /** Keeps up to {@link WINDOW} jobs asked for, in half-window steps. */
  pump(): void {
    if (!this.#started || this.#link.closed || !this.#link.connected) return;
    const room = WINDOW - this.#requested;
    if (room < WINDOW / 2) return;
    this.#requested += room;
    this.#engine.pull(null, this, room, PULL_CHUNK_MS);
  }

  received(msg: Msg): void {
    this.#requested--;
    this.#move(msg).finally(() => this.pump());
  }

  ended(missing: number, code: number, trouble: string | null): void {
    this.#requested -= missing;
    setTimeout(() => this.pump(), trouble || code === 409 ? 500 : 0);
  }

  /** A delayed job: back to sleep until due, or on to its queue. */
  async #move(msg: Msg): Promise<void> {
    const h = msg.headers;
    const readyAt = Number(h?.get(Header.readyAt) || 0);
    const name = h?.get(Header.queue) || "";
    const now = Date.now();
    if (readyAt > now) {
      this.#link.respond(msg.reply!, nakAfter(readyAt - now));
      return;
    }
    try {
      const queue = this.#queues.get(name, true);
      await queue.ensured;
      const out = headers();
      for (
        const key of [Header.id, Header.priority, Header.replyTo, Header.msgId, Header.backoff]
      ) {
        const value = h?.get(key);
        if (value) out.set(key, value);
      }
      await this.#link.publish(queue.subject, msg.data, { headers: out });
      await this.#link.confirm(msg.reply!, ACK);
    } catch (error) {
      // Full queue or NATS trouble: try again shortly.
      this.#link.respond(msg.reply!, nakAfter(250));
      if (!isFull(error)) {
        this.#link.log({
          event: "error",
          error: `cannot move a delayed job to "${name}": ${errorText(error)}`,
        });
      }
    }
  }
}
