/**
 * What one client with the key can make the god do (issue 18, item 11): caps
 * per connection and per request (subscriptions, items per put and complete,
 * tags per ack, header bytes, parked gets however request ids are reused),
 * replies that fit in one frame, and no request holding the event loop for
 * long. Stalls are measured with a timer in this process, where the god runs,
 * and bounded generously (a loaded machine), never as tight wall-clock asserts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import { type God, serve } from "../lib/server/server.ts";
import type { Limits } from "../lib/protocol/limits.ts";
import { encodeMessage, type Message, MessageType } from "../lib/protocol/messages.ts";
import { AUTHKEY, until } from "./_support/hardening.ts";
import { RawPeer } from "./_support/raw_peer.ts";
import { freePort, RUNTIMES, start } from "./_support/process.ts";

async function god(limits: Partial<Limits> = {}): Promise<God> {
  return await serve({ listen: "127.0.0.1:0", authkey: AUTHKEY, limits });
}

/** Measures the longest gap between ticks of a 5 ms timer while `run` runs (the event loop's longest stall). */
async function longestStall(run: () => Promise<void>): Promise<number> {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 5);
  try {
    await run();
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    clearInterval(timer);
  }
  return longest;
}

/** Reads replies until `count` with ids in `ids` came (or the connection closed, or time ran out). */
async function replies(peer: RawPeer, count: number, timeoutMs = 20_000): Promise<Message[]> {
  const out: Message[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count) {
    const m = await peer.next(Math.max(0, deadline - Date.now()));
    if (typeof m === "string") break;
    out.push(m);
  }
  return out;
}

const errorOf = (m: Message) => m.type === MessageType.Error ? String(m.header.message) : null;

test("subscriptions per connection are capped, and a connection with many closes without stalling the god", async () => {
  const g = await god({ maxSubscriptions: 1000 });
  try {
    // 20 connections with 1,000 subscriptions each on one queue (20,000 in all), one over the cap.
    const peers = await Promise.all(
      Array.from({ length: 20 }, () => RawPeer.authenticated(g.port, AUTHKEY)),
    );
    for (const peer of peers) {
      for (let sub = 1; sub <= 1001; sub++) {
        peer.sendBody(
          encodeMessage(MessageType.Consume, sub, { q: "tasks", prefetch: 1, sub }),
        );
      }
    }
    const answers = await Promise.all(peers.map((peer) => replies(peer, 1001)));
    for (const list of answers) {
      const refused = list.map(errorOf).filter((e) => e !== null);
      assert.equal(list.length, 1001);
      assert.deepEqual(refused.length, 1, "the 1,001st is refused");
      assert.match(refused[0]!, /maxSubscriptions 1000/);
    }
    assert.equal(g.stats("tasks").queues[0].consumers, 20_000);
    assert.equal(g.stats().limits!.hits.subscriptions, 20);
    // Jobs still flow to them, and every disconnect is quick.
    const client = await connect({ addr: `127.0.0.1:${g.port}`, authkey: AUTHKEY });
    const stall = await longestStall(async () => {
      await client.queue("tasks").putMany(Array.from({ length: 1000 }, (_, i) => i));
      for (const peer of peers) peer.close();
      await until("the god to drop them", () => g.stats("tasks").queues[0].consumers === 0, 20_000);
    });
    console.log(
      `# longest stall while 20,000 subscriptions got jobs and went away: ${stall.toFixed(0)} ms`,
    );
    assert.ok(stall < 1000, `the event loop stalled ${stall.toFixed(0)} ms`);
    // Every job came back (each disconnect counts as an attempt: some went on to the dead letters).
    await until("their jobs to come back", () => {
      const q = g.stats("tasks").queues[0];
      return q.inFlight === 0 && q.ready + q.dead === 1000;
    }, 10_000);
    await client.close();
  } finally {
    await g.close();
  }
});

test("tags per ack, jobs per put and header bytes are capped per request, before the work is done", async () => {
  const g = await god();
  try {
    const peer = await RawPeer.authenticated(g.port, AUTHKEY);
    let stall = await longestStall(async () => {
      // 10,001 made-up tags: refused. 10,000: answered, each failing.
      peer.sendBody(encodeMessage(MessageType.Ack, 1, { tags: range(10_001) }));
      peer.sendBody(encodeMessage(MessageType.Ack, 2, { tags: range(10_000) }));
      const [over, at] = await replies(peer, 2);
      assert.match(errorOf(over) ?? "", /limit is 10000 \(maxAckTags\)/);
      assert.equal((at.header.failed as unknown[]).length, 10_000);
    });
    assert.ok(stall < 500, `ack: the event loop stalled ${stall.toFixed(0)} ms`);

    // 100,000 empty jobs in one put (a 500 kB frame): refused, none made.
    stall = await longestStall(async () => {
      const n = 100_000;
      peer.sendBody(
        encodeMessage(MessageType.Put, 3, {
          q: "tasks",
          items: Array.from({ length: n }, () => ({})),
          sizes: new Array(n).fill(0),
        }),
      );
      const [put] = await replies(peer, 1);
      assert.match(errorOf(put) ?? "", /Cannot put 100000 jobs in one request: the limit is 1000/);
    });
    assert.ok(stall < 500, `put: the event loop stalled ${stall.toFixed(0)} ms`);
    assert.equal(g.stats("tasks").queues[0].ready, 0);

    // A 16 MiB ack header is not even parsed: the connection is closed at once.
    stall = await longestStall(async () => {
      const tags = "1,".repeat(4 * 1024 * 1024);
      peer.sendBody(encodeMessage(MessageType.Ack, 4, { tags: `[${tags}1]` }));
      const [closing] = await replies(peer, 1);
      assert.match(errorOf(closing) ?? "", /over the limit of 1048576 \(maxRequestHeaderBytes\)/);
    });
    assert.ok(stall < 500, `16 MiB header: the event loop stalled ${stall.toFixed(0)} ms`);
    const hits = g.stats().limits!.hits;
    assert.equal(hits.ackTags, 1);
    assert.equal(hits.putItems, 1);
    assert.equal(hits.headerSize, 1);
  } finally {
    await g.close();
  }
});

test("reusing a request id cannot park more gets than maxParkedGets", async () => {
  const g = await god({ maxParkedGets: 10 });
  try {
    const peer = await RawPeer.authenticated(g.port, AUTHKEY);
    for (let i = 0; i < 200; i++) {
      peer.sendBody(encodeMessage(MessageType.Get, 7, { q: "tasks", timeout: 60_000 }));
    }
    const refused = await replies(peer, 190, 10_000);
    assert.equal(refused.length, 190);
    assert.ok(refused.every((m) => /maxParkedGets 10/.test(errorOf(m) ?? "")));
    assert.equal(g.stats("tasks").queues[0].waitingGets, 10);
    peer.close();
  } finally {
    await g.close();
  }
});

test("replies that list jobs (a batched get, a peek, dead letters) fit in one frame", async () => {
  const g = await god({ maxFrameSize: 1024 * 1024 });
  try {
    const client = await connect({ addr: `127.0.0.1:${g.port}`, authkey: AUTHKEY });
    const tasks = client.queue("tasks");
    await tasks.putMany(Array.from({ length: 10 }, (_, i) => `${i}`.repeat(200_000)));
    const peeked = await client.peek("tasks", 10);
    assert.ok(peeked.length >= 1 && peeked.length < 10, `peek listed ${peeked.length}`);
    const taken = await tasks.getMany(10, { timeout: 1000 });
    assert.ok(taken.length >= 1 && taken.length < 10, `get took ${taken.length}`);
    assert.ok(client.connected, "no reply was too large for the client");
    await client.close();
  } finally {
    await g.close();
  }
});

for (const runtime of RUNTIMES) {
  test(`the ${runtime} god role prints the size of a huge result instead of decoding it`, async () => {
    const port = await freePort();
    const proc = start(runtime, "roles/god.ts", ["--in-memory", "--listen", `127.0.0.1:${port}`], {
      env: { TASKWIRE_AUTHKEY: AUTHKEY },
    });
    try {
      await proc.waitFor(/god listening on/, 30_000);
      // A result whose square is a 4-million-digit BigInt, as superjson text.
      const digits = "7".repeat(4_000_000);
      const text =
        `{"json":{"n":"${digits}","square":"${digits}","by":"x","task":"t"},"meta":{"values":{"n":["bigint"],"square":["bigint"]},"v":1}}`;
      const peer = await RawPeer.authenticated(port, AUTHKEY);
      peer.sendBody(
        encodeMessage(MessageType.Put, 1, {
          q: "results",
          items: [{ id: "huge" }],
          sizes: [text.length],
        }, [text]),
      );
      assert.equal((await replies(peer, 1))[0].type, MessageType.Ok);
      await proc.waitFor(/result huge: 8\.0 MB, not printed/, 10_000);
      // The god answers at once afterwards (a decode would hold it for seconds).
      const client = await connect({ addr: `127.0.0.1:${port}`, authkey: AUTHKEY });
      const started = Date.now();
      await client.queue("tasks").put(1);
      assert.ok(Date.now() - started < 1000, `a put took ${Date.now() - started} ms`);
      await client.close();
      peer.close();
    } finally {
      await proc.stop();
    }
  });
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => 1_000_000 + i);
}
