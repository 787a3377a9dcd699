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
  return process.stdout.isTTY === true && !process.env.TASKWIRE_NO_TTY;
}

/** The width of the terminal, or 80. */
export function terminalColumns(): number {
  return process.stdout.columns || 80;
}

/** Reads an environment variable; undefined when unset or empty. */
export function env(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === "" ? undefined : value;
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
