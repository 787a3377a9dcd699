/**
 * Heartbeats and deadlines: a link that goes silent without FIN or RST (here,
 * a proxy that stops forwarding) is noticed by both sides within three
 * heartbeats: the god drops the client and its leased jobs go to another
 * consumer; the client closes the link and reconnects. A request that gets no
 * reply fails with a TimeoutError naming it. A job whose lease ran out on one
 * consumer goes to another when there is one.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, ConnectionLostError, serve, TimeoutError } from "../mod.ts";
import type { ClientEvent } from "../lib/client/api.ts";
import { Broker } from "../lib/queue/broker.ts";
import { Owner } from "../lib/queue/backend.ts";
import type { Delivery } from "../lib/queue/types.ts";
import { LinkProxy } from "./_support/link_proxy.ts";
import { until } from "./_support/until.ts";

const KEY = "heartbeat-test-key";

test("a consumer behind a link gone silent is dropped by the god within three heartbeats; its jobs go to a healthy one", async () => {
  const god = await serve({ listen: "127.0.0.1:0", authkey: KEY, limits: { heartbeatMs: 200 } });
  const link = await LinkProxy.start(god.port);
  const events: string[] = [];
  const silent = await connect({
    addr: `127.0.0.1:${link.port}`,
    authkey: KEY,
    name: "behind-the-link",
    onEvent: (e: ClientEvent) => events.push(e.event),
  });
  const healthy = await connect({ addr: `127.0.0.1:${god.port}`, authkey: KEY });
  try {
    const tasks = silent.queue<number>("tasks");
    await tasks.putMany([1, 2, 3]);
    const held = tasks.consume({ prefetch: 3 });
    for (let i = 0; i < 3; i++) await held.next();
    assert.equal(god.stats("tasks").queues[0].inFlight, 3);
    const partitionedAt = Date.now();
    link.partition();
    // The god hears nothing for three heartbeats: it drops the session, the leases come back.
    await until(
      "the god to drop the silent consumer",
      () => !god.stats().connections.some((c) => c.name === "behind-the-link"),
    );
    const noticedIn = Date.now() - partitionedAt;
    assert.ok(noticedIn < 5_000, `noticed after ${noticedIn} ms`);
    const got: number[] = [];
    for (const job of await healthy.queue<number>("tasks").getMany(3, { timeout: 2000 })) {
      got.push(job.value);
      await job.ack();
    }
    assert.deepEqual(got.sort(), [1, 2, 3]);
    // The silent client notices too (it hears no pongs) and, once the link heals, is back.
    await until("the client to notice", () => events.includes("disconnected"));
    await held.return(); // so the reconnected client does not take the next job itself
    link.heal();
    await until(
      "the client to reconnect",
      () => events.filter((e) => e === "connected").length >= 2,
    );
    await tasks.put(4);
    assert.equal((await healthy.queue<number>("tasks").get({ timeout: 2000 }))?.value, 4);
  } finally {
    await Promise.allSettled([silent.close(), healthy.close()]);
    await link.close();
    await god.close();
  }
});

test("an idle connection survives: heartbeats keep it alive and cost nothing while it is busy", async () => {
  const god = await serve({ listen: "127.0.0.1:0", authkey: KEY, limits: { heartbeatMs: 100 } });
  const events: string[] = [];
  const client = await connect({
    addr: `127.0.0.1:${god.port}`,
    authkey: KEY,
    name: "idle",
    onEvent: (e: ClientEvent) => events.push(e.event),
  });
  try {
    // Ten heartbeats with nothing to do: pings and pongs keep the session.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.deepEqual(events, ["connected"]);
    assert.ok(god.stats().connections.some((c) => c.name === "idle"));
    await client.queue("tasks").put("still here");
  } finally {
    await client.close();
    await god.close();
  }
});

test("a request that gets no reply fails with a TimeoutError that names it", async () => {
  // Heartbeats far apart, so the deadline speaks first.
  const god = await serve({ listen: "127.0.0.1:0", authkey: KEY, limits: { heartbeatMs: 60_000 } });
  const link = await LinkProxy.start(god.port);
  const client = await connect({
    addr: `127.0.0.1:${link.port}`,
    authkey: KEY,
    requestTimeoutMs: 300,
    reconnect: false,
  });
  try {
    link.partition();
    await assert.rejects(
      client.stats(),
      (error: unknown) =>
        error instanceof TimeoutError &&
        /No reply from the god at .* to Stats within its deadline/.test(error.message),
    );
    await assert.rejects(
      client.queue("tasks").get({ timeout: 200 }),
      (error: unknown) => error instanceof TimeoutError && / to Get /.test(error.message),
    );
  } finally {
    link.heal();
    await client.close().catch(() => {});
    await link.close();
    await god.close();
  }
});

test("a client gives up on a god gone silent and says why", async () => {
  const god = await serve({ listen: "127.0.0.1:0", authkey: KEY, limits: { heartbeatMs: 150 } });
  const link = await LinkProxy.start(god.port);
  const client = await connect({ addr: `127.0.0.1:${link.port}`, authkey: KEY, reconnect: false });
  try {
    const waiting = client.queue("tasks").get({ timeout: 30_000 });
    link.partition();
    await assert.rejects(
      waiting,
      (error: unknown) => error instanceof ConnectionLostError && /went silent/.test(error.message),
    );
  } finally {
    await client.close().catch(() => {});
    await link.close();
    await god.close();
  }
});

test("Broker: a job whose lease ran out on one consumer goes to another with room", () => {
  const broker = new Broker({ queues: { q: { leaseMs: 100 } } });
  const stuck = new Owner();
  const other = new Owner();
  const got: Record<string, Delivery[]> = { stuck: [], other: [] };
  const take = (name: string) => (deliveries: Delivery[]) => got[name].push(...deliveries);
  const item = (id: string) => ({ id, payload: "{}", priority: 0, delayMs: 0 });
  broker.put(null, "q", [item("a")], { now: 0 }, () => {});
  broker.subscribe(stuck, "q", { prefetch: 1, now: 0 }, take("stuck"));
  assert.equal(got.stuck.length, 1);
  broker.subscribe(other, "q", { prefetch: 1, now: 0 }, take("other"));
  // The other consumer is busy with a job of its own (leased later) when the first lease runs out.
  broker.put(null, "q", [item("b")], { now: 100 }, () => {});
  assert.equal(got.other.length, 1);
  broker.tick(150);
  // The stuck consumer has room again, but the expired job waits for the other one.
  assert.equal(got.stuck.length, 1, "not handed back to the consumer it expired on");
  assert.equal(broker.stats(150, "q")[0].ready, 1);
  assert.deepEqual(broker.ack(other, [got.other[0].tag], 151), []);
  assert.equal(got.other.length, 2, "the other consumer takes it once it has room");
  assert.equal(got.other[1].job.id, "a");
  assert.equal(got.other[1].job.attempts, 2);
});
