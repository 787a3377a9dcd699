/**
 * Running one scenario once: start the processes, wait until they are
 * connected, measure, and stop every process by PID whatever happens.
 *
 * Completion of a taskwire run is read from the god's own counters through an
 * admin connection (`client.stats()`, polled every few ms): the first put seen
 * on `tasks` starts the clock, `results` reaching N stops it. The Python
 * baseline reports its own timestamps (producer before the first put, god at
 * the last result).
 */
import { mkdtempSync, rmSync } from "node:fs";
import process from "node:process";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { type Client, connect, type GodStats } from "../mod.ts";
import { Sampler } from "./measure.ts";
import { command, freePort, natsServerPath, Proc, ROOT, type Runtime, sleep } from "./procs.ts";
import type { RunFigures, RunOutcome } from "./report.ts";
import type { Scenario } from "./scenarios.ts";
import { LinkProxy } from "../test/_support/link_proxy.ts";
import type { LatencySummary } from "./drivers/_latency.ts";

/** Settings shared by every run. */
export interface RunSettings {
  /** Tasks per throughput run. */
  n: number;
  /** Tasks per throughput run with the journal (fsync-bound runs can be slow). */
  durableN: number;
  /** Seconds of a paced run that count in the percentiles. */
  pacedSeconds: number;
  /** Seconds of paced tasks before those: they must arrive, but are left out of the percentiles. */
  warmupSeconds: number;
  /** Jobs of the 1M scenarios. */
  million: number;
  /** Tasks per run across the long link (`far20.*`; the Python baseline puts a tenth). */
  farN: number;
  /** `--concurrency` for consumers whose scenario leaves it to the role's default. */
  concurrency?: number;
  /** Use the library-based bench drivers instead of the role processes. */
  drivers: boolean;
  /** Longest a single run may take, ms. */
  runTimeoutMs: number;
  /** When set, Node gods and consumers run with --cpu-prof into this directory. */
  cpuProfDir?: string;
  /** The Python interpreter for the baseline. */
  python: string;
  /** Told about progress (one line at a time). */
  log: (line: string) => void;
}

/** The files each process kind runs. */
const FILES = {
  roles: { god: "roles/god.ts", producer: "roles/producer.ts", consumer: "roles/consumer.ts" },
  drivers: {
    god: "bench/drivers/god.ts",
    producer: "bench/drivers/producer.ts",
    consumer: "bench/drivers/consumer.ts",
  },
} as const;

/** A failed run, with what was seen so far. */
class RunFailure extends Error {
  override name = "RunFailure";
}

const active = new Set<Run>();

/** Aborts every run in progress (their processes are then stopped by their cleanup). */
export function abortActive(reason: string): void {
  for (const run of active) run.abort(reason);
}

/** Last resort when the harness itself exits: SIGKILL every process of every run left, by PID. */
export function killActiveSync(): void {
  for (const run of active) {
    for (const pid of run.sampler.allPids()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
}

/**
 * Runs `scenario` once: `body` starts its processes and measures (by default
 * the runner of taskwire's and Python's scenarios; bench/peers/runner.ts has
 * the peers'). Never throws: failures come back as `ok: false` with the error.
 */
export async function runOnce(
  scenario: Scenario,
  settings: RunSettings,
  body: (run: Run, scenario: Scenario) => Promise<RunOutcome> = runScenario,
): Promise<RunOutcome> {
  const run = new Run(settings, scenario.kind === "paced" ? PACED_SAMPLE_MS : THROUGHPUT_SAMPLE_MS);
  active.add(run);
  const hardStop = setTimeout(() => run.abort("run timed out"), settings.runTimeoutMs);
  try {
    return await body(run, scenario);
  } catch (error) {
    return {
      ok: false,
      figures: {},
      accounted: { expected: 0 },
      error: run.abortReason ?? (error as Error).message,
      notes: run.notes,
    };
  } finally {
    clearTimeout(hardStop);
    await run.cleanup();
    active.delete(run);
  }
}

/** Runs a taskwire or Python scenario. */
async function runScenario(run: Run, scenario: Scenario): Promise<RunOutcome> {
  switch (scenario.system === "taskwire" ? scenario.kind : `${scenario.system}-${scenario.kind}`) {
    case "throughput":
      return scenario.pythonWorkers
        ? await runPythonDoor(run, scenario)
        : scenario.store === "jetstream"
        ? await runJetStream(run, scenario)
        : await runThroughput(run, scenario);
    case "paced":
      return await runPaced(run, scenario);
    case "million":
      return await runMillion(run, scenario);
    case "nats-throughput":
      return await runJetStreamRaw(run, scenario);
    case "python-throughput":
    case "python-paced":
      return await runPython(run, scenario);
    default:
      throw new RunFailure(`unknown scenario kind ${scenario.kind}`);
  }
}

/**
 * How often a run reads /proc for its processes' CPU time and memory. Each
 * reading costs this process about a millisecond on one of the two cores the
 * measured processes share. Throughput runs read often, so that a process that
 * exits on its own has its CPU time counted to within 20 ms. Paced runs read
 * seldom: there, 50 readings a second made tasks wait for a core and lengthened
 * the p99 of every system measured (at one reading a second, Python's 1.6 ms
 * became 0.9 ms, and taskwire's 4.0 ms on Node 2.7 ms). Their processes outlive
 * the final reading, and the kernel's peak RSS (VmHWM) covers the time between.
 */
const THROUGHPUT_SAMPLE_MS = 20;
const PACED_SAMPLE_MS = 1000;

/** The resources of one run, released by {@link Run.cleanup}. */
export class Run {
  readonly settings: RunSettings;
  readonly sampler: Sampler;
  readonly procs: Proc[] = [];
  readonly dirs: string[] = [];
  readonly notes: string[] = [];
  readonly key = Array.from(
    crypto.getRandomValues(new Uint8Array(16)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  admin: Client | null = null;
  abortReason: string | null = null;
  #abortWaiters: ((reason: string) => void)[] = [];

  constructor(settings: RunSettings, samplePeriodMs = THROUGHPUT_SAMPLE_MS) {
    this.settings = settings;
    this.sampler = new Sampler(samplePeriodMs);
  }

  /** Stops waiting: every pending {@link Run.guard} rejects. */
  abort(reason: string): void {
    this.abortReason ??= reason;
    for (const w of this.#abortWaiters) w(reason);
  }

  /** Races `promise` against an abort of the run. */
  guard<T>(promise: Promise<T>): Promise<T> {
    promise.catch(() => {}); // a promise left behind by an abort must not reject unhandled
    if (this.abortReason) return Promise.reject(new RunFailure(this.abortReason));
    return Promise.race([
      promise,
      new Promise<T>((_, reject) =>
        this.#abortWaiters.push((reason) => reject(new RunFailure(reason)))
      ),
    ]);
  }

  tempDir(): string {
    const dir = mkdtempSync(path.join(tmpdir(), "taskwire-bench-"));
    this.dirs.push(dir);
    return dir;
  }

  /** Starts a process, tracked by the sampler under `label`; `env` adds to the harness's environment. */
  spawn(
    label: string,
    argv: string[],
    options: { discardStdout?: boolean; env?: Record<string, string> } = {},
  ): Proc {
    const proc = new Proc(label, argv, {
      env: { TASKWIRE_AUTHKEY: this.key, ...options.env },
      discardStdout: options.discardStdout,
    });
    this.procs.push(proc);
    if (proc.pid > 0) this.sampler.track(label, proc.pid);
    if (this.settings.cpuProfDir) this.notes.push(`cpu profile: ${label} is pid ${proc.pid}`);
    proc.exited.then(({ code, signal }) => {
      // A producer that finished its count exits 0 by design.
      const finished = label === "producer" && code === 0;
      if (this.abortReason === null && this.#watching.has(label) && !finished) {
        this.abort(
          `${label} exited unexpectedly (code ${code}, signal ${signal}):\n    ${
            proc.tail.slice(-8).join("\n    ")
          }`,
        );
      }
    });
    return proc;
  }

  readonly #watching = new Set<string>();
  /** Treats an exit of `label` as a failure of the run (until {@link Run.unwatch}). */
  watch(...labels: string[]): void {
    for (const l of labels) this.#watching.add(l);
  }
  unwatch(...labels: string[]): void {
    for (const l of labels) this.#watching.delete(l);
  }

  /** Stopped after the processes, at cleanup (proxies). */
  readonly #closers: (() => Promise<void>)[] = [];

  /**
   * The address clients of `scenario` use for the god at `addr`: a proxy
   * that delays each chunk by the scenario's `linkDelayMs` each way, or `addr`.
   */
  async link(scenario: Scenario, addr: string): Promise<string> {
    if (!scenario.linkDelayMs) return addr;
    const port = Number(addr.slice(addr.lastIndexOf(":") + 1));
    const proxy = await LinkProxy.start(port, { delayMs: scenario.linkDelayMs });
    this.#closers.push(() => proxy.close());
    this.notes.push(
      `producer and consumers reached the god through a proxy holding each chunk ${scenario.linkDelayMs} ms each way`,
    );
    return `127.0.0.1:${proxy.port}`;
  }

  /** Connects an admin client, retrying every 20 ms until the god answers. */
  async connectAdmin(addr: string, timeoutMs = 60_000): Promise<Client> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown = null;
    while (Date.now() < deadline && this.abortReason === null) {
      try {
        this.admin = await this.guard(
          connect({ addr, authkey: this.key, role: "admin", name: "bench", reconnect: false }),
        );
        return this.admin;
      } catch (error) {
        last = error;
        await sleep(20);
      }
    }
    throw new RunFailure(
      this.abortReason ?? `the god at ${addr} did not answer within ${timeoutMs} ms: ${last}`,
    );
  }

  async stats(): Promise<GodStats> {
    return await this.guard(this.admin!.stats());
  }

  /** Polls the god's stats every `everyMs` until `done(stats)`; resolves with the reply time. */
  async pollUntil(
    what: string,
    done: (stats: GodStats) => boolean,
    options: { everyMs?: number; timeoutMs: number },
  ): Promise<{ stats: GodStats; at: number; previousAt: number }> {
    const deadline = Date.now() + options.timeoutMs;
    let previousAt = performance.now();
    for (;;) {
      const stats = await this.stats();
      const at = performance.now();
      if (done(stats)) return { stats, at, previousAt };
      previousAt = at;
      if (Date.now() > deadline) {
        throw new RunFailure(
          `timed out after ${options.timeoutMs} ms waiting for ${what}; tasks ${
            JSON.stringify(queue(stats, "tasks"))
          } results ${JSON.stringify(queue(stats, "results"))}`,
        );
      }
      await sleep(options.everyMs ?? 10);
    }
  }

  async cleanup(): Promise<void> {
    this.#watching.clear();
    const admin = this.admin;
    this.admin = null;
    await admin?.close().catch(() => {});
    // Producers, consumers and collectors first, then the gods, then the servers
    // under them (nats-server, a peer's server, then RabbitMQ's epmd), each by PID.
    for (let r = 0; r <= 4; r++) {
      for (const p of this.procs.filter((p) => rank(p.label) === r)) {
        await p.stop(r === 2 ? 8000 : 5000);
      }
    }
    for (const close of this.#closers.splice(0)) await close().catch(() => {});
    this.sampler.stop();
    for (const dir of this.dirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch (error) {
        this.notes.push(`could not remove ${dir}: ${(error as Error).message}`);
      }
    }
  }
}

/** Stopping order: producers, then consumers and other clients, then gods, then nats-server. */
function rank(label: string): number {
  return label.startsWith("producer")
    ? 0
    : label.startsWith("consumer") || label === "collector"
    ? 1
    : label === "nats" || label === "server"
    ? 3
    : label === "epmd"
    ? 4
    : 2;
}

/** A queue's stats by name (zeros if it does not exist yet). */
function queue(stats: GodStats, name: string) {
  const q = stats.queues.find((x) => x.name === name);
  return {
    put: q?.totals.put ?? 0,
    acked: q?.totals.acked ?? 0,
    ready: q?.ready ?? 0,
    inFlight: q?.inFlight ?? 0,
    consumers: q?.consumers ?? 0,
    redelivered: q?.totals.redelivered ?? 0,
    duplicates: q?.totals.duplicates ?? 0,
  };
}

function consumersConnected(stats: GodStats): number {
  return stats.connections.filter((c) => c.role === "consumer").length;
}

/** The god's command line for a scenario. */
function godArgv(run: Run, scenario: Scenario, addr: string, dataDir?: string): string[] {
  const useDriver = run.settings.drivers && scenario.store === "memory";
  const storeArgs = scenario.store === "memory"
    ? ["--in-memory"]
    : ["--data", dataDir ?? run.tempDir(), "--fsync", scenario.store];
  return useDriver
    ? command(scenario.god, FILES.drivers.god, ["--listen", addr])
    : command(scenario.god, FILES.roles.god, ["--listen", addr, "--quiet", ...storeArgs], {
      nodeFlags: profFlags(run, scenario.god),
    });
}

function profFlags(run: Run, runtime: Runtime): string[] {
  return run.settings.cpuProfDir && runtime === "node"
    ? ["--cpu-prof", "--cpu-prof-dir", run.settings.cpuProfDir]
    : [];
}

function consumerArgv(run: Run, runtime: Runtime, addr: string, concurrency?: number): string[] {
  const args = ["--connect", addr];
  if (concurrency !== undefined) args.push("--concurrency", String(concurrency));
  // Like the god, and like Python's consumer: no line per task.
  if (!run.settings.drivers) args.push("--quiet");
  const file = run.settings.drivers ? FILES.drivers.consumer : FILES.roles.consumer;
  return command(runtime, file, args, { nodeFlags: profFlags(run, runtime) });
}

function producerArgv(run: Run, runtime: Runtime, addr: string, count: number): string[] {
  return run.settings.drivers
    ? command(runtime, FILES.drivers.producer, ["--connect", addr, "--count", String(count)])
    : command(runtime, FILES.roles.producer, [
      "--connect",
      addr,
      "--count",
      String(count),
      "--interval",
      "0",
    ]);
}

/** Who ran as a role process and who as a bench driver, for the report. */
export function describeProcesses(scenario: Scenario, settings: RunSettings): string {
  if (scenario.system === "python") return "bench/python/{god,producer,consumer}.py";
  if (scenario.pythonWorkers) {
    return `god role on ${scenario.god} with --python; bench/python/{producer,consumer}.py on its Python door`;
  }
  if (scenario.system === "nats") {
    return `bench/drivers/js_raw.ts on nats.js: producer, ${scenario.consumers.length} workers, collector (${scenario.producer})`;
  }
  const rts = `god ${scenario.god}, producer ${scenario.producer}, consumers ${
    scenario.consumers.join("+")
  }`;
  if (scenario.kind === "paced") {
    return `god role; producer+collector and consumers are bench drivers (latency_*.ts); ${rts}`;
  }
  if (settings.drivers) {
    return `bench drivers (god driver only in memory; role god for the journal); ${rts}`;
  }
  return `role processes; ${rts}`;
}

/** Starts the god and the consumers, waits until every consumer is subscribed. */
async function startPipeline(
  run: Run,
  scenario: Scenario,
  consumerArgvFor: (runtime: Runtime, addr: string) => string[],
): Promise<{ addr: string; god: Proc; startupMs: number }> {
  const addr = `127.0.0.1:${await freePort()}`;
  const spawnedAt = performance.now();
  const god = run.spawn("god", godArgv(run, scenario, addr));
  run.watch("god");
  await run.connectAdmin(addr);
  const startupMs = performance.now() - spawnedAt;
  // The producer and consumers come through the long link, if the scenario has one.
  const far = await run.link(scenario, addr);
  // Consumer roles print a line per task: to /dev/null, so the harness does not read them
  // (their warnings and errors go to stderr, which is kept).
  scenario.consumers.forEach((rt, i) =>
    run.spawn(`consumer-${i + 1}`, consumerArgvFor(rt, far), { discardStdout: true })
  );
  run.watch(...scenario.consumers.map((_, i) => `consumer-${i + 1}`));
  const want = scenario.consumers.length;
  const connected = await run.pollUntil("the consumers to connect", (s) => {
    return consumersConnected(s) >= want;
  }, { everyMs: 50, timeoutMs: 60_000 });
  // Connected is not yet subscribed: give the subscriptions a moment to show.
  if (queue(connected.stats, "tasks").consumers < want) {
    await run.pollUntil(
      "the consumers to subscribe",
      (s) => queue(s, "tasks").consumers + queue(s, "lat.tasks").consumers >= want,
      { everyMs: 20, timeoutMs: 2000 },
    ).catch(() => run.notes.push("consumers connected but not seen subscribing; went on"));
  }
  return { addr: far, god, startupMs };
}

/** CPU seconds per 100k tasks of each process, for the notes: `nats 9.1, god-a 3.2, …`. */
function cpuByProcess(base: Map<string, number>, end: Map<string, number>, n: number): string {
  return [...end.keys()]
    .map((label) => ({ label, cpu: cpuSince(base, end, (l) => l === label) / n * 100_000 }))
    .filter((x) => x.cpu > 0)
    .sort((a, b) => b.cpu - a.cpu)
    .map((x) => `${x.label} ${x.cpu.toFixed(2)}`)
    .join(", ");
}

/** CPU seconds used since `base` by every label (or those `labels` accepts). */
export function cpuSince(
  base: Map<string, number>,
  end: Map<string, number>,
  labels?: (label: string) => boolean,
): number {
  let sum = 0;
  for (const [label, value] of end) {
    if (labels && !labels(label)) continue;
    sum += value - (base.get(label) ?? 0);
  }
  return sum;
}

/** How many tasks a run of `scenario` puts. */
export function taskCount(scenario: Scenario, settings: RunSettings): number {
  if (scenario.kind === "paced") return pacedCounts(settings, scenario.rate ?? 500).count;
  if (scenario.kind === "million") return settings.million;
  if (scenario.linkDelayMs) {
    // A request at a time over a long link is slow: the Python baseline puts a tenth.
    return scenario.system === "python"
      ? Math.max(20, Math.round(settings.farN / 10))
      : settings.farN;
  }
  return scenario.store === "memory" ? settings.n : settings.durableN;
}

async function runThroughput(run: Run, scenario: Scenario): Promise<RunOutcome> {
  const n = taskCount(scenario, run.settings);
  const { addr } = await startPipeline(
    run,
    scenario,
    (rt, a) => consumerArgv(run, rt, a, scenario.concurrency ?? run.settings.concurrency),
  );
  run.spawn("producer", producerArgv(run, scenario.producer, addr, n));
  run.watch("producer");
  return await measurePipeline(run, n);
}

/**
 * Measures a pipeline whose producer was just started: the first put seen on
 * `tasks` starts the clock, `results` reaching `n` stops it; then waits for
 * the god to collect every result and checks that every task is accounted for.
 */
async function measurePipeline(run: Run, n: number): Promise<RunOutcome> {
  const started = await run.pollUntil("the first put", (s) => queue(s, "tasks").put > 0, {
    everyMs: 2,
    timeoutMs: 60_000,
  });
  // CPU is counted from the first put on, so process start-up is left out.
  const base = run.sampler.snapshot();
  const startAt = (started.at + started.previousAt) / 2;
  const finished = await run.pollUntil(`${n} results`, (s) => queue(s, "results").put >= n, {
    everyMs: 10,
    timeoutMs: run.settings.runTimeoutMs,
  });
  const end = run.sampler.snapshot();
  const endAt = (finished.at + finished.previousAt) / 2;
  const collected = await run.pollUntil(
    "the god to collect every result",
    (s) => queue(s, "results").acked >= queue(s, "results").put,
    { everyMs: 20, timeoutMs: 10_000 },
  ).catch(() => finished);
  const tasks = queue(collected.stats, "tasks");
  const results = queue(collected.stats, "results");
  const figures: RunFigures = {
    tasksPerSec: n / ((endAt - startAt) / 1000),
    godPeakRss: run.sampler.peakRss("god"),
    cpuPer100k: cpuSince(base, end) / n * 100_000,
    godCpuPer100k: cpuSince(base, end, (l) => l === "god") / n * 100_000,
  };
  const ok = tasks.put === n && results.put >= n && results.acked >= n;
  return {
    ok,
    figures,
    accounted: { expected: n, tasksPut: tasks.put, results: results.put, collected: results.acked },
    error: ok
      ? undefined
      : `not every task was accounted for: tasks ${JSON.stringify(tasks)}, results ${
        JSON.stringify(results)
      }`,
    notes: run.notes,
  };
}

/**
 * The seed pipeline through two gods sharing one JetStream server: the producer
 * puts on god A, the consumers take from god B and put their results there,
 * and both gods' own result collectors ack them. Every count is a god's own
 * counter (`totals`, this god only, exact at once; only ready/inFlight are a
 * refreshed snapshot): the first put on god A's `tasks` starts the clock, god
 * B's `results` puts reaching N stop it, and the results acked by A and B
 * together must reach N.
 */
async function runJetStream(run: Run, scenario: Scenario): Promise<RunOutcome> {
  const n = run.settings.durableN;
  const store = await startNats(run);
  const gods = scenario.gods ?? 2;
  const addrs: string[] = [];
  for (let i = 0; i < gods; i++) {
    const addr = `127.0.0.1:${await freePort()}`;
    const label = `god-${String.fromCharCode(97 + i)}`;
    run.spawn(
      label,
      command(scenario.god, FILES.roles.god, [
        "--listen",
        addr,
        "--quiet",
        "--store",
        store,
        "--nats-replicas",
        "1",
      ], { nodeFlags: profFlags(run, scenario.god) }),
    );
    run.watch(label);
    addrs.push(addr);
  }
  // One admin connection per god (the first is the run's own, closed by cleanup).
  const admins: Client[] = [];
  try {
    for (const addr of addrs) {
      admins.push(
        admins.length === 0 ? await run.connectAdmin(addr) : await connectOther(run, addr),
      );
    }
    const [adminA, adminB] = [admins[0], admins[admins.length - 1]];
    const addrA = addrs[0];
    const addrB = addrs[addrs.length - 1];
    const poll = (
      admin: Client,
      q: string,
      what: string,
      done: (s: GodStats) => boolean,
      opts: { everyMs: number; timeoutMs: number },
    ) => pollStats(run, admin, q, what, done, opts);
    scenario.consumers.forEach((rt, i) =>
      run.spawn(
        `consumer-${i + 1}`,
        consumerArgv(run, rt, addrB, scenario.concurrency ?? run.settings.concurrency),
        { discardStdout: true },
      )
    );
    run.watch(...scenario.consumers.map((_, i) => `consumer-${i + 1}`));
    const want = scenario.consumers.length;
    await poll(
      adminB,
      "tasks",
      "the consumers to subscribe on god B",
      (s) => consumersConnected(s) >= want && queue(s, "tasks").consumers >= want,
      { everyMs: 50, timeoutMs: 60_000 },
    );
    run.spawn("producer", producerArgv(run, scenario.producer, addrA, n));
    run.watch("producer");
    const started = await poll(
      adminA,
      "tasks",
      "the first put on god A",
      (s) => queue(s, "tasks").put > 0,
      {
        everyMs: 2,
        timeoutMs: 60_000,
      },
    );
    const base = run.sampler.snapshot();
    const startAt = (started.at + started.previousAt) / 2;
    const finished = await poll(
      adminB,
      "results",
      `${n} results on god B`,
      (s) => queue(s, "results").put >= n,
      // Each stats request on a JetStream god also asks NATS for stream and consumer
      // info: poll less often than the embedded store's 10 ms.
      { everyMs: 50, timeoutMs: run.settings.runTimeoutMs },
    );
    const end = run.sampler.snapshot();
    const endAt = (finished.at + finished.previousAt) / 2;
    // Both gods collect `results`: count what they acked together.
    let collected = 0;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const each = await Promise.all(
        admins.map((a) => run.guard(a.stats("results")).then((s) => queue(s, "results").acked)),
      );
      collected = each.reduce((x, y) => x + y, 0);
      if (collected >= n || Date.now() > deadline) {
        run.notes.push(
          `${scenario.name}: results collected by god A / god B: ${each.join(" / ")}`,
        );
        break;
      }
      await sleep(20);
    }
    const tasksPut = queue(await run.guard(adminA.stats("tasks")), "tasks").put;
    const resultsPut = queue(finished.stats, "results").put;
    const godRss = run.sampler.peakRss("god-a") + run.sampler.peakRss("god-b");
    run.notes.push(`${scenario.name}: CPU s/100k by process: ${cpuByProcess(base, end, n)}`);
    run.notes.push(
      `${scenario.name}: god RSS is god A + god B; nats-server peak RSS ${
        Math.round(run.sampler.peakRss("nats") / 2 ** 20)
      } MB, its CPU is in CPU s/100k (not in god CPU)`,
    );
    if (scenario.compare) {
      run.notes.push(
        `${scenario.name}: compare with ${scenario.compare} (the embedded in-memory store, one god)`,
      );
    }
    const figures: RunFigures = {
      tasksPerSec: n / ((endAt - startAt) / 1000),
      godPeakRss: godRss,
      cpuPer100k: cpuSince(base, end) / n * 100_000,
      godCpuPer100k: cpuSince(base, end, (l) => l.startsWith("god")) / n * 100_000,
    };
    const ok = tasksPut === n && resultsPut >= n && collected >= n;
    return {
      ok,
      figures,
      accounted: { expected: n, tasksPut, results: resultsPut, collected },
      error: ok ? undefined : `not every task was accounted for: tasks put on god A ${tasksPut}, ` +
        `results put on god B ${resultsPut}, collected by both gods ${collected}`,
      notes: run.notes,
    };
  } finally {
    for (const a of admins.slice(1)) await a.close().catch(() => {});
  }
}

/** Starts a `nats-server -js` for one run (temporary store, free loopback port); its URL. */
async function startNats(run: Run): Promise<string> {
  const server = natsServerPath();
  if (server === null) throw new RunFailure("nats-server is not installed");
  const natsPort = await freePort();
  const natsDir = run.tempDir();
  const nats = run.spawn("nats", [
    server,
    "-js",
    "-sd",
    natsDir,
    "-a",
    "127.0.0.1",
    "-p",
    String(natsPort),
    "-n",
    "bench",
  ]);
  run.watch("nats");
  await run.guard(nats.waitFor(/Server is ready/, 15_000));
  return `nats://127.0.0.1:${natsPort}`;
}

/**
 * The `js.raw` baseline: the same pipeline as `js.1x2.node` written directly on
 * JetStream with nats.js (bench/drivers/js_raw.ts), against its own
 * nats-server started the same way. A producer, one worker per consumer of the
 * scenario and a collector, all clients of NATS; the producer's `start` line
 * (before its first publish) starts the clock, the collector's `done` line (the
 * N-th distinct result acked) stops it.
 */
async function runJetStreamRaw(run: Run, scenario: Scenario): Promise<RunOutcome> {
  const n = run.settings.durableN;
  const url = await startNats(run);
  const raw = (role: string, args: string[] = []) =>
    command(scenario.producer, "bench/drivers/js_raw.ts", [role, "--nats", url, ...args], {
      nodeFlags: profFlags(run, scenario.producer),
    });
  const setup = run.spawn("setup", raw("setup"));
  const { code } = await run.guard(setup.exited);
  if (code !== 0) {
    throw new RunFailure(
      `js_raw setup exited ${code}:\n    ${setup.tail.slice(-8).join("\n    ")}`,
    );
  }
  const collector = run.spawn("collector", raw("collector", ["--count", String(n)]));
  run.watch("collector");
  await run.guard(collector.waitFor(/"event":"ready"/, 60_000));
  const workers = scenario.consumers.map((_, i) => run.spawn(`consumer-${i + 1}`, raw("worker")));
  run.watch(...workers.map((w) => w.label));
  for (const w of workers) await run.guard(w.waitFor(/"event":"ready"/, 60_000));
  const base = run.sampler.snapshot();
  const producer = run.spawn("producer", raw("producer", ["--count", String(n)]));
  run.watch("producer");
  const startLine = await run.guard(producer.waitFor(/"event":"start"/, 60_000));
  base.set("producer", run.sampler.snapshot().get("producer") ?? 0);
  run.unwatch("collector");
  const doneLine = await run.guard(
    collector.waitFor(/"event":"done"/, run.settings.runTimeoutMs),
  );
  const end = run.sampler.snapshot();
  const start = JSON.parse(startLine) as { t: number };
  const done = JSON.parse(doneLine) as { t: number; count: number };
  run.notes.push(`${scenario.name}: CPU s/100k by process: ${cpuByProcess(base, end, n)}`);
  run.notes.push(
    `${scenario.name}: producer, ${workers.length} workers and a collector on nats.js ` +
      `(bench/drivers/js_raw.ts), no god; CPU s/100k includes nats-server`,
  );
  const ok = done.count >= n;
  return {
    ok,
    figures: {
      tasksPerSec: n / ((done.t - start.t) / 1000),
      cpuPer100k: cpuSince(base, end) / n * 100_000,
    },
    accounted: { expected: n, tasksPut: n, results: done.count, collected: done.count },
    error: ok ? undefined : `the collector saw ${done.count} of ${n} results`,
    notes: run.notes,
  };
}

/** Connects an admin client to a second god, retrying every 20 ms until it answers. */
async function connectOther(run: Run, addr: string, timeoutMs = 60_000): Promise<Client> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline && run.abortReason === null) {
    try {
      return await run.guard(
        connect({ addr, authkey: run.key, role: "admin", name: "bench", reconnect: false }),
      );
    } catch (error) {
      last = error;
      await sleep(20);
    }
  }
  throw new RunFailure(
    run.abortReason ?? `the god at ${addr} did not answer within ${timeoutMs} ms: ${last}`,
  );
}

/** Polls one god's stats of queue `q` every `everyMs` until `done`; resolves with the reply time. */
async function pollStats(
  run: Run,
  admin: Client,
  q: string,
  what: string,
  done: (stats: GodStats) => boolean,
  options: { everyMs: number; timeoutMs: number },
): Promise<{ stats: GodStats; at: number; previousAt: number }> {
  const deadline = Date.now() + options.timeoutMs;
  let previousAt = performance.now();
  for (;;) {
    const stats = await run.guard(admin.stats(q));
    const at = performance.now();
    if (done(stats)) return { stats, at, previousAt };
    previousAt = at;
    if (Date.now() > deadline) {
      throw new RunFailure(
        `timed out after ${options.timeoutMs} ms waiting for ${what}; ${q} ${
          JSON.stringify(queue(stats, q))
        }`,
      );
    }
    await sleep(options.everyMs);
  }
}

/**
 * A paced run: `warmup` tasks (the first `warmupSeconds`: JIT tier-up, first
 * connections) that must arrive but are left out of the percentiles, then the
 * `pacedSeconds` that count. The same for Python.
 */
export function pacedCounts(
  settings: RunSettings,
  rate: number,
): { count: number; warmup: number } {
  const warmup = Math.round(rate * settings.warmupSeconds);
  return { count: warmup + Math.max(1, Math.round(rate * settings.pacedSeconds)), warmup };
}

async function runPaced(run: Run, scenario: Scenario): Promise<RunOutcome> {
  const rate = scenario.rate ?? 500;
  const { count, warmup } = pacedCounts(run.settings, rate);
  const { addr } = await startPipeline(
    run,
    scenario,
    (rt, a) => command(rt, "bench/drivers/latency_consumer.ts", ["--connect", a]),
  );
  const outcome = await measurePaced(run, scenario, {
    argv: command(scenario.producer, "bench/drivers/latency_producer.ts", [
      "--connect",
      addr,
      "--rate",
      String(rate),
      "--count",
      String(count),
      "--warmup",
      String(warmup),
      ...(scenario.call ? ["--call"] : []),
    ]),
    count,
    rate,
    server: "god",
  });
  outcome.accounted.tasksPut = queue(await run.stats(), "lat.tasks").put;
  return outcome;
}

/**
 * Measures a paced run whose consumers are up: starts `argv`, a driver that
 * puts `count` tasks at `rate`/s, collects their results itself and prints the
 * `latency` line of drivers/_latency.ts; CPU counts from its first put.
 * `server` labels the process whose RSS and CPU fill the god's columns;
 * `timeoutMs` bounds the wait for the line (default: the paced time + 60 s).
 */
export async function measurePaced(
  run: Run,
  scenario: Scenario,
  options: { argv: string[]; count: number; rate: number; server: string; timeoutMs?: number },
): Promise<RunOutcome> {
  const { count, rate, server } = options;
  const base = run.sampler.snapshot();
  const producer = run.spawn("producer", options.argv);
  run.watch("producer");
  await run.guard(producer.waitFor(/"event":"start"/, 60_000));
  base.set("producer", run.sampler.snapshot().get("producer") ?? 0);
  const line = await run.guard(
    producer.waitFor(/"event":"latency"/, options.timeoutMs ?? count / rate * 1000 + 60_000),
  );
  const end = run.sampler.snapshot();
  const lat = JSON.parse(line) as LatencySummary;
  if (lat.worstAtMs !== null && lat.max > 50) {
    run.notes.push(
      `${scenario.name}: slowest task (${lat.max.toFixed(0)} ms) was put ${
        (lat.worstAtMs / 1000).toFixed(1)
      } s into the run`,
    );
  }
  return {
    ok: lat.count === count,
    figures: {
      tasksPerSec: lat.count / (lat.elapsedMs / 1000),
      p50Ms: lat.p50,
      p99Ms: lat.p99,
      p99AllMs: lat.p99All,
      maxMs: lat.max,
      godPeakRss: run.sampler.peakRss(server),
      cpuPer100k: cpuSince(base, end) / count * 100_000,
      godCpuPer100k: cpuSince(base, end, (l) => l === server) / count * 100_000,
    },
    // Each result names its task, so every result counted is a task put.
    accounted: { expected: count, tasksPut: lat.count, results: lat.count, collected: lat.count },
    error: lat.count === count ? undefined : `only ${lat.count} of ${count} results arrived`,
    notes: run.notes,
  };
}

async function runMillion(run: Run, scenario: Scenario): Promise<RunOutcome> {
  const m = run.settings.million;
  const durable = scenario.store !== "memory";
  const dataDir = durable ? run.tempDir() : undefined;
  const addr = `127.0.0.1:${await freePort()}`;
  let spawnedAt = performance.now();
  run.spawn("god", godArgv(run, scenario, addr, dataDir));
  run.watch("god");
  await run.connectAdmin(addr);
  const startupMs = performance.now() - spawnedAt;
  const phaseMs = run.settings.runTimeoutMs;

  // Fill: one producer puts every job while no consumer runs.
  run.spawn("producer", producerArgv(run, scenario.producer, addr, m));
  run.watch("producer");
  const first = await run.pollUntil("the first put", (s) => queue(s, "tasks").put > 0, {
    everyMs: 5,
    timeoutMs: 60_000,
  });
  const filled = await run.pollUntil(`${m} jobs queued`, (s) => queue(s, "tasks").put >= m, {
    everyMs: 50,
    timeoutMs: phaseMs,
  });
  const fillMs = filled.at - first.previousAt;
  await sleep(500);
  const queuedRss = run.sampler.rssNow("god");
  let godPeakRss = run.sampler.peakRss("god");

  let restartMs: number | undefined;
  let godLabel = "god";
  if (durable) {
    // A crash, not a goodbye: the restart replays the journal.
    await sleep(500);
    const god = run.procs.find((p) => p.label === "god")!;
    run.unwatch("god");
    await run.admin?.close().catch(() => {});
    god.signal("SIGKILL");
    await god.wait(10_000);
    godLabel = "god-restarted";
    spawnedAt = performance.now();
    const again = run.spawn(godLabel, godArgv(run, scenario, addr, dataDir));
    run.watch(godLabel);
    await run.connectAdmin(addr, phaseMs);
    restartMs = performance.now() - spawnedAt;
    const recovered = queue(await run.stats(), "tasks").ready;
    const summary = again.tail.find((l) => /^store:|recover/i.test(l));
    if (summary) run.notes.push(`${scenario.name}: ${summary.trim()}`);
    if (recovered !== m) {
      throw new RunFailure(`the restarted god recovered ${recovered} of ${m} queued jobs`);
    }
  }

  // Drain: two consumers take every job; the god collects every result.
  run.sampler.startWindow(godLabel);
  scenario.consumers.forEach((rt, i) =>
    run.spawn(`consumer-${i + 1}`, consumerArgv(run, rt, addr, run.settings.concurrency), {
      discardStdout: true,
    })
  );
  run.watch(...scenario.consumers.map((_, i) => `consumer-${i + 1}`));
  const drainStart = await run.pollUntil("the first result", (s) => queue(s, "results").put > 0, {
    everyMs: 5,
    timeoutMs: 60_000,
  });
  const drained = await run.pollUntil(`${m} results`, (s) => queue(s, "results").put >= m, {
    everyMs: 20,
    timeoutMs: phaseMs,
  });
  const drainMs = drained.at - drainStart.previousAt;
  const drainPeakRss = run.sampler.windowPeak(godLabel);
  godPeakRss = Math.max(godPeakRss, run.sampler.peakRss(godLabel));
  const results = queue(drained.stats, "results");
  run.notes.push(
    "1M scenarios: fill = first put to last put acknowledged (no consumer running); " +
      "drain = first result to last; restart = spawn of the restarted god to its first " +
      "answer (compare with 'empty start', the same on an empty store).",
  );
  return {
    ok: results.put >= m,
    figures: {
      fillMs,
      queuedRss,
      godPeakRss,
      drainPeakRatio: drainPeakRss / queuedRss,
      drainMs,
      drainPerSec: m / (drainMs / 1000),
      startupMs,
      restartMs,
    },
    accounted: { expected: m, tasksPut: m, results: results.put },
    notes: run.notes,
  };
}

/**
 * The Python baseline's own producer and consumer scripts (BaseManager
 * proxies, unchanged but for the port) against a taskwire god's Python door:
 * the first put seen on `tasks` starts the clock, `results` reaching N stops
 * it, as in {@link runThroughput}; the god's own collector takes the results.
 */
async function runPythonDoor(run: Run, scenario: Scenario): Promise<RunOutcome> {
  const n = run.settings.n;
  const addr = `127.0.0.1:${await freePort()}`;
  const pythonPort = await freePort();
  run.spawn(
    "god",
    command(scenario.god, FILES.roles.god, [
      "--listen",
      addr,
      "--quiet",
      "--in-memory",
      "--python",
      `127.0.0.1:${pythonPort}`,
    ], { nodeFlags: profFlags(run, scenario.god) }),
  );
  run.watch("god");
  await run.connectAdmin(addr);
  const py = pythonScripts(run, pythonPort);
  await startPythonConsumers(run, scenario, py);
  run.spawn("producer", py("producer.py", ["--count", String(n)]));
  run.watch("producer");
  return await measurePipeline(run, n);
}

/** The command line of a script of bench/python/ talking to a god at `port`. */
function pythonScripts(run: Run, port: number): (file: string, args: string[]) => string[] {
  return (file, args) => [
    run.settings.python,
    path.join(ROOT, "bench", "python", file),
    "--port",
    String(port),
    ...args,
  ];
}

/** Starts the Python consumer processes (`concurrency` threads each) and waits until they consume. */
async function startPythonConsumers(
  run: Run,
  scenario: Scenario,
  py: (file: string, args: string[]) => string[],
): Promise<void> {
  const consumers = scenario.consumers.map((_, i) =>
    run.spawn(
      `consumer-${i + 1}`,
      py("consumer.py", ["--threads", String(scenario.concurrency ?? 1)]),
    )
  );
  run.watch(...consumers.map((c) => c.label));
  for (const c of consumers) await run.guard(c.waitFor(/"event": "consuming"/, 30_000));
}

/** The Python original's pattern, same N, same shapes. */
async function runPython(run: Run, scenario: Scenario): Promise<RunOutcome> {
  const paced = scenario.kind === "paced";
  const rate = scenario.rate ?? 500;
  const { count, warmup } = paced
    ? pacedCounts(run.settings, rate)
    : { count: taskCount(scenario, run.settings), warmup: 0 };
  const port = await freePort();
  const god = run.spawn(
    "god",
    pythonScripts(run, port)("god.py", [
      "--count",
      String(count),
      "--warmup",
      String(warmup),
    ]),
  );
  run.watch("god");
  await run.guard(god.waitFor(/"event": "ready"/, 30_000));
  // The producer and consumers come through the long link, if the scenario has one.
  const far = await run.link(scenario, `127.0.0.1:${port}`);
  const py = pythonScripts(run, Number(far.slice(far.lastIndexOf(":") + 1)));
  await startPythonConsumers(run, scenario, py);
  const base = run.sampler.snapshot();
  const producer = run.spawn(
    "producer",
    py("producer.py", ["--count", String(count), ...(paced ? ["--rate", String(rate)] : [])]),
  );
  run.watch("producer");
  const startLine = await run.guard(producer.waitFor(/"event": "start"/, 30_000));
  base.set("producer", run.sampler.snapshot().get("producer") ?? 0);
  const doneLine = await run.guard(god.waitFor(/"event": "done"/, run.settings.runTimeoutMs));
  const end = run.sampler.snapshot();
  const start = JSON.parse(startLine) as { t: number };
  const done = JSON.parse(doneLine) as {
    count: number;
    t: number;
    p50?: number;
    p99?: number;
    p99All?: number;
    max?: number;
  };
  const figures: RunFigures = {
    tasksPerSec: done.count / ((done.t - start.t) / 1000),
    godPeakRss: run.sampler.peakRss("god"),
    cpuPer100k: cpuSince(base, end) / count * 100_000,
    godCpuPer100k: cpuSince(base, end, (l) => l === "god") / count * 100_000,
  };
  if (paced) {
    Object.assign(figures, {
      p50Ms: done.p50,
      p99Ms: done.p99,
      p99AllMs: done.p99All,
      maxMs: done.max,
    });
  }
  return {
    ok: done.count === count,
    figures,
    accounted: { expected: count, tasksPut: count, results: done.count, collected: done.count },
    notes: run.notes,
  };
}
