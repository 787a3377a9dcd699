/**
 * End to end on a 3-node NATS cluster (three nats-server processes with
 * cluster routes on loopback, streams with 3 replicas) and two god processes
 * (one on Node, one on Deno): a producer on god A and workers on both gods
 * exchange tasks while one NATS node is SIGKILLed, and later god A is
 * SIGKILLed. Every task's result must arrive, none lost.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { type Client, connect, isTransient } from "../mod.ts";
import { natsSkip, startNatsCluster } from "./_support/nats.ts";
import { start } from "./_support/process.ts";

const authkey = "cluster-test-key";
const TASKS = 300;
/**
 * Long enough that five leases (the attempts before a dead letter) outlast a
 * NATS node's failover on a loaded machine: with 2 s, a CI run once saw tasks
 * dead-lettered after five expired leases while the cluster elected new
 * leaders (every result had arrived, once each).
 */
const LEASE_MS = 5000;

/** Retries `fn` on transient errors (the god's NATS failing over), for at most `ms`. */
async function retry<T>(fn: () => Promise<T>, stop?: AbortSignal, ms = 30_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (!isTransient(error) || Date.now() > until || stop?.aborted) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** A worker: squares each task and puts the result (id derived from the task's), then acks. */
function work(client: Client, stop: AbortSignal): Promise<void> {
  const results = client.queue<{ n: number; square: bigint }>("results");
  return (async () => {
    const consumer = client.queue<number>("tasks").consume({ prefetch: 16 });
    stop.addEventListener("abort", () => consumer.return().catch(() => {}), { once: true });
    try {
      for await (const job of consumer) {
        if (stop.aborted) break;
        const n = job.value;
        try {
          await retry(
            () => results.put({ n, square: BigInt(n) ** 2n }, { id: `r-${job.id}` }),
            stop,
          );
          await job.ack();
        } catch {
          // Not acked: the job comes back when its lease runs out.
        }
      }
    } catch {
      // The god went away; the test closes this client.
    }
  })();
}

test(
  "two gods on a 3-node JetStream cluster lose no task when a NATS node and then a god are killed",
  {
    skip: natsSkip(),
    timeout: 100_000,
  },
  async () => {
    const cluster = await startNatsCluster(3);
    const [n1, n2, n3] = cluster.nodes;
    const godA = start("node", "test/_support/js_god.ts", [
      [n1.url, n2.url, n3.url].join(","),
      "3",
      String(LEASE_MS),
    ], { env: { TASKWIRE_AUTHKEY: authkey } });
    const godB = start("deno", "test/_support/js_god.ts", [
      [n2.url, n3.url, n1.url].join(","),
      "3",
      String(LEASE_MS),
    ], { env: { TASKWIRE_AUTHKEY: authkey } });
    const clients: Client[] = [];
    const stop = new AbortController();
    /** The clients of god A stop (as their process would) when god A is killed. */
    const stopA = new AbortController();
    try {
      const portA = Number((await godA.waitFor(/^PORT \d+$/, 40_000)).split(" ")[1]);
      const portB = Number((await godB.waitFor(/^PORT \d+$/, 40_000)).split(" ")[1]);
      const open = async (port: number, role: string) => {
        const client = await connect({
          addr: `127.0.0.1:${port}`,
          authkey,
          role,
          maxBackoffMs: 200,
        });
        clients.push(client);
        return client;
      };

      // The streams really have 3 replicas.
      const nc = await natsConnect({
        servers: n2.url,
        reconnect: false,
        ignoreClusterUpdates: true,
      });
      const jsm = await jetstreamManager(nc);
      assert.equal((await jsm.streams.info("TW_tasks")).config.num_replicas, 3);
      await nc.close();

      const producer = await open(portA, "producer");
      const collector = await open(portB, "collector");
      const workerA = await open(portA, "worker");
      const workerB = await open(portB, "worker");
      const workers = [work(workerA, stopA.signal), work(workerB, stop.signal)];

      const seen = new Map<number, bigint>();
      const collecting = (async () => {
        for await (
          const job of collector.queue<{ n: number; square: bigint }>("results").consume({
            prefetch: 64,
          })
        ) {
          seen.set(job.value.n, job.value.square);
          await job.ack().catch(() => {});
          if (seen.size === TASKS) break;
        }
      })();
      const waitForResults = async (count: number, ms: number) => {
        const until = Date.now() + ms;
        while (seen.size < count && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
        assert.ok(seen.size >= count, `only ${seen.size} of ${count} results within ${ms} ms`);
      };
      const tasks = producer.queue<number>("tasks");
      const putRange = async (q: typeof tasks, from: number, to: number, stop?: AbortSignal) => {
        for (let i = from; i < to; i += 10) {
          const ids: number[] = [];
          for (let k = i; k < Math.min(to, i + 10); k++) ids.push(k);
          await retry(() => Promise.all(ids.map((k) => q.put(k, { id: `t-${k}` }))), stop);
        }
      };

      // Phase 1: all healthy.
      await putRange(tasks, 0, 100);
      await waitForResults(50, 20_000);

      // Phase 2: one NATS node dies; the gods fail over to the others.
      await n1.kill();
      await putRange(tasks, 100, 200);
      await waitForResults(150, 40_000);

      // Phase 3: god A dies mid-stream, with jobs leased to its worker.
      const rest = putRange(tasks, 200, TASKS, stopA.signal).catch(() => {});
      await new Promise((r) => setTimeout(r, 100));
      godA.signal("SIGKILL");
      await godA.exited;
      stopA.abort();
      await Promise.race([rest, new Promise((r) => setTimeout(r, 500))]);
      // Its producer moves to god B and puts everything again: put ids make repeats harmless.
      const producerB = await open(portB, "producer");
      await putRange(producerB.queue<number>("tasks"), 0, TASKS);

      await waitForResults(TASKS, 45_000);
      await collecting;
      assert.equal(seen.size, TASKS);
      for (const [n, square] of seen) assert.equal(square, BigInt(n) ** 2n);
      // God B still serves; the dead-letter queue is empty.
      // (A JetStream API call may time out while the cluster settles: that is a temporary error.)
      assert.deepEqual(await retry(() => collector.deadList("tasks")), []);
      stop.abort();
      await Promise.race([Promise.all(workers), new Promise((r) => setTimeout(r, 2000))]);
    } finally {
      stop.abort();
      stopA.abort();
      await Promise.all(clients.map((c) => c.close().catch(() => {})));
      await godA.stop();
      await godB.stop();
      await cluster.close();
    }
  },
);
