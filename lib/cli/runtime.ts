/**
 * The one place the command-line helpers touch the runtime: standard streams,
 * environment, files, signals and exit. `node:process` and `node:fs` behave the
 * same on Node and Deno, so this file has no per-runtime branches.
 */
import process from "node:process";
import { readFile } from "node:fs/promises";

/** Writes text to standard output (no newline added). */
export function writeOut(text: string): void {
  process.stdout.write(text);
}

/** Writes text to standard error (no newline added). */
export function writeErr(text: string): void {
  process.stderr.write(text);
}

/** Whether standard output is a terminal (progress lines are drawn only then). */
export function stdoutIsTTY(): boolean {
  return process.stdout.isTTY === true && !env("TASKWIRE_NO_TTY");
}

/** The width of the terminal, or 80. */
export function terminalColumns(): number {
  return process.stdout.columns || 80;
}

/**
 * Reads an environment variable; undefined when unset or empty, and also when
 * Deno was not allowed to read it: a role reads only the variables it needs,
 * and runs with `--allow-env` narrowed to those (see {@link missingPermission}
 * for the one it cannot do without, the key).
 */
export function env(name: string): string | undefined {
  let value: string | undefined;
  try {
    value = process.env[name];
  } catch (error) {
    if (missingPermission(error) !== null) return undefined;
    throw error;
  }
  return value === undefined || value === "" ? undefined : value;
}

/** Whether Deno may read environment variable `name` (always true on Node). */
export function envAllowed(name: string): boolean {
  try {
    void process.env[name];
    return true;
  } catch (error) {
    if (missingPermission(error) !== null) return false;
    throw error;
  }
}

/**
 * The Deno permission flag a failure asks for, narrowed to what was refused
 * ("--allow-net=127.0.0.1:5678", "--allow-read=/etc/taskwire.key"), looking
 * through its causes; null when the failure is not a refused permission.
 */
export function missingPermission(error: unknown): string | null {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e.name !== "NotCapable" && e.name !== "PermissionDenied") continue;
    const asked = /Requires (\w+) access to "([^"]*)"/.exec(e.message);
    if (asked === null) return "the permission it names";
    // "all" access is what Deno asks for kernel filesystems (/proc, /sys, /dev) even with
    // --allow-read/--allow-write: no flag to suggest (only --allow-all); the failure says what is wrong.
    if (asked[1] === "all") return null;
    // A Unix socket is the data directory's lock, named afresh at every start:
    // no narrower --allow-net=unix:PATH would hold the next time.
    if (asked[1] === "net" && asked[2].startsWith("unix:")) return "--allow-net";
    return `--allow-${asked[1]}=${asked[2]}`;
  }
  return null;
}

/** The command-line arguments after the script. */
export function args(): string[] {
  return process.argv.slice(2);
}

/**
 * Whether this process was started as the `taskwire` command (npm's bin, or
 * roles/taskwire.ts) rather than a role's own file: help then reads
 * `taskwire god [options]` instead of `god.ts [options]`.
 */
export function startedAsCommand(): boolean {
  return /(^|[\\/])taskwire(\.[cm]?[jt]s)?$/.test(process.argv[1] ?? "");
}

/** Reads a whole text file. */
export function readText(path: string): Promise<string> {
  return readFile(path, "utf8");
}

/** Calls `handler` with the signal's name on SIGINT and SIGTERM. */
export function onSignals(handler: (signal: "SIGINT" | "SIGTERM") => void): void {
  process.on("SIGINT", () => handler("SIGINT"));
  process.on("SIGTERM", () => handler("SIGTERM"));
}

/** Ends the process once standard output and error are flushed. */
export function exit(code: number): void {
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write("", done);
  process.stderr.write("", done);
  setTimeout(() => process.exit(code), 1000).unref?.();
}

/** Which runtime runs this process: "node" or "deno". */
export function runtimeKind(): "node" | "deno" {
  return (globalThis as { Deno?: unknown }).Deno ? "deno" : "node";
}
