/**
 * examples/vercel-edge/route.ts inside Vercel's `edge-runtime` (installed by
 * the test): bundled from the `taskwire/worker` entry, evaluated in its
 * EdgeRuntime VM and served, it drains tasks from a god's HTTP face with a
 * worker key (the same loop as the other edge examples, examples/drain.ts),
 * keeps its client for the next call, and the god names the runtime
 * `edge-runtime`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { connect, makeWorkerKey, serve, serveHttp } from "../mod.ts";
import { mustBundle } from "./_support/bundle.ts";
import { NODE, Proc, ROOT } from "./_support/process.ts";
import { needRuntime } from "./_support/runtimes.ts";

const GOD_KEY = "edge-runtime-test-god-key";

test("examples/vercel-edge/route.ts in edge-runtime drains tasks over HTTP with a worker key", async (t) => {
  const edge = await needRuntime(t, "edge-runtime");
  if (edge === null) return;
  const dir = await mkdtemp(path.join(os.tmpdir(), "taskwire-edge-runtime-"));
  const god = await serve({ listen: "127.0.0.1:0", authkey: GOD_KEY });
  const face = await serveHttp(god, { listen: "127.0.0.1:0" });
  const client = await connect({ addr: `127.0.0.1:${god.port}`, authkey: GOD_KEY });
  let host: Proc | null = null;
  try {
    const bundle = path.join(dir, "route.js");
    await mustBundle("examples/vercel-edge/route.ts", bundle, {
      format: "iife",
      extra: ["--global-name=route"],
    });
    host = new Proc([
      NODE,
      "--import",
      "tsx",
      path.join(ROOT, "test/_support/edge_runtime_host.ts"),
      edge.prefix,
      bundle,
    ], {
      env: {
        TASKWIRE_URL: face.url,
        TASKWIRE_KEY: await makeWorkerKey(GOD_KEY, { consume: ["tasks"], put: ["results"] }),
      },
    });
    const { url } = JSON.parse(await host.waitFor(/^\{"url"/, 30_000));

    const tasks = client.queue<unknown>("tasks");
    const results = client.queue<{ n: bigint; square: bigint; by: string }>("results");
    for (const [round, values] of [[7, 8, 9, 2n ** 70n], [11, 12]].entries()) {
      await tasks.putMany(values);
      const reply = await fetch(url).then((r) => r.json());
      assert.deepEqual(
        reply,
        { done: values.length, failed: 0 },
        `call ${round + 1}: ${host.output}`,
      );
      const squares = new Map<bigint, bigint>();
      for (let i = 0; i < values.length; i++) {
        const job = await results.get({ timeout: 10_000 });
        assert.ok(job, "a result within 10 s");
        assert.equal(job.value.by, "vercel");
        squares.set(job.value.n, job.value.square);
        await job.ack();
      }
      for (const v of values) assert.equal(squares.get(BigInt(v)), BigInt(v) * BigInt(v));
    }
    const workers = (await client.stats()).connections.filter((c) => c.transport === "http");
    assert.equal(workers.length, 1, `one client for both calls: ${JSON.stringify(workers)}`);
    assert.equal(workers[0].runtime, "edge-runtime");
    assert.match(workers[0].name, /^edge-runtime-/);
  } finally {
    if (host !== null) await host.stop();
    await client.close();
    await face.close();
    await god.close();
    await rm(dir, { recursive: true, force: true });
  }
});
