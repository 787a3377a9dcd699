/**
 * RabbitMQ through amqplib: each queue a classic queue (durable, with
 * persistent messages, in the fsync mode; neither in memory), declared by
 * every process that uses it. Puts go through a confirm channel: a put
 * resolves once the broker confirms it (for a persistent message, once it is
 * on disk). A consumer has its own channel with `prefetch(window)` and manual
 * acks; it publishes each result on the confirm channel and acks the task once
 * that is confirmed.
 */
import { type Channel, type ConfirmChannel, connect } from "amqplib";
import { once } from "node:events";
import { Buffer } from "node:buffer";
import {
  type ClientOptions,
  type ConsumeOptions,
  fatal,
  type PeerClient,
} from "../client.ts";

/** One connection with one confirm channel for puts, and a channel per consume. */
export async function open(options: ClientOptions): Promise<PeerClient> {
  const connection = await connect(options.url, { noDelay: true });
  let closed = false;
  connection.on("error", (error) => {
    if (!closed) fatal("RabbitMQ connection", error);
  });
  const puts: ConfirmChannel = await connection.createConfirmChannel();
  const declared = new Map<string, Promise<unknown>>();
  const declare = (queue: string): Promise<unknown> => {
    let p = declared.get(queue);
    if (!p) {
      p = puts.assertQueue(queue, { durable: options.durable });
      declared.set(queue, p);
    }
    return p;
  };
  /**
   * Publishes one body: `confirmed` settles at its confirm; `full` says the
   * channel's write buffer is full (amqplib asks to wait for "drain").
   */
  const publish = (
    queue: string,
    body: string,
  ): { confirmed: Promise<void>; full: boolean } => {
    let full = false;
    const confirmed = new Promise<void>((resolve, reject) => {
      full = !puts.sendToQueue(
        queue,
        Buffer.from(body),
        { persistent: options.durable },
        (error) => error ? reject(error) : resolve(),
      );
    });
    return { confirmed, full };
  };
  const channels: Channel[] = [];

  return {
    async put(queue, bodies) {
      await declare(queue);
      const confirms: Promise<void>[] = [];
      for (const body of bodies) {
        const { confirmed, full } = publish(queue, body);
        confirms.push(confirmed);
        if (full) await once(puts, "drain");
      }
      await Promise.all(confirms);
    },
    async consume(queue: string, consumeOptions: ConsumeOptions, handle) {
      const resultsTo = consumeOptions.resultsTo;
      await Promise.all([
        declare(queue),
        resultsTo ? declare(resultsTo) : null,
      ]);
      const channel = await connection.createChannel();
      channels.push(channel);
      await channel.prefetch(consumeOptions.window);
      await channel.consume(queue, (message) => {
        if (message === null) return; // cancelled by the broker
        const result = handle(message.content.toString());
        // Results in flight are bounded by the prefetch window, so no wait for "drain" here.
        const stored = result !== null && resultsTo
          ? publish(resultsTo, result).confirmed
          : null;
        Promise.resolve(stored).then(() => channel.ack(message)).catch((
          error,
        ) => fatal(`putting a result to ${resultsTo}`, error));
      }, { noAck: false });
    },
    async close() {
      closed = true;
      await connection.close().catch(() => {});
    },
  };
}
