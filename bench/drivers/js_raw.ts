/**
 * Bench baseline `js.raw`: the seed's pipeline written directly on NATS
 * JetStream with nats.js, no taskwire in between — what JetStream itself allows
 * on this machine, for the `js.*` scenarios to be read against.
 *
 *   js_raw.ts setup     --nats URL                 streams and consumers, then exit
 *   js_raw.ts collector --nats URL --count N       acks results; prints `done` at N distinct
 *   js_raw.ts worker    --nats URL [--window 256]  squares tasks, publishes results
 *   js_raw.ts producer  --nats URL --count N [--window 256]
 *
 * Streams and consumers are set up as taskwire sets up a queue's (work-queue
 * retention, file storage, R1, a 10-minute dedupe window; one durable pull
 * consumer with explicit acks and a 30 s ack wait), and every publish carries
 * a `Nats-Msg-Id`, as taskwire's puts do. The producer keeps `window`
 * publishes outstanding; a worker holds up to `window` tasks at once from the
 * durable pull consumer, publishes each result and acks the task once the
 * result's PubAck arrived; the collector acks each result.
 *
 * Timestamps (`start` from the producer before its first publish, `done` from
 * the collector at the N-th distinct result) are epoch ms, like the Python
 * baseline's.
 */
import process from "node:process";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  AckPolicy,
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  type JsMsg,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { emit, num, onStop, parseArgs } from "./_common.ts";

const NS = 1_000_000;
const STREAMS = {
  tasks: { stream: "RAW_tasks", subject: "raw.tasks" },
  results: { stream: "RAW_results", subject: "raw.results" },
} as const;
const CONSUMER = "raw";

const [role, ...rest] = process.argv.slice(2);
const args = parseArgs(rest);
const window = num(args, "window", 256);
const nc: NatsConnection = await connect({
  servers: args.get("nats") ?? "127.0.0.1:4222",
  name: `js-raw-${role}`,
  // Leaner requests (no stack captured per publish): the baseline is nats.js at its best.
  noAsyncTraces: true,
});
const js = jetstream(nc);
onStop(async () => {
  await nc.close();
});

switch (role) {
  case "setup":
    await setup();
    break;
  case "producer":
    await produce(num(args, "count", 1000));
    break;
  case "worker":
    await work();
    break;
  case "collector":
    await collect(num(args, "count", 1000));
    break;
  default:
    process.stderr.write(`js_raw: unknown role "${role}" (setup|producer|worker|collector)\n`);
    process.exit(2);
}
await nc.close();
process.exit(0);

async function setup(): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const { stream, subject } of Object.values(STREAMS)) {
    await jsm.streams.add({
      name: stream,
      subjects: [subject],
      retention: RetentionPolicy.Workqueue,
      discard: DiscardPolicy.New,
      max_msgs: -1,
      duplicate_window: 600_000 * NS,
      num_replicas: 1,
      storage: StorageType.File,
    });
    await jsm.consumers.add(stream, {
      durable_name: CONSUMER,
      ack_policy: AckPolicy.Explicit,
      ack_wait: 30_000 * NS,
      max_deliver: -1,
      max_ack_pending: -1,
      max_waiting: 4096,
    });
  }
  emit({ event: "setup" });
}

/** Publishes `count` tasks with at most `window` PubAcks outstanding. */
async function produce(count: number): Promise<void> {
  emit({ event: "start", t: Date.now() });
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const n = next++;
      await js.publish(STREAMS.tasks.subject, String(n), { msgID: `task-${n}` });
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, lane));
  emit({ event: "produced", count, t: Date.now() });
}

/** Takes tasks (up to `window` in hand), publishes each square, acks the task after its PubAck. */
async function work(): Promise<void> {
  const consumer = await js.consumers.get(STREAMS.tasks.stream, CONSUMER);
  const messages = await consumer.consume({ max_messages: window });
  emit({ event: "ready" });
  let inHand = 0;
  let room: (() => void) | null = null;
  const finish = async (m: JsMsg) => {
    const n = BigInt(m.string());
    await js.publish(
      STREAMS.results.subject,
      JSON.stringify({ n: String(n), square: String(n * n) }),
      { msgID: `result:${m.seq}` },
    );
    m.ack();
  };
  for await (const m of messages) {
    inHand++;
    finish(m).catch((error) => emit({ event: "error", message: (error as Error).message }))
      .finally(() => {
        inHand--;
        room?.();
      });
    if (inHand >= window) await new Promise<void>((resolve) => room = resolve);
    room = null;
  }
}

/** Acks results until `count` distinct tasks have one. */
async function collect(count: number): Promise<void> {
  const consumer = await js.consumers.get(STREAMS.results.stream, CONSUMER);
  const messages = await consumer.consume({ max_messages: window });
  emit({ event: "ready" });
  const seen = new Set<string>();
  for await (const m of messages) {
    seen.add((JSON.parse(m.string()) as { n: string }).n);
    m.ack();
    if (seen.size >= count) break;
  }
  emit({ event: "done", count: seen.size, t: Date.now() });
}
