/**
 * What the JetStream store does not support of flow control yet is refused
 * with a message that says so and where to read more, never silently
 * ignored: pausing, rate limits and retry policies (queue options and per
 * put), schedules, progress, listing jobs in flight and deleting dead
 * letters. Against a real nats-server where one is installed; the refusal
 * rule itself is checked everywhere.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, RemoteError, serve } from "../mod.ts";
import { openJetStream } from "../lib/jetstream/open.ts";
import { refuseFlowOptions } from "../lib/jetstream/backend.ts";
import { defaultQueueOptions } from "../lib/queue/options.ts";
import { natsSkip, startNats } from "./_support/nats.ts";

const skip = natsSkip();
const authkey = "flow-jetstream-key";

test("refuseFlowOptions() names every unsupported option and says what to do", () => {
  const plain = defaultQueueOptions("tasks");
  refuseFlowOptions("tasks", plain);
  assert.throws(
    () =>
      refuseFlowOptions("tasks", {
        ...plain,
        paused: true,
        rateLimit: { count: 1, perMs: 1000 },
      }),
    (e: unknown) =>
      e instanceof RemoteError &&
      e.message ===
        'Cannot declare queue "tasks" with paused, rateLimit: the JetStream store does not support them yet (docs/FLOW.md); use the embedded store for this queue, or leave them out',
  );
});

test(
  "a god on JetStream refuses each flow feature it lacks, with a clear error",
  { skip },
  async () => {
    const nats = await startNats();
    const backend = await openJetStream(nats.node.url, { queues: { tasks: {} } });
    const god = await serve({ listen: "127.0.0.1:0", authkey, backend });
    const client = await connect({ addr: `127.0.0.1:${god.port}`, authkey });
    try {
      const refused = async (run: Promise<unknown>, pattern: RegExp) =>
        await assert.rejects(
          run,
          (e: unknown) => e instanceof RemoteError && pattern.test(e.message),
        );
      await refused(client.pause("tasks"), /paused: the JetStream store does not support it yet/);
      await refused(
        client.declare("tasks", { rateLimit: { count: 5, perMs: 1000 } }),
        /rateLimit: the JetStream store does not support it yet/,
      );
      await refused(
        client.declare("tasks", {
          backoff: { type: "fixed", delayMs: 1000, maxMs: 1000, jitter: false },
        }),
        /backoff: the JetStream store does not support it yet/,
      );
      await refused(
        client.queue("tasks").put(1, { backoff: { type: "fixed", delayMs: 10 } }),
        /with a retry policy \(backoff\): the JetStream store does not support one yet/,
      );
      await refused(
        client.schedule("nightly", { queue: "tasks", cron: "0 3 * * *" }),
        /Cannot add a schedule: the JetStream store does not support it yet \(docs\/FLOW.md\)/,
      );
      await refused(client.schedules(), /Cannot list schedules: the JetStream store/);
      await refused(client.inFlight("tasks"), /Cannot list jobs in flight: the JetStream store/);
      await refused(client.deadDelete("tasks"), /Cannot delete dead letters: the JetStream store/);
      await client.queue<number>("tasks").put(7);
      const job = (await client.queue<number>("tasks").get({ timeout: 5000 }))!;
      await refused(job.progress(50), /Cannot report progress: the JetStream store/);
      await job.ack();
      // What it does support still works: the queue is as it was.
      const [stats] = (await client.stats("tasks")).queues;
      assert.deepEqual([stats.paused, stats.rateLimit], [false, null]);
    } finally {
      await client.close();
      await god.close();
      await nats.close();
    }
  },
);
