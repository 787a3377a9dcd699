/// <reference lib="dom" />
/**
 * The script of examples/browser/index.html: connects to the god's HTTP face
 * with a worker key typed into the page, puts tasks and squares the waiting
 * ones (examples/drain.ts). Any failure is shown as its message: a refused
 * cross-origin request says to start the god with --http-cors; a page that is
 * not a secure context (plain http:// on a host other than localhost) says
 * WebCrypto is not available there.
 *
 * Give the page a worker key, never the god's key: anyone who opens the page
 * can read what it holds. This one needs
 *   taskwire admin key worker --queues tasks --results tasks,results
 *
 * @module
 */
import { type Client, connect } from "taskwire/worker";
import { drainTasks } from "../drain.ts";

const element = (id: string) => document.getElementById(id)!;
const input = (id: string) => element(id) as HTMLInputElement;
const button = (id: string) => element(id) as HTMLButtonElement;

let client: Client | null = null;

function log(line: string): void {
  element("log").textContent += `${line}\n`;
}

/** Runs a button's action, showing its failure instead of losing it. */
async function attempt(action: () => Promise<void>): Promise<void> {
  element("error").textContent = "";
  try {
    await action();
  } catch (error) {
    element("error").textContent = error instanceof Error ? error.message : String(error);
  }
}

button("connect").addEventListener("click", () =>
  attempt(async () => {
    await client?.close();
    client = await connect({ addr: input("god").value, authkey: input("key").value.trim() });
    button("put").disabled = button("work").disabled = false;
    log(`connected to ${client.addr}`);
  }));

button("put").addEventListener("click", () =>
  attempt(async () => {
    const count = Number(input("count").value);
    const values = Array.from({ length: count }, () => Math.floor(Math.random() * 1000));
    await client!.queue<number>("tasks").putMany(values);
    log(`put ${count} tasks`);
  }));

button("work").addEventListener("click", () =>
  attempt(async () => {
    const { done, failed } = await drainTasks(client!, { max: 1000, by: "browser" });
    log(`squared ${done} tasks` + (failed > 0 ? `, ${failed} were not integers` : ""));
  }));

// Leases of a page that goes away return to the queue when the god stops hearing from it;
// saying goodbye returns them at once.
addEventListener("pagehide", () => void client?.close());
