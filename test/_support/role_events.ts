/** Reading what the roles print with `--json`: one event per line. */
import type { Proc } from "./process.ts";

/** The events named `name` among a role's `--json` lines (of a process, or lines). */
export function events(from: Proc | readonly string[], name: string): Record<string, unknown>[] {
  const lines = Array.isArray(from) ? from : (from as Proc).lines;
  return lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
    .filter((e) => e.event === name);
}

/** One result the god printed: the task's n, its square, who computed it, the task's id. */
export interface Result {
  n: bigint;
  square: bigint;
  by: string;
  task: string;
}

/** The results a god role printed (with `--json`). */
export function results(god: Proc | readonly string[]): Result[] {
  return events(god, "result").map((e) => ({
    n: BigInt(e.n as string),
    square: BigInt(e.square as string),
    by: e.by as string,
    task: e.task as string,
  }));
}
