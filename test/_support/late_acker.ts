/**
 * Fixture for test/fault_test.ts: a consumer that takes PREFETCH jobs, says
 * `holding N`, then waits for a line `ack` on stdin (the test freezes it with
 * SIGSTOP in between) and acks every job it holds, printing `acked ID` or
 * `refused ID CODE: MESSAGE` for each, then `done` and exits 0.
 *
 * Usage: late_acker.ts HOST:PORT QUEUE PREFETCH (key from TASKWIRE_AUTHKEY)
 */
import process from "node:process";
import { connect, type Job } from "../../mod.ts";

const [addr, queue, prefetchText] = process.argv.slice(2);
const prefetch = Number(prefetchText);
const client = await connect({ addr, authkey: process.env.TASKWIRE_AUTHKEY!, role: "late-acker" });
const held: Job[] = [];
const jobs = client.queue(queue).consume({ prefetch });
for await (const job of jobs) {
  held.push(job);
  if (held.length === prefetch) break;
}
console.log(`holding ${held.length}`);
await new Promise<void>((resolve) => {
  let text = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk: string) => {
    text += chunk;
    if (text.includes("ack")) resolve();
  });
});
for (const job of held) {
  try {
    await job.ack();
    console.log(`acked ${job.id}`);
  } catch (error) {
    const e = error as { code?: string; message: string };
    console.log(`refused ${job.id} ${e.code}: ${e.message}`);
  }
}
console.log("done");
await client.close();
process.exit(0);
