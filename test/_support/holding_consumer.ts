/**
 * A consumer that takes jobs and never acks them, for tests that kill a
 * consumer mid-task. Usage: holding_consumer.ts HOST:PORT QUEUE PREFETCH
 */
import { connect } from "../../mod.ts";
import process from "node:process";

const [addr, queue, prefetch] = process.argv.slice(2);
const client = await connect({ addr, authkey: process.env.TASKWIRE_AUTHKEY!, role: "consumer" });
let held = 0;
for await (const _job of client.queue(queue).consume({ prefetch: Number(prefetch) })) {
  if (++held === Number(prefetch)) console.log(`holding ${held}`);
}
