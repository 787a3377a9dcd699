/**
 * A soak, compressed (issue 18, faults): an hour of a god's life — clients
 * coming and going over TCP and HTTP, puts, pushes and batched gets with
 * acks, failed handshakes — squeezed into rounds against a god process of the
 * other runtime, about 40 s in `npm test` and 10 minutes with
 * TASKWIRE_LOAD_FULL=1 (`npm run fuzz`). After the warm-up the god's RSS and
 * its open file descriptors are taken as the baseline; at the end both are
 * back near it (a leak per round would add up), every job is accounted for,
 * and no connection is left.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { type Client, connect } from "../mod.ts";
import { AUTHKEY, hardGod, memoryAfterGc, mib, rssOf, until } from "./_support/hardening.ts";
import { CURRENT, type Runtime } from "./_support/process.ts";

const FULL = process.env.TASKWIRE_LOAD_FULL === "1";
const GOD: Runtime = CURRENT === "node" ? "deno" : "node";
const DURATION_MS = FULL ? 10 * 60_000 : 40_000;
/** The god forgets put ids after this long, so its dedupe memory is steady after the warm-up. */
const DEDUPE_MS = 5000;
/** The warm-up: until the dedupe window has turned over once or twice. */
const WARM_UP_MS = Math.max(3 * DEDUPE_MS, DURATION_MS / 4);
/** How far the heap in use (after a full GC) may end above the warm baseline. */
const HEAP_SLACK = 16 * 1024 * 1024;
/** How far RSS may end above the warm baseline (a leak per round would pass it). */
const RSS_SLACK = 64 * 1024 * 1024;
/** How many more descriptors than at the baseline may be open at the end. */
const FD_SLACK = 3;

/** Open file descriptors of a process (Linux), or NaN. */
function fdsOf(pid: number): number {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

/** One round: short-lived producers and consumers over TCP and HTTP, and a few wrong keys. */
async function round(tcp: string, http: string, n: number): Promise<number> {
  const producers = await Promise.all(
    Array.from({ length: 8 }, () => connect({ addr: tcp, authkey: AUTHKEY, reconnect: false })),
  );
  const web = await connect({ addr: http, authkey: AUTHKEY, reconnect: false });
  const consumers = await Promise.all(
    Array.from({ length: 2 }, () => connect({ addr: tcp, authkey: AUTHKEY, reconnect: false })),
  );
  let put = 0;
  try {
    await Promise.all([
      ...producers.map((p, i) =>
        p.queue("tasks").putMany(
          Array.from({ length: 100 }, (_, k) => ({ round: n, p: i, k, text: "x".repeat(200) })),
        )
      ),
      web.queue("tasks").putMany(Array.from({ length: 50 }, (_, k) => ({ round: n, web: k }))),
      ...Array.from(
        { length: 3 },
        () =>
          connect({ addr: tcp, authkey: "not the key", reconnect: false }).then(
            (c) => c.close(),
            () => {},
          ),
      ),
    ]);
    put = 8 * 100 + 50;
    // Half is pushed to a consumer, the rest taken in batches (TCP and HTTP) and acked.
    let taken = 0;
    const pushed = (async () => {
      for await (const job of consumers[0].queue("tasks").consume({ prefetch: 64 })) {
        await job.ack();
        if (++taken >= put / 2) break;
      }
    })();
    await pushed;
    for (const client of [consumers[1], web] as Client[]) {
      for (;;) {
        const jobs = await client.queue("tasks").getMany(100, { timeout: 0 });
        if (jobs.length === 0) break;
        await Promise.all(jobs.map((job) => job.ack()));
        taken += jobs.length;
      }
    }
    return put;
  } finally {
    await Promise.all([...producers, ...consumers, web].map((c) => c.close()));
  }
}

test(
  `soak: ${
    DURATION_MS / 1000
  } s of clients coming and going on a ${GOD} god: RSS and descriptors return to the warm baseline`,
  async () => {
    const god = await hardGod(GOD, [
      "--http",
      "--dedupe",
      String(DEDUPE_MS),
      "--limits",
      JSON.stringify({ authFailureBurst: 1_000_000 }),
    ], { gc: true });
    try {
      let put = 0;
      let rounds = 0;
      const started = Date.now();
      while (Date.now() - started < WARM_UP_MS) put += await round(god.addr, god.http!, rounds++);
      const warm = await memoryAfterGc(god);
      const fds0 = fdsOf(god.pid);
      let peak = warm.rss;
      while (Date.now() - started < DURATION_MS) {
        put += await round(god.addr, god.http!, rounds++);
        peak = Math.max(peak, rssOf(god.pid));
      }
      // TCP sessions end at once; HTTP clients said goodbye.
      const client = await connect({ addr: god.addr, authkey: AUTHKEY, reconnect: false });
      await until("every job acked and every other client gone", async () => {
        const stats = await client.stats();
        const tasks = stats.queues.find((q) => q.name === "tasks")!;
        return tasks.ready + tasks.inFlight === 0 && tasks.totals.acked === put &&
          stats.connections.length === 1;
      }, 20_000);
      await client.close();
      // Past the dedupe window, so the ids of the last rounds are forgotten too (a put sweeps them).
      await new Promise((resolve) => setTimeout(resolve, DEDUPE_MS + 500));
      put += await round(god.addr, god.http!, rounds++);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const end = await memoryAfterGc(god);
      const fds1 = fdsOf(god.pid);
      console.log(
        `# soak: ${rounds} rounds, ${put} jobs; ${GOD} god heap ${mib(warm.heapUsed)} warm -> ${
          mib(end.heapUsed)
        } end; RSS ${mib(warm.rss)} warm -> ${mib(peak)} peak -> ${
          mib(end.rss)
        } end; descriptors ${fds0} -> ${fds1}`,
      );
      assert.ok(
        end.heapUsed - warm.heapUsed < HEAP_SLACK,
        `heap ${mib(warm.heapUsed)} -> ${mib(end.heapUsed)}`,
      );
      assert.ok(end.rss - warm.rss < RSS_SLACK, `RSS ${mib(warm.rss)} -> ${mib(end.rss)}`);
      if (!Number.isNaN(fds1)) {
        assert.ok(fds1 - fds0 <= FD_SLACK, `descriptors ${fds0} -> ${fds1}`);
      }
    } finally {
      const { code } = await god.proc.stop(10_000);
      assert.equal(code, 0, god.proc.output.slice(-3000));
    }
  },
);
