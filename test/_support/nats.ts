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

  /** Waits until the server accepts clients (rejects at once if it exits first). */
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

/**
 * Runs `attempt` (which starts servers on ports from {@link freePort}, and
 * stops them and throws if they do not come up) up to three times. Between
 * freePort's probe closing and a server binding the port, any outgoing
 * connection on the machine may take that port as its source (a cluster's
 * own route dials among them), and nats-server then exits with "address
 * already in use": a CI run once lost a cluster that way.
 */
async function onFreshPorts<T>(attempt: () => Promise<T>): Promise<T> {
  for (let tries = 1;; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (tries === 3 || !/address already in use/.test(String(error))) throw error;
      console.warn(
        `NOTICE: a nats-server lost its port to another socket; starting again on new ports`,
      );
    }
  }
}

/** The flags of one JetStream server named `name`, on loopback `port`, storing in `dir`. */
function serverArgs(name: string, port: number, dir: string): string[] {
  return ["-js", "-sd", dir, "-a", "127.0.0.1", "-p", String(port), "-n", name];
}

/** Starts one JetStream server on a free loopback port (`extraArgs`: more nats-server flags, e.g. a user). */
export function startNats(
  extraArgs: string[] = [],
): Promise<{ node: NatsNode; close(): Promise<void> }> {
  return onFreshPorts(async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "taskwire-nats-"));
    const port = await freePort();
    const node = new NatsNode("n1", port, 0, dir, [...serverArgs("n1", port, dir), ...extraArgs]);
    const close = async () => {
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    };
    await node.ready().catch(async (error) => {
      await close();
      throw error;
    });
    return { node, close };
  });
}

/** Starts a JetStream cluster of `size` servers with routes on loopback. */
export function startNatsCluster(
  size = 3,
): Promise<{ nodes: NatsNode[]; urls: string; close(): Promise<void> }> {
  return onFreshPorts(async () => {
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
        ...serverArgs(`n${i + 1}`, port, dir),
        "--cluster_name",
        "taskwire-test",
        "--cluster",
        `nats://127.0.0.1:${clusterPorts[i]}`,
        "--routes",
        routes,
      ]);
    });
    const close = async () => {
      await Promise.all(nodes.map((n) => n.stop()));
      rmSync(root, { recursive: true, force: true });
    };
    // JetStream answers only once the nodes have elected a metadata leader.
    await Promise.all(nodes.map(async (n) => {
      await n.ready();
      await n.proc.waitFor(/metadata leader/, 20_000);
    })).catch(async (error) => {
      await close();
      throw error;
    });
    return { nodes, urls: nodes.map((n) => n.url).join(","), close };
  });
}
