/**
 * Running one peer scenario once (the body `runOnce` runs for `system:
 * "peer"`): start the peer's server, its consumers, then either a collector
 * and a producer (throughput) or the paced driver (latency), all
 * bench/peers/worker.ts processes on Node.
 *
 * Throughput is timed as the Python baseline's is: from the producer's `start`
 * (just before its first put) to the collector's `done` (every task has its
 * correct result), both epoch ms. CPU counts from the first put to `done`,
 * summed over the server, producer, consumers and collector; the god's columns
 * hold the server's own RSS and CPU.
 */
import { command } from "../procs.ts";
import type { RunFigures, RunOutcome } from "../report.ts";
import { cpuSince, measurePaced, pacedCounts, type Run } from "../runners.ts";
import type { Scenario } from "../scenarios.ts";
import { startServer } from "./servers.ts";
import { COLLECTOR_WINDOW, CONSUMER_WINDOW, PACED_WINDOW, PEERS } from "./systems.ts";

const WORKER = "bench/peers/worker.ts";

/** Which processes a peer scenario runs, for the report. */
export function peerProcesses(scenario: Scenario): string {
  const peer = PEERS[scenario.peer!];
  const takers = scenario.kind === "paced"
    ? "consumer, paced producer+collector"
    : `producer, ${scenario.consumers.length} consumer(s), collector`;
  return `${peer.server} server; ${WORKER} ${takers} on node through ${peer.client}`;
}

/** Runs a peer scenario once (throws on failure; `runOnce` reports it). */
export async function runPeer(run: Run, scenario: Scenario): Promise<RunOutcome> {
  const peer = scenario.peer;
  if (peer === undefined) throw new Error(`${scenario.name} names no peer`);
  const durable = scenario.store !== "memory";
  const url = await startServer(run, PEERS[peer].server, durable);
  const worker = (role: string, args: (string | number)[]) =>
    command("node", WORKER, [
      role,
      "--system",
      peer,
      "--url",
      url,
      ...(durable ? ["--durable"] : []),
      ...args.map(String),
    ]);
  const paced = scenario.kind === "paced";
  const window = paced
    ? PACED_WINDOW
    : scenario.concurrency ?? run.settings.concurrency ?? CONSUMER_WINDOW;
  const n = durable ? run.settings.durableN : run.settings.n;
  // The consumers and (throughput) the collector start together; the producer once they consume.
  const takers = scenario.consumers.map((_, i) =>
    run.spawn(
      `consumer-${i + 1}`,
      worker("consumer", ["--window", window, "--consumers", scenario.consumers.length]),
    )
  );
  if (!paced) {
    takers.push(
      run.spawn("collector", worker("collector", ["--count", n, "--window", COLLECTOR_WINDOW])),
    );
  }
  run.watch(...takers.map((c) => c.label));
  for (const c of takers) await run.guard(c.waitFor(/"event":"consuming"/, 60_000));

  if (paced) {
    const rate = scenario.rate ?? 500;
    const { count, warmup } = pacedCounts(run.settings, rate);
    return await measurePaced(run, scenario, {
      argv: worker("paced", ["--count", count, "--rate", rate, "--warmup", warmup]),
      count,
      rate,
      server: "server",
      // A peer slower than the pace (beanstalkd fsyncing each write) takes longer: let it finish.
      timeoutMs: run.settings.runTimeoutMs,
    });
  }
  const collector = takers[takers.length - 1];
  const base = run.sampler.snapshot();
  const producer = run.spawn("producer", worker("producer", ["--count", n]));
  run.watch("producer");
  const start = JSON.parse(await run.guard(producer.waitFor(/"event":"start"/, 60_000))) as {
    t: number;
  };
  // CPU is counted from the first put on, so process start-up is left out.
  base.set("producer", run.sampler.snapshot().get("producer") ?? 0);
  const done = JSON.parse(
    await run.guard(collector.waitFor(/"event":"done"/, run.settings.runTimeoutMs)),
  ) as { count: number; received: number; t: number };
  const end = run.sampler.snapshot();
  const sent = JSON.parse(await run.guard(producer.waitFor(/"event":"sent"/, 30_000))) as {
    count: number;
  };
  const figures: RunFigures = {
    tasksPerSec: n / ((done.t - start.t) / 1000),
    godPeakRss: run.sampler.peakRss("server"),
    cpuPer100k: cpuSince(base, end) / n * 100_000,
    godCpuPer100k: cpuSince(base, end, (l) => l === "server") / n * 100_000,
  };
  const ok = sent.count === n && done.count === n;
  return {
    ok,
    figures,
    accounted: { expected: n, tasksPut: sent.count, results: done.received, collected: done.count },
    error: ok ? undefined : `not every task was accounted for: ${sent.count} of ${n} puts ` +
      `confirmed, ${done.count} tasks with a result`,
    notes: run.notes,
  };
}
