/**
 * `job.complete(result)`: the ack and the result in one step. In memory it is
 * checked directly; with the journal, a god killed with SIGKILL at random
 * moments under load (fsync always, Node and Deno gods in turn) must come back
 * with every task in exactly one of two states: still queued (no result), or
 * completed with exactly one result. Never a result for a task still queued,
 * never a completed task without its result.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { connect, serve } from "../mod.ts";
import type { Client } from "../lib/client/api.ts";
import { freePort, type Proc, type Runtime, RUNTIMES, start } from "./_support/process.ts";

const KEY = "complete-test-key-0123456789";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

test("complete() acks the job and stores its result together, once, with an id made from the task's", async () => {
  const god = await serve({ listen: "127.0.0.1:0", authkey: KEY });
  const client = await connect({ addr: `127.0.0.1:${god.port}`, authkey: KEY });
  try {
    const tasks = client.queue<number>("tasks");
    await tasks.putMany([2, 3], {});
    const [a, b] = await tasks.getMany(2, { timeout: 1000 });
    await Promise.all([
      a.complete(a.value * a.value, { queue: "results" }),
      b.complete(b.value * b.value, { queue: "results", id: "custom" }),
    ]);
    const [stats] = god.stats("tasks").queues;
    assert.equal(stats.inFlight, 0);
    assert.equal(stats.totals.acked, 2);
    const results = await client.peek<number>("results");
    assert.deepEqual(results.map((r) => [r.id, r.value]), [[`result:${a.id}`, 4], ["custom", 9]]);
    // A completion without a queue sends the result to <queue>.results; without a result, it is an ack.
    await tasks.putMany([5, 6]);
    const [c, d] = await tasks.getMany(2, { timeout: 1000 });
    await c.complete(25);
    await d.complete();
    assert.deepEqual((await client.peek<number>("tasks.results")).map((r) => r.value), [25]);
    await assert.rejects(c.complete(1), /already settled/);
  } finally {
    await client.close();
    await god.close();
  }
});

test("complete() to a full result queue is refused and the job stays leased", async () => {
  const god = await serve({
    listen: "127.0.0.1:0",
    authkey: KEY,
    queues: { tasks: {}, tiny: { maxsize: 1 } },
  });
  const client = await connect({ addr: `127.0.0.1:${god.port}`, authkey: KEY });
  try {
    await client.queue("tiny").put("occupant");
    await client.queue<number>("tasks").put(7);
    const job = (await client.queue<number>("tasks").get({ timeout: 1000 }))!;
    await assert.rejects(
      job.complete(49, { queue: "tiny" }),
      /Cannot complete: .*queue "tiny" for its result is full \(maxsize 1\); the job stays leased/,
    );
    assert.equal(god.stats("tasks").queues[0].inFlight, 1);
  } finally {
    await client.close();
    await god.close();
  }
});

/** A producer and a completing consumer on their own connections, keeping score. */
class Load {
  readonly putAcked = new Set<number>();
  #next = 0;
  #stopped = false;
  readonly #inFlight = new Set<Promise<unknown>>();
  #producing: Promise<void> = Promise.resolve();
  #consuming: Promise<void> = Promise.resolve();

  constructor(readonly producer: Client, readonly consumer: Client, readonly total: number) {}

  start(): void {
    this.#producing = this.#produce();
    this.#consuming = this.#consume();
  }

  async #produce(): Promise<void> {
    const tasks = this.producer.queue<number>("tasks");
    while (!this.#stopped && this.#next < this.total) {
      while (this.#inFlight.size < 32 && !this.#stopped && this.#next < this.total) {
        const value = this.#next++;
        const put = tasks.put(value, { id: `t${value}` }).then(
          () => this.putAcked.add(value),
          () => {},
        );
        this.#inFlight.add(put);
        put.finally(() => this.#inFlight.delete(put));
      }
      await Promise.race([...this.#inFlight, sleep(5)]);
    }
    await Promise.allSettled([...this.#inFlight]);
  }

  async #consume(): Promise<void> {
    // Four in hand, as a worker doing real work would have.
    const consumer = this.consumer.queue<number>("tasks").consume({ prefetch: 4 });
    try {
      for await (const job of consumer) {
        if (this.#stopped) break;
        job.complete(job.value * 2, { queue: "results" }).catch(() => {});
      }
    } catch {
      // The god went away mid-iteration: the next connection carries on.
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.race([this.#producing, sleep(10_000)]);
    await Promise.allSettled([this.producer.close(), this.consumer.close()]);
    await Promise.race([this.#consuming, sleep(2000)]);
  }
}

async function startGod(runtime: Runtime, dir: string, port: number): Promise<Proc> {
  const god = start(runtime, "test/_support/durable_god.ts", [
    dir,
    "--port",
    String(port),
    "--fsync",
    "always",
  ], { env: { TASKWIRE_AUTHKEY: KEY } });
  await god.waitFor(/"event":"listening"/, 30_000);
  return god;
}

test("complete under SIGKILL (fsync always, Node and Deno gods): every task is queued or completed with one result, never both or neither", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taskwire-complete-"));
  const port = await freePort();
  let god = await startGod(RUNTIMES[0], dir, port);
  const options = { addr: `127.0.0.1:${port}`, authkey: KEY, waitForGod: true, maxBackoffMs: 100 };
  const load = new Load(
    await connect({ ...options, role: "producer" }),
    await connect({ ...options, role: "consumer" }),
    3000,
  );
  try {
    load.start();
    for (let round = 0; round < 4; round++) {
      await sleep(200 + Math.random() * 600);
      god.signal("SIGKILL");
      await god.exited;
      god = await startGod(RUNTIMES[(round + 1) % RUNTIMES.length], dir, port);
    }
    await sleep(300);
    await load.stop();
    // Every lease is back (the consumer is gone): what is queued and what was completed.
    const checker = await connect({ addr: `127.0.0.1:${port}`, authkey: KEY });
    try {
      const queued = new Set((await checker.peek<number>("tasks", 10_000)).map((j) => j.id));
      const results = await checker.peek<number>("results", 10_000);
      const resultIds = results.map((r) => r.id);
      assert.equal(new Set(resultIds).size, resultIds.length, "no result is stored twice");
      for (const result of results) {
        const task = result.id.replace(/^result:/, "");
        assert.ok(!queued.has(task), `task ${task} is still queued, yet has a result`);
        assert.equal(result.value, Number(task.slice(1)) * 2);
      }
      const completed = new Set(resultIds.map((id) => id.replace(/^result:/, "")));
      const lost = [...load.putAcked].filter((v) =>
        !queued.has(`t${v}`) && !completed.has(`t${v}`)
      );
      assert.deepEqual(
        lost.slice(0, 10),
        [],
        `${lost.length} acknowledged tasks are neither queued nor completed`,
      );
      assert.ok(completed.size > 0, "some tasks were completed across the crashes");
      assert.ok(load.putAcked.size > 0);
    } finally {
      await checker.close();
    }
  } finally {
    await load.stop();
    await god.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
