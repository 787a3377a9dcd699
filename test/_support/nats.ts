/**
 * Real `nats-server` processes with JetStream for tests: one server or a
 * cluster on loopback, each with its own temporary store directory, stopped by
 * PID. When nats-server is not installed, {@link natsServerPath} is null and
 * tests skip with a visible notice.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort, Proc } from "./process.ts";

/** Where nats-server is, or null when it is not installed. */
export const natsServerPath: string | null = (() => {
  const candidates = [
    process.env.NATS_SERVER,
    "/usr/sbin/nats-server",
    "/usr/bin/nats-server",
    "/usr/local/bin/nats-server",
    ...(process.env.PATH ?? "").split(":").map((dir) => path.join(dir, "nats-server")),
  ];
  return candidates.find((p) => p !== undefined && p !== "" && existsSync(p)) ?? null;
})();

/** The reason to skip NATS tests, printed once, or false when nats-server is there. */
export function natsSkip(): string | false {
  if (natsServerPath !== null) return false;
  const reason =
    "nats-server is not installed (apt-get install nats-server): JetStream tests skipped";
  console.warn(`NOTICE: ${reason}`);
  return reason;
}

/** One running nats-server. */
export class NatsNode {
  readonly port: number;
  readonly clusterPort: number;
  readonly dir: string;
  readonly name: string;
  #args: string[];
  proc: Proc;

  constructor(name: string, port: number, clusterPort: number, dir: string, args: string[]) {
    this.name = name;
    this.port = port;
    this.clusterPort = clusterPort;
    this.dir = dir;
    this.#args = args;
    this.proc = new Proc([natsServerPath!, ...args]);
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Waits until the server accepts clients (and, in a cluster, JetStream is up). */
  async ready(timeoutMs = 15_000): Promise<void> {
    await this.proc.waitFor(/Server is ready/, timeoutMs);
  }

  /** Starts the same server again (same port, same store) after a stop or kill. */
  restart(): void {
    this.proc = new Proc([natsServerPath!, ...this.#args]);
  }

  kill(): Promise<unknown> {
    this.proc.signal("SIGKILL");
    return this.proc.exited;
  }

  stop(): Promise<unknown> {
    return this.proc.stop(3_000);
  }
}

/** Starts one JetStream server on a free loopback port (`extraArgs`: more nats-server flags, e.g. a user). */
export async function startNats(
  extraArgs: string[] = [],
): Promise<{ node: NatsNode; close(): Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "taskwire-nats-"));
  const port = await freePort();
  const node = new NatsNode("n1", port, 0, dir, [
    "-js",
    "-sd",
    dir,
    "-a",
    "127.0.0.1",
    "-p",
    String(port),
    "-n",
    "n1",
    ...extraArgs,
  ]);
  await node.ready();
  return {
    node,
    async close() {
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts a JetStream cluster of `size` servers with routes on loopback. */
export async function startNatsCluster(
  size = 3,
): Promise<{ nodes: NatsNode[]; urls: string; close(): Promise<void> }> {
  const root = mkdtempSync(path.join(os.tmpdir(), "taskwire-natsc-"));
  const ports: number[] = [];
  const clusterPorts: number[] = [];
  for (let i = 0; i < size; i++) {
    ports.push(await freePort());
    clusterPorts.push(await freePort());
  }
  const routes = clusterPorts.map((p) => `nats-route://127.0.0.1:${p}`).join(",");
  const nodes = ports.map((port, i) => {
    const dir = path.join(root, `n${i + 1}`);
    return new NatsNode(`n${i + 1}`, port, clusterPorts[i], dir, [
      "-js",
      "-sd",
      dir,
      "-a",
      "127.0.0.1",
      "-p",
      String(port),
      "-n",
      `n${i + 1}`,
      "--cluster_name",
      "taskwire-test",
      "--cluster",
      `nats://127.0.0.1:${clusterPorts[i]}`,
      "--routes",
      routes,
    ]);
  });
  await Promise.all(nodes.map((n) => n.ready()));
  // JetStream answers only once the nodes have elected a metadata leader.
  await Promise.all(nodes.map((n) => n.proc.waitFor(/metadata leader/, 20_000)));
  return {
    nodes,
    urls: nodes.map((n) => n.url).join(","),
    async close() {
      await Promise.all(nodes.map((n) => n.stop()));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
