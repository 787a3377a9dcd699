/**
 * Bench driver for latency: puts `{ n, t }` tasks into `--tasks` at a paced
 * `--rate` per second (t = this process's performance.now() at the put), and
 * collects the results from `--results` itself, so each latency (result
 * received − task put, through god → consumer → god → here) is measured on
 * one monotonic clock. Prints one `{"event":"latency", ...}` line with the
 * percentiles once `--count` results have arrived, then stays connected until
 * SIGTERM. The first `--warmup` tasks (JIT warm-up, first connections) must
 * arrive too but are left out of the percentiles (`p99All` counts them); `worstAtMs` says when the
 * slowest counted task was put, relative to the first put. With `--call` each
 * task is put with `queue.call()` and its latency ends when the call resolves
 * with its answer (the results queue is not read).
 *
 * Usage: latency_producer.ts --connect HOST:PORT [--rate 500] [--count 5000]
 *        [--warmup 0] [--tasks lat.tasks] [--results lat.results] [--call]
 */
import process from "node:process";
import { connect } from "../../mod.ts";
import { authkey, emit, num, onStop, parseArgs } from "./_common.ts";
import { LatencyRecord, pace } from "./_latency.ts";

const args = parseArgs(process.argv.slice(2));
const rate = num(args, "rate", 500);
const count = num(args, "count", 5000);
const record = new LatencyRecord(count, num(args, "warmup", 0));
const calling = args.has("call");
const client = await connect({ addr: args.get("connect"), authkey: authkey(), role: "producer" });
type Task = { n: number; t: number };
const results = calling ? null : client.queue<Task>(args.get("results") ?? "lat.results")
  .consume({ prefetch: 256 });
onStop(async () => {
  await results?.cancel().catch(() => {});
  await client.close();
});
await results?.ready();
const tasks = client.queue<Task>(args.get("tasks") ?? "lat.tasks");
const failed = (error: unknown) => emit({ event: "error", message: (error as Error).message });

let answered: () => void;
const allAnswered = new Promise<void>((resolve) => answered = resolve);
const collecting = results === null ? allAnswered : (async () => {
  for await (const job of results) {
    record.result(job.value.n, job.value.t);
    job.ack().catch(() => {});
    if (record.complete) return;
  }
})();

emit({ event: "start", t: Date.now() });
await pace(count, rate, (n) => {
  const task = { n, t: record.put(n) };
  if (calling) {
    tasks.call<Task>(task, { timeout: 60_000 }).then((answer) => {
      record.result(answer.n, answer.t);
      if (record.complete) answered();
    }).catch(failed);
  } else {
    tasks.put(task).catch(failed);
  }
});
await collecting;
emit({ ...record.summary() });
