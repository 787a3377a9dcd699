import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  ClientHandshake,
  errorBody,
  type PeerInfo,
  PROTOCOL_NAME,
  PROTOCOL_VERSION,
  ServerHandshake,
  type ServerInfo,
} from "../lib/protocol/handshake.ts";
import { fromBase64, toBase64 } from "../lib/util/base64.ts";
import { generateAuthKey, importAuthKey, KeyRing } from "../lib/protocol/keys.ts";
import { decodeMessage, encodeMessage, MessageType } from "../lib/protocol/messages.ts";
import {
  AuthError,
  ConnectionLostError,
  ErrorCode,
  ProtocolError,
} from "../lib/protocol/errors.ts";
import { encodeFrame, FrameDecoder } from "../lib/protocol/frame.ts";
import { memoryPair } from "../lib/transport/memory.ts";
import { Link } from "../lib/client/link.ts";
import { serve } from "../mod.ts";

const KEY = "correct horse battery staple";
const INFO: ServerInfo = {
  maxFrameSize: 16 * 1024 * 1024,
  runtime: "test",
  name: "god-1",
  heartbeatMs: 10_000,
};
const PEER: PeerInfo = { role: "producer", runtime: "test", name: "p-1" };
const utf8 = new TextEncoder();

function nonce(fill: number): Uint8Array {
  return new Uint8Array(32).fill(fill);
}

/** HMAC-SHA256 computed here from the documented inputs, independently of the library. */
async function hmac(key: string, ...parts: Uint8Array[]): Promise<string> {
  const cryptoKey = await crypto.subtle.importKey(
    "raw",
    utf8.encode(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const total = parts.reduce((n, p) => n + p.length, 0);
  const data = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    data.set(p, offset);
    offset += p.length;
  }
  return toBase64(new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, data)));
}

/** Runs a whole handshake; returns every body that crossed the wire. */
async function handshake(
  serverKey: string,
  clientKey: string,
  options: { sNonce?: Uint8Array; cNonce?: Uint8Array; peer?: PeerInfo } = {},
) {
  const server = new ServerHandshake(new KeyRing(await importAuthKey(serverKey)), INFO, {
    nonce: options.sNonce,
  });
  const client = new ClientHandshake(await importAuthKey(clientKey), options.peer ?? PEER, {
    nonce: options.cNonce,
  });
  const hello = server.hello();
  const step = await client.receive(hello);
  assert.ok("send" in step);
  const auth = step.send;
  const { reply: welcome, peer } = await server.receive(auth);
  const done = await client.receive(welcome);
  assert.ok("done" in done);
  return { hello, auth, welcome, peer, info: done.done };
}

function authError(code: string, pattern: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof AuthError, `expected AuthError, got ${error}`);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  };
}

test("handshake with the same key succeeds and each side learns about the other", async () => {
  const { peer, info, hello, auth, welcome } = await handshake(KEY, KEY);
  assert.deepEqual(peer, PEER);
  assert.deepEqual(info, INFO);
  assert.equal(decodeMessage(hello).type, MessageType.Hello);
  assert.equal(decodeMessage(auth).type, MessageType.Auth);
  assert.equal(decodeMessage(welcome).type, MessageType.Welcome);
  // Every handshake frame fits the pre-authentication limit.
  for (const body of [hello, auth, welcome]) assert.ok(body.length < 4096);
});

test("handshake messages carry exactly the documented fields and HMAC inputs", async () => {
  const sNonce = nonce(0x11);
  const cNonce = nonce(0x22);
  const { hello, auth, welcome } = await handshake(KEY, KEY, { sNonce, cNonce });
  assert.deepEqual(decodeMessage(hello), {
    type: MessageType.Hello,
    id: 0,
    header: { proto: "taskwire", version: 1, nonce: toBase64(sNonce) },
    payload: new Uint8Array(0),
  });
  const a = decodeMessage(auth);
  assert.equal(a.id, 0);
  assert.deepEqual(Object.keys(a.header), [
    "proto",
    "version",
    "nonce",
    "role",
    "runtime",
    "name",
    "heartbeat",
    "proof",
  ]);
  assert.equal(a.header.heartbeat, true, "the client says it answers pings");
  assert.equal(a.header.nonce, toBase64(cNonce));
  const role = utf8.encode(PEER.role);
  assert.equal(
    a.header.proof,
    await hmac(KEY, utf8.encode("taskwire/1 client"), sNonce, cNonce, role),
  );
  const w = decodeMessage(welcome);
  assert.deepEqual(w.header, {
    proof: await hmac(KEY, utf8.encode("taskwire/1 server"), sNonce, cNonce, role),
    ...INFO,
  });
  assert.equal(PROTOCOL_NAME, "taskwire");
  assert.equal(PROTOCOL_VERSION, 1);
});

test("fixed nonces give byte-identical handshakes; fresh nonces differ every time", async () => {
  const a = await handshake(KEY, KEY, { sNonce: nonce(1), cNonce: nonce(2) });
  const b = await handshake(KEY, KEY, { sNonce: nonce(1), cNonce: nonce(2) });
  assert.deepEqual([a.hello, a.auth, a.welcome], [b.hello, b.auth, b.welcome]);
  const c = await handshake(KEY, KEY);
  const d = await handshake(KEY, KEY);
  assert.notDeepEqual(c.hello, d.hello);
  assert.notDeepEqual(c.auth, d.auth);
  assert.notEqual(decodeMessage(c.hello).header.nonce, toBase64(new Uint8Array(32)));
});

test("the god refuses a client with the wrong key: authentication failed", async () => {
  const server = new ServerHandshake(new KeyRing(await importAuthKey(KEY)), INFO);
  const client = new ClientHandshake(await importAuthKey("wrong key"), PEER);
  const step = await client.receive(server.hello());
  assert.ok("send" in step);
  let refusal: AuthError | null = null;
  await assert.rejects(server.receive(step.send), (error: unknown) => {
    refusal = error as AuthError;
    return authError(
      ErrorCode.AuthFailed,
      /^authentication failed: the client's key does not match the god's key$/,
    )(error);
  });
  // The god sends the refusal as an Error frame; the client reports it clearly.
  await assert.rejects(
    client.receive(errorBody(refusal!)),
    authError(ErrorCode.AuthFailed, /^god refused the handshake: authentication failed/),
  );
});

test("a client refuses a god with the wrong key (the Welcome proof is checked)", async () => {
  const sNonce = nonce(7);
  const client = new ClientHandshake(await importAuthKey(KEY), PEER, { nonce: nonce(8) });
  const hello = encodeMessage(MessageType.Hello, 0, {
    proto: "taskwire",
    version: 1,
    nonce: toBase64(sNonce),
  });
  const step = await client.receive(hello);
  assert.ok("send" in step);
  const auth = decodeMessage(step.send).header;
  // A rogue god that does not check the client and signs with a key of its own.
  const forged = await hmac(
    "the god's wrong key",
    utf8.encode("taskwire/1 server"),
    sNonce,
    nonce(8),
    utf8.encode(PEER.role),
  );
  const welcome = encodeMessage(MessageType.Welcome, 0, { proof: forged, ...INFO });
  await assert.rejects(
    client.receive(welcome),
    authError(ErrorCode.AuthFailed, /authentication failed: the god could not prove it knows/),
  );
  // Nor can the god reflect the client's own proof back (the labels differ).
  const client2 = new ClientHandshake(await importAuthKey(KEY), PEER, { nonce: nonce(8) });
  await client2.receive(hello);
  await assert.rejects(
    client2.receive(encodeMessage(MessageType.Welcome, 0, { proof: auth.proof, ...INFO })),
    authError(ErrorCode.AuthFailed, /authentication failed/),
  );
});

test("a client refuses a Welcome with a missing or malformed proof", async () => {
  for (const proof of [undefined, "", "not base64!", toBase64(new Uint8Array(31)), 42, null]) {
    const client = new ClientHandshake(await importAuthKey(KEY), PEER);
    const server = new ServerHandshake(new KeyRing(await importAuthKey(KEY)), INFO);
    await client.receive(server.hello());
    await assert.rejects(
      client.receive(encodeMessage(MessageType.Welcome, 0, { proof, ...INFO })),
      authError(ErrorCode.AuthFailed, /authentication failed/),
    );
  }
});

test("the god refuses an Auth with a missing or malformed proof", async () => {
  for (const proof of [undefined, "", "%%%", toBase64(new Uint8Array(33)), 1, ["x"]]) {
    const server = new ServerHandshake(new KeyRing(await importAuthKey(KEY)), INFO);
    const sNonce = fromBase64(decodeMessage(server.hello()).header.nonce as string)!;
    assert.equal(sNonce.length, 32);
    const auth = encodeMessage(MessageType.Auth, 0, {
      proto: "taskwire",
      version: 1,
      nonce: toBase64(nonce(3)),
      ...PEER,
      proof,
    });
    await assert.rejects(server.receive(auth), authError(ErrorCode.AuthFailed, /authentication/));
  }
});

test("a captured Auth replayed against a new Hello is refused", async () => {
  const recorded = await handshake(KEY, KEY);
  // An attacker without the key connects and plays back the recorded Auth.
  const server = new ServerHandshake(new KeyRing(await importAuthKey(KEY)), INFO);
  server.hello();
  await assert.rejects(
    server.receive(recorded.auth),
    authError(ErrorCode.AuthFailed, /authentication failed/),
  );
});

test("a captured Welcome replayed to a new client is refused", async () => {
  const recorded = await handshake(KEY, KEY);
  // A fake god plays back the recorded Hello and Welcome to a fresh client.
  const client = new ClientHandshake(await importAuthKey(KEY), PEER);
  const step = await client.receive(recorded.hello);
  assert.ok("send" in step);
  assert.notDeepEqual(step.send, recorded.auth);
  await assert.rejects(
    client.receive(recorded.welcome),
    authError(ErrorCode.AuthFailed, /the god could not prove it knows the key/),
  );
});

test("a proof made for one role does not authenticate another role", async () => {
  const server = new ServerHandshake(new KeyRing(await importAuthKey(KEY)), INFO, {
    nonce: nonce(5),
  });
  const client = new ClientHandshake(await importAuthKey(KEY), PEER, { nonce: nonce(6) });
  const step = await client.receive(server.hello());
  assert.ok("send" in step);
  const header = decodeMessage(step.send).header;
  const tampered = encodeMessage(MessageType.Auth, 0, { ...header, role: "admin" });
  await assert.rejects(server.receive(tampered), authError(ErrorCode.AuthFailed, /failed/));
});

test("a long role or name is accepted and shortened only for display", async () => {
  const peer = { role: "r".repeat(200), runtime: "x".repeat(100), name: "n".repeat(300) };
  const { peer: seen } = await handshake(KEY, KEY, { peer });
  assert.equal(seen.role, "r".repeat(64));
  assert.equal(seen.runtime, "x".repeat(64));
  assert.equal(seen.name, "n".repeat(128));
});

test("a version mismatch names both versions, on either side", async () => {
  const client = new ClientHandshake(await importAuthKey(KEY), PEER);
  const hello = encodeMessage(MessageType.Hello, 0, {
    proto: "taskwire",
    version: 2,
    nonce: toBase64(nonce(1)),
  });
  await assert.rejects(
    client.receive(hello),
    authError(
      ErrorCode.VersionMismatch,
      /^Cannot handshake: god speaks taskwire\/2, this side speaks taskwire\/1$/,
    ),
  );
  const server = new ServerHandshake(new KeyRing(await importAuthKey(KEY)), INFO);
  const auth = encodeMessage(MessageType.Auth, 0, {
    proto: "taskwire",
    version: 7,
    nonce: toBase64(nonce(2)),
    ...PEER,
    proof: "",
  });
  await assert.rejects(
    server.receive(auth),
    authError(
      ErrorCode.VersionMismatch,
      /^Cannot handshake: client speaks taskwire\/7, this side speaks taskwire\/1$/,
    ),
  );
});

test("a wrong protocol name is refused with both names", async () => {
  const client = new ClientHandshake(await importAuthKey(KEY), PEER);
  const hello = encodeMessage(MessageType.Hello, 0, {
    proto: "amqp",
    version: 1,
    nonce: toBase64(nonce(1)),
  });
  await assert.rejects(
    client.receive(hello),
    authError(ErrorCode.VersionMismatch, /god speaks "amqp", expected "taskwire"/),
  );
  const server = new ServerHandshake(new KeyRing(await importAuthKey(KEY)), INFO);
  const auth = encodeMessage(MessageType.Auth, 0, { version: 1, nonce: toBase64(nonce(2)) });
  await assert.rejects(
    server.receive(auth),
    authError(ErrorCode.VersionMismatch, /client speaks undefined, expected "taskwire"/),
  );
});

test("a missing or short nonce is a protocol error", async () => {
  for (const bad of [undefined, "", toBase64(new Uint8Array(16)), "***", 12]) {
    const client = new ClientHandshake(await importAuthKey(KEY), PEER);
    const hello = encodeMessage(MessageType.Hello, 0, {
      proto: "taskwire",
      version: 1,
      nonce: bad,
    });
    await assert.rejects(client.receive(hello), (error: unknown) => {
      assert.ok(error instanceof ProtocolError);
      assert.equal(error.code, ErrorCode.BadMessage);
      assert.match(error.message, /god sent no valid 32-byte nonce/);
      return true;
    });
  }
});

test("messages out of order or repeated are refused", async () => {
  const key = await importAuthKey(KEY);
  // The client expects Hello first.
  await assert.rejects(
    new ClientHandshake(key, PEER).receive(encodeMessage(MessageType.Ok, 1, {})),
    (error: unknown) =>
      error instanceof ProtocolError &&
      /expected message type 1 from god, got 6/.test(error.message),
  );
  // The god expects Auth first.
  await assert.rejects(
    new ServerHandshake(new KeyRing(key), INFO).receive(encodeMessage(MessageType.Put, 1, {})),
    (error: unknown) =>
      error instanceof ProtocolError && /expected message type 2 from client, got 16/.test(
        error.message,
      ),
  );
  // A ServerHandshake checks one Auth only.
  const { auth } = await handshake(KEY, KEY);
  const server = new ServerHandshake(new KeyRing(key), INFO);
  await server.receive(auth).catch(() => {});
  await assert.rejects(server.receive(auth), /Handshake already finished/);
  // Garbage instead of a message.
  await assert.rejects(
    new ServerHandshake(new KeyRing(key), INFO).receive(utf8.encode("GET /")),
    ProtocolError,
  );
});

test("an Error frame instead of a Hello is reported with its code", async () => {
  const client = new ClientHandshake(await importAuthKey(KEY), PEER);
  await assert.rejects(
    client.receive(errorBody({ code: "shutting_down", message: "the god is shutting down" })),
    authError(ErrorCode.ShuttingDown, /^god refused the handshake: the god is shutting down$/),
  );
  const other = new ClientHandshake(await importAuthKey(KEY), PEER);
  await assert.rejects(
    other.receive(errorBody({ code: "no_such_code", message: "odd" })),
    authError(ErrorCode.AuthFailed, /odd/),
  );
});

test("importAuthKey() accepts strings and bytes alike, refuses an empty key", async () => {
  const fromBytes = await handshake(KEY, KEY);
  assert.ok(fromBytes);
  const server = new ServerHandshake(new KeyRing(await importAuthKey(utf8.encode(KEY))), INFO);
  const client = new ClientHandshake(await importAuthKey(KEY), PEER);
  const step = await client.receive(server.hello());
  assert.ok("send" in step);
  await server.receive(step.send);
  assert.throws(() => importAuthKey(""), /Cannot use an empty key/);
  assert.throws(() => importAuthKey(new Uint8Array(0)), /Cannot use an empty key/);
});

test("generateAuthKey() makes distinct 43-character base64url keys", () => {
  const a = generateAuthKey();
  const b = generateAuthKey();
  assert.notEqual(a, b);
  assert.match(a, /^[A-Za-z0-9_-]{43}$/);
});

test("toBase64()/fromBase64() round-trip and refuse non-base64 text", () => {
  for (const n of [0, 1, 2, 3, 32, 255]) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37) & 0xff);
    assert.deepEqual(fromBase64(toBase64(bytes)), bytes);
  }
  assert.equal(fromBase64("a-b_"), null);
  assert.equal(fromBase64("abc$"), null);
  assert.equal(fromBase64("A".repeat(2000)), null);
});

// The drivers enforce the handshake deadline (the state machines never read the clock).

test("the god drops a peer silent past handshakeTimeoutMs with a handshake_timeout error", async () => {
  const events: Record<string, unknown>[] = [];
  const god = await serve({
    authkey: KEY,
    handshakeTimeoutMs: 150,
    listener: () => Promise.resolve({ host: "memory", port: 0, close: () => Promise.resolve() }),
    log: (event) => events.push(event),
  });
  try {
    const [client, server] = memoryPair();
    const received: Uint8Array[] = [];
    const closed = new Promise<void>((resolve) => {
      client.start({ data: (chunk) => received.push(chunk.slice()), closed: () => resolve() });
    });
    god.accept(server);
    await closed;
    const decoder = new FrameDecoder();
    const bodies = received.flatMap((chunk) => decoder.push(chunk)).map(decodeMessage);
    assert.deepEqual(bodies.map((m) => m.type), [MessageType.Hello, MessageType.Error]);
    assert.equal(bodies[1].header.code, ErrorCode.HandshakeTimeout);
    assert.match(String(bodies[1].header.message), /handshake not finished within 150 ms/);
    assert.ok(events.some((e) => e.event === "rejected" && e.code === "handshake_timeout"));
  } finally {
    await god.close();
  }
});

test("a client gives up on a god silent past its handshake timeout", async () => {
  const [client, server] = memoryPair();
  server.start({ data: () => {}, closed: () => {} });
  await assert.rejects(
    Link.open(client, await importAuthKey(KEY), PEER, { timeoutMs: 120 }),
    (error: unknown) =>
      error instanceof ConnectionLostError &&
      /did not finish the handshake within 120 ms/.test(error.message),
  );
});

test("a client that is sent an oversized frame before the handshake stops with an error", async () => {
  const [client, server] = memoryPair();
  server.start({ data: () => {}, closed: () => {} });
  const opening = Link.open(client, await importAuthKey(KEY), PEER, { timeoutMs: 2000 });
  server.write(encodeFrame(new Uint8Array(5000)));
  await assert.rejects(opening, /length 5000 exceeds maxFrameSize 4096/);
});

test("the worked handshake example of docs/PROTOCOL.md is reproduced byte for byte", async () => {
  const doc = readFileSync(new URL("../docs/PROTOCOL.md", import.meta.url), "utf8");
  /** The frame the doc shows after "`Name` (type N), id 0: frame …", from its hex dump. */
  const documented = (name: string): Uint8Array => {
    const at = doc.indexOf(`\`${name}\` (type`);
    assert.ok(at >= 0, `docs/PROTOCOL.md shows no ${name} frame`);
    const block = doc.slice(
      doc.indexOf("```\n", at) + 4,
      doc.indexOf("\n```", doc.indexOf("```\n", at) + 4),
    );
    const bytes = block.split("\n").flatMap((line) =>
      line.slice(10, 58).trim().split(/\s+/).filter((h) => h !== "").map((h) => parseInt(h, 16))
    );
    const declared = Number(/frame (\d+) bytes/.exec(doc.slice(at, at + 200))![1]);
    assert.equal(bytes.length, declared, `${name}: the dump and its stated size disagree`);
    return Uint8Array.from(bytes);
  };
  const key = await importAuthKey("secret");
  const server = new ServerHandshake(new KeyRing(key), {
    maxFrameSize: 16777216,
    runtime: "node 20.20.2",
    name: "god",
    heartbeatMs: 10000,
  }, { nonce: Uint8Array.from({ length: 32 }, (_, i) => i) });
  const client = new ClientHandshake(key, {
    role: "producer",
    runtime: "deno 2.9.6",
    name: "worker-1",
  }, { nonce: Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i) });
  const hello = encodeFrame(server.hello());
  assert.deepEqual(hello, documented("Hello"));
  const step = await client.receive(hello.subarray(4));
  assert.ok("send" in step);
  assert.deepEqual(encodeFrame(step.send), documented("Auth"));
  const { reply } = await server.receive(step.send);
  assert.deepEqual(encodeFrame(reply), documented("Welcome"));
  assert.ok("done" in await client.receive(reply));
  // The proofs in the text match the frames too.
  assert.match(doc, /base64 = ZyqAEEepfXRNaV9f1\/vslHLEaXfKo5Fxzn\/8cnQ5Qzw=/);
  assert.ok(doc.includes("YZa/Ufj6lFizkqllB+gHjoj6Z6pbSDQOVMTBnicwuwY=   (base64)"));
});
