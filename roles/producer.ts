/**
 * A producer: puts random integers on `tasks` for consumers to square, the
 * seed's way (10 every 3 s) by default, or a burst with `--count N --interval 0`.
 *
 *   deno run --allow-net --allow-env --allow-read roles/producer.ts [options]
 *   npx tsx roles/producer.ts [options]
 */
import { CliFailure, formatHelp, type OptionSpec, parseArgs, UsageError } from "../lib/cli/args.ts";
import { CLIENT_OPTIONS, connectUnlessStopped, within } from "../lib/cli/connect.ts";
import { count, duration, Output, plural, rate } from "../lib/cli/output.ts";
import { requireKey, resolveTarget, runRole, watchSignals } from "../lib/cli/role.ts";
import { describeResult, randomInteger, type SquareResult } from "../lib/cli/squares.ts";
import { sleep } from "../lib/util/backoff.ts";
import { defaultClientName } from "../lib/util/runtime.ts";
import type { Queue } from "../mod.ts";

const OPTIONS = {
  ...CLIENT_OPTIONS,
  "per-round": { kind: "int", arg: "N", min: 1, help: "tasks per round", default: "10" },
  interval: {
    kind: "duration",
    arg: "DUR",
    help: "pause between rounds, like 3s or 500ms; 0 for none",
    default: "3s",
  },
  rounds: { kind: "int", arg: "N", min: 1, help: "stop after N rounds", default: "endless" },
  max: {
    kind: "bigint",
    arg: "N",
    help: "tasks are random integers 0..N (any size)",
    default: "999",
  },
  count: {
    kind: "int",
    arg: "N",
    min: 1,
    help: "stop after N tasks; with --interval 0, put them as one fast burst",
  },
  "await-results": {
    kind: "flag",
    help: "call each task and print its answer as it arrives (the results come back here)",
  },
  json: { kind: "flag", help: "print one JSON object per line per event" },
  help: { kind: "flag", help: "show this help" },
} as const satisfies Record<string, OptionSpec>;

const HELP = formatHelp(
  "producer.ts [options]",
  "taskwire producer: puts random integers on the `tasks` queue for consumers to square.",
  OPTIONS,
  `Examples:
  producer.ts                              10 tasks every 3s, forever (as in the seed)
  producer.ts --rounds 5 --per-round 100   5 rounds of 100
  producer.ts --count 100000 --interval 0  a burst of 100,000, with a progress line
  producer.ts --rounds 1 --await-results   10 tasks, and each answer as it comes back

Keeps trying while the god is unreachable; puts are never lost or doubled.
Exits 0 when done or after a graceful stop on SIGINT/SIGTERM, 2 on usage errors, 1 on failures.`,
);

/** Tasks per putMany in a burst, and how many of those may be unanswered at once. */
const WINDOW = 1000;
const WINDOWS_IN_FLIGHT = 8;
/** How long a stop request waits for puts the god has not answered yet. */
const DRAIN_MS = 10_000;
const GAVE_UP: unique symbol = Symbol("gave up");

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs(argv, OPTIONS);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`Unexpected argument "${positionals[0]}"`);
  const out = new Output({ json: values.json === true });
  const addr = resolveTarget(values.connect as string | undefined);
  const authkey = await requireKey(values["authkey-file"] as string | undefined, out);
  const perRound = (values["per-round"] as number | undefined) ?? 10;
  const interval = (values.interval as number | undefined) ?? 3000;
  const rounds = (values.rounds as number | undefined) ?? Infinity;
  const max = (values.max as bigint | undefined) ?? 999n;
  const total = (values.count as number | undefined) ?? Infinity;
  const awaitResults = values["await-results"] === true;
  const stopper = watchSignals(out, "producer");

  const name = defaultClientName();
  const first = await connectUnlessStopped(out, stopper, {
    addr,
    authkey,
    role: "producer",
    name,
    tlsCa: values["tls-ca"] as string | undefined,
  });
  if (first === null) {
    out.event("stopped", { put: 0 }, "producer stopped before reaching the god");
    return 0;
  }
  const client = first;
  const tasks = client.queue<number | bigint>("tasks");
  const tally = { put: 0, sum: 0n, unconfirmed: 0, answered: 0 };
  const started = Date.now();

  // After a stop request, puts still unanswered get DRAIN_MS (the god may be coming back).
  const gaveUp: Promise<typeof GAVE_UP> = stopper.stopped.then(() => sleep(DRAIN_MS)).then(() =>
    GAVE_UP
  );
  const confirm = <T>(p: Promise<T>): Promise<T | typeof GAVE_UP> => Promise.race([p, gaveUp]);
  const next = () => {
    const n = randomInteger(max);
    tally.sum += BigInt(n);
    return n;
  };
  try {
    if (interval === 0 && Number.isFinite(total) && !awaitResults) {
      await burst(out, tasks, total, next, tally, stopper.signal, confirm);
    } else {
      for (
        let round = 1;
        round <= rounds && tally.put < total && !stopper.signal.aborted;
        round++
      ) {
        const size = Math.min(perRound, total - tally.put);
        const values = Array.from({ length: size }, next);
        const sent: Promise<unknown> = awaitResults
          ? Promise.all(values.map((n) =>
            tasks.call<SquareResult>(n).then((answer) => {
              tally.answered++;
              reportAnswer(out, n, answer);
            })
          ))
          : tasks.putMany(values);
        if (await confirm(sent) === GAVE_UP) {
          tally.unconfirmed += size;
          break;
        }
        tally.put += size;
        out.event(
          "round",
          { round, put: size, total: tally.put },
          `round ${round}: put ${count(size)} tasks (${count(tally.put)} in all)${
            round < rounds && tally.put < total && interval > 0
              ? `; next in ${duration(interval)}`
              : ""
          }`,
        );
        if (round < rounds && tally.put < total) await sleep(interval, stopper.signal);
      }
    }
  } finally {
    out.endProgress();
    if (!(await within(client.close(), 5000))) {
      out.warn("close-timeout", {}, "producer: the god did not answer in time while closing");
    }
  }
  const elapsed = Date.now() - started;
  if (tally.unconfirmed > 0) {
    throw new CliFailure(
      `Stopped with ${
        plural(tally.unconfirmed, "put")
      } the god never confirmed (it is unreachable at ${addr}); ` +
        `they may or may not be stored (check with admin stats once the god is back). ${
          plural(tally.put, "task")
        } were confirmed`,
    );
  }
  out.event(
    "done",
    {
      put: tally.put,
      sum: tally.sum,
      ms: elapsed,
      stopped: stopper.signal.aborted,
      ...(awaitResults ? { answered: tally.answered } : {}),
    },
    `producer ${stopper.signal.aborted ? "stopped" : "done"}: put ${count(tally.put)} tasks in ${
      duration(elapsed)
    } (${rate(tally.put / Math.max(elapsed / 1000, 0.001))}/s)`,
  );
  return 0;
}

/** Prints the answer to a called task, as the god prints a result. */
function reportAnswer(out: Output, n: number | bigint, answer: SquareResult): void {
  const v = answer as Partial<SquareResult>;
  out.event(
    "answer",
    typeof v === "object" && v !== null && "square" in v
      ? { n: v.n, square: v.square, by: v.by, task: v.task }
      : { n, value: answer },
    describeResult(v),
  );
}

/** Puts `total` tasks as fast as the god takes them: windows of putMany, a few in flight. */
async function burst(
  out: Output,
  tasks: Queue<number | bigint>,
  total: number,
  next: () => number | bigint,
  tally: { put: number; unconfirmed: number },
  signal: AbortSignal,
  confirm: <T>(p: Promise<T>) => Promise<T | typeof GAVE_UP>,
): Promise<void> {
  const started = Date.now();
  let queued = 0;
  const inFlight = new Set<Promise<void>>();
  let failure: unknown = null;
  const show = () => {
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    const perSecond = tally.put / seconds;
    const eta = perSecond > 0 ? (total - tally.put) / perSecond * 1000 : Infinity;
    const pct = Math.floor(tally.put / total * 100);
    if (out.interactive) {
      out.progress(
        `put ${count(tally.put)}/${count(total)} (${pct}%)  ${rate(perSecond)}/s  ETA ${
          duration(eta)
        }`,
      );
    } else {
      out.event(
        "progress",
        { put: tally.put, total, perSecond },
        `put ${count(tally.put)}/${count(total)} (${pct}%), ${rate(perSecond)}/s`,
      );
    }
  };
  const ticker = setInterval(show, out.interactive ? 200 : 1000);
  try {
    while (queued < total && !signal.aborted && failure === null) {
      const size = Math.min(WINDOW, total - queued);
      const values = Array.from({ length: size }, next);
      queued += size;
      const window: Promise<void> = tasks.putMany(values).then(
        () => {
          tally.put += size;
        },
        (error) => {
          failure ??= error;
        },
      ).finally(() => inFlight.delete(window));
      inFlight.add(window);
      if (inFlight.size >= WINDOWS_IN_FLIGHT && await confirm(Promise.race(inFlight)) === GAVE_UP) {
        break;
      }
    }
    if (await confirm(Promise.all(inFlight)) === GAVE_UP) tally.unconfirmed = queued - tally.put;
    if (failure !== null) throw failure;
  } finally {
    clearInterval(ticker);
  }
  if (out.interactive) show();
}

await runRole("producer", main);
