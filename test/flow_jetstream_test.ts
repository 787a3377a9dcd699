/**
 * Flow control on the JetStream store, against a real nats-server where one
 * is installed: pause and resume, retry policies, progress and the jobs in
 * flight, the attempt history and deletion of dead letters, and schedules
 * that two gods both run but that put one job per slot, and none again after
 * a restart. Rate limits are refused with a message that says so (the rule
 * itself is checked everywhere).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { type Client, connect, type God, RemoteError, serve } from "../mod.ts";
import { openJetStream } from "../lib/jetstream/open.ts";
import { refuseFlowOptions } from "../lib/jetstream/backend.ts";
import { natsSkip, startNats } from "./_support/nats.ts";

const skip = natsSkip();
const authkey = "flow-jetstream-key";

test("refuseFlowOptions() refuses a rate limit and says what to do", () => {
  refuseFlowOptions("tasks", { paused: true, rateLimit: null });
  assert.throws(
    () => refuseFlowOptions("tasks", { rateLimit: { count: 1, perMs: 1000 } }),
    (e: unknown) =>
      e instanceof RemoteError &&
      e.message ===
        'Cannot declare queue "tasks" with rateLimit: the JetStream store does not support it yet (docs/FLOW.md); use the embedded store for this queue, or leave it out',
  );
});

test("JetStream: pause, backoff, progress, in flight, dead-letter history and delete", {
  skip,
}, async () => {
  const nats = await startNats();
  const god = await serve({
    listen: "127.0.0.1:0",
    authkey,
    backend: await openJetStream(nats.node.url, { queues: { tasks: {} } }),
  });
  const client = await connect({ addr: `127.0.0.1:${god.port}`, authkey, name: "js-worker" });
  try {
    const tasks = client.queue<number>("tasks");
    await assert.rejects(
      client.declare("tasks", { rateLimit: { count: 5, perMs: 1000 } }),
      /rateLimit: the JetStream store does not support it yet/,
    );
    // Pause: puts are taken, nothing is handed out; resume serves the waiting get.
    assert.equal((await client.pause("tasks")).paused, true);
    await tasks.put(1, { id: "one" });
    assert.equal(await tasks.get({ timeout: 300 }), null);
    assert.equal((await client.stats("tasks")).queues[0].paused, true);
    const waiting = tasks.get({ timeout: 10_000 });
    await client.resume("tasks");
    const one = (await waiting)!;
    assert.equal(one.id, "one");
    // Progress, seen in flight and in stats.
    await one.progress({ step: 2 });
    const [listed] = await client.inFlight("tasks");
    assert.deepEqual([listed.id, listed.by, listed.progress], ["one", "js-worker", { step: 2 }]);
    assert.equal((await client.stats("tasks")).queues[0].progress[0].id, "one");
    await one.ack();
    // A put's backoff holds a nack without delay back; the queue's maxAttempts then dead-letters it.
    await client.declare("tasks", { maxAttempts: 2 });
    await tasks.put(2, { id: "flaky", backoff: { type: "fixed", delayMs: 2000 } });
    const first = (await tasks.get({ timeout: 10_000 }))!;
    await first.nack();
    assert.equal(await tasks.get({ timeout: 200 }), null, "held back by its backoff");
    const second = (await tasks.get({ timeout: 10_000 }))!;
    assert.deepEqual([second.id, second.attempts], ["flaky", 2]);
    await second.fail("still broken");
    const [dead] = await client.deadList("tasks");
    assert.equal(dead.id, "flaky");
    assert.deepEqual(dead.history!.map((a) => [a.by, a.why]), [["js-worker", "still broken"]]);
    assert.equal(await client.deadDelete("tasks", ["flaky"]), 1);
    assert.deepEqual(await client.deadList("tasks"), []);
  } finally {
    await client.close();
    await god.close();
    await nats.close();
  }
});

test("JetStream: a schedule two gods run puts one job per slot, and goes on after a restart", {
  skip,
}, async () => {
  // Real time here: the JetStream store times pulls and leases with the wall clock.
  const nats = await startNats();
  const gods: God[] = [];
  const start = async () => {
    const god = await serve({
      listen: "127.0.0.1:0",
      authkey,
      backend: await openJetStream(nats.node.url, { queues: { reports: {} } }),
    });
    gods.push(god);
    return god;
  };
  let admin: Client | null = null;
  const slotOf = (id: string) => Number(/^schedule:each-second:(\d+)$/.exec(id)![1]);
  try {
    const a = await start();
    const b = await start();
    admin = await connect({ addr: `127.0.0.1:${a.port}`, authkey });
    await admin.schedule("each-second", { queue: "reports", every: 1000, value: "tick" });
    await b.ops.backend.refresh!(); // god b takes the schedule in now (else at its next refresh)
    const reports = admin.queue<string>("reports");
    const ids: string[] = [];
    for (let i = 0; i < 40 && ids.length < 3; i++) {
      const job = await reports.get({ timeout: 500 });
      if (job === null) continue;
      assert.equal(job.value, "tick");
      ids.push(job.id);
      await job.ack();
    }
    assert.ok(ids.length >= 3, `slots put: ${ids.join(", ")}`);
    // Both gods put every slot; each slot is one job.
    const duplicates = gods.reduce((n, g) => n + g.stats("reports").queues[0].totals.duplicates, 0);
    assert.ok(duplicates >= 1, "the second god's put of a slot was a duplicate");
    for (let i = 1; i < ids.length; i++) assert.equal(slotOf(ids[i]) - slotOf(ids[i - 1]), 1000);

    // God a restarts: the schedule, with its last slot, is read back from JetStream.
    await admin.close();
    admin = null;
    await a.close();
    gods.shift();
    const again = await start();
    admin = await connect({ addr: `127.0.0.1:${again.port}`, authkey });
    const [listed] = await admin.schedules();
    assert.ok(listed.last! >= slotOf(ids.at(-1)!), "the last slot put survived");
    const later = (await admin.queue<string>("reports").get({ timeout: 10_000 }))!;
    assert.ok(slotOf(later.id) > slotOf(ids.at(-1)!), "no slot is put twice");
    await later.ack();
    assert.equal(await admin.unschedule("each-second"), true);
  } finally {
    await admin?.close();
    for (const god of gods) await god.close();
    await nats.close();
  }
});
