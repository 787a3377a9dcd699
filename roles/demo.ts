/**
 * The one-command demo: a god, a producer and two consumers on this machine,
 * on mixed runtimes, with a fresh random key; results print as they arrive.
 * Ctrl-C stops everything cleanly.
 *
 *   npm start                     god and one consumer on Deno, producer and the other consumer on Node
 *   deno task start               the same, all on Deno (roles/demo.ts --deno-only)
 *   npx taskwire demo             installed from npm: the compiled roles, every one on Node
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { generateAuthKey } from "../mod.ts";
import { CliFailure, formatHelp, type OptionSpec, parseArgs, UsageError } from "../lib/cli/args.ts";
import { KEY_ENV, runRole, watchSignals } from "../lib/cli/role.ts";
import { Output } from "../lib/cli/output.ts";
import { runtimeKind, stdoutIsTTY } from "../lib/cli/runtime.ts";

const OPTIONS = {
  "deno-only": { kind: "flag", help: "run every role on Deno (for a machine without Node)" },
  "node-only": { kind: "flag", help: "run every role on Node (for a machine without Deno)" },
  json: { kind: "flag", help: "print the children's output as JSON lines" },
  help: { kind: "flag", help: "show this help" },
} as const satisfies Record<string, OptionSpec>;

const HERE = fileURLToPath(import.meta.url);
/**
 * Whether this is the compiled package (npm's dist/, run by plain node) rather
 * than a checkout: the roles beside it are then .js files, run without tsx.
 */
const COMPILED = HERE.endsWith(".js");
const EXT = COMPILED ? ".js" : ".ts";
const ROOT = path.resolve(path.dirname(HERE), "..");

const HELP = formatHelp(
  "demo.ts [--deno-only | --node-only]",
  "taskwire demo: a god, a producer and two consumers on this machine, on mixed runtimes.",
  OPTIONS,
  COMPILED
    ? `Installed from npm, every role runs on Node. Ctrl-C stops it.`
    : `Run it with "npm start" (Node and Deno) or "deno task start" (Deno only). Ctrl-C stops it.`,
);
/** Deno permissions per role: the god writes (journal), the others only read (key file). */
const DENO_PERMISSIONS = {
  god: ["--allow-net", "--allow-env", "--allow-read", "--allow-write"],
  producer: ["--allow-net", "--allow-env", "--allow-read"],
  consumer: ["--allow-net", "--allow-env", "--allow-read"],
} as const;
type Runtime = "node" | "deno";
type Role = keyof typeof DENO_PERMISSIONS;

interface Child {
  label: string;
  pid: number;
  exited: Promise<number | null>;
  done: boolean;
  signal(signal: "SIGINT" | "SIGKILL"): void;
}

/** The Deno binary: this one when the demo runs on Deno, else the one `npm ci` installed, else PATH's. */
function denoBinary(): string | null {
  if (runtimeKind() === "deno") return process.execPath;
  if (COMPILED) return null; // the package installs no Deno: every role runs on Node
  const local = path.join(
    ROOT,
    "node_modules",
    ".bin",
    process.platform === "win32" ? "deno.cmd" : "deno",
  );
  return existsSync(local) ? local : null;
}

/** `preferred` if it is free on 127.0.0.1, else a free port picked by the system. */
function port(preferred: number): Promise<number> {
  const tryListen = (p: number) =>
    new Promise<number | null>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(null));
      server.listen(p, "127.0.0.1", () => {
        const got = (server.address() as { port: number }).port;
        server.close(() => resolve(got));
      });
    });
  return tryListen(preferred).then((p) => p ?? tryListen(0).then((q) => q!));
}

const COLORS = { god: 35, producer: 36, "consumer 1": 32, "consumer 2": 33 } as const;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs(argv, OPTIONS);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`Unexpected argument "${positionals[0]}"`);
  if (values["deno-only"] && values["node-only"]) {
    throw new UsageError("Give at most one of --deno-only and --node-only");
  }
  const out = new Output({ json: false });
  const stopper = watchSignals(out, "demo");
  const deno = values["node-only"] ? null : denoBinary();
  if (!deno && values["deno-only"]) {
    throw new CliFailure(
      "Cannot run every role on Deno: no Deno binary found (in a checkout, run npm ci or deno task start)",
    );
  }
  if (!deno && !values["node-only"] && !COMPILED) {
    out.say("demo: no Deno binary found (run npm ci to get one); running every role on Node");
  }
  const onNode = runtimeKind() === "node";
  const pick = (wanted: Runtime): Runtime => {
    if (values["deno-only"]) return "deno";
    if (values["node-only"] || !deno) return "node";
    if (wanted === "node" && !onNode) return "deno"; // no Node when the demo itself runs on Deno
    return wanted;
  };

  const authkey = generateAuthKey();
  const godPort = await port(5678);
  const httpPort = await port(5680);
  const withHttp = existsSync(path.join(ROOT, "lib", "http", `serve${EXT}`));
  const addr = `127.0.0.1:${godPort}`;
  const color = stdoutIsTTY() && !process.env.NO_COLOR;
  const children: Child[] = [];

  const launch = (
    label: keyof typeof COLORS,
    role: Role,
    runtime: Runtime,
    args: string[],
  ): Child => {
    const file = path.join(ROOT, "roles", `${role}${EXT}`);
    const node = onNode ? process.execPath : "node";
    const argv = runtime === "deno"
      ? [deno!, "run", ...DENO_PERMISSIONS[role], file, ...args]
      : COMPILED
      ? [node, file, ...args]
      : [node, "--import", "tsx", file, ...args];
    if (values.json) argv.push("--json");
    const proc = spawn(argv[0], argv.slice(1), {
      cwd: ROOT,
      env: { ...process.env, [KEY_ENV]: authkey, TASKWIRE_ADDR: addr },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const name = `${label} (${runtime})`;
    const tag = color
      ? `\x1b[${COLORS[label]}m${name.padEnd(20)}\x1b[0m| `
      : `${name.padEnd(20)}| `;
    const child: Child = {
      label: name,
      pid: proc.pid ?? 0,
      done: false,
      exited: new Promise((resolve) => {
        proc.once("exit", (code) => {
          child.done = true;
          resolve(code);
        });
        proc.once("error", (error) => {
          out.say(`${tag}could not start: ${error.message}`);
          child.done = true;
          resolve(127);
        });
      }),
      signal(signal) {
        if (!child.done && child.pid) {
          try {
            process.kill(child.pid, signal);
          } catch { /* already gone */ }
        }
      },
    };
    // The god prints every result with the consumer's name; consumers' own copies would repeat it.
    const show = (line: string) => {
      if (role === "consumer" && /^-?\d+ \* -?\d+ = \d+$/.test(line)) return;
      out.say(tag + line);
    };
    for (const stream of [proc.stdout, proc.stderr]) {
      let rest = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        const lines = (rest + chunk).split("\n");
        rest = lines.pop()!;
        for (const line of lines) show(line);
      });
      stream.on("end", () => rest && show(rest));
    }
    children.push(child);
    out.say(
      `${tag}started as pid ${child.pid}: ${path.basename(argv[0])} ${
        argv.slice(1).map((a) => path.isAbsolute(a) ? path.relative(ROOT, a) : a).join(" ")
      }`,
    );
    return child;
  };

  out.say(
    `taskwire demo: god, producer and two consumers on this machine, sharing a fresh key.\n` +
      `  key for this run:  ${KEY_ENV}=${authkey}\n` +
      `  add a worker from another terminal:\n` +
      `    ${KEY_ENV}=${authkey} ${
        COMPILED
          ? "npx taskwire consumer"
          : pick("node") === "node"
          ? "npx tsx roles/consumer.ts"
          : `deno run ${DENO_PERMISSIONS.consumer.join(" ")} roles/consumer.ts`
      } --connect ${addr}\n` +
      `  Ctrl-C stops everything.\n`,
  );
  const godArgs = ["--in-memory", "--listen", addr];
  if (withHttp) godArgs.push("--http", `127.0.0.1:${httpPort}`);
  const god = launch("god", "god", pick("deno"), godArgs);
  launch("producer", "producer", pick("node"), []);
  launch("consumer 1", "consumer", pick("deno"), ["--concurrency", "2"]);
  launch("consumer 2", "consumer", pick("node"), ["--concurrency", "2"]);

  // Stop when asked, or when any child ends on its own (something went wrong).
  const firstExit = Promise.race(
    children.map((c) => c.exited.then((code) => ({ child: c, code }))),
  );
  const why = await Promise.race([stopper.stopped.then(() => null), firstExit]);
  if (why !== null) {
    out.say(`demo: ${why.child.label} exited with code ${why.code}; stopping the others`);
  }
  // Producer and consumers first (they drain), the god last.
  const workers = children.filter((c) => c !== god);
  await Promise.all(workers.map((c) => stop(c)));
  await stop(god);
  out.say("demo: stopped");
  return why === null ? 0 : 1;
}

/** SIGINT by PID, then SIGKILL if it has not exited after 15 s. */
async function stop(child: Child): Promise<void> {
  child.signal("SIGINT");
  const timer = setTimeout(() => child.signal("SIGKILL"), 15_000);
  await child.exited;
  clearTimeout(timer);
}

await runRole("demo", main);
