/**
 * The god's two client doors (TCP and HTTP) are translators onto one set of
 * operations, so they answer alike. Each check here used to differ between
 * them; now both doors pass it identically.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../lib/client/connect.ts";
import type { Client } from "../lib/client/api.ts";
import { Link } from "../lib/client/link.ts";
import { type God, serve } from "../lib/server/server.ts";
import { type HttpFace, serveHttp } from "../lib/http/serve.ts";
import { signRequest } from "../lib/http/sign.ts";
import { checkPut } from "../lib/queue/arguments.ts";
import { ErrorCode, RemoteError } from "../lib/protocol/errors.ts";
import { importAuthKey } from "../lib/protocol/keys.ts";
import { DEFAULTS } from "../lib/protocol/limits.ts";
import { MessageType, utf8Length } from "../lib/protocol/messages.ts";
import { dialTcp } from "../lib/transport/tcp.ts";

const AUTHKEY = "doors-test-key";
type Door = "tcp" | "http";
const DOORS: Door[] = ["tcp", "http"];

let god: God;
let face: HttpFace;
let n = 0;
const fresh = (door: Door) => `doors-${door}-${++n}`;

before(async () => {
  god = await serve({
    listen: "127.0.0.1:0",
    authkey: AUTHKEY,
    limits: { maxAckTags: 5, maxPayloadBytes: 100 },
  });
  face = await serveHttp(god, { listen: "127.0.0.1:0" });
});
after(async () => {
  await face.close();
  await god.close();
});

function addr(door: Door): string {
  return door === "tcp" ? `127.0.0.1:${god.port}` : face.url;
}

async function client(door: Door): Promise<Client> {
  return await connect({ addr: addr(door), authkey: AUTHKEY, role: `test-${door}` });
}

/**
 * A request made by hand on `door`, as a client not written with this
 * library would; resolves to the god's error message, or null when accepted.
 */
async function raw(
  door: Door,
  request: { type: MessageType; header: Record<string, unknown>; payload?: string[] } & {
    method: string;
    path: string;
    body: unknown;
  },
): Promise<string | null> {
  if (door === "tcp") {
    const link = await Link.open(
      await dialTcp({ host: "127.0.0.1", port: god.port }),
      await importAuthKey(AUTHKEY),
      { role: "raw", runtime: "test", name: "raw" },
      { timeoutMs: 2000 },
    );
    try {
      await link.request(request.type, request.header, request.payload);
      return null;
    } catch (error) {
      assert.ok(error instanceof RemoteError, String(error));
      return error.message;
    } finally {
      await link.close();
    }
  }
  const url = new URL(face.url + request.path);
  const body = new TextEncoder().encode(JSON.stringify(request.body));
  const headers = await signRequest(await importAuthKey(AUTHKEY), {
    method: request.method,
    url,
    clientId: "raw-doors-client",
    peer: "role=raw",
    body,
    god: face.godId,
  });
  const response = await fetch(url, { method: request.method, headers, body });
  const reply = await response.json();
  return response.ok ? null : reply.error.message;
}

for (const door of DOORS) {
  test(`[${door}] an ack of more tags than maxAckTags is refused as a limit, and the leases stay`, async () => {
    const c = await client(door);
    try {
      const q = c.queue<number>(fresh(door));
      await q.putMany([1, 2, 3, 4, 5, 6]);
      const jobs = [];
      for (let i = 0; i < 6; i++) jobs.push((await q.get({ timeout: 1000 }))!);
      // Acks made in one turn travel as one request: six tags, over the limit of five.
      const acks = await Promise.allSettled(jobs.map((job) => job.ack()));
      for (const ack of acks) {
        assert.equal(ack.status, "rejected");
        const error = (ack as PromiseRejectedResult).reason;
        assert.equal(error.code, ErrorCode.Limit);
        assert.match(
          error.message,
          /Cannot ack 6 tags in one request: the limit is 5 \(maxAckTags\)/,
        );
      }
      assert.equal(god.stats(q.name).queues[0].inFlight, 6);
      assert.ok(god.stats().limits!.hits.ackTags >= 1);
    } finally {
      await c.close();
    }
  });

  test(`[${door}] peek lists ${DEFAULTS.peekLimit} jobs and the dead-letter listing ${DEFAULTS.deadListLimit} by default`, async () => {
    const c = await client(door);
    try {
      const name = fresh(door);
      const q = c.queue<number>(name);
      await q.putMany(Array.from({ length: 120 }, (_, i) => i));
      assert.equal((await c.peek(name)).length, DEFAULTS.peekLimit);
      await c.declare(name, { maxAttempts: 1 });
      const consumer = q.consume({ prefetch: 120 });
      let failed = 0;
      for await (const job of consumer) {
        await job.fail("listing test");
        if (++failed === 120) break;
      }
      assert.equal((await c.deadList(name)).length, DEFAULTS.deadListLimit);
      assert.equal((await c.deadList(name, 120)).length, 120);
    } finally {
      await c.close();
    }
  });

  test(`[${door}] a payload that is not superjson is stored as sent and dead-lettered by the consumer`, async () => {
    const name = fresh(door);
    const text = '{"not":"superjson"}';
    const refused = await raw(door, {
      type: MessageType.Put,
      header: { q: name, items: [{ id: "odd" }], sizes: [utf8Length(text)] },
      payload: [text],
      method: "POST",
      path: `/api/queues/${name}/put`,
      body: { items: [{ id: "odd", payload: JSON.parse(text) }] },
    });
    assert.equal(refused, null, "the door stores any payload");
    const c = await client(door);
    try {
      await c.queue<number>(name).put(7);
      const consumer = c.queue<number>(name).consume({ prefetch: 4 });
      const { value: job } = await consumer.next();
      assert.equal(job!.value, 7, "the undecodable job is skipped");
      await job!.ack();
      await consumer.return();
      const [dead] = await c.deadList(name);
      assert.equal(dead.id, "odd");
      assert.match(dead.reason ?? "", /undecodable payload/);
      assert.ok(dead.error, "its listing says it cannot be decoded");
    } finally {
      await c.close();
    }
  });

  test(`[${door}] a payload over maxPayloadBytes is refused with the same message`, async () => {
    const c = await client(door);
    try {
      await assert.rejects(
        c.queue<string>(fresh(door)).put("x".repeat(200)),
        (error: unknown) =>
          error instanceof RemoteError && error.code === ErrorCode.Limit &&
          /a payload of 211 bytes exceeds maxPayloadBytes 100/.test(error.message),
      );
    } finally {
      await c.close();
    }
  });

  test(`[${door}] a requeue with ids that are not strings is refused with the same message`, async () => {
    const name = fresh(door);
    const message = await raw(door, {
      type: MessageType.DeadRequeue,
      header: { q: name, ids: [1] },
      method: "POST",
      path: `/api/queues/${name}/dead/requeue`,
      body: { ids: [1] },
    });
    assert.equal(message, "Invalid requeue: ids must be an array of strings");
  });
  test(`[${door}] the flow operations refuse bad arguments with the same messages`, async () => {
    const name = fresh(door);
    const cases: [Parameters<typeof raw>[1], string | RegExp][] = [
      [{
        type: MessageType.DeadDelete,
        header: { q: name, ids: [1] },
        method: "POST",
        path: `/api/queues/${name}/dead/delete`,
        body: { ids: [1] },
      }, "Invalid delete: ids must be an array of strings"],
      [{
        type: MessageType.Pause,
        header: { q: name, paused: true },
        method: "POST",
        path: `/api/queues/${name}/pause`,
        body: {},
      }, `Cannot pause "${name}": unknown queue`],
      [{
        type: MessageType.Progress,
        header: { tag: 999_999 },
        payload: ['{"json":1}'],
        method: "POST",
        path: "/api/leases/999999/progress",
        body: { value: { json: 1 } },
      }, /^No lease 999999/],
      [{
        type: MessageType.Schedule,
        header: { schedule: { name: "bad", queue: name, cron: "* * *" } },
        payload: ['{"json":1}'],
        method: "PUT",
        path: "/api/schedules/bad",
        body: { queue: name, cron: "* * *", value: { json: 1 } },
      }, /^Invalid cron "\* \* \*" for schedule "bad"/],
      [{
        type: MessageType.Schedule,
        header: { schedule: { name: "bad", queue: name, every: 60_000, timezone: "UTC" } },
        payload: ['{"json":1}'],
        method: "PUT",
        path: "/api/schedules/bad",
        body: { queue: name, every: 60_000, timezone: "UTC", value: { json: 1 } },
      }, 'Invalid schedule "bad": a time zone goes with a cron, not an interval'],
    ];
    for (const [request, expected] of cases) {
      const message = await raw(door, request);
      if (typeof expected === "string") assert.equal(message, expected);
      else assert.match(message ?? "(accepted)", expected);
    }
  });
}

test("a put that names no timeout waits for room the default time, whichever door it came through", () => {
  const request = checkPut({ queue: "tasks", items: [], payloads: [] }, () => "id", 100);
  assert.equal(request.timeoutMs, DEFAULTS.putTimeoutMs);
});
