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

const args = parseArgs(process.argv.slice(2));
const rate = num(args, "rate", 500);
const count = num(args, "count", 5000);
const warmup = Math.min(num(args, "warmup", 0), count - 1);
const client = await connect({ addr: args.get("connect"), authkey: authkey(), role: "producer" });
const results = client.queue<{ n: number; t: number }>(args.get("results") ?? "lat.results")
  .consume({ prefetch: 256 });
onStop(async () => {
  await results.cancel().catch(() => {});
  await client.close();
});
await results.ready();
const tasks = client.queue<{ n: number; t: number }>(args.get("tasks") ?? "lat.tasks");

const latencies = new Float64Array(count);
/** Every task's latency, the warm-up included. */
const all = new Float64Array(count);
const putAt = new Float64Array(count);
let received = 0;
let counted = 0;
let worst = { ms: -1, n: -1 };
const seen = new Uint8Array(count);
const collecting = (async () => {
  for await (const job of results) {
    const now = performance.now();
    const { n, t } = job.value;
    if (n >= 0 && n < count && seen[n] === 0) {
      seen[n] = 1;
      all[received++] = now - t;
      if (n >= warmup) {
        latencies[counted++] = now - t;
        if (now - t > worst.ms) worst = { ms: now - t, n };
      }
    }
    job.ack().catch(() => {});
    if (received === count) return;
  }
})();

const startWall = Date.now();
emit({ event: "start", t: startWall });
const t0 = performance.now();
let sent = 0;
while (sent < count) {
  const due = Math.min(count, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
  while (sent < due) {
    const n = sent++;
    putAt[n] = performance.now();
    tasks.put({ n, t: putAt[n] }).catch((error) =>
      emit({ event: "error", message: (error as Error).message })
    );
  }
  if (sent < count) await new Promise((resolve) => setTimeout(resolve, 1));
}
await collecting;
const elapsedMs = performance.now() - t0;
const sorted = latencies.slice(0, counted).sort();
const sortedAll = all.slice(0, received).sort();
const pick = (q: number, from = sorted) =>
  from[Math.min(from.length - 1, Math.floor(q * from.length))];
emit({
  event: "latency",
  count: received,
  counted,
  warmup,
  elapsedMs,
  p50: pick(0.5),
  p99: pick(0.99),
  p99All: pick(0.99, sortedAll),
  max: sorted[sorted.length - 1],
  mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
  worstAtMs: worst.n >= 0 ? putAt[worst.n] - t0 : null,
  t: Date.now(),
});
