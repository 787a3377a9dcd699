/**
 * Keeps the benchmark harness from rotting: `npm run bench -- --quick` (run
 * as `node --import tsx bench/run.ts --quick --json`, on Node even when this
 * test runs on Deno) completes and every task of every run is accounted for,
 * the JetStream scenarios (`js.1x2.node`, its baseline `js.raw`) included
 * where nats-server is installed; so does `--peers --quick` on every peer
 * whose server is installed (the harness installs the peers' clients,
 * bench/peers/, and says NOTICE for each server it has not). Never asserts a
 * timing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as path from "node:path";
import { ensurePeerClients } from "../bench/peers/install.ts";
import { CURRENT, DENO, NODE, ROOT } from "./_support/process.ts";
import { natsServerPath } from "./_support/nats.ts";

interface QuickReport {
  notices: string[];
  results: {
    name: string;
    peer?: string;
    n: number;
    runs: {
      ok: boolean;
      error?: string;
      accounted: { expected: number; tasksPut?: number; results?: number; collected?: number };
      figures: Record<string, number>;
    }[];
  }[];
}

/** Runs the harness with `args`; kills it by PID after `timeoutMs`. */
function runBench(
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(NODE, ["--import", "tsx", path.join(ROOT, "bench", "run.ts"), ...args], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => stdout += d);
    child.stderr!.setEncoding("utf8").on("data", (d: string) => stderr += d);
    // SIGTERM lets the harness stop its own processes; SIGKILL if it does not.
    const term = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    const kill = setTimeout(() => child.kill("SIGKILL"), timeoutMs + 20_000);
    child.once("exit", (code) => {
      clearTimeout(term);
      clearTimeout(kill);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Every run of every result finished, with each task put, done and collected. */
function assertAccounted(report: QuickReport): void {
  for (const result of report.results) {
    assert.equal(result.runs.length, 1, `${result.name}: expected one run`);
    for (const run of result.runs) {
      assert.ok(run.ok, `${result.name}: ${run.error}`);
      const { expected, tasksPut, results, collected } = run.accounted;
      assert.equal(expected, result.n, `${result.name}: expected count`);
      assert.equal(tasksPut, expected, `${result.name}: tasks put`);
      assert.ok((results ?? 0) >= expected, `${result.name}: ${results} results of ${expected}`);
      assert.ok((collected ?? 0) >= expected, `${result.name}: ${collected} collected`);
      assert.ok((run.figures.tasksPerSec ?? 0) > 0, `${result.name}: no throughput figure`);
    }
  }
}

test("bench --quick completes and accounts for every task of every run", {
  timeout: 240_000,
}, async () => {
  const { code, stdout, stderr } = await runBench(["--quick", "--json", "--n", "2000"], 210_000);
  assert.equal(code, 0, `bench --quick exited ${code}:\n${stderr.slice(-4000)}`);
  const report = JSON.parse(stdout) as QuickReport;
  assert.ok(report.results.length >= 3, `only ${report.results.length} scenarios ran`);
  const taskwire = report.results.filter((r) => !r.name.startsWith("python."));
  assert.ok(taskwire.some((r) => r.name.endsWith(".node")), "no Node scenario ran");
  assert.ok(taskwire.some((r) => r.name.includes("mixed")), "no mixed-runtime scenario ran");
  if (!report.notices.some((n) => /Python/.test(n))) {
    assert.ok(
      taskwire.some((r) => r.name.startsWith("pydoor.")),
      "no scenario ran Python workers on the god's Python door",
    );
  }
  assert.ok(
    taskwire.some((r) => r.name.startsWith("far20.")),
    "no scenario ran across the long link (20 ms round trips)",
  );
  assert.ok(
    taskwire.some((r) => r.name.startsWith("call")),
    "no scenario awaited its answers with queue.call()",
  );
  // The JetStream pipeline and its nats.js baseline, where nats-server is installed.
  const js = report.results.filter((r) => r.name.startsWith("js.")).map((r) => r.name);
  if (natsServerPath !== null) assert.deepEqual(js.sort(), ["js.1x2.node", "js.raw"]);
  else assert.ok(report.notices.some((n) => /nats-server was not found/.test(n)));
  assertAccounted(report);
});

test("bench --peers --quick accounts for every task on every installed peer", {
  timeout: 1_200_000,
}, async (t) => {
  if (CURRENT === "deno") {
    // The harness runs on Node whichever runtime runs this file: the Node pass covers it all.
    console.log(
      "NOTICE: skipping bench --peers --quick on Deno: it runs the same Node harness as the Node pass of this file (about 5 minutes)",
    );
    t.skip("runs in the Node pass");
    return;
  }
  // Small N: the runs are there to keep each peer's server, client and shapes working.
  const { code, stdout, stderr } = await runBench(
    ["--peers", "--quick", "--json", "--n", "600", "--durable-n", "200"],
    1_080_000,
  );
  assert.equal(code, 0, `bench --peers --quick exited ${code}:\n${stderr.slice(-4000)}`);
  const report = JSON.parse(stdout) as QuickReport;
  for (const notice of report.notices) console.log(notice);
  const peers = report.results.filter((r) => r.peer !== undefined);
  if (peers.length === 0) {
    t.skip("no peer server is installed (see the NOTICEs)");
    return;
  }
  const taskwire = report.results.filter((r) => r.peer === undefined);
  assert.ok(taskwire.length > 0, "no taskwire scenario ran next to the peers");
  assertAccounted(report);
});

test("bench/peers/clients type-check against the peers' own packages", {
  timeout: 420_000,
}, (t) => {
  // Left out of the root `deno check` (deno.json): their packages are bench/peers' own.
  const failed = ensurePeerClients(() => {});
  if (failed !== null) {
    console.log(`NOTICE: skipping the type check of bench/peers/clients: ${failed}`);
    t.skip("the peers' clients could not be installed");
    return;
  }
  const r = spawnSync(DENO, [
    "check",
    "--config",
    path.join(ROOT, "bench", "peers", "deno.check.json"),
    path.join(ROOT, "bench", "peers", "clients"),
  ], { cwd: ROOT, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, timeout: 100_000 });
  assert.equal(r.status, 0, `deno check of bench/peers/clients failed:\n${r.stdout}${r.stderr}`);
});

test("bench rejects an unknown option with exit code 2", { timeout: 60_000 }, async () => {
  const { code, stderr } = await runBench(["--no-such-option"], 50_000);
  assert.equal(code, 2);
  assert.match(stderr, /unknown option "--no-such-option"/);
});
