/**
 * Every admin command shown in docs/FLOW.md ("Try it") and in the README's
 * flow-control section runs, in the order shown, as a real admin process on
 * this runtime against a god: each exits 0 and does what the page says.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { connect, serve } from "../mod.ts";
import { CURRENT, ROOT, start } from "./_support/process.ts";

const AUTHKEY = "flow-docs-key";
const ADMIN = "npx tsx roles/admin.ts ";

/** Splits a shell command line into words: single and double quotes, no expansion. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: string | null = null;
  for (const char of line) {
    if (quote !== null) {
      if (char === quote) quote = null;
      else word += char;
    } else if (char === "'" || char === '"') {
      quote = char;
      word ??= "";
    } else if (char === " ") {
      if (word !== null) words.push(word);
      word = null;
    } else word = (word ?? "") + char;
  }
  assert.equal(quote, null, `unbalanced quote in ${line}`);
  if (word !== null) words.push(word);
  return words;
}

/** The admin command lines of the ```sh blocks of `text`. */
function adminLines(text: string): string[] {
  const lines: string[] = [];
  for (const block of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of block[1].split("\n")) if (line.startsWith(ADMIN)) lines.push(line);
  }
  return lines;
}

test("shellWords() keeps quoted words whole", () => {
  assert.deepEqual(shellWords(`a --cron "0 9 * * 1-5" --value '{"x":1}'`), [
    "a",
    "--cron",
    "0 9 * * 1-5",
    "--value",
    '{"x":1}',
  ]);
});

test("the admin commands of docs/FLOW.md and the README run and do what they say", async () => {
  const flow = adminLines(await readFile(path.join(ROOT, "docs/FLOW.md"), "utf8"));
  const readme = await readFile(path.join(ROOT, "README.md"), "utf8");
  const section = readme.slice(
    readme.indexOf("### Schedules, retries, rate limits, pause, progress"),
  );
  const fromReadme = adminLines(section.slice(0, section.indexOf("\n## ")));
  assert.ok(flow.length >= 10 && fromReadme.length >= 3, "the docs show the commands");
  for (const line of fromReadme) assert.ok(flow.includes(line), `FLOW.md runs it too: ${line}`);

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
