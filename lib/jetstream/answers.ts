/**
 * Answers to calls between gods that share a store. A called task names its
 * caller (`replyTo`, `<god instance>.<caller>`); when a consumer of another
 * god completes it, that god hands the result to the caller's god with a NATS
 * request on `<prefix>.answer.<instance>`, and learns whether the caller took
 * it. When it did not (its god is gone, or the caller gave up), the result
 * is stored in its fallback queue instead, before the task is acked.
 */
import type { Subscription as NatsSub } from "@nats-io/transport-node";
import type { CallResult } from "../protocol/replies.ts";
import { ENCODER, type JsLink } from "./link.ts";

/** How long a god waits for the caller's god to say it took an answer. */
const ANSWER_TIMEOUT_MS = 2_000;
const TAKEN = ENCODER.encode("1");
const NOT_TAKEN = ENCODER.encode("0");

export class CallAnswers {
  readonly #link: JsLink;
  readonly #root: string;
  #sub: NatsSub | null = null;

  constructor(link: JsLink) {
    this.#link = link;
    this.#root = `${link.prefix.toLowerCase()}.answer`;
  }

  /** Takes answers for this god's callers: `take` says whether the caller took one. */
  listen(instance: string, take: (replyTo: string, result: CallResult) => boolean): void {
    this.#sub?.unsubscribe();
    this.#sub = this.#link.nc.subscribe(`${this.#root}.${instance}`, {
      callback: (error, msg) => {
        if (error !== null || !msg.reply) return;
        let taken = false;
        try {
          const { replyTo, result } = msg.json<{ replyTo: string; result: CallResult }>();
          if (typeof replyTo === "string" && typeof result?.id === "string") {
            taken = take(replyTo, result);
          }
        } catch {
          // Not an answer (another program on the subject): not taken.
        }
        msg.respond(taken ? TAKEN : NOT_TAKEN);
      },
    });
  }

  /** Hands `result` to the god of caller `replyTo`; resolves whether the caller took it. */
  async relay(replyTo: string, result: CallResult): Promise<boolean> {
    const dot = replyTo.indexOf(".");
    if (dot <= 0 || this.#link.closed) return false;
    try {
      const reply = await this.#link.nc.request(
        `${this.#root}.${replyTo.slice(0, dot)}`,
        ENCODER.encode(JSON.stringify({ replyTo, result })),
        { timeout: ANSWER_TIMEOUT_MS },
      );
      return reply.string() === "1";
    } catch {
      // No god answers for that instance (it is gone), or NATS is away.
      return false;
    }
  }

  close(): void {
    this.#sub?.unsubscribe();
    this.#sub = null;
  }
}
