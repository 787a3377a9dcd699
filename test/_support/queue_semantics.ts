/**
 * The queue-semantics tests, shared by every queue backend: each test runs
 * through the real client and a god over loopback TCP. A backend is chosen by
 * `kind`; where a backend cannot give the embedded store's guarantee, the test
 * says so and checks the documented behaviour instead (see LIMITATIONS in
 * lib/jetstream/backend.ts and README "Growing past one machine").
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { type Client, connect, type Job, type QueueStats, RemoteError } from "../../mod.ts";

/** Which backend a god under test runs on. */
export type BackendKind = "embedded" | "jetstream";

/** A god under test, started by the suite's caller. */
export interface GodUnderTest {
  addr: string;
  close(): Promise<void>;
}

/** Queues every god under test must declare. */
export const SEMANTICS_QUEUES = {
  tasks: {},
  results: {},
  short: { leaseMs: 300, maxAttempts: 2 },
  small: { maxsize: 2 },
} as const;

export const SEMANTICS_KEY = "semantics-test-key";

/**
 * Registers the shared tests for one backend. `start` makes a god declaring
 * {@link SEMANTICS_QUEUES} with key {@link SEMANTICS_KEY}; `skip` skips every
 * test (with the reason shown).
 */
export function queueSemantics(
  kind: BackendKind,
  start: () => Promise<GodUnderTest>,
  skip: string | false = false,
): void {
  let god: GodUnderTest | null = null;
  let client: Client;
  let n = 0;
  const fresh = (prefix = "q") => `${prefix}-${kind}-${++n}`;
  const stats = async (queue: string): Promise<QueueStats> => (await client.stats(queue)).queues[0];
  const t = (name: string, fn: () => Promise<void>) =>
    test(`[${kind}] ${name}`, { skip }, async () => {
      if (god === null) {
        god = await start();
        client = await connect({ addr: god.addr, authkey: SEMANTICS_KEY, role: "test" });
      }
      await fn();
    });

  t("put/get round-trips values in FIFO order within a priority", async () => {
    const q = client.queue<unknown>(fresh());
    const when = new Date(1234567890000);
    await q.put({ when, big: 2n ** 100n });
    await q.putMany(["a", "b"]);
    await q.put("urgent", { priority: 9 });
    const got: Job<unknown>[] = [];
    for (let i = 0; i < 4; i++) got.push((await q.get({ timeout: 2000 }))!);
    const values = got.map((j) => j.value);
    if (kind === "embedded") {
      assert.deepEqual(values.slice(0, 1), ["urgent"], "higher priority first");
      assert.deepEqual(values[1], { when, big: 2n ** 100n });
      assert.deepEqual(values.slice(2), ["a", "b"]);
    } else {
      // Documented exception: JetStream delivers in FIFO order; the priority is kept.
      assert.deepEqual(values[0], { when, big: 2n ** 100n });
      assert.deepEqual(values.slice(1), ["a", "b", "urgent"]);
      assert.equal(got[3].priority, 9);
    }
    await Promise.all(got.map((j) => j.ack()));
  });

  t("get() waits on the god until a put arrives, and times out to null", async () => {
    const name = fresh();
    const q = client.queue<number>(name);
    const waiting = q.get({ timeout: 10_000 });
    for (let i = 0; i < 200 && (await stats(name)).waitingGets === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal((await stats(name)).waitingGets, 1);
    const producer = await connect({ addr: god!.addr, authkey: SEMANTICS_KEY });
    await producer.queue<number>(name).put(42);
    const job = await waiting;
    assert.equal(job!.value, 42);
    await job!.ack();
    assert.equal(await q.get({ timeout: 50 }), null);
    assert.equal(await q.get({ timeout: 0 }), null);
    await producer.close();
  });

  t("consume() keeps prefetch jobs unacked; acks open the window", async () => {
    const name = fresh();
    const q = client.queue<number>(name);
    await q.putMany(Array.from({ length: 20 }, (_, i) => i));
    const consumer = q.consume({ prefetch: 5 });
    const taken: Job<number>[] = [];
    for (let i = 0; i < 5; i++) taken.push((await consumer.next()).value as Job<number>);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await stats(name)).inFlight, 5);
    assert.equal((await stats(name)).consumers, 1);
    await taken[0].ack();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await stats(name)).inFlight, 5, "one ack lets one more in");
    const seen = new Set(taken.map((j) => j.value));
    for (let i = 0; i < 15; i++) {
      const job = (await consumer.next()).value as Job<number>;
      seen.add(job.value);
      await job.ack();
    }
    await Promise.all(taken.slice(1).map((j) => j.ack()));
    assert.equal(seen.size, 20);
    await consumer.return();
    assert.equal((await stats(name)).consumers, 0);
    assert.equal((await stats(name)).inFlight, 0);
  });

  t("nack() returns a job (optionally delayed); touch() extends the lease", async () => {
    const q = client.queue<string>("short");
    await q.put("x");
    const job = (await q.get({ timeout: 2000 }))!;
    // Touch twice across the 300 ms lease: the job must stay ours.
    await new Promise((r) => setTimeout(r, 200));
    assert.ok((await job.touch()) > Date.now());
    await new Promise((r) => setTimeout(r, 200));
    assert.ok((await job.touch()) > Date.now());
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(await q.get({ timeout: 0 }), null, "a touched job is not redelivered");
    await job.nack({ delay: 100 });
    assert.equal(await q.get({ timeout: 0 }), null, "delayed after nack");
    const again = (await q.get({ timeout: 3000 }))!;
    assert.equal(again.value, "x");
    assert.equal(again.attempts, 2);
    await again.ack();
  });

  t(
    "an expired lease redelivers; the late ack is refused; maxAttempts dead-letters; requeue brings it back",
    async () => {
      const q = client.queue<string>("short");
      await q.put("slow", { id: `slow-${kind}` });
      const first = (await q.get({ timeout: 2000 }))!;
      const second = (await q.get({ timeout: 5000 }))!; // after the 300 ms lease runs out
      assert.equal(second.value, "slow");
      assert.equal(second.attempts, 2);
      await assert.rejects(first.ack(), /No lease/);
      // The second lease expires too: attempts (2) are used up, so it goes to short.dead.
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(await q.get({ timeout: 0 }), null);
      let dead = await client.deadList("short");
      for (let i = 0; i < 50 && dead.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        dead = await client.deadList("short");
      }
      assert.equal(dead.length, 1);
      assert.equal(dead[0].id, `slow-${kind}`);
      assert.equal(dead[0].value, "slow");
      assert.match(dead[0].reason!, /lease expired after 2 attempts/);
      assert.equal((await stats("short")).dead, 1);
      assert.equal(await client.deadRequeue("short"), 1);
      const back = (await q.get({ timeout: 2000 }))!;
      assert.equal(back.value, "slow");
      assert.equal(back.attempts, 1, "attempts start again after a requeue");
      await back.ack();
      await assert.rejects(second.ack(), /No lease/);
      assert.deepEqual(await client.deadList("short"), []);
    },
  );

  t("fail() dead-letters a job at once with its reason", async () => {
    const name = fresh();
    const q = client.queue<string>(name);
    await q.put("bad", { id: "bad-1" });
    await (await q.get({ timeout: 2000 }))!.fail("not an integer");
    const dead = await client.deadList(name);
    assert.equal(dead.length, 1);
    assert.equal(dead[0].reason, "not an integer");
    assert.equal(dead[0].value, "bad");
    assert.equal(dead[0].id, "bad-1");
    assert.equal(await q.get({ timeout: 0 }), null);
  });

  t("delayed jobs become ready in time order, after undelayed ones", async () => {
    const name = fresh();
    const q = client.queue<string>(name);
    const started = Date.now();
    await q.put("later", { delay: 600 });
    await q.put("sooner", { delay: 200 });
    await q.put("now");
    const s = await stats(name);
    assert.equal(s.delayed, 2);
    const order: string[] = [];
    const at: number[] = [];
    for (let i = 0; i < 3; i++) {
      const job = (await q.get({ timeout: 5000 }))!;
      order.push(job.value);
      at.push(Date.now() - started);
      assert.equal(job.attempts, 1, "waiting for a delay is not an attempt");
      await job.ack();
    }
    assert.deepEqual(order, ["now", "sooner", "later"]);
    assert.ok(at[1] >= 200 && at[2] >= 600, `never early: ${at}`);
  });

  t(
    "a put to a full queue waits until a get makes room, and times out with queue_full",
    async () => {
      const q = client.queue<number>("small");
      await q.putMany([1, 2]);
      let stored = false;
      const blocked = q.put(3).then(() => stored = true);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(stored, false, "the put waits while the queue is full");
      assert.equal((await stats("small")).waitingPuts, 1);
      await (await q.get({ timeout: 2000 }))!.ack();
      await blocked;
      assert.equal(stored, true);
      await assert.rejects(q.put(4, { timeout: 200 }), (e: unknown) => {
        assert.ok(e instanceof RemoteError);
        assert.equal(e.code, "queue_full");
        return true;
      });
      assert.equal(await client.purge("small"), 2);
      assert.equal((await stats("small")).ready, 0);
    },
  );

  t("a repeated put id is ignored within the dedupe window", async () => {
    const name = fresh();
    const q = client.queue<string>(name);
    await q.put("once", { id: "dup-1" });
    await q.put("twice", { id: "dup-1" });
    const s = await stats(name);
    assert.equal(s.ready, 1);
    assert.equal(s.totals.duplicates, 1);
    const peeked = await client.peek(name);
    assert.deepEqual(peeked.map((j) => j.value), ["once"]);
  });

  t("a dropped client connection returns its leased jobs at once", async () => {
    const name = fresh();
    const q = client.queue<number>(name);
    await q.putMany([1, 2, 3]);
    const other = await connect({ addr: god!.addr, authkey: SEMANTICS_KEY, reconnect: false });
    const held = [];
    for (let i = 0; i < 2; i++) held.push(await other.queue<number>(name).get({ timeout: 2000 }));
    assert.deepEqual(held.map((j) => j!.value), [1, 2]);
    await other.close();
    const back: Job<number>[] = [];
    for (let i = 0; i < 3; i++) back.push((await q.get({ timeout: 2000 }))!);
    // Well within the default 30 s lease: the jobs came back when the connection closed.
    assert.deepEqual(back.map((j) => j.value).sort(), [1, 2, 3]);
    assert.deepEqual(back.map((j) => j.attempts).sort(), [1, 2, 2]);
    await Promise.all(back.map((j) => j.ack()));
  });

  test(`[${kind}] close the god`, { skip }, async () => {
    await client?.close();
    await god?.close();
  });
}
