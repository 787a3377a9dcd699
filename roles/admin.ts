/**
 * Operator commands: stats, peek, purge, and the dead-letter queue.
 *
 *   deno run --allow-net --allow-env --allow-read roles/admin.ts stats
 *   npx tsx roles/admin.ts dead list tasks
 */
import { CliFailure, formatHelp, type OptionSpec, parseArgs, UsageError } from "../lib/cli/args.ts";
import { CLIENT_OPTIONS, connectRole } from "../lib/cli/connect.ts";
import { count, duration, jsonLine, Output, rate, table } from "../lib/cli/output.ts";
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

const OPTIONS = {
  ...CLIENT_OPTIONS,
  id: { kind: "list", arg: "ID", help: "with dead requeue: only this job (repeatable)" },
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
  purge QUEUE                     remove every waiting job of QUEUE
  dead list QUEUE [N]             dead letters of QUEUE with the reason each died
  dead requeue QUEUE [--id ID]..  move dead letters of QUEUE (all, or those IDs) back to it
  key worker --queues Q --results R
                                  print a worker key: it may only take and finish jobs of Q
                                  and put to R (made from the god's key; nothing is sent)

Exits 0 on success, 2 on usage errors, 1 on failures (god unreachable, key rejected,
dead requeue --id that matched nothing).`,
);

type Command =
  | { cmd: "stats"; queue?: string }
  | { cmd: "peek"; queue: string; limit: number }
  | { cmd: "purge"; queue: string }
  | { cmd: "dead-list"; queue: string; limit: number }
  | { cmd: "dead-requeue"; queue: string; ids?: string[] }
  | { cmd: "key-worker"; scope: WorkerScope };

/** Queue names given as repeatable, comma-separated options. */
function queueList(given: string[] | undefined): string[] {
  return (given ?? []).flatMap((text) => text.split(",")).map((q) => q.trim()).filter((q) =>
    q !== ""
  );
}

function parseCommand(
  positionals: string[],
  values: { id?: string[]; queues?: string[]; results?: string[] },
): Command {
  const { id: ids } = values;
  const [cmd, ...rest] = positionals;
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
  if (ids !== undefined && !(cmd === "dead" && rest[0] === "requeue")) {
    throw new UsageError("Option --id only goes with dead requeue");
  }
  if ((values.queues ?? values.results) !== undefined && !(cmd === "key" && rest[0] === "worker")) {
    throw new UsageError("Options --queues and --results only go with key worker");
  }
  switch (cmd) {
    case undefined:
      throw new UsageError(
        "Missing command: one of stats, peek, purge, dead list, dead requeue, key worker",
      );
    case "stats":
      noMore(1, "stats [QUEUE]");
      return { cmd, queue: rest[0] };
    case "peek":
      want(1, "peek QUEUE [N]");
      noMore(2, "peek QUEUE [N]");
      return { cmd, queue: rest[0], limit: limit(rest[1], 10) };
    case "purge":
      want(1, "purge QUEUE");
      noMore(1, "purge QUEUE");
      return { cmd, queue: rest[0] };
    case "dead": {
      const [sub, queue, n] = rest;
      if (sub === "list") {
        want(2, "dead list QUEUE [N]");
        noMore(3, "dead list QUEUE [N]");
        return { cmd: "dead-list", queue, limit: limit(n, 100) };
      }
      if (sub === "requeue") {
        want(2, "dead requeue QUEUE [--id ID]...");
        noMore(2, "dead requeue QUEUE [--id ID]...");
        return { cmd: "dead-requeue", queue, ids };
      }
      throw new UsageError(
        `Unknown command "${
          ["dead", sub].filter(Boolean).join(" ")
        }": use dead list or dead requeue`,
      );
    }
    case "key": {
      if (rest[0] !== "worker") {
        throw new UsageError(
          `Unknown command "${["key", rest[0]].filter(Boolean).join(" ")}": use key worker`,
        );
      }
      noMore(1, "key worker --queues Q --results R");
      try {
        return {
          cmd: "key-worker",
          scope: checkScope({ consume: queueList(values.queues), put: queueList(values.results) }),
        };
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
    }
    default:
      throw new UsageError(
        `Unknown command "${cmd}": use stats, peek, purge, dead list, dead requeue or key worker`,
      );
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs(argv, OPTIONS);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const command = parseCommand(positionals, {
    id: values.id as string[] | undefined,
    queues: values.queues as string[] | undefined,
    results: values.results as string[] | undefined,
  });
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
            q.name,
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
      const jobs = await client.peek(command.queue, command.limit);
      listJobs(out, "peek", command.queue, jobs, `no ready jobs in ${command.queue}`);
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
  out.say(table(
    ["id", "attempts", "priority", "value", ...(withReason ? ["reason"] : [])],
    jobs.map((j) => [
      j.id,
      j.attempts,
      j.priority,
      clip(jsonLine({ v: j.value }).slice(5, -1), 50),
      ...(withReason ? [j.reason ?? ""] : []),
    ]),
  ));
}

function clip(text: string, max: number): string {
  return text.length > max ? text.slice(0, max - 3) + "..." : text;
}

await runRole("admin", main);
