/**
 * The HTTP face's API through the fetch client and raw signed requests,
 * against a real god (TCP on 127.0.0.1 port 0) with its HTTP face (port 0).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { serve } from "../lib/server/server.ts";
import { connect } from "../lib/client/connect.ts";
import { ArgumentError, AuthError, ErrorCode, RemoteError } from "../lib/protocol/errors.ts";
import { importAuthKey } from "../lib/protocol/keys.ts";
import { encodeValue } from "../lib/protocol/codec.ts";
import { serveHttp } from "../lib/http/serve.ts";
import { signRequest } from "../lib/http/sign.ts";
import { createHttpApp } from "../lib/http/app.ts";
import { until } from "./_support/until.ts";

const AUTHKEY = "http-test-key";
const QUEUES = ["tasks", "results", "ops", "deadq", "poll", "abandon", "mixed", "replay", "idle"];

async function setup(options: { maxBodyBytes?: number; idleMs?: number } = {}) {
  const god = await serve({
    listen: "127.0.0.1:0",
    authkey: AUTHKEY,
    allowCreate: false,
    queues: Object.fromEntries(QUEUES.map((q) => [q, {}])),
  });
  const face = await serveHttp(god, { listen: "127.0.0.1:0", ...options });
  return {
    god,
    face,
    async close() {
      await face.close();
      await god.close();
    },
  };
}

/** A signed request made by hand, as a non-taskwire client would. */
async function signed(
  url: string,
  method: string,
  options: {
    body?: string;
    key?: string;
    now?: number;
    clientId?: string;
    signal?: AbortSignal;
    headers?: Record<string, string>;
  } = {},
): Promise<Response> {
  const body = new TextEncoder().encode(options.body ?? "");
  const target = new URL(url);
  const headers = await signRequest(await importAuthKey(options.key ?? AUTHKEY), {
    method,
    url: target,
    clientId: options.clientId ?? "raw-test-client",
    peer: "role=test",
    body,
    now: options.now,
    god: await godOf(target),
  });
  return fetch(target, {
    method,
    headers: { ...headers, ...options.headers },
    body: method === "GET" ? undefined : body,
    signal: options.signal,
  });
}

/** The id of the god serving `url` (every reply of the HTTP face names it). */
async function godOf(url: URL): Promise<string> {
  const response = await fetch(new URL("/healthz", url));
  await response.body?.cancel();
  return response.headers.get("x-taskwire-god") ?? "";
}

test("the client over HTTP performs every queue operation against a real god", async () => {
  const { god, face, close } = await setup();
  const client = await connect({ addr: face.url, authkey: AUTHKEY, role: "tester" });
  try {
    const ops = client.queue<unknown>("ops");
    const value = {
      when: new Date(1_700_000_000_000),
      big: 2n ** 70n,
      map: new Map([[1, new Set(["a"])]]),
      none: undefined,
    };
    const id = await ops.put(value, { id: "job-1", priority: 5 });
    assert.equal(id, "job-1");
    assert.equal(await ops.put(value, { id: "job-1" }), "job-1"); // a repeat: deduped
    const ids = await ops.putMany([1, 2, 3]);
    assert.equal(ids.length, 3);
    await ops.put("later", { delay: 60_000 });

    const [stats] = (await client.stats("ops")).queues;
    assert.equal(stats.ready, 4);
    assert.equal(stats.delayed, 1);
    assert.equal(stats.totals.duplicates, 1);

    const peeked = await client.peek("ops", 2);
    assert.deepEqual(peeked.map((j) => j.id), ["job-1", ids[0]]);
    assert.deepEqual(peeked[0].value, value);

    const first = await ops.get({ timeout: 1000 });
    assert.ok(first);
    assert.equal(first.id, "job-1");
    assert.equal(first.priority, 5);
    assert.equal(first.attempts, 1);
    assert.deepEqual(first.value, value);
    const deadline = await first.touch();
    assert.ok(deadline > Date.now());
    await first.ack();
    await assert.rejects(first.ack(), ArgumentError);

    const second = await ops.get({ timeout: 1000 });
    assert.equal(second?.value, 1);
    await second!.nack();
    const again = await ops.get({ timeout: 1000 });
    assert.equal(again?.value, 1);
    assert.equal(again?.attempts, 2);
    await again!.fail("bad input");

    const dead = await client.deadList("ops");
    assert.equal(dead.length, 1);
    assert.equal(dead[0].value, 1);
    assert.match(dead[0].reason ?? "", /bad input/);
    assert.equal(await client.deadRequeue("ops"), 1);
    assert.equal((await client.deadList("ops")).length, 0);

    // consume with a prefetch window
    const seen: unknown[] = [];
    const consumer = ops.consume({ prefetch: 2 });
    for await (const job of consumer) {
      seen.push(job.value);
      await job.ack();
      if (seen.length === 3) break;
    }
    assert.deepEqual(seen.sort(), [1, 2, 3]);

    assert.equal(await client.purge("ops"), 1); // the delayed one
    const declared = await client.declare("ops", { maxsize: 10 });
    assert.equal(declared.maxsize, 10);

    // Names with characters that are escaped in paths still sign and route.
    await client.declare("ns:jobs.v1");
    await client.queue<string>("ns:jobs.v1").put("namespaced");
    const namespaced = await client.queue<string>("ns:jobs.v1").get({ timeout: 1000 });
    assert.equal(namespaced?.value, "namespaced");
    await namespaced!.ack();

    const all = await client.stats();
    const me = all.connections.find((c) => c.role === "tester");
    assert.ok(me, "the HTTP client shows among the connections");
    assert.equal((me as unknown as { transport: string }).transport, "http");
    assert.equal(god.stats("ops").queues[0].inFlight, 0);
  } finally {
    await client.close();
    await close();
  }
});

test("an HTTP producer and a TCP consumer cooperate, and the reverse", async () => {
  const { god, face, close } = await setup();
  const http = await connect({ addr: face.url, authkey: AUTHKEY, role: "producer" });
  const tcp = await connect({ addr: `127.0.0.1:${god.port}`, authkey: AUTHKEY, role: "consumer" });
  try {
    const n = 20;
    // HTTP producer -> TCP consumer -> results over TCP -> HTTP reader
    await http.queue<bigint>("tasks").putMany(
      Array.from({ length: n }, (_, i) => BigInt(i) ** 20n),
    );
    const squares: Promise<void> = (async () => {
      let done = 0;
      for await (const job of tcp.queue<bigint>("tasks").consume({ prefetch: 8 })) {
        await tcp.queue<bigint>("results").put(job.value * job.value);
        await job.ack();
        if (++done === n) break;
      }
    })();
    const results: bigint[] = [];
    for await (const job of http.queue<bigint>("results").consume({ prefetch: 4 })) {
      results.push(job.value);
      await job.ack();
      if (results.length === n) break;
    }
    await squares;
    assert.deepEqual(
      results.sort((a, b) => a < b ? -1 : a > b ? 1 : 0),
      Array.from({ length: n }, (_, i) => (BigInt(i) ** 20n) ** 2n),
    );

    // TCP producer -> HTTP consumer
    await tcp.queue<{ n: number }>("mixed").putMany([{ n: 1 }, { n: 2 }, { n: 3 }]);
    const got: number[] = [];
    while (got.length < 3) {
      const job = await http.queue<{ n: number }>("mixed").get({ timeout: 2000 });
      assert.ok(job, "a job arrives over HTTP");
      got.push(job.value.n);
      await job.ack();
    }
    assert.deepEqual(got, [1, 2, 3]);
    const [mixed] = god.stats("mixed").queues;
    assert.equal(mixed.totals.acked, 3);
    assert.equal(mixed.inFlight, 0);
  } finally {
    await http.close();
    await tcp.close();
    await close();
  }
});

test("missing auth, a wrong key, a stale timestamp and a changed body get 401", async () => {
  const { face, close } = await setup();
  try {
    const missing = await fetch(`${face.url}/api/stats`);
    assert.equal(missing.status, 401);
    assert.match((await missing.json()).error.message, /Missing authentication/);

    await assert.rejects(
      connect({ addr: face.url, authkey: "wrong key" }),
      (error: unknown) => error instanceof AuthError && /Bad signature/.test(error.message),
    );
    const wrong = await signed(`${face.url}/api/queues/tasks/put`, "POST", {
      key: "wrong key",
      body: '{"items":[]}',
    });
    assert.equal(wrong.status, 401);
    assert.equal((await wrong.json()).error.code, ErrorCode.AuthFailed);

    const stale = await signed(`${face.url}/api/stats`, "GET", { now: Date.now() - 120_000 });
    assert.equal(stale.status, 401);
    assert.match((await stale.json()).error.message, /Stale or invalid timestamp/);
    const future = await signed(`${face.url}/api/stats`, "GET", { now: Date.now() + 120_000 });
    assert.equal(future.status, 401);

    // A body changed after signing.
    const url = new URL(`${face.url}/api/queues/tasks/put`);
    const headers = await signRequest(await importAuthKey(AUTHKEY), {
      method: "POST",
      url,
      clientId: "raw-test-client",
      peer: "",
      body: new TextEncoder().encode('{"items":[]}'),
      god: face.godId,
    });
    const changed = await fetch(url, { method: "POST", headers, body: '{"items":[ ]}' });
    assert.equal(changed.status, 401);
    await changed.body?.cancel();

    const badToken = await fetch(`${face.url}/api/stats?token=nope`);
    assert.equal(badToken.status, 401);
    await badToken.body?.cancel();
  } finally {
    await close();
  }
});

test("a replayed put is refused, and a put sent again with a fresh signature does not duplicate the job", async () => {
  const { god, face, close } = await setup();
  try {
    const url = new URL(`${face.url}/api/queues/replay/put`);
    const body = new TextEncoder().encode(
      JSON.stringify({
        items: [{ id: "replay-1", payload: JSON.parse(new TextDecoder().decode(encodeValue(7))) }],
      }),
    );
    const sign = async () =>
      await signRequest(await importAuthKey(AUTHKEY), {
        method: "POST",
        url,
        clientId: "replayer-1",
        peer: "",
        body,
        god: face.godId,
      });
    const headers = await sign();
    const first = await (await fetch(url, { method: "POST", headers, body })).json();
    const replayed = await fetch(url, { method: "POST", headers, body });
    assert.equal(first.accepted, 1);
    assert.equal(replayed.status, 401);
    assert.match((await replayed.json()).error.message, /Replayed request/);
    const again = await (await fetch(url, { method: "POST", headers: await sign(), body })).json();
    assert.equal(again.accepted, 0);
    assert.equal(again.duplicates, 1);
    assert.equal(god.stats("replay").queues[0].ready, 1);
  } finally {
    await close();
  }
});

test("a long-poll get wakes on a put, and an abandoned one leaves no waiter", async () => {
  const { god, face, close } = await setup();
  const http = await connect({ addr: face.url, authkey: AUTHKEY });
  const tcp = await connect({ addr: `127.0.0.1:${god.port}`, authkey: AUTHKEY });
  const waiting = (queue: string) => god.stats(queue).queues[0].waitingGets;
  try {
    const pending = http.queue<string>("poll").get({ timeout: 20_000 });
    await until("the long-poll to park", () => waiting("poll") === 1);
    await tcp.queue<string>("poll").put("wake up");
    const job = await pending;
    assert.equal(job?.value, "wake up");
    await job!.ack();

    // A get that times out resolves to null.
    assert.equal(await http.queue("poll").get({ timeout: 50 }), null);

    // An abandoned long-poll: the client goes away, the god lets go at once.
    const controller = new AbortController();
    const abandoned = signed(`${face.url}/api/queues/abandon/get?timeout=60000`, "POST", {
      signal: controller.signal,
    }).catch((error) => error);
    await until("the raw long-poll to park", () => waiting("abandon") === 1);
    controller.abort();
    await abandoned;
    await until("the abandoned long-poll to be released", () => waiting("abandon") === 0);
    // A job put now stays ready: nobody is holding a dead waiter for it.
    await tcp.queue("abandon").put("x");
    const [after] = god.stats("abandon").queues;
    assert.equal(after.ready, 1);
    assert.equal(after.inFlight, 0);
  } finally {
    await http.close();
    await tcp.close();
    await close();
  }
});

test("a silent HTTP client's leases go back to the queue", async () => {
  const { god, face, close } = await setup({ idleMs: 300 });
  try {
    await (await signed(`${face.url}/api/queues/idle/put`, "POST", {
      body: JSON.stringify({ items: [{ id: "i1", payload: { json: 1 } }] }),
      clientId: "silent-client",
    })).body?.cancel();
    const got = await (await signed(`${face.url}/api/queues/idle/get`, "POST", {
      clientId: "silent-client",
    })).json();
    assert.equal(got.jobs.length, 1);
    assert.equal(god.stats("idle").queues[0].inFlight, 1);
    await until("the lease to be returned", () => {
      const [s] = god.stats("idle").queues;
      return s.inFlight === 0 && s.ready === 1;
    });
  } finally {
    await close();
  }
});

test("bad requests get 413, 400, 404, 405 and 403", async () => {
  const { face, close } = await setup({ maxBodyBytes: 4096 });
  const client = await connect({ addr: face.url, authkey: AUTHKEY });
  try {
    await assert.rejects(
      client.queue("tasks").put("x".repeat(10_000)),
      (error: unknown) => error instanceof RemoteError && /HTTP 413.*4096/.test(error.message),
    );
    const big = await signed(`${face.url}/api/queues/tasks/put`, "POST", {
      body: "y".repeat(5000),
    });
    assert.equal(big.status, 413);
    assert.match((await big.json()).error.message, /limit of 4096 bytes/);

    const malformed = await signed(`${face.url}/api/queues/tasks/put`, "POST", { body: "{nope" });
    assert.equal(malformed.status, 400);
    assert.match((await malformed.json()).error.message, /not valid JSON/);
    const noPayload = await signed(`${face.url}/api/queues/tasks/put`, "POST", {
      body: JSON.stringify({ items: [{ id: "x" }] }),
    });
    assert.equal(noPayload.status, 400);
    assert.match((await noPayload.json()).error.message, /"payload"/);
    const badTimeout = await signed(`${face.url}/api/queues/tasks/get?timeout=abc`, "POST");
    assert.equal(badTimeout.status, 400);
    await badTimeout.body?.cancel();

    await assert.rejects(
      client.queue("no-such-queue").put(1),
      (error: unknown) =>
        error instanceof RemoteError && error.code === ErrorCode.UnknownQueue &&
        /HTTP 404/.test(error.message),
    );
    const unknown = await signed(`${face.url}/api/queues/no-such-queue/get`, "POST");
    assert.equal(unknown.status, 404);
    await unknown.body?.cancel();

    const wrongMethod = await signed(`${face.url}/api/queues/tasks/put`, "GET");
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get("allow"), "POST");
    await wrongMethod.body?.cancel();

    const viewerWrite = await fetch(`${face.url}/api/queues/tasks/put`, {
      method: "POST",
      headers: { authorization: `Bearer ${face.viewerToken}` },
      body: "{}",
    });
    assert.equal(viewerWrite.status, 403);
    assert.match((await viewerWrite.json()).error.message, /read-only/);
    const viewerRead = await fetch(`${face.url}/api/stats?token=${face.viewerToken}`);
    assert.equal(viewerRead.status, 200);
    assert.ok(Array.isArray((await viewerRead.json()).queues));

    // /healthz tells anyone whether the god is up, and only the viewer what runs it.
    const health = await fetch(`${face.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { ok: true, live: true, ready: true });
    const detailed = await fetch(`${face.url}/healthz?token=${face.viewerToken}`);
    const body = await detailed.json();
    assert.equal(body.ok, true);
    assert.equal(body.store.kind, "memory");
    assert.match(body.runtime, /node|deno/i);
  } finally {
    await client.close();
    await close();
  }
});

test("createHttpApp answers app.request() without a socket", async () => {
  const god = await serve({ listen: "127.0.0.1:0", authkey: AUTHKEY });
  const face = await createHttpApp(god);
  try {
    const health = await face.app.request("/healthz");
    assert.equal(health.status, 200);
    const page = await face.app.request("/");
    assert.match(await page.text(), /taskwire/);
    const missing = await face.app.request("/api/nothing");
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    face.close();
    await god.close();
  }
});

test("closing the HTTP face ends long-polls and event streams", async () => {
  const { god, face } = await setup();
  const client = await connect({ addr: face.url, authkey: AUTHKEY });
  try {
    const pending = client.queue("poll").get({ timeout: 60_000 }).then(
      () => "resolved",
      (error: Error) => error.name,
    );
    await until(
      "the long-poll to park",
      () => god.stats("poll").queues[0].waitingGets === 1,
    );
    const events = await fetch(`${face.url}/api/events?token=${face.viewerToken}`);
    assert.equal(events.status, 200);
    assert.match(events.headers.get("content-type") ?? "", /text\/event-stream/);
    const reader = events.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /event: history/);

    let timer: ReturnType<typeof setTimeout> | undefined;
    const closed = await Promise.race([
      face.close().then(() => "closed"),
      new Promise((resolve) => timer = setTimeout(() => resolve("hung"), 5000)),
    ]);
    clearTimeout(timer);
    assert.equal(closed, "closed");
    assert.notEqual(await pending, "resolved");
    assert.equal(god.stats("poll").queues[0].waitingGets, 0);
    await reader.cancel().catch(() => {});
  } finally {
    await client.close().catch(() => {});
    await face.close();
    await god.close();
  }
});
