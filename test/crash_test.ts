/**
 * Crash tests with real processes: a durable god (test/_support/durable_god.ts,
 * on Node and Deno in turn) under steady put/consume load is killed with
 * SIGKILL at random moments and restarted on the same data directory. Every
 * put the producer saw acknowledged must be consumed (acked) in the end or
 * still be queued, and no job whose ack was confirmed may come back.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import process from "node:process";
import { connect } from "../lib/client/connect.ts";
import { openJournal } from "../lib/store/open.ts";
import type { Client } from "../lib/client/api.ts";
import { freePort, type Proc, type Runtime, RUNTIMES, start } from "./_support/process.ts";

const KEY = "crash-test-key-0123456789";
/** TRACE=1 prints the rounds as they go (for debugging). */
const TRACE = process.env.TRACE
  ? (...a: unknown[]) => console.error(new Date().toISOString().slice(17, 23), ...a)
  : () => {};
const FIXTURE = "test/_support/durable_god.ts";

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "taskwire-crash-"));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for `promise`, at most `ms` (the timer is cleared either way). */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise, new Promise((resolve) => timer = setTimeout(resolve, ms))]);
  clearTimeout(timer);
}

async function startGod(
  runtime: Runtime,
  dir: string,
  port: number,
  extra: string[] = [],
): Promise<Proc> {
  const proc = start(runtime, FIXTURE, [dir, "--port", String(port), ...extra], {
    env: { TASKWIRE_AUTHKEY: KEY },
  });
  try {
    await proc.waitFor(/"event":"listening"/, 30_000);
  } catch (error) {
    proc.signal("SIGKILL");
    await proc.exited;
    throw error;
  }
  return proc;
}

async function kill(proc: Proc): Promise<void> {
  proc.signal("SIGKILL");
  await proc.exited;
}

/** A producer and a consumer on their own connections, keeping score. */
class Load {
  /** Values whose put the producer saw acknowledged. */
  readonly putAcked = new Set<number>();
  /** Values whose ack the consumer saw confirmed. */
  readonly ackDone = new Set<number>();
  /** Values the consumer sent an ack for (confirmed or not). */
  readonly ackSent = new Set<number>();
  readonly violations: string[] = [];
  deliveries = 0;
  #next = 0;
  #stopped = false;
  readonly #inFlight = new Set<Promise<unknown>>();
  #producerDone: Promise<void> = Promise.resolve();
  #consumerDone: Promise<void> = Promise.resolve();

  constructor(readonly producer: Client, readonly consumer: Client) {}

  start(): void {
    this.#producerDone = this.#produce();
    this.#consumerDone = this.#consume();
  }

  async #produce(): Promise<void> {
    const tasks = this.producer.queue<number>("tasks");
    while (!this.#stopped) {
      while (this.#inFlight.size < 64 && !this.#stopped) {
        const value = this.#next++;
        const put = tasks.put(value, { id: `v${value}` }).then(
          () => {
            this.putAcked.add(value);
          },
          () => {},
        );
        this.#inFlight.add(put);
        put.finally(() => this.#inFlight.delete(put));
      }
      await within(Promise.race([...this.#inFlight]), 5);
    }
  }

  async #consume(): Promise<void> {
    const consumer = this.consumer.queue<number>("tasks").consume({ prefetch: 32 });
    try {
      for await (const job of consumer) {
        this.deliveries++;
        const value = job.value;
        if (this.ackDone.has(value)) {
          this.violations.push(`value ${value} was delivered again after its ack was confirmed`);
        }
        this.ackSent.add(value);
        job.ack().then(() => this.ackDone.add(value), () => {});
      }
    } catch (error) {
      this.violations.push(`consumer stopped: ${(error as Error).message}`);
    }
  }

  /** Stops putting and waits until the puts in flight are answered. */
  async stopProducing(timeoutMs = 20_000): Promise<void> {
    this.#stopped = true;
    await within(this.#producerDone, timeoutMs);
    await within(Promise.allSettled([...this.#inFlight]), timeoutMs);
  }

  /** Acknowledged puts not (yet) consumed. */
  missing(): number[] {
    return [...this.putAcked].filter((v) => !this.ackDone.has(v) && !this.ackSent.has(v));
  }

  /** Waits until every acknowledged put is consumed, or the time runs out. */
  async drain(timeoutMs = 20_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until && this.missing().length > 0) await sleep(50);
    // Let the last acks be confirmed.
    const settle = Date.now() + 2000;
    while (Date.now() < settle && [...this.ackSent].some((v) => !this.ackDone.has(v))) {
      await sleep(20);
    }
  }

  async close(): Promise<void> {
    this.#stopped = true;
    await within(Promise.allSettled([this.producer.close(), this.consumer.close()]), 3000);
    await within(this.#consumerDone, 2000);
  }
}

async function clients(port: number): Promise<Load> {
  const options = {
    addr: `127.0.0.1:${port}`,
    authkey: KEY,
    waitForGod: true,
    maxBackoffMs: 100,
  };
  const producer = await connect({ ...options, role: "producer" });
  const consumer = await connect({ ...options, role: "consumer" });
  return new Load(producer, consumer);
}

/**
 * Runs `rounds` kill/restart rounds, alternating the god's runtime, then a
 * final god that must hand out every acknowledged put.
 */
async function crashRounds(options: {
  rounds: number;
  fsync: string;
  extra?: string[];
  /** Waits for the moment to kill (default: a random 150-900 ms of load). */
  killAt?: (god: Proc, round: number) => Promise<void>;
}): Promise<{ load: Load; gods: Proc[]; dir: string }> {
  const dir = tempDir();
  const port = await freePort();
  const args = ["--fsync", options.fsync, ...(options.extra ?? [])];
  const gods: Proc[] = [];
  let god: Proc | null = null;
  let load: Load | null = null;
  try {
    god = await startGod(RUNTIMES[0], dir, port, args);
    gods.push(god);
    load = await clients(port);
    load.start();
    for (let round = 0; round < options.rounds; round++) {
      const before = load.putAcked.size;
      if (options.killAt) await options.killAt(god, round);
      else await sleep(150 + Math.random() * 750);
      TRACE("kill", round, load.putAcked.size, load.ackDone.size);
      await kill(god);
      TRACE("killed");
      assert.ok(
        load.putAcked.size > before || round > 0,
        `round ${round}: the producer made no progress (output: ${god.output.slice(-500)})`,
      );
      god = await startGod(RUNTIMES[(round + 1) % RUNTIMES.length], dir, port, args);
      gods.push(god);
      TRACE("restarted", god.lines.join("\n").slice(0, 400));
      const summary = await god.waitFor(/"event":"summary"/);
      assert.match(summary, /recovered \d+ jobs/);
    }
    TRACE("stop producing");
    await load.stopProducing();
    TRACE("drain", load.putAcked.size, load.ackDone.size);
    await load.drain();
    TRACE("drained", load.missing().length);
    const missing = load.missing();
    assert.deepEqual(
      missing.slice(0, 20),
      [],
      `${missing.length} acknowledged puts were lost (of ${load.putAcked.size}); god output:\n${
        god.output.slice(-2000)
      }`,
    );
    assert.deepEqual(load.violations, []);
    assert.ok(load.putAcked.size > 0);
    return { load, gods, dir };
  } finally {
    await load?.close();
    await god?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test("crash: SIGKILL at random moments under load loses no acknowledged put (fsync always, Node and Deno gods)", async () => {
  const { load, gods } = await crashRounds({ rounds: 5, fsync: "always" });
  // Each restart reported its recovery in one line.
  for (const god of gods.slice(1)) {
    assert.match(god.output, /recovered \d+ jobs \(\d+ ready, \d+ delayed, \d+ dead\)/);
  }
  assert.ok(load.ackDone.size > 0);
});

test("crash: a god killed during compaction restarts with every acknowledged put", async () => {
  let compactions = 0;
  const { gods } = await crashRounds({
    rounds: 4,
    fsync: "always",
    extra: ["--compact-min", "30000", "--compact-ratio", "1.5", "--compact-pause", "60"],
    killAt: async (god, round) => {
      // Odd rounds: kill a random moment into a compaction; even rounds: at random.
      if (round % 2 === 1) {
        await god.waitFor(/"event":"compaction_started"/, 20_000);
        await sleep(Math.random() * 200);
      } else {
        await sleep(300 + Math.random() * 900);
      }
    },
  });
  for (const god of gods) {
    compactions += god.lines.filter((l) => l.includes("compaction_done")).length;
  }
  assert.ok(compactions > 0, "no compaction finished in any round");
});

test("crash: with fsync batch, a killed god (not machine) still keeps every acknowledged put", async () => {
  await crashRounds({ rounds: 2, fsync: "batch" });
});

test("lock: a running god's directory is refused with its PID; after SIGKILL the stale lock is taken over", async () => {
  const dir = tempDir();
  const other: Runtime = RUNTIMES[RUNTIMES.length - 1];
  const god = await startGod(other, dir, 0);
  try {
    await assert.rejects(
      openJournal(dir),
      new RegExp(`another god \\(PID ${god.pid}, since .*\\) is using it; stop that god`),
    );
    await kill(god);
    const events: Record<string, unknown>[] = [];
    const { store, summary } = await openJournal(dir, { log: (e) => events.push(e) });
    assert.ok(events.some((e) => e.event === "stale_lock" && e.pid === god.pid));
    assert.match(summary, /^recovered 0 jobs/);
    await store.close();
  } finally {
    await god.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
