/**
 * Limits: each one, when hit, gives the offender a clear error, counts in
 * stats and /metrics, and leaves other clients alone. The god runs in this
 * process (on the runtime running the test), over real TCP on 127.0.0.1.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import { connect } from "../mod.ts";
import { hostOf } from "../lib/server/admission.ts";
import { DEFAULT_LIMITS, type Limits, resolveLimits } from "../lib/protocol/limits.ts";
import { Link } from "../lib/client/link.ts";
import { importAuthKey } from "../lib/protocol/keys.ts";
import { dialTcp } from "../lib/transport/tcp.ts";
import { memoryPair } from "../lib/transport/memory.ts";
import { parseAddress } from "../lib/util/address.ts";
import { renderMetrics } from "../lib/http/metrics.ts";
import { AuthError, RemoteError } from "../lib/protocol/errors.ts";
import { decodeMessage } from "../lib/protocol/messages.ts";
import { SocketTransport } from "../lib/transport/tcp.ts";
import type { Transport } from "../lib/transport/transport.ts";
import { AUTHKEY, limitedGod as god, rawExchange, until } from "./_support/hardening.ts";

/** Opens a socket that stays silent; resolves once connected. */
function silentSocket(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => resolve(socket));
    socket.on("error", reject);
    socket.on("data", () => {});
  });
}

/** The error the god sent before closing a raw connection (the first Error frame), if any. */
function errorOf(bytes: Uint8Array): { code: string; message: string } | null {
  let pos = 0;
  while (pos + 4 <= bytes.length) {
    const length = new DataView(bytes.buffer, bytes.byteOffset + pos).getUint32(0);
    if (pos + 4 + length > bytes.length) break;
    const message = decodeMessage(bytes.subarray(pos + 4, pos + 4 + length));
    if (message.type === 4) {
      return message.header as { code: string; message: string };
    }
    pos += 4 + length;
  }
  return null;
}

test("resolveLimits() fills defaults and refuses unknown names and bad values", () => {
  assert.deepEqual(resolveLimits(), { ...DEFAULT_LIMITS });
  assert.equal(resolveLimits({ maxConnections: 5 }).maxConnections, 5);
  assert.throws(() => resolveLimits({ maxConnections: 0 }), /Invalid limit maxConnections: 0/);
  assert.throws(() => resolveLimits({ nope: 1 } as Partial<Limits>), /Unknown limit "nope"/);
  assert.equal(hostOf("127.0.0.1:5678"), "127.0.0.1");
  assert.equal(hostOf("::ffff:127.0.0.1:5678"), "127.0.0.1");
  assert.equal(hostOf("::1:5678"), "::1");
  assert.equal(hostOf("[::1]:5678"), "::1");
});

test("limits on connections: in total, per address, unauthenticated; each refused with a clear error and counted", async () => {
  for (
    const [limits, name, pattern] of [
      [{ maxConnections: 2 }, "connections", /maxConnections 2/],
      [{ maxConnectionsPerAddress: 2 }, "connectionsPerAddress", /maxConnectionsPerAddress 2/],
      [{ maxUnauthenticated: 2 }, "unauthenticated", /maxUnauthenticated 2/],
    ] as const
  ) {
    const { god: g, addr, log } = await god(limits);
    try {
      const held = [await silentSocket(g.port), await silentSocket(g.port)];
      await until("the god counts both", () => g.stats().limits!.unauthenticated === 2);
      const refused = await rawExchange(g.port, []);
      assert.ok(refused.closedByGod);
      const error = errorOf(refused.received);
      assert.equal(error?.code, "limit");
      assert.match(error!.message, pattern);
      await assert.rejects(
        connect({ addr, authkey: AUTHKEY, reconnect: false }),
        (e: Error) => e instanceof AuthError && e.code === "limit" && pattern.test(e.message),
      );
      // A connect refused for handshakes in progress tries again a few times before it gives up.
      if (name === "unauthenticated") assert.ok(g.stats().limits!.hits[name] > 2);
      else assert.equal(g.stats().limits!.hits[name], 2);
      assert.ok(log.some((e) => e.event === "refused" && e.limit === name));
      for (const s of held) s.destroy();
      await until("the god forgets them", () => g.stats().limits!.unauthenticated === 0);
      // Room again: a good client gets in.
      const client = await connect({ addr, authkey: AUTHKEY, reconnect: false });
      await client.queue("tasks").put(1);
      await client.close();
    } finally {
      await g.close();
    }
  }
});

test("handshake time and frame size before and after auth are limited and counted", async () => {
  const { god: g, addr } = await god({ handshakeTimeoutMs: 200, maxFrameSize: 64 * 1024 });
  try {
    const silent = await rawExchange(g.port, [], 3000);
    assert.ok(silent.closedByGod, "a silent peer is dropped");
    assert.equal(errorOf(silent.received)?.code, "handshake_timeout");
    const big = await rawExchange(g.port, [Uint8Array.from([0, 0, 0x20, 0])]);
    assert.equal(errorOf(big.received)?.code, "frame_too_large");
    assert.match(errorOf(big.received)!.message, /exceeds maxFrameSize 4096/);

    // The god announces its frame limit in its Welcome.
    const link = await Link.open(
      await dialTcp(parseAddress(addr)),
      await importAuthKey(AUTHKEY),
      { role: "test", runtime: "test", name: "welcome-reader" },
      { timeoutMs: 2000 },
    );
    assert.equal(link.server.maxFrameSize, 64 * 1024);
    await link.close();
    const client = await connect({ addr, authkey: AUTHKEY, reconnect: false });
    const bystander = await connect({ addr, authkey: AUTHKEY, reconnect: false });
    // A frame over the limit after auth closes the offender's connection only.
    await assert.rejects(client.queue("tasks").put("x".repeat(100 * 1024)));
    await bystander.queue("tasks").put("still fine");
    const stats = g.stats();
    assert.equal(stats.limits!.hits.handshakeTimeout, 1);
    assert.equal(stats.limits!.hits.frameSize, 2);
    await client.close();
    await bystander.close();
  } finally {
    await g.close();
  }
});

test("requests in flight, parked gets, queue count and payload size are limited per request; the connection stays up", async () => {
  const { god: g, addr } = await god({
    maxParkedGets: 3,
    maxQueues: 3,
    maxPayloadBytes: 1000,
  });
  try {
    const client = await connect({ addr, authkey: AUTHKEY, reconnect: false });
    const empty = client.queue("tasks");
    // Three gets park; the fourth is refused.
    const parked = [1, 2, 3].map(() => empty.get({ timeout: 1500 }));
    await assert.rejects(
      empty.get({ timeout: 1500 }),
      (e: Error) =>
        e instanceof RemoteError && e.code === "limit" && /maxParkedGets 3/.test(e.message),
    );
    // The payload limit.
    await assert.rejects(
      client.queue("results").put("y".repeat(2000)),
      (e: Error) => e instanceof RemoteError && /exceeds maxPayloadBytes 1000/.test(e.message),
    );
    await client.queue("results").put("small");
    // Queue count: tasks, results and one more.
    await client.declare("third");
    await assert.rejects(client.declare("fourth"), /maxQueues/);
    assert.deepEqual(await Promise.all(parked), [null, null, null]);

    const hits = g.stats().limits!.hits;
    assert.equal(hits.parkedGets, 1);
    assert.equal(hits.payload, 1);
    assert.equal(hits.queues, 1);
    assert.ok(client.connected, "the connection survived every refusal");
    const metrics = renderMetrics(g.stats());
    assert.match(metrics, /taskwire_limit_hits_total\{limit="parkedGets"\} 1/);
    assert.match(metrics, /taskwire_limit_hits_total\{limit="payload"\} 1/);
    await client.close();
  } finally {
    await g.close();
  }
});

test("requests in flight per connection are limited", async () => {
  const { god: g, addr } = await god({ maxInFlight: 3 });
  try {
    const client = await connect({ addr, authkey: AUTHKEY, reconnect: false });
    const empty = client.queue("tasks");
    const parked = [1, 2, 3].map(() => empty.get({ timeout: 1000 }));
    await assert.rejects(
      empty.get({ timeout: 1000 }),
      (e: Error) =>
        e instanceof RemoteError && e.code === "limit" && /maxInFlight 3/.test(e.message),
    );
    assert.deepEqual(await Promise.all(parked), [null, null, null]);
    await empty.put("after");
    assert.equal(g.stats().limits!.hits.inFlight, 1);
    await client.close();
  } finally {
    await g.close();
  }
});

test("failed handshakes are counted, slowed down past the burst, and logged once per address", async () => {
  const { god: g, addr, log } = await god({
    authFailureBurst: 3,
    authFailureRefillMs: 60_000,
    authFailureDelayMs: 300,
  });
  try {
    for (let i = 0; i < 4; i++) {
      await assert.rejects(connect({ addr, authkey: "wrong", reconnect: false }), AuthError);
    }
    // Past the burst, failures wait; the right key does not, and is never refused.
    const client = await connect({ addr, authkey: AUTHKEY, reconnect: false });
    await client.close();
    const stats = g.stats().limits!;
    assert.equal(stats.authFailures, 4);
    assert.equal(stats.hits.authThrottled, 1);
    assert.equal(stats.throttledAddresses, 1);
    const rejected = log.filter((e) => e.event === "rejected" && e.code === "auth_failed");
    assert.equal(rejected.length, 1, "one log line per address per interval");
    assert.match(renderMetrics(g.stats()), /taskwire_auth_failures_total 4/);
    // In-process clients are not slowed by address.
    const local = await connect({
      dial: () => {
        const [client, server] = memoryPair({ record: false });
        g.accept(server);
        return Promise.resolve(client);
      },
      authkey: AUTHKEY,
    });
    await local.queue("tasks").put("ok");
    await local.close();
  } finally {
    await g.close();
  }
});

/** A dialer whose socket the test can pause (stop reading) and resume. */
function pausableDial(): {
  dial: (a: { host: string; port: number }) => Promise<Transport>;
  socket: () => net.Socket;
} {
  let last: net.Socket | null = null;
  return {
    dial: (a) =>
      new Promise((resolve, reject) => {
        const socket = net.connect({ host: a.host, port: a.port }, () => {
          last = socket;
          resolve(new SocketTransport(socket));
        });
        socket.once("error", reject);
      }),
    socket: () => last!,
  };
}

test("a consumer that stops reading is bounded by the god's write buffer: deliveries pause, resume on drain", async () => {
  const { god: g, addr } = await god({ writeHighWater: 256 * 1024, writeLimit: 64 * 1024 * 1024 });
  try {
    const producer = await connect({ addr, authkey: AUTHKEY, reconnect: false });
    const payload = "z".repeat(64 * 1024);
    const N = 300; // ~19 MiB: more than loopback socket buffers hold
    await producer.queue("tasks").putMany(Array.from({ length: N }, (_, i) => ({ i, payload })));
    const p = pausableDial();
    const consumer = await connect({ addr, authkey: AUTHKEY, reconnect: false, dial: p.dial });
    p.socket().pause();
    const jobs = consumer.queue<{ i: number }>("tasks").consume({ prefetch: N });
    const first = jobs.next(); // subscribes
    await until("the god pauses deliveries", () => g.stats().limits!.pausedWriters === 1, 20_000);
    p.socket().resume();
    const seen = new Set<number>();
    const job = (await first).value!;
    seen.add(job.value.i);
    await job.ack();
    for await (const j of jobs) {
      seen.add(j.value.i);
      await j.ack();
      if (seen.size === N) break;
    }
    assert.equal(seen.size, N, "every job arrived once the consumer read again");
    assert.equal(g.stats().limits!.pausedWriters, 0);
    await consumer.close();
    await producer.close();
  } finally {
    await g.close();
  }
});

test("a client that sends requests but reads no replies is cut off past writeLimit; others carry on", async () => {
  const { god: g, addr } = await god({ writeHighWater: 64 * 1024, writeLimit: 2 * 1024 * 1024 });
  try {
    const producer = await connect({ addr, authkey: AUTHKEY, reconnect: false });
    await producer.queue("tasks").putMany(Array.from({ length: 10 }, () => "p".repeat(60 * 1024)));
    const p = pausableDial();
    const greedy = await connect({ addr, authkey: AUTHKEY, reconnect: false, dial: p.dial });
    p.socket().pause();
    const peeks = Array.from({ length: 200 }, () => greedy.peek("tasks", 10).catch((e) => e));
    await until("the god cuts it off", () => g.stats().limits!.hits.slowConsumer === 1, 20_000);
    p.socket().resume();
    const outcomes = await Promise.all(peeks);
    assert.ok(outcomes.some((o) => o instanceof Error), "the greedy client lost its connection");
    // The producer was not disturbed.
    await producer.queue("tasks").put("after");
    assert.equal((await producer.stats("tasks")).queues[0].ready, 11);
    await greedy.close();
    await producer.close();
  } finally {
    await g.close();
  }
});

test("metrics show every limit counter, zero included", async () => {
  const { god: g } = await god({});
  try {
    const text = renderMetrics(g.stats());
    for (const name of Object.keys(g.stats().limits!.hits)) {
      assert.match(text, new RegExp(`taskwire_limit_hits_total\\{limit="${name}"\\} 0`));
    }
    assert.match(text, /taskwire_unauthenticated_connections 0/);
  } finally {
    await g.close();
  }
});
