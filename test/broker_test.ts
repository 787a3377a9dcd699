/** The queue rules without any I/O: time is passed in, results come back through callbacks. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Broker } from "../lib/queue/broker.ts";
import { Owner, type PutResult } from "../lib/queue/backend.ts";
import type { Delivery, PutItem } from "../lib/queue/types.ts";
import { RemoteError } from "../lib/protocol/errors.ts";

let ids = 0;
function item(text: string, options: Partial<PutItem> = {}): PutItem {
  return { id: `id-${++ids}`, payload: text, priority: 0, delayMs: 0, ...options };
}
function text(delivery: Delivery | null): string | null {
  return delivery === null ? null : delivery.job.payload;
}
function put(broker: Broker, queue: string, items: PutItem[], now = 0, timeoutMs = 1000) {
  let result: PutResult | RemoteError | undefined;
  broker.put(null, queue, items, { now, timeoutMs }, (r) => result = r);
  return () => result;
}
function get(broker: Broker, owner: Owner, queue: string, now = 0, timeoutMs = 0) {
  let result: Delivery | null | undefined;
  broker.get(owner, queue, { now, timeoutMs }, (d) => result = d);
  return () => result;
}

test("Broker.get() hands out jobs in FIFO order within a priority, higher priority first", () => {
  const broker = new Broker({ queues: { q: {} } });
  const owner = new Owner();
  put(broker, "q", [
    item("a"),
    item("b"),
    item("hi", { priority: 5 }),
    item("c"),
    item("lo", { priority: -1 }),
  ]);
  const order = [];
  for (let i = 0; i < 5; i++) order.push(text(get(broker, owner, "q")()!));
  assert.deepEqual(order, ["hi", "a", "b", "c", "lo"]);
  assert.equal(get(broker, owner, "q")(), null);
});

test("Broker.get() parks until a put arrives, and times out to null", () => {
  const broker = new Broker({ queues: { q: {} } });
  const owner = new Owner();
  const waiting = get(broker, owner, "q", 0, 1000);
  assert.equal(waiting(), undefined, "still parked");
  assert.equal(broker.stats(0, "q")[0].waitingGets, 1);
  put(broker, "q", [item("x")], 10);
  assert.equal(text(waiting()!), "x");
  const timingOut = get(broker, owner, "q", 20, 500);
  assert.equal(broker.nextDeadline(), 520);
  broker.tick(519);
  assert.equal(timingOut(), undefined);
  broker.tick(520);
  assert.equal(timingOut(), null);
  assert.equal(broker.stats(600, "q")[0].waitingGets, 0);
});

test("Broker.subscribe() keeps exactly prefetch jobs in flight and acks open the window", () => {
  const broker = new Broker({ queues: { q: {} } });
  const owner = new Owner();
  put(broker, "q", Array.from({ length: 10 }, (_, i) => item(`j${i}`)));
  const got: Delivery[] = [];
  broker.subscribe(owner, "q", { prefetch: 3, now: 0 }, (d) => got.push(...d));
  assert.equal(got.length, 3);
  assert.deepEqual(broker.ack(owner, [got[0].tag], 1), []);
  assert.equal(got.length, 4);
  assert.deepEqual(broker.ack(owner, [got[1].tag, got[2].tag], 2), []);
  assert.equal(got.length, 6);
  assert.equal(broker.stats(3, "q")[0].inFlight, 3);
});

test("Broker.subscribe() shares jobs fairly among consumers", () => {
  const broker = new Broker({ queues: { q: {} } });
  const a: Delivery[] = [];
  const b: Delivery[] = [];
  broker.subscribe(new Owner(), "q", { prefetch: 100, now: 0 }, (d) => a.push(...d));
  broker.subscribe(new Owner(), "q", { prefetch: 100, now: 0 }, (d) => b.push(...d));
  put(broker, "q", Array.from({ length: 10 }, (_, i) => item(`j${i}`)));
  assert.equal(a.length, 5);
  assert.equal(b.length, 5);
});

test("Broker.ack() refuses double acks, foreign leases and unknown tags, and keeps the job", () => {
  const broker = new Broker({ queues: { q: {} } });
  const owner = new Owner();
  const other = new Owner();
  put(broker, "q", [item("x")]);
  const d = get(broker, owner, "q")()!;
  assert.match(broker.ack(other, [d.tag], 1)[0].message, /belongs to another connection/);
  assert.deepEqual(broker.ack(owner, [d.tag], 1), []);
  assert.match(broker.ack(owner, [d.tag], 1)[0].message, /already acked/);
  assert.match(broker.ack(owner, [999999], 1)[0].message, /No lease 999999/);
  assert.equal(broker.stats(2, "q")[0].totals.acked, 1);
});

test("Broker.nack() returns a job now or after a delay, counting the attempt", () => {
  const broker = new Broker({ queues: { q: {} } });
  const owner = new Owner();
  put(broker, "q", [item("x"), item("y")]);
  const x = get(broker, owner, "q")()!;
  broker.nack(owner, x.tag, { now: 0 });
  const again = get(broker, owner, "q")()!;
  assert.equal(text(again), "x", "a returned job keeps its place at the front");
  assert.equal(again.job.attempts, 2);
  broker.nack(owner, again.tag, { now: 10, delayMs: 100 });
  assert.equal(text(get(broker, owner, "q", 10)()!), "y");
  assert.equal(get(broker, owner, "q", 50)(), null, "x is delayed");
  broker.tick(110);
  assert.equal(text(get(broker, owner, "q", 110)()!), "x");
  assert.throws(() => broker.nack(owner, 424242, { now: 0 }), RemoteError);
});

test("Broker.touch() extends a lease; an expired lease returns the job with attempts raised", () => {
  const broker = new Broker({ queues: { q: { leaseMs: 100 } } });
  const owner = new Owner();
  put(broker, "q", [item("x")]);
  const d = get(broker, owner, "q", 0)()!;
  assert.equal(broker.touch(owner, d.tag, 80), 180);
  broker.tick(150);
  assert.equal(broker.stats(150, "q")[0].inFlight, 1, "touched lease still held at 150");
  broker.tick(180);
  const stats = broker.stats(180, "q")[0];
  assert.equal(stats.inFlight, 0);
  assert.equal(stats.ready, 1);
  assert.equal(stats.totals.expired, 1);
  assert.match(broker.ack(owner, [d.tag], 181)[0].message, /expired/);
  const again = get(broker, new Owner(), "q", 181)()!;
  assert.equal(again.job.attempts, 2);
  assert.equal(broker.stats(181, "q")[0].totals.redelivered, 1);
});

test("Broker.complete() stores a task's result once without a dedupe of its id", () => {
  const broker = new Broker({ queues: { q: { leaseMs: 100 }, r: {} } });
  const [a, b] = [new Owner(), new Owner()];
  const route = (job: { id: string }) => ({
    queue: "r",
    item: { id: `result:${job.id}`, payload: "done", priority: 0, delayMs: 0 },
  });
  put(broker, "q", [item("t", { id: "task-1" })]);
  const first = get(broker, a, "q", 0)()!;
  broker.tick(100); // a's lease runs out: the task is handed out again
  const second = get(broker, b, "q", 100)()!;
  assert.match(broker.complete(a, [first.tag], route, 110)[0].message, /expired/);
  assert.deepEqual(broker.complete(b, [second.tag], route, 120), []);
  assert.match(broker.complete(b, [second.tag], route, 130)[0].message, /already acked/);
  let [results] = broker.stats(130, "r");
  assert.deepEqual([results.ready, results.totals.put, results.totals.duplicates], [1, 1, 0]);
  // The result's id holds no room in the window: the task put again once its own window is over
  // (the result's would still be open) is answered again.
  assert.deepEqual(put(broker, "q", [item("t", { id: "task-1" })], 600_000)(), {
    accepted: 1,
    duplicates: 0,
  });
  const third = get(broker, b, "q", 600_000)()!;
  assert.deepEqual(broker.complete(b, [third.tag], route, 600_010), []);
  [results] = broker.stats(600_010, "r");
  assert.deepEqual([results.ready, results.totals.duplicates], [2, 0]);
});

test("Broker moves a job to the dead-letter queue after maxAttempts and can requeue it", () => {
  const broker = new Broker({ queues: { q: { maxAttempts: 2 } } });
  const owner = new Owner();
  put(broker, "q", [item("poison", { id: "p1" })]);
  broker.nack(owner, get(broker, owner, "q")()!.tag, { now: 0 });
  broker.nack(owner, get(broker, owner, "q")()!.tag, { now: 1 });
  assert.equal(get(broker, owner, "q", 2)(), null);
  const dead = broker.deadList("q", 10);
  assert.equal(dead.length, 1);
  assert.equal(dead[0].id, "p1");
  assert.match(dead[0].reason!, /nacked after 2 attempts/);
  assert.equal(broker.stats(2, "q")[0].dead, 1);
  assert.equal(broker.deadRequeue("q", ["other"], 3), 0);
  assert.equal(broker.deadRequeue("q", null, 3), 1);
  const back = get(broker, owner, "q", 4)()!;
  assert.equal(text(back), "poison");
  assert.equal(back.job.attempts, 1, "attempts reset by requeue");
  assert.equal(broker.stats(4, "q")[0].dead, 0);
});

test("Broker.nack() with a dead reason dead-letters at once", () => {
  const broker = new Broker({ queues: { q: {} } });
  const owner = new Owner();
  put(broker, "q", [item("bad")]);
  broker.nack(owner, get(broker, owner, "q")()!.tag, { now: 0, dead: "not an integer" });
  assert.equal(broker.deadList("q", 10)[0].reason, "not an integer");
});

test("Broker delays jobs until their time, in time order", () => {
  const broker = new Broker({ queues: { q: {} } });
  const owner = new Owner();
  put(
    broker,
    "q",
    [item("late", { delayMs: 300 }), item("soon", { delayMs: 100 }), item("now")],
    0,
  );
  assert.equal(broker.stats(0, "q")[0].delayed, 2);
  assert.equal(text(get(broker, owner, "q", 0)()!), "now");
  assert.equal(get(broker, owner, "q", 0)(), null);
  assert.equal(broker.nextDeadline(), 100);
  broker.tick(300);
  assert.equal(text(get(broker, owner, "q", 300)()!), "soon");
  assert.equal(text(get(broker, owner, "q", 300)()!), "late");
});

test("Broker.put() to a full queue waits for room, then times out with queue_full", () => {
  const broker = new Broker({ queues: { q: { maxsize: 2 } } });
  const owner = new Owner();
  const first = put(broker, "q", [item("a"), item("b")]);
  assert.deepEqual(first(), { accepted: 2, duplicates: 0 });
  const blocked = put(broker, "q", [item("c")], 0, 500);
  assert.equal(blocked(), undefined, "waits while full");
  assert.equal(broker.stats(0, "q")[0].waitingPuts, 1);
  get(broker, owner, "q", 10);
  assert.deepEqual(blocked(), { accepted: 1, duplicates: 0 }, "a get made room");
  const timesOut = put(broker, "q", [item("d"), item("e")], 20, 100);
  broker.tick(120);
  const error = timesOut();
  assert.ok(error instanceof RemoteError);
  assert.equal(error.code, "queue_full");
  assert.match(error.message, /0 of 2 jobs were stored/);
});

test("Broker.put() ignores an id seen within the dedupe window", () => {
  const broker = new Broker({ queues: { q: {} }, dedupeWindowMs: 1000 });
  assert.deepEqual(put(broker, "q", [item("a", { id: "same" })], 0)(), {
    accepted: 1,
    duplicates: 0,
  });
  assert.deepEqual(put(broker, "q", [item("a", { id: "same" })], 500)(), {
    accepted: 0,
    duplicates: 1,
  });
  assert.deepEqual(put(broker, "q", [item("a", { id: "same" })], 1600)(), {
    accepted: 1,
    duplicates: 0,
  });
});

test("Broker.release() returns an owner's leased jobs and ends its waits", () => {
  const broker = new Broker({ queues: { q: {} } });
  const owner = new Owner();
  put(broker, "q", [item("a"), item("b")]);
  const got: Delivery[] = [];
  broker.subscribe(owner, "q", { prefetch: 10, now: 0 }, (d) => got.push(...d));
  assert.equal(got.length, 2);
  broker.release(owner, 5);
  const stats = broker.stats(5, "q")[0];
  assert.equal(stats.ready, 2);
  assert.equal(stats.inFlight, 0);
  assert.equal(stats.consumers, 0);
});

test("Broker refuses unknown queues when creation is off, and bad names and options", () => {
  // Request arguments (timeouts, delays, prefetch) are checked by the operations layer:
  // see test/operations_test.ts.
  const broker = new Broker({ queues: { q: {} }, allowCreate: false });
  const owner = new Owner();
  assert.throws(() => get(broker, owner, "nope"), /Unknown queue "nope"/);
  const r = put(broker, "nope", [item("x")])();
  assert.ok(r instanceof RemoteError && r.code === "unknown_queue");
  assert.throws(() => broker.declare("bad name!"), /Invalid queue name/);
  assert.throws(() => broker.declare("q", { maxsize: -1 }), /Invalid maxsize/);
});

test("Broker.purge() drops ready and delayed jobs and admits waiting puts", () => {
  const broker = new Broker({ queues: { q: { maxsize: 2 } } });
  put(broker, "q", [item("a"), item("b", { delayMs: 100 })]);
  const blocked = put(broker, "q", [item("c")], 0, 1000);
  assert.equal(broker.purge("q", 1), 2);
  assert.deepEqual(blocked(), { accepted: 1, duplicates: 0 });
  assert.equal(broker.stats(1, "q")[0].ready, 1);
});

test("Broker holds a million queued jobs with O(1) operations", () => {
  const broker = new Broker({ queues: { q: {} } });
  const owner = new Owner();
  const payload = "1";
  const n = 1_000_000;
  for (let i = 0; i < n; i += 10_000) {
    const items: PutItem[] = [];
    for (let j = 0; j < 10_000; j++) {
      items.push({ id: `m${i + j}`, payload, priority: 0, delayMs: 0 });
    }
    put(broker, "q", items);
  }
  assert.equal(broker.stats(0, "q")[0].ready, n);
  let drained = 0;
  for (;;) {
    const d = get(broker, owner, "q")();
    if (!d) break;
    broker.ack(owner, [d.tag], 0);
    drained++;
  }
  assert.equal(drained, n);
});
