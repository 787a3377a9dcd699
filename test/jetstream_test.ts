/**
 * The JetStream store's bad days: NATS unreachable at start, NATS going away
 * mid-run (clients get a clear temporary error, the god recovers, no job is
 * lost), a stream created earlier with settings taskwire cannot use, a late
 * ack after another god took the job (from a frozen consumer, and through a
 * god that was itself frozen while the jobs reached it), and listings that
 * read past gaps in a stream without a JetStream call per sequence number.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstream, jetstreamManager, RetentionPolicy } from "@nats-io/jetstream";
import { connect as natsConnect, headers } from "@nats-io/transport-node";
import { connect, isTransient, type Job, RemoteError, TaskwireError } from "../mod.ts";
import { openJetStream, parseNatsUrls } from "../lib/jetstream/open.ts";
import { ackWaitMs } from "../lib/jetstream/leases.ts";
import { parseHeaders } from "../lib/jetstream/scan.ts";
import { serve } from "../lib/server/server.ts";
import { natsSkip, startNats } from "./_support/nats.ts";
import { CURRENT, freePort, type Proc, type Runtime, start } from "./_support/process.ts";

const skip = natsSkip();
const authkey = "jetstream-test-key";

test("parseNatsUrls() splits a list and keeps the scheme for later hosts", () => {
  assert.deepEqual(parseNatsUrls("nats://a:1,b:2"), ["nats://a:1", "nats://b:2"]);
  assert.deepEqual(parseNatsUrls("tls://a:1, b:2"), ["tls://a:1", "tls://b:2"]);
  assert.deepEqual(parseNatsUrls("a:1"), ["nats://a:1"]);
  assert.throws(() => parseNatsUrls("http://a:1"), /use nats:\/\/HOST:PORT/);
  assert.throws(() => parseNatsUrls(""), /no server given/);
});

test("ackWaitMs() gives JetStream a grace of a tenth of the lease, 100 ms to 5 s", () => {
  assert.equal(ackWaitMs(300), 400);
  assert.equal(ackWaitMs(1000), 1100);
  assert.equal(ackWaitMs(30_000), 33_000);
  assert.equal(ackWaitMs(3_600_000), 3_605_000);
});

test("parseHeaders() reads a NATS header block, the first value of a key winning", () => {
  const block = new TextEncoder().encode(
    "NATS/1.0\r\nNats-Msg-Id: a:b\r\nTw-Reason: x: y\r\nTw-Reason: later\r\n\r\n",
  );
  assert.deepEqual(
    [...parseHeaders(block)],
    [["Nats-Msg-Id", "a:b"], ["Tw-Reason", "x: y"]],
  );
});

test("an unreachable NATS at start is retried with backoff, with a clear message each time", {
  skip,
}, async () => {
  const port = await freePort();
  const events: Record<string, unknown>[] = [];
  await assert.rejects(
    openJetStream(`nats://127.0.0.1:${port}`, { maxAttempts: 3, log: (e) => events.push(e) }),
    (error: unknown) => {
      assert.ok(error instanceof TaskwireError);
      assert.match(
        error.message,
        new RegExp(`Cannot reach NATS at nats://127.0.0.1:${port} after 3 attempts`),
      );
      return true;
    },
  );
  assert.equal(events.length, 2);
  assert.equal(events[0].state, "unreachable");
  assert.ok((events[1].delayMs as number) > (events[0].delayMs as number), "backoff grows");
});

test(
  "NATS going away mid-run: clients get a clear temporary error, the god recovers, no job is lost",
  {
    skip,
  },
  async () => {
    const nats = await startNats();
    const backend = await openJetStream(nats.node.url, { unavailableWaitMs: 500 });
    const god = await serve({ listen: "127.0.0.1:0", authkey, backend });
    const client = await connect({ addr: `127.0.0.1:${god.port}`, authkey });
    try {
      const tasks = client.queue<number>("tasks");
      await tasks.putMany([1, 2, 3]);
      const held = (await tasks.get({ timeout: 2000 }))!;
      assert.equal(held.value, 1);

      await nats.node.kill();
      await assert.rejects(tasks.put(4, { id: "four" }), (error: unknown) => {
        assert.ok(error instanceof RemoteError);
        assert.equal(error.code, "unavailable");
        assert.ok(isTransient(error));
        assert.match(error.message, /NATS JetStream store/);
        return true;
      });
      await assert.rejects(held.touch(), /unavailable/);

      nats.node.restart();
      await nats.node.ready();
      // The god reconnects by itself; the put retried with its id is stored once.
      let stored = false;
      for (let i = 0; i < 100 && !stored; i++) {
        stored = await tasks.put(4, { id: "four" }).then(() => true, (error) => {
          if (!isTransient(error)) throw error;
          return new Promise<boolean>((r) => setTimeout(() => r(false), 100));
        });
      }
      assert.ok(stored, "the god recovered");
      // The job leased before the outage is still ours; handing it back works again.
      await held.nack();
      const seen: number[] = [];
      for (let i = 0; i < 4; i++) {
        const job = (await tasks.get({ timeout: 5000 }))!;
        assert.ok(job, `job ${i + 1} of 4 arrived`);
        seen.push(job.value);
        await job.ack();
      }
      assert.deepEqual(seen.sort(), [1, 2, 3, 4]);
      assert.equal(await tasks.get({ timeout: 0 }), null);
    } finally {
      await client.close();
      await god.close();
      await nats.close();
    }
  },
);

test("a stream created earlier with incompatible settings is refused, naming the setting", {
  skip,
}, async () => {
  const nats = await startNats();
  const nc = await natsConnect({ servers: nats.node.url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: "TW_legacy",
      subjects: ["tw.q.legacy"],
      retention: RetentionPolicy.Limits,
    });
    await assert.rejects(
      openJetStream(nats.node.url, { queues: { legacy: {} } }),
      (error: unknown) => {
        assert.ok(error instanceof TaskwireError);
        assert.match(
          error.message,
          /Cannot use NATS stream "TW_legacy" for queue "legacy": its retention is "limits" but taskwire needs "workqueue"/,
        );
        return true;
      },
    );
  } finally {
    await nc.close();
    await nats.close();
  }
});

test("the HTTP face works on the JetStream store too", { skip }, async () => {
  const { serveHttp } = await import("../lib/http/serve.ts");
  const { connect } = await import("../lib/client/connect.ts");
  const nats = await startNats();
  const backend = await openJetStream(nats.node.url);
  const god = await serve({ listen: "127.0.0.1:0", authkey, backend });
  const face = await serveHttp(god, { listen: "127.0.0.1:0" });
  const client = await connect({ addr: face.url, authkey, role: "tester" });
  try {
    const tasks = client.queue<number>("tasks");
    await tasks.putMany([1, 2, 3]);
    const first = (await tasks.get({ timeout: 2000 }))!;
    assert.equal(first.value, 1);
    assert.ok((await first.touch()) > Date.now());
    await first.ack();
    const second = (await tasks.get({ timeout: 2000 }))!;
    await second.fail("bad input");
    const third = (await tasks.get({ timeout: 2000 }))!;
    assert.equal(third.value, 3);
    await third.ack();
    assert.equal(await tasks.get({ timeout: 0 }), null);
    const stats = await client.stats("tasks");
    assert.equal(stats.queues[0].dead, 1);
    assert.equal(stats.queues[0].ready, 0);
    const store = stats.server.store as { kind: string; limitations: string[] };
    assert.equal(store.kind, "jetstream");
    // Where JetStream differs from the embedded store, the god says so in its stats.
    assert.ok(store.limitations.some((l) => /priority/.test(l)));
    assert.ok(store.limitations.some((l) => /delayed puts/.test(l)));
  } finally {
    await client.close();
    await face.close();
    await god.close();
    await nats.close();
  }
});

const OTHER: Runtime = CURRENT === "node" ? "deno" : "node";
const LEASE_MS = 1000;

/** Takes `count` jobs with `get` within `ms`. */
async function take<T>(
  queue: { get(o: { timeout: number }): Promise<Job<T> | null> },
  count: number,
  ms = 15_000,
): Promise<Job<T>[]> {
  const taken: Job<T>[] = [];
  const deadline = Date.now() + ms;
  while (taken.length < count && Date.now() < deadline) {
    const job = await queue.get({ timeout: 2000 });
    if (job) taken.push(job);
  }
  return taken;
}

/** Keeps touching `jobs` (their holder is busy) until the returned function is called. */
function keepLeased(jobs: Job<unknown>[]): () => void {
  const timer = setInterval(() => {
    for (const job of jobs) job.touch().catch(() => {});
  }, LEASE_MS / 4);
  return () => clearInterval(timer);
}

/** What JetStream itself still holds of a queue: waiting and unacked jobs. */
async function leftInJetStream(url: string, stream: string): Promise<number> {
  const nc = await natsConnect({ servers: url });
  try {
    const info = await (await jetstreamManager(nc)).consumers.info(stream, "taskwire");
    return info.num_pending + info.num_ack_pending;
  } finally {
    await nc.close();
  }
}

test(
  `a late ack (a ${OTHER} consumer frozen past its lease) is refused after another god took the job; its new holder keeps it`,
  {
    skip,
    timeout: 60_000,
  },
  async () => {
    const nats = await startNats();
    const queues = { tasks: { leaseMs: LEASE_MS } };
    const godA = await serve({
      listen: "127.0.0.1:0",
      authkey,
      backend: await openJetStream(nats.node.url, { queues }),
    });
    const godB = await serve({
      listen: "127.0.0.1:0",
      authkey,
      backend: await openJetStream(nats.node.url, { queues }),
    });
    const clientA = await connect({ addr: `127.0.0.1:${godA.port}`, authkey });
    const clientB = await connect({ addr: `127.0.0.1:${godB.port}`, authkey });
    let acker: Proc | null = null;
    try {
      // JetStream's ack wait is the lease plus a grace: the god's lease always ends first.
      const nc = await natsConnect({ servers: nats.node.url });
      const consumer = await (await jetstreamManager(nc)).consumers.info("TW_tasks", "taskwire");
      await nc.close();
      assert.equal(consumer.config.ack_wait, ackWaitMs(LEASE_MS) * 1_000_000);
      assert.ok(ackWaitMs(LEASE_MS) > LEASE_MS);

      const tasks = clientB.queue<number>("tasks");
      await tasks.putMany([1, 2, 3, 4, 5]);
      acker = start(
        OTHER,
        "test/_support/late_acker.ts",
        [`127.0.0.1:${godA.port}`, "tasks", "5"],
        {
          env: { TASKWIRE_AUTHKEY: authkey },
        },
      );
      await acker.waitFor(/^holding 5$/, 30_000);
      acker.signal("SIGSTOP");
      // The leases run out while it is frozen: JetStream hands the jobs to god B.
      const taken = await take(tasks, 5);
      assert.deepEqual(taken.map((j) => j.value).sort(), [1, 2, 3, 4, 5]);
      assert.ok(taken.every((j) => j.attempts === 2), "each is a redelivery");
      const release = keepLeased(taken);

      acker.signal("SIGCONT");
      acker.child.stdin!.write("ack\n");
      await acker.waitFor(/^done$/, 30_000);
      const refused = acker.lines.filter((l) => l.startsWith("refused "));
      assert.equal(refused.length, 5, acker.lines.join("\n"));
      for (const line of refused) assert.match(line, /not_leased: .*No lease \d+/);
      assert.equal(acker.lines.filter((l) => l.startsWith("acked ")).length, 0);

      // The new holder's jobs were not taken from it: its acks go through.
      release();
      for (const job of taken) await job.ack();
      assert.equal(await leftInJetStream(nats.node.url, "TW_tasks"), 0);
      assert.equal((await clientA.stats("tasks")).queues[0].totals.acked, 0);
      assert.equal((await clientB.stats("tasks")).queues[0].totals.acked, 5);
    } finally {
      if (acker) {
        acker.signal("SIGCONT");
        await acker.stop();
      }
      await clientA.close();
      await clientB.close();
      await godA.close();
      await godB.close();
      await nats.close();
    }
  },
);

test(
  "a god frozen while jobs reached it hands out none of them (nor accepts their acks) once another god has them",
  {
    skip,
    timeout: 90_000,
  },
  async () => {
    const nats = await startNats();
    const env = { TASKWIRE_AUTHKEY: authkey };
    const godA = start(CURRENT, "test/_support/js_god.ts", [nats.node.url, "1", String(LEASE_MS)], {
      env,
    });
    const godB = await serve({
      listen: "127.0.0.1:0",
      authkey,
      backend: await openJetStream(nats.node.url, { queues: { tasks: { leaseMs: LEASE_MS } } }),
    });
    const clientB = await connect({ addr: `127.0.0.1:${godB.port}`, authkey });
    let acker: Proc | null = null;
    try {
      const portA = Number((await godA.waitFor(/^PORT \d+$/, 40_000)).split(" ")[1]);
      acker = start(CURRENT, "test/_support/late_acker.ts", [
        `127.0.0.1:${portA}`,
        "tasks",
        "5",
        "3000",
      ], {
        env,
      });
      await acker.waitFor(/^consuming$/, 30_000);
      // God A's pull request for its consumer is at NATS; then god A stops reading.
      await new Promise((r) => setTimeout(r, 300));
      godA.signal("SIGSTOP");
      const tasks = clientB.queue<number>("tasks");
      await tasks.putMany([1, 2, 3, 4, 5]);
      // JetStream delivered them into god A's pull; their ack wait runs out and god B gets them.
      await new Promise((r) => setTimeout(r, 100));
      const taken = await take(tasks, 5);
      assert.deepEqual(taken.map((j) => j.value).sort(), [1, 2, 3, 4, 5]);
      assert.ok(taken.every((j) => j.attempts === 2), "each is a redelivery");
      const release = keepLeased(taken);

      // God A wakes up to its old deliveries: they are no job of its any more.
      godA.signal("SIGCONT");
      const holding = await acker.waitFor(/^holding \d+$/, 30_000);
      acker.child.stdin!.write("ack\n");
      await acker.waitFor(/^done$/, 30_000);
      const held = Number(holding.split(" ")[1]);
      const refused = acker.lines.filter((l) => l.startsWith("refused "));
      assert.equal(refused.length, held, acker.lines.join("\n"));
      for (const line of refused) assert.match(line, /not_leased/);
      assert.equal(
        acker.lines.filter((l) => l.startsWith("acked ")).length,
        0,
        acker.lines.join("\n"),
      );

      release();

      for (const job of taken) await job.ack();
      assert.equal(await leftInJetStream(nats.node.url, "TW_tasks"), 0);
      assert.equal((await clientB.stats("tasks")).queues[0].totals.acked, 5);
    } finally {
      godA.signal("SIGCONT");
      if (acker) await acker.stop();
      await clientB.close();
      await godA.stop();
      await godB.close();
      await nats.close();
    }
  },
);

test(
  "peek and the dead-letter list read past a gap of 1000 deleted jobs with a few dozen JetStream calls",
  {
    skip,
    timeout: 60_000,
  },
  async () => {
    const nats = await startNats();
    const god = await serve({
      listen: "127.0.0.1:0",
      authkey,
      backend: await openJetStream(nats.node.url, { queues: { gappy: {} } }),
    });
    const client = await connect({ addr: `127.0.0.1:${god.port}`, authkey });
    const nc = await natsConnect({ servers: nats.node.url });
    try {
      const jsm = await jetstreamManager(nc);
      const js = jetstream(nc);
      const calls = { n: 0 };
      const counting = nc.subscribe("$JS.API.STREAM.MSG.GET.>", {
        callback: () => {
          calls.n++;
        },
      });
      const gap = 1000;
      /** Deletes sequence numbers `from`..`to` of `stream`, a hundred at a time. */
      const cut = async (stream: string, from: number, to: number) => {
        for (let seq = from; seq <= to; seq += 100) {
          const last = Math.min(to, seq + 99);
          await Promise.all(
            Array.from(
              { length: last - seq + 1 },
              (_, i) => jsm.streams.deleteMessage(stream, seq + i),
            ),
          );
        }
      };

      // Peek: five jobs, a thousand deleted, five more.
      const gappy = client.queue<string>("gappy");
      await gappy.putMany(["a1", "a2", "a3", "a4", "a5"]);
      await gappy.putMany(Array.from({ length: gap }, (_, i) => `gone${i}`));
      await gappy.putMany(["b1", "b2", "b3", "b4", "b5"]);
      await cut("TW_gappy", 6, 5 + gap);
      await nc.flush();
      calls.n = 0;
      const peeked = await client.peek("gappy", 10);
      await nc.flush();
      assert.deepEqual(peeked.map((j) => j.value), [
        "a1",
        "a2",
        "a3",
        "a4",
        "a5",
        "b1",
        "b2",
        "b3",
        "b4",
        "b5",
      ]);
      assert.ok(calls.n <= 40, `peek made ${calls.n} JetStream calls`);

      // Dead letters: five, a thousand deleted (written here as another queue's), five more.
      const fail = async (count: number) => {
        for (const job of await take(gappy, count)) await job.fail("bad");
      };
      await fail(5);
      const h = headers();
      h.set("Tw-Origin", "elsewhere");
      h.set("Tw-Reason", "filler");
      await Promise.all(
        Array.from({ length: gap }, () => js.publish("tw.q.gappy_ddead", "{}", { headers: h })),
      );
      await cut("TW_gappy_ddead", 6, 5 + gap);
      await fail(5);
      await nc.flush();
      calls.n = 0;
      const dead = await client.deadList("gappy", 20);
      await nc.flush();
      assert.deepEqual(dead.map((j) => j.value), [
        "a1",
        "a2",
        "a3",
        "a4",
        "a5",
        "b1",
        "b2",
        "b3",
        "b4",
        "b5",
      ]);
      assert.ok(dead.every((j) => j.reason === "bad"));
      assert.ok(calls.n <= 60, `the dead-letter list made ${calls.n} JetStream calls`);
      counting.unsubscribe();
    } finally {
      await nc.close();
      await client.close();
      await god.close();
      await nats.close();
    }
  },
);
