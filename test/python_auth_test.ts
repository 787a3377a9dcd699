/**
 * The door's side of multiprocessing's two-way authentication, replayed on
 * captured CPython traffic: the door's challenge is rebuilt from the captured
 * random bytes, the captured answer must be welcomed, and the door's answer to
 * the client's challenge must equal, byte for byte, what CPython's server sent.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import {
  CHALLENGE,
  FAILURE,
  guessPythonVersion,
  importPythonKey,
  ServerAuth,
  WELCOME,
} from "../lib/python/auth.ts";
import { AuthError, ProtocolError } from "../lib/protocol/errors.ts";
import { CAPTURED, loadCapture } from "./_support/python_fixtures.ts";

const enc = new TextEncoder();
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const EXPECTED_RUNTIME: Record<string, string> = {
  "3.6": "python <=3.7",
  "3.7": "python <=3.7",
  "3.8": "python 3.8-3.11",
  "3.11": "python 3.8-3.11",
  "3.12": "python 3.12-3.13",
  "3.13": "python 3.12-3.13",
};

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** A ServerAuth whose challenge is exactly `challenge` (a captured `#CHALLENGE#` message). */
async function replaying(authkey: string, challenge: Uint8Array): Promise<ServerAuth> {
  const message = challenge.subarray(CHALLENGE.length);
  const modern = text(message.subarray(0, 8)) === "{sha256}";
  const auth = new ServerAuth(await importPythonKey(authkey), { legacy: !modern });
  const sent = auth.start(modern ? message.subarray(8) : message);
  assert.deepEqual(sent, challenge);
  return auth;
}

for (const version of CAPTURED) {
  test(`ServerAuth replays CPython ${version}'s handshakes both ways, byte for byte`, async () => {
    const capture = loadCapture(version);
    for (const frames of capture.connections) {
      const [challenge, answer, welcome, theirs, ours, done] = frames;
      assert.equal(challenge.from, "server");
      const auth = await replaying(capture.authkey, challenge.body);
      const first = await auth.receive(answer.body);
      assert.equal(first.error, undefined);
      assert.deepEqual(first.send, [welcome.body]);
      const second = await auth.receive(theirs.body);
      assert.equal(second.error, undefined);
      assert.deepEqual(second.send, [ours.body], "the door answers as CPython's server did");
      const last = await auth.receive(done.body);
      assert.ok(last.done);
      assert.equal(
        guessPythonVersion(last.done, capture.pickleProtocol),
        EXPECTED_RUNTIME[version],
      );
    }
  });

  test(`ServerAuth refuses CPython ${version}'s answer under another key with #FAILURE#`, async () => {
    const capture = loadCapture(version);
    const [challenge, answer] = capture.connections[0];
    const auth = await replaying("not-the-key", challenge.body);
    const step = await auth.receive(answer.body);
    assert.deepEqual(step.send, [FAILURE]);
    assert.ok(step.error instanceof AuthError);
    assert.match(step.error.message, /answer to the challenge is wrong/);
  });
}

test("ServerAuth sends {sha256} and 40 random bytes by default, 20 bytes when legacy", async () => {
  const key = await importPythonKey("k");
  const modern = new ServerAuth(key).start();
  assert.equal(modern.length, CHALLENGE.length + 8 + 40);
  assert.equal(text(modern.subarray(0, CHALLENGE.length + 8)), "#CHALLENGE#{sha256}");
  const legacy = new ServerAuth(key, { legacy: true }).start();
  assert.equal(legacy.length, CHALLENGE.length + 20);
  assert.notDeepEqual(new ServerAuth(key).start(), new ServerAuth(key).start(), "fresh each time");
});

test("ServerAuth accepts a raw HMAC-MD5 answer to its {sha256} challenge (how ≤ 3.11 clients answer)", async () => {
  const auth = new ServerAuth(await importPythonKey("key"));
  const message = auth.start().subarray(CHALLENGE.length);
  const md5 = createHmac("md5", "key").update(message).digest();
  const step = await auth.receive(new Uint8Array(md5));
  assert.deepEqual(step.send, [WELCOME]);
  // And answers a 20-byte challenge with raw HMAC-MD5, as ≤ 3.11 servers do.
  const theirs = Uint8Array.from({ length: 20 }, (_, i) => i);
  const reply = await auth.receive(concat(CHALLENGE, theirs));
  assert.deepEqual(reply.send, [new Uint8Array(createHmac("md5", "key").update(theirs).digest())]);
  const done = await auth.receive(WELCOME);
  assert.deepEqual(done.done, { answeredWith: "md5-raw", challengedWith: "legacy" });
});

test("ServerAuth accepts {md5}, {sha256} and {sha384} answers and answers those challenges in kind", async () => {
  for (const digest of ["md5", "sha256", "sha384"]) {
    const auth = new ServerAuth(await importPythonKey("key"));
    const message = auth.start().subarray(CHALLENGE.length);
    const mac = createHmac(digest, "key").update(message).digest();
    const step = await auth.receive(concat(enc.encode(`{${digest}}`), new Uint8Array(mac)));
    assert.deepEqual(step.send, [WELCOME], digest);
    const theirs = concat(enc.encode(`{${digest}}`), new Uint8Array(40).fill(7));
    const reply = await auth.receive(concat(CHALLENGE, theirs));
    const expected = createHmac(digest, "key").update(theirs).digest();
    assert.deepEqual(reply.send, [concat(enc.encode(`{${digest}}`), new Uint8Array(expected))]);
  }
});

test("ServerAuth refuses answers it cannot check: sha3 digests, no prefix, wrong length", async () => {
  const answers = [
    concat(enc.encode("{sha3_256}"), new Uint8Array(32)),
    new Uint8Array(32),
    new Uint8Array(20),
    concat(enc.encode("{sha256}"), new Uint8Array(31)),
    new Uint8Array(0),
  ];
  for (const answer of answers) {
    const auth = new ServerAuth(await importPythonKey("key"));
    auth.start();
    const step = await auth.receive(answer);
    assert.deepEqual(step.send, [FAILURE]);
    assert.ok(step.error instanceof AuthError);
  }
});

test("ServerAuth ends the handshake on a bad client challenge or a missing #WELCOME#", async () => {
  const welcomed = async () => {
    const auth = new ServerAuth(await importPythonKey("key"));
    const message = auth.start().subarray(CHALLENGE.length);
    const mac = createHmac("sha256", "key").update(message).digest();
    await auth.receive(concat(enc.encode("{sha256}"), new Uint8Array(mac)));
    return auth;
  };
  for (
    const bad of [
      enc.encode("hello"),
      concat(CHALLENGE, new Uint8Array(5)),
      concat(CHALLENGE, concat(enc.encode("{sha3_384}"), new Uint8Array(40))),
      concat(CHALLENGE, new Uint8Array(30)),
    ]
  ) {
    const step = await (await welcomed()).receive(bad);
    assert.deepEqual(step.send, []);
    assert.ok(step.error instanceof ProtocolError, String(step.error));
  }
  const auth = await welcomed();
  await auth.receive(concat(CHALLENGE, new Uint8Array(20)));
  const step = await auth.receive(FAILURE);
  assert.ok(step.error instanceof AuthError);
  assert.match(step.error.message, /rejected the door's answer/);
});
