/**
 * Faults, with real processes on both runtimes: a consumer frozen with SIGSTOP
 * while it holds leased jobs; a god stopped and restarted under load (the
 * durable journal is the god's default); a network cut in the middle of a
 * frame, in each direction; a second stop signal during a graceful stop.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { connect, type Job } from "../mod.ts";
import { AUTHKEY, hardGod, until } from "./_support/hardening.ts";
import { LinkProxy } from "./_support/link_proxy.ts";
import { CURRENT, freePort, type Proc, type Runtime, start } from "./_support/process.ts";

const OTHER: Runtime = CURRENT === "node" ? "deno" : "node";

/** Waits for `promise` at most `ms`, then fails with `what()`; leaves no timer behind. */
async function within(promise: Promise<unknown>, ms: number, what: () => string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      promise,
      new Promise((_, reject) => timer = setTimeout(() => reject(new Error(what())), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "taskwire-fault-"));
}

function startGodRole(runtime: Runtime, port: number, dir: string): Proc {
  return start(runtime, "roles/god.ts", [
    "--listen",
    `127.0.0.1:${port}`,
    "--data",
    dir,
    "--json",
    "--quiet",
  ], { env: { TASKWIRE_AUTHKEY: AUTHKEY } });
}

test(`fault: a ${OTHER} consumer frozen with SIGSTOP loses its leases; resumed, its late acks are refused cleanly`, async () => {
  const god = await hardGod(CURRENT, ["--lease", "1000"]);
  let acker: Proc | null = null;
  try {
    const client = await connect({ addr: god.addr, authkey: AUTHKEY, reconnect: false });
    const tasks = client.queue<number>("tasks");
    await tasks.putMany([1, 2, 3, 4, 5]);
    acker = start(OTHER, "test/_support/late_acker.ts", [god.addr, "tasks", "5"], {
      env: { TASKWIRE_AUTHKEY: AUTHKEY },
    });
    await acker.waitFor(/^holding 5$/, 30_000);
    acker.signal("SIGSTOP");
    // The leases run out while it is frozen: the jobs come back and another consumer takes them.
    const taken: Job<number>[] = [];
    const deadline = Date.now() + 15_000;
    while (taken.length < 5 && Date.now() < deadline) {
      const job = await tasks.get({ timeout: 2000 });
      if (job) taken.push(job);
    }
    assert.deepEqual(taken.map((j) => j.value).sort(), [1, 2, 3, 4, 5]);
    assert.ok(taken.every((j) => j.attempts === 2), "each is a redelivery");
    for (const job of taken) await job.ack();

    acker.signal("SIGCONT");
    acker.child.stdin!.write("ack\n");
    await acker.waitFor(/^done$/, 30_000);
    const refused = acker.lines.filter((l) => l.startsWith("refused "));
    assert.equal(refused.length, 5, acker.output);
    for (const line of refused) assert.match(line, /not_leased/);
    assert.equal(acker.lines.filter((l) => l.startsWith("acked ")).length, 0);
    assert.equal((await acker.wait(20_000)).code, 0, acker.output);

    const stats = (await client.stats("tasks")).queues[0];
    assert.equal(stats.totals.acked, 5, "each job acked exactly once");
    assert.equal(stats.ready + stats.inFlight + stats.dead, 0);
    await client.close();
  } finally {
    if (acker) {
      acker.signal("SIGCONT");
      await acker.stop();
    }
    await god.proc.stop();
  }
});

test(`fault: a ${OTHER} god stopped (SIGTERM, exit 0) and restarted under load loses nothing with its default journal`, async () => {
  const dir = tempDir();
  const port = await freePort();
  let god = startGodRole(OTHER, port, dir);
  try {
    await god.waitFor(/"event":"listening"/, 30_000);
    const addr = `127.0.0.1:${port}`;
    const events: string[] = [];
    const onEvent = (e: { event: string }) => events.push(e.event);
    const producer = await connect({ addr, authkey: AUTHKEY, maxBackoffMs: 300, onEvent });
    const consumer = await connect({ addr, authkey: AUTHKEY, maxBackoffMs: 300, onEvent });
    const N = 1000;
    const seen = new Set<string>();
    let acked = 0;
    const consuming = (async () => {
      for await (const job of consumer.queue<number>("tasks").consume({ prefetch: 16 })) {
        seen.add(job.id);
        // An ack cut off by the restart fails; the job comes back and is seen again.
        job.ack().then(() => acked++, () => {});
        if (seen.size === N) break;
      }
    })();
    const producing = (async () => {
      for (let i = 0; i < N; i += 10) {
        await Promise.all(
          Array.from(
            { length: 10 },
            (_, k) => producer.queue("tasks").put(i + k, { id: `job-${i + k}` }),
          ),
        );
      }
    })();
    await until("some of the load went through", () => seen.size >= 150, 30_000);
    god.signal("SIGTERM");
    const stopped = await god.wait(20_000);
    assert.equal(stopped.code, 0, `graceful stop exits 0:\n${god.output.slice(-2000)}`);
    assert.match(god.output, /"event":"stopped"/);
    god = startGodRole(OTHER, port, dir);
    await god.waitFor(/"event":"listening"/, 30_000);
    await producing;
    await within(consuming, 60_000, () => `only ${seen.size} of ${N} seen`);
    assert.equal(seen.size, N, "every job was delivered");
    assert.equal(events.filter((e) => e === "disconnected").length, 2, "both clients saw the stop");
    assert.equal(events.filter((e) => e === "connected").length, 4, "and reconnected");
    await until("the last acks land", async () => {
      const s = (await producer.stats("tasks")).queues[0];
      return s.ready + s.inFlight + s.delayed === 0;
    }, 20_000);
    const stats = (await producer.stats("tasks")).queues[0];
    assert.equal(stats.dead, 0);
    await producer.close();
    await consumer.close();
  } finally {
    await god.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test(`fault: a second SIGTERM during a ${OTHER} god's graceful stop exits at once; a torn journal tail is detected on restart`, async () => {
  const dir = tempDir();
  const port = await freePort();
  let god = startGodRole(OTHER, port, dir);
  try {
    await god.waitFor(/"event":"listening"/, 30_000);
    const addr = `127.0.0.1:${port}`;
    const client = await connect({ addr, authkey: AUTHKEY, reconnect: false });
    await client.declare("full", { maxsize: 1 });
    await client.queue("full").put("kept", { id: "kept" });
    // A put parked on the full queue keeps the graceful stop waiting for it.
    const parked = client.queue("full").put("waits", { id: "waits", timeout: 60_000 }).catch((e) =>
      e
    );
    await until(
      "the put parks",
      async () => (await client.stats("full")).queues[0].waitingPuts === 1,
    );
    god.signal("SIGTERM");
    await god.waitFor(/"event":"stopping"/, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 1200)); // signals within 1 s count once
    god.signal("SIGTERM");
    const result = await god.wait(20_000);
    assert.equal(result.code, 1, god.output.slice(-2000));
    assert.match(god.output, /stopping now without draining/);
    assert.ok((await parked) instanceof Error, "the parked put fails on the client");
    await client.close();

    // A write cut short by such an exit leaves a torn record at the journal's end:
    // make one, and the restart must find it, cut it off, and keep every record before it.
    const journal = fs.readdirSync(dir).filter((f) => /^journal-.*\.twj$/.test(f)).sort().pop();
    assert.ok(journal, `a journal file in ${fs.readdirSync(dir)}`);
    fs.appendFileSync(path.join(dir, journal), Uint8Array.from([0, 0, 0, 200, 7, 7, 7, 7, 7]));
    god = startGodRole(OTHER, port, dir);
    await god.waitFor(/"event":"listening"/, 30_000);
    assert.match(god.output, /journal_tail_truncated/, "the torn tail was detected");
    const again = await connect({ addr, authkey: AUTHKEY, reconnect: false });
    const job = await again.queue("full").get({ timeout: 2000 });
    assert.equal(job?.id, "kept", "the acknowledged put survived the hard stop");
    await job!.ack();
    await again.close();
  } finally {
    await god.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

for (const direction of ["up", "down"] as const) {
  test(`fault: a network cut mid-frame (${direction === "up" ? "client → god" : "god → client"}) loses no job; clients reconnect`, async () => {
    const god = await hardGod(OTHER, ["--lease", "2000"]);
    const proxy = await LinkProxy.start(god.port);
    try {
      const viaProxy = `127.0.0.1:${proxy.port}`;
      const N = 200;
      const payload = "p".repeat(10_000);
      const producer = await connect({
        addr: direction === "up" ? viaProxy : god.addr,
        authkey: AUTHKEY,
        maxBackoffMs: 200,
      });
      const consumer = await connect({
        addr: direction === "down" ? viaProxy : god.addr,
        authkey: AUTHKEY,
        maxBackoffMs: 200,
      });
      const seen = new Set<number>();
      const consuming = (async () => {
        for await (const job of consumer.queue<{ i: number }>("tasks").consume({ prefetch: 8 })) {
          seen.add(job.value.i);
          job.ack().catch(() => {});
          if (seen.size === N) break;
        }
      })();
      for (let i = 0; i < N; i += 5) {
        if (i === 50 || i === 120) proxy.cutNext(direction);
        await Promise.all(
          Array.from(
            { length: 5 },
            (_, k) => producer.queue("tasks").put({ i: i + k, payload }, { id: `cut-${i + k}` }),
          ),
        );
      }
      await within(consuming, 60_000, () => `only ${seen.size} of ${N} seen`);
      assert.ok(proxy.cuts >= 1, "the proxy cut a connection mid-frame");
      assert.equal(seen.size, N, "every job arrived");
      const stats = (await producer.stats("tasks")).queues[0];
      assert.equal(stats.totals.put, N, "a put retried after the cut was stored once");
      await until("the last acks land", async () => {
        const s = (await producer.stats("tasks")).queues[0];
        return s.ready + s.inFlight === 0;
      }, 20_000);
      await producer.close();
      await consumer.close();
    } finally {
      await proxy.close();
      await god.proc.stop();
    }
  });
}
