/**
 * The wire over real sockets (127.0.0.1, port 0) and over the recorded
 * in-memory pair: authentication failures, timeouts, bad input, key secrecy,
 * replay, and cross-runtime traffic between real processes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import { AuthError, connect, ErrorCode, type God, serve } from "../mod.ts";
import { ClientHandshake } from "../lib/protocol/handshake.ts";
import { toBase64 } from "../lib/util/base64.ts";
import { importAuthKey } from "../lib/protocol/keys.ts";
import { encodeFrame, FrameDecoder } from "../lib/protocol/frame.ts";
import {
  decodeMessage,
  encodeMessage,
  type Message,
  MessageType,
} from "../lib/protocol/messages.ts";
import { memoryPair } from "../lib/transport/memory.ts";
import { CURRENT, RUNTIMES, start } from "./_support/process.ts";

const KEY = "wire-test-key-Zq7vK2pX9mL4";
const utf8 = new TextEncoder();

type Log = Record<string, unknown>[];

async function startGod(
  options: { log?: Log; handshakeTimeoutMs?: number; maxFrameSize?: number } = {},
): Promise<God> {
  return await serve({
    listen: "127.0.0.1:0",
    authkey: KEY,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
    maxFrameSize: options.maxFrameSize,
    log: options.log ? (event) => options.log!.push(event) : undefined,
  });
}

/** A raw TCP peer that collects every frame the god sends until the socket closes. */
class RawPeer {
  readonly socket: net.Socket;
  readonly messages: Message[] = [];
  readonly closed: Promise<void>;
  readonly #decoder = new FrameDecoder();
  #waiters: { count: number; resolve(): void }[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Uint8Array) => {
      for (const body of this.#decoder.push(chunk)) this.messages.push(decodeMessage(body));
      this.#wake();
    });
    socket.on("error", () => {});
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.#wake(true);
        resolve();
      })
    );
  }

  static open(port: number): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port });
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(new RawPeer(socket));
      });
    });
  }

  /** Opens a connection and completes the handshake by hand. */
  static async authenticated(port: number, key = KEY): Promise<RawPeer> {
    const peer = await RawPeer.open(port);
    const handshake = new ClientHandshake(await importAuthKey(key), {
      role: "raw",
      runtime: "test",
      name: "raw",
    });
    await peer.waitForMessages(1);
    const step = await handshake.receive(
      encodeMessage(MessageType.Hello, 0, peer.messages[0].header),
    );
    assert.ok("send" in step);
    peer.write(encodeFrame(step.send));
    await peer.waitForMessages(2);
    assert.equal(peer.messages[1].type, MessageType.Welcome);
    return peer;
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Resolves once `count` messages arrived (or the socket closed); rejects after `ms`. */
  waitForMessages(count: number, ms = 10_000): Promise<void> {
    if (this.messages.length >= count || this.socket.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`only ${this.messages.length} of ${count} messages within ${ms} ms`));
      }, ms);
      const waiter = {
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** Waits for the god to close the connection, at most `ms`. */
  async waitClosed(ms = 5000): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the god did not close within ${ms} ms`)), ms);
    });
    try {
      await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
      this.socket.destroy();
    }
  }

  /** Error frames received, as [code, message]. */
  get errors(): [string, string][] {
    return this.messages.filter((m) => m.type === MessageType.Error).map((m) => [
      String(m.header.code),
      String(m.header.message),
    ]);
  }

  #wake(all = false): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (all || this.messages.length >= w.count) {
        w.resolve();
        return false;
      }
      return true;
    });
  }
}

/** Proves a connected client still works: a put and a get round trip. */
async function stillWorks(client: Awaited<ReturnType<typeof connect>>, n: number): Promise<void> {
  const queue = client.queue<{ n: number; at: Date }>(`alive-${n}`);
  await queue.put({ n, at: new Date(n) });
  const job = await queue.get({ timeout: 5000 });
  assert.ok(job, "the good client got no job back");
  assert.deepEqual(job.value, { n, at: new Date(n) });
  await job.ack();
}

test("a wrong key is refused on both sides with 'authentication failed'", async () => {
  const log: Log = [];
  const god = await startGod({ log });
  const addr = `127.0.0.1:${god.port}`;
  try {
    await assert.rejects(
      connect({ addr, authkey: "not the key", reconnect: false }),
      (error: unknown) => {
        assert.ok(error instanceof AuthError, String(error));
        assert.equal(error.code, ErrorCode.AuthFailed);
        assert.match(error.message, /authentication failed/);
        return true;
      },
    );
    const rejected = log.find((e) => e.event === "rejected");
    assert.ok(rejected, JSON.stringify(log));
    assert.equal(rejected.code, "auth_failed");
    assert.match(
      String(rejected.message),
      /authentication failed: the client's key does not match/,
    );
    assert.ok(!log.some((e) => e.event === "connected"));
    assert.deepEqual(god.stats().connections, []);
    // The god keeps serving clients with the right key.
    const good = await connect({ addr, authkey: KEY, reconnect: false });
    await stillWorks(good, 1);
    await good.close();
  } finally {
    await god.close();
  }
});

test("a client refuses a god that cannot prove the key, over TCP", async () => {
  // A rogue god: sends a Hello, ignores the client's proof, answers with a forged Welcome.
  const sockets = new Set<net.Socket>();
  const rogue = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.write(
      encodeFrame(
        encodeMessage(MessageType.Hello, 0, {
          proto: "taskwire",
          version: 1,
          nonce: toBase64(new Uint8Array(32).fill(9)),
        }),
      ),
    );
    socket.once("data", () => {
      socket.write(
        encodeFrame(
          encodeMessage(MessageType.Welcome, 0, {
            proof: toBase64(new Uint8Array(32).fill(1)),
            maxFrameSize: 1 << 20,
            runtime: "rogue",
            name: "rogue",
          }),
        ),
      );
    });
  });
  await new Promise<void>((resolve) => rogue.listen(0, "127.0.0.1", resolve));
  const port = (rogue.address() as net.AddressInfo).port;
  try {
    await assert.rejects(
      connect({ addr: `127.0.0.1:${port}`, authkey: KEY, reconnect: false }),
      (error: unknown) => {
        assert.ok(error instanceof AuthError, String(error));
        assert.equal(error.code, ErrorCode.AuthFailed);
        assert.match(error.message, /authentication failed: the god could not prove it knows/);
        return true;
      },
    );
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => rogue.close(resolve));
  }
});

test("a version mismatch over TCP names both versions", async () => {
  const log: Log = [];
  const god = await startGod({ log });
  try {
    const peer = await RawPeer.open(god.port);
    await peer.waitForMessages(1);
    const h = peer.messages[0].header;
    assert.deepEqual([h.proto, h.version], ["taskwire", 1]);
    peer.write(
      encodeFrame(
        encodeMessage(MessageType.Auth, 0, {
          proto: "taskwire",
          version: 99,
          nonce: toBase64(new Uint8Array(32)),
          role: "x",
          proof: "",
        }),
      ),
    );
    await peer.waitClosed();
    assert.deepEqual(peer.errors, [[
      "version_mismatch",
      "Cannot handshake: client speaks taskwire/99, this side speaks taskwire/1",
    ]]);
  } finally {
    await god.close();
  }
});

test("a peer that connects and says nothing is dropped after handshakeTimeoutMs", async () => {
  const log: Log = [];
  const god = await startGod({ log, handshakeTimeoutMs: 300 });
  try {
    const peer = await RawPeer.open(god.port);
    await peer.waitClosed(10_000);
    assert.deepEqual(peer.messages.map((m) => m.type), [MessageType.Hello, MessageType.Error]);
    assert.deepEqual(peer.errors, [[
      "handshake_timeout",
      "handshake not finished within 300 ms",
    ]]);
    assert.ok(log.some((e) => e.event === "rejected" && e.code === "handshake_timeout"));
  } finally {
    await god.close();
  }
});

/** One kind of bad input: what the offender does, and the Error code it should get (null: none). */
interface BadCase {
  name: string;
  authenticate: boolean;
  send(peer: RawPeer): void;
  code: string | null;
  message?: RegExp;
}

const BAD_CASES: BadCase[] = [
  {
    name: "garbage bytes before the handshake",
    authenticate: false,
    send: (peer) => peer.write(utf8.encode("GET / HTTP/1.1\r\nHost: god\r\n\r\n")),
    code: "frame_too_large",
    message: /length 1195725856 exceeds maxFrameSize 4096/,
  },
  {
    name: "a length prefix over the pre-handshake limit",
    authenticate: false,
    send: (peer) => peer.write(Uint8Array.from([0, 0, 0x10, 0x01])),
    code: "frame_too_large",
    message: /length 4097 exceeds maxFrameSize 4096/,
  },
  {
    name: "a length prefix over maxFrameSize after the handshake",
    authenticate: true,
    send: (peer) => peer.write(Uint8Array.from([0x00, 0x10, 0x00, 0x01])),
    code: "frame_too_large",
    message: /length 1048577 exceeds maxFrameSize 1048576/,
  },
  {
    name: "a frame body that is not a message, before the handshake",
    authenticate: false,
    send: (peer) => peer.write(encodeFrame(Uint8Array.from([2, 0, 0]))),
    code: "bad_message",
    message: /shorter than the 9-byte prefix/,
  },
  {
    name: "a frame body that is not a message, after the handshake",
    authenticate: true,
    send: (peer) => peer.write(encodeFrame(utf8.encode("\x10garbage!!"))),
    code: "bad_message",
  },
  {
    name: "a header that is not JSON, after the handshake",
    authenticate: true,
    send: (peer) => {
      const body = encodeMessage(MessageType.Put, 7, {});
      body.set(utf8.encode("{!"), 9);
      peer.write(encodeFrame(body));
    },
    code: "bad_message",
    message: /header of Put is not UTF-8 JSON/,
  },
  {
    name: "an unknown message type",
    authenticate: true,
    send: (peer) =>
      peer.write(encodeFrame(Uint8Array.from([99, 0, 0, 0, 1, 0, 0, 0, 2, 123, 125]))),
    code: "unknown_type",
    message: /unknown type 99/,
  },
  {
    name: "a god-to-client message type sent by a client",
    authenticate: true,
    send: (peer) => peer.write(encodeFrame(encodeMessage(MessageType.Deliver, 1, {}))),
    code: "unknown_type",
    message: /message type 40 is not a request a client may send/,
  },
  {
    name: "a Put whose sizes do not match its payload",
    authenticate: true,
    send: (peer) =>
      peer.write(
        encodeFrame(
          encodeMessage(MessageType.Put, 3, { q: "tasks", items: [{}], sizes: [10] }, [
            Uint8Array.from([1, 2]),
          ]),
        ),
      ),
    code: "bad_message",
    message: /Cannot split payload/,
  },
  {
    name: "a request sent before the god answered the Auth",
    authenticate: false,
    send: (peer) => {
      const auth = encodeMessage(MessageType.Auth, 0, {
        proto: "taskwire",
        version: 1,
        nonce: toBase64(new Uint8Array(32)),
        role: "x",
        proof: toBase64(new Uint8Array(32)),
      });
      peer.write(encodeFrame(auth));
      peer.write(encodeFrame(encodeMessage(MessageType.Stats, 1, {})));
    },
    code: "bad_message",
    message: /message sent before the handshake finished/,
  },
  {
    name: "a truncated frame followed by close",
    authenticate: true,
    send: (peer) => {
      peer.write(Uint8Array.from([0, 0, 0, 100, 16, 0, 0]));
      peer.socket.end();
    },
    code: null,
  },
  {
    name: "a truncated frame followed by close, before the handshake",
    authenticate: false,
    send: (peer) => {
      peer.write(Uint8Array.from([0, 0, 0, 50, 2]));
      peer.socket.end();
    },
    code: null,
  },
];

test("bad input closes only the offender, with an Error frame where possible", async () => {
  const log: Log = [];
  const god = await startGod({ log, maxFrameSize: 1 << 20 });
  const addr = `127.0.0.1:${god.port}`;
  const good = await connect({ addr, authkey: KEY, role: "bystander", reconnect: false });
  try {
    let n = 0;
    for (const bad of BAD_CASES) {
      const peer = bad.authenticate
        ? await RawPeer.authenticated(god.port)
        : await RawPeer.open(god.port);
      if (!bad.authenticate) await peer.waitForMessages(1); // the Hello
      const before = peer.messages.length;
      bad.send(peer);
      await peer.waitClosed();
      const errors = peer.messages.slice(before).filter((m) => m.type === MessageType.Error);
      if (bad.code === null) {
        assert.equal(errors.length, 0, bad.name);
      } else {
        assert.equal(errors.length, 1, `${bad.name}: ${JSON.stringify(peer.errors)}`);
        assert.equal(errors[0].header.code, bad.code, bad.name);
        assert.equal(errors[0].id, 0, bad.name);
        if (bad.message) assert.match(String(errors[0].header.message), bad.message, bad.name);
        assert.ok(
          log.some((e) => e.event === "rejected" && e.code === bad.code),
          `${bad.name}: not logged`,
        );
      }
      // The offender is gone from the god's connections; the bystander is still served.
      const waitUntil = Date.now() + 5000;
      while (god.stats().connections.some((c) => c.role === "raw") && Date.now() < waitUntil) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.deepEqual(god.stats().connections.map((c) => c.role), ["bystander"], bad.name);
      await stillWorks(good, ++n);
    }
    assert.ok(good.connected);
  } finally {
    await good.close();
    await god.close();
  }
});

test("a request the god refuses fails alone; the connection stays up", async () => {
  const god = await startGod();
  try {
    const peer = await RawPeer.authenticated(god.port);
    peer.write(encodeFrame(encodeMessage(MessageType.Get, 5, { q: 42 })));
    peer.write(encodeFrame(encodeMessage(MessageType.Stats, 6, {})));
    await peer.waitForMessages(4);
    const [refused, stats] = peer.messages.slice(2);
    assert.deepEqual([refused.type, refused.id, refused.header.code], [
      MessageType.Error,
      5,
      "bad_argument",
    ]);
    assert.match(String(refused.header.message), /Invalid queue name: 42/);
    assert.deepEqual([stats.type, stats.id], [MessageType.Ok, 6]);
    assert.ok(!peer.socket.closed);
    peer.write(encodeFrame(encodeMessage(MessageType.Bye, 0, {})));
    await peer.waitClosed();
  } finally {
    await god.close();
  }
});

test("a payload that is not superjson is dead-lettered by the client that cannot decode it", async () => {
  const god = await startGod();
  const client = await connect({ addr: `127.0.0.1:${god.port}`, authkey: KEY, reconnect: false });
  try {
    // The god never decodes payloads: a raw peer can store bytes that are not superjson.
    const peer = await RawPeer.authenticated(god.port);
    const junk = [utf8.encode("not superjson"), utf8.encode('{"json":1,"meta":{"values":["x"]}}')];
    peer.write(
      encodeFrame(
        encodeMessage(MessageType.Put, 1, {
          q: "junk",
          items: [{ id: "j1" }, { id: "j2" }],
          sizes: junk.map((j) => j.length),
        }, junk),
      ),
    );
    await peer.waitForMessages(3);
    assert.deepEqual(peer.messages[2].header, { accepted: 2, duplicates: 0 });
    peer.write(encodeFrame(encodeMessage(MessageType.Bye, 0, {})));
    await peer.waitClosed();
    // get() reports the bad bytes and dead-letters the job instead of holding its lease.
    await assert.rejects(
      client.queue("junk").get({ timeout: 1000 }),
      (error: unknown) =>
        error instanceof Error && error.name === "ProtocolError" &&
        /Cannot decode payload/.test(error.message),
    );
    // consume() dead-letters it without handing it to the application.
    const consumer = client.queue("junk").consume({ prefetch: 4 });
    await consumer.ready();
    const waitUntil = Date.now() + 5000;
    while (god.stats("junk").queues[0].dead < 2 && Date.now() < waitUntil) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await consumer.return();
    const [junkStats] = god.stats("junk").queues;
    assert.deepEqual([junkStats.ready, junkStats.inFlight, junkStats.dead], [0, 0, 2]);
    // The dead letters can still be listed, with why their value is missing.
    const dead = await client.deadList("junk");
    assert.deepEqual(dead.map((d) => d.id).sort(), ["j1", "j2"]);
    for (const d of dead) {
      assert.equal(d.value, undefined);
      assert.match(d.error!, /Cannot decode payload/);
      assert.match(d.reason!, /^undecodable payload: /);
    }
    await stillWorks(client, 100);
  } finally {
    await client.close();
    await god.close();
  }
});

test("the god's processes and sockets leave nothing running (real process on each runtime)", async () => {
  // The fixture goes through good and bad connections, closes everything and
  // must then exit by itself: a leaked timer or socket would keep it alive.
  for (const runtime of RUNTIMES) {
    const proc = start(runtime, "test/_support/wire_god.ts", ["selfcheck"], {
      env: { TASKWIRE_AUTHKEY: KEY },
    });
    const result = await proc.wait(20_000);
    assert.ok(proc.lines.includes("SELFCHECK DONE"), `${runtime}: ${proc.output}`);
    assert.deepEqual(result, { code: 0, signal: null }, `${runtime} did not exit by itself`);
  }
});

/** Runs a session over a memory pair; returns the bytes each side sent. */
async function recordedSession(god: God, authkey: string) {
  const [clientSide, serverSide] = memoryPair();
  god.accept(serverSide);
  const client = await connect({
    authkey,
    role: "recorded",
    dial: () => Promise.resolve(clientSide),
  });
  const tasks = client.queue<unknown>("tasks");
  await tasks.putMany([{ secret: "not the key", at: new Date(1) }, 2n ** 70n, new Set([1])]);
  for (let i = 0; i < 3; i++) await (await tasks.get({ timeout: 1000 }))!.ack();
  const consumer = tasks.consume({ prefetch: 4 });
  await tasks.put(new Map([["k", /v/g]]));
  const { value: job } = await consumer.next();
  await job.ack();
  await consumer.return();
  await client.stats();
  await client.close();
  await new Promise((resolve) => setTimeout(resolve, 20));
  return { clientSent: clientSide.sent, serverSent: serverSide.sent };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

test("the key never appears on the wire, in either direction, in any common encoding", async () => {
  const key = "k3y-" + Array.from({ length: 24 }, (_, i) => "abcdefghjkmnpqrstuvwxyz"[(i * 7) % 23])
    .join("");
  const god = await serve({
    authkey: key,
    listener: () => Promise.resolve({ host: "memory", port: 0, close: () => Promise.resolve() }),
  });
  try {
    const { clientSent, serverSent } = await recordedSession(god, key);
    const wire = [concat(clientSent), concat(serverSent)];
    assert.ok(wire[0].length > 200 && wire[1].length > 200, "the session sent little");
    // Positive controls: the search finds what is really there.
    assert.notEqual(indexOf(wire[0], utf8.encode("not the key")), -1);
    assert.notEqual(indexOf(wire[1], utf8.encode('"proto":"taskwire"')), -1);
    const raw = utf8.encode(key);
    const hex = Array.from(raw, (b) => b.toString(16).padStart(2, "0")).join("");
    const b64 = toBase64(raw);
    const forms = [
      key,
      hex,
      hex.toUpperCase(),
      b64,
      b64.replace(/=+$/, ""),
      b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""),
      encodeURIComponent(key),
      JSON.stringify(key),
    ];
    // Every 8-byte window of the key, too: no part of it leaks.
    for (let i = 0; i + 8 <= key.length; i++) forms.push(key.slice(i, i + 8));
    for (const [side, bytes] of [["client → god", wire[0]], ["god → client", wire[1]]] as const) {
      for (const form of forms) {
        assert.equal(indexOf(bytes, utf8.encode(form)), -1, `${side} contains ${form}`);
      }
      // UTF-16 (someone writing a JS string's code units) as well.
      const utf16 = new Uint8Array(raw.length * 2);
      raw.forEach((b, i) => utf16[i * 2] = b);
      assert.equal(indexOf(bytes, utf16), -1, `${side} contains the key as UTF-16`);
    }
  } finally {
    await god.close();
  }
});

test("a recorded client session replayed byte for byte is refused", async () => {
  const log: Log = [];
  const god = await serve({
    authkey: KEY,
    listener: () => Promise.resolve({ host: "memory", port: 0, close: () => Promise.resolve() }),
    log: (event) => log.push(event),
  });
  try {
    const { clientSent } = await recordedSession(god, KEY);
    const putsBefore = god.stats().queues.find((q) => q.name === "tasks")!.totals.put;
    assert.equal(putsBefore, 4);

    // Replay 1: the attacker paces the recorded chunks, one per answer from the god.
    {
      const [attacker, server] = memoryPair();
      const received: Uint8Array[] = [];
      let wake: (() => void) | null = null;
      const closed = new Promise<void>((resolve) =>
        attacker.start({
          data: (chunk) => {
            received.push(chunk.slice());
            wake?.();
          },
          closed: () => {
            wake?.();
            resolve();
          },
        })
      );
      god.accept(server);
      let isClosed = false;
      closed.then(() => isClosed = true);
      for (const chunk of clientSent) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
        if (isClosed) break;
        attacker.write(chunk);
      }
      await closed;
      const decoder = new FrameDecoder();
      const messages = received.flatMap((c) => decoder.push(c)).map(decodeMessage);
      assert.deepEqual(messages.map((m) => m.type), [MessageType.Hello, MessageType.Error]);
      assert.equal(messages[1].header.code, "auth_failed");
      assert.match(String(messages[1].header.message), /authentication failed/);
    }

    // Replay 2: everything at once.
    {
      const [attacker, server] = memoryPair();
      const received: Uint8Array[] = [];
      const closed = new Promise<void>((resolve) =>
        attacker.start({ data: (chunk) => received.push(chunk.slice()), closed: () => resolve() })
      );
      god.accept(server);
      attacker.write(concat(clientSent));
      await closed;
      const decoder = new FrameDecoder();
      const messages = received.flatMap((c) => decoder.push(c)).map(decodeMessage);
      assert.deepEqual(messages.map((m) => m.type), [MessageType.Hello, MessageType.Error]);
      assert.ok(["auth_failed", "bad_message"].includes(String(messages[1].header.code)));
    }

    // Nothing in the replays was carried out.
    const tasks = god.stats().queues.find((q) => q.name === "tasks")!;
    assert.equal(tasks.totals.put, putsBefore);
    assert.equal(log.filter((e) => e.event === "connected").length, 1);
  } finally {
    await god.close();
  }
});

/** A rich value for job `i`, different for every i. */
function richValue(i: number): Record<string, unknown> {
  return {
    i,
    at: new Date(Date.UTC(2020, 0, 1) + i * 1000),
    big: 2n ** 80n + BigInt(i),
    neg: -BigInt(i) * 10n ** 20n,
    map: new Map<unknown, unknown>([["i", i], [i, new Set([i, `${i}`])], [BigInt(i), null]]),
    set: new Set([i % 7, "x", undefined]),
    none: undefined,
    re: new RegExp(`^job-${i}$`, i % 2 ? "gi" : "m"),
    nums: [NaN, -0, Infinity, i / 3],
    nested: { deep: [{ when: new Date(i) }, [undefined, null]] },
    text: `ünïcødé-${i}-✓`,
  };
}

for (const godRuntime of RUNTIMES) {
  test(`10,000 pipelined requests with rich payloads: ${CURRENT} client ↔ ${godRuntime} god`, async () => {
    const N = 10_000;
    const proc = start(godRuntime, "test/_support/wire_god.ts", ["serve"], {
      env: { TASKWIRE_AUTHKEY: KEY },
    });
    try {
      const line = await proc.waitFor(/^PORT \d+$/, 30_000);
      const port = Number(line.split(" ")[1]);
      const client = await connect({ addr: `127.0.0.1:${port}`, authkey: KEY, reconnect: false });
      try {
        assert.equal((await client.stats()).server.runtime.split(" ")[0], godRuntime);
        const results = client.queue<{ value: Record<string, unknown>; runtime: string }>(
          "results",
        );
        // N gets in flight at once, each its own request id, waiting on the god...
        const gets = Array.from({ length: N }, () => results.get({ timeout: 60_000 }));
        // ...while N puts go to `tasks`; the echo worker on the god's runtime
        // decodes each and puts it back on `results`.
        const tasks = client.queue("tasks");
        const puts = Array.from(
          { length: N },
          (_, i) => tasks.put(richValue(i), { id: `job-${i}` }),
        );
        const ids = await Promise.all(puts);
        assert.equal(new Set(ids).size, N);
        const jobs = await Promise.all(gets);
        const seen = new Set<number>();
        for (const job of jobs) {
          assert.ok(job, "a get timed out");
          const { value, runtime } = job.value;
          assert.equal(runtime, godRuntime);
          const i = value.i as number;
          assert.deepEqual(value, richValue(i), `job ${i}`);
          seen.add(i);
        }
        assert.equal(seen.size, N);
        await Promise.all(jobs.map((job) => job!.ack()));
        const stats = await client.stats();
        const byName = Object.fromEntries(stats.queues.map((q) => [q.name, q]));
        assert.equal(byName.tasks.totals.put, N);
        assert.equal(byName.results.totals.acked, N);
        assert.equal(byName.results.inFlight, 0);
      } finally {
        await client.close();
      }
    } finally {
      await proc.stop();
    }
  });
}
