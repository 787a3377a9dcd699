/**
 * The benchmark's scenarios: the seed's pipeline in several shapes, stores and
 * runtimes, the Python baselines they are compared with, the 1M-job runs, and
 * the same pipeline on other queues (the peers, `--peers`).
 */
import type { Runtime } from "./procs.ts";
import { PEER_NAMES, type PeerName, PEERS } from "./peers/systems.ts";

/**
 * Where the god keeps its queues: in memory, a journal with an fsync policy, or
 * NATS JetStream (`--store nats://...`, shared by several gods).
 */
export type StoreKind = "memory" | "always" | "batch" | "off" | "jetstream";

/** What a scenario measures. */
export type ScenarioKind = "throughput" | "paced" | "million";

/** One benchmark scenario. */
export interface Scenario {
  /** Unique, dotted: `mem.1x2.node`, `paced500.always.deno`, `python.1x2`. */
  name: string;
  description: string;
  /** Who runs it: taskwire, the Python original, nats.js directly on JetStream (`js.raw`), or a peer. */
  system: "taskwire" | "python" | "nats" | "peer";
  /** Peer scenarios: which peer (bench/peers/systems.ts). */
  peer?: PeerName;
  kind: ScenarioKind;
  store: StoreKind;
  god: Runtime;
  producer: Runtime;
  /** One runtime per consumer process. */
  consumers: Runtime[];
  /** `--concurrency` of each consumer (taskwire); threads per consumer (Python). Unset: the role's default. */
  concurrency?: number;
  /** Paced scenarios: tasks per second. */
  rate?: number;
  /** Paced scenarios: the producer awaits each task's answer with `queue.call()` instead of reading the results queue. */
  call?: boolean;
  /** The baseline its figures are divided by (a Python scenario; `js.raw` for `js.*`). */
  baseline?: string;
  /** Part of the `--quick` smoke run. */
  quick?: boolean;
  /** God processes sharing the store (JetStream only; default 1). */
  gods?: number;
  /** A taskwire scenario to read it next to (selected with it; a peer's is taskwire in the same shape). */
  compare?: string;
  /**
   * The producer and consumers are the Python baseline's scripts
   * (bench/python/*.py, BaseManager proxies), pointed at the god's Python door
   * (`--python`); `concurrency` is the consumer's threads.
   */
  pythonWorkers?: boolean;
  /**
   * Producers and consumers reach the god through a proxy that holds every
   * chunk this long in each direction (a long link: 10 → 20 ms round trips);
   * such runs put `--far-n` tasks (Python a tenth of them).
   */
  linkDelayMs?: number;
}

/** One way of the long link of the `far20.*` scenarios: 20 ms round trips. */
export const FAR_DELAY_MS = 10;

const STORE_LABEL = { memory: "mem", always: "always", batch: "batch", off: "off" } as const;
const STORE_TEXT = {
  memory: "in memory",
  always: "journal, fsync always",
  batch: "journal, fsync batch",
  off: "journal, fsync off",
} as const;

/** The paced rate of the latency scenarios. */
export const PACED_RATE = 500;

/** Every scenario, Python baselines first (so their figures exist when ratios are printed). */
export function allScenarios(): Scenario[] {
  const out: Scenario[] = [
    {
      name: "python.1x1",
      description: "Python BaseManager: 1 producer × 1 consumer",
      system: "python",
      kind: "throughput",
      store: "memory",
      god: "node",
      producer: "node",
      consumers: ["node"],
      concurrency: 1,
    },
    {
      name: "python.1x2",
      description: "Python BaseManager: 1 producer × 2 consumers",
      system: "python",
      kind: "throughput",
      store: "memory",
      god: "node",
      producer: "node",
      consumers: ["node", "node"],
      concurrency: 1,
    },
    {
      name: "python.1x1t4",
      description: "Python BaseManager: 1 producer × 1 consumer with 4 threads",
      system: "python",
      kind: "throughput",
      store: "memory",
      god: "node",
      producer: "node",
      consumers: ["node"],
      concurrency: 4,
    },
    {
      name: `python.paced${PACED_RATE}`,
      description: `Python BaseManager: paced at ${PACED_RATE} tasks/s, 1 consumer`,
      system: "python",
      kind: "paced",
      store: "memory",
      god: "node",
      producer: "node",
      consumers: ["node"],
      concurrency: 1,
      rate: PACED_RATE,
    },
    {
      name: "python.far20.1x1",
      description:
        "Python BaseManager across a link with 20 ms round trips: 1 producer × 1 consumer",
      system: "python",
      kind: "throughput",
      store: "memory",
      god: "node",
      producer: "node",
      consumers: ["node"],
      concurrency: 1,
      linkDelayMs: FAR_DELAY_MS,
    },
  ];
  const runtimes: Runtime[] = ["node", "deno"];
  const stores = ["memory", "always", "batch", "off"] as const;
  for (const rt of runtimes) {
    for (const store of stores) {
      const s = STORE_LABEL[store];
      const where = `${STORE_TEXT[store]}, all ${rt}`;
      out.push(
        {
          name: `${s}.1x1.${rt}`,
          description: `1 producer × 1 consumer (${where})`,
          system: "taskwire",
          kind: "throughput",
          store,
          god: rt,
          producer: rt,
          consumers: [rt],
          baseline: "python.1x1",
          quick: rt === "node" && store === "always",
        },
        {
          name: `${s}.1x2.${rt}`,
          description: `1 producer × 2 consumer processes (${where})`,
          system: "taskwire",
          kind: "throughput",
          store,
          god: rt,
          producer: rt,
          consumers: [rt, rt],
          baseline: "python.1x2",
          quick: rt === "node" && store === "memory",
        },
        {
          name: `${s}.1x1c4.${rt}`,
          description: `1 producer × 1 consumer --concurrency 4 (${where})`,
          system: "taskwire",
          kind: "throughput",
          store,
          god: rt,
          producer: rt,
          consumers: [rt],
          concurrency: 4,
          baseline: "python.1x1t4",
          quick: rt === "deno" && store === "memory",
        },
        {
          name: `paced${PACED_RATE}.${s}.${rt}`,
          description: `paced at ${PACED_RATE} tasks/s for latency, 1 consumer (${where})`,
          system: "taskwire",
          kind: "paced",
          store,
          god: rt,
          producer: rt,
          consumers: [rt],
          rate: PACED_RATE,
          baseline: `python.paced${PACED_RATE}`,
          quick: rt === "node" && store === "memory",
        },
      );
      if (store === "memory") {
        out.push({
          name: `call${PACED_RATE}.${s}.${rt}`,
          description:
            `paced at ${PACED_RATE} calls/s: queue.call() awaits each answer, 1 consumer (${where})`,
          system: "taskwire",
          kind: "paced",
          store,
          god: rt,
          producer: rt,
          consumers: [rt],
          rate: PACED_RATE,
          call: true,
          baseline: `python.paced${PACED_RATE}`,
          quick: rt === "deno",
        });
      }
    }
  }
  out.push({
    name: "js.raw",
    description:
      "nats.js directly on one JetStream server: producer, 2 worker processes, collector (baseline of js.*)",
    system: "nats",
    kind: "throughput",
    store: "jetstream",
    god: "node",
    producer: "node",
    consumers: ["node", "node"],
    quick: true,
  });
  out.push({
    name: "js.1x2.node",
    description:
      "2 gods on one NATS JetStream server: producer on god A, 2 consumer processes on god B (all node)",
    system: "taskwire",
    kind: "throughput",
    store: "jetstream",
    god: "node",
    producer: "node",
    consumers: ["node", "node"],
    gods: 2,
    baseline: "js.raw",
    compare: "mem.1x2.node",
    quick: true,
  });
  out.push({
    name: "mixed.mem.1x2",
    description: "mixed runtimes: god on Deno, producer on Node, consumers on Node and Deno",
    system: "taskwire",
    kind: "throughput",
    store: "memory",
    god: "deno",
    producer: "node",
    consumers: ["node", "deno"],
    baseline: "python.1x2",
    quick: true,
  });
  out.push(...peerScenarios());
  for (const rt of runtimes) {
    out.push({
      name: `pydoor.1x1.${rt}`,
      description:
        `the Python baseline's producer and consumer on the god's Python door (in memory, god on ${rt})`,
      system: "taskwire",
      kind: "throughput",
      store: "memory",
      god: rt,
      producer: rt,
      consumers: [rt],
      concurrency: 1,
      pythonWorkers: true,
      baseline: "python.1x1",
      quick: rt === "node",
    });
  }
  out.push({
    name: "pydoor.1x1t4.node",
    description:
      "the Python baseline's producer and a 4-thread consumer on the god's Python door (in memory, god on node)",
    system: "taskwire",
    kind: "throughput",
    store: "memory",
    god: "node",
    producer: "node",
    consumers: ["node"],
    concurrency: 4,
    pythonWorkers: true,
    baseline: "python.1x1t4",
  });
  for (const rt of runtimes) {
    out.push({
      name: `far20.1x1.${rt}`,
      description:
        `1 producer × 1 consumer across a link with 20 ms round trips (in memory, all ${rt})`,
      system: "taskwire",
      kind: "throughput",
      store: "memory",
      god: rt,
      producer: rt,
      consumers: [rt],
      linkDelayMs: FAR_DELAY_MS,
      baseline: "python.far20.1x1",
      quick: rt === "node",
    });
  }
  for (const rt of runtimes) {
    out.push(
      {
        name: `million.mem.${rt}`,
        description: `1M queued jobs in memory, then drained by 2 consumers (all ${rt})`,
        system: "taskwire",
        kind: "million",
        store: "memory",
        god: rt,
        producer: rt,
        consumers: [rt, rt],
      },
      {
        name: `million.batch.${rt}`,
        description:
          `1M queued jobs in the journal (fsync batch), god killed and restarted, then drained (all ${rt})`,
        system: "taskwire",
        kind: "million",
        store: "batch",
        god: rt,
        producer: rt,
        consumers: [rt, rt],
      },
    );
  }
  return out;
}

/**
 * The peers' scenarios: taskwire's shapes (1x1, 1x1c4, 1x2, paced) on each
 * peer, in memory and in its fsync-each-write mode, each compared with
 * taskwire on Node in the same shape and store (`compare`). `--peers --quick`
 * runs each peer's server and client in both modes (1x1) and its paced driver
 * once: the shapes differ only in counts, which the full run covers.
 */
function peerScenarios(): Scenario[] {
  const out: Scenario[] = [];
  const modes = [["memory", "mem", "in memory"], ["always", "always", "fsync each write"]] as const;
  for (const peer of PEER_NAMES) {
    for (const [store, label, text] of modes) {
      const common = {
        system: "peer",
        peer,
        store,
        god: "node",
        producer: "node",
      } as const;
      const what = `${PEERS[peer].description} (${text})`;
      out.push(
        {
          ...common,
          name: `${peer}.${label}.1x1`,
          description: `1 producer × 1 consumer: ${what}`,
          kind: "throughput",
          consumers: ["node"],
          compare: `${label}.1x1.node`,
          quick: true,
        },
        {
          ...common,
          name: `${peer}.${label}.1x1c4`,
          description: `1 producer × 1 consumer with 4 tasks in hand: ${what}`,
          kind: "throughput",
          consumers: ["node"],
          concurrency: 4,
          compare: `${label}.1x1c4.node`,
        },
        {
          ...common,
          name: `${peer}.${label}.1x2`,
          description: `1 producer × 2 consumer processes: ${what}`,
          kind: "throughput",
          consumers: ["node", "node"],
          compare: `${label}.1x2.node`,
        },
        {
          ...common,
          name: `paced${PACED_RATE}.${peer}.${label}`,
          description: `paced at ${PACED_RATE} tasks/s for latency, 1 consumer: ${what}`,
          kind: "paced",
          consumers: ["node"],
          rate: PACED_RATE,
          compare: `paced${PACED_RATE}.${label}.node`,
          quick: store === "memory",
        },
      );
    }
  }
  return out;
}

/**
 * The scenarios to run: `--quick` picks the smoke set, `--only` keeps names
 * containing any of the given substrings, `--skip` drops those containing
 * any of its substrings, every selected taskwire scenario brings its
 * baseline along (a Python one unless `withBaselines` is false) and the
 * scenario it is compared with (`compare`). With `peers`, the choice is among the peers'
 * scenarios (each bringing taskwire's in its shape); without, among the others.
 */
export function selectScenarios(
  options: {
    quick: boolean;
    only: readonly string[];
    skip?: readonly string[];
    withBaselines: boolean;
    peers?: boolean;
  },
): Scenario[] {
  const all = allScenarios();
  const skip = options.skip ?? [];
  let chosen = all.filter((s) =>
    (s.system === "peer") === (options.peers ?? false) &&
    (options.only.length > 0
      ? options.only.some((o) => s.name.includes(o))
      : !options.quick || s.quick === true) &&
    !skip.some((k) => s.name.includes(k))
  );
  const compared = new Set(chosen.map((s) => s.compare).filter((c) => c !== undefined));
  if (compared.size > 0) chosen = all.filter((s) => chosen.includes(s) || compared.has(s.name));
  // Baselines come along; Python's only when there is a Python to run them.
  const wanted = new Set(chosen.map((s) => s.baseline).filter((b) => b !== undefined));
  chosen = all.filter((s) => chosen.includes(s) || wanted.has(s.name));
  if (!options.withBaselines) chosen = chosen.filter((s) => s.system !== "python");
  return chosen;
}
