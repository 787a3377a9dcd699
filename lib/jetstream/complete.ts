/**
 * Completions: leased jobs acked, each once its result is stored. JetStream
 * cannot do both in one step, so a result is published first and its job is
 * acked after the result's PubAck: a crash in between redelivers the job, and
 * the result's id keeps a second result from being stored twice.
 *
 * The results of one completion go out together, pipelined, and each job's
 * ack follows its own PubAck, so a completion of many jobs costs about two
 * round trips to NATS, not two per job. A result for a caller waiting on
 * another god is handed there first and stored only if it was not taken.
 */
import type { Owner, ResultPut } from "../queue/backend.ts";
import type { Job, PutItem } from "../queue/types.ts";
import type { CallAnswers } from "./answers.ts";
import type { Queues } from "./provision.ts";
import type { Publisher } from "./publisher.ts";
import type { PullEngine } from "./pull_engine.ts";
import type { JsQueue } from "./queue.ts";

/** A job that could not be completed, and why. */
type Failure = { tag: number; message: string };

/** Completes leased jobs with their results. */
export class Completions {
  readonly #engine: PullEngine;
  readonly #publisher: Publisher;
  readonly #answers: CallAnswers;
  readonly #queues: Queues;

  constructor(parts: {
    engine: PullEngine;
    publisher: Publisher;
    answers: CallAnswers;
    queues: Queues;
  }) {
    this.#engine = parts.engine;
    this.#publisher = parts.publisher;
    this.#answers = parts.answers;
    this.#queues = parts.queues;
  }

  /**
   * Completes the jobs `owner` holds under `tags`, each with the result
   * `route` gives for it (or none); resolves with the jobs that could not be
   * completed, with why (their leases stay unless they ran out meanwhile).
   */
  complete(
    owner: Owner,
    tags: readonly number[],
    route: (job: Job, queue: string, index: number) => ResultPut | null,
    now: number,
  ): Failure[] | Promise<Failure[]> {
    const failures: Failure[] = [];
    let waiting = 0;
    let finish: (() => void) | null = null;
    const settle = (tag: number, failure: string | null) => {
      if (failure !== null) failures.push({ tag, message: failure });
      if (--waiting === 0) finish?.();
    };
    // The lease is looked up again: it may have run out, or gone with a redelivery announced by
    // another god, while its result was being stored; an ack then could take the job from its
    // new holder.
    const ack = (tag: number) => {
      const lease = this.#engine.own(owner, tag, Date.now());
      if (typeof lease === "string") settle(tag, lease);
      else this.#engine.ackLease(lease, (failure) => settle(tag, failure));
    };
    const store = (queue: JsQueue, batch: { tags: number[]; items: PutItem[] }) => {
      this.#publisher.putEach(queue, batch.items, (index, error) => {
        if (error === null) ack(batch.tags[index]);
        else settle(batch.tags[index], error.message);
      });
    };
    const batches = new Map<JsQueue, { tags: number[]; items: PutItem[] }>();
    for (let i = 0; i < tags.length; i++) {
      const tag = tags[i];
      const lease = this.#engine.own(owner, tag, now);
      if (typeof lease === "string") {
        failures.push({ tag, message: lease });
        continue;
      }
      let put: ResultPut | null;
      let target: JsQueue | null = null;
      try {
        put = route(lease.job, lease.queue.name, i);
        if (put !== null) target = this.#queues.get(put.queue);
      } catch (error) {
        failures.push({ tag, message: (error as Error).message });
        continue;
      }
      waiting++;
      if (put === null || target === null) {
        ack(tag);
      } else if (put.answer !== undefined) {
        // A caller on another god takes the result there, or it is stored.
        const { item, answer } = put;
        const queue = target;
        this.#answers.relay(answer.replyTo, answer.result).then((taken) => {
          if (taken) ack(tag);
          else store(queue, { tags: [tag], items: [item] });
        });
      } else {
        let batch = batches.get(target);
        if (batch === undefined) batches.set(target, batch = { tags: [], items: [] });
        batch.tags.push(tag);
        batch.items.push(put.item);
      }
    }
    for (const [queue, batch] of batches) store(queue, batch);
    if (waiting === 0) return failures;
    return new Promise((resolve) => finish = () => resolve(failures));
  }
}
