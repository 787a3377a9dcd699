/**
 * The Python door's seam ({@link PythonGod}) over the operations layer: each
 * Python connection is a {@link Caller} of door "python", so its puts, gets,
 * acks and leases follow the same rules as every other door's, and the god's
 * stats list it among the clients.
 */
import { ask, type Operations } from "../ops/operations.ts";
import type { Caller } from "../ops/caller.ts";
import type { GodStats } from "../protocol/replies.ts";
import type { PythonGod, PythonJob, PythonPeer, PythonQueueStats, PythonSession } from "./door.ts";

/**
 * Serves Python sessions from the god's operations.
 *
 * @example
 * ```ts
 * const god = await serve({ authkey });
 * const door = await servePython(pythonGod(god.ops), { listen: "127.0.0.1:5679", authkey });
 * ```
 */
export function pythonGod(ops: Operations): PythonGod {
  return {
    open: (peer: PythonPeer): PythonSession => new OpsSession(ops, peer),
  };
}

/** Ids of jobs put by Python get this random prefix per process, then a counter. */
const ID_PREFIX = `py-${
  Array.from(crypto.getRandomValues(new Uint8Array(5)), (b) => b.toString(16).padStart(2, "0"))
    .join("")
}`;
let idCounter = 0;
const makeId = () => `${ID_PREFIX}-${++idCounter}`;
const ONE_ITEM = [{}];

class OpsSession implements PythonSession {
  readonly #ops: Operations;
  readonly #caller: Caller;

  constructor(ops: Operations, peer: PythonPeer) {
    this.#ops = ops;
    this.#caller = ops.attach({
      door: "python",
      remote: peer.remote,
      role: "worker",
      runtime: peer.runtime,
      name: peer.name,
    });
  }

  async put(queue: string, payload: string, options: { timeoutMs: number }): Promise<void> {
    await ask((done) =>
      this.#ops.put(
        this.#caller,
        { queue, items: ONE_ITEM, payloads: [payload], timeout: options.timeoutMs },
        makeId,
        done,
      )
    );
  }

  async get(queue: string, options: { timeoutMs: number }): Promise<PythonJob | null> {
    const [delivery] = await ask<{ tag: number; job: { payload: string }; deadline?: number }[]>(
      (done) => this.#ops.get(this.#caller, { queue, timeout: options.timeoutMs }, done),
    );
    if (delivery === undefined) return null;
    // A backend that does not say when the lease ends is asked by a touch.
    const deadline = delivery.deadline ?? await this.touch(delivery.tag);
    return { tag: delivery.tag, payload: delivery.job.payload, deadline };
  }

  async ack(tags: number[]): Promise<void> {
    // A tag that could not be acked went back to its queue already (its lease ran out).
    await ask((done) => this.#ops.ack(this.#caller, { tags }, done));
  }

  nack(tag: number, options: { dead?: string } = {}): Promise<void> {
    const dead = options.dead;
    return ask((done) =>
      dead === undefined
        ? this.#ops.nack(this.#caller, { tag }, done)
        : this.#ops.fail(this.#caller, { tag, reason: dead }, done)
    );
  }

  touch(tag: number): Promise<number> {
    return ask((done) => this.#ops.touch(this.#caller, { tag }, done));
  }

  async stats(queue: string): Promise<PythonQueueStats> {
    const stats = await ask<GodStats>((done) => this.#ops.stats(this.#caller, { queue }, done));
    const [q] = stats.queues;
    return { ready: q.ready, delayed: q.delayed, inFlight: q.inFlight, maxsize: q.maxsize };
  }

  close(): void {
    this.#ops.detach(this.#caller);
  }
}
