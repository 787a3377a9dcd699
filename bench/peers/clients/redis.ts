/**
 * Redis lists as a reliable queue, through ioredis: a put is one LPUSH per
 * batch; a consumer moves each job with BLMOVE from the queue's tail to the
 * head of its own processing list (`<queue>:processing:<name>`), where the job
 * stays until acked with LREM. A result's LPUSH and its task's LREM are sent
 * together, in that order, on one connection: Redis runs them in order, so the
 * task leaves the processing list only after its result is stored. (MULTI
 * would add two commands and no safety here: Redis does not roll a transaction
 * back when one of its commands fails. A crashed consumer's processing list is
 * what a reaper would put back; the benchmark has no crash, so none runs.)
 *
 * Fetching: the blocking connection sends one BLMOVE followed by LMOVEs,
 * pipelined, for up to the free part of the window: a busy queue answers many
 * jobs per round trip; an empty one makes the BLMOVE wait on the server (up to
 * 1 s, then again), so nothing polls. The batch doubles while every move
 * brings a job and falls back to what the last round brought otherwise, so a
 * trickle of jobs costs one BLMOVE each, not a batch of empty moves.
 *
 * ioredis runs with `enableAutoPipelining` (its documented option for
 * throughput: the commands of one event-loop turn go out in one write).
 */
import { Redis } from "ioredis";
import {
  type ClientOptions,
  type ConsumeOptions,
  fatal,
  type PeerClient,
  Window,
} from "../client.ts";

/** Opens a command connection; each consume adds a blocking one. */
export async function open(options: ClientOptions): Promise<PeerClient> {
  const url = new URL(options.url);
  const connect = async (): Promise<Redis> => {
    const redis = new Redis({
      host: url.hostname,
      port: Number(url.port),
      connectionName: options.name,
      lazyConnect: true,
      enableAutoPipelining: true,
    });
    await redis.connect();
    return redis;
  };
  const commands = await connect();
  const fetchers: Redis[] = [];
  let closed = false;

  const consume = async (
    queue: string,
    consumeOptions: ConsumeOptions,
    handle: (body: string) => string | null,
  ): Promise<void> => {
    const fetcher = await connect();
    fetchers.push(fetcher);
    const processing = `${queue}:processing:${options.name}`;
    const window = new Window(consumeOptions.window);
    const finish = async (body: string): Promise<void> => {
      const result = handle(body);
      // LREM with count -1 searches from the tail, where the oldest jobs in hand are.
      if (result !== null && consumeOptions.resultsTo) {
        const replies = await commands.pipeline().lpush(
          consumeOptions.resultsTo,
          result,
        )
          .lrem(processing, -1, body).exec();
        const failed = replies?.find(([error]) => error !== null);
        if (failed) throw failed[0];
      } else {
        await commands.lrem(processing, -1, body);
      }
      window.release();
    };
    const fetch = async (): Promise<void> => {
      let batch = 1;
      while (!closed) {
        await window.room();
        const size = Math.min(batch, window.free);
        const pipeline = fetcher.pipeline().blmove(
          queue,
          processing,
          "RIGHT",
          "LEFT",
          1,
        );
        for (let i = 1; i < size; i++) {
          pipeline.lmove(queue, processing, "RIGHT", "LEFT");
        }
        let got = 0;
        for (const [error, body] of (await pipeline.exec()) ?? []) {
          if (error) throw error;
          if (typeof body !== "string") continue;
          got++;
          window.takeNow(1);
          finish(body).catch((e) => fatal(`acking a job of ${queue}`, e));
        }
        batch = got === size ? size * 2 : Math.max(1, got);
      }
    };
    fetch().catch((error) => {
      if (!closed) fatal(`taking jobs from ${queue}`, error);
    });
  };

  return {
    async put(queue, bodies) {
      await commands.lpush(queue, ...bodies);
    },
    consume,
    async close() {
      closed = true;
      for (const fetcher of fetchers) fetcher.disconnect();
      await commands.quit();
    },
  };
}
