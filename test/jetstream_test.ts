/**
 * The JetStream store's bad days: NATS unreachable at start, NATS going away
 * mid-run (clients get a clear temporary error, the god recovers, no job is
 * lost), and a stream created earlier with settings taskwire cannot use.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager, RetentionPolicy } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { connect, isTransient, RemoteError, TaskwireError } from "../mod.ts";
import { openJetStream, parseNatsUrls } from "../lib/jetstream/open.ts";
import { serve } from "../lib/server/server.ts";
import { natsSkip, startNats } from "./_support/nats.ts";
import { freePort } from "./_support/process.ts";

const skip = natsSkip();
const authkey = "jetstream-test-key";

test("parseNatsUrls() splits a list and keeps the scheme for later hosts", () => {
  assert.deepEqual(parseNatsUrls("nats://a:1,b:2"), ["nats://a:1", "nats://b:2"]);
  assert.deepEqual(parseNatsUrls("tls://a:1, b:2"), ["tls://a:1", "tls://b:2"]);
  assert.deepEqual(parseNatsUrls("a:1"), ["nats://a:1"]);
  assert.throws(() => parseNatsUrls("http://a:1"), /use nats:\/\/HOST:PORT/);
  assert.throws(() => parseNatsUrls(""), /no server given/);
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
  const { connectHttp } = await import("../lib/http/client.ts");
  const nats = await startNats();
  const backend = await openJetStream(nats.node.url);
  const god = await serve({ listen: "127.0.0.1:0", authkey, backend });
  const face = await serveHttp(god, { listen: "127.0.0.1:0", authkey });
  const client = await connectHttp({ url: face.url, authkey, role: "tester" });
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
