/**
 * Across machines for real: separate hosts (network namespaces joined by a
 * switch, test/_support/hosts.ts), roles on both runtimes spread over them,
 * and links that fail the way real ones do — silently. Every task is
 * completed once, whatever the network does.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { TestBed } from "./_support/hosts.ts";
import type { Proc } from "./_support/process.ts";
import { events } from "./_support/role_events.ts";
import { until } from "./_support/until.ts";

const KEY = "hosts-test-key-0123456789";
const HOSTS = ["god", "w1", "w2", "p"];
const probe = TestBed.create(["probe"]);
const skip = typeof probe === "string" ? probe : false;
if (typeof probe === "string") console.log(`NOTICE: skipping the multi-host tests: ${probe}`);
else probe.destroy();

/** Every task's result arrived exactly once and is n*n; returns how many. */
function checkResults(god: Proc, expected: { put: number; sum: bigint }): void {
  const results = events(god, "result");
  const tasks = new Set(results.map((r) => r.task));
  assert.equal(tasks.size, results.length, "no task was answered twice");
  assert.equal(results.length, expected.put, "every task was answered");
  let sum = 0n;
  for (const r of results) {
    const n = BigInt(r.n as string);
    assert.equal(BigInt(r.square as string), n * n);
    sum += n;
  }
  assert.equal(sum, expected.sum, "the answers are to the tasks put");
}

async function producerDone(producer: Proc): Promise<{ put: number; sum: bigint }> {
  const { code } = await producer.wait(90_000);
  assert.equal(code, 0, producer.output.slice(-2000));
  const [done] = events(producer, "done");
  return { put: done.put as number, sum: BigInt(done.sum as string) };
}

function bed(): TestBed {
  const made = TestBed.create(HOSTS);
  if (typeof made === "string") throw new Error(made);
  return made;
}

const env = { TASKWIRE_AUTHKEY: KEY };

test(
  "four hosts, mixed runtimes: a Node god, Deno and Node consumers, a Deno producer",
  { skip },
  async () => {
    const hosts = bed();
    try {
      const addr = `${hosts.address("god")}:5678`;
      const god = hosts.start("god", "node", "roles/god.ts", [
        "--listen",
        `0.0.0.0:5678`,
        "--in-memory",
        "--json",
      ], { env });
      await god.waitFor(/"event":"listening"/);
      const consumers = [
        hosts.start("w1", "deno", "roles/consumer.ts", ["--connect", addr, "--json", "--quiet"], {
          env,
        }),
        hosts.start("w2", "node", "roles/consumer.ts", ["--connect", addr, "--json", "--quiet"], {
          env,
        }),
      ];
      await Promise.all(consumers.map((c) => c.waitFor(/"event":"ready"/)));
      const producer = hosts.start("p", "deno", "roles/producer.ts", [
        "--connect",
        addr,
        "--count",
        "300",
        "--interval",
        "0",
        "--json",
      ], { env });
      const expected = await producerDone(producer);
      await until("every result", () => events(god, "result").length >= expected.put);
      checkResults(god, expected);
      const remotes = events(god, "connected").map((e) => String(e.remote));
      for (const host of ["w1", "w2", "p"]) {
        assert.ok(
          remotes.some((r) => r.includes(hosts.address(host))),
          `a client from ${host} among ${remotes.join(", ")}`,
        );
      }
    } finally {
      await hosts.close();
    }
  },
);

test(
  "a consumer host partitioned silently: its tasks reach the healthy one within a few heartbeats; after the heal it is back and nothing is lost",
  { skip },
  async () => {
    const hosts = bed();
    try {
      const addr = `${hosts.address("god")}:5678`;
      const god = hosts.start("god", "node", "roles/god.ts", [
        "--listen",
        "0.0.0.0:5678",
        "--in-memory",
        "--heartbeat",
        "300ms",
        "--json",
      ], { env });
      await god.waitFor(/"event":"listening"/);
      const w1 = hosts.start("w1", "node", "roles/consumer.ts", [
        "--connect",
        addr,
        "--concurrency",
        "20",
        "--json",
        "--quiet",
      ], { env });
      const w2 = hosts.start("w2", "deno", "roles/consumer.ts", [
        "--connect",
        addr,
        "--concurrency",
        "20",
        "--json",
        "--quiet",
      ], { env });
      await Promise.all([w1.waitFor(/"event":"ready"/), w2.waitFor(/"event":"ready"/)]);
      const producer = hosts.start("p", "node", "roles/producer.ts", [
        "--connect",
        addr,
        "--rounds",
        "30",
        "--per-round",
        "10",
        "--interval",
        "100ms",
        "--json",
      ], { env });
      await until("some results", () => events(god, "result").length >= 30);
      const cutAt = Date.now();
      hosts.partition("w1");
      // The god hears nothing from w1 for three heartbeats and lets it go.
      await until(
        "the god to drop w1",
        () =>
          events(god, "disconnected").some((e) => String(e.remote).includes(hosts.address("w1"))),
        10_000,
      );
      const dropped = Date.now() - cutAt;
      assert.ok(dropped < 5_000, `w1 dropped after ${dropped} ms`);
      await until("w1 to notice", () => events(w1, "disconnected").length > 0, 10_000);
      hosts.heal("w1");
      await until("w1 to reconnect", () => events(w1, "connected").length >= 2, 20_000);
      const expected = await producerDone(producer);
      await until("every result", () => events(god, "result").length >= expected.put);
      checkResults(god, expected);
    } finally {
      await hosts.close();
    }
  },
);

test("a producer host cut off mid-burst: no put is lost or doubled", { skip }, async () => {
  const hosts = bed();
  try {
    const addr = `${hosts.address("god")}:5678`;
    const god = hosts.start("god", "deno", "roles/god.ts", [
      "--listen",
      "0.0.0.0:5678",
      "--in-memory",
      "--heartbeat",
      "300ms",
      "--json",
    ], { env });
    await god.waitFor(/"event":"listening"/);
    hosts.start("w1", "node", "roles/consumer.ts", ["--connect", addr, "--json", "--quiet"], {
      env,
    });
    const producer = hosts.start("p", "node", "roles/producer.ts", [
      "--connect",
      addr,
      "--count",
      "3000",
      "--interval",
      "0",
      "--json",
    ], { env });
    await until("the burst to start", () => events(god, "result").length > 50);
    hosts.partition("p");
    await new Promise((resolve) => setTimeout(resolve, 2000));
    hosts.heal("p");
    const expected = await producerDone(producer);
    assert.equal(expected.put, 3000);
    await until("every result", () => events(god, "result").length >= expected.put);
    checkResults(god, expected);
  } finally {
    await hosts.close();
  }
});

test(
  "the god's host goes away and comes back with its journal: the clients carry on",
  { skip },
  async () => {
    const hosts = bed();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taskwire-hosts-"));
    try {
      const addr = `${hosts.address("god")}:5678`;
      const godArgs = ["--listen", "0.0.0.0:5678", "--data", dir, "--heartbeat", "300ms", "--json"];
      const first = hosts.start("god", "node", "roles/god.ts", godArgs, { env });
      await first.waitFor(/"event":"listening"/);
      hosts.start("w1", "deno", "roles/consumer.ts", ["--connect", addr, "--json", "--quiet"], {
        env,
      });
      const producer = hosts.start("p", "node", "roles/producer.ts", [
        "--connect",
        addr,
        "--rounds",
        "40",
        "--per-round",
        "10",
        "--interval",
        "100ms",
        "--json",
      ], { env });
      await until("some results", () => events(first, "result").length >= 30);
      // The machine vanishes: its link goes silent and the god dies with it.
      hosts.partition("god");
      first.signal("SIGKILL");
      await first.exited;
      await new Promise((resolve) => setTimeout(resolve, 1500));
      hosts.heal("god");
      const second = hosts.start("god", "node", "roles/god.ts", godArgs, { env });
      await second.waitFor(/"event":"listening"/);
      const expected = await producerDone(producer);
      // Results that arrived before the crash were printed by the first god; the rest by the second.
      await until(
        "every result",
        () =>
          new Set([...events(first, "result"), ...events(second, "result")].map((r) => r.task))
            .size >= expected.put,
        60_000,
      );
      const all = [...events(first, "result"), ...events(second, "result")];
      const tasks = new Set(all.map((r) => r.task));
      assert.equal(tasks.size, expected.put, "every task answered");
      let sum = 0n;
      for (const task of tasks) {
        const r = all.find((x) => x.task === task)!;
        sum += BigInt(r.n as string);
        assert.equal(BigInt(r.square as string), BigInt(r.n as string) ** 2n);
      }
      assert.equal(sum, expected.sum);
    } finally {
      await hosts.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
