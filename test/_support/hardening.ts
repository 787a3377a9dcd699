/**
 * Helpers shared by the hardening tests: start {@link hardGod} as a real
 * process, read a process's memory, wait for a condition, talk raw bytes.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import { type Proc, type Runtime, start } from "./process.ts";
import { type God, serve, type ServeOptions } from "../../lib/server/server.ts";
import type { Limits } from "../../lib/protocol/limits.ts";

export const AUTHKEY = "hardening-test-key";

/** A god started from test/_support/hard_god.ts, with its port. */
export interface HardGod {
  proc: Proc;
  port: number;
  pid: number;
  addr: string;
  /** The HTTP face's URL, when started with --http. */
  http?: string;
}

/**
 * Starts test/_support/hard_god.ts on `runtime` and waits until it listens.
 * With `gc`, its V8 exposes `gc()`, so {@link memoryAfterGc} measures what it really holds.
 */
export async function hardGod(
  runtime: Runtime,
  args: string[] = [],
  options: { gc?: boolean } = {},
): Promise<HardGod> {
  const gc: Record<string, string> = options.gc
    ? runtime === "node"
      ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --expose-gc`.trim() }
      : { DENO_V8_FLAGS: "--expose-gc" }
    : {};
  const proc = start(runtime, "test/_support/hard_god.ts", args, {
    env: { TASKWIRE_AUTHKEY: AUTHKEY, ...gc },
  });
  const line = await proc.waitFor(/"event":"listening"/, 30_000);
  const { port, pid, http } = JSON.parse(line) as { port: number; pid: number; http?: string };
  return { proc, port, pid, addr: `127.0.0.1:${port}`, http };
}

/** Events the god printed (its JSON log lines) named `name`. */
export function godEvents(proc: Proc, name: string): Record<string, unknown>[] {
  return proc.lines.filter((l) => l.startsWith("{")).map((l) =>
    JSON.parse(l) as Record<string, unknown>
  )
    .filter((e) => e.event === name);
}

/** Resident memory of a process in bytes (VmRSS from /proc), or NaN where /proc is missing. */
export function rssOf(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Asks a god started with `gc` for its memory after a full collection
 * (SIGUSR2; it prints a `memory` event): RSS, and the V8 heap in use.
 */
export async function memoryAfterGc(god: HardGod): Promise<{ rss: number; heapUsed: number }> {
  const seen = god.proc.lines.length;
  process.kill(god.pid, "SIGUSR2");
  const deadline = Date.now() + 10_000;
  for (;;) {
    const line = god.proc.lines.slice(seen).find((l) => l.includes('"event":"memory"'));
    if (line !== undefined) return JSON.parse(line);
    if (Date.now() > deadline) throw new Error("the god did not report its memory");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Formats bytes as MiB with one decimal. */
export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * Opens a raw socket, writes `bytes` (in pieces if given several), and
 * resolves with everything received until the god closes it or `timeoutMs`.
 */
export function rawExchange(
  port: number,
  chunks: Uint8Array[],
  timeoutMs = 3000,
): Promise<{ received: Uint8Array; closedByGod: boolean }> {
  return new Promise((resolve) => {
    const parts: Uint8Array[] = [];
    let done = false;
    const socket = net.connect({ host: "127.0.0.1", port }, () => {
      for (const chunk of chunks) socket.write(chunk);
    });
    const finish = (closedByGod: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const total = parts.reduce((n, p) => n + p.length, 0);
      const received = new Uint8Array(total);
      let offset = 0;
      for (const p of parts) {
        received.set(p, offset);
        offset += p.length;
      }
      resolve({ received, closedByGod });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on("data", (chunk: Uint8Array) => parts.push(new Uint8Array(chunk)));
    socket.on("error", () => finish(true));
    socket.on("close", () => finish(true));
  });
}

export { until } from "./until.ts";

/** An in-process god on a free loopback port with these limits, collecting its log events. */
export async function limitedGod(
  limits: Partial<Limits>,
  extra: Partial<ServeOptions> = {},
): Promise<{ god: God; addr: string; log: Record<string, unknown>[] }> {
  const log: Record<string, unknown>[] = [];
  const g = await serve({
    listen: "127.0.0.1:0",
    authkey: AUTHKEY,
    limits,
    log: (e) => log.push(e),
    ...extra,
  });
  return { god: g, addr: `127.0.0.1:${g.port}`, log };
}
