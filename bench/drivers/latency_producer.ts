/**
 * Bench driver for latency: puts `{ n, t }` tasks into `--tasks` at a paced
 * `--rate` per second (t = this process's performance.now() at the put), and
 * collects the results from `--results` itself, so each latency (result
 * received − task put, through god → consumer → god → here) is measured on
 * one monotonic clock. Prints one `{"event":"latency", ...}` line with the
 * percentiles once `--count` results have arrived, then stays connected until
 * SIGTERM. The first `--warmup` tasks (JIT warm-up, first connections) must
 * arrive too but are left out of the percentiles (`p99All` counts them); `worstAtMs` says when the
 * slowest counted task was put, relative to the first put.
 *
 * Usage: latency_producer.ts --connect HOST:PORT [--rate 500] [--count 5000]
 *        [--warmup 0] [--tasks lat.tasks] [--results lat.results]
 */
import process from "node:process";
import { connect } from "../../mod.ts";
import { authkey, emit, num, onStop, parseArgs } from "./_common.ts";
import { LatencyRecord, pace } from "./_latency.ts";

const args = parseArgs(process.argv.slice(2));
const rate = num(args, "rate", 500);
const count = num(args, "count", 5000);
const record = new LatencyRecord(count, num(args, "warmup", 0));
const client = await connect({ addr: args.get("connect"), authkey: authkey(), role: "producer" });
const results = client.queue<{ n: number; t: number }>(args.get("results") ?? "lat.results")
  .consume({ prefetch: 256 });
onStop(async () => {
  await results.cancel().catch(() => {});
  await client.close();
});
await results.ready();
const tasks = client.queue<{ n: number; t: number }>(args.get("tasks") ?? "lat.tasks");

const collecting = (async () => {
  for await (const job of results) {
    record.result(job.value.n, job.value.t);
    job.ack().catch(() => {});
    if (record.complete) return;
  }
})();

emit({ event: "start", t: Date.now() });
await pace(count, rate, (n) => {
  tasks.put({ n, t: record.put(n) }).catch((error) =>
    emit({ event: "error", message: (error as Error).message })
  );
});
await collecting;
emit({ ...record.summary() });
