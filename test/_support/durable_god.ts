/**
 * Fixture for test/crash_test.ts: a god with the durable journal, run as a
 * real process on Node or Deno, so tests can kill it with SIGKILL.
 *
 * Usage: durable_god.ts DIR [--fsync always|batch|off] [--compact-min BYTES]
 *   [--compact-ratio R] [--compact-pause MS] [--port N] [--in-memory]
 *
 * Key from TASKWIRE_AUTHKEY. Prints one JSON object per line: the journal's
 * events (recovered, compaction_started, ...), then `{"event":"listening","port":N}`.
 * An open error prints `{"event":"error","message":...}` and exits 1. SIGTERM
 * closes the god gracefully.
 */
import process from "node:process";
import { serve } from "../../lib/server/server.ts";
import { type FsyncPolicy, openJournal } from "../../lib/store/open.ts";

const args = process.argv.slice(2);
const dir = args[0];
const option = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const authkey = process.env.TASKWIRE_AUTHKEY;
if (!dir || !authkey) {
  console.error("durable_god: usage: durable_god.ts DIR [options], with TASKWIRE_AUTHKEY set");
  process.exit(2);
}
const print = (event: Record<string, unknown>) => console.log(JSON.stringify(event));
const number = (name: string) => option(name) === undefined ? undefined : Number(option(name));

let opened;
try {
  if (args.includes("--in-memory")) throw null; // benchmarks: no store at all
  opened = await openJournal(dir, {
    fsync: (option("--fsync") ?? "always") as FsyncPolicy,
    compactMinBytes: number("--compact-min"),
    compactRatio: number("--compact-ratio"),
    compactPauseMs: number("--compact-pause"),
    log: print,
  });
} catch (error) {
  if (error !== null) {
    print({ event: "error", message: (error as Error).message });
    process.exit(1);
  }
}
const { store, restore, summary } = opened ?? { summary: "in memory" };
print({ event: "summary", summary });
const god = await serve({
  listen: `127.0.0.1:${option("--port") ?? 0}`,
  authkey,
  store,
  restore,
  queues: { tasks: { leaseMs: 60_000 }, results: {} },
});
print({ event: "listening", port: god.port, pid: process.pid });
const stop = async () => {
  await god.close();
  print({ event: "closed" });
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
