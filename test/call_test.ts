/**
 * `queue.call(value)`: put a task and get the result its consumer completes
 * it with, over TCP and HTTP, from Node and Deno; the right answer reaches the
 * right caller among many; a timeout, a dead-lettered task, a consumer killed
 * mid-task and a caller that goes away each end as documented; and a batch
 * of jobs costs an HTTP worker about one request to take and one to finish.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  type Client,
  connect,
  ConnectionLostError,
  ErrorCode,
  type God,
  RemoteError,
  serve,
  serveHttp,
  TimeoutError,
} from "../mod.ts";
import type { HttpFace } from "../lib/http/serve.ts";
import { CURRENT, RUNTIMES, start } from "./_support/process.ts";

const KEY = "call-test-key";
let god: God;
let face: HttpFace;
let n = 0;
const fresh = () => `calls-${++n}`;

before(async () => {
  god = await serve({ listen: "127.0.0.1:0", authkey: KEY });
  face = await serveHttp(god, { listen: "127.0.0.1:0" });
});
after(async () => {
  await face.close();
  await god.close();
});

const tcp = () => `127.0.0.1:${god.port}`;

/** A consumer that answers every task of `queue` with its square (until stopped). */
function squarer(client: Client, queue: string): { stop(): Promise<void> } {
  const consumer = client.queue<number>(queue).consume({ prefetch: 16 });
  const running = (async () => {
    for await (const job of consumer) {
      job.complete(job.value * job.value, { queue: "results" }).catch(() => {});
    }
  })().catch(() => {});
  return {
    async stop() {
      await consumer.return();
      await running;
    },
  };
}

test("answers reach the right caller among many concurrent callers on TCP and HTTP connections", async () => {
  const queue = fresh();
  const worker = await connect({ addr: tcp(), authkey: KEY });
  const httpWorker = await connect({ addr: face.url, authkey: KEY });
  const callers = await Promise.all([
    connect({ addr: tcp(), authkey: KEY }),
    connect({ addr: tcp(), authkey: KEY }),
    connect({ addr: face.url, authkey: KEY }),
    connect({ addr: face.url, authkey: KEY }),
  ]);
  const workers = [squarer(worker, queue), squarer(httpWorker, queue)];
  try {
    const asked = callers.flatMap((caller, c) =>
      Array.from({ length: 25 }, (_, i) => {
        const value = c * 1000 + i;
        return caller.queue<number>(queue).call<number>(value, { timeout: 10_000 })
          .then((answer) => [value, answer]);
      })
    );
    for (const [value, answer] of await Promise.all(asked)) assert.equal(answer, value * value);
    assert.equal(god.stats("results").queues[0].ready, 0, "answered results are not also queued");
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all([worker, httpWorker, ...callers].map((c) => c.close()));
  }
});

for (const runtime of RUNTIMES) {
  test(`the producer role on ${runtime} calls tasks and prints each answer computed by consumer roles (test on ${CURRENT})`, async () => {
    const env = { TASKWIRE_AUTHKEY: KEY, TASKWIRE_ADDR: tcp() };
    const consumers = RUNTIMES.map((r) =>
      start(r, "roles/consumer.ts", ["--quiet", "--json"], { env })
    );
    try {
      await Promise.all(consumers.map((c) => c.waitFor(/"event":"ready"/)));
      const producer = start(runtime, "roles/producer.ts", [
        "--rounds",
        "2",
        "--per-round",
        "10",
        "--interval",
        "0",
        "--await-results",
        "--json",
      ], { env });
      assert.equal((await producer.exited).code, 0, producer.output.slice(-2000));
      const answers = producer.lines.filter((l) => l.includes('"event":"answer"')).map((l) =>
        JSON.parse(l)
      );
      assert.equal(answers.length, 20);
      for (const a of answers) assert.equal(BigInt(a.square), BigInt(a.n) ** 2n);
      const done = JSON.parse(producer.lines.find((l) => l.includes('"event":"done"'))!);
      assert.equal(done.answered, 20);
    } finally {
      await Promise.all(consumers.map((c) => c.stop()));
    }
  });
}

for (const door of ["tcp", "http"] as const) {
  const addr = () => door === "tcp" ? tcp() : face.url;

  test(`[${door}] a call times out when nobody answers; the late result is not lost`, async () => {
    const queue = fresh();
    const caller = await connect({ addr: addr(), authkey: KEY });
    const worker = await connect({ addr: tcp(), authkey: KEY });
    try {
      await assert.rejects(
        caller.queue<number>(queue).call(6, { timeout: 200 }),
        (error: unknown) =>
          error instanceof TimeoutError && error.code === ErrorCode.Timeout &&
          /No answer to task .* within 200 ms; it stays queued/.test(error.message),
      );
      const job = (await worker.queue<number>(queue).get({ timeout: 1000 }))!;
      await job.complete(36, { queue: `${queue}-fallback` });
      // The god sends it to the queue the consumer named, or (if the caller's "forget" had not
      // arrived yet) to the caller, which stores it there itself.
      let late: { value: number; id: string }[] = [];
      for (let i = 0; i < 100 && late.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
        late = await worker.peek<number>(`${queue}-fallback`).catch(() => []);
      }
      assert.deepEqual(late.map((j) => [j.value, j.id]), [[36, `result:${job.id}`]]);
    } finally {
      await caller.close();
      await worker.close();
    }
  });

  test(`[${door}] a dead-lettered task rejects its call with the reason`, async () => {
    const queue = fresh();
    const caller = await connect({ addr: addr(), authkey: KEY });
    const worker = await connect({ addr: tcp(), authkey: KEY });
    try {
      const calling = caller.queue<string>(queue).call("x", { timeout: 5000 });
      calling.catch(() => {}); // checked below
      const job = (await worker.queue<string>(queue).get({ timeout: 2000 }))!;
      await job.fail("not a number");
      await assert.rejects(
        calling,
        (error: unknown) =>
          error instanceof RemoteError && error.code === ErrorCode.DeadLettered &&
          /was dead-lettered: not a number/.test(error.message),
      );
    } finally {
      await caller.close();
      await worker.close();
    }
  });

  test(`[${door}] a caller that goes away before the answer: the result goes to the fallback queue`, async () => {
    const queue = fresh();
    const caller = await connect({ addr: addr(), authkey: KEY });
    const worker = await connect({ addr: tcp(), authkey: KEY });
    try {
      const calling = caller.queue<number>(queue).call(9, { timeout: 5000 });
      calling.catch(() => {}); // checked below
      const job = (await worker.queue<number>(queue).get({ timeout: 2000 }))!;
      await caller.close();
      await assert.rejects(calling, ConnectionLostError);
      await job.complete(81);
      const [result] = await worker.peek<number>(`${queue}.results`);
      assert.equal(result.value, 81);
      assert.equal(result.id, `result:${job.id}`);
    } finally {
      await worker.close();
    }
  });
}

test("a consumer killed mid-task: the redelivered task's result still reaches the caller", async () => {
  const queue = fresh();
  const caller = await connect({ addr: tcp(), authkey: KEY });
  const holder = start(CURRENT, "test/_support/holding_consumer.ts", [tcp(), queue, "1"], {
    env: { TASKWIRE_AUTHKEY: KEY },
  });
  const worker = await connect({ addr: tcp(), authkey: KEY });
  try {
    const calling = caller.queue<number>(queue).call<number>(12, { timeout: 20_000 });
    await holder.waitFor(/^holding 1$/);
    holder.signal("SIGKILL");
    await holder.exited;
    const job = (await worker.queue<number>(queue).get({ timeout: 5000 }))!;
    assert.equal(job.attempts, 2, "the held task came back");
    await job.complete(job.value * job.value);
    assert.equal(await calling, 144);
  } finally {
    await holder.stop();
    await caller.close();
    await worker.close();
  }
});

test("an HTTP worker spends about one request to take a batch and one to complete it", async () => {
  const queue = fresh();
  const producer = await connect({ addr: tcp(), authkey: KEY });
  let requests = 0;
  const counted: typeof fetch = (input, init) => {
    requests++;
    return fetch(input, init);
  };
  const worker = await connect({ addr: face.url, authkey: KEY, fetch: counted });
  try {
    await producer.queue<number>(queue).putMany(Array.from({ length: 200 }, (_, i) => i));
    const hello = requests;
    let done = 0;
    while (done < 200) {
      const jobs = await worker.queue<number>(queue).getMany(50, { timeout: 1000 });
      await Promise.all(jobs.map((job) => job.complete(job.value * 2, { queue: "results" })));
      done += jobs.length;
    }
    const perBatch = (requests - hello) / 4;
    assert.ok(perBatch <= 2, `${requests - hello} requests for 4 batches of 50`);
    assert.equal(god.stats(queue).queues[0].totals.acked, 200);
  } finally {
    await producer.close();
    await worker.close();
  }
});
