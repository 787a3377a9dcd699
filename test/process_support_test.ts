/**
 * The test support's process handle: a wait for a line ends as soon as the
 * process has exited without printing it (a server that died at start fails
 * its test at once, with its last words), and a line printed just before
 * exit still counts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { NODE, Proc } from "./_support/process.ts";

test("waitFor rejects with the output when the process exits without printing the line", async () => {
  const proc = new Proc([NODE, "-e", "console.log('last words'); process.exit(3)"]);
  await assert.rejects(proc.waitFor(/never printed/, 60_000), (error: Error) => {
    assert.match(
      error.message,
      /exited \(code 3\) without printing a line matching \/never printed\//,
    );
    assert.match(error.message, /last words/);
    return true;
  });
});

test("waitFor resolves with a line printed just before exit, and after it", async () => {
  const proc = new Proc([NODE, "-e", "console.log('ready'); process.exit(0)"]);
  assert.equal(await proc.waitFor(/ready/, 60_000), "ready");
  await proc.wait();
  assert.equal(await proc.waitFor(/ready/, 60_000), "ready");
});

test("waitFor still times out on a process that lives on silently", async () => {
  const proc = new Proc([NODE, "-e", "setTimeout(() => {}, 60_000)"]);
  try {
    await assert.rejects(
      proc.waitFor(/never printed/, 200),
      /no line within 200 ms: a line matching/,
    );
  } finally {
    await proc.stop();
  }
});
