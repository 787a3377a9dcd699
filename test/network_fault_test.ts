/**
 * Faults of the network beyond a cut (issue 18): a stall between the god and
 * a consumer, where a proxy stops forwarding without closing anything. The
 * stalled consumer's leases run out and its jobs go to another consumer;
 * nothing is lost; when the network comes back, its late acks are refused
 * with a message that says why.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Job } from "../mod.ts";
import { serve } from "../lib/server/server.ts";
import { RemoteError } from "../lib/protocol/errors.ts";
import { AUTHKEY, until } from "./_support/hardening.ts";
import { LinkProxy } from "./_support/link_proxy.ts";

test("fault: a network stall between the god and a consumer: its leases run out, another consumer gets the jobs, late acks are refused clearly", async () => {
  const god = await serve({
    listen: "127.0.0.1:0",
    authkey: AUTHKEY,
    // Short leases; attempts enough that no job dies while the stalled consumer keeps being offered some.
    queues: { tasks: { leaseMs: 1000, maxAttempts: 100 }, results: {} },
  });
  const proxy = await LinkProxy.start(god.port);
  const N = 40;
  const stalled = await connect({ addr: `127.0.0.1:${proxy.port}`, authkey: AUTHKEY });
  const healthy = await connect({ addr: `127.0.0.1:${god.port}`, authkey: AUTHKEY });
  try {
    // The first consumer takes 5 jobs and holds them; then its network stalls.
    const held: Job<number>[] = [];
    const holding = (async () => {
      for await (const job of stalled.queue<number>("tasks").consume({ prefetch: 5 })) {
        held.push(job);
        if (held.length === 5) break;
      }
    })();
    await healthy.queue("tasks").putMany(Array.from({ length: N }, (_, i) => i), {});
    await holding;
    proxy.partition();

    // The second consumer gets everything, the stalled one's jobs included, once their leases end.
    const done = new Map<number, number>();
    const consuming = (async () => {
      for await (const job of healthy.queue<number>("tasks").consume({ prefetch: 50 })) {
        done.set(job.value, job.attempts);
        await job.ack();
        if (done.size === N) break;
      }
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      consuming,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`only ${done.size} of ${N} done`)), 30_000);
      }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(done.size, N, "every job was done by the healthy consumer");
    for (const job of held) {
      assert.ok((done.get(job.value) ?? 0) >= 2, `job ${job.value} was delivered again`);
    }
    await until("every ack to land", () => {
      const q = god.stats("tasks").queues[0];
      return q.ready === 0 && q.totals.acked === N;
    }, 10_000);

    // The network comes back: the stalled consumer's acks are refused, saying why.
    proxy.heal();
    const late = await Promise.allSettled(held.map((job) => job.ack()));
    for (const outcome of late) {
      assert.equal(outcome.status, "rejected");
      const error = (outcome as PromiseRejectedResult).reason;
      assert.ok(error instanceof RemoteError, String(error));
      assert.match(error.message, /expired and the job went back to the queue/);
    }
    assert.equal(god.stats("tasks").queues[0].totals.acked, N, "no job was acked twice");
  } finally {
    await stalled.close();
    await healthy.close();
    await proxy.close();
    await god.close();
  }
});
