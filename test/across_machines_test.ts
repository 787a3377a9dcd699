/**
 * docs/ACROSS-MACHINES.md, run as written on separate hosts: network
 * namespaces with the addresses the page shows (god-box 192.168.0.88, two
 * workers and a laptop), test/_support/hosts.ts. The key is made in the
 * checkout, as the page says; the god on Deno keeps its journal there; a
 * consumer on Node and one on Deno, a producer and admin on the laptop.
 * Every task comes back squared. Needs root (namespaces): skips with a NOTICE
 * otherwise, and when the checkout already has a taskwire.key or
 * taskwire-data of someone's (it would not overwrite them).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { docCommands, shell, takeExports } from "./_support/doc_blocks.ts";
import { TestBed } from "./_support/hosts.ts";
import { CURRENT, ROOT } from "./_support/process.ts";

const PAGE = "docs/ACROSS-MACHINES.md";
const KEY = path.join(ROOT, "taskwire.key");
const DATA = path.join(ROOT, "taskwire-data");

function why(): string | false {
  if (CURRENT === "deno") return "the commands choose their runtimes: run once, on Node";
  if (fs.existsSync(KEY) || fs.existsSync(DATA)) {
    const reason = "the checkout has a taskwire.key or taskwire-data already (not overwritten)";
    console.log(`NOTICE: ${PAGE} not run: ${reason}`);
    return reason;
  }
  return false;
}

test("docs/ACROSS-MACHINES.md, as written, on separate hosts: every task comes back squared", {
  skip: why(),
  timeout: 300_000,
}, async (t) => {
  const bed = TestBed.create(["god-box", "worker1", "worker2", "laptop"], {
    subnet: "192.168.0",
    first: 88,
  });
  if (typeof bed === "string") {
    console.log(`NOTICE: ${PAGE} not run: ${bed}`);
    t.skip(bed);
    return;
  }
  try {
    assert.equal(bed.address("god-box"), "192.168.0.88");
    for (const command of docCommands(PAGE, "make-key")) {
      const proc = shell(command);
      assert.equal((await proc.wait(60_000)).code, 0, `${command}:\n${proc.output}`);
    }
    assert.equal((fs.statSync(KEY).mode & 0o777).toString(8), "600");

    const [godCommand] = docCommands(PAGE, "god-box");
    const god = bed.shell("god-box", godCommand);
    await god.waitFor(/god listening on 0\.0\.0\.0:5678/, 60_000);

    const workers: [string[], string][] = [
      [docCommands(PAGE, "worker-node"), "worker1"],
      [docCommands(PAGE, "worker-deno"), "worker2"],
    ];
    for (const [commands, host] of workers) {
      const env: Record<string, string> = {};
      for (const command of takeExports(commands, env)) {
        const consumer = bed.shell(host, command, { env });
        await consumer.waitFor(/waiting for tasks/, 60_000);
      }
    }

    const [produce] = docCommands(PAGE, "laptop");
    const count = Number(/--count (\d+)/.exec(produce)![1]);
    const producer = bed.shell("laptop", produce);
    assert.equal((await producer.wait(120_000)).code, 0, producer.output);
    assert.match(producer.output, new RegExp(`put ${count.toLocaleString("en-US")} tasks`));

    const results = () => god.lines.filter((l) => /^\d+ \* \d+ = \d+ {2}\(consumer /.test(l));
    const deadline = Date.now() + 60_000;
    while (results().length < count && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(results().length, count, god.output.slice(-2000));
    for (const line of results()) {
      const [, n, , square] = /^(\d+) \* (\d+) = (\d+)/.exec(line)!;
      assert.equal(BigInt(square), BigInt(n) ** 2n);
    }
    const by = new Set(results().map((l) => /\(consumer (\S+)\)/.exec(l)![1].split("-")[0]));
    assert.deepEqual([...by].sort(), ["deno", "node"], "both workers computed");

    const [stats] = docCommands(PAGE, "admin-remote");
    const admin = bed.shell("laptop", stats);
    assert.equal((await admin.wait(60_000)).code, 0, admin.output);
    assert.match(admin.output, /^results\s+\d/m);
    assert.match(admin.output, /192\.168\.0\.8[9]|192\.168\.0\.90/, "the workers, by address");
  } finally {
    await bed.close();
    fs.rmSync(KEY, { force: true });
    fs.rmSync(DATA, { recursive: true, force: true });
  }
});
