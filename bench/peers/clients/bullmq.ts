/**
 * BullMQ on Redis, as its documentation has it: a `Queue` per queue name
 * (puts are `addBulk` batches), a `Worker` with `concurrency` = the window
 * whose processor adds the result to the results queue and returns, which
 * completes (acks) the job. Jobs are added with `removeOnComplete`, so a
 * finished job leaves Redis, as an acked job leaves the other queues.
 * BullMQ's own defaults otherwise (its Worker holds a blocking connection
 * and fetches the next job as it completes one).
 */
import { type ConnectionOptions, Queue, Worker } from "bullmq";
import {
  type ClientOptions,
  type ConsumeOptions,
  fatal,
  type PeerClient,
} from "../client.ts";

const JOB_OPTIONS = { removeOnComplete: true } as const;

/** Opens queues and workers lazily, each with its own connections (BullMQ's default). */
export function open(options: ClientOptions): Promise<PeerClient> {
  const url = new URL(options.url);
  const connection: ConnectionOptions = {
    host: url.hostname,
    port: Number(url.port),
    connectionName: options.name,
    // Workers require it: a blocking command must not be retried by ioredis.
    maxRetriesPerRequest: null,
  };
  const queues = new Map<string, Queue<string>>();
  const workers: Worker<string>[] = [];
  const queue = (name: string): Queue<string> => {
    let q = queues.get(name);
    if (!q) {
      q = new Queue<string>(name, {
        connection,
        defaultJobOptions: JOB_OPTIONS,
      });
      queues.set(name, q);
    }
    return q;
  };

  return Promise.resolve({
    async put(name: string, bodies: readonly string[]) {
      await queue(name).addBulk(bodies.map((data) => ({ name, data })));
    },
    async consume(
      name: string,
      consumeOptions: ConsumeOptions,
      handle: (body: string) => string | null,
    ) {
      const resultsTo = consumeOptions.resultsTo;
      const results = resultsTo ? queue(resultsTo) : null;
      const worker = new Worker<string>(name, async (job) => {
        const result = handle(job.data);
        if (result !== null && results && resultsTo) {
          await results.add(resultsTo, result);
        }
      }, { connection, concurrency: consumeOptions.window });
      // A job that failed would never yield its result: stop the run at once, saying why.
      worker.on(
        "failed",
        (_job, error) => fatal(`a job of ${name} failed`, error),
      );
      worker.on("error", (error) => fatal(`the worker of ${name}`, error));
      workers.push(worker);
      await worker.waitUntilReady();
    },
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all([...queues.values()].map((q) => q.close()));
    },
  });
}
