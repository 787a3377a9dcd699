/**
 * Random sequences of put/get/ack/nack/touch/expire/release/requeue never lose
 * a job and never complete one twice (at-least-once: redelivery is allowed,
 * a second successful ack is not).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Broker } from "../lib/queue/broker.ts";
import { Owner } from "../lib/queue/backend.ts";
import type { Delivery } from "../lib/queue/types.ts";

type Op =
  | { op: "put"; n: number; delay: number; priority: number }
  | { op: "get"; who: number }
  | { op: "subscribe"; who: number; prefetch: number }
  | { op: "ack"; pick: number }
  | { op: "nack"; pick: number; delay: number }
  | { op: "fail"; pick: number }
  | { op: "touch"; pick: number }
  | { op: "advance"; ms: number }
  | { op: "release"; who: number }
  | { op: "requeue" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant("put" as const),
    n: fc.integer({ min: 1, max: 5 }),
    delay: fc.constantFrom(0, 0, 50, 200),
    priority: fc.integer({ min: -1, max: 1 }),
  }),
  fc.record({ op: fc.constant("get" as const), who: fc.integer({ min: 0, max: 2 }) }),
  fc.record({
    op: fc.constant("subscribe" as const),
    who: fc.integer({ min: 0, max: 2 }),
    prefetch: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({ op: fc.constant("ack" as const), pick: fc.nat() }),
  fc.record({
    op: fc.constant("nack" as const),
    pick: fc.nat(),
    delay: fc.constantFrom(0, 100),
  }),
  fc.record({ op: fc.constant("fail" as const), pick: fc.nat() }),
  fc.record({ op: fc.constant("touch" as const), pick: fc.nat() }),
  fc.record({ op: fc.constant("advance" as const), ms: fc.integer({ min: 1, max: 400 }) }),
  fc.record({ op: fc.constant("release" as const), who: fc.integer({ min: 0, max: 2 }) }),
  fc.record({ op: fc.constant("requeue" as const) }),
);

// Once with ready jobs packed only in a backlog (512), once packed from the second job on.
for (const packAt of [undefined, 2]) {
  test(`Broker never loses or double-completes a job under random operations${packAt ? ", ready jobs packed by 2" : ""}`, () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
        const broker = new Broker({ queues: { q: { leaseMs: 300, maxAttempts: 3 } }, packAt });
        let owners = [new Owner(), new Owner(), new Owner()];
        let now = 0;
        let nextId = 0;
        const putIds = new Set<string>();
        const acked = new Map<string, number>();
        let held: { owner: Owner; d: Delivery }[] = [];
        const take = (owner: Owner) => (d: Delivery | null) => {
          if (d) held.push({ owner, d });
        };
        const pickHeld = (pick: number) => held.length === 0 ? undefined : held[pick % held.length];

        for (const o of ops) {
          switch (o.op) {
            case "put": {
              const items = Array.from({ length: o.n }, () => {
                const id = `j${nextId++}`;
                putIds.add(id);
                return { id, payload: id, priority: o.priority, delayMs: o.delay };
              });
              broker.put(null, "q", items, { now, timeoutMs: 1000 }, () => {});
              break;
            }
            case "get":
              broker.get(owners[o.who], "q", { now, timeoutMs: 0 }, take(owners[o.who]));
              break;
            case "subscribe": {
              const owner = owners[o.who];
              broker.subscribe(owner, "q", { prefetch: o.prefetch, now }, (ds) => {
                for (const d of ds) held.push({ owner, d });
              });
              break;
            }
            case "ack": {
              const h = pickHeld(o.pick);
              if (!h) break;
              held = held.filter((x) => x !== h);
              if (broker.ack(h.owner, [h.d.tag], now).length === 0) {
                acked.set(h.d.job.id, (acked.get(h.d.job.id) ?? 0) + 1);
              }
              break;
            }
            case "nack":
            case "fail": {
              const h = pickHeld(o.pick);
              if (!h) break;
              held = held.filter((x) => x !== h);
              try {
                broker.nack(h.owner, h.d.tag, {
                  now,
                  delayMs: o.op === "nack" ? o.delay : 0,
                  dead: o.op === "fail" ? "failed" : undefined,
                });
              } catch { /* lease already expired: fine */ }
              break;
            }
            case "touch": {
              const h = pickHeld(o.pick);
              if (!h) break;
              try {
                broker.touch(h.owner, h.d.tag, now);
              } catch { /* expired */ }
              break;
            }
            case "advance":
              now += o.ms;
              broker.tick(now);
              break;
            case "release":
              broker.release(owners[o.who], now);
              held = held.filter((h) => h.owner !== owners[o.who]);
              owners = owners.map((w, i) => i === o.who ? new Owner() : w);
              break;
            case "requeue":
              broker.deadRequeue("q", null, now);
              break;
          }
        }
        // Nothing may complete twice.
        for (const [id, count] of acked) assert.equal(count, 1, `job ${id} acked ${count} times`);
        // Drain: end every lease, let delays pass, requeue dead letters, take and ack all the rest.
        for (const owner of owners) broker.release(owner, now);
        now += 10_000;
        broker.tick(now);
        broker.deadRequeue("q", null, now);
        const drainer = new Owner();
        for (let i = 0; i < 10_000; i++) {
          let d: Delivery | null = null;
          broker.get(drainer, "q", { now, timeoutMs: 0 }, (x) => d = x);
          if (d === null) break;
          const delivery = d as Delivery;
          assert.deepEqual(broker.ack(drainer, [delivery.tag], now), []);
          assert.ok(!acked.has(delivery.job.id), `job ${delivery.job.id} came back after its ack`);
          acked.set(delivery.job.id, 1);
        }
        assert.deepEqual(new Set(acked.keys()), putIds, "every put job completed exactly once");
        const stats = broker.stats(now, "q")[0];
        assert.equal(stats.ready + stats.delayed + stats.inFlight + stats.dead, 0);
      }),
      { numRuns: 300, seed: 20261128 },
    );
  });
}
