/**
 * Bench driver: a god built on the library (`serve`), in memory, that collects
 * every result from `results` in-process like the god role does. Used when the
 * role processes are not wanted (`--drivers`) or not available.
 *
 * Usage: god.ts --listen 127.0.0.1:PORT [--results results]
 */
import process from "node:process";
import { consumeLocally, serve } from "../../mod.ts";
import { authkey, emit, onStop, parseArgs } from "./_common.ts";

const args = parseArgs(process.argv.slice(2));
const key = authkey();
const god = await serve({
  listen: args.get("listen") ?? "127.0.0.1:5678",
  authkey: key,
  name: "bench-god",
});
let collected = 0;
const results = consumeLocally(god, args.get("results") ?? "results", { prefetch: 1000 }, () => {
  collected++;
});
emit({ event: "listening", addr: `${god.host}:${god.port}` });
onStop(async () => {
  emit({ event: "stopping", collected });
  results.stop();
  await god.close();
});
