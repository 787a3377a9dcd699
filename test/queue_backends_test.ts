/**
 * The queue-semantics tests (test/_support/queue_semantics.ts) over every
 * store and door: the embedded broker and NATS JetStream (a real nats-server
 * started here; skipped with a notice when nats-server is not installed),
 * each through the god's TCP door and through its HTTP face.
 */
import { after } from "node:test";
import { openJetStream } from "../lib/jetstream/open.ts";
import { type God, serve, type ServeOptions } from "../lib/server/server.ts";
import { serveHttp } from "../lib/http/serve.ts";
import { natsSkip, startNats } from "./_support/nats.ts";
import {
  type DoorKind,
  type GodUnderTest,
  queueSemantics,
  SEMANTICS_KEY,
  SEMANTICS_QUEUES,
} from "./_support/queue_semantics.ts";

/** A god of `options` as reached through `door`. */
async function underTest(
  door: DoorKind,
  options: Omit<ServeOptions, "authkey">,
): Promise<GodUnderTest> {
  const god: God = await serve({ listen: "127.0.0.1:0", authkey: SEMANTICS_KEY, ...options });
  if (door === "tcp") return { addr: `127.0.0.1:${god.port}`, close: () => god.close() };
  const face = await serveHttp(god, { listen: "127.0.0.1:0" });
  return {
    addr: face.url,
    close: async () => {
      await face.close();
      await god.close();
    },
  };
}

let nats: Awaited<ReturnType<typeof startNats>> | null = null;
after(async () => {
  await nats?.close();
});

for (const door of ["tcp", "http"] as const) {
  queueSemantics("embedded", door, () => underTest(door, { queues: SEMANTICS_QUEUES }));
  queueSemantics("jetstream", door, async () => {
    nats ??= await startNats();
    // One NATS server for both doors; each god keeps its streams under its own prefix.
    const backend = await openJetStream(nats.node.url, {
      queues: SEMANTICS_QUEUES,
      prefix: `TW${door.toUpperCase()}`,
    });
    return await underTest(door, { backend });
  }, natsSkip());
}
