/** Queue semantics through the real client and god, over loopback TCP. */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  ArgumentError,
  type Client,
  connect,
  type God,
  type Job,
  RemoteError,
  serve,
} from "../mod.ts";
import { CURRENT, freePort, RUNTIMES, start } from "./_support/process.ts";

const authkey = "queue-test-key";
let god: God;
let client: Client;

before(async () => {
  god = await serve({
    listen: "127.0.0.1:0",
    authkey,
    queues: {
      tasks: {},
      results: {},
      short: { leaseMs: 200, maxAttempts: 2 },
      small: { maxsize: 2 },
    },
  });
  client = await connect({ addr: `127.0.0.1:${god.port}`, authkey, role: "test" });
});

after(async () => {
  await client.close();
  await god.close();
});

/** A fresh queue name per test, so tests do not see each other's jobs. */
let n = 0;
function fresh(prefix = "q"): string {
  return `${prefix}-${++n}`;
}

test("put/get round-trips rich values, FIFO within a priority and higher priority first", async () => {
  const q = client.queue<unknown>(fresh());
  const when = new Date(1234567890000);
  await q.put({ when, big: 2n ** 100n, m: new Map([[1, new Set(["a"])]]) });
  await q.putMany(["a", "b"]);
  await q.put("urgent", { priority: 9 });
  const first = await q.get({ timeout: 1000 });
  assert.equal(first!.value, "urgent");
  const rich = await q.get({ timeout: 1000 });
  assert.deepEqual(rich!.value, { when, big: 2n ** 100n, m: new Map([[1, new Set(["a"])]]) });
  assert.equal((await q.get({ timeout: 1000 }))!.value, "a");
  assert.equal((await q.get({ timeout: 1000 }))!.value, "b");
  await Promise.all([first!.ack(), rich!.ack()]);
});

test("get() blocks on the god until a put arrives, and times out to null", async () => {
  const name = fresh();
  const q = client.queue<number>(name);
  const waiting = q.get({ timeout: 10_000 });
  // The get is parked on the god (no polling): the god's stats show it.
  for (let i = 0; i < 100 && god.stats(name).queues[0].waitingGets === 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(god.stats(name).queues[0].waitingGets, 1);
  const producer = await connect({ addr: `127.0.0.1:${god.port}`, authkey });
  await producer.queue<number>(name).put(42);
  const job = await waiting;
  assert.equal(job!.value, 42);
  await job!.ack();
  assert.equal(await q.get({ timeout: 50 }), null);
  await producer.close();
});

test("consume() keeps exactly prefetch jobs unacked; acks open the window", async () => {
  const name = fresh();
  const q = client.queue<number>(name);
  await q.putMany(Array.from({ length: 20 }, (_, i) => i));
  const consumer = q.consume({ prefetch: 5 });
  const taken: Job<number>[] = [];
  for (let i = 0; i < 5; i++) taken.push((await consumer.next()).value as Job<number>);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(god.stats(name).queues[0].inFlight, 5);
  await taken[0].ack();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(god.stats(name).queues[0].inFlight, 5, "one ack lets one more in");
  assert.equal(god.stats(name).queues[0].totals.acked, 1);
  const seen = new Set(taken.map((j) => j.value));
  for (let i = 0; i < 15; i++) {
    const job = (await consumer.next()).value as Job<number>;
    seen.add(job.value);
    await job.ack();
  }
  await Promise.all(taken.slice(1).map((j) => j.ack()));
  assert.equal(seen.size, 20);
  await consumer.return();
  assert.equal(god.stats(name).queues[0].consumers, 0);
});

test("nack() returns a job (optionally delayed); touch() extends the lease", async () => {
  const q = client.queue<string>("short");
  await q.put("x");
  const job = (await q.get({ timeout: 1000 }))!;
  const deadline = await job.touch();
  assert.ok(deadline > Date.now());
  await job.nack({ delay: 50 });
  assert.equal(await q.get({ timeout: 0 }), null, "delayed after nack");
  const again = (await q.get({ timeout: 2000 }))!;
  assert.equal(again.value, "x");
  assert.equal(again.attempts, 2);
  await again.ack();
});

test("an expired lease redelivers the job; the late ack is refused; maxAttempts dead-letters it", async () => {
  const q = client.queue<string>("short");
  await q.put("slow", { id: "slow-1" });
  const first = (await q.get({ timeout: 1000 }))!;
  const second = (await q.get({ timeout: 3000 }))!; // after the 200 ms lease runs out
  assert.equal(second.value, "slow");
  assert.equal(second.attempts, 2);
  await assert.rejects(first.ack(), /No lease/);
  // The second lease expires too: attempts (2) are used up, so it goes to short.dead.
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(await q.get({ timeout: 0 }), null);
  const dead = await client.deadList("short");
  assert.equal(dead.length, 1);
  assert.equal(dead[0].id, "slow-1");
  assert.match(dead[0].reason!, /lease expired after 2 attempts/);
  assert.equal(await client.deadRequeue("short"), 1);
  const back = (await q.get({ timeout: 1000 }))!;
  assert.equal(back.value, "slow");
  await back.ack();
  await assert.rejects(second.ack(), /No lease/);
});

test("fail() dead-letters a job at once with its reason", async () => {
  const name = fresh();
  const q = client.queue<string>(name);
  await q.put("bad");
  await (await q.get({ timeout: 1000 }))!.fail("not an integer");
  const dead = await client.deadList(name);
  assert.equal(dead[0].reason, "not an integer");
  assert.equal(dead[0].value, "bad");
});

test("delayed jobs become ready in time order, after undelayed ones", async () => {
  const q = client.queue<string>(fresh());
  await q.put("later", { delay: 150 });
  await q.put("sooner", { delay: 50 });
  await q.put("now");
  const order: string[] = [];
  for (let i = 0; i < 3; i++) {
    const job = (await q.get({ timeout: 2000 }))!;
    order.push(job.value);
    await job.ack();
  }
  assert.deepEqual(order, ["now", "sooner", "later"]);
});

test("a put to a full queue waits until a get makes room, and times out with queue_full", async () => {
  const q = client.queue<number>("small");
  await q.putMany([1, 2]);
  let stored = false;
  const blocked = q.put(3).then(() => stored = true);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(stored, false, "the put waits while the queue is full");
  await (await q.get({ timeout: 1000 }))!.ack();
  await blocked;
  assert.equal(stored, true);
  await assert.rejects(q.put(4, { timeout: 100 }), (e: unknown) => {
    assert.ok(e instanceof RemoteError);
    assert.equal(e.code, "queue_full");
    return true;
  });
  await client.purge("small");
});

test("a repeated put id is ignored within the dedupe window", async () => {
  const name = fresh();
  const q = client.queue<string>(name);
  await q.put("once", { id: "dup-1" });
  await q.put("twice", { id: "dup-1" });
  const stats = god.stats(name).queues[0];
  assert.equal(stats.ready, 1);
  assert.equal(stats.totals.duplicates, 1);
});

test("bad arguments get clear errors and the connection stays usable", async () => {
  const strict = await serve({ listen: "127.0.0.1:0", authkey, allowCreate: false });
  const c = await connect({ addr: `127.0.0.1:${strict.port}`, authkey });
  await assert.rejects(c.queue("nope").put(1), /Unknown queue "nope"/);
  await assert.rejects(c.queue("nope").get({ timeout: 0 }), /Unknown queue "nope"/);
  const tasks = c.queue<unknown>("tasks");
  await assert.rejects(tasks.get({ timeout: -1 }), /Invalid timeout/);
  await assert.rejects(tasks.put(1, { delay: 1e12 }), /Invalid delay/);
  await assert.rejects(tasks.put(() => 1), /function cannot be sent/);
  await assert.rejects(tasks.put(Symbol("s")), /symbol cannot be sent/);
  // Checked on this side before anything is sent: a local ArgumentError.
  assert.throws(() => tasks.consume({ prefetch: -3 }), ArgumentError);
  assert.throws(() => tasks.consume({ prefetch: -3 }), /Invalid prefetch/);
  await tasks.put("still fine");
  const job = (await tasks.get({ timeout: 1000 }))!;
  await job.ack();
  await assert.rejects(job.ack(), ArgumentError);
  await assert.rejects(job.ack(), /already settled/);
  assert.equal(strict.stats("tasks").queues[0].totals.acked, 1);
  await c.close();
  await strict.close();
});

test("the client reconnects after the god restarts and retries puts without duplicates", async () => {
  const port = await freePort();
  let g = await serve({ listen: `127.0.0.1:${port}`, authkey });
  const events: string[] = [];
  const c = await connect({
    addr: `127.0.0.1:${port}`,
    authkey,
    maxBackoffMs: 200,
    onEvent: (e) => events.push(e.event),
  });
  const q = c.queue<number>("tasks");
  await q.put(1, { id: "r-1" });
  await g.close();
  // A put made while the god is down waits and is sent once it is back.
  const pending = q.put(2, { id: "r-2" });
  await new Promise((r) => setTimeout(r, 300));
  g = await serve({ listen: `127.0.0.1:${port}`, authkey });
  await pending;
  assert.ok(events.includes("disconnected") && events.includes("retrying"));
  assert.equal(events.filter((e) => e === "connected").length, 2);
  const job = (await q.get({ timeout: 1000 }))!;
  assert.equal(job.value, 2);
  await job.ack();
  await c.close();
  await g.close();
});

for (const runtime of RUNTIMES) {
  test(`a consumer process on ${runtime} killed with SIGKILL mid-task loses nothing (test on ${CURRENT})`, async () => {
    const name = fresh("kill");
    const q = client.queue<number>(name);
    await q.putMany(Array.from({ length: 50 }, (_, i) => i));
    const holder = start(runtime, "test/_support/holding_consumer.ts", [
      `127.0.0.1:${god.port}`,
      name,
      "10",
    ], { env: { TASKWIRE_AUTHKEY: authkey } });
    try {
      await holder.waitFor(/^holding 10$/);
      assert.equal(god.stats(name).queues[0].inFlight, 10);
      holder.signal("SIGKILL");
      await holder.exited;
      const seen = new Map<number, number>();
      for await (const job of q.consume({ prefetch: 16 })) {
        seen.set(job.value, job.attempts);
        await job.ack();
        if (seen.size === 50) break;
      }
      assert.equal(seen.size, 50, "every task reached the second consumer");
      assert.equal(
        [...seen.values()].filter((a) => a === 2).length,
        10,
        "the 10 held jobs were redelivered",
      );
    } finally {
      await holder.stop();
    }
  });
}
