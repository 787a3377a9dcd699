/**
 * Fixture: a god on the NATS JetStream store, run as a real process on Node
 * or Deno by the JetStream end-to-end tests.
 *
 *   js_god.ts NATS_URLS [REPLICAS] [LEASE_MS]
 *
 * Key from TASKWIRE_AUTHKEY; listens on 127.0.0.1 (port 0) and prints
 * `PORT <n>`; prints one JSON line per god or NATS event. Stops on SIGTERM.
 */
import { openJetStream } from "../../lib/jetstream/open.ts";
import { serve } from "../../lib/server/server.ts";

const [urls, replicas = "1", leaseMs = "30000"] = process.argv.slice(2);
const authkey = process.env.TASKWIRE_AUTHKEY;
if (!urls || !authkey) {
  console.error("usage: TASKWIRE_AUTHKEY=... js_god.ts NATS_URLS [REPLICAS] [LEASE_MS]");
  process.exit(2);
}
const log = (event: Record<string, unknown>) => console.log(JSON.stringify(event));
const lease = Number(leaseMs);
const backend = await openJetStream(urls, {
  replicas: Number(replicas),
  queues: { tasks: { leaseMs: lease }, results: { leaseMs: lease } },
  log,
});
const god = await serve({ listen: "127.0.0.1:0", authkey, backend, name: "js-god", log });
console.log(`PORT ${god.port}`);
const stop = () => {
  god.close().then(() => process.exit(0), () => process.exit(1));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
