/**
 * A client keeps reconnecting through refusals that may pass (issue 18, item
 * 13): a handshake that timed out on a busy god is retried; only a wrong key
 * or a protocol the god does not speak stops it for good.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import { connect } from "../mod.ts";
import { serve } from "../lib/server/server.ts";
import { refusedForGood } from "../lib/client/tcp_wire.ts";
import { AuthError, ConnectionLostError, ErrorCode } from "../lib/protocol/errors.ts";
import { encodeFrame } from "../lib/protocol/frame.ts";
import { errorBody } from "../lib/protocol/handshake.ts";
import { AUTHKEY, until } from "./_support/hardening.ts";

test("refusedForGood(): only a wrong key or a foreign protocol is final", () => {
  assert.equal(refusedForGood(new AuthError(ErrorCode.AuthFailed, "x")), true);
  assert.equal(refusedForGood(new AuthError(ErrorCode.VersionMismatch, "x")), true);
  assert.equal(refusedForGood(new AuthError(ErrorCode.HandshakeTimeout, "x")), false);
  assert.equal(refusedForGood(new AuthError(ErrorCode.Limit, "x")), false);
  assert.equal(refusedForGood(new AuthError(ErrorCode.ShuttingDown, "x")), false);
  assert.equal(refusedForGood(new ConnectionLostError("x")), false);
});

test("a client whose reconnect meets a handshake timeout tries again and gets back in", async () => {
  const god = await serve({ listen: "127.0.0.1:0", authkey: AUTHKEY });
  // In front of the god: the second connection is refused as a busy god would (handshake_timeout).
  let connections = 0;
  const open = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    open.add(client);
    client.on("close", () => open.delete(client));
    client.on("error", () => {});
    if (++connections === 2) {
      client.end(encodeFrame(errorBody({
        code: ErrorCode.HandshakeTimeout,
        message: "handshake not finished within 5000 ms",
      })));
      return;
    }
    const upstream = net.connect({ host: "127.0.0.1", port: god.port });
    upstream.on("error", () => client.destroy());
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const port = (proxy.address() as net.AddressInfo).port;
  const client = await connect({ addr: `127.0.0.1:${port}`, authkey: AUTHKEY, maxBackoffMs: 200 });
  try {
    await client.queue("tasks").put("before");
    for (const socket of open) socket.destroy(); // the network drops the connection
    await until("a reconnect past the refusal", () => connections >= 3, 10_000);
    await client.queue("tasks").put("after");
    assert.equal(god.stats("tasks").queues[0].ready, 2);
  } finally {
    await client.close();
    for (const socket of open) socket.destroy();
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
    await god.close();
  }
});
