/**
 * The god role and its data directory, with real processes started as the
 * README says (Deno with `--allow-net --allow-env --allow-read --allow-write`
 * only: no `--allow-run`, no `--allow-sys`):
 * - one directory, two gods of either runtime: the second refuses and the
 *   first keeps serving, with its lock; a killed god's lock is taken over;
 *   an old-style lock a runtime cannot check is refused with advice;
 * - `--data` under /proc fails at once with a clear message;
 * - a damaged journal is refused with advice to use `--salvage`, which works.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import process from "node:process";
import { connect } from "../mod.ts";
import { openJournal } from "../lib/store/open.ts";
import { type Proc, type Runtime, start } from "./_support/process.ts";

const KEY = "god-data-test-key-0123456789";

function tempRoot(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "taskwire-goddata-"));
}

function god(runtime: Runtime, dir: string, extra: string[] = []): Proc {
  return start(
    runtime,
    "roles/god.ts",
    ["--data", dir, "--listen", "127.0.0.1:0", "--json", "--quiet", ...extra],
    { env: { TASKWIRE_AUTHKEY: KEY } },
  );
}

/** Waits for the god's "listening" event; resolves with its address. */
async function listening(proc: Proc): Promise<string> {
  const line = await proc.waitFor(/"event":"listening"/, 30_000);
  return JSON.parse(line).addr as string;
}

/** Waits for the process to exit (killing it after 30 s); resolves with its code. */
async function exitCode(proc: Proc): Promise<number | null> {
  return (await proc.wait(30_000)).code;
}

/** A put, a get and an ack through the god at `addr`. */
async function roundTrip(addr: string, value: string): Promise<void> {
  const client = await connect({ addr, authkey: KEY, reconnect: false });
  try {
    const tasks = client.queue<string>("tasks");
    await tasks.put(value);
    const job = await tasks.get({ timeout: 5000 });
    assert.equal(job?.value, value);
    await job!.ack();
  } finally {
    await client.close();
  }
}

const PAIRS: [Runtime, Runtime][] = [["node", "deno"], ["deno", "node"], ["deno", "deno"]];

for (const [first, second] of PAIRS) {
  test(`lock: a ${second} god on the directory of a running ${first} god refuses to start; the ${first} god keeps serving and keeps its lock`, async () => {
    const root = tempRoot();
    const dir = path.join(root, "data");
    const holder = god(first, dir);
    try {
      const addr = await listening(holder);
      const intruder = god(second, dir);
      assert.equal(await exitCode(intruder), 1, intruder.output);
      assert.match(
        intruder.output,
        new RegExp(
          `Cannot open data directory .*data: another god \\(PID ${holder.pid}, since [^)]+\\) is using it; stop that god or choose another --data DIR`,
        ),
      );
      assert.doesNotMatch(intruder.output, /taking over/);
      const lock = JSON.parse(fs.readFileSync(path.join(dir, "LOCK"), "utf8"));
      assert.equal(lock.pid, holder.pid, "the holder's LOCK is untouched");
      assert.ok(fs.existsSync(path.join(dir, lock.socket)), "and so is its lock socket");
      await roundTrip(addr, `still serving after a ${second} god tried`);
      assert.deepEqual(await holder.stop(), { code: 0, signal: null });
      assert.ok(!fs.existsSync(path.join(dir, "LOCK")), "a clean stop releases the lock");
    } finally {
      await holder.stop();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
}

for (const [first, second] of [["node", "deno"], ["deno", "node"]] as [Runtime, Runtime][]) {
  test(`lock: the lock of a ${first} god killed with SIGKILL is taken over by a ${second} god, with a notice`, async () => {
    const root = tempRoot();
    const dir = path.join(root, "data");
    const killed = god(first, dir);
    let next: Proc | null = null;
    try {
      await listening(killed);
      killed.signal("SIGKILL");
      await killed.exited;
      next = god(second, dir);
      const addr = await listening(next);
      const notice = JSON.parse(next.lines.find((l) => l.includes('"stale_lock"'))!);
      assert.equal(notice.pid, killed.pid);
      assert.match(
        notice.note,
        new RegExp(
          `taking over the lock of PID ${killed.pid} \\(since [^)]+\\), which is gone \\(its lock socket refuses connections\\)`,
        ),
      );
      await roundTrip(addr, "after a takeover");
    } finally {
      killed.signal("SIGKILL");
      await next?.stop();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
}

test("lock: an old-style lock (a PID, no socket) of a live process is refused by a Deno god that may not check PIDs, saying how to recover", async () => {
  const root = tempRoot();
  const dir = path.join(root, "data");
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
    // This test's own process is alive; a lock as an older taskwire wrote it.
    const old = { pid: process.pid, host: "", startedAt: "2020-01-01T00:00:00.000Z" };
    fs.writeFileSync(path.join(dir, "LOCK"), JSON.stringify(old), { mode: 0o600 });
    const deno = god("deno", dir);
    assert.equal(await exitCode(deno), 1, deno.output);
    assert.match(
      deno.output,
      new RegExp(
        `it is locked by PID ${process.pid} \\(a lock of an older taskwire\\), and this runtime may not check whether that process runs \\(Deno without --allow-run\\); if no god uses .*data, delete .*data/LOCK`,
      ),
    );
    assert.doesNotMatch(deno.output, /taking over/);
    // Node may check: the PID is alive, so it refuses too.
    const node = god("node", dir);
    assert.equal(await exitCode(node), 1, node.output);
    assert.match(node.output, new RegExp(`another god \\(PID ${process.pid}, since 2020`));
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, "LOCK"), "utf8")), old);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

for (const runtime of ["node", "deno"] as Runtime[]) {
  test(`--data under /proc: a ${runtime} god stops at once with a message that says what is wrong`, async () => {
    const proc = god(runtime, "/proc/taskwire-god-test/data");
    assert.equal(await exitCode(proc), 1, proc.output);
    const message = proc.output;
    assert.match(message, /Cannot create data directory \/proc\/taskwire-god-test\/data: /);
    assert.match(message, /kernel filesystem .*cannot hold data.*choose a writable --data DIR/);
    assert.doesNotMatch(message, /--allow-all/, "no advice to give Deno every permission");
    assert.equal(message.trim().split("\n").length, 1, "one line");
  });
}

for (const runtime of ["node", "deno"] as Runtime[]) {
  test(`--salvage: a ${runtime} god refuses a damaged journal, recommending --salvage; with it, the god starts and keeps the damaged file`, async () => {
    const root = tempRoot();
    const dir = path.join(root, "data");
    let salvaged: Proc | null = null;
    try {
      const { store } = await openJournal(dir);
      for (let i = 0; i < 5; i++) {
        const seq = i + 1;
        const payload = JSON.stringify({ json: `task ${seq}` });
        store.append({
          t: "put",
          q: "tasks",
          job: { seq, id: `t${seq}`, payload, priority: 0, attempts: 0, readyAt: 0 },
        });
      }
      await store.close();
      const segment = path.join(dir, "journal-00000001.twj");
      const bytes = fs.readFileSync(segment);
      bytes[60] ^= 0xff; // inside the first record: valid records follow
      fs.writeFileSync(segment, bytes);

      const refused = god(runtime, dir);
      assert.equal(await exitCode(refused), 1, refused.output);
      assert.match(
        refused.output,
        /Cannot recover data directory .*: journal .*journal-00000001\.twj is corrupt at offset \d+ .*refusing to start so nothing is lost\. Restore it from a backup, or start with --salvage/,
      );

      salvaged = god(runtime, dir, ["--salvage"]);
      await listening(salvaged);
      assert.match(salvaged.output, /recovered 4 jobs .*salvaged past: journal/);
      assert.deepEqual(await salvaged.stop(), { code: 0, signal: null });
      const kept = fs.readdirSync(dir).filter((f) => f.startsWith("journal-00000001.twj.corrupt-"));
      assert.equal(kept.length, 1, fs.readdirSync(dir).join(","));
      assert.deepEqual(fs.readFileSync(path.join(dir, kept[0])), bytes, "kept whole");
    } finally {
      await salvaged?.stop();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
}
