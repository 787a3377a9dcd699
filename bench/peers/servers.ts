/**
 * Starting the peers' servers for one run: each on 127.0.0.1 on a free port,
 * its data in the run's temporary directory, in memory or in its
 * fsync-each-write mode, as bench/README.md ("How each peer is configured")
 * documents. Every process is spawned through the run, so the run samples it
 * and stops it by PID.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import process from "node:process";
import { freePort, natsServerPath, type Proc, programPath, sleep } from "../procs.ts";
import type { ServerKind } from "./systems.ts";

/** What a server needs from the run that starts it (bench/runners.ts `Run`). */
export interface ServerHost {
  spawn(label: string, argv: string[], options?: { env?: Record<string, string> }): Proc;
  watch(...labels: string[]): void;
  tempDir(): string;
  guard<T>(promise: Promise<T>): Promise<T>;
}

/** The programs a server needs, or null when one is not installed. */
function programs(kind: ServerKind): string[] | null {
  switch (kind) {
    case "beanstalkd":
      return found(programPath("beanstalkd", "BEANSTALKD"));
    case "redis":
      return found(programPath("redis-server", "REDIS_SERVER"));
    case "nats":
      return found(natsServerPath());
    case "rabbitmq": {
      // Debian's /usr/sbin/rabbitmq-server switches to the rabbitmq user and its
      // /var/lib directory; the script it wraps runs as the caller, where we say.
      const server = [process.env.RABBITMQ_SERVER, "/usr/lib/rabbitmq/bin/rabbitmq-server"]
        .find((p) => p !== undefined && p !== "" && existsSync(p));
      const epmd = programPath("epmd", "EPMD");
      return server && epmd ? [server, epmd] : null;
    }
  }
}

function found(program: string | null): string[] | null {
  return program === null ? null : [program];
}

/** The Debian package that brings each server. */
export const SERVER_PACKAGE: Record<ServerKind, string> = {
  beanstalkd: "beanstalkd",
  redis: "redis-server",
  nats: "nats-server",
  rabbitmq: "rabbitmq-server",
};

/** Whether `kind`'s server is installed. */
export function serverInstalled(kind: ServerKind): boolean {
  return programs(kind) !== null;
}

/** The server's version, for the report's header ("" when unknown). */
export function serverVersion(kind: ServerKind): string {
  const program = programs(kind)?.[0];
  if (!program) return "";
  if (kind === "rabbitmq") {
    // rabbitmqctl needs a running node; the release directory names the version.
    const lib = path.resolve(path.dirname(program), "..", "lib");
    const release = existsSync(lib) ? readdirSync(lib).find((d) => d.startsWith("rabbitmq_")) : "";
    return release ? `RabbitMQ ${release.replace(/^rabbitmq_server-/, "")}` : "RabbitMQ";
  }
  const flag = kind === "beanstalkd" ? "-v" : "--version";
  const r = spawnSync(program, [flag], { encoding: "utf8", timeout: 10_000 });
  const version = /\d+\.\d+(\.\d+)?/.exec(`${r.stdout ?? ""}${r.stderr ?? ""}`)?.[0] ?? "?";
  return `${path.basename(program)} ${version}`;
}

/**
 * Why `kind` has no fsync-each-write mode here, or null when it has one.
 * nats-server fsyncs each JetStream write only with `sync_interval: always`,
 * which arrived in 2.10 (Debian 12 ships 2.9): probed with `-t` (check the
 * configuration and exit).
 */
export function durableUnsupported(kind: ServerKind, scratchDir: string): string | null {
  if (kind !== "nats") return null;
  const program = programs("nats")?.[0];
  if (!program) return null;
  const conf = path.join(scratchDir, "probe.conf");
  writeFileSync(conf, natsConfig(4222, path.join(scratchDir, "js"), true));
  const r = spawnSync(program, ["-t", "-c", conf], { encoding: "utf8", timeout: 10_000 });
  if (r.status === 0) return null;
  return `${serverVersion("nats")} has no JetStream "sync_interval: always" (it came in ` +
    `nats-server 2.10), so JetStream cannot fsync each write here`;
}

function natsConfig(port: number, storeDir: string, durable: boolean): string {
  return [
    `listen: 127.0.0.1:${port}`,
    `server_name: bench`,
    // Memory streams need JetStream on too; the store dir then stays empty.
    `jetstream {`,
    `  store_dir: ${JSON.stringify(storeDir)}`,
    ...(durable ? [`  sync_interval: always`] : []),
    `}`,
    "",
  ].join("\n");
}

/**
 * Starts `kind` (label "server", and "epmd" for RabbitMQ) and resolves with
 * the URL its clients connect to, once it accepts them.
 */
export async function startServer(
  host: ServerHost,
  kind: ServerKind,
  durable: boolean,
): Promise<string> {
  const found = programs(kind);
  if (found === null) throw new Error(`${SERVER_PACKAGE[kind]} is not installed`);
  const [program] = found;
  const port = await freePort();
  const dir = host.tempDir();
  switch (kind) {
    case "beanstalkd": {
      // -b: the binlog in dir; -f0: fsync after every write (default: at most every 50 ms).
      host.spawn("server", [
        program,
        "-l",
        "127.0.0.1",
        "-p",
        String(port),
        ...(durable ? ["-b", dir, "-f", "0"] : []),
      ]);
      host.watch("server");
      await host.guard(waitForPort(port, 30_000));
      return `beanstalk://127.0.0.1:${port}`;
    }
    case "redis": {
      // No config file: Redis's defaults, but no RDB snapshots; the AOF, fsynced
      // before each reply (group commit per event-loop turn), in the fsync mode.
      const server = host.spawn("server", [
        program,
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--save",
        "",
        "--appendonly",
        durable ? "yes" : "no",
        ...(durable ? ["--appendfsync", "always"] : []),
      ]);
      host.watch("server");
      await host.guard(server.waitFor(/Ready to accept connections/, 30_000));
      return `redis://127.0.0.1:${port}`;
    }
    case "nats": {
      const conf = path.join(dir, "nats.conf");
      writeFileSync(conf, natsConfig(port, path.join(dir, "js"), durable));
      const server = host.spawn("server", [program, "-c", conf]);
      host.watch("server");
      await host.guard(server.waitFor(/Server is ready/, 30_000));
      return `nats://127.0.0.1:${port}`;
    }
    case "rabbitmq":
      return await startRabbitMq(host, found, port, dir);
  }
}

/**
 * RabbitMQ on its own Erlang port mapper (epmd on a free port, in the
 * foreground, so it is ours to stop), named after its port, with its node
 * database, logs, cookie (HOME) and configuration in `dir` and no plugins.
 */
async function startRabbitMq(
  host: ServerHost,
  [server, epmd]: string[],
  port: number,
  dir: string,
): Promise<string> {
  const epmdPort = await freePort();
  const distPort = await freePort();
  host.spawn("epmd", [epmd, "-port", String(epmdPort)]);
  host.watch("epmd");
  await host.guard(waitForPort(epmdPort, 10_000));
  writeFileSync(path.join(dir, "enabled_plugins"), "[].\n");
  writeFileSync(path.join(dir, "rabbitmq.conf"), `listeners.tcp.default = 127.0.0.1:${port}\n`);
  writeFileSync(path.join(dir, "rabbitmq-env.conf"), "");
  const proc = host.spawn("server", [server], {
    env: {
      HOME: dir,
      RABBITMQ_CONF_ENV_FILE: path.join(dir, "rabbitmq-env.conf"),
      RABBITMQ_CONFIG_FILE: path.join(dir, "rabbitmq.conf"),
      RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, "enabled_plugins"),
      RABBITMQ_NODENAME: `bench${port}@localhost`,
      RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
      RABBITMQ_NODE_PORT: String(port),
      RABBITMQ_DIST_PORT: String(distPort),
      RABBITMQ_MNESIA_BASE: path.join(dir, "mnesia"),
      RABBITMQ_LOG_BASE: path.join(dir, "log"),
      RABBITMQ_LOGS: "-",
      ERL_EPMD_PORT: String(epmdPort),
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-start_epmd false",
    },
  });
  host.watch("server");
  await host.guard(proc.waitFor(/Server startup complete/, 120_000));
  return `amqp://guest:guest@127.0.0.1:${port}`;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: "127.0.0.1", port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) {
      throw new Error(`nothing accepted connections on 127.0.0.1:${port} within ${timeoutMs} ms`);
    }
    await sleep(20);
  }
}
