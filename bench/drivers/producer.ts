/**
 * Bench driver: a producer on the library that puts `--count` integers
 * (0..999, like the seed) into `tasks` as fast as the god takes them, in
 * batches of `--batch` with at most `--window` batches unanswered. It prints
 * `{"event":"start"}` before the first put and `{"event":"sent"}` once every
 * put is acknowledged, then stays connected until SIGTERM (so the harness can
 * read its CPU time to the end).
 *
 * Usage: producer.ts --connect HOST:PORT --count N [--batch 1000] [--window 8]
 */
import process from "node:process";
import { connect } from "../../mod.ts";
import { authkey, emit, num, onStop, parseArgs } from "./_common.ts";

const args = parseArgs(process.argv.slice(2));
const count = num(args, "count", 10_000);
const batch = num(args, "batch", 1000);
const window = num(args, "window", 8);
const client = await connect({ addr: args.get("connect"), authkey: authkey(), role: "producer" });
onStop(() => client.close());
const tasks = client.queue<number>(args.get("tasks") ?? "tasks");
emit({ event: "start", t: Date.now() });
const inFlight = new Set<Promise<unknown>>();
let next = 0;
while (next < count) {
  const size = Math.min(batch, count - next);
  const values = new Array<number>(size);
  for (let i = 0; i < size; i++) values[i] = Math.floor(Math.random() * 1000);
  next += size;
  const sent: Promise<unknown> = tasks.putMany(values).finally(() => inFlight.delete(sent));
  inFlight.add(sent);
  if (inFlight.size >= window) await Promise.race(inFlight);
}
await Promise.all(inFlight);
emit({ event: "sent", count, t: Date.now() });
