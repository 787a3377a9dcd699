/**
 * Flow control through both client doors (TCP and HTTP) of one god, with the
 * library's client: pause and resume, progress (seen by an admin, in stats and
 * by a caller), retry policies and the attempt history of dead letters,
 * dead-letter deletion, rate limits across connections, and schedules. The
 * god's clock is injected (real time plus an offset the test moves), so
 * schedules, backoff and rate limits are tested without sleeping through them.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  type Client,
  connect,
  describeScope,
  ErrorCode,
  type God,
  makeWorkerKey,
  RemoteError,
  serve,
} from "../mod.ts";
import { type HttpFace, serveHttp } from "../lib/http/serve.ts";

const AUTHKEY = "flow-doors-key";
type Door = "tcp" | "http";
const DOORS: Door[] = ["tcp", "http"];

let god: God;
let face: HttpFace;
let offset = 0;
let n = 0;
const fresh = (door: Door) => `flow-${door}-${++n}`;

/** Moves the god's clock forward and lets it do what became due. */
function advance(ms: number): void {
  offset += ms;
  god.ops.advance();
}

before(async () => {
  god = await serve({
    listen: "127.0.0.1:0",
    authkey: AUTHKEY,
    limits: { maxProgressBytes: 64 },
    now: () => Date.now() + offset,
  });
  face = await serveHttp(god, { listen: "127.0.0.1:0" });
});
after(async () => {
  await face.close();
  await god.close();
});

async function client(door: Door, name = `flow-${door}-client`): Promise<Client> {
  return await connect({
    addr: door === "tcp" ? `127.0.0.1:${god.port}` : face.url,
    authkey: AUTHKEY,
    role: "test",
    name,
  });
}

for (const door of DOORS) {
  test(`[${door}] a paused queue takes puts and hands out nothing until resumed`, async () => {
    const c = await client(door);
    try {
      const name = fresh(door);
      const q = c.queue<number>(name);
      await q.put(1);
      assert.equal((await c.pause(name)).paused, true);
      await q.put(2);
      assert.equal(await q.get({ timeout: 100 }), null);
      const [stats] = (await c.stats(name)).queues;
      assert.deepEqual([stats.paused, stats.ready], [true, 2]);
      const waiting = q.get({ timeout: 5000 });
      assert.equal((await c.resume(name)).paused, false);
      const job = await waiting;
      assert.equal(job?.value, 1);
      await job!.ack();
      await assert.rejects(
        c.pause("flow-no-such-queue"),
        (e: unknown) =>
          e instanceof RemoteError && e.code === ErrorCode.UnknownQueue &&
          e.message.includes('Cannot pause "flow-no-such-queue": unknown queue'),
      );
      assert.ok(!god.ops.backend.queueNames.includes("flow-no-such-queue"));
    } finally {
      await c.close();
    }
  });

  test(`[${door}] progress is seen in flight by an admin, in stats and by the caller`, async () => {
    const worker = await client(door, `worker-${door}`);
    const admin = await client(door, "admin");
    const caller = await client(door === "tcp" ? "http" : "tcp", "caller");
    try {
      const name = fresh(door);
      const heard: unknown[] = [];
      const answer = caller.queue<number>(name).call<number>(6, {
        timeout: 10_000,
        onProgress: (p) => heard.push(p),
      });
      answer.catch(() => {}); // awaited below; a failed check must not leave it unhandled
      const job = (await worker.queue<number>(name).get({ timeout: 5000 }))!;
      await job.progress({ done: 1, of: 2 });
      const [listed] = await admin.inFlight(name);
      assert.deepEqual(
        { id: listed.id, by: listed.by, progress: listed.progress, value: listed.value },
        { id: job.id, by: `worker-${door}`, progress: { done: 1, of: 2 }, value: 6 },
      );
      assert.ok(listed.deadline! > Date.now() && typeof listed.progressAt === "number");
      const [stats] = (await admin.stats(name)).queues;
      assert.deepEqual(stats.progress.map((p) => [p.id, JSON.parse(p.value).json]), [
        [job.id, { done: 1, of: 2 }],
      ]);
      await job.progress(2n);
      await assert.rejects(
        job.progress("x".repeat(100)),
        (e: unknown) =>
          e instanceof RemoteError && e.code === ErrorCode.Limit &&
          /a value of 111 bytes exceeds maxProgressBytes 64; report a number or a small object/
            .test(e.message),
      );
      await job.complete(36);
      assert.equal(await answer, 36);
      assert.deepEqual(heard.at(-1), 2n, "the caller heard the last progress before the result");
      assert.deepEqual(await admin.inFlight(name), []);
    } finally {
      await Promise.all([worker.close(), admin.close(), caller.close()]);
    }
  });

  test(`[${door}] a put's backoff holds a nacked job back; its dead letter lists every attempt; dead letters can be deleted`, async () => {
    const c = await client(door, `retrier-${door}`);
    try {
      const name = fresh(door);
      await c.declare(name, { maxAttempts: 2 });
      const q = c.queue<string>(name);
      await q.put("flaky", { id: "flaky", backoff: { type: "fixed", delayMs: 60_000 } });
      await q.put("doomed", { id: "doomed" });
      const first = (await q.get({ timeout: 1000 }))!;
      await first.nack();
      const [stats] = (await c.stats(name)).queues;
      assert.deepEqual([stats.ready, stats.delayed], [1, 1], "held back by its own policy");
      const doomed = (await q.get({ timeout: 1000 }))!;
      assert.equal(doomed.id, "doomed");
      await doomed.fail("cannot parse");
      advance(60_000);
      const second = (await q.get({ timeout: 1000 }))!;
      assert.deepEqual([second.id, second.attempts], ["flaky", 2]);
      await second.nack();
      const dead = await c.deadList(name);
      const flaky = dead.find((j) => j.id === "flaky")!;
      assert.equal(flaky.reason, "nacked after 2 attempts");
      assert.deepEqual(flaky.history!.map((a) => [a.by, a.why]), [
        [`retrier-${door}`, "nacked"],
        [`retrier-${door}`, "nacked"],
      ]);
      assert.ok(flaky.history![1].at - flaky.history![0].at >= 60_000);
      assert.deepEqual(dead.find((j) => j.id === "doomed")!.history!.map((a) => a.why), [
        "cannot parse",
      ]);
      assert.equal(await c.deadDelete(name, ["doomed"]), 1);
      assert.deepEqual((await c.deadList(name)).map((j) => j.id), ["flaky"]);
      assert.equal(await c.deadDelete(name), 1);
      assert.deepEqual(await c.deadList(name), []);
    } finally {
      await c.close();
    }
  });

  test(`[${door}] a schedule puts its job at each slot and is listed with its value`, async () => {
    const c = await client(door);
    try {
      const name = fresh(door);
      const queue = fresh(door);
      const info = await c.schedule(name, { queue, every: 60_000, value: { report: "daily" } });
      assert.equal(info.next! - (Date.now() + offset) <= 60_000, true);
      const [listed] = (await c.schedules<{ report: string }>()).filter((s) => s.name === name);
      assert.deepEqual([listed.queue, listed.everyMs, listed.value], [queue, 60_000, {
        report: "daily",
      }]);
      advance(60_000);
      const job = (await c.queue(queue).get({ timeout: 2000 }))!;
      assert.deepEqual(job.value, { report: "daily" });
      assert.equal(job.id, `schedule:${name}:${info.next}`);
      await job.ack();
      assert.equal(await c.unschedule(name), true);
      assert.equal(await c.unschedule(name), false);
      await assert.rejects(
        c.schedule(name, { queue, cron: "61 * * * *" }),
        (e: unknown) => e instanceof RemoteError && e.code === ErrorCode.BadArgument,
      );
    } finally {
      await c.close();
    }
  });
}

test("a rate limit holds across consumers on several connections and both doors", async () => {
  const admin = await client("tcp", "admin");
  const consumers = await Promise.all(
    ["tcp", "tcp", "http", "http"].map((door, i) => client(door as Door, `limited-${i}`)),
  );
  try {
    const name = fresh("tcp");
    await admin.declare(name, { rateLimit: { count: 3, perMs: 60_000 } });
    await admin.queue<number>(name).putMany([1, 2, 3, 4, 5, 6, 7, 8]);
    const taken: number[] = [];
    const streams = consumers.map((c) => c.queue<number>(name).consume({ prefetch: 8 }));
    const loops = streams.map(async (stream) => {
      for await (const job of stream) {
        taken.push(job.value);
        await job.ack();
      }
    });
    const until = async (count: number) => {
      for (let i = 0; i < 100 && taken.length < count; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until(3);
    await new Promise((r) => setTimeout(r, 300)); // nothing more comes within the window
    assert.equal(taken.length, 3);
    const [stats] = (await admin.stats(name)).queues;
    assert.deepEqual([stats.throttled, stats.ready], [true, 5]);
    advance(60_000);
    await until(6);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(taken.length, 6);
    await admin.declare(name, { rateLimit: null });
    await until(8);
    assert.deepEqual(taken.sort(), [1, 2, 3, 4, 5, 6, 7, 8]);
    await Promise.all(streams.map((s) => s.return()));
    await Promise.all(loops);
  } finally {
    await Promise.all([admin.close(), ...consumers.map((c) => c.close())]);
  }
});

for (const door of DOORS) {
  test(`[${door}] a worker key that may manage a queue acts on it and on nothing else`, async () => {
    const name = fresh(door);
    const other = fresh(door);
    const key = await makeWorkerKey(AUTHKEY, { consume: [], put: [], manage: [name] });
    assert.equal(describeScope({ consume: [], put: [], manage: [name] }), `manage ${name}`);
    const god0 = await client(door);
    const operator = await connect({
      addr: door === "tcp" ? `127.0.0.1:${god.port}` : face.url,
      authkey: key,
      role: "operator",
    });
    try {
      await god0.queue(name).put(1);
      await god0.queue(other).put(1);
      assert.equal((await operator.pause(name)).paused, true);
      assert.equal((await operator.resume(name)).paused, false);
      assert.equal((await operator.peek(name)).length, 1);
      assert.deepEqual(await operator.deadList(name), []);
      assert.equal((await operator.stats(name)).queues[0].ready, 1);
      const forbidden = (e: unknown) => e instanceof RemoteError && e.code === ErrorCode.Forbidden;
      await assert.rejects(operator.pause(other), forbidden);
      await assert.rejects(operator.purge(other), forbidden);
      await assert.rejects(operator.schedules(), forbidden);
      await assert.rejects(operator.queue(name).put(2), forbidden);
      assert.equal(await operator.purge(name), 1);
      // Schedules on its queue, but not over another queue's schedule of the same name.
      assert.equal(
        (await operator.schedule(`${name}-s`, { queue: name, every: 60_000 })).queue,
        name,
      );
      await god0.schedule(`${name}-other`, { queue: other, every: 60_000 });
      await assert.rejects(
        operator.schedule(`${name}-other`, { queue: name, every: 60_000 }),
        forbidden,
      );
      await god0.unschedule(`${name}-s`);
      await god0.unschedule(`${name}-other`);
    } finally {
      await Promise.all([operator.close(), god0.close()]);
    }
  });
}
