/** The god's in-process consumer: every job handled and acked once, bad payloads dead-lettered, a stop hands jobs back. */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { type Client, connect, consumeLocally, type God, type LocalJob, serve } from "../mod.ts";

const authkey = "local-consumer-key";
let god: God;
let client: Client;

before(async () => {
  god = await serve({ listen: "127.0.0.1:0", authkey });
  client = await connect({ addr: `127.0.0.1:${god.port}`, authkey, role: "test" });
});

after(async () => {
  await client.close();
  await god.close();
});

/** Waits (bounded) until `check` holds. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), `timed out waiting for ${what}`);
}

test("consumeLocally() hands every job over once, decoded on demand, and acks it", async () => {
  const q = client.queue<{ n: bigint; at: Date }>("local-all");
  const seen: LocalJob<{ n: bigint; at: Date }>[] = [];
  const consumer = consumeLocally<{ n: bigint; at: Date }>(
    god,
    "local-all",
    { prefetch: 8 },
    (job) => {
      seen.push(job);
    },
  );
  await q.putMany(Array.from({ length: 100 }, (_, i) => ({ n: BigInt(i) ** 3n, at: new Date(i) })));
  await until(() => god.stats("local-all").queues[0].totals.acked === 100, "100 acks");
  assert.equal(seen.length, 100);
  // The payload is the superjson text as the producer sent it; value decodes it.
  assert.match(seen[7].payload, /"json":/);
  assert.deepEqual(seen[7].value, { n: 343n, at: new Date(7) });
  assert.equal(new Set(seen.map((job) => job.id)).size, 100);
  const stats = god.stats("local-all").queues[0];
  assert.equal(stats.ready + stats.inFlight, 0);
  consumer.stop();
  assert.equal(god.stats("local-all").queues[0].consumers, 0);
});

test("consumeLocally() dead-letters a job its handler throws on, with the reason", async () => {
  const name = "local-bad";
  // Text that is not superjson, put through the operations layer (a client could not make it).
  const raw = god.ops.attach({
    door: "local",
    remote: "test",
    role: "test",
    runtime: "test",
    name: "raw",
    listed: false,
  });
  god.ops.put(
    raw,
    { queue: name, items: [{ id: "garbage" }], payloads: ["not json"] },
    () => "x",
    () => {},
  );
  await client.queue<number>(name).put(5);
  const values: unknown[] = [];
  const consumer = consumeLocally(god, name, { prefetch: 4 }, (job) => {
    values.push(job.value); // throws a ProtocolError for "not json"
  });
  await until(() => god.stats(name).queues[0].dead === 1, "the dead letter");
  await until(() => god.stats(name).queues[0].totals.acked === 1, "the good job's ack");
  assert.deepEqual(values, [5]);
  const [dead] = await client.deadList(name);
  assert.equal(dead.id, "garbage");
  assert.match(dead.reason ?? "", /cannot handle: Cannot decode payload/);
  consumer.stop();
});

test("stop() hands jobs not yet acked back to the queue for another consumer", async () => {
  const name = "local-stop";
  const q = client.queue<number>(name);
  let handled = 0;
  const consumer = consumeLocally<number>(god, name, { prefetch: 4 }, () => {
    handled++;
  });
  consumer.stop();
  consumer.stop(); // twice is harmless
  await q.putMany([1, 2, 3]);
  assert.equal(handled, 0);
  const stats = god.stats(name).queues[0];
  assert.equal(stats.ready, 3);
  assert.equal(stats.consumers, 0);
  const job = await q.get({ timeout: 1000 });
  assert.equal(job!.value, 1);
  await job!.ack();
});
