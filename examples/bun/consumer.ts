/**
 * A taskwire worker on Bun: a long-running process, so it uses the main
 * entry ("taskwire"), which speaks TCP, TLS or HTTP from the address, and
 * streams jobs with `consume()`. Squares the integers on `tasks`, puts each
 * result on `results`, acks. Stops cleanly on Ctrl-C or SIGTERM.
 *
 *   export TASKWIRE_ADDR=god.example:5678                     # or tls://…, https://…
 *   export TASKWIRE_AUTHKEY=$(taskwire admin key worker --queues tasks --results results)
 *   bun examples/bun/consumer.ts
 *
 * @module
 */
import { connect } from "taskwire";

const addr = process.env.TASKWIRE_ADDR ?? "127.0.0.1:5678";
const authkey = process.env.TASKWIRE_AUTHKEY;
if (!authkey) {
  console.error(
    "Set TASKWIRE_AUTHKEY to a worker key: taskwire admin key worker --queues tasks --results results",
  );
  process.exit(1);
}

// A worker key is enough: it may take and finish jobs of `tasks` and put to `results`.
const client = await connect({ addr, authkey, role: "consumer", waitForGod: true });
const results = client.queue<{ n: bigint; square: bigint; task: string }>("results");
const jobs = client.queue<unknown>("tasks").consume({ prefetch: 16 });
process.once("SIGINT", () => jobs.cancel());
process.once("SIGTERM", () => jobs.cancel());

let done = 0;
for await (const job of jobs) {
  if (typeof job.value !== "bigint" && !Number.isInteger(job.value)) {
    await job.fail(`not an integer: ${String(job.value)}`);
    continue;
  }
  const n = BigInt(job.value as number | bigint);
  // The result's id comes from the task's, so a task delivered twice yields one result.
  await results.put({ n, square: n * n, task: job.id }, { id: `result:${job.id}` });
  await job.ack();
  done++;
}
await client.close();
console.log(`stopped after ${done} tasks`);
