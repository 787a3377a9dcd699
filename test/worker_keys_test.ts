/**
 * Worker keys: made from the god's key, accepted by both doors, and good only
 * for taking and finishing jobs of their queues and putting to their result
 * queues. Everything else is refused with an error that says what the key
 * may do.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  ArgumentError,
  AuthError,
  connect,
  ErrorCode,
  type God,
  makeWorkerKey,
  RemoteError,
  serve,
  serveHttp,
} from "../mod.ts";
import type { HttpFace } from "../lib/http/serve.ts";
import { parseScope, scopeOfKey } from "../lib/protocol/keys.ts";
import { signRequest } from "../lib/http/sign.ts";
import { importAuthKey } from "../lib/protocol/keys.ts";
import { CURRENT, start } from "./_support/process.ts";

const GOD_KEY = "worker-keys-test-god-key";
let god: God;
let face: HttpFace;
let workerKey: string;

before(async () => {
  god = await serve({ listen: "127.0.0.1:0", authkey: GOD_KEY });
  face = await serveHttp(god, { listen: "127.0.0.1:0" });
  workerKey = await makeWorkerKey(GOD_KEY, { consume: ["tasks"], put: ["results"] });
});
after(async () => {
  await face.close();
  await god.close();
});

test("a worker key carries its scope and is bound to the god's key", async () => {
  assert.match(workerKey, /^twk1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(parseScope(scopeOfKey(workerKey)!), { consume: ["tasks"], put: ["results"] });
  assert.notEqual(
    await makeWorkerKey("another god's key", { consume: ["tasks"], put: ["results"] }),
    workerKey,
  );
  await assert.rejects(makeWorkerKey(workerKey, { consume: ["x"], put: [] }), ArgumentError);
  await assert.rejects(makeWorkerKey(GOD_KEY, { consume: [], put: [] }), /name at least one queue/);
  await assert.rejects(
    makeWorkerKey(GOD_KEY, { consume: ["bad name!"], put: [] }),
    /not a queue name/,
  );
});

for (const door of ["tcp", "http"] as const) {
  const addr = () => door === "tcp" ? `127.0.0.1:${god.port}` : face.url;

  test(`[${door}] a worker key takes and finishes tasks and puts results`, async () => {
    const admin = await connect({ addr: addr(), authkey: GOD_KEY });
    const worker = await connect({ addr: addr(), authkey: workerKey, role: "worker" });
    try {
      await admin.queue<number>("tasks").putMany([3, 4, 5]);
      const squares: number[] = [];
      const consumer = worker.queue<number>("tasks").consume({ prefetch: 2 });
      for await (const job of consumer) {
        await worker.queue<number>("results").put(job.value * job.value);
        if (job.value === 4 && job.attempts === 1) {
          await job.touch();
          await job.nack();
          continue;
        }
        await job.ack();
        squares.push(job.value * job.value);
        if (squares.length === 3) break;
      }
      assert.deepEqual(squares.sort((a, b) => a - b), [9, 16, 25]);
      const [results] = (await worker.stats("results")).queues;
      assert.ok(results.ready >= 3, "a worker may read the stats of its own queues");
      await admin.purge("results");
    } finally {
      await worker.close();
      await admin.close();
    }
  });

  test(`[${door}] a worker key is refused everything else, saying what it may do`, async () => {
    const worker = await connect({ addr: addr(), authkey: workerKey });
    try {
      const refusals: [string, () => Promise<unknown>][] = [
        ['purge "tasks"', () => worker.purge("tasks")],
        ['requeue the dead letters of "tasks"', () => worker.deadRequeue("tasks")],
        ['list the dead letters of "tasks"', () => worker.deadList("tasks")],
        ['peek at "tasks"', () => worker.peek("tasks")],
        ['declare "tasks"', () => worker.declare("tasks", { maxsize: 1 })],
        ["read the stats of the whole god", () => worker.stats()],
        ['read the stats of "other"', () => worker.stats("other")],
        ['put to "tasks"', () => worker.queue("tasks").put(1)],
        ['take jobs of "results"', () => worker.queue("results").get({ timeout: 0 })],
      ];
      for (const [action, attempt] of refusals) {
        await assert.rejects(attempt(), (error: unknown) => {
          assert.ok(error instanceof RemoteError, `${action}: ${String(error)}`);
          assert.equal(error.code, ErrorCode.Forbidden);
          assert.ok(
            error.message.includes(
              `This worker key may only take and finish jobs of tasks; put to results: it cannot ${action}`,
            ),
            error.message,
          );
          return true;
        });
      }
    } finally {
      await worker.close();
    }
  });

  test(`[${door}] a tampered worker key, or one made for another god, is refused`, async () => {
    const tampered = workerKey.slice(0, -4) + (workerKey.endsWith("AAAA") ? "BBBB" : "AAAA");
    const foreign = await makeWorkerKey("some other god", { consume: ["tasks"], put: ["results"] });
    // The scope changed but the MAC kept: the god derives another key, and the proof fails.
    const widened = workerKey.replace(
      scopeOfKey(workerKey)!,
      scopeOfKey(
        await makeWorkerKey(GOD_KEY, { consume: ["tasks", "results"], put: ["results"] }),
      )!,
    );
    for (const authkey of [tampered, foreign, widened]) {
      await assert.rejects(
        connect({ addr: addr(), authkey, reconnect: false }),
        (error: unknown) =>
          error instanceof AuthError &&
          /worker key was not made from the god's key/.test(error.message),
      );
    }
  });
}

test("[http] a client id used with one key cannot be taken over with another", async () => {
  const url = new URL(`${face.url}/api/hello`);
  const hello = async (authkey: string) => {
    const headers = await signRequest(await importAuthKey(authkey), {
      method: "GET",
      url,
      clientId: "shared-client-id",
      peer: "role=test",
      body: new Uint8Array(0),
      scope: scopeOfKey(authkey),
    });
    const response = await fetch(url, { headers });
    return { status: response.status, body: await response.json() };
  };
  assert.equal((await hello(GOD_KEY)).status, 200);
  const takeover = await hello(workerKey);
  assert.equal(takeover.status, 403);
  assert.match(takeover.body.error.message, /in use with another key/);
});

test(`admin key worker prints a key the consumer role can use (god and admin on ${CURRENT})`, async () => {
  const admin = start(CURRENT, "roles/admin.ts", [
    "key",
    "worker",
    "--queues",
    "tasks",
    "--results",
    "results",
    "--json",
  ], { env: { TASKWIRE_AUTHKEY: GOD_KEY } });
  const line = await admin.waitFor(/"event":"worker-key"/);
  assert.equal((await admin.exited).code, 0);
  const printed = JSON.parse(line);
  assert.equal(printed.key, workerKey, "the same scope makes the same key");
  assert.equal(printed.may, "take and finish jobs of tasks; put to results");

  // Without --json, standard output holds the key alone (KEY=$(… key worker …)); the remark goes to stderr.
  const plain = start(CURRENT, "roles/admin.ts", [
    "key",
    "worker",
    "--queues",
    "tasks",
    "--results",
    "results",
  ], { env: { TASKWIRE_AUTHKEY: GOD_KEY } });
  await plain.waitFor(/may only take and finish jobs of tasks; put to results/);
  await plain.waitFor(/^twk1\./);
  assert.equal((await plain.exited).code, 0);
  assert.deepEqual(plain.lines.filter((l) => l !== ""), [workerKey]);
  assert.match(plain.errLines.join("\n"), /may only take and finish jobs of tasks; put to results/);

  const unknown = start(CURRENT, "roles/admin.ts", ["key", "reader"], {
    env: { TASKWIRE_AUTHKEY: GOD_KEY },
  });
  assert.equal((await unknown.exited).code, 2);
  assert.match(unknown.output, /Unknown command "key reader": use key worker/);
});
