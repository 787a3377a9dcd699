/**
 * Admission before the key is proven (issue 18, items 6-8): one address
 * cannot hold every handshake slot, TLS connections count from accept time,
 * failed handshakes slow down only the failures (a client with the key on the
 * same address still gets in at once), and rejections are logged once per
 * address per interval. Gods run in this process over real sockets on
 * 127.0.0.x (the loopback /8).
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import { connect } from "../mod.ts";
import { serve } from "../lib/server/server.ts";
import { addressKey, AuthLimiter, RejectionLog } from "../lib/server/admission.ts";
import { AuthError } from "../lib/protocol/errors.ts";
import { haveOpenssl, makeCerts, type TestCerts } from "./_support/certs.ts";
import { AUTHKEY, limitedGod as god, until } from "./_support/hardening.ts";

const OPENSSL = haveOpenssl();
if (!OPENSSL) console.log("NOTICE: openssl not found: the TLS admission test is skipped");
let certs: TestCerts | null = null;
after(() => {
  if (certs) fs.rmSync(certs.dir, { recursive: true, force: true });
});

/**
 * Opens `count` sockets from `from` (a loopback address) to `port`, each
 * writing `first` (if any) and then staying silent. Resolves once every socket
 * is connected or refused; `closed()` tells how many the god has closed.
 */
async function idleSockets(
  port: number,
  from: string,
  count: number,
  first?: Uint8Array,
): Promise<{ sockets: net.Socket[]; closed(): number; destroy(): void }> {
  const sockets: net.Socket[] = [];
  let closed = 0;
  await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<void>((resolve) => {
        const socket = net.connect({ host: "127.0.0.1", port, localAddress: from }, () => {
          if (first) socket.write(first);
          resolve();
        });
        socket.on("data", () => {});
        socket.on("error", () => resolve());
        socket.on("close", () => {
          closed++;
          resolve();
        });
        sockets.push(socket);
      })),
  );
  return {
    sockets,
    closed: () => closed,
    destroy: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

test("addressKey() counts an IPv6 address by its /64 and an IPv4 address as it is", () => {
  assert.equal(addressKey("10.0.0.7"), "10.0.0.7");
  assert.equal(addressKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  assert.equal(addressKey("2001:db8:1:2::9"), "2001:db8:1:2::/64");
  assert.equal(addressKey("2001:0db8:0001:0002:ffff::1"), "2001:db8:1:2::/64");
  assert.equal(addressKey("2001:db8::1"), "2001:db8:0:0::/64");
  assert.equal(addressKey("fe80::1%eth0"), "fe80:0:0:0::/64");
});

test("AuthLimiter: failures past the burst are answered late, nothing is refused, and the bucket refills", () => {
  const limiter = new AuthLimiter({ burst: 3, refillMs: 1000, delayMs: 2000 });
  const t0 = 1_000_000;
  assert.equal(limiter.failed("a", t0), 0);
  assert.equal(limiter.failed("a", t0), 0);
  assert.equal(limiter.failed("a", t0), 0, "the burst is answered at once");
  assert.equal(limiter.failed("a", t0), 2000, "past the burst: answered late");
  assert.equal(limiter.failed("b", t0), 0, "another address is not affected");
  assert.equal(limiter.throttled(t0), 1);
  assert.equal(limiter.failed("a", t0 + 1000), 0, "one failure forgiven per refillMs");
  limiter.sweep(t0 + 10_000);
  assert.equal(limiter.throttled(t0 + 10_000), 0, "full again: forgotten");
});

test("RejectionLog: the first rejection of an address per interval is logged, the rest summed up once", () => {
  const log = new RejectionLog({ intervalMs: 10_000, maxAddresses: 2 });
  const t0 = 5_000_000;
  assert.equal(log.note("a", "auth_failed", t0), true);
  for (let i = 0; i < 500; i++) assert.equal(log.note("a", "auth_failed", t0 + i), false);
  assert.equal(log.note("a", "version_mismatch", t0 + 600), true, "a new kind is logged once");
  assert.equal(log.note("a", "version_mismatch", t0 + 601), false);
  assert.equal(log.note("b", "bad_message", t0), true, "another address is logged on its own");
  assert.deepEqual(log.sweep(t0 + 9_000), [], "nothing before the interval ends");
  assert.deepEqual(log.sweep(t0 + 10_000), [{
    address: "a",
    count: 501,
    codes: "auth_failed x500, version_mismatch x1",
    intervalMs: 10_000,
  }]);
  assert.equal(log.note("a", "auth_failed", t0 + 10_001), true, "a new interval logs again");
  // Bounded: past maxAddresses, the oldest address is summarised early.
  const small = new RejectionLog({ intervalMs: 10_000, maxAddresses: 2 });
  small.note("x", "bad_message", t0);
  small.note("x", "bad_message", t0 + 1);
  small.note("y", "bad_message", t0 + 2);
  small.note("z", "bad_message", t0 + 3);
  assert.deepEqual(small.sweep(t0 + 4).map((s) => [s.address, s.count]), [["x", 1]]);
});

test("one address cannot hold every handshake slot: idle sockets from 127.0.0.2 leave room for 127.0.0.1", async () => {
  const { god: g, addr, log } = await god({ maxUnauthenticated: 200, handshakeTimeoutMs: 30_000 });
  const hog = await idleSockets(g.port, "127.0.0.2", 300);
  try {
    await until("the god to settle the idle sockets", () => {
      const pending = g.stats().limits!.unauthenticated;
      return pending + hog.closed() >= 300 || pending >= 200;
    }, 10_000);
    const stats = g.stats().limits!;
    assert.equal(stats.unauthenticated, 64, "127.0.0.2 holds maxUnauthenticatedPerAddress (64)");
    assert.equal(stats.hits.unauthenticatedPerAddress, 300 - 64);
    assert.ok(
      log.some((e) => e.event === "refused" && e.limit === "unauthenticatedPerAddress"),
    );
    // A client with the key on another address gets in at once.
    const started = Date.now();
    const client = await connect({ addr, authkey: AUTHKEY, reconnect: false });
    await client.queue("tasks").put("in");
    assert.ok(Date.now() - started < 5000, `connected in ${Date.now() - started} ms`);
    await client.close();
  } finally {
    hog.destroy();
    await g.close();
  }
});

test(
  "TLS: connections count from accept time: stalled TLS handshakes from 127.0.0.2 are limited and 127.0.0.1 gets in",
  { skip: !OPENSSL },
  async () => {
    certs ??= makeCerts();
    const { god: g, addr } = await god({ maxUnauthenticated: 200, handshakeTimeoutMs: 30_000 }, {
      tls: { cert: fs.readFileSync(certs.cert, "utf8"), key: fs.readFileSync(certs.key, "utf8") },
    });
    // The first bytes of a TLS record, then nothing: a TLS handshake that never goes on.
    const hog = await idleSockets(g.port, "127.0.0.2", 300, Uint8Array.from([0x16, 0x03, 0x01]));
    try {
      await until(
        "the god to refuse what is over the limit",
        () => hog.closed() >= 300 - 64,
        10_000,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(hog.closed(), 300 - 64, "only maxUnauthenticatedPerAddress are held");
      assert.equal(g.stats().limits!.unauthenticated, 64);
      const client = await connect({
        addr: `tls://${addr}`,
        authkey: AUTHKEY,
        tls: { ca: fs.readFileSync(certs.caCert, "utf8") },
        reconnect: false,
      });
      await client.queue("tasks").put("in over TLS");
      await client.close();
    } finally {
      hog.destroy();
      await g.close();
    }
    // Given back when they go: nothing stays counted.
    await until("the god to count them gone", () => g.stats().limits!.unauthenticated === 0, 5000);
  },
);

test(
  "TLS: a plain TCP client on a TLS port is told to use tls://, and stops",
  { skip: !OPENSSL },
  async () => {
    certs ??= makeCerts();
    const { god: g, addr, log } = await god({}, {
      tls: { cert: fs.readFileSync(certs.cert, "utf8"), key: fs.readFileSync(certs.key, "utf8") },
    });
    try {
      await assert.rejects(
        connect({ addr, authkey: AUTHKEY, reconnect: false }),
        (e: Error) => e instanceof AuthError && /connect with tls:\/\//.test(e.message),
      );
      await until("the god logs it", () => log.some((e) => e.event === "tls-error"), 5000);
      const lines = log.filter((e) => e.event === "tls-error");
      assert.equal(lines.length, 1, "one line, not two");
      assert.match(String(lines[0].remote), /^127\.0\.0\.1:\d+$/, "with the client's address");
      assert.equal(g.stats().limits!.unauthenticated, 0);
      // And a TLS client to a plain god hears that it does not speak TLS.
      const plain = await serve({ listen: "127.0.0.1:0", authkey: AUTHKEY });
      try {
        await assert.rejects(
          connect({
            addr: `tls://127.0.0.1:${plain.port}`,
            authkey: AUTHKEY,
            tls: { ca: fs.readFileSync(certs.caCert, "utf8") },
            reconnect: false,
          }),
          /does not seem to speak TLS on this port .*without tls:\/\//,
        );
      } finally {
        await plain.close();
      }
    } finally {
      await g.close();
    }
  },
);

test("failed handshakes slow down only the failures: a client with the key on the same address gets in at once", async () => {
  const { god: g, addr } = await god({ authFailureBurst: 3, authFailureDelayMs: 2000 });
  let attacking = true;
  let failures = 0;
  const slowFailures: number[] = [];
  // Four attackers on 127.0.0.1, each failing again as soon as it is refused.
  const attackers = Array.from({ length: 4 }, async () => {
    while (attacking) {
      const started = Date.now();
      await assert.rejects(connect({ addr, authkey: "wrong", reconnect: false }), AuthError);
      failures++;
      slowFailures.push(Date.now() - started);
    }
  });
  try {
    await until("the attackers to use up the burst", () => failures >= 3, 10_000);
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const started = Date.now();
      const client = await connect({ addr, authkey: AUTHKEY, reconnect: false });
      times.push(Date.now() - started);
      await client.close();
    }
    // Generous for a loaded machine; a refused or throttled client would take seconds or fail.
    assert.ok(times.every((t) => t < 1500), `connect times ${times.join(", ")} ms`);
    await until("a failure past the burst", () => slowFailures.some((t) => t >= 1800), 10_000);
    const stats = g.stats().limits!;
    assert.ok(stats.hits.authThrottled > 0, "failures past the burst were answered late");
    assert.equal(stats.throttledAddresses, 1);
  } finally {
    attacking = false;
    await Promise.all(attackers);
    await g.close();
  }
});

test("rejections before the handshake are logged once per address per interval, escaped", async () => {
  const { god: g, log } = await god({ authFailureBurst: 1_000_000 });
  try {
    const forged = "1\n+ producer evil (node) connected from 6.6.6.6\x1b[2J\u202e";
    const auth = (version: unknown) =>
      new TextEncoder().encode(JSON.stringify({
        proto: "taskwire",
        version,
        nonce: "A".repeat(43) + "=",
        role: "x",
        proof: "x",
      }));
    await Promise.all(Array.from({ length: 50 }, () => badAuth(g.port, auth(forged))));
    await until("every rejection counted", () => g.stats().limits!.unauthenticated === 0, 5000);
    const rejected = log.filter((e) => e.event === "rejected");
    assert.equal(rejected.length, 1, "one line for 50 rejections from one address");
    const message = String(rejected[0].message);
    for (const raw of ["\n", "\x1b", "\u202e"]) {
      assert.ok(!message.includes(raw), `escaped: ${JSON.stringify(message)}`);
    }
    assert.match(message, /speaks taskwire\/"1\\n\+ producer evil/);
  } finally {
    await g.close();
  }
});

/** Connects, reads the Hello, sends an Auth frame with `header` (a JSON header) and waits for the close. */
function badAuth(port: number, header: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("data", () => {
      const body = new Uint8Array(9 + header.length);
      body[0] = 2; // Auth
      new DataView(body.buffer).setUint32(5, header.length);
      body.set(header, 9);
      const frame = new Uint8Array(4 + body.length);
      new DataView(frame.buffer).setUint32(0, body.length);
      frame.set(body, 4);
      socket.write(frame);
    });
    socket.on("error", () => resolve());
    socket.on("close", () => resolve());
    setTimeout(() => {
      socket.destroy();
      resolve();
    }, 5000);
  });
}
