/**
 * Bench driver: a consumer on the library that takes integers from `tasks`
 * by push (prefetch window), computes n*n exactly (BigInt) and puts
 * `{ n, square, by, task }` into `results` (id `result:<task id>`, as the role does), acking each task once its result is stored.
 * As the consumer role does, `--concurrency C` is the prefetch window: at most
 * C tasks are in hand at once, each acked after its result's put is answered.
 *
 * Usage: consumer.ts --connect HOST:PORT [--concurrency 8]
 */
import process from "node:process";
import { connect, type Job } from "../../mod.ts";
import { authkey, emit, num, onStop, parseArgs } from "./_common.ts";

const args = parseArgs(process.argv.slice(2));
const concurrency = num(args, "concurrency", 8);
const name = `bench-consumer-${process.pid}`;
const client = await connect({
  addr: args.get("connect"),
  authkey: authkey(),
  role: "consumer",
  name,
});
const results = client.queue(args.get("results") ?? "results");
const jobs = client.queue<number>(args.get("tasks") ?? "tasks").consume({ prefetch: concurrency });
onStop(async () => {
  await jobs.cancel().catch(() => {});
  await client.close();
});
await jobs.ready();
emit({ event: "consuming", concurrency });
const work = async (job: Job<number>) => {
  const n = BigInt(job.value);
  await results.put({ n, square: n * n, by: name, task: job.id }, { id: `result:${job.id}` });
  await job.ack();
};
try {
  for await (const job of jobs) {
    work(job).catch((error) => emit({ event: "error", message: (error as Error).message }));
  }
} catch (error) {
  emit({ event: "error", message: (error as Error).message });
}
