/**
 * The Python door's queue semantics and limits, with a god and its door in
 * this process and real python3 processes as clients: queue.Full/Empty with
 * Python's timeouts, leases held until the worker's next call (and renewed
 * while it lives), values from Node reaching Python, a job Python cannot
 * receive dead-lettered, Python workers in the god's stats, and the door's
 * connection and pre-authentication limits.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import { createHmac } from "node:crypto";
import { connect } from "../mod.ts";
import { encodePyFrame, PyFrameDecoder } from "../lib/python/framing.ts";
import { dumpPickle, loadPickle, PyDict, PyTuple, type PyValue } from "../lib/python/pickle.ts";
import fc from "fast-check";
import {
  jsonEvents,
  type LocalDoor,
  localDoor,
  otherInterpreters,
  PYTHON3,
  startPython,
  until,
} from "./_support/python_door.ts";
import { CAPTURED, loadCapture, methodConnection } from "./_support/python_fixtures.ts";

const skip = PYTHON3 === null ? "python3 is not available" : false;
const enc = new TextEncoder();

function queueStats(d: LocalDoor, name: string) {
  return d.god.stats(name).queues[0];
}

/** The runtime the door should report for the machine's python3. */
function expectedRuntime(version: string): string {
  const minor = Number(version.split(".")[1]);
  return minor <= 7 ? "python <=3.7" : minor <= 11 ? "python 3.8-3.11" : "python 3.12-3.13";
}

async function withDoor(
  fn: (d: LocalDoor) => Promise<void>,
  options?: Parameters<typeof localDoor>[0],
): Promise<void> {
  const d = await localDoor(options);
  try {
    await fn(d);
  } finally {
    await d.close();
  }
}

test("a bounded queue raises queue.Full, an empty one queue.Empty, with Python's timeouts", {
  skip,
}, async () => {
  await withDoor(async (d) => {
    const p = startPython("probe.py", ["bounded", "--port", String(d.door.port)], d);
    const { code } = await p.wait(30_000);
    assert.equal(code, 0, p.output);
    const [r] = jsonEvents(p, "bounded");
    assert.deepEqual(r, {
      event: "bounded",
      empty0: true,
      get_nowait: "Empty",
      get_timeout: "Empty",
      get_waited: true,
      full: true,
      qsize: 2,
      put_nowait: "Full",
      put_timeout: "Full",
      put_waited: true,
      first: "a",
      second: "b",
      empty1: true,
      join: "AttributeError",
    });
  });
});

test(
  "a job stays leased to its Python connection, renewed past its lease, until the connection goes",
  { skip },
  async () => {
    await withDoor(async (d) => {
      const client = await connect({ addr: `127.0.0.1:${d.god.port}`, authkey: d.authkey });
      try {
        await client.queue("tasks").put(7);
        await client.queue("tasks").put(8);
        const p = startPython("probe.py", ["hold", "--port", String(d.door.port)], d);
        await p.waitFor(/"event": "holding"/);
        assert.equal(jsonEvents(p, "holding")[0].value, "7");
        // The queue's lease is 300 ms; the door renews it while the worker's connection lives.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        let tasks = queueStats(d, "tasks");
        assert.equal(tasks.inFlight, 1);
        assert.equal(tasks.ready, 1);
        assert.equal(tasks.totals.expired, 0, "renewed, never expired");
        p.signal("SIGKILL");
        await p.wait();
        await until("the job back in the queue", () => queueStats(d, "tasks").ready === 2);
        tasks = queueStats(d, "tasks");
        assert.equal(tasks.inFlight, 0);
        assert.equal(tasks.totals.acked, 0);
      } finally {
        await client.close();
      }
    }, { queues: { tasks: { leaseMs: 300 }, results: {}, bounded: { maxsize: 2 } } });
  },
);

test("the worker's next put (once stored) or next get acks the job it held", { skip }, async () => {
  await withDoor(async (d) => {
    const client = await connect({ addr: `127.0.0.1:${d.god.port}`, authkey: d.authkey });
    try {
      for (const n of [2, 3, 4]) await client.queue("tasks").put(n);
      const p = startPython("seed_consumer.py", ["--port", String(d.door.port), "--count", "2"], d);
      const { code } = await p.wait(30_000);
      assert.equal(code, 0, p.output);
      await until("results stored", () => queueStats(d, "results").ready === 2);
      const tasks = queueStats(d, "tasks");
      assert.equal(tasks.totals.acked, 2, "each result put acked its task");
      assert.equal(tasks.ready, 1);
      assert.equal(tasks.inFlight, 0);
      const results = client.queue<string>("results");
      const got = [await results.get({ timeout: 1000 }), await results.get({ timeout: 1000 })];
      assert.deepEqual(got.map((j) => j?.value).sort(), ["2 * 2 = 4", "3 * 3 = 9"]);
      for (const job of got) await job?.ack();
    } finally {
      await client.close();
    }
  });
});

test("values a Node client puts reach Python as the nearest Python values", { skip }, async () => {
  await withDoor(async (d) => {
    const client = await connect({ addr: `127.0.0.1:${d.god.port}`, authkey: d.authkey });
    try {
      await client.queue("tasks").put({
        a: 1,
        big: 2n ** 70n,
        m: new Map<unknown, unknown>([[1, "x"], [[2, 3], null]]),
        s: new Set(["z"]),
        f: 1.5,
        u: undefined,
        list: [1, [2]],
      });
      const p = startPython("probe.py", ["receive", "--port", String(d.door.port)], d);
      assert.equal((await p.wait(30_000)).code, 0, p.output);
      assert.equal(
        jsonEvents(p, "received")[0].value,
        "{'a': 1, 'big': 1180591620717411303424, 'm': {1: 'x', (2, 3): None}, 's': {'z'}, 'f': 1.5, 'u': None, 'list': [1, [2]]}",
      );
    } finally {
      await client.close();
    }
  });
});

test("a job Python cannot receive goes to the dead-letter queue and the worker is told why", {
  skip,
}, async () => {
  await withDoor(async (d) => {
    const client = await connect({ addr: `127.0.0.1:${d.god.port}`, authkey: d.authkey });
    try {
      await client.queue("tasks").put({ at: new Date(0) });
      const p = startPython("probe.py", ["receive", "--port", String(d.door.port)], d);
      const { code } = await p.wait(30_000);
      assert.notEqual(code, 0);
      assert.match(p.output, /RemoteError/);
      assert.match(p.output, /value\.at has no Python counterpart \(it is a Date\)/);
      assert.match(p.output, /moved to the dead-letter queue of 'tasks'/);
      await until("the job dead", () => queueStats(d, "tasks").dead === 1);
      const [dead] = await client.deadList("tasks");
      assert.match(dead.reason ?? "", /it is a Date/);
    } finally {
      await client.close();
    }
  });
});

test(
  "Python workers appear among the god's clients with their Python version",
  { skip },
  async () => {
    await withDoor(async (d) => {
      const p = startPython("probe.py", ["blocked-get", "--port", String(d.door.port)], d);
      await p.waitFor(/"event": "ready"/);
      const stats = d.god.stats();
      const workers = stats.connections.filter((c) => c.role === "worker");
      assert.equal(workers.length, 1);
      assert.equal(workers[0].runtime, expectedRuntime(PYTHON3!.version));
      assert.equal(workers[0].name, "MainProcess");
      assert.match(workers[0].remote, /^127\.0\.0\.1:\d+$/);
      const connected = d.events.find((e) => e.event === "connected");
      assert.equal(connected?.runtime, expectedRuntime(PYTHON3!.version));
      p.signal("SIGINT");
      await p.wait();
      await until("the worker gone", () => d.pythonClients() === 0);
      assert.ok(d.events.some((e) => e.event === "disconnected"));
    });
  },
);

test(
  "closing the door hands the jobs Python workers held back to their queues",
  { skip },
  async () => {
    const d = await localDoor();
    const client = await connect({ addr: `127.0.0.1:${d.god.port}`, authkey: d.authkey });
    const p = startPython("probe.py", ["hold", "--port", String(d.door.port)], d);
    try {
      await client.queue("tasks").put("held");
      await p.waitFor(/"event": "holding"/);
      assert.equal(queueStats(d, "tasks").inFlight, 1);
      await d.door.close();
      await until("the job back", () => queueStats(d, "tasks").ready === 1);
    } finally {
      p.signal("SIGKILL");
      await p.wait();
      await client.close();
      await d.close();
    }
  },
);

test(
  "a door sending Python <= 3.11's 20-byte challenge serves every Python present",
  { skip },
  async () => {
    const modern = otherInterpreters().found.filter((p) => Number(p.minor.split(".")[1]) >= 12);
    await withDoor(async (d) => {
      for (const python of [PYTHON3!.path, ...modern.map((p) => p.path)]) {
        const p = startPython("seed_producer.py", ["--port", String(d.door.port), "--count", "2"], {
          authkey: d.authkey,
          python,
        });
        assert.equal((await p.wait(30_000)).code, 0, `${python}: ${p.output}`);
      }
      assert.equal(queueStats(d, "tasks").ready, 2 * (1 + modern.length));
    }, { door: { legacyChallenge: true } });
  },
);

test(
  "a request over maxFrameSize gets a clear error and the connection keeps working",
  { skip },
  async () => {
    await withDoor(async (d) => {
      const p = startPython("probe.py", [
        "oversized",
        "--port",
        String(d.door.port),
        "--arg",
        "5000",
      ], d);
      assert.equal((await p.wait(30_000)).code, 0, p.output);
      assert.match(
        String(jsonEvents(p, "refused")[0].message),
        /ValueError: a request of \d+ bytes exceeds the door's limit of 4096 bytes \(maxFrameSize\); nothing was done/,
      );
      assert.deepEqual(jsonEvents(p, "after")[0], { event: "after", qsize: 0 });
      assert.equal(queueStats(d, "tasks").totals.put, 0);
    }, { door: { limits: { maxFrameSize: 4096 } } });
  },
);

// ---------------------------------------------------------------------------
// Limits, with a raw client speaking the protocol from TypeScript.

/** A raw multiprocessing.connection client: frames in and out, nothing else. */
class RawPeer {
  readonly socket: net.Socket;
  readonly #decoder = new PyFrameDecoder({ maxFrameSize: 1 << 20 });
  readonly #frames: Uint8Array[] = [];
  #waiters: (() => void)[] = [];
  closed = false;

  constructor(port: number) {
    this.socket = net.connect({ host: "127.0.0.1", port });
    this.socket.on("data", (chunk: Uint8Array) => {
      for (const e of this.#decoder.push(chunk)) {
        if (e.type === "frame") this.#frames.push(e.body.slice());
      }
      this.#wake();
    });
    this.socket.on("close", () => {
      this.closed = true;
      this.#wake();
    });
    this.socket.on("error", () => {});
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  send(body: Uint8Array): void {
    this.socket.write(encodePyFrame(body));
  }

  /** The next frame, or null once the door closed the connection. */
  async next(timeoutMs = 5000): Promise<Uint8Array | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.#frames.length === 0 && !this.closed) {
      if (Date.now() > deadline) throw new Error("no frame in time");
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return this.#frames.shift() ?? null;
  }

  async closedWithin(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  /** Both handshake directions as Python ≥ 3.12 does them, with `key`. */
  async authenticate(key: string): Promise<boolean> {
    const challenge = (await this.next())!.subarray(11);
    const mac = createHmac("sha256", key).update(challenge).digest();
    this.send(Uint8Array.from([...enc.encode("{sha256}"), ...mac]));
    const verdict = new TextDecoder().decode((await this.next()) ?? new Uint8Array());
    if (verdict !== "#WELCOME#") return false;
    this.send(enc.encode("#CHALLENGE#{sha256}" + "r".repeat(40)));
    await this.next();
    this.send(enc.encode("#WELCOME#"));
    return true;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function request(ident: PyValue, method: string, args: PyValue[] = []): Uint8Array {
  return dumpPickle(new PyTuple([ident, method, new PyTuple(args), new PyDict()]));
}

test(
  "the door refuses connections over its limits with a message Python shows",
  { skip },
  async () => {
    await withDoor(async (d) => {
      const hog = new RawPeer(d.door.port);
      try {
        await hog.next(); // its challenge: it now holds the address's only slot
        const p = startPython(
          "seed_producer.py",
          ["--port", String(d.door.port), "--count", "1"],
          d,
        );
        const { code } = await p.wait(30_000);
        assert.notEqual(code, 0);
        assert.match(
          p.output,
          /#REFUSED# Cannot accept a connection from 127\.0\.0\.1: it has 1 connections \(maxConnectionsPerAddress 1\)/,
        );
        assert.ok(
          d.events.some((e) => e.event === "refused" && e.limit === "connectionsPerAddress"),
        );
      } finally {
        hog.destroy();
      }
    }, { door: { limits: { maxConnectionsPerAddress: 1 } } });
  },
);

test("a silent peer is dropped after the handshake timeout, an oversized handshake at once", async () => {
  await withDoor(async (d) => {
    const silent = new RawPeer(d.door.port);
    assert.ok((await silent.next())!.length > 11);
    assert.ok(await silent.closedWithin(3000), "dropped after handshakeTimeoutMs");
    assert.ok(d.events.some((e) => e.event === "rejected" && e.code === "handshake_timeout"));
    const big = new RawPeer(d.door.port);
    await big.next();
    big.socket.write(Uint8Array.of(0, 0, 4, 0)); // announces 1024 bytes; Python's cap is 256
    assert.ok(await big.closedWithin(2000));
    // Authenticated but no first request: dropped too.
    const idle = new RawPeer(d.door.port);
    assert.ok(await idle.authenticate(d.authkey));
    assert.ok(await idle.closedWithin(3000));
    for (const p of [silent, big, idle]) p.destroy();
  }, { door: { limits: { handshakeTimeoutMs: 400 } } });
});

test("failed handshakes from one address are throttled after a burst", async () => {
  await withDoor(async (d) => {
    for (let i = 0; i < 2; i++) {
      const peer = new RawPeer(d.door.port);
      assert.equal(await peer.authenticate("wrong key"), false);
      assert.ok(await peer.closedWithin(2000));
      peer.destroy();
    }
    const third = new RawPeer(d.door.port);
    const first = new TextDecoder().decode((await third.next())!);
    assert.match(
      first,
      /^#REFUSED# Cannot accept a connection from 127\.0\.0\.1: too many failed handshakes/,
    );
    third.destroy();
    const rejected = d.events.filter((e) => e.event === "rejected" && e.code === "auth_failed");
    assert.equal(rejected.length, 1, "a burst is logged once");
  }, { door: { limits: { authFailureBurst: 2, authFailureRefillMs: 60_000 } } });
});

test("a peer that pipelines requests without reading replies is cut off", async () => {
  await withDoor(async (d) => {
    const peer = new RawPeer(d.door.port);
    assert.ok(await peer.authenticate(d.authkey));
    peer.send(request(null, "accept_connection", ["MainProcess"]));
    assert.deepEqual(loadPickle((await peer.next())!).value, new PyTuple(["#RETURN", null]));
    // A get that blocks forever, then more than the door queues behind it.
    for (let i = 0; i < 20; i++) peer.send(request("pq", "get"));
    assert.ok(await peer.closedWithin(3000));
    peer.destroy();
    assert.equal(queueStats(d, "tasks").waitingGets, 0, "its parked get ended with it");
  });
});

test("a live door survives fuzzed handshakes and fuzzed requests, then still serves python3", {
  skip,
}, async () => {
  const scale = Number(process.env.TASKWIRE_FUZZ_SCALE ?? 1);
  const seed = Number(process.env.TASKWIRE_FUZZ_SEED ?? 20261130);
  const requests = CAPTURED.flatMap((v) =>
    methodConnection(loadCapture(v)).slice(7).filter((f) => f.from === "client").map((f) => f.body)
  );
  await withDoor(async (d) => {
    // Before authentication: any bytes end in a close, never a crash.
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), async (bytes) => {
        const peer = new RawPeer(d.door.port);
        await peer.next();
        peer.socket.write(bytes);
        await peer.closedWithin(150);
        peer.destroy();
      }),
      { numRuns: Math.round(25 * scale), seed },
    );
    // After authentication: mutated requests get a reply, or wait (a get), or end the connection.
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...requests),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        async (request, edits) => {
          const body = request.slice();
          for (const [at, value] of edits) body[at % body.length] = value;
          const peer = new RawPeer(d.door.port);
          try {
            assert.ok(await peer.authenticate(d.authkey));
            peer.send(
              dumpPickle(
                new PyTuple([null, "accept_connection", new PyTuple(["fz"]), new PyDict()]),
              ),
            );
            await peer.next();
            peer.send(body);
            const reply = await peer.next(300).catch(() => null);
            if (reply !== null) {
              let kind: unknown;
              try {
                kind = (loadPickle(reply).value as PyTuple).items[0];
              } catch {
                // ('#ERROR', queue.Empty()) names a class, which the decoder refuses.
                kind = new TextDecoder().decode(reply).includes("#ERROR") ? "#ERROR" : "?";
              }
              assert.ok(["#RETURN", "#TRACEBACK", "#ERROR"].includes(kind as string), String(kind));
            }
          } finally {
            peer.destroy();
          }
        },
      ),
      { numRuns: Math.round(40 * scale), seed },
    );
    // What the fuzzed puts stored goes (their connections are gone, so nothing is leased).
    await until("no fuzz connection left", () => d.pythonClients() === 0);
    for (const q of ["tasks", "results", "bounded"]) d.god.ops.backend.purge(q, Date.now());
    const p = startPython("probe.py", ["roundtrip", "--port", String(d.door.port)], d);
    assert.equal((await p.wait(60_000)).code, 0, p.output);
  }, { door: { limits: { handshakeTimeoutMs: 500 } } });
});
