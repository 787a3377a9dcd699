/**
 * A consumer: takes integers from `tasks`, computes n * n exactly (BigInt),
 * and completes the task with the result (ack and result in one step, at-least-once):
 * the result goes to the task's caller if it was called, else on `results`.
 *
 *   deno run --allow-net --allow-env --allow-read roles/consumer.ts [options]
 *   npx tsx roles/consumer.ts [options]
 */
import { ConnectionLostError } from "../mod.ts";
import { formatHelp, type OptionSpec, parseArgs, UsageError } from "../lib/cli/args.ts";
import { CLIENT_OPTIONS, connectUnlessStopped, within } from "../lib/cli/connect.ts";
import { count, Output, plural, rate } from "../lib/cli/output.ts";
import { requireKey, resolveTarget, runRole, watchSignals } from "../lib/cli/role.ts";
import { type SquareResult, toInteger } from "../lib/cli/squares.ts";
import { defaultClientName } from "../lib/util/runtime.ts";
import type { Job } from "../mod.ts";

const OPTIONS = {
  ...CLIENT_OPTIONS,
  concurrency: {
    kind: "int",
    arg: "N",
    min: 1,
    // Squaring is instant: a task's time is the round trips that store its result and ack it,
    // so many tasks in hand keep the pipe full.
    help: "tasks in hand at once (also how many the god pushes ahead)",
    default: "256",
  },
  quiet: { kind: "flag", help: "do not print each computed task, only summaries" },
  json: { kind: "flag", help: "print one JSON object per line per event" },
  help: { kind: "flag", help: "show this help" },
} as const satisfies Record<string, OptionSpec>;

const HELP = formatHelp(
  "consumer.ts [options]",
  "taskwire consumer: squares the integers on `tasks` and puts the results on `results`.",
  OPTIONS,
  `A task that is not an integer is moved to the dead-letter queue (see admin dead list tasks).
Keeps trying while the god is unreachable. On SIGINT/SIGTERM it takes no new task, finishes
the ones in hand (or hands them back), and exits 0; 2 on usage errors, 1 on failures.`,
);

/** How long a graceful stop waits for tasks in hand before handing them back. */
const DRAIN_MS = 10_000;
/** How often a throughput line is printed while tasks flow. */
const SUMMARY_EVERY_MS = 10_000;

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
  const concurrency = (values.concurrency as number | undefined) ?? 256;
  const quiet = values.quiet === true;
  const stopper = watchSignals(out, "consumer");

  const name = defaultClientName();
  const first = await connectUnlessStopped(out, stopper, {
    addr,
    authkey,
    role: "consumer",
    name,
    tlsCa: values["tls-ca"] as string | undefined,
  });
  if (first === null) {
    out.event("stopped", { computed: 0 }, "consumer stopped before reaching the god");
    return 0;
  }
  const client = first;
  const tasks = client.queue<unknown>("tasks");
  const stream = tasks.consume({ prefetch: concurrency });
  out.event(
    "ready",
    { name, concurrency },
    `consumer ${name} waiting for tasks (concurrency ${concurrency})`,
  );

  const tally = { computed: 0, dead: 0, handedBack: 0 };
  const working = new Set<Promise<void>>();
  let last = { at: Date.now(), computed: 0 };
  const summary = setInterval(() => {
    const now = Date.now();
    const fresh = tally.computed - last.computed;
    if (fresh > 0) {
      const perSecond = fresh / ((now - last.at) / 1000);
      out.event(
        "summary",
        { computed: tally.computed, perSecond },
        `-- ${count(tally.computed)} computed so far, ${rate(perSecond)}/s`,
      );
    }
    last = { at: now, computed: tally.computed };
  }, SUMMARY_EVERY_MS);
  stopper.signal.addEventListener("abort", () => {
    stream.return().catch(() => {}); // no new tasks; buffered ones go back to the god
  }, { once: true });

  let failure: unknown = null;
  try {
    for await (const job of stream) {
      if (stopper.signal.aborted) {
        job.nack().catch(() => {});
        continue;
      }
      const work: Promise<void> = handle(out, job, { name, quiet }, tally)
        .catch((error) => {
          failure ??= error;
        })
        .finally(() => working.delete(work));
      working.add(work);
    }
  } catch (error) {
    failure = error;
  }
  clearInterval(summary);
  if (!(await within(Promise.all(working), DRAIN_MS))) {
    out.warn(
      "drain-timeout",
      { inHand: working.size },
      `consumer: ${working.size} tasks still in hand after ${
        DRAIN_MS / 1000
      }s; the god will deliver them again`,
    );
  }
  if (!(await within(client.close(), 5000))) {
    out.warn(
      "close-timeout",
      {},
      "consumer: the god did not answer in time while closing; unacked tasks return to the queue",
    );
  }
  if (failure !== null && !stopper.signal.aborted) throw failure;
  out.event(
    "stopped",
    { computed: tally.computed, dead: tally.dead, handedBack: tally.handedBack },
    `consumer ${name} stopped: computed ${plural(tally.computed, "task")}` +
      (tally.dead ? `, dead-lettered ${tally.dead}` : "") +
      (tally.handedBack ? `, ${tally.handedBack} left for redelivery` : ""),
  );
  return 0;
}

/** Squares one task, puts the result, then acks; a non-integer task is dead-lettered. */
async function handle(
  out: Output,
  job: Job<unknown>,
  { name, quiet }: { name: string; quiet: boolean },
  tally: { computed: number; dead: number; handedBack: number },
): Promise<void> {
  const n = toInteger(job.value);
  try {
    if (typeof n !== "bigint") {
      await job.fail(n.reason);
      tally.dead++;
      out.warn(
        "dead",
        { task: job.id, reason: n.reason },
        `task ${job.id} dead-lettered: ${n.reason}`,
      );
      return;
    }
    const square = n * n;
    // The ack and the result in one step: to the task's caller if it called it, else to
    // `results`, with an id derived from the task's (a task delivered twice yields one result).
    const result: SquareResult = { n, square, by: name, task: job.id };
    await job.complete(result, { queue: "results" });
    tally.computed++;
    if (!quiet) out.event("computed", { n, square, task: job.id }, `${n} * ${n} = ${square}`);
  } catch (error) {
    if (error instanceof ConnectionLostError) {
      tally.handedBack++;
      out.warn(
        "handed-back",
        { task: job.id, reason: error.message },
        `task ${job.id} not acked (${error.message})`,
      );
      return;
    }
    throw error;
  }
}

await runRole("consumer", main);
