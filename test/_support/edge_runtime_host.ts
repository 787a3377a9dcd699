/**
 * Serves an Edge Function inside Vercel's `edge-runtime` (its EdgeRuntime VM,
 * the runtime Vercel's local tools use), for test/edge_runtime_test.ts. Run
 * with Node:
 *
 *   node --import tsx test/_support/edge_runtime_host.ts PREFIX BUNDLE
 *
 * PREFIX is where the `edge-runtime` package is installed, BUNDLE an IIFE
 * bundle that sets `globalThis.route` (a Next.js-style route module with GET).
 * The function sees `process.env` with TASKWIRE_URL and TASKWIRE_KEY, as on
 * Vercel. Prints `{"url": …}` once listening; stops on SIGTERM.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import process from "node:process";

interface EdgeRuntimeModule {
  EdgeRuntime: new (options: {
    initialCode: string;
    extend?: (context: Record<string, unknown>) => Record<string, unknown>;
  }) => unknown;
  runServer(
    options: { runtime: unknown; port: number; host: string },
  ): Promise<{ url: string; close(): Promise<void> }>;
}

const [prefix, bundleFile] = process.argv.slice(2);
const require = createRequire(path.join(prefix, "package.json"));
const { EdgeRuntime, runServer } = require("edge-runtime") as EdgeRuntimeModule;

const initialCode = `${readFileSync(bundleFile, "utf8")}
addEventListener("fetch", (event) => event.respondWith(globalThis.route.GET(event.request)));
`;
const env = { TASKWIRE_URL: process.env.TASKWIRE_URL, TASKWIRE_KEY: process.env.TASKWIRE_KEY };
const runtime = new EdgeRuntime({
  initialCode,
  extend: (context) => Object.assign(context, { process: { env } }),
});
const server = await runServer({ runtime, port: 0, host: "127.0.0.1" });
console.log(JSON.stringify({ url: server.url }));
process.once("SIGTERM", () => server.close().then(() => process.exit(0)));
