/**
 * Python workers on a taskwire god, end to end with real processes: the god
 * role (on the runtime running this file) with --python, the seed's own
 * producer and consumer scripts on the machine's python3, every interpreter
 * found under pyenv for the handshake and a round trip of every value type,
 * mixed pipelines with the Node and Deno roles, a wrong key, a worker
 * SIGKILLed holding a task, SIGINT during a blocked get, and a hostile pickle.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import * as path from "node:path";
import { tmpdir } from "node:os";
import { connect } from "../mod.ts";
import { CURRENT, freePort, Proc, ROOT, start } from "./_support/process.ts";
import {
  jsonEvents,
  otherInterpreters,
  PYTHON3,
  startPython,
  until,
} from "./_support/python_door.ts";

const skip = PYTHON3 === null ? "python3 is not available" : false;

interface RunningGod {
  god: Proc;
  authkey: string;
  /** The god's main door, for Node clients and roles. */
  addr: string;
  /** The Python door's port. */
  port: number;
  env: Record<string, string>;
}

async function startGod(): Promise<RunningGod> {
  const mainPort = await freePort();
  const authkey = `py-e2e-${mainPort}`;
  const addr = `127.0.0.1:${mainPort}`;
  const env = { TASKWIRE_AUTHKEY: authkey, TASKWIRE_ADDR: addr };
  const god = start(
    CURRENT,
    "roles/god.ts",
    ["--in-memory", "--json", "--listen", addr, "--python", "127.0.0.1:0"],
    { env },
  );
  const line = await god.waitFor(/"event":"python"/, 30_000);
  const port = Number(String(JSON.parse(line).addr).split(":").pop());
  return { god, authkey, addr, port, env };
}

async function withGod(fn: (g: RunningGod) => Promise<void>): Promise<void> {
  const g = await startGod();
  try {
    await fn(g);
  } finally {
    const { code } = await g.god.stop();
    assert.equal(code, 0, `the god exits 0 after SIGTERM: ${g.god.output.slice(-1500)}`);
  }
}

function godEvents(god: Proc, name: string): Record<string, unknown>[] {
  return jsonEvents(god, name);
}

/** The god's results that are the seed's strings "n * n = square", parsed. */
function seedResults(god: Proc): { n: bigint; square: bigint }[] {
  return godEvents(god, "result").filter((e) => typeof e.value === "string").map((e) => {
    const match = /^(\d+) \* (\d+) = (\d+)$/.exec(e.value as string);
    assert.ok(match, `a seed result: ${e.value}`);
    assert.equal(match[1], match[2]);
    return { n: BigInt(match[1]), square: BigInt(match[3]) };
  });
}

function sorted(values: bigint[]): string[] {
  return values.map(String).sort();
}

test(
  "the seed's Python producer and consumer through the god's Python door: every result n*n, once",
  { skip },
  async () => {
    await withGod(async (g) => {
      const consumer = startPython(
        "seed_consumer.py",
        ["--port", String(g.port), "--count", "120"],
        g,
      );
      await consumer.waitFor(/"event": "ready"/);
      const producer = startPython(
        "seed_producer.py",
        ["--port", String(g.port), "--count", "120"],
        g,
      );
      assert.equal((await producer.wait(60_000)).code, 0, producer.output);
      const sent = (jsonEvents(producer, "sent")[0].values as string[]).map(BigInt);
      assert.equal((await consumer.wait(60_000)).code, 0, consumer.output);
      await until("120 results", () => seedResults(g.god).length >= 120, 30_000);
      const results = seedResults(g.god);
      assert.equal(results.length, 120);
      for (const r of results) assert.equal(r.square, r.n * r.n);
      assert.deepEqual(sorted(results.map((r) => r.n)), sorted(sent));
      const connected = godEvents(g.god, "connected").filter((e) => e.door === "python");
      assert.ok(connected.length >= 2, "both workers were seen as clients");
    });
  },
);

test(
  "every Python present handshakes (MD5 or {sha256}) and round-trips every value type",
  { skip },
  async () => {
    const { found, skipped } = otherInterpreters();
    if (skipped.length > 0) {
      console.log(`NOTICE: Python door tests skipped these interpreters: ${skipped.join("; ")}`);
    }
    const all = [{ minor: "python3", path: PYTHON3!.path, version: PYTHON3!.version }, ...found];
    const variants = new Set<string>();
    await withGod(async (g) => {
      for (const python of all) {
        const before = godEvents(g.god, "connected").length;
        const p = startPython("probe.py", ["roundtrip", "--port", String(g.port)], {
          authkey: g.authkey,
          python: python.path,
        });
        const { code } = await p.wait(60_000);
        const [result] = jsonEvents(p, "roundtrip");
        assert.equal(code, 0, `${python.version}: ${p.output.slice(-2000)}`);
        assert.deepEqual(result.bad, [], python.version);
        assert.equal(result.python, python.version);
        await until("the connected line", () => godEvents(g.god, "connected").length > before);
        const runtime = godEvents(g.god, "connected").slice(before)[0].runtime as string;
        const minor = Number(python.version.split(".")[1]);
        const expected = minor <= 7
          ? "python <=3.7"
          : minor <= 11
          ? "python 3.8-3.11"
          : minor <= 13
          ? "python 3.12-3.13"
          : "python >=3.14";
        assert.equal(runtime, expected, python.version);
        variants.add(minor >= 12 ? "{sha256}" : "HMAC-MD5");
      }
    });
    if (!variants.has("{sha256}")) {
      console.log(
        "NOTICE: no Python >= 3.12 present: the {sha256} handshake ran only in unit tests",
      );
    }
    if (!variants.has("HMAC-MD5")) {
      console.log(
        "NOTICE: no Python <= 3.11 present: the HMAC-MD5 handshake ran only in unit tests",
      );
    }
  },
);

test("a Python producer feeds Node and Deno consumer roles: every result exact, big ints too", {
  skip,
}, async () => {
  await withGod(async (g) => {
    const consumers = (["node", "deno"] as const).map((rt) =>
      start(rt, "roles/consumer.ts", ["--json", "--concurrency", "4"], { env: g.env })
    );
    try {
      await Promise.all(consumers.map((c) => c.waitFor(/"event":"ready"/, 30_000)));
      const producer = startPython(
        "seed_producer.py",
        ["--port", String(g.port), "--count", "200", "--max", String(2n ** 70n)],
        g,
      );
      assert.equal((await producer.wait(60_000)).code, 0, producer.output);
      const sent = (jsonEvents(producer, "sent")[0].values as string[]).map(BigInt);
      const squares = () => godEvents(g.god, "result").filter((e) => e.square !== undefined);
      await until("200 results", () => squares().length >= 200, 60_000);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const results = squares().map((e) => ({
        n: BigInt(e.n as string),
        square: BigInt(e.square as string),
        by: String(e.by),
      }));
      assert.equal(results.length, 200);
      for (const r of results) assert.equal(r.square, r.n * r.n);
      assert.deepEqual(sorted(results.map((r) => r.n)), sorted(sent));
      assert.ok(sent.some((n) => n > BigInt(Number.MAX_SAFE_INTEGER)), "big ints were sent");
      const by = new Set(results.map((r) => r.by.split("-")[0]));
      assert.deepEqual([...by].sort(), ["deno", "node"], "both consumers computed");
    } finally {
      for (const c of consumers) await c.stop();
    }
  });
});

test(
  "a Node producer role feeds a Python consumer: every result exact, big ints too",
  { skip },
  async () => {
    await withGod(async (g) => {
      const consumer = startPython(
        "seed_consumer.py",
        ["--port", String(g.port), "--count", "100"],
        g,
      );
      await consumer.waitFor(/"event": "ready"/);
      const producer = start(
        "node",
        "roles/producer.ts",
        ["--count", "100", "--interval", "0", "--json", "--max", "1" + "0".repeat(30)],
        { env: g.env },
      );
      assert.equal((await producer.wait(60_000)).code, 0, producer.output.slice(-2000));
      const [done] = jsonEvents(producer, "done");
      assert.equal((await consumer.wait(60_000)).code, 0, consumer.output.slice(-2000));
      await until("100 results", () => seedResults(g.god).length >= 100, 30_000);
      const results = seedResults(g.god);
      assert.equal(results.length, 100);
      for (const r of results) assert.equal(r.square, r.n * r.n);
      assert.equal(results.reduce((s, r) => s + r.n, 0n), BigInt(done.sum as string));
      assert.ok(
        results.some((r) => r.n > BigInt(Number.MAX_SAFE_INTEGER)),
        "bigints reached Python",
      );
    });
  },
);

test(
  "a wrong key: AuthenticationError in Python, #FAILURE# from the door, logged",
  { skip },
  async () => {
    await withGod(async (g) => {
      const p = startPython("seed_producer.py", ["--port", String(g.port), "--count", "1"], {
        authkey: "not the god's key",
      });
      const { code } = await p.wait(30_000);
      assert.notEqual(code, 0);
      assert.match(p.output, /AuthenticationError: digest sent was rejected/);
      await until(
        "the rejection logged",
        () =>
          godEvents(g.god, "rejected").some((e) => e.door === "python" && e.code === "auth_failed"),
      );
    });
  },
);

test("a Python consumer SIGKILLed while holding a task: the task is redelivered and computed", {
  skip,
}, async () => {
  await withGod(async (g) => {
    const admin = await connect({ addr: g.addr, authkey: g.authkey });
    try {
      await admin.queue("tasks").put(21);
      const holder = startPython("seed_consumer.py", ["--port", String(g.port), "--hold"], g);
      await holder.waitFor(/"event": "holding"/);
      assert.equal(jsonEvents(holder, "holding")[0].n, "21");
      assert.equal((await admin.stats("tasks")).queues[0].inFlight, 1);
      holder.signal("SIGKILL");
      await holder.wait();
      const consumer = startPython(
        "seed_consumer.py",
        ["--port", String(g.port), "--count", "1"],
        g,
      );
      assert.equal((await consumer.wait(30_000)).code, 0, consumer.output);
      await until("the result", () => seedResults(g.god).length === 1);
      assert.deepEqual(seedResults(g.god), [{ n: 21n, square: 441n }]);
      const tasks = (await admin.stats("tasks")).queues[0];
      assert.equal(tasks.totals.redelivered, 1);
      assert.equal(tasks.totals.acked, 1);
      assert.equal(tasks.ready + tasks.inFlight, 0);
    } finally {
      await admin.close();
    }
  });
});

test(
  "SIGINT during a blocked get loses nothing (CPython's own god loses that item)",
  { skip },
  async () => {
    await withGod(async (g) => {
      const admin = await connect({ addr: g.addr, authkey: g.authkey });
      try {
        const blocked = startPython("probe.py", ["blocked-get", "--port", String(g.port)], g);
        await blocked.waitFor(/"event": "ready"/);
        await new Promise((resolve) => setTimeout(resolve, 200));
        blocked.signal("SIGINT");
        await blocked.wait(10_000);
        assert.equal(jsonEvents(blocked, "interrupted").length, 1, blocked.output);
        await admin.queue("tasks").put(99);
        await new Promise((resolve) => setTimeout(resolve, 300));
        const tasks = (await admin.stats("tasks")).queues[0];
        assert.equal(tasks.ready, 1, "the item waits for the next worker");
        const receiver = startPython("probe.py", ["receive", "--port", String(g.port)], g);
        assert.equal((await receiver.wait(30_000)).code, 0, receiver.output);
        assert.equal(jsonEvents(receiver, "received")[0].value, "99");
      } finally {
        await admin.close();
      }
    });
    // The same with CPython's own BaseManager god: its server thread is still blocked in
    // queue.get() for the dead connection, takes the next item, and fails to send it.
    const port = await freePort();
    const authkey = "cpython-" + port;
    const god = new Proc(
      [
        "python3",
        path.join(ROOT, "bench", "python", "god.py"),
        "--port",
        String(port),
        "--count",
        "1",
      ],
      { env: { TASKWIRE_AUTHKEY: authkey } },
    );
    try {
      await god.waitFor(/"event": "ready"/, 30_000);
      const blocked = startPython("probe.py", ["blocked-get", "--port", String(port)], { authkey });
      await blocked.waitFor(/"event": "ready"/);
      await new Promise((resolve) => setTimeout(resolve, 200));
      blocked.signal("SIGINT");
      await blocked.wait(10_000);
      const putter = startPython("probe.py", ["put", "--port", String(port), "--arg", "99"], {
        authkey,
      });
      assert.equal((await putter.wait(30_000)).code, 0, putter.output);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const counter = startPython("probe.py", ["qsize", "--port", String(port)], { authkey });
      assert.equal((await counter.wait(30_000)).code, 0, counter.output);
      assert.equal(jsonEvents(counter, "qsize")[0].qsize, 0, "CPython's god lost the item");
    } finally {
      await god.stop();
    }
  },
);

test(
  "a hostile pickle is refused with no side effect, and the god keeps serving",
  { skip },
  async () => {
    const marker = path.join(tmpdir(), `taskwire-pwned-${process.pid}-${Date.now()}`);
    try {
      await withGod(async (g) => {
        const p = startPython(
          "probe.py",
          ["hostile", "--port", String(g.port), "--arg", marker],
          g,
        );
        const { code } = await p.wait(30_000);
        assert.equal(code, 0, p.output);
        assert.match(
          String(jsonEvents(p, "refused")[0].message),
          /UnpicklingError: Cannot unpickle the request: opcode (STACK_)?GLOBAL names posix\.system, which is not allowed/,
        );
        assert.equal(jsonEvents(p, "after")[0].value, 41, "the same connection still works");
        const first = jsonEvents(p, "first")[0];
        assert.equal(first.kind, "#TRACEBACK");
        assert.match(String(first.text), /names posix\.system, which is not allowed/);
        assert.match(String(jsonEvents(p, "shutdown")[0].text), /shutdown\(\) is refused/);
        assert.equal(existsSync(marker), false, "nothing ran");
        // Still serving, Python and Node alike.
        const producer = startPython(
          "seed_producer.py",
          ["--port", String(g.port), "--count", "3"],
          g,
        );
        assert.equal((await producer.wait(30_000)).code, 0, producer.output);
        const admin = await connect({ addr: g.addr, authkey: g.authkey });
        try {
          assert.equal((await admin.stats("tasks")).queues[0].ready, 3);
        } finally {
          await admin.close();
        }
      });
    } finally {
      rmSync(marker, { force: true });
    }
  },
);

test("what a Python producer was told is stored survives a god crash (journal, fsync always)", {
  skip,
}, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "taskwire-python-"));
  const mainPort = await freePort();
  const authkey = `py-durable-${mainPort}`;
  const addr = `127.0.0.1:${mainPort}`;
  const env = { TASKWIRE_AUTHKEY: authkey };
  const args = ["--data", dir, "--json", "--quiet", "--listen", addr, "--python", "127.0.0.1:0"];
  let god = start(CURRENT, "roles/god.ts", args, { env });
  try {
    const line = await god.waitFor(/"event":"python"/, 30_000);
    const port = Number(String(JSON.parse(line).addr).split(":").pop());
    const producer = startPython("seed_producer.py", ["--port", String(port), "--count", "20"], {
      authkey,
    });
    assert.equal((await producer.wait(30_000)).code, 0, producer.output);
    const sent = (jsonEvents(producer, "sent")[0].values as string[]).map(BigInt);
    god.signal("SIGKILL");
    await god.wait();
    god = start(CURRENT, "roles/god.ts", args, { env });
    await god.waitFor(/"event":"python"/, 30_000);
    const admin = await connect({ addr, authkey });
    try {
      const got: bigint[] = [];
      const tasks = admin.queue<number | bigint>("tasks");
      for (let i = 0; i < 20; i++) {
        const job = await tasks.get({ timeout: 2000 });
        assert.ok(job, `job ${i} survived`);
        got.push(BigInt(job.value));
        await job.ack();
      }
      assert.deepEqual(sorted(got), sorted(sent));
    } finally {
      await admin.close();
    }
  } finally {
    await god.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
