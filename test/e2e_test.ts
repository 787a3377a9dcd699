/**
 * End to end, with real processes on both runtimes: god × producer × consumer
 * over {node, deno}. Every task's result arrives, exactly n*n, counted once;
 * a consumer stopped by SIGTERM mid-run loses nothing; clients started before
 * the god wait for it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import { freePort, type Proc, type Runtime, start } from "./_support/process.ts";
import { events, type Result, results } from "./_support/role_events.ts";
import { until } from "./_support/until.ts";

/** The producer's `done` event: how many it put and the sum of their values. */
async function producerDone(producer: Proc): Promise<{ put: number; sum: bigint }> {
  const { code } = await producer.wait(60_000);
  assert.equal(code, 0, producer.output.slice(-2000));
  const [done] = events(producer, "done");
  assert.ok(done, producer.output.slice(-2000));
  return { put: done.put as number, sum: BigInt(done.sum as string) };
}

/** Every result is n*n, every task appears once, and the values add up to what was put. */
function checkResults(got: Result[], expected: { put: number; sum: bigint }): void {
  assert.equal(got.length, expected.put, "one result per task");
  assert.equal(new Set(got.map((r) => r.task)).size, expected.put, "no task twice");
  for (const r of got) assert.equal(r.square, r.n * r.n, `${r.n} squared`);
  assert.equal(got.reduce((s, r) => s + r.n, 0n), expected.sum, "the results are the tasks put");
}

async function stopAll(procs: Proc[]): Promise<void> {
  const codes = await Promise.all(procs.map((p) => p.stop()));
  codes.forEach(({ code }, i) =>
    assert.equal(code, 0, `exit 0 after SIGTERM: ${procs[i].output.slice(-1500)}`)
  );
}

const MATRIX: { god: Runtime; producer: Runtime; consumers: Runtime[]; max?: string }[] = [
  { god: "node", producer: "node", consumers: ["node"] },
  { god: "deno", producer: "deno", consumers: ["deno"], max: "1" + "0".repeat(40) },
  { god: "node", producer: "deno", consumers: ["deno", "node"] },
  { god: "deno", producer: "node", consumers: ["node", "deno"], max: "99999999999999999999" },
];
const COUNT = 400;

for (const combo of MATRIX) {
  test(`god on ${combo.god}, producer on ${combo.producer}, consumers on ${combo.consumers.join(" + ")}: every result arrives exactly`, async () => {
    const port = await freePort();
    const env = { TASKWIRE_AUTHKEY: "e2e-key-" + port, TASKWIRE_ADDR: `127.0.0.1:${port}` };
    const god = start(combo.god, "roles/god.ts", [
      "--in-memory",
      "--json",
      "--quiet",
      "--listen",
      env.TASKWIRE_ADDR,
    ], { env });
    const procs = [god];
    try {
      await god.waitFor(/"event":"listening"/);
      const consumers = combo.consumers.map((rt) =>
        start(rt, "roles/consumer.ts", ["--json", "--concurrency", "4"], { env })
      );
      procs.push(...consumers);
      // Every consumer is subscribed before the burst, so each takes part.
      await Promise.all(consumers.map((c) => c.waitFor(/"event":"ready"/)));
      const args = ["--count", String(COUNT), "--interval", "0", "--json"];
      if (combo.max) args.push("--max", combo.max);
      const producer = start(combo.producer, "roles/producer.ts", args, { env });
      const expected = await producerDone(producer);
      assert.equal(expected.put, COUNT);
      await until(`${COUNT} results`, () => results(god).length >= COUNT);
      // Give a straggler (a duplicate) a moment to show up, then check.
      await new Promise((resolve) => setTimeout(resolve, 200));
      checkResults(results(god), expected);
      if (combo.max) {
        assert.ok(
          results(god).some((r) => r.n > BigInt(Number.MAX_SAFE_INTEGER)),
          "big integers travel",
        );
      }
      const by = new Set(results(god).map((r) => r.by.split("-")[0]));
      assert.deepEqual(
        [...by].sort(),
        [...new Set(combo.consumers)].sort(),
        "every consumer computed",
      );
    } finally {
      await stopAll(procs.reverse());
    }
  });
}

test("SIGTERM to a consumer mid-run loses no task: another consumer finishes the rest", async () => {
  const port = await freePort();
  const env = { TASKWIRE_AUTHKEY: "sigterm-key", TASKWIRE_ADDR: `127.0.0.1:${port}` };
  const god = start("node", "roles/god.ts", ["--in-memory", "--json", "--quiet"], { env });
  const procs = [god];
  try {
    await god.waitFor(/"event":"listening"/);
    const total = 3000;
    const producer = start("deno", "roles/producer.ts", [
      "--count",
      String(total),
      "--interval",
      "0",
      "--json",
    ], { env });
    const expected = await producerDone(producer);
    const first = start("deno", "roles/consumer.ts", ["--json", "--concurrency", "16"], { env });
    await first.waitFor(/"event":"computed"/);
    first.signal("SIGTERM");
    const { code } = await first.wait(20_000);
    assert.equal(code, 0, first.output.slice(-1500));
    const [stopped] = events(first, "stopped");
    assert.ok(stopped, "the consumer says it stopped");
    const computedByFirst = stopped.computed as number;
    assert.ok(
      computedByFirst < total,
      `the first consumer was stopped mid-run (${computedByFirst})`,
    );
    console.log(`the first consumer computed ${computedByFirst} of ${total} before SIGTERM`);

    const second = start("node", "roles/consumer.ts", ["--json", "--concurrency", "16"], { env });
    procs.push(second);
    await until(`${total} results`, () => results(god).length >= total);
    await new Promise((resolve) => setTimeout(resolve, 200));
    checkResults(results(god), expected);
  } finally {
    await stopAll(procs.reverse());
  }
});

test("a producer and a consumer started before the god retry, say so, and work once it is up", async () => {
  const port = await freePort();
  const env = { TASKWIRE_AUTHKEY: "early-key", TASKWIRE_ADDR: `127.0.0.1:${port}` };
  const consumer = start("deno", "roles/consumer.ts", [], { env });
  const producer = start("node", "roles/producer.ts", [
    "--rounds",
    "3",
    "--per-round",
    "5",
    "--interval",
    "100ms",
    "--json",
  ], { env });
  const procs = [consumer];
  try {
    await consumer.waitFor(/cannot reach the god at 127\.0\.0\.1:\d+ .*retrying in/);
    await producer.waitFor(/"event":"retrying"/);
    const god = start("deno", "roles/god.ts", ["--in-memory", "--json"], { env });
    procs.push(god);
    const expected = await producerDone(producer);
    assert.equal(expected.put, 15);
    await until("15 results", () => results(god).length >= 15);
    checkResults(results(god), expected);
    await consumer.waitFor(/^connected to the god/m);
  } finally {
    await stopAll(procs);
  }
});

test("a god that stops mid-run and comes back (journal, now on Deno) loses nothing; clients say so and carry on", async () => {
  const { mkdtemp, rm } = await import("node:fs/promises");
  const os = await import("node:os");
  const path = await import("node:path");
  const dir = await mkdtemp(path.join(os.tmpdir(), "taskwire-e2e-"));
  const port = await freePort();
  const env = { TASKWIRE_AUTHKEY: "restart-key", TASKWIRE_ADDR: `127.0.0.1:${port}` };
  const godArgs = ["--data", path.join(dir, "data"), "--json", "--quiet"];
  const firstGod = start("node", "roles/god.ts", godArgs, { env });
  const procs: Proc[] = [];
  try {
    await firstGod.waitFor(/"event":"listening"/);
    const consumer = start("deno", "roles/consumer.ts", ["--json"], { env });
    procs.push(consumer);
    const producer = start("node", "roles/producer.ts", [
      "--rounds",
      "40",
      "--per-round",
      "10",
      "--interval",
      "50ms",
      "--json",
    ], { env });
    await until("some results", () => results(firstGod).length >= 30);
    const stopped = await firstGod.stop();
    assert.equal(stopped.code, 0, firstGod.output.slice(-1500));
    await consumer.waitFor(/"event":"disconnected"/);
    const secondGod = start("deno", "roles/god.ts", godArgs, { env }); // the same journal, read by the other runtime
    procs.push(secondGod);
    const expected = await producerDone(producer);
    assert.equal(expected.put, 400);
    assert.ok(
      events(producer, "retrying").length + events(producer, "disconnected").length > 0,
      "the producer said it lost the god",
    );
    const distinct = () => {
      const byTask = new Map<string, Result>();
      for (const r of [...results(firstGod), ...results(secondGod)]) byTask.set(r.task, r);
      return [...byTask.values()];
    };
    await until("every task's result", () => distinct().length >= expected.put);
    const all = [...results(firstGod), ...results(secondGod)];
    for (const r of all) assert.equal(r.square, r.n * r.n);
    checkResults(distinct(), expected);
    assert.ok(events(consumer, "connected").length >= 2, "the consumer reconnected");
  } finally {
    await stopAll(procs.reverse());
    await rm(dir, { recursive: true, force: true });
  }
});

test("a malformed task is dead-lettered with its reason; admin lists, requeues, peeks and purges", async () => {
  const port = await freePort();
  const env = { TASKWIRE_AUTHKEY: "dead-key", TASKWIRE_ADDR: `127.0.0.1:${port}` };
  const god = start("deno", "roles/god.ts", ["--in-memory", "--json"], { env });
  const procs = [god];
  const admin = async (runtime: Runtime, ...args: string[]) => {
    const proc = start(runtime, "roles/admin.ts", [...args, "--json"], { env });
    const { code } = await proc.wait(30_000);
    assert.equal(code, 0, proc.output);
    return proc.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  };
  try {
    await god.waitFor(/"event":"listening"/);
    const client = await connect({ addr: env.TASKWIRE_ADDR, authkey: env.TASKWIRE_AUTHKEY });
    const tasks = client.queue<unknown>("tasks");
    const bad = await tasks.put("twelve");
    await tasks.put(2.5);
    await tasks.put(12345678901234567890123n);
    const consumer = start("node", "roles/consumer.ts", ["--json"], { env });
    procs.push(consumer);
    await until("the good task's result", () => results(god).length === 1);
    assert.equal(results(god)[0].square, 12345678901234567890123n ** 2n);
    await until("two dead letters", () => events(consumer, "dead").length === 2);
    assert.equal(consumer.child.exitCode, null, "the consumer keeps running");

    const dead = await admin("node", "dead", "list", "tasks");
    assert.equal(dead.length, 2);
    const reasons = dead.map((d) => d.reason).sort();
    assert.match(reasons[0], /not an integer: number 2\.5/);
    assert.match(reasons[1], /not an integer: string "twelve"/);

    // Requeue one while no consumer runs: it waits in `tasks` again.
    assert.equal((await consumer.stop()).code, 0);
    procs.pop();
    const [requeued] = await admin("deno", "dead", "requeue", "tasks", "--id", bad);
    assert.equal(requeued.requeued, 1);
    const peeked = await admin("node", "peek", "tasks");
    assert.deepEqual(peeked.map((p) => [p.id, p.value]), [[bad, "twelve"]]);
    const [purged] = await admin("deno", "purge", "tasks");
    assert.equal(purged.purged, 1);
    const [stats] = await admin("node", "stats");
    const queue = (stats.queues as { name: string; ready: number; dead: number }[])
      .find((q) => q.name === "tasks")!;
    assert.equal(queue.ready, 0);
    assert.equal(queue.dead, 1);
    await client.close();
  } finally {
    await stopAll(procs.reverse());
  }
});
