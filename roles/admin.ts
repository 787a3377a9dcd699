/**
 * Operator commands: stats, peek, purge, the dead-letter queue, pause and
 * resume, queue settings (rate limit, retry policy) and schedules.
 *
 *   deno run --allow-net --allow-env --allow-read roles/admin.ts stats
 *   npx tsx roles/admin.ts dead list tasks
 */
import { CliFailure, formatHelp, type OptionSpec, parseArgs, UsageError } from "../lib/cli/args.ts";
import { CLIENT_OPTIONS, connectRole } from "../lib/cli/connect.ts";
import { count, duration, Output, rate, table } from "../lib/cli/output.ts";
import { KEY_ENV, requireKey, resolveTarget, runRole } from "../lib/cli/role.ts";
import { defaultClientName } from "../lib/util/runtime.ts";
import {
  type Client,
  describeScope,
  type ListedJob,
  makeWorkerKey,
  type WorkerScope,
} from "../mod.ts";
import { checkScope } from "../lib/protocol/keys.ts";
import {
  historyLines,
  parseBackoff,
  parseRateLimit,
  printInFlight,
  printSchedules,
  scheduleOptions,
  valueText,
} from "../lib/cli/flow.ts";
import { decodeValue, type QueueOptions, type QueueStats, type ScheduleOptions } from "../mod.ts";
import { printable } from "../lib/util/printable.ts";

const OPTIONS = {
  ...CLIENT_OPTIONS,
  id: {
    kind: "list",
    arg: "ID",
    help: "with dead requeue or dead delete: only this job (repeatable)",
  },
  "in-flight": { kind: "flag", help: "with peek: the jobs in flight, their holders and progress" },
  queue: { kind: "string", arg: "Q", help: "with schedule add: the queue to put on" },
  cron: {
    kind: "string",
    arg: "EXPR",
    help: 'with schedule add: a cron expression, e.g. "*/5 * * * *"',
  },
  tz: { kind: "string", arg: "ZONE", help: "with --cron: its time zone, e.g. Europe/Paris (UTC)" },
  every: { kind: "duration", arg: "DUR", help: "with schedule add: a fixed interval, e.g. 5m" },
  value: { kind: "string", arg: "JSON", help: "with schedule add: the job's value (null)" },
  priority: { kind: "string", arg: "N", help: "with schedule add: the job's priority (0)" },
  "catch-up": {
    kind: "flag",
    help: "with schedule add: after downtime, put every missed slot (default: none)",
  },
  "rate-limit": {
    kind: "string",
    arg: "N/DUR",
    help: "with declare: hand out at most N jobs per DUR (10/1s), or off",
  },
  backoff: {
    kind: "string",
    arg: "SPEC",
    help: "with declare: retry wait, fixed:5s or exponential:1s[:1m][:jitter], or off",
  },
  "max-attempts": { kind: "int", arg: "N", min: 1, help: "with declare: deliveries before dead" },
  lease: { kind: "duration", arg: "DUR", help: "with declare: how long a consumer holds a job" },
  queues: {
    kind: "list",
    arg: "Q[,Q...]",
    help: "with key worker: queues whose jobs the key may take and finish (repeatable)",
  },
  results: {
    kind: "list",
    arg: "Q[,Q...]",
    help: "with key worker: queues the key may put to (repeatable)",
  },
  manage: {
    kind: "list",
    arg: "Q[,Q...]",
    help: "with key worker: queues the key may manage, e.g. from the dashboard (repeatable)",
  },
  json: { kind: "flag", help: "print JSON instead of tables" },
  help: { kind: "flag", help: "show this help" },
} as const satisfies Record<string, OptionSpec>;

const HELP = formatHelp(
  "admin.ts COMMAND [options]",
  "taskwire admin: look into and manage a running god.",
  OPTIONS,
  `Commands:
  stats [QUEUE]                   the god, its store, queues and connected clients
  peek QUEUE [N]                  the next N ready jobs (default 10), left in place
  peek QUEUE [N] --in-flight      the jobs in flight: who holds each, until when, progress
  purge QUEUE                     remove every waiting job of QUEUE
  pause QUEUE                     hand out nothing from QUEUE (puts are still taken)
  resume QUEUE                    hand out again
  declare QUEUE [--rate-limit N/DUR] [--backoff SPEC] [--max-attempts N] [--lease DUR]
                                  create QUEUE or change its settings
  dead list QUEUE [N]             dead letters of QUEUE with the reason and attempts of each
  dead requeue QUEUE [--id ID]..  move dead letters of QUEUE (all, or those IDs) back to it
  dead delete QUEUE [--id ID]..   delete dead letters of QUEUE (all, or those IDs)
  schedule add NAME --queue Q (--cron EXPR [--tz ZONE] | --every DUR) [--value JSON]
               [--priority N] [--catch-up]
                                  put a job on Q at every slot (replaces NAME if it exists)
  schedule list                   every schedule, its next and last slot
  schedule remove NAME            remove a schedule
  key worker [--queues Q] [--results R] [--manage M]
                                  print a worker key: it may only take and finish jobs of Q,
                                  put to R and manage M (made from the god's key; nothing is
                                  sent)

Exits 0 on success, 2 on usage errors, 1 on failures (god unreachable, key rejected,
dead requeue or dead delete --id that matched nothing, schedule remove of an unknown name).`,
);

type Command =
  | { cmd: "stats"; queue?: string }
  | { cmd: "peek"; queue: string; limit: number; inFlight: boolean }
  | { cmd: "purge"; queue: string }
  | { cmd: "pause" | "resume"; queue: string }
  | { cmd: "declare"; queue: string; options: Partial<QueueOptions> }
  | { cmd: "dead-list"; queue: string; limit: number }
  | { cmd: "dead-requeue" | "dead-delete"; queue: string; ids?: string[] }
  | { cmd: "schedule-add"; name: string; options: ScheduleOptions }
  | { cmd: "schedule-list" }
  | { cmd: "schedule-remove"; name: string }
  | { cmd: "key-worker"; scope: WorkerScope };

/** Which options go with which command (the others are refused, so a typo does not pass silently). */
const ONLY_WITH: Record<string, string[]> = {
  "in-flight": ["peek"],
  queue: ["schedule add"],
  cron: ["schedule add"],
  tz: ["schedule add"],
  every: ["schedule add"],
  value: ["schedule add"],
  priority: ["schedule add"],
  "catch-up": ["schedule add"],
  "rate-limit": ["declare"],
  backoff: ["declare"],
  "max-attempts": ["declare"],
  lease: ["declare"],
};

/** Queue names given as repeatable, comma-separated options. */
function queueList(given: string[] | undefined): string[] {
  return (given ?? []).flatMap((text) => text.split(",")).map((q) => q.trim()).filter((q) =>
    q !== ""
  );
}

function parseCommand(
  positionals: string[],
  values: Record<string, unknown> & {
    id?: string[];
    queues?: string[];
    results?: string[];
    manage?: string[];
  },
): Command {
  const { id: ids } = values;
  const [cmd, ...rest] = positionals;
  for (const [option, commands] of Object.entries(ONLY_WITH)) {
    const given = [cmd, rest[0]].filter(Boolean).join(" ");
    if (values[option] !== undefined && !commands.some((c) => given.startsWith(c))) {
      throw new UsageError(`Option --${option} only goes with ${commands.join(" or ")}`);
    }
  }
  const limit = (text: string | undefined, fallback: number): number => {
    if (text === undefined) return fallback;
    if (!/^\d+$/.test(text) || Number(text) < 1) {
      throw new UsageError(`Invalid count "${text}": expected a whole number >= 1`);
    }
    return Number(text);
  };
  const want = (n: number, usage: string) => {
    if (rest.length < n) throw new UsageError(`Missing argument: usage is "${usage}"`);
  };
  const noMore = (n: number, usage: string) => {
    if (rest.length > n) {
      throw new UsageError(`Unexpected argument "${rest[n]}": usage is "${usage}"`);
    }
  };
  if (ids !== undefined && !(cmd === "dead" && (rest[0] === "requeue" || rest[0] === "delete"))) {
    throw new UsageError("Option --id only goes with dead requeue or dead delete");
  }
  if (
    (values.queues ?? values.results ?? values.manage) !== undefined &&
    !(cmd === "key" && rest[0] === "worker")
  ) {
    throw new UsageError("Options --queues, --results and --manage only go with key worker");
  }
  switch (cmd) {
    case undefined:
      throw new UsageError(
        "Missing command: one of stats, peek, purge, pause, resume, declare, dead list, dead requeue, dead delete, schedule add, schedule list, schedule remove, key worker",
      );
    case "stats":
      noMore(1, "stats [QUEUE]");
      return { cmd, queue: rest[0] };
    case "peek":
      want(1, "peek QUEUE [N] [--in-flight]");
      noMore(2, "peek QUEUE [N] [--in-flight]");
      return {
        cmd,
        queue: rest[0],
        limit: limit(rest[1], 10),
        inFlight: values["in-flight"] === true,
      };
    case "purge":
    case "pause":
    case "resume":
      want(1, `${cmd} QUEUE`);
      noMore(1, `${cmd} QUEUE`);
      return { cmd, queue: rest[0] };
    case "declare": {
      const usage =
        "declare QUEUE [--rate-limit N/DUR] [--backoff SPEC] [--max-attempts N] [--lease DUR]";
      want(1, usage);
      noMore(1, usage);
      const options: Partial<QueueOptions> = {};
      if (values["rate-limit"] !== undefined) {
        options.rateLimit = parseRateLimit(values["rate-limit"] as string);
      }
      if (values.backoff !== undefined) options.backoff = parseBackoff(values.backoff as string);
      if (values["max-attempts"] !== undefined) {
        options.maxAttempts = values["max-attempts"] as number;
      }
      if (values.lease !== undefined) options.leaseMs = values.lease as number;
      return { cmd, queue: rest[0], options };
    }
    case "schedule": {
      const [sub, name] = rest;
      if (sub === "add") {
        want(2, "schedule add NAME --queue Q (--cron EXPR | --every DUR)");
        noMore(2, "schedule add NAME --queue Q (--cron EXPR | --every DUR)");
        return {
          cmd: "schedule-add",
          name,
          options: scheduleOptions(values as Parameters<typeof scheduleOptions>[0]),
        };
      }
      if (sub === "list") {
        noMore(1, "schedule list");
        return { cmd: "schedule-list" };
      }
      if (sub === "remove") {
        want(2, "schedule remove NAME");
        noMore(2, "schedule remove NAME");
        return { cmd: "schedule-remove", name };
      }
      throw new UsageError(
        `Unknown command "${
          ["schedule", sub].filter(Boolean).join(" ")
        }": use schedule add, schedule list or schedule remove`,
      );
    }
    case "dead": {
      const [sub, queue, n] = rest;
      if (sub === "list") {
        want(2, "dead list QUEUE [N]");
        noMore(3, "dead list QUEUE [N]");
        return { cmd: "dead-list", queue, limit: limit(n, 100) };
      }
      if (sub === "requeue" || sub === "delete") {
        want(2, `dead ${sub} QUEUE [--id ID]...`);
        noMore(2, `dead ${sub} QUEUE [--id ID]...`);
        return { cmd: sub === "requeue" ? "dead-requeue" : "dead-delete", queue, ids };
      }
      throw new UsageError(
        `Unknown command "${
          ["dead", sub].filter(Boolean).join(" ")
        }": use dead list, dead requeue or dead delete`,
      );
    }
    case "key": {
      if (rest[0] !== "worker") {
        throw new UsageError(
          `Unknown command "${["key", rest[0]].filter(Boolean).join(" ")}": use key worker`,
        );
      }
      noMore(1, "key worker [--queues Q] [--results R] [--manage M]");
      try {
        return {
          cmd: "key-worker",
          scope: checkScope({
            consume: queueList(values.queues),
            put: queueList(values.results),
            manage: queueList(values.manage),
          }),
        };
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
    }
    default:
      throw new UsageError(
        `Unknown command "${cmd}": use stats, peek, purge, pause, resume, declare, dead, schedule or key worker`,
      );
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs(argv, OPTIONS);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const command = parseCommand(positionals, values as Parameters<typeof parseCommand>[1]);
  const out = new Output({ json: values.json === true });
  const authkey = await requireKey(values["authkey-file"] as string | undefined, out);
  if (command.cmd === "key-worker") return await printWorkerKey(out, authkey, command.scope);
  const addr = resolveTarget(values.connect as string | undefined);
  const client = await connectRole(new Output({ json: out.json, sink: silent }), {
    addr,
    authkey,
    role: "admin",
    name: defaultClientName(),
    wait: false,
    tlsCa: values["tls-ca"] as string | undefined,
  });
  try {
    return await run(out, client, command);
  } finally {
    await client.close();
  }
}

/** `key worker`: a worker key made from the god's key, printed with what it may do. */
async function printWorkerKey(out: Output, authkey: string, scope: WorkerScope): Promise<number> {
  let key: string;
  try {
    key = await makeWorkerKey(authkey, scope);
  } catch (error) {
    throw new CliFailure(`${(error as Error).message} (${KEY_ENV} or --authkey-file)`);
  }
  out.event(
    "worker-key",
    { key, ...scope, may: describeScope(scope) },
    key,
  );
  // On stderr, so that `export TASKWIRE_AUTHKEY=$(taskwire admin key worker …)` captures the key alone.
  out.note(
    `# this key may only ${
      describeScope(scope)
    }; give it to the worker as ${KEY_ENV} or in its --authkey-file`,
  );
  return 0;
}

const silent = { out: () => {}, err: () => {}, tty: false };

async function run(
  out: Output,
  client: Client,
  command: Exclude<Command, { cmd: "key-worker" }>,
): Promise<number> {
  switch (command.cmd) {
    case "stats": {
      const stats = await client.stats(command.queue);
      if (out.json) {
        out.event("stats", stats as unknown as Record<string, unknown>, null);
        return 0;
      }
      const { server } = stats;
      const store = server.store;
      const lines = [
        `god ${server.name} on ${server.address} (${server.runtime}), up ${
          duration(server.uptimeMs)
        }`,
        `store: ${store.kind}` +
        (store.kind === "journal"
          ? `, fsync ${store.fsync ?? "?"}, journal ${count(store.journalBytes ?? 0)} bytes` +
            `, last compaction ${store.lastCompaction ?? "never"}` +
            (store.recovered
              ? `, recovered ${count(store.recovered.jobs ?? 0)} jobs at start` +
                (store.recovered.truncatedBytes
                  ? ` (cut ${count(store.recovered.truncatedBytes)} bytes of torn tail)`
                  : "")
              : "")
          : store.kind === "memory"
          ? " (nothing survives a restart)"
          : ""),
        "",
        table(
          [
            "queue",
            "state",
            "ready",
            "delayed",
            "in flight",
            "dead",
            "consumers",
            "put",
            "acked",
            "redelivered",
            "put/s",
            "acked/s",
          ],
          stats.queues.map((q) => [
            printable(q.name),
            queueState(q),
            count(q.ready),
            count(q.delayed),
            count(q.inFlight),
            count(q.dead),
            count(q.consumers),
            count(q.totals.put),
            count(q.totals.acked),
            count(q.totals.redelivered),
            rate(q.rates.put),
            rate(q.rates.acked),
          ]),
        ),
        ...progressLines(stats.queues),
        "",
        stats.connections.length === 0 ? "no clients connected" : table(
          ["client", "role", "runtime", "from", "since", "leases"],
          stats.connections.map((
            c,
          ) => [c.name, c.role, c.runtime, c.remote, c.connectedAt, count(c.leases)]),
        ),
      ];
      out.say(lines.join("\n"));
      return 0;
    }
    case "peek": {
      if (command.inFlight) {
        printInFlight(out, command.queue, await client.inFlight(command.queue, command.limit));
        return 0;
      }
      const jobs = await client.peek(command.queue, command.limit);
      listJobs(out, "peek", command.queue, jobs, `no ready jobs in ${command.queue}`);
      return 0;
    }
    case "pause":
    case "resume": {
      const options = command.cmd === "pause"
        ? await client.pause(command.queue)
        : await client.resume(command.queue);
      out.event(
        command.cmd === "pause" ? "paused" : "resumed",
        { queue: command.queue, paused: options.paused },
        command.cmd === "pause"
          ? `paused ${command.queue}: puts are taken, nothing is handed out until admin resume ${command.queue}`
          : `resumed ${command.queue}: jobs are handed out again`,
      );
      return 0;
    }
    case "declare": {
      const options = await client.declare(command.queue, command.options);
      out.event(
        "declared",
        { queue: command.queue, options },
        `${command.queue}: ${describeOptions(options)}`,
      );
      return 0;
    }
    case "dead-delete": {
      const deleted = await client.deadDelete(command.queue, command.ids);
      out.event(
        "deleted",
        { queue: command.queue, deleted, ids: command.ids ?? null },
        `deleted ${count(deleted)} dead letters of ${command.queue}`,
      );
      if (command.ids !== undefined && deleted < command.ids.length) {
        out.warn(
          "delete-unmatched",
          { queue: command.queue, asked: command.ids.length, deleted },
          `${
            command.ids.length - deleted
          } of the ${command.ids.length} ids given matched no dead letter of ${command.queue} (see admin dead list ${command.queue})`,
        );
        return 1;
      }
      return 0;
    }
    case "schedule-add": {
      const info = await client.schedule(command.name, command.options);
      out.event(
        "scheduled",
        { ...info },
        `schedule ${info.name}: a job on ${info.queue} ${
          info.cron !== null
            ? `at "${info.cron}" (${info.timezone ?? "UTC"})`
            : `every ${duration(info.everyMs!)}`
        }; next at ${info.next === null ? "never" : new Date(info.next).toISOString()}`,
      );
      return 0;
    }
    case "schedule-list":
      printSchedules(out, await client.schedules());
      return 0;
    case "schedule-remove": {
      const removed = await client.unschedule(command.name);
      if (!removed) {
        out.warn(
          "schedule-unknown",
          { name: command.name },
          `no schedule named ${command.name} (see admin schedule list)`,
        );
        return 1;
      }
      out.event("unscheduled", { name: command.name }, `removed schedule ${command.name}`);
      return 0;
    }
    case "purge": {
      const purged = await client.purge(command.queue);
      out.event(
        "purged",
        { queue: command.queue, purged },
        `purged ${count(purged)} jobs from ${command.queue}`,
      );
      return 0;
    }
    case "dead-list": {
      const jobs = await client.deadList(command.queue, command.limit);
      listJobs(out, "dead", command.queue, jobs, `no dead letters for ${command.queue}`);
      return 0;
    }
    case "dead-requeue": {
      const requeued = await client.deadRequeue(command.queue, command.ids);
      out.event(
        "requeued",
        { queue: command.queue, requeued, ids: command.ids ?? null },
        `requeued ${count(requeued)} dead letters back to ${command.queue}`,
      );
      if (command.ids !== undefined && requeued < command.ids.length) {
        // Asked for by id: an id that matched no dead letter is a mistake worth an exit code.
        out.warn(
          "requeue-unmatched",
          { queue: command.queue, asked: command.ids.length, requeued },
          `${
            command.ids.length - requeued
          } of the ${command.ids.length} ids given matched no dead letter of ${command.queue} (see admin dead list ${command.queue})`,
        );
        return 1;
      }
      return 0;
    }
  }
}

function listJobs(
  out: Output,
  event: string,
  queue: string,
  jobs: ListedJob[],
  empty: string,
): void {
  if (out.json) {
    for (const job of jobs) out.event(event, { queue, ...job }, null);
    return;
  }
  if (jobs.length === 0) return out.say(empty);
  const withReason = jobs.some((j) => j.reason !== undefined);
  const rows = table(
    ["id", "attempts", "priority", "value", ...(withReason ? ["reason"] : [])],
    jobs.map((j) => [
      printable(j.id),
      j.attempts,
      j.priority,
      valueText(j.value, 50),
      ...(withReason ? [printable(j.reason ?? "")] : []),
    ]),
  ).split("\n");
  // Under each dead letter's row, the attempts that did not finish.
  out.say([rows[0], ...jobs.flatMap((job, i) => [rows[i + 1], ...historyLines(job)])].join("\n"));
}

/** Paused, held back by its rate limit, or limited: what a queue's "state" column says. */
function queueState(q: QueueStats): string {
  if (q.paused) return "paused";
  if (q.rateLimit === null) return "";
  const limit = `${count(q.rateLimit.count)}/${duration(q.rateLimit.perMs)}`;
  return q.throttled ? `throttled ${limit}` : `limit ${limit}`;
}

/** One line per in-flight job that reported progress, under the queues table. */
function progressLines(queues: QueueStats[]): string[] {
  const now = Date.now();
  return queues.flatMap((q) =>
    q.progress.map((p) => {
      let value: unknown = p.value;
      try {
        value = decodeValue(new TextEncoder().encode(p.value));
      } catch {
        // shown as stored
      }
      return `  ${printable(q.name)} ${printable(p.id)} (${printable(p.by)}): ${
        valueText(value, 60)
      }, ${duration(Math.max(0, now - p.at))} ago`;
    })
  );
}

/** A queue's settings in one line. */
function describeOptions(o: QueueOptions): string {
  const parts = [
    `maxsize ${o.maxsize || "unbounded"}`,
    `lease ${duration(o.leaseMs)}`,
    `${o.maxAttempts} attempts`,
    `dead letters to ${o.deadLetter ?? "nowhere"}`,
    o.rateLimit === null
      ? "no rate limit"
      : `at most ${o.rateLimit.count} per ${duration(o.rateLimit.perMs)}`,
    o.backoff === null
      ? "retried at once"
      : `retried after ${o.backoff.type} backoff from ${duration(o.backoff.delayMs)} up to ${
        duration(o.backoff.maxMs)
      }${o.backoff.jitter ? " with jitter" : ""}`,
  ];
  if (o.paused) parts.push("paused");
  return parts.join(", ");
}

await runRole("admin", main);
