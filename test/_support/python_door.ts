/**
 * Helpers for tests of the Python door with real Python processes: which
 * interpreters are present, a god with its door in this process, and the
 * scripts under test/_support/python/.
 */
import { existsSync, readdirSync } from "node:fs";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { type God, serve } from "../../lib/server/server.ts";
import { pythonGod } from "../../lib/python/ops_adapter.ts";
import { type PythonDoor, type PythonDoorOptions, servePython } from "../../lib/python/server.ts";
import type { QueueOptions } from "../../lib/queue/types.ts";
import { Proc, ROOT } from "./process.ts";

export const SCRIPTS: string = path.join(ROOT, "test", "_support", "python");

/** The version of `python` ("3.11.7"), or null when it does not run. */
export function pythonVersion(python: string): string | null {
  try {
    return execFileSync(python, ["-c", "import sys; print(sys.version.split()[0])"], {
      encoding: "utf8",
      timeout: 20_000,
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    return null;
  }
}

/** The machine's python3, if it runs. */
export const PYTHON3: { path: string; version: string } | null = (() => {
  const version = pythonVersion("python3");
  return version === null ? null : { path: "python3", version };
})();

/** The interpreters the tests try besides python3 (used when present, never required). */
export const WANTED = ["3.6", "3.7", "3.8", "3.9", "3.10", "3.12", "3.13"] as const;

/** Present pyenv interpreters by minor version, and why the others were skipped. */
export function otherInterpreters(): {
  found: { minor: string; path: string; version: string }[];
  skipped: string[];
} {
  const root = "/root/.pyenv/versions";
  const dirs = existsSync(root) ? readdirSync(root) : [];
  const found: { minor: string; path: string; version: string }[] = [];
  const skipped: string[] = [];
  for (const minor of WANTED) {
    const dir = dirs.filter((d) => d === minor || d.startsWith(minor + ".")).sort().pop();
    if (dir === undefined) {
      skipped.push(`${minor} (not installed under ${root})`);
      continue;
    }
    const bin = path.join(root, dir, "bin", "python3");
    const version = pythonVersion(bin);
    if (version === null) skipped.push(`${minor} (${bin} does not run)`);
    else found.push({ minor, path: bin, version });
  }
  return { found, skipped };
}

/** A god and its Python door in this process. */
export interface LocalDoor {
  god: God;
  door: PythonDoor;
  /** Python workers among the god's clients now. */
  pythonClients(): number;
  authkey: string;
  events: Record<string, unknown>[];
  close(): Promise<void>;
}

export async function localDoor(
  options: {
    queues?: Record<string, Partial<QueueOptions>>;
    door?: Partial<PythonDoorOptions>;
  } = {},
): Promise<LocalDoor> {
  const authkey = "door-test-" + Math.random().toString(36).slice(2);
  const god = await serve({
    listen: "127.0.0.1:0",
    authkey,
    queues: options.queues ?? { tasks: {}, results: {}, bounded: { maxsize: 2 } },
    // The door counts connections with the god's counters: the same limits for both.
    limits: options.door?.limits,
  });
  const events: Record<string, unknown>[] = [];
  const door = await servePython(pythonGod(god.ops), {
    admission: god.admission,
    listen: "127.0.0.1:0",
    authkey,
    queues: { pq: "tasks", cq: "results", bq: "bounded" },
    log: (event) => events.push(event),
    ...options.door,
  });
  return {
    god,
    door,
    pythonClients: () => god.stats().connections.filter((c) => c.transport === "python").length,
    authkey,
    events,
    async close() {
      await door.close();
      await god.close();
    },
  };
}

/** Starts a script of test/_support/python with `python` (default python3). */
export function startPython(
  script: string,
  args: string[],
  options: { authkey: string; python?: string },
): Proc {
  return new Proc([options.python ?? "python3", "-u", path.join(SCRIPTS, script), ...args], {
    env: { TASKWIRE_AUTHKEY: options.authkey, PYTHONDONTWRITEBYTECODE: "1" },
  });
}

/** The JSON lines named `name` a process printed. */
export function jsonEvents(proc: Proc, name: string): Record<string, unknown>[] {
  return proc.lines.filter((l) => l.startsWith("{")).map((l) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      return {};
    }
  }).filter((e) => e.event === name);
}

/** Waits (bounded) until `check` holds, polling every 20 ms. */
export async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
