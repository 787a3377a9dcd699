/**
 * The god: hosts the `tasks` and `results` queues behind the shared key and
 * prints each result as it arrives, as in the seed.
 *
 *   deno run --allow-net --allow-env --allow-read --allow-write roles/god.ts [options]
 *   npx tsx roles/god.ts [options]
 */
// Imported from their modules, not mod.ts: a god loads neither Hono (unless
// --http) nor the NATS client (unless --store), which saves memory.
import { type God, serve, type ServeOptions } from "../lib/server/server.ts";
import { generateAuthKey } from "../lib/protocol/keys.ts";
import { formatAddress } from "../lib/util/address.ts";
import { consumeLocally, type LocalJob } from "../lib/server/local_consumer.ts";
import { CliFailure, formatHelp, type OptionSpec, parseArgs, UsageError } from "../lib/cli/args.ts";
import { readText } from "../lib/cli/runtime.ts";
import { resolveLimits } from "../lib/protocol/limits.ts";
import { count, duration, Output, rate } from "../lib/cli/output.ts";
import { KEY_ENV, loadKey, resolveAddress, runRole, watchSignals } from "../lib/cli/role.ts";
import { describeResult, type SquareResult } from "../lib/cli/squares.ts";
import { openJournal, StoreError } from "../lib/store/open.ts";
import { checkCorsOrigins } from "../lib/http/cors.ts";
import { parsePythonQueues } from "../lib/python/bindings.ts";
import type { Address } from "../lib/transport/transport.ts";
import { printable } from "../lib/util/printable.ts";
import { formatBytes } from "../lib/util/format_bytes.ts";
import { utf8Length } from "../lib/protocol/messages.ts";

const OPTIONS = {
  listen: {
    kind: "address",
    arg: "HOST:PORT",
    help: "where to accept producers and consumers",
    default: "$TASKWIRE_ADDR or 127.0.0.1:5678",
  },
  "authkey-file": {
    kind: "string",
    arg: "PATH",
    help: `file holding the shared key (else $${KEY_ENV}; else a new key is made and printed)`,
  },
  data: {
    kind: "string",
    arg: "DIR",
    help: "data directory for the journal",
    default: "./taskwire-data",
  },
  "in-memory": { kind: "flag", help: "keep queues in memory only (lost when the god stops)" },
  salvage: {
    kind: "flag",
    help: "start from a damaged journal: load what is readable, keep the damaged files aside",
  },
  store: {
    kind: "string",
    arg: "nats://HOST:PORT[,HOST:PORT...]",
    help: "keep the queues in NATS JetStream instead (several gods can share them)",
  },
  "nats-replicas": {
    kind: "int",
    arg: "N",
    min: 1,
    help: "JetStream stream replicas (3 on a 3-node cluster)",
    default: "1",
  },
  "nats-creds": {
    kind: "string",
    arg: "PATH",
    help: "NATS credentials file (else $NATS_CREDS, $NATS_USER/$NATS_PASSWORD, $NATS_TOKEN)",
  },
  fsync: {
    kind: "choice",
    arg: "always|batch|off",
    choices: ["always", "batch", "off"],
    help: "when the journal syncs to disk",
    default: "always",
  },
  http: {
    kind: "address",
    arg: "HOST:PORT",
    help: "also serve the HTTP API, /metrics and the live dashboard there",
  },
  "http-cors": {
    kind: "string",
    arg: "ORIGIN[,ORIGIN...]",
    help: "let web pages on these origins call the HTTP API (https://app.example, or *)",
  },
  python: {
    kind: "address",
    arg: "HOST:PORT",
    help: "also serve Python BaseManager workers (the seed's scripts) there; see docs/PYTHON.md",
  },
  "python-queues": {
    kind: "string",
    arg: "NAME=QUEUE,...",
    help: "which queue each name Python registers is",
    default: "pq=tasks,cq=results",
  },
  "tls-cert": {
    kind: "string",
    arg: "PEM",
    help: "serve TLS (TCP and HTTP) with this certificate chain; clients use tls://HOST:PORT",
  },
  "tls-key": { kind: "string", arg: "PEM", help: "the private key of --tls-cert" },
  limits: {
    kind: "string",
    arg: "NAME=N,...",
    help: "change limits, e.g. maxConnections=2000,maxPayloadBytes=1048576 (see docs/SECURITY.md)",
  },
  heartbeat: {
    kind: "duration",
    arg: "DUR",
    help: "ping a connection quiet this long; drop one silent for three (clients follow)",
    default: "10s",
  },
  quiet: { kind: "flag", help: "count results without decoding or printing them; print summaries" },
  json: { kind: "flag", help: "print one JSON object per line per event" },
  help: { kind: "flag", help: "show this help" },
} as const satisfies Record<string, OptionSpec>;

const HELP = formatHelp(
  "god.ts [options]",
  "taskwire god: hosts the queues `tasks` and `results` and prints each result as it arrives.",
  OPTIONS,
  `Environment:
  ${KEY_ENV}   the shared key (producers, consumers and admin need the same one)
  TASKWIRE_ADDR      default for --listen

Exits 0 after a graceful stop on SIGINT/SIGTERM, 2 on usage errors, 1 on failures.`,
);

/** How often the god prints a throughput summary while results flow. */
const SUMMARY_EVERY_MS = 10_000;

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs(argv, OPTIONS);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const cors = parseCors(values["http-cors"] as string | undefined, values.http !== undefined);
  const out = new Output({ json: values.json === true });
  const stopper = watchSignals(out, "god");
  const listen = resolveAddress(values.listen as Address | undefined);

  let authkey = await loadKey(values["authkey-file"] as string | undefined, out);
  if (authkey === undefined) {
    authkey = generateAuthKey();
    out.event(
      "key",
      { authkey, generated: true },
      `No key given, so this god made one. Give it to every producer, consumer and admin:\n` +
        `  export ${KEY_ENV}=${authkey}\n` +
        `or save it in a file (readable only by you) and pass --authkey-file PATH.\n` +
        `To keep the same key across restarts, start the god with that variable or file too.`,
    );
  }

  const pythonQueues = parsePythonQueuesOption(
    values.python as Address | undefined,
    values["python-queues"] as string | undefined,
  );

  const options: ServeOptions = {
    listen,
    authkey,
    name: `god@${formatAddress(listen)}`,
    log: (event) => logServerEvent(out, event),
    limits: {
      ...parseLimits(values.limits as string | undefined),
      ...(values.heartbeat === undefined ? {} : { heartbeatMs: values.heartbeat as number }),
    },
    tls: await loadTls(
      values["tls-cert"] as string | undefined,
      values["tls-key"] as string | undefined,
    ),
  };
  if (values.store !== undefined) {
    const urls = values.store as string;
    // What is printed of the URLs: never the credentials some carry (nats://user:pass@host).
    const shown = urls.replace(/([a-z]+:\/\/)[^@/,]*@/gi, "$1");
    try {
      const { openJetStream } = await import("../lib/jetstream/open.ts");
      options.backend = await openJetStream(urls, {
        replicas: (values["nats-replicas"] as number | undefined) ?? 1,
        credsFile: values["nats-creds"] as string | undefined,
        signal: stopper.signal,
        log: (event) =>
          out.event(
            "nats",
            event,
            event.state === "unreachable" || event.state === "jetstream unavailable"
              ? `store: cannot reach NATS JetStream at ${event.servers} (${event.error}); retrying in ${
                duration(event.delayMs as number)
              }`
              : `store: NATS ${describeFields(event)}`,
          ),
      });
    } catch (error) {
      throw new CliFailure(`${(error as Error).message}`, { cause: error });
    }
    out.event(
      "store",
      { kind: "jetstream", servers: shown },
      `store: NATS JetStream at ${shown} (gods sharing it serve the same queues)`,
    );
  } else if (values["in-memory"]) {
    out.event("store", { kind: "memory" }, "store: in memory (nothing survives a restart)");
  } else {
    const dir = (values.data as string | undefined) ?? "./taskwire-data";
    const fsync = (values.fsync as "always" | "batch" | "off" | undefined) ?? "always";
    let journal;
    try {
      journal = await openJournal(dir, {
        fsync,
        salvage: values.salvage === true,
        log: (event) =>
          out.event(
            "journal",
            event,
            // The recovery is told by the summary below; other journal events get a line.
            event.event === "recovered"
              ? null
              : `journal: ${String(event.note ?? event.event)} ${
                describeFields({ ...event, note: undefined, event: undefined })
              }`,
          ),
      });
    } catch (error) {
      // A StoreError says what failed and what to do; anything else gets the advice here.
      throw new CliFailure(
        error instanceof StoreError
          ? error.message
          : `Cannot open the data directory "${dir}": ${(error as Error).message}. ` +
            `Pick another with --data DIR, or run with --in-memory`,
        { cause: error },
      );
    }
    options.store = journal.store;
    options.restore = journal.restore;
    out.event(
      "store",
      { kind: "journal", dir, fsync, summary: journal.summary },
      `store: ${journal.summary}`,
    );
    journal = undefined; // its recovered state is needed only until serve() below
  }

  let god: God;
  try {
    god = await serve(options);
    // The broker holds the recovered jobs now: let the list of them (a million objects, say) go.
    options.restore = undefined;
  } catch (error) {
    await options.store?.close();
    await options.backend?.close?.();
    const code = (error as { code?: string }).code;
    const why = code === "EADDRINUSE" ? "the address is already in use" : (error as Error).message;
    throw new CliFailure(
      `Cannot listen on ${
        formatAddress(listen)
      }: ${why}. Pick another address with --listen HOST:PORT`,
      { cause: error },
    );
  }
  let http: { url: string; viewerToken: string; close(): Promise<void> } | null = null;
  if (values.http) {
    try {
      // Loaded only when asked for, so a god without --http never loads Hono.
      const { serveHttp } = await import("../lib/http/serve.ts");
      http = await serveHttp(god, {
        listen: formatAddress(values.http as Address),
        cors,
        log: (event: Record<string, unknown>) => logServerEvent(out, event),
        tls: options.tls,
      });
    } catch (error) {
      await god.close();
      throw new CliFailure(
        `Cannot serve HTTP on ${formatAddress(values.http as Address)}: ${
          (error as Error).message
        }. ` +
          `Pick another address with --http HOST:PORT`,
        { cause: error },
      );
    }
  }
  // Python workers, when asked for: a door of their own, on the same operations.
  let python: { close(): Promise<void> } | null = null;
  if (pythonQueues !== null) {
    const address = formatAddress(values.python as Address);
    try {
      const { pythonGod } = await import("../lib/python/ops_adapter.ts");
      const { servePython } = await import("../lib/python/server.ts");
      const door = await servePython(pythonGod(god.ops), {
        listen: address,
        authkey,
        queues: pythonQueues,
        limits: options.limits,
        admission: god.admission,
        log: (event: Record<string, unknown>) => logServerEvent(out, event),
      });
      python = door;
      const names = Object.entries(door.queues).map(([n, q]) => `${n}=${q}`).join(", ");
      out.event(
        "python",
        { addr: `${door.host}:${door.port}`, queues: door.queues },
        `Python door on ${door.host}:${door.port} (BaseManager workers, authkey = this god's key; ${names})` +
          (options.tls ? "\n  note: the Python door is plain TCP (BaseManager has no TLS)" : ""),
      );
    } catch (error) {
      await http?.close();
      await god.close();
      const code = (error as { code?: string }).code;
      const why = code === "EADDRINUSE"
        ? "the address is already in use"
        : (error as Error).message;
      throw new CliFailure(
        `Cannot serve Python workers on ${address}: ${why}. Pick another address with --python HOST:PORT`,
        { cause: error },
      );
    }
  }
  // Every port is taken before the god says it is listening.
  const addr = `${options.tls ? "tls://" : ""}${god.host}:${god.port}`;
  out.event(
    "listening",
    {
      addr,
      runtime: god.stats().server.runtime,
      pid: (globalThis as { process?: { pid: number } }).process?.pid,
    },
    `god listening on ${addr} (${god.stats().server.runtime}); queues: tasks, results`,
  );

  if (http !== null) {
    const dashboard = `${http.url}/?token=${http.viewerToken}`;
    out.event(
      "http",
      { url: http.url, dashboard, viewerToken: http.viewerToken, cors: cors ?? null },
      `HTTP API on ${http.url}; live dashboard: ${dashboard}` +
        (cors ? `; CORS for ${cors.join(", ")}` : ""),
    );
  }

  // The god's own consumer of `results`, inside this process: no connection,
  // and a result is decoded only to be printed.
  const quiet = values.quiet === true;
  const printing = !quiet || out.json;
  let received = 0;
  let lastCount = 0;
  let lastAt = Date.now();
  const collector = consumeLocally<SquareResult>(god, "results", { prefetch: 256 }, (job) => {
    if (printing) report(out, job, quiet);
    received++;
  }, (error) => out.warn("collector", { message: String(error) }, `god: ${String(error)}`));
  const summary = setInterval(() => {
    const now = Date.now();
    const fresh = received - lastCount;
    if (fresh === 0) return;
    const stats = god.stats();
    const tasks = stats.queues.find((q) => q.name === "tasks");
    const perSecond = fresh / ((now - lastAt) / 1000);
    out.event(
      "summary",
      {
        results: received,
        perSecond,
        tasksReady: tasks?.ready ?? 0,
        tasksInFlight: tasks?.inFlight ?? 0,
        tasksDead: tasks?.dead ?? 0,
        connections: stats.connections.length,
      },
      `-- ${count(received)} results so far, ${rate(perSecond)}/s over the last ${
        duration(now - lastAt)
      }; ` +
        `tasks ready ${count(tasks?.ready ?? 0)}, in flight ${count(tasks?.inFlight ?? 0)}, ` +
        `dead ${count(tasks?.dead ?? 0)}; ${stats.connections.length} clients connected`,
    );
    lastCount = received;
    lastAt = now;
  }, SUMMARY_EVERY_MS);

  out.say("waiting for results... (Ctrl-C to stop)");

  await stopper.stopped;
  clearInterval(summary);
  collector.stop();
  await http?.close();
  await python?.close();
  await god.close();
  out.event("stopped", { results: received }, `god stopped after ${count(received)} results`);
  return 0;
}

/** `--limits maxConnections=100,maxPayloadBytes=1048576` as an object (checked by the server). */
function parseLimits(text: string | undefined): Record<string, number> | undefined {
  if (text === undefined) return undefined;
  const limits: Record<string, number> = {};
  for (const part of text.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const match = /^([A-Za-z]+)=(\d+)$/.exec(part);
    if (!match) throw new UsageError(`Invalid --limits entry "${part}": expected NAME=N`);
    limits[match[1]] = Number(match[2]);
  }
  try {
    resolveLimits(limits);
  } catch (error) {
    throw new UsageError(`Invalid --limits: ${(error as Error).message}`);
  }
  return limits;
}

/** `--http-cors a,b` as a checked list of origins; it needs --http. */
function parseCors(text: string | undefined, http: boolean): string[] | undefined {
  if (text === undefined) return undefined;
  if (!http) throw new UsageError("--http-cors goes with --http HOST:PORT");
  try {
    return checkCorsOrigins(text.split(",").map((o) => o.trim()).filter((o) => o !== ""));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** `--python-queues` as a mapping, or null without `--python`; usage errors name the bad part. */
function parsePythonQueuesOption(
  address: Address | undefined,
  text: string | undefined,
): Record<string, string> | null {
  if (address === undefined) {
    if (text !== undefined) throw new UsageError("--python-queues needs --python HOST:PORT");
    return null;
  }
  try {
    return parsePythonQueues(text ?? "pq=tasks,cq=results");
  } catch (error) {
    throw new UsageError(`Invalid --python-queues: ${(error as Error).message}`);
  }
}

/** Reads `--tls-cert` and `--tls-key` (both or neither). */
async function loadTls(
  certFile: string | undefined,
  keyFile: string | undefined,
): Promise<{ cert: string; key: string } | undefined> {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    throw new UsageError("--tls-cert and --tls-key go together: give both or neither");
  }
  const read = async (file: string, what: string) => {
    try {
      return await readText(file);
    } catch (error) {
      throw new CliFailure(`Cannot read the TLS ${what} "${file}": ${(error as Error).message}`, {
        cause: error,
      });
    }
  };
  return { cert: await read(certFile, "certificate"), key: await read(keyFile, "key") };
}

/**
 * Results larger than this (in characters of their stored text) are not
 * decoded to be printed: decoding and printing a huge BigInt would hold the
 * god's event loop for seconds. Their size is printed instead.
 */
const MAX_PRINTED_RESULT = 4096;

function report(out: Output, job: LocalJob<SquareResult>, quiet: boolean): void {
  if (job.payload.length > MAX_PRINTED_RESULT) {
    const bytes = utf8Length(job.payload);
    out.event(
      "result",
      { id: job.id, bytes, printed: false },
      quiet
        ? null
        : `result ${printable(job.id)}: ${
          formatBytes(bytes)
        }, not printed (the god prints results up to ${MAX_PRINTED_RESULT} characters)`,
    );
    return;
  }
  const v = job.value as Partial<SquareResult>;
  out.event(
    "result",
    typeof v === "object" && v !== null && "square" in v
      ? { n: v.n, square: v.square, by: v.by, task: v.task, id: job.id }
      : { value: job.value, id: job.id },
    quiet ? null : describeResult(v),
  );
}

/**
 * One line per server event. Every field may come from a peer (the name, role
 * and runtime a client claims, the version it speaks, its address), so each is
 * shown through {@link printable}: it cannot forge a line or drive the terminal.
 */
function logServerEvent(out: Output, event: Record<string, unknown>): void {
  const { event: name, ...fields } = event;
  const f = (key: string, max?: number) => printable(fields[key] ?? "", max);
  let human: string | null;
  switch (name) {
    case "connected":
      human = `+ ${f("role")} ${f("name")} (${f("runtime")}) connected from ${f("remote")}`;
      break;
    case "disconnected":
      human = `- ${f("role")} ${f("name")} disconnected`;
      break;
    case "http-listening":
      human = null; // told by the "HTTP API on ..." line
      break;
    case "rejected":
      human = `! refused a connection from ${f("remote")}: ${f("message", 400)}${
        fields.unlogged ? ` (and ${f("unlogged")} more before, not logged)` : ""
      }`;
      break;
    case "rejections":
      human = `! ${f("count")} more connections from ${f("address")} were refused in the last ${
        duration(Number(fields.intervalMs))
      } (${f("codes")}), not logged one by one`;
      break;
    case "refused":
      human = `! ${f("message", 400)}${
        fields.unlogged ? ` (and ${f("unlogged")} more in the last second, not logged)` : ""
      }`;
      break;
    default:
      human = `${printable(name)}: ${describeFields(fields)}`;
  }
  if (fields.role === "god") return; // the god's own in-process consumer
  out.event(String(name), fields, human);
}

/** `key=value ...`, each value shown printable (values may come from peers). */
function describeFields(fields: Record<string, unknown>): string {
  return Object.entries(fields).filter(([k, v]) => k !== "event" && v !== undefined).map(([k, v]) =>
    `${printable(k, 60)}=${printable(typeof v === "object" ? JSON.stringify(v) : String(v), 400)}`
  ).join(" ");
}

await runRole("god", main);
