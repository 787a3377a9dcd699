/**
 * Weak keys (issue 18, item 12): the god and every client role warn about a
 * short or low-entropy key and about a key file other users may read, and go
 * on; a good key (the god's own, or 32 random bytes) gets no warning. The
 * roles run as real processes on each runtime.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { generateAuthKey, keyWarnings, makeWorkerKey } from "../mod.ts";
import { freePort, RUNTIMES, start } from "./_support/process.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taskwire-keys-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test("keyWarnings(): short and low-entropy keys are flagged, good ones are not", async () => {
  assert.match(keyWarnings("x").join(), /only 1 characters long/);
  assert.match(keyWarnings("abcd").join(), /only 4 characters long/);
  assert.match(keyWarnings("a".repeat(40)).join(), /easy to guess \(about 0 bits/);
  assert.match(keyWarnings("abababababababababababab").join(), /easy to guess/);
  assert.deepEqual(keyWarnings(generateAuthKey()), []);
  assert.deepEqual(keyWarnings("correct horse battery staple, twice over"), []);
  const worker = await makeWorkerKey(generateAuthKey(), { consume: ["tasks"], put: [] });
  assert.deepEqual(keyWarnings(worker), [], "a worker key is derived: strong");
});

for (const runtime of RUNTIMES) {
  test(`${runtime} roles warn about a weak key and a key file others may read, and go on`, async () => {
    const keyFile = path.join(dir, `${runtime}.key`);
    fs.writeFileSync(keyFile, "pass\n");
    fs.chmodSync(keyFile, 0o644);
    const port = await freePort();
    const god = start(runtime, "roles/god.ts", [
      "--in-memory",
      "--listen",
      `127.0.0.1:${port}`,
      "--authkey-file",
      keyFile,
    ]);
    try {
      await god.waitFor(/god listening on/, 30_000);
      const err = god.errLines.join("\n");
      assert.match(err, /warning: the key is only 4 characters long.*openssl rand -base64 32/);
      assert.match(err, /may be read by other users \(mode 0644\): run chmod 600 /);
      // A client role with the same weak key (from the environment) warns too, and works.
      const admin = start(runtime, "roles/admin.ts", [
        "stats",
        "--connect",
        `127.0.0.1:${port}`,
        "--json",
      ], { env: { TASKWIRE_AUTHKEY: "pass" } });
      assert.equal((await admin.wait(30_000)).code, 0, admin.output);
      assert.ok(
        admin.errLines.some((l) => /"event":"weak-key"/.test(l)),
        `a weak-key event on stderr:\n${admin.output}`,
      );
      assert.ok(!admin.lines.some((l) => /weak-key/.test(l)), "stdout keeps only the stats");
      // A private key file with a good key: no warning.
      fs.writeFileSync(keyFile, generateAuthKey());
      fs.chmodSync(keyFile, 0o600);
      const good = start(runtime, "roles/admin.ts", [
        "key",
        "worker",
        "--queues",
        "tasks",
        "--authkey-file",
        keyFile,
      ]);
      assert.equal((await good.wait(30_000)).code, 0, good.output);
      assert.doesNotMatch(good.output, /warning/);
    } finally {
      await god.stop();
    }
  });
}
