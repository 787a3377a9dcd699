/**
 * NATS JetStream through nats.js (`@nats-io/jetstream`, the client taskwire's
 * own JetStream store uses, from taskwire's dependencies): each queue is a
 * work-queue stream (a message leaves it when acked) on subject = queue name,
 * in memory or in file storage; a put is a publish awaiting its PubAck; the
 * consumers of a queue share one durable pull consumer (explicit acks, a 30 s
 * ack wait as taskwire's lease, `max_ack_pending` = the window of every
 * process sharing it), which each process reads with `consume()` buffering
 * up to its window; a task is acked once its result's PubAck is in.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  AckPolicy,
  type ConsumerMessages,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import {
  type ClientOptions,
  type ConsumeOptions,
  fatal,
  type PeerClient,
  Window,
} from "../client.ts";

const NS = 1_000_000;
/** The durable consumer every process taking from a queue shares. */
const DURABLE = "workers";

/** A stream name for a queue name (stream names allow no dots). */
function streamOf(queue: string): string {
  return `Q_${queue.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

/** Connects once; streams are created on first use (the same settings from every process). */
export async function open(options: ClientOptions): Promise<PeerClient> {
  const url = new URL(options.url);
  const nc: NatsConnection = await connect({
    servers: `${url.hostname}:${url.port}`,
    name: options.name,
    // No stack captured per request: nats.js at its fastest.
    noAsyncTraces: true,
  });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const streams = new Map<string, Promise<unknown>>();
  const ensure = (queue: string): Promise<unknown> => {
    let p = streams.get(queue);
    if (!p) {
      p = jsm.streams.add({
        name: streamOf(queue),
        subjects: [queue],
        retention: RetentionPolicy.Workqueue,
        storage: options.durable ? StorageType.File : StorageType.Memory,
        num_replicas: 1,
      });
      streams.set(queue, p);
    }
    return p;
  };
  const subscriptions: ConsumerMessages[] = [];
  let closed = false;

  return {
    async put(queue, bodies) {
      await ensure(queue);
      await Promise.all(bodies.map((body) => js.publish(queue, body)));
    },
    async consume(queue: string, consumeOptions: ConsumeOptions, handle) {
      const resultsTo = consumeOptions.resultsTo;
      await Promise.all([ensure(queue), resultsTo ? ensure(resultsTo) : null]);
      await jsm.consumers.add(streamOf(queue), {
        durable_name: DURABLE,
        ack_policy: AckPolicy.Explicit,
        ack_wait: 30_000 * NS,
        max_ack_pending: consumeOptions.window * (consumeOptions.sharedBy ?? 1),
      });
      const consumer = await js.consumers.get(streamOf(queue), DURABLE);
      const messages = await consumer.consume({
        max_messages: consumeOptions.window,
      });
      subscriptions.push(messages);
      const window = new Window(consumeOptions.window);
      const take = async (): Promise<void> => {
        for await (const m of messages) {
          await window.take();
          const result = handle(m.string());
          const stored = result !== null && resultsTo
            ? js.publish(resultsTo, result)
            : null;
          Promise.resolve(stored).then(() => {
            m.ack();
            window.release();
          }).catch((error) => fatal(`putting a result to ${resultsTo}`, error));
        }
      };
      take().catch((error) => {
        if (!closed) fatal(`taking jobs from ${queue}`, error);
      });
    },
    async close() {
      closed = true;
      for (const messages of subscriptions) messages.stop();
      await nc.close();
    },
  };
}
