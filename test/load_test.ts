/**
 * Load, on loopback, against a god process of the other runtime: 500
 * concurrent connections doing put/get, 10,000 connect-handshake-disconnect
 * cycles, and a large payload stream (128 MiB in `npm test`; 1 GiB with
 * TASKWIRE_LOAD_FULL=1, as `npm run fuzz` sets). Every job is accounted for
 * and the god's memory (RSS from /proc) stays bounded. Figures are printed;
 * nothing asserts speed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { type Client, connect } from "../mod.ts";
import { AUTHKEY, type HardGod, hardGod, mib, rssOf } from "./_support/hardening.ts";
import { CURRENT, type Runtime } from "./_support/process.ts";

const FULL = process.env.TASKWIRE_LOAD_FULL === "1";
const GOD: Runtime = CURRENT === "node" ? "deno" : "node";
const CONNECTIONS = 500;
const CYCLES = 10_000;
const STREAM_BYTES = FULL ? 1024 * 1024 * 1024 : 128 * 1024 * 1024;
const CHUNK = 1024 * 1024;
/** How far the god's RSS may rise above where it started during a test. */
const RSS_BOUND = 512 * 1024 * 1024;

/** Samples the god's RSS every 100 ms until stopped; returns the peak. */
function watchRss(pid: number): { stop(): number } {
  let peak = rssOf(pid);
  const timer = setInterval(() => {
    const now = rssOf(pid);
    if (now > peak) peak = now;
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, rssOf(pid));
    },
  };
}

async function withGod(fn: (god: HardGod) => Promise<void>, args: string[] = []): Promise<void> {
  const god = await hardGod(GOD, args);
  try {
    await fn(god);
  } finally {
    const { code } = await god.proc.stop(10_000);
    assert.equal(code, 0, god.proc.output.slice(-3000));
  }
}

test(`load: ${CONNECTIONS} concurrent connections doing put/get against a ${GOD} god lose no job`, async () => {
  await withGod(async (god) => {
    const rssBefore = rssOf(god.pid);
    const rss = watchRss(god.pid);
    const started = Date.now();
    const clients: Client[] = await Promise.all(
      Array.from(
        { length: CONNECTIONS },
        (_, i) =>
          connect({ addr: god.addr, authkey: AUTHKEY, reconnect: false, name: `load-${i}` }),
      ),
    );
    const connectedIn = Date.now() - started;
    const observer = clients[0];
    assert.equal((await observer.stats()).connections.length, CONNECTIONS);
    const PER = 4;
    const taken: string[] = [];
    await Promise.all(clients.map(async (client, i) => {
      const q = client.queue<{ from: number; k: number }>("tasks");
      for (let k = 0; k < PER; k++) await q.put({ from: i, k }, { id: `c${i}-${k}` });
      for (let k = 0; k < PER; k++) {
        const job = await q.get({ timeout: 20_000 });
        assert.ok(job, `client ${i} got a job`);
        taken.push(job.id);
        await job.ack();
      }
    }));
    const seconds = (Date.now() - started) / 1000;
    assert.equal(taken.length, CONNECTIONS * PER);
    assert.equal(new Set(taken).size, CONNECTIONS * PER, "every job taken exactly once");
    const stats = (await observer.stats("tasks")).queues[0];
    assert.equal(stats.ready + stats.inFlight, 0, "nothing left behind");
    assert.equal(stats.totals.acked, CONNECTIONS * PER);
    await Promise.all(clients.map((c) => c.close()));
    const peak = rss.stop();
    console.log(
      `load: ${CONNECTIONS} connections (${GOD} god) connected in ${connectedIn} ms; ` +
        `${CONNECTIONS * PER} put+get+ack in ${seconds.toFixed(2)} s; ` +
        `god RSS ${mib(rssBefore)} -> peak ${mib(peak)} -> ${mib(rssOf(god.pid))}`,
    );
    if (!Number.isNaN(rssBefore)) assert.ok(peak - rssBefore < RSS_BOUND, `RSS peak ${mib(peak)}`);
  });
});

test(`load: ${CYCLES} connect-handshake-disconnect cycles against a ${GOD} god leave nothing behind`, async () => {
  await withGod(async (god) => {
    const observer = await connect({ addr: god.addr, authkey: AUTHKEY, reconnect: false });
    const rssBefore = rssOf(god.pid);
    const rss = watchRss(god.pid);
    const started = Date.now();
    let done = 0;
    const PARALLEL = 32;
    await Promise.all(Array.from({ length: PARALLEL }, async () => {
      while (done < CYCLES) {
        done++;
        const client = await connect({ addr: god.addr, authkey: AUTHKEY, reconnect: false });
        await client.close();
      }
    }));
    const seconds = (Date.now() - started) / 1000;
    // Closing is asynchronous on the god's side: wait (bounded) for it to count them all gone.
    const deadline = Date.now() + 10_000;
    let stats = await observer.stats();
    while (
      (stats.connections.length > 1 || stats.limits!.unauthenticated > 0) && Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      stats = await observer.stats();
    }
    assert.equal(stats.connections.length, 1, "only the observer is left");
    assert.equal(stats.limits!.unauthenticated, 0);
    assert.equal(stats.limits!.authFailures, 0);
    const peak = rss.stop();
    console.log(
      `load: ${done} cycles (${GOD} god) in ${seconds.toFixed(1)} s = ${
        Math.round(done / seconds)
      } cycles/s; god RSS ${mib(rssBefore)} -> peak ${mib(peak)} -> ${mib(rssOf(god.pid))}`,
    );
    if (!Number.isNaN(rssBefore)) assert.ok(peak - rssBefore < RSS_BOUND, `RSS peak ${mib(peak)}`);
    await observer.close();
  });
});

test(`load: a ${STREAM_BYTES / 1024 / 1024} MiB payload stream through a bounded queue on a ${GOD} god arrives whole`, async () => {
  await withGod(async (god) => {
    const producer = await connect({ addr: god.addr, authkey: AUTHKEY, reconnect: false });
    const consumer = await connect({ addr: god.addr, authkey: AUTHKEY, reconnect: false });
    // A bounded queue: puts wait while 32 chunks are queued, so the god holds ~32 MiB at most.
    await producer.declare("stream", { maxsize: 32 });
    const rssBefore = rssOf(god.pid);
    const rss = watchRss(god.pid);
    const chunks = Math.ceil(STREAM_BYTES / CHUNK);
    const body = "s".repeat(CHUNK - 16);
    const started = Date.now();
    const producing = (async () => {
      const q = producer.queue<string>("stream");
      const inFlight = new Set<Promise<unknown>>();
      for (let i = 0; i < chunks; i++) {
        const p = q.put(`${String(i).padStart(15, "0")}:${body}`, { id: `chunk-${i}` })
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
        if (inFlight.size >= 8) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    })();
    // A failed producer must not leave the consumer waiting forever.
    producing.catch(() => consumer.close());
    const seen = new Uint8Array(chunks);
    let bytes = 0;
    let received = 0;
    for await (const job of consumer.queue<string>("stream").consume({ prefetch: 8 })) {
      const i = Number(job.value.slice(0, 15));
      assert.equal(job.value.length, CHUNK - 16 + 16);
      assert.equal(seen[i], 0, `chunk ${i} arrived twice`);
      seen[i] = 1;
      bytes += job.value.length;
      job.ack().catch(() => {});
      if (++received === chunks) break;
    }
    await producing;
    const seconds = (Date.now() - started) / 1000;
    const peak = rss.stop();
    assert.equal(seen.reduce((a, b) => a + b, 0), chunks, "every chunk arrived");
    const stats = (await producer.stats("stream")).queues[0];
    assert.equal(stats.totals.put, chunks);
    console.log(
      `load: stream of ${
        (bytes / 1024 / 1024 / 1024).toFixed(3)
      } GiB in ${chunks} jobs (${GOD} god) ` +
        `in ${seconds.toFixed(1)} s = ${
          (bytes / 1024 / 1024 / 1024 / seconds).toFixed(3)
        } GiB/s; ` +
        `god RSS ${mib(rssBefore)} -> peak ${mib(peak)} -> ${mib(rssOf(god.pid))}`,
    );
    if (!Number.isNaN(rssBefore)) assert.ok(peak - rssBefore < RSS_BOUND, `RSS peak ${mib(peak)}`);
    await consumer.close();
    await producer.close();
  });
});
