/**
 * `/metrics` in Prometheus text format: the numbers it shows, who may read it,
 * and `promtool check metrics` (skipped with a notice where promtool is missing).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { serve } from "../lib/server/server.ts";
import { connect } from "../lib/client/connect.ts";
import { serveHttp } from "../lib/http/serve.ts";
import { renderMetrics } from "../lib/http/metrics.ts";
import type { GodStats } from "../lib/protocol/replies.ts";

const AUTHKEY = "metrics-test-key";

function findPromtool(): string | null {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir && existsSync(`${dir}/promtool`)) return `${dir}/promtool`;
  }
  return null;
}

/** Runs `promtool check metrics` on the text; resolves to its exit code and output. */
function promtool(path: string, text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => output += d);
    child.stderr.on("data", (d) => output += d);
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, output }));
    child.stdin.end(text);
  });
}

async function checkWithPromtool(text: string): Promise<void> {
  const path = findPromtool();
  if (path === null) {
    console.log(
      "NOTICE: promtool not installed (Debian package `prometheus`): skipping `promtool check metrics`",
    );
    return;
  }
  const { code, output } = await promtool(path, text);
  assert.equal(code, 0, `promtool check metrics failed:\n${output}\n--- metrics ---\n${text}`);
}

function sampleValue(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  assert.ok(line, `metrics have ${series}:\n${text}`);
  return Number(line.slice(series.length + 1));
}

test("/metrics shows queues and connections and passes promtool", async () => {
  const god = await serve({ listen: "127.0.0.1:0", authkey: AUTHKEY });
  const face = await serveHttp(god, { listen: "127.0.0.1:0" });
  const http = await connect({ addr: face.url, authkey: AUTHKEY, role: "producer" });
  const tcp = await connect({ addr: `127.0.0.1:${god.port}`, authkey: AUTHKEY, role: "consumer" });
  try {
    await http.queue<number>("tasks").putMany([1, 2, 3, 4]);
    await http.queue<number>("tasks").put(5, { delay: 60_000 });
    const job = await tcp.queue<number>("tasks").get({ timeout: 1000 });
    await job!.ack();
    const held = await tcp.queue<number>("tasks").get({ timeout: 1000 });
    assert.ok(held);

    const unauthorized = await fetch(`${face.url}/metrics`);
    assert.equal(unauthorized.status, 401);
    await unauthorized.body?.cancel();

    const response = await fetch(`${face.url}/metrics`, {
      headers: { authorization: `Bearer ${face.viewerToken}` },
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    assert.equal(sampleValue(text, 'taskwire_queue_ready{queue="tasks"}'), 2);
    assert.equal(sampleValue(text, 'taskwire_queue_in_flight{queue="tasks"}'), 1);
    assert.equal(sampleValue(text, 'taskwire_queue_delayed{queue="tasks"}'), 1);
    assert.equal(sampleValue(text, 'taskwire_queue_dead{queue="tasks"}'), 0);
    assert.equal(sampleValue(text, 'taskwire_queue_put_total{queue="tasks"}'), 5);
    assert.equal(sampleValue(text, 'taskwire_queue_acked_total{queue="tasks"}'), 1);
    assert.equal(sampleValue(text, 'taskwire_queue_redelivered_total{queue="tasks"}'), 0);
    assert.match(
      text,
      /taskwire_connections\{role="producer",runtime="[^"]+",transport="http"\} 1/,
    );
    assert.match(text, /taskwire_connections\{role="consumer",runtime="[^"]+",transport="tcp"\} 1/);
    assert.match(text, /taskwire_store_info\{kind="memory",fsync="none"\} 1/);
    await checkWithPromtool(text);
    await held.ack();
  } finally {
    await http.close();
    await tcp.close();
    await face.close();
    await god.close();
  }
});

test("renderMetrics() renders journal bytes, an fsync histogram and escaped labels", async () => {
  const stats: GodStats = {
    server: {
      name: 'god "one"\\',
      runtime: "deno 2.x",
      uptimeMs: 1500,
      address: "127.0.0.1:1",
      store: {
        kind: "journal",
        fsync: "always",
        journalBytes: 12345,
        fsyncMs: [0.2, 0.9, 3, 40, 700],
      },
    },
    queues: [{
      name: "q\nx",
      ready: 1,
      delayed: 0,
      inFlight: 0,
      dead: 2,
      consumers: 0,
      waitingGets: 0,
      waitingPuts: 0,
      maxsize: 0,
      paused: true,
      rateLimit: null,
      throttled: false,
      progress: [],
      totals: {
        put: 3,
        acked: 0,
        nacked: 0,
        redelivered: 1,
        expired: 0,
        deadLettered: 2,
        duplicates: 0,
        throttled: 4,
        scheduled: 5,
      },
      rates: { put: 0, acked: 0 },
    }],
    connections: [],
  };
  const text = renderMetrics(stats);
  assert.match(text, /taskwire_up\{name="god \\"one\\"\\\\",runtime="deno 2.x"\} 1/);
  assert.match(text, /taskwire_queue_dead\{queue="q\\nx"\} 2/);
  assert.match(text, /taskwire_queue_paused\{queue="q\\nx"\} 1/);
  assert.match(text, /taskwire_queue_throttled_total\{queue="q\\nx"\} 4/);
  assert.match(text, /taskwire_queue_scheduled_total\{queue="q\\nx"\} 5/);
  assert.equal(sampleValue(text, "taskwire_journal_bytes"), 12345);
  assert.equal(
    sampleValue(text, 'taskwire_journal_fsync_duration_seconds_bucket{le="0.001"}'),
    2,
  );
  assert.equal(sampleValue(text, 'taskwire_journal_fsync_duration_seconds_bucket{le="+Inf"}'), 5);
  assert.equal(sampleValue(text, "taskwire_journal_fsync_duration_seconds_count"), 5);
  await checkWithPromtool(text);
});
