/**
 * Fuzzing a live god (a real process on each runtime) with fast-check, seeded:
 * random bytes, mutated handshakes, mutated valid frames after the handshake,
 * and random request sequences with bad arguments. Every input must end with a
 * reply or an Error frame and a close — never a hang, a crash or an internal
 * error. Afterwards the god still serves a correct client, keeps every job it
 * held, and its memory is back near where it started.
 *
 * Budgets: `npm test` runs a small one; `npm run fuzz` sets TASKWIRE_FUZZ_SCALE
 * (multiplies the runs) and TASKWIRE_FUZZ_SEED.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { connect } from "../mod.ts";
import { encodeMessage, type Message, MessageType } from "../lib/protocol/messages.ts";
import { AUTHKEY, godEvents, type HardGod, hardGod, mib, rssOf } from "./_support/hardening.ts";
import { RawPeer } from "./_support/raw_peer.ts";
import { CURRENT, RUNTIMES } from "./_support/process.ts";

const SCALE = Number(process.env.TASKWIRE_FUZZ_SCALE ?? 1);
const SEED = Number(process.env.TASKWIRE_FUZZ_SEED ?? 20261128);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));
/** A queue no fuzz input names: its jobs must all survive. */
const PRECIOUS = "precious-8c1f";
const KEPT = 50;
const SENTINEL = 0x7fff_fff0;

const REQUESTS = [
  MessageType.Put,
  MessageType.Get,
  MessageType.Consume,
  MessageType.Cancel,
  MessageType.Ack,
  MessageType.Nack,
  MessageType.Touch,
  MessageType.Stats,
  MessageType.Peek,
  MessageType.Purge,
  MessageType.DeadList,
  MessageType.DeadRequeue,
  MessageType.Declare,
] as const;

const enc = new TextEncoder();

/** A well-formed request of each kind, for mutation. */
function validRequest(kind: number, id: number): Uint8Array {
  const payload = enc.encode('{"json":{"n":1}}');
  switch (kind) {
    case 0:
      return encodeMessage(MessageType.Put, id, {
        q: "tasks",
        items: [{ id: `fz-${id}` }],
        sizes: [payload.length],
      }, [payload]);
    case 1:
      return encodeMessage(MessageType.Get, id, { q: "tasks", timeout: 0 });
    case 2:
      return encodeMessage(MessageType.Consume, id, { q: "tasks", sub: id + 1, prefetch: 2 });
    case 3:
      return encodeMessage(MessageType.Ack, id, { tags: [1, 2, 3] });
    case 4:
      return encodeMessage(MessageType.Nack, id, { tag: 1, delay: 10 });
    case 5:
      return encodeMessage(MessageType.Peek, id, { q: "tasks", n: 3 });
    case 6:
      return encodeMessage(MessageType.Declare, id, { q: "fz-q", options: { maxsize: 10 } });
    default:
      return encodeMessage(MessageType.Stats, id, { q: "tasks" });
  }
}

/** Values that make bad arguments: wrong types, huge and negative numbers, odd strings. */
const wild = fc.oneof(
  fc.constantFrom(
    null,
    true,
    -1,
    0,
    1,
    2 ** 31,
    2 ** 53,
    -(2 ** 53),
    1e308,
    0.5,
    "",
    "tasks",
    "fz-q",
    "__proto__",
    "constructor",
    "x".repeat(300),
  ),
  fc.integer({ min: -1000, max: 100_000 }),
  fc.string({ maxLength: 20 }),
  fc.array(fc.integer({ min: -5, max: 50 }), { maxLength: 5 }),
  fc.dictionary(
    fc.constantFrom("maxsize", "leaseMs", "maxAttempts", "x", "__proto__"),
    fc.integer(),
  ),
);

const op = fc.record({
  type: fc.oneof(
    { weight: 9, arbitrary: fc.constantFrom(...REQUESTS) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
  ),
  /** For a Put: make items and sizes agree with the payload, so the request gets past framing. */
  fixSizes: fc.boolean(),
  id: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  header: fc.record({
    q: wild,
    timeout: fc.oneof(fc.integer({ min: -10, max: 200 }), wild),
    items: fc.oneof(
      wild,
      fc.array(fc.record({ id: wild, priority: wild, delay: wild }), { maxLength: 3 }),
    ),
    sizes: fc.oneof(wild, fc.array(fc.integer({ min: -5, max: 40 }), { maxLength: 3 })),
    tags: wild,
    tag: wild,
    sub: wild,
    prefetch: wild,
    n: wild,
    ids: wild,
    dead: wild,
    delay: wild,
    options: wild,
  }, { requiredKeys: [] }),
  payload: fc.uint8Array({ maxLength: 64 }),
});

/** Sends the sentinel Stats and waits for its reply or the close; a hang is a failure. */
async function settle(peer: RawPeer, what: string): Promise<Message | "closed"> {
  peer.sendBody(encodeMessage(MessageType.Stats, SENTINEL, {}));
  const end = await peer.until((m) => m.id === SENTINEL && m.type === MessageType.Ok, 5000);
  assert.notEqual(end, "timeout", `${what}: the god neither answered nor closed`);
  assert.notEqual(end, "garbage", `${what}: the god sent bytes that do not decode`);
  return end as Message | "closed";
}

async function fuzzGod(god: HardGod): Promise<Record<string, number>> {
  const tally: Record<string, number> = {};
  const count = (k: string) => tally[k] = (tally[k] ?? 0) + 1;
  const params = (n: number) => ({ numRuns: runs(n), seed: SEED, endOnFailure: true });

  // 1. Random bytes on fresh connections, 8 at a time: each is closed by the god.
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.uint8Array({ maxLength: 600 }), { minLength: 8, maxLength: 8 }),
      async (inputs) => {
        await Promise.all(inputs.map(async (bytes) => {
          const peer = await RawPeer.connect(god.port);
          peer.sendRaw(bytes);
          const end = await peer.until(() => false, 5000);
          peer.close();
          assert.equal(end, "closed", `random bytes [${bytes.slice(0, 16)}...] were not closed`);
          count("randomBytes");
        }));
      },
    ),
    params(15),
  );

  // 2. A real Auth, mutated: refused with an Error frame and closed, or (when the
  // mutation missed everything the proof covers) welcomed.
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), {
        minLength: 1,
        maxLength: 4,
      }),
      fc.oneof(fc.constant(0), fc.integer({ min: -20, max: 20 })),
      async (flips, resize) => {
        const peer = await RawPeer.connect(god.port);
        const { ClientHandshake } = await import("../lib/protocol/handshake.ts");
        const { importAuthKey } = await import("../lib/protocol/keys.ts");
        const handshake = new ClientHandshake(await importAuthKey(AUTHKEY), {
          role: "fuzz",
          runtime: "test",
          name: "mutant",
        });
        const hello = await peer.next(5000);
        assert.ok(typeof hello !== "string", `no Hello: ${hello}`);
        const step = await handshake.receive((hello as { body: Uint8Array }).body);
        let auth = (step as { send: Uint8Array }).send.slice();
        for (const { at, byte } of flips) auth[at % auth.length] = byte;
        if (resize > 0) auth = Uint8Array.from([...auth, ...new Uint8Array(resize).fill(0x7b)]);
        if (resize < 0) auth = auth.slice(0, Math.max(0, auth.length + resize));
        peer.sendBody(auth);
        const reply = await peer.next(5000);
        if (typeof reply !== "string" && reply.type === MessageType.Welcome) count("authWelcomed");
        else {
          assert.ok(
            reply === "closed" || (typeof reply !== "string" && reply.type === MessageType.Error),
            `mutated Auth got ${typeof reply === "string" ? reply : reply.type}`,
          );
          const end = await peer.until(() => false, 5000);
          assert.equal(end, "closed", "refused handshake is followed by a close");
          count("authRefused");
        }
        peer.close();
      },
    ),
    params(100),
  );

  // 3. Valid requests after the handshake, mutated (the length prefix stays right).
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 7 }),
      fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), {
        minLength: 1,
        maxLength: 6,
      }),
      async (kind, flips) => {
        const peer = await RawPeer.authenticated(god.port, AUTHKEY);
        const body = validRequest(kind, 7).slice();
        for (const { at, byte } of flips) body[at % body.length] = byte;
        peer.sendBody(body);
        const end = await settle(peer, `mutated request kind ${kind}`);
        count(end === "closed" ? "frameClosed" : "frameAnswered");
        peer.close();
      },
    ),
    params(100),
  );

  // 4. Random request sequences with bad arguments.
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
      const peer = await RawPeer.authenticated(god.port, AUTHKEY);
      for (const o of ops) {
        if (o.id === SENTINEL) continue;
        const header: Record<string, unknown> = Object.fromEntries(Object.entries(o.header));
        // Keep waits short so a parked get does not outlive the run.
        if (typeof header.timeout === "number" && header.timeout > 200) header.timeout = 200;
        if (o.type === MessageType.Put && o.fixSizes) {
          header.sizes = [o.payload.length];
          header.items = Array.isArray(header.items) && header.items.length === 1
            ? header.items
            : [{}];
        }
        peer.sendBody(encodeMessage(o.type as MessageType, o.id, header, [o.payload]));
      }
      const end = await settle(peer, `ops ${ops.map((o) => o.type).join(",")}`);
      count(end === "closed" ? "opsClosed" : "opsAnswered");
      peer.close();
    }),
    params(150),
  );
  return tally;
}

for (const godRuntime of RUNTIMES) {
  test(`fuzz: a ${godRuntime} god survives random bytes, mutated handshakes and frames, and bad op sequences (${CURRENT} fuzzer, seed ${SEED})`, async () => {
    const god = await hardGod(godRuntime, [
      "--limits",
      JSON.stringify({ handshakeTimeoutMs: 300, authFailureBurst: 1_000_000 }),
    ]);
    try {
      const client = await connect({ addr: god.addr, authkey: AUTHKEY, reconnect: false });
      const precious = client.queue<number>(PRECIOUS);
      await precious.putMany(Array.from({ length: KEPT }, (_, i) => i));
      // Warm up, then measure where memory starts.
      for (let i = 0; i < 200; i++) await client.queue("tasks").put(i);
      await client.purge("tasks");
      const rssBefore = rssOf(god.pid);

      const started = Date.now();
      const tally = await fuzzGod(god);
      const seconds = (Date.now() - started) / 1000;

      // The god is alive and serves a correct client.
      const again = await connect({ addr: god.addr, authkey: AUTHKEY, reconnect: false });
      await again.queue("after").put({ ok: true });
      assert.deepEqual((await again.queue("after").get({ timeout: 2000 }))?.value, { ok: true });
      // No job lost: every precious job is still there, once.
      const stats = await again.stats(PRECIOUS);
      assert.equal(stats.queues[0].ready, KEPT, "precious jobs kept");
      const got = new Set<number>();
      for (let i = 0; i < KEPT; i++) {
        const job = await again.queue<number>(PRECIOUS).get({ timeout: 2000 });
        assert.ok(job, `precious job ${i} is there`);
        got.add(job.value);
        await job.ack();
      }
      assert.equal(got.size, KEPT);
      // No request made the god fail internally.
      const internal = godEvents(god.proc, "error");
      assert.deepEqual(internal, [], "no internal errors");

      await new Promise((resolve) => setTimeout(resolve, 500));
      const rssAfter = rssOf(god.pid);
      console.log(
        `fuzz ${godRuntime} god: ${JSON.stringify(tally)} in ${seconds.toFixed(1)} s; ` +
          `RSS ${mib(rssBefore)} -> ${mib(rssAfter)}; limits ${JSON.stringify(stats.limits!.hits)}`,
      );
      if (!Number.isNaN(rssBefore)) {
        assert.ok(
          rssAfter < rssBefore + 96 * 1024 * 1024,
          `RSS grew from ${mib(rssBefore)} to ${mib(rssAfter)}`,
        );
      }
      await again.close();
      await client.close();
    } finally {
      const { code } = await god.proc.stop();
      assert.equal(code, 0, god.proc.output.slice(-3000));
    }
  });
}
