/**
 * Connecting over the god's HTTP face only: what runs where there are no
 * sockets (edge runtimes, browsers). It imports nothing of Node, so bundlers
 * can take it alone (the package's `taskwire/worker` entry).
 */
import { ArgumentError } from "../protocol/errors.ts";
import { importAuthKey, scopeOfKey } from "../protocol/keys.ts";
import { parseTarget } from "../util/address.ts";
import { defaultClientName } from "../util/runtime.ts";
import type { Client } from "./api.ts";
import { GodClient } from "./client.ts";
import { HttpWire } from "./http_wire.ts";

/** Options of {@link connectHttp}. */
export interface HttpConnectOptions {
  /** The URL of the god's HTTP face: "http://…" or "https://…". */
  addr: string;
  authkey: string | Uint8Array;
  /** What this client is, shown in the god's stats ("producer", "consumer", ...). */
  role?: string;
  /** A name for this client (default: its runtime and a random suffix). */
  name?: string;
  /** The fetch to use (default the global one). */
  fetch?: typeof fetch;
}

/**
 * Connects to a god's HTTP face. Rejects with an `AuthError` when the key is
 * refused, a `ConnectionLostError` when the face cannot be reached.
 *
 * @example
 * ```ts
 * const client = await connectHttp({ addr: "https://god.example", authkey: env.TASKWIRE_AUTHKEY });
 * const job = await client.queue<number>("tasks").get({ timeout: 5000 });
 * ```
 */
export async function connectHttp(options: HttpConnectOptions): Promise<Client> {
  const target = parseTarget(options.addr);
  if (target.kind !== "http") {
    throw new ArgumentError(
      `Cannot connect to ${options.addr} over HTTP: give the http(s):// URL of the god's HTTP face (TCP and TLS need the "taskwire" entry, not "taskwire/worker")`,
    );
  }
  const wire = await HttpWire.open({
    url: target.url,
    key: await importAuthKey(options.authkey),
    scope: scopeOfKey(options.authkey),
    role: options.role ?? "client",
    name: options.name ?? defaultClientName(),
    fetch: options.fetch,
  });
  return new GodClient(wire);
}
