/**
 * One process of a peer's pipeline, the seed's pipeline as taskwire's bench
 * runs it, on another queue (`--system`, one of bench/peers/systems.ts):
 *
 *   worker.ts producer  --count N      puts tasks `{id, n}` (n random 0..999) on `tasks` in
 *                                      batches of 1000, at most 8 unconfirmed (as the producer
 *                                      role); prints `start` before the first put and `sent`
 *                                      once every put is confirmed, then exits
 *   worker.ts consumer  --window W     takes tasks (≤ W in hand), puts `{id, n, square, by}`
 *                                      (square = n*n, exact) on `results`, then acks the task
 *   worker.ts collector --count N      takes results and acks them; prints `done` once every
 *                                      task 0..N-1 has a result (a wrong one ends it: exit 1)
 *   worker.ts paced     --count N --rate R --warmup W
 *                                      puts `{id, n, t}` at R/s and collects the results
 *                                      itself; prints the `latency` line the taskwire paced
 *                                      driver prints (drivers/_latency.ts)
 *
 * Common options: `--system S --url URL [--durable]`. Timestamps `t` in
 * `start`/`done` are epoch ms with sub-ms precision (both processes read the
 * same clock). Every process but the producer stays up until SIGTERM.
 */
import process from "node:process";
import { emit, num, onStop, parseArgs } from "../drivers/_common.ts";
import { LatencyRecord, pace } from "../drivers/_latency.ts";
import { type ClientModule, fatal } from "./client.ts";
import { COLLECTOR_WINDOW, CONSUMER_WINDOW, PEER_NAMES, type PeerName } from "./systems.ts";

/** A task on `tasks`: `t` only in paced runs. */
interface Task {
  id: number;
  n: number;
  t?: number;
}

/** A result on `results`. */
interface Result extends Task {
  square: string;
  by: string;
}

const BATCH = 1000;
const BATCHES_IN_FLIGHT = 8;

const [role, ...rest] = process.argv.slice(2);
const args = parseArgs(rest);
const system = args.get("system") as PeerName;
if (!PEER_NAMES.includes(system)) {
  fatal("usage", `--system must be one of ${PEER_NAMES.join(", ")}`);
}
const name = `${role}-${process.pid}`;
// The adapter is loaded by name, so only the chosen peer's client is imported (and by a URL
// made at run time, so a type check of bench/ does not reach the peers' own packages, which a
// plain `npm ci` does not install; test/bench_test.ts checks them once they are).
const adapterUrl = new URL(`./clients/${system}.ts`, import.meta.url).href;
const adapter = await import(adapterUrl) as ClientModule;
const client = await adapter.open({
  url: args.get("url") ?? fatal("usage", "--url is required"),
  durable: args.get("durable") === "true",
  name,
});
onStop(() => client.close());

/** Wall-clock ms with sub-ms precision, comparable between processes. */
const epochMs = (): number => performance.timeOrigin + performance.now();

switch (role) {
  case "producer":
    await produce(num(args, "count", 1000));
    await client.close();
    process.exit(0);
    break;
  case "consumer":
    await client.consume(
      "tasks",
      {
        window: num(args, "window", CONSUMER_WINDOW),
        resultsTo: "results",
        sharedBy: num(args, "consumers", 1),
      },
      square,
    );
    emit({ event: "consuming" });
    break;
  case "collector":
    await collect(num(args, "count", 1000), num(args, "window", COLLECTOR_WINDOW));
    break;
  case "paced":
    await paced(num(args, "count", 1000), num(args, "rate", 500), num(args, "warmup", 0));
    break;
  default:
    fatal("usage", `unknown role "${role}" (producer|consumer|collector|paced)`);
}

/** Puts tasks 0..count-1 in batches, a few batches unconfirmed at once. */
async function produce(count: number): Promise<void> {
  emit({ event: "start", t: epochMs() });
  const inFlight = new Set<Promise<void>>();
  let confirmed = 0;
  for (let next = 0; next < count;) {
    const size = Math.min(BATCH, count - next);
    const bodies = Array.from(
      { length: size },
      (_, i) => JSON.stringify({ id: next + i, n: Math.floor(Math.random() * 1000) }),
    );
    next += size;
    const batch: Promise<void> = client.put("tasks", bodies).then(() => {
      confirmed += size;
    }).finally(() => inFlight.delete(batch));
    inFlight.add(batch);
    if (inFlight.size >= BATCHES_IN_FLIGHT) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  emit({ event: "sent", count: confirmed, t: epochMs() });
}

/** The consumer's work: the task's square, exact, as the consumer role computes it. */
function square(body: string): string {
  const task = JSON.parse(body) as Task;
  const n = BigInt(task.n);
  const result: Result = { ...task, square: String(n * n), by: name };
  return JSON.stringify(result);
}

/** A result of a task 0..count-1 with the right square; anything else ends the run at once. */
function checked(body: string, count: number): Result {
  const result = JSON.parse(body) as Result;
  const n = BigInt(result.n);
  if (!(result.id >= 0 && result.id < count) || result.square !== String(n * n)) {
    fatal("collecting", `a wrong result: ${body}`);
  }
  return result;
}

/** Takes results until every task 0..count-1 has one; then prints `done`. */
async function collect(count: number, window: number): Promise<void> {
  const seen = new Uint8Array(count);
  let distinct = 0;
  let received = 0;
  await client.consume("results", { window }, (body) => {
    const result = checked(body, count);
    received++;
    if (seen[result.id] === 0) {
      seen[result.id] = 1;
      if (++distinct === count) emit({ event: "done", count: distinct, received, t: epochMs() });
    }
    return null;
  });
  emit({ event: "consuming" });
}

/** Puts `count` tasks at `rate`/s and collects their results here, for latency. */
async function paced(count: number, rate: number, warmup: number): Promise<void> {
  const record = new LatencyRecord(count, warmup);
  let complete: () => void = () => {};
  const completed = new Promise<void>((resolve) => complete = resolve);
  await client.consume("results", { window: COLLECTOR_WINDOW }, (body) => {
    const result = checked(body, count);
    record.result(result.id, result.t ?? 0);
    if (record.complete) complete();
    return null;
  });
  emit({ event: "start", t: Date.now() });
  await pace(count, rate, (n) => {
    const task: Task = { id: n, n, t: record.put(n) };
    client.put("tasks", [JSON.stringify(task)]).catch((error) => fatal("putting a task", error));
  });
  await completed;
  emit({ ...record.summary() });
}
