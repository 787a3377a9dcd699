/**
 * Fixture for test/wire_test.ts, run as a real process on Node or Deno.
 *
 * Mode "serve" (default): starts a god on 127.0.0.1 (port 0) with the key from
 * TASKWIRE_AUTHKEY, prints `PORT <n>` on a line, and runs an echo worker on
 * this runtime: every job taken from `tasks` is decoded here and put back on
 * `results` as `{ value, runtime }`, so values cross the runtime boundary
 * twice. Runs until killed (the test stops it by PID).
 *
 * Mode "selfcheck": a god and clients in this process go through good and bad
 * connections, then everything is closed and the process must end by itself:
 * a leaked timer or socket keeps it alive, which the test notices.
 */
import * as net from "node:net";
import { connect, serve } from "../../mod.ts";
import { encodeFrame } from "../../lib/protocol/frame.ts";

const mode = process.argv[2] ?? "serve";
const authkey = process.env.TASKWIRE_AUTHKEY;
if (!authkey) {
  console.error("wire_god: set TASKWIRE_AUTHKEY");
  process.exit(2);
}
const runtime = (globalThis as { Deno?: unknown }).Deno ? "deno" : "node";

if (mode === "serve") {
  const god = await serve({ listen: "127.0.0.1:0", authkey, name: `wire-god-${runtime}` });
  const worker = await connect({ addr: `127.0.0.1:${god.port}`, authkey, role: "echo" });
  const results = worker.queue("results");
  (async () => {
    for await (const job of worker.queue("tasks").consume({ prefetch: 256 })) {
      results.put({ value: job.value, runtime }).then(() => job.ack()).catch((error) => {
        console.error(`wire_god: echo failed: ${error}`);
      });
    }
  })().catch((error) => console.error(`wire_god: consumer stopped: ${error}`));
  console.log(`PORT ${god.port}`);
} else if (mode === "selfcheck") {
  const god = await serve({ listen: "127.0.0.1:0", authkey, handshakeTimeoutMs: 200 });
  const addr = `127.0.0.1:${god.port}`;
  const good = await connect({ addr, authkey, role: "good" });
  const raw = (bytes: Uint8Array | null) =>
    new Promise<void>((resolve) => {
      const socket = net.connect({ host: "127.0.0.1", port: god.port }, () => {
        if (bytes) socket.write(bytes);
      });
      socket.on("data", () => {});
      socket.on("error", () => {});
      socket.on("close", () => resolve());
    });
  await Promise.all([
    raw(null), // silent: dropped by the handshake timeout
    raw(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n")),
    raw(Uint8Array.from([0, 0, 0x10, 0])),
    raw(encodeFrame(new Uint8Array(3))),
  ]);
  await connect({ addr, authkey: "wrong", reconnect: false }).then(
    () => console.error("wire_god: wrong key was accepted"),
    () => {},
  );
  await good.queue("tasks").put({ at: new Date(0) });
  const job = await good.queue("tasks").get({ timeout: 2000 });
  await job?.ack();
  await good.close();
  await god.close();
  console.log("SELFCHECK DONE");
  // No process.exit(): the process ends only if nothing was left running.
} else {
  console.error(`wire_god: unknown mode ${mode}`);
  process.exit(2);
}
