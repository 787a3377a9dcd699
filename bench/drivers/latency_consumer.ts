/**
 * Bench driver for latency: takes `{ n, t }` tasks from `--tasks`, computes
 * n*n and completes each with `{ n, square, t }` (carrying `t` back): the
 * result goes to the task's caller when it was called, else into `--results`.
 *
 * Usage: latency_consumer.ts --connect HOST:PORT [--tasks lat.tasks] [--results lat.results]
 */
import process from "node:process";
import { connect } from "../../mod.ts";
import { authkey, emit, onStop, parseArgs } from "./_common.ts";

const args = parseArgs(process.argv.slice(2));
const client = await connect({ addr: args.get("connect"), authkey: authkey(), role: "consumer" });
const results = args.get("results") ?? "lat.results";
const jobs = client.queue<{ n: number; t: number }>(args.get("tasks") ?? "lat.tasks")
  .consume({ prefetch: 64 });
onStop(async () => {
  await jobs.cancel().catch(() => {});
  await client.close();
});
await jobs.ready();
emit({ event: "consuming" });
for await (const job of jobs) {
  const { n, t } = job.value;
  job.complete({ n, square: BigInt(n) * BigInt(n), t }, { queue: results }).catch((error) =>
    emit({ event: "error", message: (error as Error).message })
  );
}
