/**
 * The god's stats in the Prometheus text exposition format (version 0.0.4):
 * per-queue gauges and counters, connections by role, runtime and transport,
 * the store's journal size and, when the store reports fsync durations, an
 * fsync latency histogram.
 */
import type { GodStats, StoreStats } from "../protocol/replies.ts";

/** Upper bounds (seconds) of the fsync histogram buckets. */
export const FSYNC_BUCKETS_S = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
] as const;

/**
 * A cumulative fsync histogram a store may report. When a store reports only
 * `fsyncMs` (its recent durations), the histogram covers that window.
 */
export interface FsyncHistogram {
  /** Upper bounds in ms, ascending. */
  le: number[];
  /** Cumulative counts per bound. */
  counts: number[];
  count: number;
  sumMs: number;
}

/** Escapes a label value per the exposition format. */
function label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function num(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

class Writer {
  readonly lines: string[] = [];

  family(
    name: string,
    type: "gauge" | "counter" | "histogram",
    help: string,
    samples: [Record<string, string>, number][],
    suffix = type === "counter" ? "_total" : "",
  ): void {
    this.lines.push(`# HELP ${name}${suffix} ${help}`);
    this.lines.push(`# TYPE ${name}${suffix} ${type}`);
    for (const [labels, value] of samples) this.sample(`${name}${suffix}`, labels, value);
  }

  sample(name: string, labels: Record<string, string>, value: number): void {
    const entries = Object.entries(labels);
    const text = entries.length === 0
      ? ""
      : `{${entries.map(([k, v]) => `${k}="${label(v)}"`).join(",")}}`;
    this.lines.push(`${name}${text} ${num(value)}`);
  }
}

/** Builds a histogram (ms bounds) from raw durations in ms. */
export function histogramOf(durationsMs: readonly number[]): FsyncHistogram {
  const le = FSYNC_BUCKETS_S.map((s) => s * 1000);
  const counts = le.map((bound) => durationsMs.filter((d) => d <= bound).length);
  return {
    le,
    counts,
    count: durationsMs.length,
    sumMs: durationsMs.reduce((a, b) => a + b, 0),
  };
}

/**
 * Renders stats (TCP and HTTP connections included) as Prometheus text.
 *
 * @example
 * ```ts
 * const text = renderMetrics(god.stats());
 * // taskwire_queue_ready{queue="tasks"} 3 ...
 * ```
 */
export function renderMetrics(stats: GodStats): string {
  const w = new Writer();
  const queues = stats.queues;
  const q = (pick: (s: GodStats["queues"][number]) => number): [Record<string, string>, number][] =>
    queues.map((s) => [{ queue: s.name }, pick(s)]);

  w.family("taskwire_up", "gauge", "1 while the god serves.", [[{
    name: stats.server.name,
    runtime: stats.server.runtime,
  }, 1]]);
  w.family("taskwire_uptime_seconds", "gauge", "Seconds since the god started.", [[
    {},
    stats.server.uptimeMs / 1000,
  ]]);
  w.family("taskwire_queue_ready", "gauge", "Jobs ready to be delivered.", q((s) => s.ready));
  w.family(
    "taskwire_queue_in_flight",
    "gauge",
    "Jobs leased to consumers and not yet acked.",
    q((s) => s.inFlight),
  );
  w.family(
    "taskwire_queue_delayed",
    "gauge",
    "Jobs waiting for their delay to pass.",
    q((s) => s.delayed),
  );
  w.family(
    "taskwire_queue_dead",
    "gauge",
    "Jobs of this queue in its dead-letter queue.",
    q((s) => s.dead),
  );
  w.family(
    "taskwire_queue_consumers",
    "gauge",
    "Push subscriptions on the queue.",
    q((s) => s.consumers),
  );
  w.family(
    "taskwire_queue_waiting_gets",
    "gauge",
    "Gets parked on the queue, waiting for a job.",
    q((s) => s.waitingGets),
  );
  w.family(
    "taskwire_queue_waiting_puts",
    "gauge",
    "Puts parked on the full queue, waiting for room.",
    q((s) => s.waitingPuts),
  );
  w.family("taskwire_queue_maxsize", "gauge", "Bound of the queue (0: none).", q((s) => s.maxsize));
  w.family("taskwire_queue_put", "counter", "Jobs stored by puts.", q((s) => s.totals.put));
  w.family("taskwire_queue_acked", "counter", "Jobs acked.", q((s) => s.totals.acked));
  w.family("taskwire_queue_nacked", "counter", "Jobs nacked.", q((s) => s.totals.nacked));
  w.family(
    "taskwire_queue_redelivered",
    "counter",
    "Deliveries of jobs delivered before.",
    q((s) => s.totals.redelivered),
  );
  w.family(
    "taskwire_queue_expired",
    "counter",
    "Leases that ran out before an ack.",
    q((s) => s.totals.expired),
  );
  w.family(
    "taskwire_queue_dead_lettered",
    "counter",
    "Jobs moved to the dead-letter queue.",
    q((s) => s.totals.deadLettered),
  );
  w.family(
    "taskwire_queue_duplicates",
    "counter",
    "Puts ignored because their id was seen within the dedupe window.",
    q((s) => s.totals.duplicates),
  );
  w.family(
    "taskwire_queue_paused",
    "gauge",
    "1 while the queue is paused (puts taken, nothing handed out).",
    q((s) => s.paused ? 1 : 0),
  );
  w.family(
    "taskwire_queue_rate_limited",
    "gauge",
    "1 while jobs wait for the queue's rate limit.",
    q((s) => s.throttled ? 1 : 0),
  );
  w.family(
    "taskwire_queue_throttled",
    "counter",
    "Times the queue's rate limit held jobs back.",
    q((s) => s.totals.throttled),
  );
  w.family(
    "taskwire_queue_scheduled",
    "counter",
    "Jobs put by the queue's schedules.",
    q((s) => s.totals.scheduled),
  );

  const byKind = new Map<string, { labels: Record<string, string>; count: number }>();
  for (const c of stats.connections) {
    const transport = (c as { transport?: string }).transport ?? "tcp";
    const labels = { role: c.role, runtime: c.runtime, transport };
    const key = JSON.stringify(labels);
    const entry = byKind.get(key) ?? { labels, count: 0 };
    entry.count++;
    byKind.set(key, entry);
  }
  w.family(
    "taskwire_connections",
    "gauge",
    "Connected clients by role, runtime and transport.",
    [...byKind.values()].map((e) => [e.labels, e.count]),
  );

  if (stats.limits) {
    w.family(
      "taskwire_limit_hits",
      "counter",
      "Times a limit refused something (see docs/SECURITY.md).",
      Object.entries(stats.limits.hits).map(([limit, n]) => [{ limit }, n]),
    );
    w.family("taskwire_auth_failures", "counter", "Failed handshakes (wrong key, replay).", [[
      {},
      stats.limits.authFailures,
    ]]);
    w.family(
      "taskwire_throttled_addresses",
      "gauge",
      "Addresses whose failed handshakes are answered late now (they used up their burst).",
      [[{}, stats.limits.throttledAddresses]],
    );
    w.family(
      "taskwire_unauthenticated_connections",
      "gauge",
      "Connections still in their handshake.",
      [[{}, stats.limits.unauthenticated]],
    );
    w.family(
      "taskwire_paused_writers",
      "gauge",
      "Connections whose deliveries are paused because they read too slowly.",
      [[{}, stats.limits.pausedWriters]],
    );
  }

  const store = stats.server.store as StoreStats & { fsyncHistogram?: FsyncHistogram };
  w.family("taskwire_store_info", "gauge", "The store in use (kind and fsync policy).", [[{
    kind: store.kind,
    fsync: store.fsync ?? "none",
  }, 1]]);
  if (store.journalBytes !== undefined) {
    w.family("taskwire_journal_bytes", "gauge", "Size of the journal on disk.", [[
      {},
      store.journalBytes,
    ]]);
  }
  const histogram = store.fsyncHistogram ??
    (store.fsyncMs !== undefined ? histogramOf(store.fsyncMs) : undefined);
  if (histogram !== undefined) {
    const name = "taskwire_journal_fsync_duration_seconds";
    w.lines.push(
      `# HELP ${name} Time the journal spent in fsync${
        store.fsyncHistogram ? "" : " (over the store's recent fsyncs)"
      }.`,
    );
    w.lines.push(`# TYPE ${name} histogram`);
    histogram.le.forEach((bound, i) =>
      w.sample(`${name}_bucket`, { le: num(bound / 1000) }, histogram.counts[i])
    );
    w.sample(`${name}_bucket`, { le: "+Inf" }, histogram.count);
    w.sample(`${name}_sum`, {}, histogram.sumMs / 1000);
    w.sample(`${name}_count`, {}, histogram.count);
  }
  return w.lines.join("\n") + "\n";
}
