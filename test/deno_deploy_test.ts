/**
 * examples/deno-deploy/main.ts on Deno, run as its comment says with only the
 * permissions it needs (the god's HTTP address and its own, three variables):
 * each request drains the waiting tasks with a worker key, squares to
 * `results` and acks; the god names it `deno`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, makeWorkerKey, serve, serveHttp } from "../mod.ts";
import * as path from "node:path";
import { DENO, freePort, Proc, ROOT } from "./_support/process.ts";

const GOD_KEY = "deno-deploy-test-god-key";

test("examples/deno-deploy/main.ts drains tasks per request, with only --allow-net to the god and itself", async () => {
  const god = await serve({ listen: "127.0.0.1:0", authkey: GOD_KEY });
  const face = await serveHttp(god, { listen: "127.0.0.1:0" });
  const client = await connect({ addr: `127.0.0.1:${god.port}`, authkey: GOD_KEY });
  const listen = `127.0.0.1:${await freePort()}`;
  const worker = new Proc([
    DENO,
    "run",
    `--allow-net=${new URL(face.url).host},${listen}`,
    "--allow-env=TASKWIRE_URL,TASKWIRE_KEY,LISTEN",
    "--unstable-cron",
    path.join(ROOT, "examples/deno-deploy/main.ts"),
  ], {
    env: {
      TASKWIRE_URL: face.url,
      TASKWIRE_KEY: await makeWorkerKey(GOD_KEY, { consume: ["tasks"], put: ["results"] }),
      LISTEN: listen,
    },
  });
  let stopped: { code: number | null } | undefined;
  try {
    await worker.waitFor(/^listening on http:/, 30_000);
    const results = client.queue<{ n: bigint; square: bigint; by: string }>("results");
    for (const values of [[5, 6, 7], [2n ** 64n, 8, "nine"]]) {
      await client.queue<unknown>("tasks").putMany(values);
      const reply = await fetch(`http://${listen}/`).then((r) => r.json());
      const integers = values.filter((v) => typeof v !== "string") as (number | bigint)[];
      assert.deepEqual(reply, { done: integers.length, failed: values.length - integers.length });
      for (let i = 0; i < integers.length; i++) {
        const job = await results.get({ timeout: 10_000 });
        assert.ok(job, "a result");
        assert.equal(job.value.by, "deno-deploy");
        assert.equal(job.value.square, job.value.n * job.value.n);
        await job.ack();
      }
    }
    const workers = (await client.stats()).connections.filter((c) => c.transport === "http");
    assert.equal(workers.length, 1, "one client for every request");
    assert.match(workers[0].runtime, /^deno \d/);
  } finally {
    stopped = await worker.stop();
    await client.close();
    await face.close();
    await god.close();
  }
  assert.equal(stopped?.code, 0, `the example exits 0 on SIGTERM: ${worker.output}`);
});
