/**
 * The benchmark harness: `npm run bench [-- options]`.
 *
 * Runs the seed's pipeline (a producer puts integers into `tasks`, consumers
 * put n*n into `results`, the god collects every result) with real processes
 * over loopback, in several shapes, stores and runtimes, and the Python
 * original's pattern on the same N in the same run; prints medians of several
 * runs with min and max, and taskwire's figures as ratios to the baselines. With
 * `--peers`, the same shapes on other queues (beanstalkd, Redis, BullMQ,
 * JetStream, RabbitMQ), taskwire's figures as ratios to the best of them.
 * See bench/README.md for the scenarios and how to read the output.
 */
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import process from "node:process";
import { procAvailable } from "./measure.ts";
import { DENO, natsServerPath, NODE, ROOT } from "./procs.ts";
import { formatText, type ScenarioResult, summarise } from "./report.ts";
import {
  abortActive,
  describeProcesses,
  killActiveSync,
  runOnce,
  type RunSettings,
  taskCount,
} from "./runners.ts";
import { allScenarios, selectScenarios } from "./scenarios.ts";
import { preparePeers } from "./peers/prepare.ts";
import { peerProcesses, runPeer } from "./peers/runner.ts";

const HELP = `npm run bench -- [options]

  --quick              one-minute smoke: small N, one run, a few scenarios
  --peers              the same shapes on beanstalkd, Redis lists, BullMQ, NATS JetStream and
                       RabbitMQ (servers from Debian packages; each one missing is skipped
                       with a NOTICE), in memory and fsync-each-write, next to taskwire's;
                       --only/--skip/--quick choose among them
  --runs N             runs per scenario; figures are medians with min and max (default 3)
  --only TEXT[,TEXT]   only scenarios whose name contains TEXT (repeatable); their
                       baselines come along (Python's; js.raw for js.*)
  --skip TEXT[,TEXT]   leave out scenarios whose name contains TEXT (repeatable)
  --list               list the scenarios and exit
  --n N                tasks per throughput run (default 100000; --quick 3000)
  --durable-n N        tasks per throughput run with the journal (default: the smaller of
                       --n and 20000, as fsync-bound runs are slow)
  --paced-seconds S    seconds of a paced (latency) run that count (default 10; --quick 2)
  --warmup-seconds S   paced tasks put before those, left out of the percentiles
                       (default 3; --quick 1): V8 tiers code up by call counts, which
                       at 500 tasks/s takes a few seconds
  --million N          jobs of the million.* scenarios (default 1000000)
  --far-n N            tasks of the far20.* runs across a link with 20 ms round trips
                       (default 5000; --quick 300); their Python baseline puts a tenth
  --timeout S          longest a single run may take (default 300; with --peers 900, as
                       the slowest peers take minutes for N tasks)
  --concurrency N      --concurrency of the consumers in the 1x1, 1x2, mixed and million
                       scenarios (default: the consumer role's own default)
  --drivers            use the library-based bench drivers instead of the role processes
  --no-python          skip the Python baseline
  --python PATH        the Python interpreter (default python3)
  --cpu-prof DIR       run Node gods and consumers with --cpu-prof, profiles into DIR
  --json               print the results as one JSON document instead of tables
  --json-out PATH      also write that JSON document to PATH (tables still printed)
  --help               this text

Scenario names: <store>.<shape>.<runtime> (store mem|always|batch|off, shape 1x1|1x2|1x1c4),
paced500.<store>.<runtime>, call500.mem.<runtime>, mixed.mem.1x2, million.{mem,batch}.<runtime>,
python.*,
pydoor.1x1.<runtime> and pydoor.1x1t4.node (the Python scripts on the god's Python door),
js.1x2.node (two gods on NATS JetStream) and its baseline js.raw (nats.js directly),
far20.1x1.<runtime> and python.far20.1x1 (across a link with 20 ms round trips),
with --peers: <peer>.{mem,always}.<shape>, paced500.<peer>.{mem,always}`;

interface Options {
  quick: boolean;
  peers: boolean;
  runs: number;
  only: string[];
  skip: string[];
  list: boolean;
  n?: number;
  durableN?: number;
  pacedSeconds?: number;
  warmupSeconds?: number;
  million: number;
  farN?: number;
  /** Unset: 300 s, or 900 s with --peers. */
  timeoutS?: number;
  drivers: boolean;
  concurrency?: number;
  python: string | null;
  cpuProf?: string;
  json: boolean;
  jsonOut?: string;
}

function usage(message: string): never {
  process.stderr.write(`bench: ${message}\nRun with --help for the options.\n`);
  process.exit(2);
}

function parseOptions(argv: readonly string[]): Options {
  const o: Options = {
    quick: false,
    peers: false,
    runs: 3,
    only: [],
    skip: [],
    list: false,
    million: 1_000_000,
    drivers: false,
    python: "python3",
    json: false,
  };
  let runsGiven = false;
  const value = (i: number, name: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith("--")) usage(`${name} needs a value`);
    return v;
  };
  const count = (i: number, name: string): number => {
    const v = Number(value(i, name));
    if (!Number.isInteger(v) || v < 1) {
      usage(`${name} must be a positive integer, got "${argv[i + 1]}"`);
    }
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    switch (arg) {
      case "--quick":
        o.quick = true;
        break;
      case "--peers":
        o.peers = true;
        break;
      case "--runs":
        o.runs = count(i++, arg);
        runsGiven = true;
        break;
      case "--only":
        o.only.push(...value(i++, arg).split(",").filter(Boolean));
        break;
      case "--skip":
        o.skip.push(...value(i++, arg).split(",").filter(Boolean));
        break;
      case "--list":
        o.list = true;
        break;
      case "--n":
        o.n = count(i++, arg);
        break;
      case "--durable-n":
        o.durableN = count(i++, arg);
        break;
      case "--paced-seconds":
        o.pacedSeconds = count(i++, arg);
        break;
      case "--warmup-seconds":
        o.warmupSeconds = count(i++, arg);
        break;
      case "--million":
        o.million = count(i++, arg);
        break;
      case "--far-n":
        o.farN = count(i++, arg);
        break;
      case "--timeout":
        o.timeoutS = count(i++, arg);
        break;
      case "--concurrency":
        o.concurrency = count(i++, arg);
        break;
      case "--drivers":
        o.drivers = true;
        break;
      case "--no-python":
        o.python = null;
        break;
      case "--python":
        o.python = value(i++, arg);
        break;
      case "--cpu-prof":
        o.cpuProf = path.resolve(value(i++, arg));
        break;
      case "--json":
        o.json = true;
        break;
      case "--json-out":
        o.jsonOut = path.resolve(value(i++, arg));
        break;
      case "--help":
      case "-h":
        process.stdout.write(HELP + "\n");
        process.exit(0);
        break;
      default:
        usage(`unknown option "${arg}"`);
    }
  }
  if (o.quick && !runsGiven) o.runs = 1;
  return o;
}

function version(argv: string[]): string | null {
  try {
    const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8", timeout: 15_000 });
    if (r.status !== 0) return null;
    return (r.stdout || r.stderr).split("\n")[0].trim();
  } catch {
    return null;
  }
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (options.list) {
    const all = allScenarios();
    const width = Math.max(...all.map((s) => s.name.length));
    for (const s of all) {
      process.stdout.write(
        `${s.name.padEnd(width)} ${
          s.system === "peer" ? "peers " : s.quick ? "quick " : "      "
        }${s.description}\n`,
      );
    }
    return 0;
  }
  if (!procAvailable()) {
    process.stderr.write("bench: /proc is not readable; RSS and CPU figures need Linux\n");
    return 1;
  }
  const notices: string[] = [];
  // A --peers run compares with the peers, not with Python.
  const pythonVersion = options.python && !options.peers
    ? version([options.python, "--version"])
    : null;
  if (!options.peers && options.python && !pythonVersion) {
    notices.push(
      `NOTICE: "${options.python}" was not found: the Python baseline and its ratios are skipped.`,
    );
  } else if (!options.peers && !options.python) {
    notices.push("NOTICE: --no-python: the Python baseline and its ratios are skipped.");
  }
  const drivers = options.drivers ||
    !["god", "producer", "consumer"].every((r) => existsSync(path.join(ROOT, "roles", `${r}.ts`)));
  if (drivers && !options.drivers) {
    notices.push(
      "NOTICE: role entrypoints are missing; the library-based bench drivers ran instead.",
    );
  }
  let scenarios = selectScenarios({
    quick: options.quick,
    only: options.only,
    skip: options.skip,
    withBaselines: pythonVersion !== null,
    peers: options.peers,
  });
  const log = (line: string) => process.stderr.write(line + "\n");
  let peerVersions = "";
  if (options.peers) {
    const prepared = preparePeers(scenarios, log);
    notices.push(...prepared.notices);
    scenarios = prepared.scenarios;
    peerVersions = prepared.versions;
  }
  if (scenarios.some((s) => s.store === "jetstream") && natsServerPath() === null) {
    notices.push(
      `NOTICE: nats-server was not found ($NATS_SERVER, /usr/sbin, /usr/bin, /usr/local/bin, PATH): skipped ${
        scenarios.filter((s) => s.store === "jetstream").map((s) => s.name).join(", ")
      }.`,
    );
    process.stderr.write(notices[notices.length - 1] + "\n");
    scenarios = scenarios.filter((s) => s.store !== "jetstream");
  }
  if (pythonVersion === null && scenarios.some((s) => s.pythonWorkers)) {
    notices.push(
      `NOTICE: no Python: skipped ${
        scenarios.filter((s) => s.pythonWorkers).map((s) => s.name).join(", ")
      } (Python workers on the god's Python door).`,
    );
    scenarios = scenarios.filter((s) => !s.pythonWorkers);
  }
  if (scenarios.length === 0 && options.peers && notices.length > 0) {
    // Every peer was left out (each with its NOTICE): nothing to compare.
    process.stdout.write(
      options.json
        ? JSON.stringify({ notices, results: [] }, null, 2) + "\n"
        : notices.join("\n") + "\n",
    );
    return 0;
  }
  if (scenarios.length === 0) usage(`no scenario matches --only ${options.only.join(",")}`);
  if (options.million < 1_000_000 && scenarios.some((s) => s.kind === "million")) {
    notices.push(`NOTICE: million.* scenarios ran with ${options.million} jobs (--million).`);
  }
  if (pythonVersion && scenarios.some((s) => s.kind === "million")) {
    notices.push(
      "NOTICE: the 1M-job scenarios have no Python baseline (BaseManager would take minutes).",
    );
  }
  const n = options.n ?? (options.quick ? 3000 : 100_000);
  const settings: RunSettings = {
    n,
    durableN: options.durableN ?? Math.min(n, 20_000),
    pacedSeconds: options.pacedSeconds ?? (options.quick ? 2 : 10),
    warmupSeconds: options.warmupSeconds ?? (options.quick ? 1 : 3),
    million: options.million,
    farN: options.farN ?? (options.quick ? 300 : 5000),
    drivers,
    concurrency: options.concurrency,
    runTimeoutMs: (options.timeoutS ?? (options.peers ? 900 : 300)) * 1000,
    cpuProfDir: options.cpuProf,
    python: options.python ?? "python3",
    log,
  };

  let interrupted = false;
  const interrupt = (signal: string) => {
    if (interrupted) return;
    interrupted = true;
    settings.log(`bench: ${signal}, stopping the current run`);
    abortActive(`interrupted by ${signal}`);
  };
  process.on("SIGINT", () => interrupt("SIGINT"));
  // A stray rejection must not kill the harness and orphan its processes.
  process.on("unhandledRejection", (reason) => {
    settings.log(`bench: unhandled rejection (ignored): ${(reason as Error)?.message ?? reason}`);
  });
  process.on("exit", () => killActiveSync());
  process.on("SIGTERM", () => interrupt("SIGTERM"));

  const machine = {
    date: new Date().toISOString(),
    cpu: `${os.cpus()[0]?.model ?? "?"} × ${os.cpus().length}`,
    memory: `${(os.totalmem() / (1 << 30)).toFixed(1)} GiB`,
    os: `${os.type()} ${os.release()}`,
    node: version([NODE, "--version"]),
    deno: version([DENO, "--version"]),
    python: pythonVersion,
    peers: peerVersions || undefined,
    load: os.loadavg().map((l) => l.toFixed(2)).join(" "),
    command: `npm run bench -- ${process.argv.slice(2).join(" ")}`.trim(),
  };
  const results: ScenarioResult[] = scenarios.map((s) => ({
    name: s.name,
    description: s.description,
    peer: s.peer,
    compare: s.compare,
    processes: s.system === "peer" ? peerProcesses(s) : describeProcesses(s, settings),
    baseline: s.baseline && scenarios.some((b) => b.name === s.baseline) ? s.baseline : undefined,
    n: taskCount(s, settings),
    runs: [],
    figures: {},
  }));
  settings.log(
    `bench: ${scenarios.length} scenarios × ${options.runs} runs, N=${settings.n}` +
      (drivers ? " (bench drivers)" : " (role processes)"),
  );
  const began = Date.now();
  for (let round = 1; round <= options.runs && !interrupted; round++) {
    for (let i = 0; i < scenarios.length && !interrupted; i++) {
      const t0 = Date.now();
      const outcome = await runOnce(
        scenarios[i],
        settings,
        scenarios[i].system === "peer" ? runPeer : undefined,
      );
      results[i].runs.push(outcome);
      const f = outcome.figures;
      settings.log(
        `[${round}/${options.runs}] ${scenarios[i].name}: ${
          outcome.ok
            ? [
              f.tasksPerSec !== undefined ? `${Math.round(f.tasksPerSec)} tasks/s` : "",
              f.p99Ms !== undefined ? `p99 ${f.p99Ms.toFixed(2)} ms` : "",
              f.drainPerSec !== undefined ? `drain ${Math.round(f.drainPerSec)}/s` : "",
              f.restartMs !== undefined ? `restart ${(f.restartMs / 1000).toFixed(2)} s` : "",
            ].filter(Boolean).join(", ")
            : `FAILED: ${outcome.error?.split("\n")[0]}`
        } (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
      );
    }
  }
  for (const r of results) r.figures = summarise(r.runs);
  if (interrupted) {
    notices.push("NOTICE: interrupted; the figures are from the runs that finished.");
  }
  const header = [
    `taskwire benchmark — ${machine.date}`,
    `machine: ${machine.cpu}, ${machine.memory}, ${machine.os}, load ${machine.load} at start`,
    `runtimes: node ${machine.node}, ${machine.deno}, ${machine.python ?? "no python"}`,
    ...(machine.peers ? [`peers: ${machine.peers}`] : []),
    `command: ${machine.command}`,
    `N=${settings.n} per throughput run (${settings.durableN} with the journal), paced runs ${settings.warmupSeconds} s warm-up + ${settings.pacedSeconds} s, ${options.runs} run(s) each; ` +
    `figures: median [min–max]; (×) = ratio to the ${
      options.peers ? "best peer" : "baseline (Python; js.raw for js.*)"
    }, > 1 is better for taskwire`,
    `took ${((Date.now() - began) / 1000).toFixed(0)} s`,
  ];
  const document = JSON.stringify(
    { machine, settings: { ...settings, log: undefined }, notices, results },
    null,
    2,
  ) + "\n";
  if (options.jsonOut) writeFileSync(options.jsonOut, document);
  if (options.json) {
    process.stdout.write(document);
  } else {
    process.stdout.write(formatText(results, { header, notices }) + "\n");
  }
  if (options.json) { for (const n of notices) process.stderr.write(n + "\n"); }
  const failed = results.some((r) => r.runs.some((run) => !run.ok));
  return interrupted ? 130 : failed ? 1 : 0;
}

process.exit(await main());
