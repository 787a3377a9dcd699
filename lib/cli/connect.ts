/** Connecting a role to the god, with the role's messages for each way it can fail. */
import { AuthError } from "../protocol/errors.ts";
import type { Client } from "../client/api.ts";
import { connect } from "../client/connect.ts";
import { parseTarget } from "../util/address.ts";
import { CliFailure, type OptionSpec } from "./args.ts";
import type { Output } from "./output.ts";
import { KEY_ENV, keyRejected, reportClientEvent, type Stopper } from "./role.ts";
import { env, missingPermission, readText } from "./runtime.ts";

/** The environment variable naming a PEM file of the CA to trust for tls:// addresses. */
export const TLS_CA_ENV = "TASKWIRE_TLS_CA";

/** The options of every role that connects to a god (producer, consumer, admin). */
export const CLIENT_OPTIONS = {
  connect: {
    kind: "string",
    arg: "ADDR",
    help: "the god's address: HOST:PORT, tls://HOST:PORT or its http:// URL",
    default: "$TASKWIRE_ADDR or 127.0.0.1:5678",
  },
  "authkey-file": {
    kind: "string",
    arg: "PATH",
    help: `file holding the shared key (else $${KEY_ENV})`,
  },
  "tls-ca": {
    kind: "string",
    arg: "PATH",
    help: `CA certificate (PEM) to trust for tls:// (else $${TLS_CA_ENV}, else the system's)`,
  },
} as const satisfies Record<string, OptionSpec>;

/**
 * Connects a worker role that keeps trying while the god is away; resolves to
 * null if the role is told to stop before it got through.
 */
export async function connectUnlessStopped(
  out: Output,
  stopper: Stopper,
  options: { addr: string; authkey: string; role: string; name: string; tlsCa?: string },
): Promise<Client | null> {
  const connecting = connectRole(out, { ...options, wait: true, stopping: stopper.signal });
  const first = await Promise.race([connecting, stopper.stopped.then(() => null)]);
  if (first === null) connecting.then((client) => client.close(), () => {});
  return first;
}

/**
 * Connects as `role` to the god at `addr`. With `wait`, keeps trying (and says
 * so) while the god cannot be reached. A refused key or an unreachable god
 * (without `wait`) is a {@link CliFailure} with what to do. Connection changes are
 * printed until `stopping` aborts.
 */
export async function connectRole(
  out: Output,
  options: {
    addr: string;
    authkey: string;
    role: string;
    name?: string;
    wait: boolean;
    /** Once aborted (the role is stopping), connection changes are no longer reported. */
    stopping?: AbortSignal;
    /** A PEM file of the CA to trust for tls:// (`--tls-ca`); else $TASKWIRE_TLS_CA, else the system's roots. */
    tlsCa?: string;
  },
): Promise<Client> {
  const target = parseTarget(options.addr);
  try {
    return await connect({
      addr: options.addr,
      authkey: options.authkey,
      role: options.role,
      name: options.name,
      waitForGod: options.wait,
      reconnect: options.wait,
      onEvent: (event) => {
        if (!options.stopping?.aborted) reportClientEvent(out, event);
      },
      // The CA matters only for tls:// (and only then is TASKWIRE_TLS_CA read).
      tls: target.kind === "tls" ? await tlsFrom(options.tlsCa) : undefined,
    });
  } catch (error) {
    // Deno without --allow-net for the god: not an unreachable god. reportFailure says which flag.
    if (missingPermission(error) !== null) throw error;
    // Both transports (TCP and HTTP) report a refused key as an AuthError.
    if (error instanceof AuthError) {
      throw keyRejected(options.addr, error as Error);
    }
    const hint = target.kind === "http"
      ? "Is the god running with --http there?"
      : "Is the god running? Check --connect or TASKWIRE_ADDR";
    throw new CliFailure(
      `Cannot reach the god at ${options.addr}: ${(error as Error).message}. ${hint}`,
      { cause: error },
    );
  }
}

/** TLS settings from `file` or `TASKWIRE_TLS_CA` (a CA file to trust); undefined: the system's roots. */
async function tlsFrom(given: string | undefined): Promise<{ ca: string } | undefined> {
  const file = given ?? env(TLS_CA_ENV);
  if (file === undefined || file === "") return undefined;
  try {
    return { ca: await readText(file) };
  } catch (error) {
    throw new CliFailure(
      `Cannot read the CA file "${file}" (${given ? "--tls-ca" : TLS_CA_ENV}): ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
}

/** Waits for `promise` at most `ms`; resolves to false when time ran out. */
export async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
