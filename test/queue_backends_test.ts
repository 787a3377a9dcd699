/**
 * The queue-semantics tests (test/_support/queue_semantics.ts) against both
 * stores: the embedded broker and NATS JetStream (a real nats-server started
 * here; skipped with a notice when nats-server is not installed).
 */
import { after } from "node:test";
import { openJetStream } from "../lib/jetstream/open.ts";
import { serve } from "../lib/server/server.ts";
import { natsSkip, startNats } from "./_support/nats.ts";
import { queueSemantics, SEMANTICS_KEY, SEMANTICS_QUEUES } from "./_support/queue_semantics.ts";

queueSemantics("embedded", async () => {
  const god = await serve({
    listen: "127.0.0.1:0",
    authkey: SEMANTICS_KEY,
    queues: SEMANTICS_QUEUES,
  });
  return { addr: `127.0.0.1:${god.port}`, close: () => god.close() };
});

let stopNats: (() => Promise<void>) | null = null;
after(async () => {
  await stopNats?.();
});

queueSemantics("jetstream", async () => {
  const nats = await startNats();
  stopNats = nats.close;
  const backend = await openJetStream(nats.node.url, { queues: SEMANTICS_QUEUES });
  const god = await serve({ listen: "127.0.0.1:0", authkey: SEMANTICS_KEY, backend });
  return { addr: `127.0.0.1:${god.port}`, close: () => god.close() };
}, natsSkip());
