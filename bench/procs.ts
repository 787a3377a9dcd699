/**
 * Starting and stopping the benchmark's processes. Every process is stopped
 * by PID (SIGTERM, then SIGKILL after a grace period), together with any
 * descendants it left behind, and every wait is bounded in time.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { processTree } from "./measure.ts";

/** The repository root. */
export const ROOT: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** The runtimes a taskwire process can run on. */
export type Runtime = "node" | "deno";

const isDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;
/** The Node binary (when the harness itself runs on Deno, the one on PATH). */
export const NODE: string = isDeno ? "node" : process.execPath;
/** The Deno binary the `deno` npm package installed. */
export const DENO: string = path.join(ROOT, "node_modules", ".bin", "deno");
/** Deno permissions the roles and drivers need (no -A). */
export const DENO_PERMISSIONS = [
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-write",
] as const;

/** Where `nats-server` is ($NATS_SERVER, the usual places, then PATH), or null when it is not installed. */
export function natsServerPath(): string | null {
  return programPath("nats-server", "NATS_SERVER");
}

/**
 * Where program `name` is: the path in environment variable `envVar` if set,
 * then /usr/sbin, /usr/bin, /usr/local/bin (Debian puts servers in sbin, which
 * a user's PATH may lack), then PATH; null when it is not installed.
 */
export function programPath(name: string, envVar: string): string | null {
  const candidates = [
    process.env[envVar],
    `/usr/sbin/${name}`,
    `/usr/bin/${name}`,
    `/usr/local/bin/${name}`,
    ...(process.env.PATH ?? "").split(":").filter(Boolean).map((dir) => path.join(dir, name)),
  ];
  return candidates.find((p) => p !== undefined && p !== "" && existsSync(p)) ?? null;
}

/** The command line that runs `file` (relative to the repository) on `runtime`. */
export function command(
  runtime: Runtime,
  file: string,
  args: readonly string[] = [],
  options: { nodeFlags?: readonly string[] } = {},
): string[] {
  return runtime === "node"
    ? [NODE, ...(options.nodeFlags ?? []), "--import", "tsx", path.join(ROOT, file), ...args]
    : [DENO, "run", ...DENO_PERMISSIONS, path.join(ROOT, file), ...args];
}

/** A started process whose output is collected line by line (a bounded tail is kept). */
export class Proc {
  readonly label: string;
  readonly child: ChildProcess;
  readonly argv: readonly string[];
  /** The last lines of stdout and stderr, for error messages. */
  readonly tail: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  #exit: { code: number | null; signal: string | null } | null = null;
  #listeners: ((line: string) => void)[] = [];

  constructor(
    label: string,
    argv: readonly string[],
    options: { env?: Record<string, string>; discardStdout?: boolean },
  ) {
    this.label = label;
    this.argv = argv;
    this.child = spawn(argv[0], argv.slice(1), {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: "1", ...options.env },
      stdio: ["pipe", options.discardStdout ? "ignore" : "pipe", "pipe"],
    });
    this.child.on("error", (error) => this.#line(`[spawn error] ${error.message}`));
    this.child.stdin?.on("error", () => {});
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
      this.child.once("error", () => {
        this.#exit ??= { code: -1, signal: null };
        resolve(this.#exit);
      });
    });
    if (this.child.stdout) this.#collect(this.child.stdout);
    this.#collect(this.child.stderr!);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Whether the process has exited. */
  get done(): boolean {
    return this.#exit !== null;
  }

  /** Calls `listener` with every later line of output (stdout and stderr). */
  onLine(listener: (line: string) => void): void {
    this.#listeners.push(listener);
  }

  /** Resolves with the first later line matching `pattern`; rejects on timeout or exit. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string> {
    const seen = this.tail.find((line) => pattern.test(line));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const finish = (error: Error | null, line = "") => {
        clearTimeout(timer);
        this.#listeners = this.#listeners.filter((l) => l !== listener);
        if (error) reject(error);
        else resolve(line);
      };
      const listener = (line: string) => {
        if (pattern.test(line)) finish(null, line);
      };
      const timer = setTimeout(
        () => finish(new Error(`${this.label}: no line matching ${pattern} in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#listeners.push(listener);
      this.exited.then(({ code, signal }) =>
        finish(
          new Error(
            `${this.label} exited (code ${code}, signal ${signal}) before printing ${pattern}:\n${
              this.tail.slice(-15).join("\n")
            }`,
          ),
        )
      );
    });
  }

  /** Sends `signal` to the process by PID if it still runs. */
  signal(signal: "SIGTERM" | "SIGKILL" | "SIGINT"): void {
    if (this.#exit !== null || this.pid < 0) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // already gone
    }
  }

  /**
   * Stops the process: SIGTERM, SIGKILL after `graceMs`, then any descendant
   * still alive is killed by its PID. Resolves once it has exited.
   */
  async stop(graceMs = 5000): Promise<{ code: number | null; signal: string | null }> {
    const descendants = this.pid > 0 ? processTree(this.pid).slice(1) : [];
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    const result = await this.exited;
    clearTimeout(timer);
    await killStragglers(descendants, graceMs);
    return result;
  }

  /** Waits up to `timeoutMs` for the process to exit by itself, then stops it. */
  async wait(timeoutMs: number): Promise<{ code: number | null; signal: string | null }> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const result = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    return result === "timeout" ? await this.stop(1000) : result;
  }

  #collect(stream: NodeJS.ReadableStream): void {
    let rest = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      if (rest.length > 1 << 20) rest = rest.slice(-4096);
      for (const line of parts) this.#line(line);
    });
    stream.on("end", () => {
      if (rest) this.#line(rest);
    });
  }

  #line(line: string): void {
    this.tail.push(line);
    if (this.tail.length > 200) this.tail.splice(0, this.tail.length - 100);
    for (const listener of [...this.#listeners]) listener(line);
  }
}

/** SIGTERMs every pid in `pids` that is still alive, SIGKILLs after `graceMs`. */
export async function killStragglers(pids: readonly number[], graceMs = 2000): Promise<void> {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  let left = pids.filter(alive);
  for (const pid of left) {
    try {
      process.kill(pid, "SIGTERM");
    } catch { /* gone */ }
  }
  const deadline = Date.now() + graceMs;
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50);
    left = left.filter(alive);
  }
  for (const pid of left) {
    try {
      process.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A free TCP port on 127.0.0.1 (bind to 0, read it, release it). */
export async function freePort(): Promise<number> {
  const net = await import("node:net");
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}
