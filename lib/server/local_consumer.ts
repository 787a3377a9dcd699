/**
 * A consumer inside the god's own process: a door with no wire, translating
 * onto the operations layer like the others.
 *
 * The god role collects every result. Through a connection (even an
 * in-process one) each result would be framed, copied, parsed and decoded
 * twice over, and its ack would travel back the same way; here a delivery is
 * a function call, a batch of deliveries is acked with one call, and a payload
 * is decoded only if the handler asks for its value.
 */
import type { Delivery } from "../queue/types.ts";
import { decodeText } from "../protocol/codec.ts";
import { TaskwireError } from "../protocol/errors.ts";
import { runtimeName } from "../util/runtime.ts";
import type { God } from "./server.ts";

/** A job as the god's own consumer sees it. */
export class LocalJob<T = unknown> {
  readonly id: string;
  readonly attempts: number;
  /** The superjson text the producer sent. */
  readonly payload: string;
  #value: { decoded: T } | null = null;

  constructor(delivery: Delivery) {
    this.id = delivery.job.id;
    this.attempts = delivery.job.attempts;
    this.payload = delivery.job.payload;
  }

  /** The decoded value (decoded on first use); throws a ProtocolError for a payload that is not superjson. */
  get value(): T {
    this.#value ??= { decoded: decodeText<T>(this.payload) };
    return this.#value.decoded;
  }
}

/** What {@link consumeLocally} returns. */
export interface LocalConsumer {
  /** Stops taking jobs; jobs not handled yet go back to the queue. */
  stop(): void;
}

/**
 * Hands every job of `queueName` to `handle` as it arrives, at most `prefetch`
 * unacked at a time. A job is acked once `handle` returns; if `handle` throws
 * the job goes to the dead-letter queue with the error's message as reason
 * (a payload that cannot be decoded never will be).
 */
export function consumeLocally<T>(
  god: God,
  queueName: string,
  options: { prefetch: number },
  handle: (job: LocalJob<T>) => void,
  onError: (error: unknown) => void = () => {},
): LocalConsumer {
  const { ops } = god;
  const caller = ops.attach({
    door: "local",
    remote: "local",
    role: "god",
    runtime: runtimeName(),
    name: `collector of ${queueName}`,
    listed: false,
  });
  const report = (outcome: unknown) => {
    if (outcome instanceof TaskwireError) onError(outcome);
  };
  let done: number[] = [];
  let stopped = false;

  // Acks go out after the delivery call has returned: the backend is in the
  // middle of its own work while it delivers.
  const ackDone = () => {
    const tags = done;
    done = [];
    if (tags.length > 0) ops.ack(caller, { tags }, report);
  };

  const deliver = (deliveries: Delivery[]) => {
    if (stopped) return;
    if (done.length === 0) queueMicrotask(ackDone);
    for (const delivery of deliveries) {
      try {
        handle(new LocalJob<T>(delivery));
        done.push(delivery.tag);
      } catch (error) {
        const reason = `cannot handle: ${(error as Error)?.message ?? String(error)}`;
        queueMicrotask(() => ops.fail(caller, { tag: delivery.tag, reason }, report));
      }
    }
  };

  const subscription = ops.consume(
    caller,
    { queue: queueName, prefetch: options.prefetch },
    deliver,
  );

  return {
    stop() {
      if (stopped) return;
      stopped = true;
      ackDone();
      ops.cancel(caller, subscription);
      ops.detach(caller);
    },
  };
}
