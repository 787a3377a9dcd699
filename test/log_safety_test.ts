/**
 * What peers put in the god's output (issue 18, item 8): every field a peer
 * controls (its name, role and runtime, the protocol version it claims) is
 * printed escaped, so it can neither forge a line nor drive the terminal; a
 * flood of bad handshakes from one address prints one line, not one per
 * connection. The god role runs as a real process on each runtime, printing
 * human lines as a user sees them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import { ClientHandshake } from "../lib/protocol/handshake.ts";
import { importAuthKey } from "../lib/protocol/keys.ts";
import { jsonLine, Output } from "../lib/cli/output.ts";
import { printable, printableLines, safeJsonText } from "../lib/util/printable.ts";
import { AUTHKEY, until } from "./_support/hardening.ts";
import { RawPeer } from "./_support/raw_peer.ts";
import { freePort, RUNTIMES, start } from "./_support/process.ts";

/** A forged "connected" line, a screen clear, a colour and a right-to-left override. */
const FORGED = "w\n+ producer evil (node) connected from 6.6.6.6\x1b[2J\x1b[31m\u202ered\u009b";

test("printable() escapes every control character and cuts long text; printableLines() keeps line feeds", () => {
  assert.equal(printable("a\nb\x1b[2J\u202e\u009bc\t"), "a\\nb\\x1b[2J\\u202e\\x9bc\\t");
  assert.equal(printable("x".repeat(10), 4), "xxxx...");
  assert.equal(printable(12n), "12");
  assert.equal(printableLines("one\ntwo\x1b[31m"), "one\ntwo\\x1b[31m");
  // The JSON of a value is unchanged by the escaping, only its bytes are.
  const text = safeJsonText(JSON.stringify({ v: "\u009b\u2028\u202e\x7f" }));
  assert.ok(!/[\u007f-\u009f\u2028\u202e]/.test(text));
  assert.deepEqual(JSON.parse(text), { v: "\u009b\u2028\u202e\x7f" });
});

test("Output prints events escaped, in human lines and in JSON lines", () => {
  const lines: string[] = [];
  const sink = { out: (t: string) => lines.push(t), err: (t: string) => lines.push(t), tty: false };
  new Output({ json: false, sink }).event("x", {}, "name: \x1b[2Jevil\u202e");
  new Output({ json: true, sink }).event("x", { name: "\u009b\x1b\n" }, null);
  assert.equal(lines[0], "name: \\x1b[2Jevil\\u202e\n");
  assert.equal(lines[1], '{"event":"x","name":"\\u009b\\u001b\\n"}\n');
  assert.equal(jsonLine({ n: 1n }), '{"n":"1"}');
});

for (const runtime of RUNTIMES) {
  test(`the ${runtime} god role prints what a peer claims escaped, and one line for a flood of bad handshakes`, async () => {
    const port = await freePort();
    const god = start(runtime, "roles/god.ts", ["--in-memory", "--listen", `127.0.0.1:${port}`], {
      env: { TASKWIRE_AUTHKEY: AUTHKEY },
    });
    try {
      await god.waitFor(/god listening on/, 30_000);
      // A client with the key whose name, role and runtime try to forge a line.
      const peer = await RawPeer.connect(port);
      const handshake = new ClientHandshake(await importAuthKey(AUTHKEY), {
        role: `consumer${FORGED}`,
        runtime: FORGED,
        name: FORGED,
      });
      const hello = await peer.next(5000);
      assert.ok(typeof hello !== "string");
      const step = await handshake.receive(hello.body);
      assert.ok("send" in step);
      peer.sendBody(step.send);
      assert.ok(typeof (await peer.next(5000)) !== "string", "welcomed");
      await god.waitFor(/connected from 127\.0\.0\.1/, 10_000);
      peer.close();

      // A flood of Auth frames claiming a forged version.
      const header = new TextEncoder().encode(JSON.stringify({
        proto: "taskwire",
        version: FORGED,
        nonce: "A".repeat(43) + "=",
        role: "x",
        proof: "x",
      }));
      for (let round = 0; round < 4; round++) {
        await Promise.all(Array.from({ length: 50 }, () => badAuth(port, header)));
      }
      await god.waitFor(/refused a connection from/, 10_000);
      await new Promise((resolve) => setTimeout(resolve, 300));

      const out = god.lines.join("\n");
      assert.ok(!out.includes("\x1b"), "no escape character reached the output");
      assert.ok(!/[\u202e\u009b]/.test(out), "no bidi override or C1 control either");
      assert.ok(
        !god.lines.some((l) => l.startsWith("+ producer evil")),
        "no forged line:\n" + out,
      );
      const connected = god.lines.filter((l) => l.includes("connected from 127.0.0.1"));
      assert.equal(connected.length, 1);
      assert.match(connected[0], /^\+ consumerw\\n\+ producer evil .*\\x1b\[2J/);
      const refused = god.lines.filter((l) => l.includes("refused a connection from"));
      assert.equal(refused.length, 1, `200 bad handshakes, one line:\n${refused.join("\n")}`);
      assert.match(refused[0], /speaks taskwire\/"w\\n\+ producer evil/);
    } finally {
      await god.stop();
    }
    await until("the god to stop", () => god.child.exitCode !== null, 10_000);
  });
}

/** Connects, reads the Hello, sends an Auth frame whose JSON header is `header`, waits for the close. */
function badAuth(port: number, header: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    const timer = setTimeout(() => socket.destroy(), 5000);
    socket.once("data", () => {
      const body = new Uint8Array(9 + header.length);
      body[0] = 2; // Auth
      new DataView(body.buffer).setUint32(5, header.length);
      body.set(header, 9);
      const frame = new Uint8Array(4 + body.length);
      new DataView(frame.buffer).setUint32(0, body.length);
      frame.set(body, 4);
      socket.write(frame);
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
