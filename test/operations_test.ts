/**
 * The operations layer on its own (no door, no socket): each operation checks
 * its arguments in one place, answers only once the store has committed,
 * keeps the backend's clock running, and hands leases of abandoned waits back.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Broker } from "../lib/queue/broker.ts";
import type { Delivery } from "../lib/queue/types.ts";
import { ask, type Done, Operations } from "../lib/ops/operations.ts";
import type { Caller } from "../lib/ops/caller.ts";
import { MemoryStore, type Store } from "../lib/store/store.ts";
import { ErrorCode, LimitError, RemoteError, TaskwireError } from "../lib/protocol/errors.ts";
import { StoreError } from "../lib/store/open.ts";
import { resolveLimits } from "../lib/protocol/limits.ts";
import type { JournalRecord } from "../lib/queue/types.ts";

const TEXT = '{"json":1}';

function setup(
  options: { store?: Store; limits?: Parameters<typeof resolveLimits>[0] } = {},
) {
  const limitHits: string[] = [];
  const store = options.store ?? new MemoryStore();
  const broker = new Broker({
    queues: { q: {}, short: { leaseMs: 60 } },
    journal: (record) => store.append(record),
  });
  const ops = new Operations({
    backend: broker,
    store,
    limits: resolveLimits(options.limits),
    name: "ops-test",
    onLimit: (limit) => limitHits.push(limit),
  });
  const caller = ops.attach({
    door: "local",
    remote: "test",
    role: "test",
    runtime: "test",
    name: "tester",
  });
  const put = (queue: string, count = 1) =>
    ask((done) =>
      ops.put(caller, {
        queue,
        items: Array.from({ length: count }, () => ({})),
        payloads: Array.from({ length: count }, () => TEXT),
      }, (i) =>
        `id-${Math.random()}-${i}`, done)
    );
  return { ops, caller, put, limitHits, close: () => ops.close() };
}

/** The error an operation answers with (fails the test when it succeeds). */
function refusal<T>(run: (done: Done<T>) => void): TaskwireError {
  let outcome: unknown = "not answered";
  run((o) => outcome = o);
  assert.ok(outcome instanceof TaskwireError, `expected a refusal, got ${String(outcome)}`);
  return outcome;
}

test("every operation refuses bad arguments with bad_argument, naming the field", () => {
  const { ops, caller, close } = setup();
  try {
    const cases: [string, TaskwireError, RegExp][] = [
      [
        "get timeout -1",
        refusal((d) => ops.get(caller, { queue: "q", timeout: -1 }, d)),
        /Invalid timeout/,
      ],
      [
        "get timeout Infinity",
        refusal((d) => ops.get(caller, { queue: "q", timeout: Infinity }, d)),
        /Invalid timeout/,
      ],
      ["get max 0", refusal((d) => ops.get(caller, { queue: "q", max: 0 }, d)), /Invalid max/],
      [
        "queue not a string",
        refusal((d) => ops.peek(caller, { queue: 42 }, d)),
        /Invalid queue name: 42/,
      ],
      [
        "put delay -5",
        refusal((d) =>
          ops.put(caller, { queue: "q", items: [{ delay: -5 }], payloads: [TEXT] }, () => "x", d)
        ),
        /Invalid delay/,
      ],
      [
        "put id a number",
        refusal((d) =>
          ops.put(caller, { queue: "q", items: [{ id: 7 }], payloads: [TEXT] }, () => "x", d)
        ),
        /Invalid job id: 7/,
      ],
      [
        "put priority 1.5",
        refusal((d) =>
          ops.put(
            caller,
            { queue: "q", items: [{ priority: 1.5 }], payloads: [TEXT] },
            () => "x",
            d,
          )
        ),
        /Invalid priority: 1.5/,
      ],
      [
        "ack tags not an array",
        refusal((d) => ops.ack(caller, { tags: "1" }, d)),
        /tags must be an array/,
      ],
      [
        "ack tag not an integer",
        refusal((d) => ops.ack(caller, { tags: [1.5] }, d)),
        /tags must be integers/,
      ],
      ["nack tag 0", refusal((d) => ops.nack(caller, { tag: 0 }, d)), /Invalid lease tag: 0/],
      ["touch tag text", refusal((d) => ops.touch(caller, { tag: "1" }, d)), /Invalid lease tag/],
      [
        "peek count -1",
        refusal((d) => ops.peek(caller, { queue: "q", limit: -1 }, d)),
        /Invalid count/,
      ],
      [
        "requeue ids",
        refusal((d) => ops.deadRequeue(caller, { queue: "q", ids: [1] }, d)),
        /ids must be/,
      ],
      [
        "declare options",
        refusal((d) => ops.declare(caller, { queue: "q", options: 3 }, d)),
        /options must be/,
      ],
      [
        "declare maxsize",
        refusal((d) => ops.declare(caller, { queue: "q", options: { maxsize: -1 } }, d)),
        /Invalid maxsize/,
      ],
    ];
    for (const [what, error, message] of cases) {
      assert.ok(error instanceof RemoteError, what);
      assert.equal(error.code, ErrorCode.BadArgument, what);
      assert.match(error.message, message, what);
    }
    assert.throws(
      () => ops.consume(caller, { queue: "q", prefetch: 0 }, () => {}),
      /Invalid prefetch: 0 \(expected an integer from 1 to 100000\)/,
    );
  } finally {
    close();
  }
});

test("a refusal by a limit is a LimitError and is counted", () => {
  const { ops, caller, limitHits, close } = setup({
    limits: { maxAckTags: 2, maxPayloadBytes: 8 },
  });
  try {
    const ack = refusal((d) => ops.ack(caller, { tags: [1, 2, 3] }, d));
    assert.ok(ack instanceof LimitError);
    assert.equal(ack.limit, "ackTags");
    const big = refusal((d) =>
      ops.put(caller, { queue: "q", items: [{}], payloads: ["0123456789"] }, () => "x", d)
    );
    assert.ok(big instanceof LimitError);
    assert.match(big.message, /a payload of 10 bytes exceeds maxPayloadBytes 8/);
    assert.deepEqual(limitHits, ["ackTags", "payload"]);
  } finally {
    close();
  }
});

test("a put is answered only once the store has committed it", async () => {
  const commits: (() => void)[] = [];
  const records: JournalRecord[] = [];
  const store: Store = {
    append: (record) => records.push(record),
    afterCommit: (fn) => commits.push(fn),
    stats: () => ({ kind: "journal" }),
    close: () => Promise.resolve(),
  };
  const { put, close } = setup({ store });
  try {
    let answered = false;
    const putting = put("q").then(() => answered = true);
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(records.filter((r) => r.t === "put").length, 1, "the record was appended");
    assert.equal(answered, false, "but not answered before the commit");
    commits.splice(0).forEach((fn) => fn());
    await putting;
    assert.equal(answered, true);
  } finally {
    close();
  }
});

test("a store that cannot make records durable refuses puts at once; gets and acks go on", async () => {
  const stalled = new StoreError(
    "Cannot write journal /data: the disk is full (ENOSPC); free space",
    undefined,
    ErrorCode.Unavailable,
  );
  let health: ReturnType<NonNullable<Store["health"]>> = { state: "ok" };
  const memory = new MemoryStore();
  const store: Store = {
    append: (record) => memory.append(record),
    afterCommit: (fn) => memory.afterCommit(fn),
    stats: () => ({ kind: "journal", state: health.state }),
    health: () => health,
    close: () => Promise.resolve(),
  };
  const { ops, caller, put, close } = setup({ store });
  try {
    await put("q");
    health = { state: "stalled", error: stalled, since: new Date().toISOString() };
    const refused = refusal((done) =>
      ops.put(caller, { queue: "q", items: [{}], payloads: [TEXT] }, () => "x", done)
    );
    assert.equal(refused.code, ErrorCode.Unavailable);
    assert.match(refused.message, /the disk is full/);
    const [delivery] = await ask<Delivery[]>((done) => ops.get(caller, { queue: "q" }, done));
    const { failed } = await ask<{ failed: unknown[] }>((done) =>
      ops.ack(caller, { tags: [delivery.tag] }, done)
    );
    assert.deepEqual(failed, []);
    health = { state: "ok" };
    await put("q");
  } finally {
    close();
  }
});

test("a lease taken by a push consumer expires with no other request to wake the clock", async () => {
  const { ops, caller, put, close } = setup();
  try {
    await put("short");
    const delivered: Delivery[] = [];
    const sub = ops.consume(caller, { queue: "short", prefetch: 1 }, (d) => delivered.push(...d));
    assert.equal(delivered.length, 1);
    ops.cancel(caller, sub);
    // Nothing else happens; the 60 ms lease must still run out and the job come back.
    for (let i = 0; i < 100 && ops.snapshot("short").queues[0].ready === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const [stats] = ops.snapshot("short").queues;
    assert.equal(stats.ready, 1);
    assert.equal(stats.totals.expired, 1);
  } finally {
    close();
  }
});

test("a wait with a signal runs under its own owner: an abort ends it and hands back what it took", async () => {
  const { ops, caller, put, close } = setup();
  try {
    // Abandoned while parked: the waiter goes away.
    const parked = new AbortController();
    let answered = false;
    ops.get(caller, { queue: "q", timeout: 10_000 }, () => answered = true, parked.signal);
    assert.equal(ops.snapshot("q").queues[0].waitingGets, 1);
    parked.abort();
    assert.equal(ops.snapshot("q").queues[0].waitingGets, 0);
    await put("q");
    assert.equal(answered, false, "an aborted wait is not answered");
    assert.equal(ops.snapshot("q").queues[0].ready, 1, "the job is left for others");

    // Answered, then acked by the same caller: the lease is found under the borrowed owner.
    const taken = new AbortController();
    const [delivery] = await ask<Delivery[]>((done) =>
      ops.get(caller, { queue: "q", timeout: 0 }, done, taken.signal)
    );
    assert.equal(caller.leases, 1);
    const { failed } = await ask<{ failed: unknown[] }>((done) =>
      ops.ack(caller, { tags: [delivery.tag] }, done)
    );
    assert.deepEqual(failed, []);
    assert.equal(caller.leases, 0);
    assert.equal(ops.snapshot("q").queues[0].totals.acked, 1);
  } finally {
    close();
  }
});

test("detach() returns a caller's leases and ends its waits", async () => {
  const { ops, caller, put, close } = setup();
  try {
    await put("q", 2);
    const deliveries = await ask<Delivery[]>((done) =>
      ops.get(caller, { queue: "q", max: 2 }, done)
    );
    assert.equal(deliveries.length, 2, "get takes up to max jobs");
    const other = ops.attach({
      door: "local",
      remote: "t",
      role: "t",
      runtime: "t",
      name: "other",
    });
    ops.get(other, { queue: "q", timeout: 10_000 }, () => {});
    assert.equal(ops.snapshot("q").queues[0].waitingGets, 1);
    ops.detach(other);
    assert.equal(ops.snapshot("q").queues[0].waitingGets, 0);
    assert.equal(ops.snapshot().connections.length, 1, "a detached caller is no longer listed");
    ops.detach(caller);
    const [stats] = ops.snapshot("q").queues;
    assert.equal(stats.inFlight, 0);
    assert.equal(stats.ready, 2);
  } finally {
    close();
  }
});

test("stats list attached callers with their door, and not the unlisted ones", () => {
  const { ops, close } = setup();
  try {
    ops.attach({
      door: "http",
      remote: "1.2.3.4:5",
      role: "consumer",
      runtime: "bun 1",
      name: "b",
    });
    ops.attach({ door: "local", remote: "x", role: "god", runtime: "x", name: "c", listed: false });
    const names = ops.snapshot().connections.map((c) => `${c.name}/${c.transport}`);
    assert.deepEqual(names.sort(), ["b/http", "tester/local"]);
  } finally {
    close();
  }
});

// A type-level check that a caller is what doors hold.
const _caller: (c: Caller) => string = (c) => c.info.door;
