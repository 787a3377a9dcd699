/**
 * The worker loop the edge examples share (Cloudflare Workers, Deno Deploy,
 * Vercel Edge, a browser page): take the tasks waiting on `tasks`, square
 * each, put the results on `results`, ack. It takes what is there now and
 * returns, rather than waiting for more: on these platforms a request (or a
 * cron run) is short and every fetch counts. k tasks cost k + 2 requests to
 * the god: one get each, then one request for all the results (puts made in
 * one turn travel together) and one for all the acks.
 *
 * @module
 */
import type { Client, Job } from "taskwire/worker";

/** What a worker puts on `results` for a task, as the god role prints it. */
export interface SquareResult {
  n: bigint;
  square: bigint;
  /** Who computed it. */
  by: string;
  /** The task's job id. */
  task: string;
}

/** What one drain did. */
export interface Drained {
  /** Tasks squared, their results stored and the tasks acked. */
  done: number;
  /** Tasks that were not integers, sent to the dead-letter queue. */
  failed: number;
}

/**
 * Squares up to `max` tasks waiting now (default 16) and acks them.
 *
 * @example
 * ```ts
 * const client = await connect({ addr: "https://god.example", authkey: workerKey });
 * const { done } = await drainTasks(client, { max: 10, by: "my-worker" });
 * ```
 */
export async function drainTasks(
  client: Client,
  options: { max?: number; by?: string } = {},
): Promise<Drained> {
  const max = options.max ?? 16;
  const tasks = client.queue<unknown>("tasks");
  const results = client.queue<SquareResult>("results");
  const jobs: Job<unknown>[] = [];
  while (jobs.length < max) {
    const job = await tasks.get({ timeout: 0 }); // what is there now; null when empty
    if (job === null) break;
    jobs.push(job);
  }
  const good = jobs.filter((job) => typeof job.value === "bigint" || Number.isInteger(job.value));
  const bad = jobs.filter((job) => !good.includes(job));
  // The result's id comes from the task's, so a task delivered twice yields one result.
  await Promise.all(good.map((job) => {
    const n = BigInt(job.value as number | bigint);
    const result = { n, square: n * n, by: options.by ?? "edge", task: job.id };
    return results.put(result, { id: `result:${job.id}` });
  }));
  await Promise.all([
    ...good.map((job) => job.ack()),
    ...bad.map((job) => job.fail(`not an integer: ${String(job.value)}`)),
  ]);
  return { done: good.length, failed: bad.length };
}
