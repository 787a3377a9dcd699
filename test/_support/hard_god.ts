/**
 * Fixture for the hardening tests (limits, fuzz, load, fault, TLS): a god as a
 * real process on Node or Deno, with options from the command line.
 *
 * Usage: hard_god.ts [--port N] [--data DIR] [--fsync always|batch|off]
 *   [--limits JSON] [--tls-cert PEM --tls-key PEM] [--lease MS] [--http] [--dedupe MS]
 *
 * Key from TASKWIRE_AUTHKEY. Prints one JSON object per line: the god's log
 * events, then `{"event":"listening","port":N,"pid":P}` (with `"http":URL`
 * when started with --http: its HTTP face on a port of its own). SIGTERM or SIGINT
 * closes the god gracefully and exits 0 (`{"event":"closed"}` first).
 */
import process from "node:process";
import * as fs from "node:fs";
import { serve } from "../../lib/server/server.ts";
import { openJournal } from "../../lib/store/open.ts";

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const authkey = process.env.TASKWIRE_AUTHKEY;
if (!authkey) {
  console.error("hard_god: set TASKWIRE_AUTHKEY");
  process.exit(2);
}
const print = (event: Record<string, unknown>) => console.log(JSON.stringify(event));
const dir = option("--data");
const opened = dir
  ? await openJournal(dir, {
    fsync: (option("--fsync") ?? "always") as "always" | "batch" | "off",
    log: print,
  })
  : undefined;
const certFile = option("--tls-cert");
const keyFile = option("--tls-key");
const leaseMs = Number(option("--lease") ?? 30_000);
const god = await serve({
  listen: `127.0.0.1:${option("--port") ?? 0}`,
  authkey,
  store: opened?.store,
  restore: opened?.restore,
  queues: { tasks: { leaseMs }, results: { leaseMs } },
  broker: option("--dedupe") ? { dedupeWindowMs: Number(option("--dedupe")) } : undefined,
  limits: option("--limits") ? JSON.parse(option("--limits")!) : undefined,
  tls: certFile && keyFile
    ? { cert: fs.readFileSync(certFile, "utf8"), key: fs.readFileSync(keyFile, "utf8") }
    : undefined,
  log: print,
});
const http = args.includes("--http")
  ? await (await import("../../lib/http/serve.ts")).serveHttp(god, {
    listen: "127.0.0.1:0",
    log: print,
  })
  : null;
print({ event: "listening", port: god.port, pid: process.pid, http: http?.url });
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await http?.close();
  await god.close();
  print({ event: "closed" });
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
// Diagnostics: SIGUSR2 prints memory use (after a full GC when started with --expose-gc).
process.on("SIGUSR2", () => {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  print({ event: "memory", rss: m.rss, heapUsed: m.heapUsed, external: m.external });
});
