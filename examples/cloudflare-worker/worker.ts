/**
 * A taskwire worker on Cloudflare Workers (module syntax). It drains the
 * tasks waiting on the god when it is called (`fetch`, e.g. by a webhook) and
 * on a schedule (`scheduled`, a Cron Trigger), over the god's HTTP face: the
 * `taskwire/worker` entry, with nothing of Node.
 *
 * The client is made once per isolate and reused by later requests: the HTTP
 * client holds no connection, only a key, so that is allowed. A TCP client
 * (the main "taskwire" entry) cannot be kept like this: its socket belongs
 * to the request that opened it, and the next request fails with "Cannot
 * perform I/O on behalf of a different request".
 *
 * Bindings (wrangler.toml, or workerd.capnp to run it locally with workerd):
 *   TASKWIRE_URL  the god's HTTP face, e.g. https://god.example
 *   TASKWIRE_KEY  a worker key (a secret): taskwire admin key worker --queues tasks --results results
 *
 * @module
 */
import { type Client, connect } from "taskwire/worker";
import { drainTasks } from "../drain.ts";

interface Env {
  TASKWIRE_URL: string;
  TASKWIRE_KEY: string;
}

/** The parts of Cloudflare's ExecutionContext and ScheduledController used here. */
interface Context {
  waitUntil(promise: Promise<unknown>): void;
}
interface Controller {
  cron: string;
  scheduledTime: number;
}

/** Tasks per invocation: k tasks cost k + 2 subrequests (50 per invocation on the Free plan). */
const MAX_TASKS = 40;

let client: Promise<Client> | undefined;
/** How many requests this isolate's client has served (shown, so reuse can be seen). */
let uses = 0;

/** The isolate's client, made on first use; a failed connect is tried again next time. */
function godClient(env: Env): Promise<Client> {
  if (client === undefined) {
    client = connect({ addr: env.TASKWIRE_URL, authkey: env.TASKWIRE_KEY, role: "consumer" });
    client.catch(() => client = undefined);
  }
  uses++;
  return client;
}

export default {
  async fetch(_request: Request, env: Env): Promise<Response> {
    try {
      const drained = await drainTasks(await godClient(env), { max: MAX_TASKS, by: "cloudflare" });
      return Response.json({ ...drained, clientUses: uses });
    } catch (error) {
      return Response.json({ error: String(error) }, { status: 502 });
    }
  },

  scheduled(_controller: Controller, env: Env, ctx: Context): void {
    ctx.waitUntil(godClient(env).then((c) => drainTasks(c, { max: MAX_TASKS, by: "cloudflare" })));
  },
};
