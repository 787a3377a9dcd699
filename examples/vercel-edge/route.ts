/**
 * A taskwire worker as a Vercel Edge Function (a Next.js route handler; save
 * it as app/api/drain/route.ts). Each call drains the tasks waiting on the
 * god, over its HTTP face: the `taskwire/worker` entry, with nothing of Node.
 * Call it from a Vercel Cron Job (vercel.json: {"crons": [{"path":
 * "/api/drain", "schedule": "* * * * *"}]}) or from anything that knows work
 * is waiting.
 *
 * Environment variables (Project Settings → Environment Variables):
 *   TASKWIRE_URL  the god's HTTP face, e.g. https://god.example
 *   TASKWIRE_KEY  a worker key: taskwire admin key worker --queues tasks --results results
 *
 * @module
 */
import { type Client, connect } from "taskwire/worker";
import { drainTasks } from "../drain.ts";

export const runtime = "edge";

/** Tasks per call: k tasks cost k + 2 requests to the god. */
const MAX_TASKS = 100;

// Kept while the isolate lives: the HTTP client holds no connection, only the key.
let client: Promise<Client> | undefined;

function godClient(): Promise<Client> {
  if (client === undefined) {
    const addr = process.env.TASKWIRE_URL;
    const authkey = process.env.TASKWIRE_KEY;
    if (!addr || !authkey) {
      return Promise.reject(new Error("Set TASKWIRE_URL and TASKWIRE_KEY (a worker key)"));
    }
    client = connect({ addr, authkey, role: "consumer" });
    client.catch(() => client = undefined);
  }
  return client;
}

export async function GET(): Promise<Response> {
  try {
    return Response.json(await drainTasks(await godClient(), { max: MAX_TASKS, by: "vercel" }));
  } catch (error) {
    return Response.json({ error: String(error) }, { status: 502 });
  }
}
