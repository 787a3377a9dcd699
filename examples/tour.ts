import { connect } from "taskwire";

const client = await connect({
  addr: process.env.TASKWIRE_ADDR ?? "127.0.0.1:5678",
  authkey: process.env.TASKWIRE_AUTHKEY!,
});
const tasks = client.queue<number>("tasks");

// A consumer: the god pushes it jobs; complete() acks one and stores its result in one step.
const consumer = tasks.consume({ prefetch: 16 });
(async () => {
  for await (const job of consumer) await job.complete(job.value * job.value);
})();

await tasks.put(12); // resolves once the god has stored the task
const answer = await tasks.call(7, { timeout: 5000 }); // a task whose result comes back to us
console.log(`7 * 7 = ${answer}`);

await consumer.return();
await client.close();
