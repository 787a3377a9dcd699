/**
 * The one-command demo: `npm start` (node roles/demo.ts; run directly so the
 * PID signalled is the demo's) on Node, `deno task start` (roles/demo.ts
 * --deno-only) on Deno. Results appear; SIGINT stops it and its children, exit 0.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { CURRENT, DENO, DENO_PERMISSIONS, NODE, Proc, ROOT } from "./_support/process.ts";
import { docCommands, shell } from "./_support/doc_blocks.ts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The README's way to start the demo: the part of its first command after `npm ci &&`. */
function readmeStart(): string {
  const [first] = docCommands("README.md", "two-commands");
  const start = first.split("&&").map((part) => part.trim()).find((part) => part !== "npm ci");
  assert.equal(start, "npm start", "the README starts the demo with npm start");
  return start!;
}

test(`the demo (${CURRENT === "node" ? "npm start" : "deno task start"}) shows results and stops cleanly on SIGINT`, async () => {
  const demo = path.join(ROOT, "roles", "demo.ts");
  const argv = CURRENT === "node"
    ? [NODE, "--import", "tsx", demo]
    : [DENO, "run", ...DENO_PERMISSIONS, "--allow-run", demo, "--deno-only"];
  const proc = new Proc(argv, { env: { TASKWIRE_AUTHKEY: "", TASKWIRE_ADDR: "" } });
  try {
    await proc.waitFor(/^god \((deno|node)\) +\| listening|god listening on/, 30_000);
    const result = await proc.waitFor(
      /^god \((deno|node)\) +\| -?\d+ \* -?\d+ = \d+ {2}\(consumer /,
      30_000,
    );
    const [, n, , square] = /(-?\d+) \* (-?\d+) = (\d+)/.exec(result)!;
    assert.equal(BigInt(square), BigInt(n) ** 2n);
    if (CURRENT === "node") {
      // Mixed runtimes: the god and a consumer on Deno, the producer and a consumer on Node.
      assert.match(proc.output, /god \(deno\)/);
      assert.match(proc.output, /producer \(node\)/);
      assert.match(proc.output, /consumer 1 \(deno\)/);
      assert.match(proc.output, /consumer 2 \(node\)/);
    } else {
      assert.doesNotMatch(proc.output, /\(node\) +\|/);
    }
  } finally {
    proc.signal("SIGINT");
    const { code } = await proc.wait(40_000);
    assert.equal(code, 0, proc.output.slice(-3000));
  }
  assert.match(proc.output, /demo: stopped/);
  const pids = [...proc.output.matchAll(/started as pid (\d+)/g)].map((m) => Number(m[1]));
  assert.equal(pids.length, 4, proc.output.slice(0, 2000));
  for (const pid of pids) assert.ok(!alive(pid), `child ${pid} has exited`);
  assert.match(proc.output, /god stopped after \d+ results/);
});

test(
  "npm start, as the README shows it: the demo runs, and Ctrl-C stops it (npm then says 130, as the README says)",
  {
    skip: CURRENT === "deno" ? "npm starts Node: run once, on Node" : false,
  },
  async () => {
    // A terminal's Ctrl-C reaches npm and the demo alike: the whole process group.
    const proc = shell(readmeStart(), { env: { TASKWIRE_AUTHKEY: "", TASKWIRE_ADDR: "" } });
    try {
      await proc.waitFor(/^god \((deno|node)\) +\| -?\d+ \* -?\d+ = \d+ {2}\(consumer /, 60_000);
    } finally {
      proc.signal("SIGINT");
      // A shell shows a process ended by SIGINT as status 130.
      const { code, signal } = await proc.wait(40_000);
      assert.ok(
        code === 130 || signal === "SIGINT",
        `${code} ${signal}\n${proc.output.slice(-3000)}`,
      );
    }
    assert.match(proc.output, /demo: stopped/);
    assert.match(proc.output, /god stopped after \d+ results/);
  },
);
