/**
 * `complete` and `call()` on the JetStream store, with two gods sharing it:
 * a result is stored before its task is acked (in two steps: a crash between
 * redelivers the task, and the result's id keeps a second copy out); a call
 * made through one god is answered by a consumer of the other; a dead-lettered
 * call rejects across gods; when the caller's god is gone, the answer lands in
 * the fallback queue.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { type Client, connect, ErrorCode, type God, RemoteError, serve } from "../mod.ts";
import { openJetStream } from "../lib/jetstream/open.ts";
import { natsSkip, startNats } from "./_support/nats.ts";

const skip = natsSkip();
const authkey = "jetstream-calls-key";
let nats: Awaited<ReturnType<typeof startNats>> | null = null;
let n = 0;
const fresh = () => `jscalls${++n}`;

/** A god on the shared store. */
async function god(): Promise<God> {
  const backend = await openJetStream(nats!.node.url, {});
  return serve({ listen: "127.0.0.1:0", authkey, backend });
}

const client = (g: God): Promise<Client> => connect({ addr: `127.0.0.1:${g.port}`, authkey });

before(async () => {
  if (!skip) nats = await startNats();
});
after(async () => {
  await nats?.close();
});

test("complete on JetStream stores the result, then acks the task", { skip }, async () => {
  const a = await god();
  const c = await client(a);
  try {
    const queue = fresh();
    await c.queue<number>(queue).put(7);
    const job = (await c.queue<number>(queue).get({ timeout: 5000 }))!;
    await job.complete(49);
    const result = (await c.queue<number>(`${queue}.results`).get({ timeout: 5000 }))!;
    assert.equal(result.value, 49);
    assert.equal(result.id, `result:${job.id}`);
    await result.ack();
    const [stats] = (await c.stats(queue)).queues;
    assert.equal(stats.ready + stats.inFlight, 0, "the task was acked");
  } finally {
    await c.close();
    await a.close();
  }
});

test(
  "complete of many tasks at once: each result stored, each task acked; a full result queue fails only its own",
  { skip },
  async () => {
    const a = await god();
    const c = await client(a);
    try {
      const queue = fresh();
      const full = `${queue}.full`;
      await c.declare(full, { maxsize: 1 });
      await c.queue<string>(full).put("in the way");
      const values = Array.from({ length: 20 }, (_, i) => i);
      await c.queue<number>(queue).putMany(values);
      const jobs = await c.queue<number>(queue).getMany(20, { timeout: 5000 });
      assert.equal(jobs.length, 20);
      // Completed in one turn: one request, its results published together.
      const outcomes = await Promise.allSettled(
        jobs.map((job, i) =>
          i === 7 ? job.complete("no room", { queue: full }) : job.complete(job.value * 2)
        ),
      );
      const failed = outcomes.flatMap((o, i) => o.status === "rejected" ? [[i, o.reason]] : []);
      assert.equal(failed.length, 1);
      assert.equal(failed[0][0], 7);
      assert.match(String(failed[0][1]), /full/);
      const results = await c.queue<number>(`${queue}.results`).getMany(19, { timeout: 5000 });
      assert.deepEqual(
        results.map((r) => r.value).sort((x, y) => x - y),
        values.filter((v) => v !== jobs[7].value).map((v) => v * 2).sort((x, y) => x - y),
      );
      await Promise.all(results.map((r) => r.ack()));
      const [stats] = (await c.stats(queue)).queues;
      assert.equal(stats.ready, 0, "the other tasks were acked");
      assert.equal(stats.inFlight, 1, "the task whose result found no room stays leased");
    } finally {
      await c.close();
      await a.close();
    }
  },
);

test(
  "a call through one god is answered by a consumer of another; a dead-lettered call rejects across gods",
  {
    skip,
  },
  async () => {
    const a = await god();
    const b = await god();
    const caller = await client(a);
    const worker = await client(b);
    try {
      const queue = fresh();
      const answered = caller.queue<number>(queue).call(12, { timeout: 10_000 });
      const job = (await worker.queue<number>(queue).get({ timeout: 5000 }))!;
      assert.equal(job.value, 12);
      await job.complete(144);
      assert.equal(await answered, 144);
      const results = (await worker.stats()).queues.find((q) => q.name === `${queue}.results`);
      assert.equal(results?.ready ?? 0, 0, "an answer taken by its caller is not stored");

      const dying = caller.queue<number>(queue).call(13, { timeout: 10_000 });
      dying.catch(() => {}); // checked below
      const doomed = (await worker.queue<number>(queue).get({ timeout: 5000 }))!;
      await doomed.fail("not today");
      await assert.rejects(
        dying,
        (error: unknown) =>
          error instanceof RemoteError && error.code === ErrorCode.DeadLettered &&
          /was dead-lettered: not today/.test(error.message),
      );
    } finally {
      await caller.close();
      await worker.close();
      await a.close();
      await b.close();
    }
  },
);

test(
  "when the caller's god is gone, the answer is stored in the fallback queue",
  { skip },
  async () => {
    const a = await god();
    const b = await god();
    const caller = await client(a);
    const worker = await client(b);
    try {
      const queue = fresh();
      const calling = caller.queue<number>(queue).call(5, { timeout: 10_000 });
      calling.catch(() => {}); // its god goes away: it rejects
      const job = (await worker.queue<number>(queue).get({ timeout: 5000 }))!;
      await caller.close();
      await a.close();
      await job.complete(25);
      const result = (await worker.queue<number>(`${queue}.results`).get({ timeout: 5000 }))!;
      assert.equal(result.value, 25);
      assert.equal(result.id, `result:${job.id}`);
      await result.ack();
    } finally {
      // Closing twice is harmless; left open after a failure, they would keep the test file alive.
      await caller.close();
      await a.close();
      await worker.close();
      await b.close();
    }
  },
);
