/**
 * Flow control in the queue rules, with no I/O and no sleeping: time is
 * passed in. Retry policies (backoff), the history of attempts in dead
 * letters, rate limits, pause, progress, dead-letter deletion and schedules
 * (cron with a time zone, intervals, missed slots) — and that schedules and
 * per-job policies survive a restart of the journal.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Broker } from "../lib/queue/broker.ts";
import { Owner, type PutResult } from "../lib/queue/backend.ts";
import type { Delivery, PutItem } from "../lib/queue/types.ts";
import { checkScheduleRequest, type ScheduleRequest } from "../lib/queue/schedules.ts";
import { backoffDelay } from "../lib/queue/options.ts";
import { ErrorCode, RemoteError } from "../lib/protocol/errors.ts";
import { openJournal } from "../lib/store/open.ts";

let ids = 0;
function item(payload: string, options: Partial<PutItem> = {}): PutItem {
  return { id: `flow-${++ids}`, payload, priority: 0, delayMs: 0, ...options };
}
function put(broker: Broker, queue: string, items: PutItem[], now = 0) {
  let result: PutResult | RemoteError | undefined;
  broker.put(null, queue, items, { now, timeoutMs: 1000 }, (r) => result = r);
  return () => result;
}
function get(broker: Broker, owner: Owner, queue: string, now: number, timeoutMs = 0) {
  let result: Delivery | null | undefined;
  broker.get(owner, queue, { now, timeoutMs }, (d) => result = d);
  return () => result;
}
function named(label: string): Owner {
  const owner = new Owner();
  owner.label = label;
  return owner;
}

const T0 = Date.UTC(2026, 0, 5, 8, 0, 0); // a Monday, 08:00 UTC

test("backoffDelay() doubles from delayMs up to maxMs; fixed stays; jitter picks in the upper half", () => {
  const exp = { type: "exponential", delayMs: 1000, maxMs: 60_000, jitter: false } as const;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(exp, n, 0.5)),
    [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000],
  );
  assert.equal(backoffDelay({ ...exp, type: "fixed" }, 7, 0.5), 1000);
  assert.equal(backoffDelay({ ...exp, jitter: true }, 3, 0), 2000);
  assert.equal(backoffDelay({ ...exp, jitter: true }, 3, 0.999), 3998);
});

test("a queue's backoff holds nacked and expired jobs back longer each attempt, and the dead letter keeps every attempt", () => {
  const broker = new Broker({
    queues: {
      q: {
        maxAttempts: 4,
        leaseMs: 5000,
        backoff: { type: "exponential", delayMs: 1000, maxMs: 3000, jitter: false },
      },
    },
    random: () => 0.5,
  });
  const alice = named("alice");
  const bob = named("bob");
  put(broker, "q", [item("x")], T0);
  let now = T0;
  const waits: number[] = [];
  // Attempt 1: nacked by alice without a delay, so the policy decides.
  let d = get(broker, alice, "q", now)()!;
  broker.nack(alice, d.tag, { now });
  waits.push(broker.nextDeadline() - now);
  assert.equal(get(broker, alice, "q", now + 999)(), null, "still held back");
  now = broker.nextDeadline();
  broker.tick(now);
  // Attempt 2: bob's lease expires: the policy applies too.
  d = get(broker, bob, "q", now)()!;
  now += 5000;
  broker.tick(now);
  waits.push(broker.nextDeadline() - now);
  now = broker.nextDeadline();
  broker.tick(now);
  // Attempt 3: nacked with an explicit delay: that wins over the policy.
  d = get(broker, alice, "q", now)()!;
  broker.nack(alice, d.tag, { now, delayMs: 10 });
  waits.push(broker.nextDeadline() - now);
  now = broker.nextDeadline();
  broker.tick(now);
  // Attempt 4: the last one; the job dies.
  d = get(broker, bob, "q", now)()!;
  broker.nack(bob, d.tag, { now });
  assert.deepEqual(waits, [1000, 2000, 10]);
  const [dead] = broker.deadList("q", 10);
  assert.equal(dead.reason, "nacked after 4 attempts");
  assert.deepEqual(dead.history!.map((a) => [a.by, a.why, a.at - T0]), [
    ["alice", "nacked", 0],
    ["bob", "lease expired", 6000],
    ["alice", "nacked", 8000],
    ["bob", "nacked", 8010],
  ]);
});

test("a put's own backoff overrides its queue's; a lost connection brings the job back at once", () => {
  const broker = new Broker({
    queues: { q: { backoff: { type: "fixed", delayMs: 60_000, maxMs: 60_000, jitter: false } } },
  });
  const owner = named("w");
  put(broker, "q", [
    item("own", { backoff: { type: "fixed", delayMs: 50, maxMs: 50, jitter: false } }),
  ], T0);
  const d = get(broker, owner, "q", T0)()!;
  broker.nack(owner, d.tag, { now: T0 });
  assert.equal(broker.nextDeadline(), T0 + 50);
  broker.tick(T0 + 50);
  const again = get(broker, owner, "q", T0 + 50)()!;
  assert.equal(again.job.attempts, 2);
  broker.release(owner, T0 + 60);
  assert.equal(broker.stats(T0 + 60, "q")[0].ready, 1, "no wait after a lost connection");
  assert.equal([...broker.captureLiveJobs()][0].job.history!.at(-1)!.why, "connection lost");
});

test("a rate limit holds across several consumers: never more than count in any window of perMs, and stats say so", () => {
  const broker = new Broker({ queues: { q: { rateLimit: { count: 2, perMs: 1000 } } } });
  const got: number[] = [];
  let now = T0;
  // Three consumers on their own connections, each with room for everything.
  for (let c = 0; c < 3; c++) {
    broker.subscribe(named(`c${c}`), "q", { prefetch: 100, now }, (ds) => {
      for (const _ of ds) got.push(now);
    });
  }
  put(broker, "q", Array.from({ length: 10 }, (_, i) => item(String(i))), now);
  assert.equal(got.length, 2, "count go at once");
  const stats = broker.stats(now, "q")[0];
  assert.equal(stats.throttled, true);
  assert.deepEqual(stats.rateLimit, { count: 2, perMs: 1000 });
  assert.equal(stats.totals.throttled, 1);
  // The next go when the oldest in the window is perMs old: the broker says when, the clock comes then.
  while (got.length < 10) {
    now = broker.nextDeadline();
    assert.ok(now - T0 <= 10_000, "bounded");
    broker.tick(now);
  }
  assert.deepEqual(got.map((t) => t - T0), [0, 0, 1000, 1000, 2000, 2000, 3000, 3000, 4000, 4000]);
  // Never more than `count` in any window of perMs.
  for (let i = 2; i < got.length; i++) assert.ok(got[i] - got[i - 2] >= 1000);
  assert.equal(broker.stats(now, "q")[0].throttled, false);
});

test("a paused queue takes puts and hands nothing out; resume serves the waiting consumer at once", () => {
  const broker = new Broker({ queues: { q: {} } });
  broker.declare("q", { paused: true }, T0);
  const owner = named("w");
  assert.deepEqual(put(broker, "q", [item("a")], T0)(), { accepted: 1, duplicates: 0 });
  const waiting = get(broker, owner, "q", T0, 10_000);
  assert.equal(waiting(), undefined);
  assert.equal(broker.stats(T0, "q")[0].paused, true);
  assert.equal(broker.stats(T0, "q")[0].ready, 1);
  broker.declare("q", { paused: false }, T0 + 1);
  assert.equal(waiting()!.job.payload, "a");
});

test("progress is kept with the lease, listed in flight and in stats, and gone with the lease", () => {
  const broker = new Broker({ queues: { q: {} } });
  const owner = named("worker-1");
  put(broker, "q", [item("a"), item("b")], T0);
  const a = get(broker, owner, "q", T0)()!;
  get(broker, owner, "q", T0)();
  broker.progress(owner, a.tag, '{"json":42}', T0 + 5);
  assert.throws(
    () => broker.progress(new Owner(), a.tag, '{"json":1}', T0),
    (e: unknown) => e instanceof RemoteError && e.code === ErrorCode.NotLeased,
  );
  const listed = broker.inFlight("q", 10);
  assert.equal(listed.length, 2);
  assert.deepEqual(
    { by: listed[0].by, progress: listed[0].progress, at: listed[0].progressAt },
    { by: "worker-1", progress: '{"json":42}', at: T0 + 5 },
  );
  assert.equal(listed[1].progress, undefined);
  assert.deepEqual(broker.stats(T0, "q")[0].progress.map((p) => [p.id, p.value, p.by]), [
    [a.job.id, '{"json":42}', "worker-1"],
  ]);
  broker.ack(owner, [a.tag], T0 + 6);
  assert.deepEqual(broker.stats(T0, "q")[0].progress, []);
});

test("dead letters can be deleted, all or by id, and stay deleted after a restart", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taskwire-flow-dead-"));
  try {
    const first = await openJournal(dir, { fsync: "off" });
    const broker = new Broker({
      queues: { q: { maxAttempts: 1 } },
      journal: (r) => first.store.append(r),
    });
    first.store.attach!(broker);
    const owner = named("w");
    put(broker, "q", [item("a", { id: "a" }), item("b", { id: "b" }), item("c", { id: "c" })], T0);
    for (let i = 0; i < 3; i++) {
      const d = get(broker, owner, "q", T0)()!;
      broker.nack(owner, d.tag, { now: T0, dead: "bad" });
    }
    assert.equal(broker.deadDelete("q", ["b", "zz"], T0), 1);
    assert.deepEqual(broker.deadList("q", 10).map((j) => j.id), ["a", "c"]);
    await first.store.close();
    const second = await openJournal(dir, { fsync: "off" });
    const again = new Broker({});
    again.restore(second.restore, T0);
    assert.deepEqual(again.deadList("q", 10).map((j) => j.id), ["a", "c"]);
    assert.equal(again.deadDelete("q", null, T0), 2);
    assert.deepEqual(again.deadList("q", 10), []);
    await second.store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function request(name: string, fields: Partial<ScheduleRequest>): ScheduleRequest {
  return {
    name,
    queue: "tasks",
    cron: null,
    timezone: null,
    everyMs: null,
    payload: '{"json":{"report":"daily"}}',
    priority: 0,
    catchUp: false,
    ...fields,
  };
}

function idsOf(broker: Broker, queue: string): string[] {
  return broker.peek(queue, 100).map((job) => job.id);
}

test("a cron schedule puts its job at each slot, once, with the id schedule:NAME:SLOT", () => {
  const broker = new Broker({ queues: { tasks: {} } });
  const info = broker.schedule(request("five", { cron: "*/5 * * * *" }), T0 + 1000);
  assert.equal(info.next, T0 + 5 * 60_000);
  assert.equal(info.last, null);
  assert.equal(broker.nextDeadline(), T0 + 5 * 60_000);
  broker.tick(T0 + 5 * 60_000 - 1);
  assert.deepEqual(idsOf(broker, "tasks"), []);
  broker.tick(T0 + 5 * 60_000);
  broker.tick(T0 + 5 * 60_000 + 10); // the same slot again: nothing
  assert.deepEqual(idsOf(broker, "tasks"), [`schedule:five:${T0 + 5 * 60_000}`]);
  const [job] = broker.peek("tasks", 1);
  assert.equal(job.payload, '{"json":{"report":"daily"}}');
  assert.equal(broker.stats(T0, "tasks")[0].totals.scheduled, 1);
  assert.equal(broker.schedules()[0].info.next, T0 + 10 * 60_000);
  assert.equal(broker.unschedule("five"), true);
  assert.equal(broker.unschedule("five"), false);
  assert.equal(broker.nextDeadline(), Infinity);
});

test("a cron schedule follows its time zone, daylight saving included", () => {
  const broker = new Broker({ queues: { tasks: {} } });
  // 09:00 in Paris: 08:00 UTC in winter, 07:00 UTC in summer.
  const winter = broker.schedule(
    request("paris", { cron: "0 9 * * *", timezone: "Europe/Paris" }),
    Date.UTC(2026, 0, 5, 0, 0),
  );
  assert.equal(winter.next, Date.UTC(2026, 0, 5, 8, 0));
  const summer = broker.schedule(
    request("paris", { cron: "0 9 * * *", timezone: "Europe/Paris" }),
    Date.UTC(2026, 6, 6, 0, 0),
  );
  assert.equal(summer.next, Date.UTC(2026, 6, 6, 7, 0));
});

test("after downtime only the latest missed slot is put; with catchUp every one", () => {
  const broker = new Broker({ queues: { tasks: {}, other: {} } });
  broker.schedule(request("skip", { everyMs: 60_000 }), T0);
  broker.schedule(request("all", { everyMs: 60_000, queue: "other", catchUp: true }), T0);
  // The god stalled for 3.5 minutes: slots at +1, +2 and +3 minutes are all due.
  broker.tick(T0 + 210_000);
  assert.deepEqual(idsOf(broker, "tasks"), [`schedule:skip:${T0 + 180_000}`]);
  assert.deepEqual(
    idsOf(broker, "other"),
    [60_000, 120_000, 180_000].map((m) => `schedule:all:${T0 + m}`),
  );
});

test("schedule arguments are checked with messages that say what to give", () => {
  const refused = (fields: Partial<ScheduleRequest>, pattern: RegExp) =>
    assert.throws(
      () => checkScheduleRequest(request("bad", fields)),
      (e: unknown) => e instanceof RemoteError && pattern.test(e.message),
    );
  refused({ cron: "*/5 * * *" }, /Invalid cron "\*\/5 \* \* \*" for schedule "bad"/);
  refused({ cron: "0 9 * * *", timezone: "Mars/Olympus" }, /Invalid time zone .*IANA/);
  refused({}, /give either a cron expression or an interval/);
  refused({ cron: "* * * * *", everyMs: 1000 }, /give either/);
  refused({ everyMs: 10 }, /Invalid interval .*from 1000/);
});

test("schedules survive a restart: no slot is put twice, missed slots only with catchUp", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taskwire-flow-schedules-"));
  try {
    const first = await openJournal(dir, { fsync: "off" });
    const broker = new Broker({ queues: { tasks: {} }, journal: (r) => first.store.append(r) });
    first.store.attach!(broker);
    broker.schedule(request("minutely", { everyMs: 60_000 }), T0);
    broker.schedule(request("catcher", { everyMs: 60_000, catchUp: true }), T0);
    broker.tick(T0 + 60_000);
    assert.equal(idsOf(broker, "tasks").length, 2);
    // A snapshot in the middle: schedules and their last slots go with it.
    await first.store.compact();
    broker.tick(T0 + 120_000);
    await first.store.close();

    // Restarted at the same instant: nothing is put again.
    const second = await openJournal(dir, { fsync: "off" });
    assert.equal(second.restore.schedules.length, 2);
    const again = new Broker({ journal: (r) => second.store.append(r) });
    again.restore(second.restore, T0 + 120_000);
    again.tick(T0 + 120_000);
    assert.equal(idsOf(again, "tasks").length, 4);
    assert.deepEqual(again.schedules().map((s) => s.info.last), [T0 + 120_000, T0 + 120_000]);
    await second.store.close();

    // Restarted after 3 minutes of downtime: the catcher puts the 3 missed slots, the other none.
    const third = await openJournal(dir, { fsync: "off" });
    const later = new Broker({});
    later.restore(third.restore, T0 + 300_000 + 5);
    later.tick(T0 + 300_000 + 5);
    const fresh = idsOf(later, "tasks").slice(4);
    assert.deepEqual(fresh, [180_000, 240_000, 300_000].map((m) => `schedule:catcher:${T0 + m}`));
    assert.equal(
      later.schedules().find((s) => s.info.name === "minutely")!.info.next,
      T0 + 360_000,
    );
    await third.store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a put's retry policy survives a restart", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taskwire-flow-backoff-"));
  try {
    const first = await openJournal(dir, { fsync: "off" });
    const broker = new Broker({ queues: { q: {} }, journal: (r) => first.store.append(r) });
    const backoff = { type: "fixed", delayMs: 777, maxMs: 777, jitter: false } as const;
    put(broker, "q", [item("x", { backoff })], T0);
    await first.store.close();
    const second = await openJournal(dir, { fsync: "off" });
    const again = new Broker({});
    again.restore(second.restore, T0);
    const owner = named("w");
    const d = get(again, owner, "q", T0)()!;
    assert.deepEqual(d.job.backoff, backoff);
    again.nack(owner, d.tag, { now: T0 });
    assert.equal(again.nextDeadline(), T0 + 777);
    await second.store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
