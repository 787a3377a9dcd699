/**
 * Starting real processes of the roles on either runtime, for end-to-end
 * tests. Processes are stopped by PID (never by name) and every wait is bounded.
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export type Runtime = "node" | "deno";
export const RUNTIMES: readonly Runtime[] = ["node", "deno"];

/** The Deno binary the `deno` npm package installed. */
export const DENO: string = path.join(ROOT, "node_modules", ".bin", "deno");
/** The Node binary: when tests run on Deno, `process.execPath` is Deno, so find node on PATH. */
export const NODE: string = (globalThis as { Deno?: unknown }).Deno ? "node" : process.execPath;
/** The runtime running this test file. */
export const CURRENT: Runtime = (globalThis as { Deno?: unknown }).Deno ? "deno" : "node";

/** Deno permissions the roles need (no -A). */
export const DENO_PERMISSIONS = ["--allow-net", "--allow-env", "--allow-read", "--allow-write"];

/** The command line that runs `file` (relative to the repository) on `runtime`. */
export function command(runtime: Runtime, file: string, args: readonly string[] = []): string[] {
  return runtime === "node"
    ? [NODE, "--import", "tsx", path.join(ROOT, file), ...args]
    : [DENO, "run", ...DENO_PERMISSIONS, path.join(ROOT, file), ...args];
}

/** A running child process whose output is collected line by line. */
export class Proc {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly errLines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  #waiters: { test: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  /** Both output streams ended (their last, unterminated lines collected). */
  readonly #drained: Promise<unknown>;

  readonly #group: boolean;

  /**
   * Starts `argv`. With `group`, the child leads a process group of its own
   * and signals go to the whole group (by its PID): a shell, the `npx` it
   * runs and the role `npx` starts stop together, as from a terminal.
   */
  constructor(
    argv: string[],
    options: { env?: Record<string, string>; cwd?: string; group?: boolean } = {},
  ) {
    this.#group = options.group ?? false;
    this.child = spawn(argv[0], argv.slice(1), {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, NO_COLOR: "1", ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
      detached: this.#group,
    });
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => resolve({ code, signal }));
    });
    this.#drained = Promise.all([
      this.#collect(this.child.stdout!, this.lines),
      this.#collect(this.child.stderr!, this.errLines),
    ]);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** All output so far, stdout then stderr. */
  get output(): string {
    return [...this.lines, ...this.errLines].join("\n");
  }

  /**
   * Resolves with the first line (stdout or stderr) matching `pattern`;
   * rejects after `timeoutMs`, or as soon as the process has exited without
   * printing it (a server that died at start fails its test at once, with
   * its last words, instead of after the whole timeout).
   */
  waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<string> {
    const found = [...this.lines, ...this.errLines].find((l) => pattern.test(l));
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const settle = (done: () => void) => {
        if (!this.#waiters.includes(waiter)) return;
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        clearTimeout(timer);
        done();
      };
      const fail = (why: string) =>
        settle(() =>
          reject(
            new Error(`${why} a line matching ${pattern}; output:\n${this.output.slice(-3000)}`),
          )
        );
      const waiter = {
        test: (l: string) => pattern.test(l),
        resolve: (l: string) => settle(() => resolve(l)),
      };
      const timer = setTimeout(() => fail(`no line within ${timeoutMs} ms:`), timeoutMs);
      this.#waiters.push(waiter);
      this.#settled().then(({ code, signal }) =>
        fail(`exited (${signal ?? `code ${code}`}) without printing`)
      );
    });
  }

  /** Sends a signal by PID (to the process group it leads, when started with `group`). */
  signal(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      try {
        process.kill(this.#group ? -this.pid : this.pid, signal);
      } catch {
        // Gone meanwhile.
      }
    }
  }

  /** Stops the process (SIGTERM, then SIGKILL after `graceMs`) and waits for it. */
  async stop(graceMs = 5000): Promise<{ code: number | null; signal: string | null }> {
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }

  /**
   * Waits for exit at most `timeoutMs`, then kills. "exit" can come before
   * the last output is read: the streams get a moment to end (not forever, as
   * a grandchild may hold them open).
   */
  async wait(timeoutMs = 30_000): Promise<{ code: number | null; signal: string | null }> {
    const timer = setTimeout(() => this.signal("SIGKILL"), timeoutMs);
    const result = await this.#settled();
    clearTimeout(timer);
    return result;
  }

  /** Exit, and then the output streams ended or a second passed (a grandchild may hold them open). */
  async #settled(): Promise<{ code: number | null; signal: string | null }> {
    const result = await this.exited;
    let grace: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#drained,
      new Promise((resolve) => grace = setTimeout(resolve, 1000)),
    ]);
    clearTimeout(grace);
    return result;
  }

  /** Collects `stream` line by line; resolves when it ends. */
  #collect(stream: NodeJS.ReadableStream, into: string[]): Promise<void> {
    let rest = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const line of parts) this.#line(line, into);
    });
    return new Promise((resolve) => {
      stream.on("end", () => {
        if (rest) this.#line(rest, into);
        resolve();
      });
      stream.on("close", resolve);
    });
  }

  #line(line: string, into: string[]): void {
    into.push(line);
    for (const w of [...this.#waiters]) {
      if (w.test(line)) w.resolve(line); // which also takes the waiter off the list
    }
  }
}

/** Starts `file` on `runtime`. */
export function start(
  runtime: Runtime,
  file: string,
  args: readonly string[] = [],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Proc {
  return new Proc(command(runtime, file, args), options);
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
