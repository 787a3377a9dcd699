/**
 * The commands the README and docs/ show for one machine, run as written
 * (read from the pages: test/_support/doc_blocks.ts): the tour and the three
 * terminals (a god, a consumer on Deno, a producer on Node, admin stats), the
 * development commands, and the OpenSSL check of the protocol's worked
 * handshake. The commands start their own runtimes, so these run once, from
 * the Node test runner.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { keyWarnings } from "../mod.ts";
import * as net from "node:net";
import { docCommands, shell, shellBlocks, takeExports } from "./_support/doc_blocks.ts";
import { CURRENT, type Proc } from "./_support/process.ts";
import { TestBed } from "./_support/hosts.ts";

const once = CURRENT === "deno" ? "the commands choose their runtimes: run once, on Node" : false;

/** Whether something already listens on 127.0.0.1:5678 (a god of the user's). */
function portTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Runs a block with a god, a consumer, a producer and (maybe) admin: the
 * first command is the god (it prints a new key), `export` lines take that key
 * for the doc's placeholder, the consumer runs until stopped, the others to
 * their end. Returns the outputs.
 */
async function runPipelineBlock(page: string, id: string): Promise<void> {
  if (await portTaken(5678)) {
    console.log(`NOTICE: ${page} "${id}" not run: 127.0.0.1:5678 is taken (a god of yours?)`);
    return;
  }
  const commands = docCommands(page, id);
  const [godCommand, ...rest] = commands;
  assert.match(godCommand, /roles\/god\.ts/, "the block starts with the god");
  const god = shell(godCommand, { env: { TASKWIRE_AUTHKEY: "", TASKWIRE_ADDR: "" } });
  const started: Proc[] = [god];
  try {
    const keyLine = await god.waitFor(/export TASKWIRE_AUTHKEY=/, 60_000);
    const key = /export TASKWIRE_AUTHKEY=(\S+)/.exec(keyLine)![1];
    await god.waitFor(/god listening on 127\.0\.0\.1:5678/, 60_000);
    const env: Record<string, string> = { TASKWIRE_AUTHKEY: key, TASKWIRE_ADDR: "" };
    const todo = takeExports(rest, env, { "3q8yH...": key });
    let results = 0;
    for (const command of todo) {
      if (/roles\/consumer\.ts/.test(command)) {
        const consumer = shell(command, { env: { ...env } });
        started.push(consumer);
        await consumer.waitFor(/waiting for tasks/, 60_000);
      } else if (/roles\/producer\.ts/.test(command)) {
        const producer = shell(command, { env: { ...env } });
        started.push(producer);
        const { code } = await producer.wait(120_000);
        assert.equal(code, 0, `${command}:\n${producer.output}`);
        const put = /put (\d+) tasks \((\d+) in all\)/g;
        for (const m of producer.output.matchAll(put)) results = Number(m[2]);
        assert.ok(results > 0, `the producer put tasks:\n${producer.output}`);
        await god.waitFor(new RegExp(`^-- ${results} results|\\(consumer `), 30_000);
      } else if (/roles\/admin\.ts/.test(command)) {
        const admin = shell(command, { env: { ...env } });
        const { code } = await admin.wait(60_000);
        assert.equal(code, 0, `${command}:\n${admin.output}`);
        assert.match(admin.output, /^tasks\s+\d/m, "admin stats shows the tasks queue");
      } else {
        assert.fail(`a command this test does not know how to run: ${command}`);
      }
    }
    // Every task the producer put comes back squared, and the god prints each.
    await waitForCount(god, /\d+ \* \d+ = \d+ {2}\(consumer /, results);
  } finally {
    for (const proc of started.reverse()) {
      proc.signal("SIGINT");
      await proc.wait(15_000);
    }
  }
}

async function waitForCount(proc: Proc, pattern: RegExp, count: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (proc.lines.filter((l) => pattern.test(l)).length < count) {
    assert.ok(Date.now() < deadline, `${count} lines matching ${pattern}:\n${proc.output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("README's tour: a god, a consumer on Deno, a producer on Node and admin stats, as written", {
  skip: once,
  timeout: 240_000,
}, async () => {
  await runPipelineBlock("README.md", "tour");
});

test("docs/ROLES.md's three terminals, as written (the key the god prints for the placeholder)", {
  skip: once,
  timeout: 240_000,
}, async () => {
  await runPipelineBlock("docs/ROLES.md", "three-terminals");
});

test("docs/DEVELOPMENT.md's commands for one test file and the checks, as written", {
  skip: once,
  timeout: 300_000,
}, async () => {
  for (const command of docCommands("docs/DEVELOPMENT.md", "one-file")) {
    const proc = shell(command);
    const { code } = await proc.wait(240_000);
    assert.equal(code, 0, `${command}:\n${proc.output.slice(-3000)}`);
  }
});

test("docs/PROTOCOL.md's OpenSSL check of the worked handshake gives the proof it shows", {
  skip: once,
}, async (t) => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    execFileSync("xxd", ["-v"], { stdio: "ignore" });
  } catch {
    console.log("NOTICE: openssl or xxd is not installed: the OpenSSL check is not run");
    t.skip("openssl or xxd missing");
    return;
  }
  const [command] = docCommands("docs/PROTOCOL.md", "openssl-proof");
  const block = shellBlocks("docs/PROTOCOL.md").find((b) => b.id === "openssl-proof")!;
  const shown = /^# (SHA2-256\(stdin\)= [0-9a-f]{64})$/m.exec(block.text);
  assert.ok(shown, "the block shows the digest it gives");
  const proc = shell(command);
  const { code } = await proc.wait(30_000);
  assert.equal(code, 0, proc.output);
  assert.equal(proc.lines.at(-1)?.trim(), shown[1]);
});

test("docs/PYTHON.md's god with a Python door, as written, on a host of its own", {
  skip: once,
  timeout: 120_000,
}, async (t) => {
  // It listens on every interface: inside a network namespace, not on this machine's.
  const bed = TestBed.create(["god-box"]);
  if (typeof bed === "string") {
    console.log(`NOTICE: docs/PYTHON.md "python-god" not run: ${bed}`);
    t.skip(bed);
    return;
  }
  try {
    const block = shellBlocks("docs/PYTHON.md").find((b) => b.id === "python-god")!;
    const printed = /^#\s+(Python door on .+)$/m.exec(block.text);
    assert.ok(printed, "the block shows what the god prints");
    const [command] = docCommands("docs/PYTHON.md", "python-god");
    const god = bed.shell("god-box", command);
    const line = await god.waitFor(/Python door on/, 60_000);
    assert.equal(line.trim(), printed[1]);
  } finally {
    await bed.close();
  }
});

test(
  "docs/SECURITY.md's way to make a good key, as written: the roles find nothing to warn about",
  {
    skip: once,
  },
  async (t) => {
    try {
      execFileSync("openssl", ["version"], { stdio: "ignore" });
    } catch {
      console.log(
        "NOTICE: openssl is not installed: docs/SECURITY.md's good-key command is not run",
      );
      t.skip("openssl missing");
      return;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taskwire-good-key-"));
    try {
      for (const command of docCommands("docs/SECURITY.md", "good-key")) {
        const proc = shell(command, { cwd: dir });
        assert.equal((await proc.wait(30_000)).code, 0, proc.output);
      }
      const file = path.join(dir, "taskwire.key");
      assert.equal((fs.statSync(file).mode & 0o777).toString(8), "600");
      const key = fs.readFileSync(file, "utf8").trim();
      assert.deepEqual(keyWarnings(key), []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
