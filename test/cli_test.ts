/**
 * The roles' command line on real processes: --help, usage errors (exit 2),
 * key problems (exit 1), and a god that makes its own key.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { connect } from "../mod.ts";
import { OptionKind, parseArgs, parseDuration, UsageError } from "../lib/cli/args.ts";
import { duration, jsonLine, Output, table } from "../lib/cli/output.ts";
import { describeResult, randomInteger, toInteger } from "../lib/cli/squares.ts";
import { CURRENT, freePort, type Proc, type Runtime, start } from "./_support/process.ts";

const OTHER: Runtime = CURRENT === "node" ? "deno" : "node";
/** No key from the environment unless a test sets one. */
const NO_KEY = { TASKWIRE_AUTHKEY: "", TASKWIRE_ADDR: "" };
/** A key the roles do not warn about (they warn about weak ones on stderr). */
const STRONG_KEY = "cli-test-key-Zq7vK2pX9mL4wR8t";

async function finish(proc: Proc): Promise<{ code: number | null; out: string; err: string[] }> {
  const { code } = await proc.wait(30_000);
  // Let the pipes drain.
  await new Promise((resolve) => setTimeout(resolve, 50));
  return { code, out: proc.lines.join("\n"), err: proc.errLines.filter((l) => l.trim() !== "") };
}

test("--help of every role exits 0 and lists the options, on both runtimes", async () => {
  const runs = (["god", "producer", "consumer", "admin", "demo"] as const).flatMap((role) =>
    [CURRENT, OTHER].map((runtime) => ({
      role,
      runtime,
      proc: start(runtime, `roles/${role}.ts`, ["--help"], { env: NO_KEY }),
    }))
  );
  for (const { role, runtime, proc } of runs) {
    const { code, out } = await finish(proc);
    assert.equal(code, 0, `${role} on ${runtime}: ${proc.output}`);
    assert.match(out, /Usage: /, `${role} on ${runtime}`);
    assert.match(out, /--help/);
  }
});

test("usage errors exit 2 with a one-line message saying what is wrong", async () => {
  const cases: { role: string; args: string[]; message: RegExp }[] = [
    { role: "producer", args: ["--bogus"], message: /Unknown option --bogus/ },
    {
      role: "consumer",
      args: ["--connect", "not an address"],
      message: /Invalid address "not an address"/,
    },
    { role: "god", args: ["--listen", "127.0.0.1:70000"], message: /port 70000 is out of range/ },
    { role: "producer", args: ["--count", "abc"], message: /Invalid --count "abc"/ },
    { role: "producer", args: ["--interval", "soon"], message: /Invalid --interval "soon"/ },
    { role: "consumer", args: ["--concurrency", "0"], message: /Invalid --concurrency "0"/ },
    { role: "god", args: ["--fsync", "sometimes"], message: /expected one of always, batch, off/ },
    { role: "admin", args: ["frobnicate"], message: /Unknown command "frobnicate"/ },
    { role: "admin", args: ["peek"], message: /Missing argument/ },
    { role: "producer", args: ["--per-round"], message: /needs a value/ },
  ];
  const runs = cases.map((c, i) => ({
    ...c,
    runtime: i % 2 === 0 ? CURRENT : OTHER,
    proc: start(i % 2 === 0 ? CURRENT : OTHER, `roles/${c.role}.ts`, c.args, {
      env: { ...NO_KEY, TASKWIRE_AUTHKEY: "some-key" },
    }),
  }));
  for (const run of runs) {
    const { code, err } = await finish(run.proc);
    const label = `${run.role} ${run.args.join(" ")} on ${run.runtime}`;
    assert.equal(code, 2, `${label}: ${run.proc.output}`);
    assert.equal(err.length, 1, `${label} printed one line: ${err.join("\n")}`);
    assert.match(err[0], run.message, label);
    assert.match(err[0], /--help/, label);
  }
});

test("TASKWIRE_ADDR that does not parse is a usage error", async () => {
  const proc = start(OTHER, "roles/consumer.ts", [], {
    env: { TASKWIRE_AUTHKEY: "k", TASKWIRE_ADDR: "localhost" },
  });
  const { code, err } = await finish(proc);
  assert.equal(code, 2, proc.output);
  assert.match(err[0], /Invalid address "localhost".*TASKWIRE_ADDR/);
});

test("missing keys exit 1 saying how to give one: no key, no key file, empty key file", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "taskwire-cli-"));
  try {
    const empty = path.join(dir, "empty.key");
    await writeFile(empty, "  \n");
    const runs = [
      { args: [], message: /No key given: set TASKWIRE_AUTHKEY .* --authkey-file PATH/ },
      {
        args: ["--authkey-file", path.join(dir, "missing.key")],
        message: /Cannot read the key file ".*missing\.key": it does not exist/,
      },
      { args: ["--authkey-file", empty], message: /The key file ".*empty\.key" is empty/ },
    ].flatMap((c) =>
      (["producer", "consumer"] as const).map((role, i) => ({
        ...c,
        role,
        proc: start(i === 0 ? CURRENT : OTHER, `roles/${role}.ts`, c.args, { env: NO_KEY }),
      }))
    );
    for (const run of runs) {
      const { code, err } = await finish(run.proc);
      assert.equal(code, 1, `${run.role} ${run.args.join(" ")}: ${run.proc.output}`);
      assert.equal(err.length, 1, err.join("\n"));
      assert.match(err[0], run.message);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a god with no key prints one that works; a wrong key exits 1 saying it was rejected", async () => {
  const port = await freePort();
  const god = start(OTHER, "roles/god.ts", ["--in-memory", "--listen", `127.0.0.1:${port}`], {
    env: NO_KEY,
  });
  try {
    const line = await god.waitFor(/export TASKWIRE_AUTHKEY=/);
    const key = line.trim().replace("export TASKWIRE_AUTHKEY=", "");
    assert.ok(key.length >= 40, `a strong key: ${key}`);
    await god.waitFor(/listening on/);

    // The printed key works with the library...
    const client = await connect({ addr: `127.0.0.1:${port}`, authkey: key, reconnect: false });
    await client.queue("tasks").put(7);
    assert.equal((await client.stats("tasks")).queues[0].ready, 1);
    await client.close();

    // ... and a wrong one is refused, for a producer and for the admin.
    // A wrong key, not a weak one (a weak one is warned about first).
    const wrong = {
      TASKWIRE_AUTHKEY: "not-the-key-Xq3vR8mZt2Lw9",
      TASKWIRE_ADDR: `127.0.0.1:${port}`,
    };
    const producer = start(CURRENT, "roles/producer.ts", ["--count", "1"], { env: wrong });
    const admin = start(OTHER, "roles/admin.ts", ["stats"], { env: wrong });
    for (const proc of [producer, admin]) {
      const { code, err } = await finish(proc);
      assert.equal(code, 1, proc.output);
      assert.equal(err.length, 1, err.join("\n"));
      assert.match(err[0], /rejected the key/);
      assert.match(err[0], /TASKWIRE_AUTHKEY/);
    }
    const good = { TASKWIRE_AUTHKEY: key, TASKWIRE_ADDR: `127.0.0.1:${port}` };
    const stats = start(CURRENT, "roles/admin.ts", ["stats"], { env: good });
    const { code, out } = await finish(stats);
    assert.equal(code, 0, stats.output);
    assert.match(out, /^tasks +1 +0 +0 +0 /m);
  } finally {
    const { code } = await god.stop();
    assert.equal(code, 0, god.output);
  }
});

test("admin on an unreachable god exits 1 saying so; a busy --listen exits 1", async () => {
  const port = await freePort();
  const admin = start(CURRENT, "roles/admin.ts", ["stats", "--connect", `127.0.0.1:${port}`], {
    env: { TASKWIRE_AUTHKEY: STRONG_KEY },
  });
  const { code, err } = await finish(admin);
  assert.equal(code, 1, admin.output);
  assert.match(err[0], /Cannot reach the god at 127\.0\.0\.1:\d+.*Is the god running/);

  const first = start(CURRENT, "roles/god.ts", ["--in-memory", "--listen", `127.0.0.1:${port}`], {
    env: { TASKWIRE_AUTHKEY: STRONG_KEY },
  });
  try {
    await first.waitFor(/listening on/);
    const second = start(OTHER, "roles/god.ts", ["--in-memory", "--listen", `127.0.0.1:${port}`], {
      env: { TASKWIRE_AUTHKEY: STRONG_KEY },
    });
    const result = await finish(second);
    assert.equal(result.code, 1, second.output);
    assert.match(result.err.join("\n"), /Cannot listen on 127\.0\.0\.1:\d+.*--listen/);
  } finally {
    await first.stop();
  }
});

test("parseDuration() reads 3s, 500ms, 1.5s, 2m, 1h and 0; rejects the rest", () => {
  assert.equal(parseDuration("3s"), 3000);
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("2m"), 120_000);
  assert.equal(parseDuration("1h"), 3_600_000);
  assert.equal(parseDuration("0"), 0);
  assert.equal(parseDuration("2"), 2000);
  for (const bad of ["", "soon", "-1s", "3 days", "1e3"]) {
    assert.throws(() => parseDuration(bad), UsageError, bad);
  }
});

test("parseArgs() takes --name value and --name=value, repeats lists, and names what is wrong", () => {
  const spec = {
    count: { kind: OptionKind.Int, help: "", min: 1 },
    max: { kind: OptionKind.BigInt, help: "" },
    json: { kind: OptionKind.Flag, help: "" },
    id: { kind: OptionKind.List, help: "" },
    listen: { kind: OptionKind.Address, help: "" },
  };
  const { values, positionals } = parseArgs(
    [
      "stats",
      "--count=5",
      "--max",
      "123456789012345678901234567890",
      "--json",
      "--id",
      "a",
      "--id=b",
      "--listen",
      ":80",
    ],
    spec,
  );
  assert.deepEqual(positionals, ["stats"]);
  assert.equal(values.count, 5);
  assert.equal(values.max, 123456789012345678901234567890n);
  assert.equal(values.json, true);
  assert.deepEqual(values.id, ["a", "b"]);
  assert.deepEqual(values.listen, { host: "0.0.0.0", port: 80 });
  assert.throws(() => parseArgs(["--nope"], spec), /Unknown option --nope/);
  assert.throws(() => parseArgs(["-x"], spec), /Unknown option -x/);
  assert.throws(
    () => parseArgs(["--count", "0"], spec),
    /Invalid --count "0": expected a whole number >= 1/,
  );
  assert.throws(() => parseArgs(["--count", "1.5"], spec), UsageError);
  assert.throws(() => parseArgs(["--count"], spec), /--count needs a value/);
  assert.throws(() => parseArgs(["--json=yes"], spec), /takes no value/);
  assert.throws(() => parseArgs(["--listen", "host"], spec), /Invalid address "host"/);
  assert.throws(() => parseArgs(["--listen", "h:65536"], spec), /port 65536 is out of range/);
});

test("toInteger() accepts numbers and bigints that are integers, and says why anything else is not", () => {
  assert.equal(toInteger(12), 12n);
  assert.equal(toInteger(-3), -3n);
  assert.equal(toInteger(2n ** 100n), 2n ** 100n);
  assert.deepEqual(toInteger(1.5), { reason: "not an integer: number 1.5" });
  assert.deepEqual(toInteger("12"), { reason: 'not an integer: string "12"' });
  assert.deepEqual(toInteger(null), { reason: "not an integer: null" });
  assert.deepEqual(toInteger({ a: 1 }), { reason: 'not an integer: object {"a":1}' });
  assert.equal(
    describeResult({ n: 12n, square: 144n, by: "node-ab12cd", task: "t" }),
    "12 * 12 = 144  (consumer node-ab12cd)",
  );
});

test("randomInteger() stays within 0..max, for small and huge max", () => {
  for (let i = 0; i < 200; i++) {
    const small = randomInteger(9n);
    assert.equal(typeof small, "number");
    assert.ok((small as number) >= 0 && (small as number) <= 9);
    const big = randomInteger(10n ** 40n);
    assert.ok(BigInt(big) >= 0n && BigInt(big) <= 10n ** 40n);
  }
});

test("Output prints human lines or JSON lines, and draws progress only on a terminal", () => {
  const written: string[] = [];
  const sink = (tty: boolean) => ({
    out: (t: string) => written.push(t),
    err: (t: string) => written.push("E:" + t),
    tty,
  });
  const human = new Output({ json: false, sink: sink(false) });
  human.event("result", { n: 2n }, "2 * 2 = 4");
  human.progress("put 1/2");
  assert.deepEqual(written.splice(0), ["2 * 2 = 4\n"]);
  const json = new Output({ json: true, sink: sink(true) });
  json.event("result", { n: 2n, at: new Set([1]) }, "ignored");
  json.say("ignored");
  json.progress("ignored");
  assert.deepEqual(written.splice(0), ['{"event":"result","n":"2","at":[1]}\n']);
  const tty = new Output({ json: false, sink: sink(true) });
  tty.progress("put 1/2");
  tty.say("done");
  assert.deepEqual(written.splice(0), ["\r\x1b[2Kput 1/2", "\r\x1b[2K", "done\n"]);
  assert.equal(jsonLine({ big: 10n ** 30n }), '{"big":"1000000000000000000000000000000"}');
  assert.equal(duration(850), "850ms");
  assert.equal(duration(3000), "3s");
  assert.equal(duration(75_000), "1m15s");
});

test("table() aligns columns, numbers to the right", () => {
  assert.equal(
    table(["queue", "ready"], [["tasks", "1,234"], ["results", "5"]]),
    "queue    ready\ntasks    1,234\nresults      5",
  );
});
