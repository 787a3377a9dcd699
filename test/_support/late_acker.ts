/**
 * Fixture for test/fault_test.ts and test/jetstream_test.ts: a consumer that
 * says `consuming` once subscribed, takes PREFETCH jobs (or, given WAIT_MS,
 * as many as arrive until none came for that long), says `holding N`, then
 * waits for a line `ack` on stdin (the test freezes it with SIGSTOP in
 * between) and acks every job it holds, printing `acked ID` or
 * `refused ID CODE: MESSAGE` for each, then `done` and exits 0.
 *
 * Usage: late_acker.ts HOST:PORT QUEUE PREFETCH [WAIT_MS] (key from TASKWIRE_AUTHKEY)
 */
import process from "node:process";
import { connect, type Job } from "../../mod.ts";

const [addr, queue, prefetchText, waitText] = process.argv.slice(2);
const prefetch = Number(prefetchText);
const waitMs = waitText === undefined ? Infinity : Number(waitText);
const client = await connect({ addr, authkey: process.env.TASKWIRE_AUTHKEY!, role: "late-acker" });
const held: Job[] = [];
const jobs = client.queue(queue).consume({ prefetch });
await jobs.ready();
console.log("consuming");
const quiet = Symbol("quiet");
while (held.length < prefetch) {
  const next = jobs.next();
  const result = waitMs === Infinity ? await next : await Promise.race([
    next,
    new Promise<typeof quiet>((resolve) => setTimeout(() => resolve(quiet), waitMs)),
  ]);
  if (result === quiet || result.done) break;
  held.push(result.value);
}
// No more jobs for this connection: the ones held stay leased (until they expire).
await jobs.return();
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
