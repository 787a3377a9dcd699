/**
 * The roles on Bun (installed from the npm registry by the test, see
 * _support/runtimes.ts): a god, a producer and consumers all on Bun, over TCP
 * and over the HTTP face, with every result checked (n*n, each task once,
 * the values add up). The god's stats show the Bun clients as `bun x.y`, and
 * their names start with `bun-`. The Bun example (examples/bun/consumer.ts)
 * runs as the docs show it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { connect } from "../mod.ts";
import { freePort, Proc, ROOT } from "./_support/process.ts";
import { type InstalledRuntime, needRuntime, RUNTIME_PACKAGES } from "./_support/runtimes.ts";

interface Result {
  n: bigint;
  square: bigint;
  by: string;
  task: string;
}

function events(proc: Proc, name: string): Record<string, unknown>[] {
  return proc.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
    .filter((e) => e.event === name);
}

function results(god: Proc): Result[] {
  return events(god, "result").map((e) => ({
    n: BigInt(e.n as string),
    square: BigInt(e.square as string),
    by: e.by as string,
    task: e.task as string,
  }));
}

async function until(what: string, check: () => boolean, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function onBun(bun: InstalledRuntime, file: string, args: string[], env: Record<string, string>) {
  return new Proc([bun.bin(), path.join(ROOT, file), ...args], { env });
}

const COUNT = 300;

for (const door of ["tcp", "http"] as const) {
  test(`[${door}] god, producer and consumers on Bun: every result arrives exactly, and stats say bun`, async (t) => {
    const bun = await needRuntime(t, "bun");
    if (bun === null) return;
    const [port, httpPort] = [await freePort(), await freePort()];
    const tcp = `127.0.0.1:${port}`;
    const http = `http://127.0.0.1:${httpPort}`;
    const env = { TASKWIRE_AUTHKEY: `bun-key-${port}`, TASKWIRE_ADDR: door === "tcp" ? tcp : http };
    const god = onBun(bun, "roles/god.ts", [
      "--in-memory",
      "--json",
      "--listen",
      tcp,
      "--http",
      `127.0.0.1:${httpPort}`,
    ], env);
    const procs = [god];
    try {
      const listening = JSON.parse(await god.waitFor(/"event":"listening"/, 30_000));
      assert.equal(listening.runtime, `bun ${RUNTIME_PACKAGES.bun}`);
      const consumers = [0, 1].map(() =>
        onBun(bun, "roles/consumer.ts", ["--json", "--concurrency", "8"], env)
      );
      procs.push(...consumers);
      await Promise.all(consumers.map((c) => c.waitFor(/"event":"ready"/, 30_000)));
      const producer = onBun(bun, "roles/producer.ts", [
        "--count",
        String(COUNT),
        "--interval",
        "0",
        "--max",
        "99999999999999999999",
        "--json",
      ], env);
      const { code } = await producer.wait(60_000);
      assert.equal(code, 0, producer.output.slice(-2000));
      const [done] = events(producer, "done");
      assert.equal(done.put, COUNT);

      await until(`${COUNT} results`, () => results(god).length >= COUNT);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const got = results(god);
      assert.equal(got.length, COUNT, "one result per task");
      assert.equal(new Set(got.map((r) => r.task)).size, COUNT, "no task twice");
      for (const r of got) assert.equal(r.square, r.n * r.n, `${r.n} squared`);
      assert.equal(got.reduce((s, r) => s + r.n, 0n), BigInt(done.sum as string));
      assert.ok(got.some((r) => r.n > BigInt(Number.MAX_SAFE_INTEGER)), "big integers travel");
      for (const r of got) assert.match(r.by, /^bun-/, "computed by a Bun consumer");

      // The god, asked from this runtime, names the Bun clients as Bun.
      const admin = await connect({ addr: env.TASKWIRE_ADDR, authkey: env.TASKWIRE_AUTHKEY });
      try {
        const stats = await admin.stats();
        assert.equal(stats.server.runtime, `bun ${RUNTIME_PACKAGES.bun}`);
        const workers = stats.connections.filter((c) => c.role === "consumer");
        assert.equal(workers.length, 2, JSON.stringify(stats.connections));
        for (const c of workers) {
          assert.equal(c.runtime, `bun ${RUNTIME_PACKAGES.bun}`);
          assert.match(c.name, /^bun-/);
          assert.equal(c.transport, door);
        }
      } finally {
        await admin.close();
      }
      const codes = await Promise.all(consumers.map((c) => c.stop()));
      for (const [i, { code }] of codes.entries()) {
        assert.equal(code, 0, `a Bun consumer exits 0 on SIGTERM: ${consumers[i].output}`);
      }
    } finally {
      await Promise.all(procs.reverse().map((p) => p.stop()));
    }
  });
}

test("examples/bun/consumer.ts on Bun drains tasks over TCP and over HTTP", async (t) => {
  const bun = await needRuntime(t, "bun");
  if (bun === null) return;
  const { serve, serveHttp } = await import("../mod.ts");
  const authkey = "bun-example-key";
  const god = await serve({ listen: "127.0.0.1:0", authkey });
  const face = await serveHttp(god, { listen: "127.0.0.1:0" });
  const client = await connect({ addr: `127.0.0.1:${god.port}`, authkey });
  try {
    for (const addr of [`127.0.0.1:${god.port}`, face.url]) {
      const values = Array.from({ length: 50 }, (_, i) => i * 7);
      await client.queue<number>("tasks").putMany(values);
      const example = onBun(bun, "examples/bun/consumer.ts", [], {
        TASKWIRE_ADDR: addr,
        TASKWIRE_AUTHKEY: authkey,
      });
      try {
        const squares = new Map<bigint, bigint>();
        const results = client.queue<{ n: bigint; square: bigint }>("results");
        while (squares.size < values.length) {
          const job = await results.get({ timeout: 20_000 });
          assert.ok(job, `a result within 20 s (${squares.size} so far): ${example.output}`);
          squares.set(job.value.n, job.value.square);
          await job.ack();
        }
        for (const n of values) assert.equal(squares.get(BigInt(n)), BigInt(n * n));
      } finally {
        const { code } = await example.stop();
        assert.equal(code, 0, `the example exits 0 on SIGTERM: ${example.output}`);
      }
      assert.match(example.output, /stopped after \d+ tasks/);
    }
  } finally {
    await client.close();
    await face.close();
    await god.close();
  }
});
