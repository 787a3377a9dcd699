/**
 * Every admin command shown in docs/FLOW.md ("Try it") runs, in the order
 * shown, as a real admin process on this runtime against a god: each exits 0
 * and does what the page says.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, serve } from "../mod.ts";
import { CURRENT, start } from "./_support/process.ts";
import { docCommands, shellWords } from "./_support/doc_blocks.ts";

const AUTHKEY = "flow-docs-key";
const ADMIN = "npx tsx roles/admin.ts ";

test("the admin commands of docs/FLOW.md run and do what they say", async () => {
  const flow = docCommands("docs/FLOW.md", "try-it");
  assert.ok(flow.length >= 10 && flow.every((line) => line.startsWith(ADMIN)), "admin commands");
  const god = await serve({ listen: "127.0.0.1:0", authkey: AUTHKEY, name: "docs-god" });
  const client = await connect({ addr: `127.0.0.1:${god.port}`, authkey: AUTHKEY, name: "w1" });
  try {
    // What the commands look at: two dead letters (one is report-1) and a job in flight with progress.
    // A long lease: the job in flight must still be in flight when `peek --in-flight` runs, however slow the machine.
    await client.declare("tasks", { leaseMs: 600_000 });
    const tasks = client.queue<unknown>("tasks");
    await tasks.put({ report: "weekly" }, { id: "report-1" });
    await tasks.put({ report: "broken" }, { id: "report-2" });
    await tasks.put({ n: 3 }, { id: "busy" });
    for (let i = 0; i < 2; i++) await (await tasks.get({ timeout: 1000 }))!.fail("no such report");
    const busy = (await tasks.get({ timeout: 1000 }))!;
    await busy.progress({ rows: 120, of: 400 });

    const checks: Record<string, (out: string) => void> = {
      "declare": (out) => {
        assert.match(out, /at most 10 per 1s/);
        const o = god.stats("tasks").queues[0];
        assert.deepEqual(o.rateLimit, { count: 10, perMs: 1000 });
      },
      "pause": () => assert.equal(god.stats("tasks").queues[0].paused, true),
      "resume": () => assert.equal(god.stats("tasks").queues[0].paused, false),
      "schedule add": (out) =>
        assert.match(out, /^schedule (daily-report|heartbeat): a job on tasks/),
      "schedule list": (out) => {
        assert.match(out, /daily-report +tasks +cron "0 9 \* \* 1-5" \(Europe\/Paris\)/);
        assert.match(out, /heartbeat +tasks +every 5m/);
      },
      "schedule remove": (out) => assert.match(out, /removed schedule heartbeat/),
      "peek": (out) => assert.match(out, /busy .*w1 .*\{"rows":120,"of":400\}/),
      "dead list": (out) => {
        assert.match(out, /report-1 /);
        assert.match(out, /attempt 1: .* w1: no such report/);
      },
      "dead requeue": (out) => assert.match(out, /requeued 1 dead letters back to tasks/),
      "dead delete": (out) => assert.match(out, /deleted 1 dead letters of tasks/),
      "stats": (out) => assert.match(out, /tasks +(limit|throttled) 10\/1s/),
      "key worker": (out) => assert.match(out, /^twk1\.\S+$/),
    };
    for (const line of flow) {
      const args = shellWords(line.slice(ADMIN.length));
      const proc = start(CURRENT, "roles/admin.ts", args, {
        env: { TASKWIRE_AUTHKEY: AUTHKEY, TASKWIRE_ADDR: `127.0.0.1:${god.port}` },
      });
      const { code } = await proc.wait(60_000);
      await new Promise((resolve) => setTimeout(resolve, 50)); // let the pipes drain
      assert.equal(code, 0, `${line}\n${proc.output}`);
      const name = Object.keys(checks).find((c) => args.join(" ").startsWith(c));
      assert.ok(name !== undefined, `a check for ${line}`);
      try {
        checks[name](proc.lines.join("\n"));
      } catch (error) {
        throw new Error(`${line}: ${(error as Error).message}\n${proc.output}`, { cause: error });
      }
    }
    const names = (await client.schedules()).map((s) => s.name);
    assert.deepEqual(names, ["daily-report"]);
    assert.equal(god.stats("tasks").queues[0].dead, 0);
    await busy.ack();
  } finally {
    await client.close();
    await god.close();
  }
});
