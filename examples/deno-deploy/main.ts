/**
 * A taskwire worker on Deno Deploy: every request to it drains the tasks
 * waiting on the god, and so does a cron every minute; over the god's HTTP
 * face, with the `taskwire/worker` entry.
 *
 * Environment variables (the project's settings on Deno Deploy):
 *   TASKWIRE_URL  the god's HTTP face, e.g. https://god.example
 *   TASKWIRE_KEY  a worker key: taskwire admin key worker --queues tasks --results results
 *
 * Locally, with only the permissions it needs (Deno.cron needs --unstable-cron here):
 *   deno run --allow-net=god.example:443,0.0.0.0:8000 --allow-env=TASKWIRE_URL,TASKWIRE_KEY,LISTEN \
 *     --unstable-cron examples/deno-deploy/main.ts
 *
 * @module
 */
import { type Client, connect } from "taskwire/worker";
import { drainTasks } from "../drain.ts";

const addr = Deno.env.get("TASKWIRE_URL");
const authkey = Deno.env.get("TASKWIRE_KEY");
if (!addr || !authkey) {
  throw new Error("Set TASKWIRE_URL and TASKWIRE_KEY (a worker key: taskwire admin key worker)");
}

/** Tasks per drain: k tasks cost k + 2 requests to the god. */
const MAX_TASKS = 100;

// One client while the isolate lives; Deploy starts and stops isolates as it likes,
// so nothing here waits for work in the background: requests and the cron do the work.
let client: Promise<Client> | undefined;
function godClient(): Promise<Client> {
  if (client === undefined) {
    client = connect({ addr: addr!, authkey: authkey!, role: "consumer" });
    client.catch(() => client = undefined);
  }
  return client;
}

async function drain(): Promise<Response> {
  try {
    return Response.json(
      await drainTasks(await godClient(), { max: MAX_TASKS, by: "deno-deploy" }),
    );
  } catch (error) {
    return Response.json({ error: String(error) }, { status: 502 });
  }
}

// Deno.cron is stable on Deploy; locally it exists only with --unstable-cron.
type Cron = (name: string, schedule: string, run: () => Promise<unknown>) => void;
const cron = (Deno as unknown as { cron?: Cron }).cron;
cron?.("drain taskwire tasks", "* * * * *", drain);

// Deploy picks the address itself; locally LISTEN says where (default 0.0.0.0:8000).
const [hostname, port] = (Deno.env.get("LISTEN") ?? "0.0.0.0:8000").split(":");
const server = Deno.serve({
  hostname,
  port: Number(port),
  onListen: (where) => console.log(`listening on http://${where.hostname}:${where.port}`),
}, drain);
// Deploy never sends these; locally, Ctrl-C or SIGTERM stops the server and the cron.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => server.shutdown().then(() => Deno.exit(0)));
}
