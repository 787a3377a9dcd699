/**
 * examples/cloudflare-worker on workerd, Cloudflare's Workers runtime (the
 * `workerd` npm package, installed by the test): the Worker module, bundled
 * with esbuild from the `taskwire/worker` entry, runs under the example's own
 * workerd.capnp and drains tasks from a god's HTTP face on loopback, with a
 * worker key: every task squared to `results` and acked, a non-integer
 * dead-lettered. A second request reuses the client the first one made (one
 * client on the god, `clientUses` 2), the god names the runtime `workerd`,
 * and the `scheduled` handler (a Cron Trigger) drains too.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { type Client, connect, makeWorkerKey, serve, serveHttp } from "../mod.ts";
import { mustBundle } from "./_support/bundle.ts";
import { freePort, Proc, ROOT } from "./_support/process.ts";
import { type InstalledRuntime, needRuntime } from "./_support/runtimes.ts";

const GOD_KEY = "workerd-test-god-key";
const EXAMPLE = "examples/cloudflare-worker";

/** Starts workerd on `config` with the socket `http` (and `cron`, if asked) on free ports. */
async function startWorkerd(
  workerd: InstalledRuntime,
  config: string,
  env: Record<string, string>,
  sockets: string[],
  extra: string[] = [],
): Promise<{ proc: Proc; urls: Record<string, string> }> {
  const urls: Record<string, string> = {};
  const args = ["serve", config, ...extra];
  for (const name of sockets) {
    const port = await freePort();
    urls[name] = `http://127.0.0.1:${port}`;
    args.push("--socket-addr", `${name}=127.0.0.1:${port}`);
  }
  const proc = new Proc([workerd.bin(), ...args], { env, cwd: path.dirname(config) });
  // Ready once every socket accepts a connection (bounded); no request is sent,
  // so the Worker has not run yet.
  const deadline = Date.now() + 20_000;
  for (const url of Object.values(urls)) {
    for (;;) {
      if (proc.child.exitCode !== null) throw new Error(`workerd exited:\n${proc.output}`);
      try {
        await new Promise<void>((resolve, reject) => {
          const socket = net.connect(Number(new URL(url).port), "127.0.0.1", () => {
            socket.destroy();
            resolve();
          });
          socket.once("error", reject);
        });
        break;
      } catch {
        if (Date.now() > deadline) throw new Error(`workerd did not listen:\n${proc.output}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
  return { proc, urls };
}

/** Takes `count` results from `results` (bounded) and acks them. */
async function takeResults(
  client: Client,
  count: number,
): Promise<{ n: bigint; square: bigint; by: string; task: string }[]> {
  const got = [];
  const queue = client.queue<{ n: bigint; square: bigint; by: string; task: string }>("results");
  while (got.length < count) {
    const job = await queue.get({ timeout: 15_000 });
    assert.ok(job, `result ${got.length + 1} of ${count} within 15 s`);
    got.push(job.value);
    await job.ack();
  }
  return got;
}

test("examples/cloudflare-worker on workerd drains tasks over HTTP with a worker key, reusing its client", async (t) => {
  const workerd = await needRuntime(t, "workerd");
  if (workerd === null) return;
  const dir = await mkdtemp(path.join(os.tmpdir(), "taskwire-workerd-"));
  const god = await serve({ listen: "127.0.0.1:0", authkey: GOD_KEY });
  const face = await serveHttp(god, { listen: "127.0.0.1:0" });
  const client = await connect({ addr: `127.0.0.1:${god.port}`, authkey: GOD_KEY });
  const procs: Proc[] = [];
  try {
    // The deployment as the example's comments say: bundle beside the config, serve the config.
    await mustBundle(`${EXAMPLE}/worker.ts`, path.join(dir, "worker.js"));
    await copyFile(path.join(ROOT, EXAMPLE, "workerd.capnp"), path.join(dir, "workerd.capnp"));
    const env = {
      TASKWIRE_URL: face.url,
      TASKWIRE_KEY: await makeWorkerKey(GOD_KEY, { consume: ["tasks"], put: ["results"] }),
    };
    const { proc, urls } = await startWorkerd(workerd, path.join(dir, "workerd.capnp"), env, [
      "http",
    ]);
    procs.push(proc);

    const tasks = client.queue<unknown>("tasks");
    const big = 2n ** 80n + 7n;
    await tasks.putMany([...Array.from({ length: 24 }, (_, i) => i + 1), big, "not a number"]);
    const first = await fetch(urls.http).then((r) => r.json());
    assert.deepEqual(first, { done: 25, failed: 1, clientUses: 1 }, proc.output);
    const results = await takeResults(client, 25);
    for (const r of results) assert.equal(r.square, r.n * r.n);
    assert.deepEqual(
      results.map((r) => r.n).sort((a, b) => (a < b ? -1 : 1)),
      [...Array.from({ length: 24 }, (_, i) => BigInt(i + 1)), big],
    );
    assert.ok(results.every((r) => r.by === "cloudflare"));
    const [dead] = await client.deadList("tasks");
    assert.match(dead.reason ?? "", /not an integer/);

    // The second request: the same client (the isolate keeps it), no new hello.
    await tasks.putMany([100, 200, 300]);
    const second = await fetch(urls.http).then((r) => r.json());
    assert.deepEqual(second, { done: 3, failed: 0, clientUses: 2 }, proc.output);
    assert.deepEqual(
      (await takeResults(client, 3)).map((r) => r.square).sort((a, b) => (a < b ? -1 : 1)),
      [10_000n, 40_000n, 90_000n],
    );
    const stats = await client.stats();
    const workers = stats.connections.filter((c) => c.transport === "http");
    assert.equal(workers.length, 1, `one client across requests: ${JSON.stringify(workers)}`);
    assert.equal(workers[0].runtime, "workerd");
    assert.match(workers[0].name, /^workerd-/);
    assert.equal(workers[0].role, "consumer");
    assert.equal((await client.stats("tasks")).queues[0].inFlight, 0, "every task was settled");
    assert.doesNotMatch(proc.output, /Error|Uncaught/, "workerd logged no error");
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await client.close();
    await face.close();
    await god.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("examples/cloudflare-worker on workerd: the scheduled handler (a Cron Trigger) drains tasks", async (t) => {
  const workerd = await needRuntime(t, "workerd");
  if (workerd === null) return;
  const dir = await mkdtemp(path.join(os.tmpdir(), "taskwire-workerd-cron-"));
  const god = await serve({ listen: "127.0.0.1:0", authkey: GOD_KEY });
  const face = await serveHttp(god, { listen: "127.0.0.1:0" });
  const client = await connect({ addr: `127.0.0.1:${god.port}`, authkey: GOD_KEY });
  const procs: Proc[] = [];
  try {
    await mustBundle(`${EXAMPLE}/worker.ts`, path.join(dir, "worker.js"));
    await copyFile(path.join(ROOT, EXAMPLE, "workerd.capnp"), path.join(dir, "workerd.capnp"));
    // workerd runs no cron by itself: a second Worker fires the example's `scheduled`
    // through a service binding (an experimental workerd feature, for tests only).
    await writeFile(
      path.join(dir, "cron.js"),
      `export default {
  async fetch(request, env) {
    return Response.json(await env.WORKER.scheduled({ cron: "* * * * *" }));
  },
};
`,
    );
    await writeFile(
      path.join(dir, "harness.capnp"),
      `using Workerd = import "/workerd/workerd.capnp";
using Example = import "workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "taskwire-worker", worker = Example.worker),
    (name = "network", network = (allow = ["public", "private", "local"])),
    (name = "cron", worker = .cron),
  ],
  sockets = [(name = "cron", http = (), service = "cron")],
);

const cron :Workerd.Worker = (
  modules = [(name = "cron.js", esModule = embed "cron.js")],
  compatibilityDate = "2026-11-01",
  compatibilityFlags = ["service_binding_extra_handlers"],
  bindings = [(name = "WORKER", service = "taskwire-worker")],
);
`,
    );
    const env = {
      TASKWIRE_URL: face.url,
      TASKWIRE_KEY: await makeWorkerKey(GOD_KEY, { consume: ["tasks"], put: ["results"] }),
    };
    const { proc, urls } = await startWorkerd(
      workerd,
      path.join(dir, "harness.capnp"),
      env,
      ["cron"],
      ["--experimental"],
    );
    procs.push(proc);
    await client.queue<number>("tasks").putMany([3, 4, 5, 6]);
    const outcome = await fetch(urls.cron).then((r) => r.json());
    assert.equal(outcome.outcome, "ok", `${JSON.stringify(outcome)}\n${proc.output}`);
    const squares = (await takeResults(client, 4)).map((r) => r.square);
    assert.deepEqual(squares.sort((a, b) => (a < b ? -1 : 1)), [9n, 16n, 25n, 36n]);
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await client.close();
    await face.close();
    await god.close();
    await rm(dir, { recursive: true, force: true });
  }
});
