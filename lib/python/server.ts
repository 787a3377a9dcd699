/**
 * The Python door's listener: TCP connections from Python's
 * `multiprocessing.managers.BaseManager` clients, each served by a
 * {@link PythonConnection} against a {@link PythonGod}, under the same
 * connection and pre-authentication limits as the god's main door.
 */
import { hostOf, LimitCounters } from "../server/admission.ts";
import { type Limits, resolveLimits } from "../protocol/limits.ts";
import { listenTcp } from "../transport/tcp.ts";
import type { Address, Listener, Transport } from "../transport/transport.ts";
import { parseAddress } from "../util/address.ts";
import { importPythonKey } from "./auth.ts";
import type { PythonGod } from "./door.ts";
import { encodePyFrame } from "./framing.ts";
import { PythonConnection, type PythonConnectionContext } from "./connection.ts";
import { printable } from "./text.ts";
import { checkPythonQueues, DEFAULT_PYTHON_QUEUES } from "./bindings.ts";

/** Options of {@link servePython}. */
export interface PythonDoorOptions {
  /** "host:port" or an address; port 0 picks a free port. */
  listen: string | Address;
  /** The god's key: Python scripts pass its UTF-8 bytes as `authkey`. */
  authkey: string | Uint8Array;
  /** Registered name (what scripts `register`) → taskwire queue; default {@link DEFAULT_PYTHON_QUEUES}. */
  queues?: Record<string, string>;
  /** The god's limits (see docs/SECURITY.md); unset ones take their defaults. */
  limits?: Partial<Limits>;
  /** The god's connection counters (`god.admission`), so its limits hold across both doors; default: the door's own. */
  admission?: LimitCounters;
  /** Receives one object per notable event (connections, refusals). */
  log?: (event: Record<string, unknown>) => void;
  /** Send Python ≤ 3.11's 20-byte challenge instead of `{sha256}` (tests; every version answers both). */
  legacyChallenge?: boolean;
  /** Replaces TCP (tests): listen and hand over each new connection. */
  listener?: (address: Address, onConnection: (t: Transport) => void) => Promise<Listener>;
}

/** A running Python door. */
export interface PythonDoor {
  readonly host: string;
  readonly port: number;
  /** Python name → taskwire queue, as served. */
  readonly queues: Readonly<Record<string, string>>;
  /** Stops accepting and closes every Python connection (their jobs go back to their queues). */
  close(): Promise<void>;
}

/**
 * Starts the Python door.
 *
 * @example
 * ```ts
 * const door = await servePython(pythonGod(god.ops), { listen: "127.0.0.1:5679", authkey: "secret" });
 * // Python: BaseManager(address=("127.0.0.1", 5679), authkey=b"secret")
 * await door.close();
 * ```
 */
export async function servePython(god: PythonGod, options: PythonDoorOptions): Promise<PythonDoor> {
  const address = typeof options.listen === "string"
    ? parseAddress(options.listen)
    : options.listen;
  const queues = { ...(options.queues ?? DEFAULT_PYTHON_QUEUES) };
  checkPythonQueues(queues);
  const limits = resolveLimits(options.limits);
  const counters = options.admission ?? new LimitCounters(limits);
  const log = options.log ?? (() => {});
  const connections = new Set<PythonConnection>();
  let closing = false;

  const ctx: PythonConnectionContext = {
    god,
    key: await importPythonKey(options.authkey),
    bindings: new Map(Object.entries(queues)),
    settings: {
      maxFrameSize: limits.maxFrameSize,
      maxPayloadBytes: limits.maxPayloadBytes,
      handshakeTimeoutMs: limits.handshakeTimeoutMs,
      legacyChallenge: options.legacyChallenge ?? false,
      maxPending: 16,
    },
    limits: counters,
    log,
    // Called once per connection; every connection was admitted.
    ended(connection) {
      connections.delete(connection);
      counters.release(hostOf(connection.remote));
    },
  };

  // Refusals are logged at most once a second per limit, with how many were not.
  const refusals = new Map<string, { at: number; quiet: number }>();
  const refuse = (transport: Transport, limit: string, message: string) => {
    // Python reads this where it expects #CHALLENGE# and shows it in its error.
    transport.write(encodePyFrame(new TextEncoder().encode(`#REFUSED# ${message}`.slice(0, 250))));
    transport.close();
    const now = Date.now();
    const seen = refusals.get(limit);
    if (seen && now - seen.at < 1000) {
      seen.quiet++;
      return;
    }
    refusals.set(limit, { at: now, quiet: 0 });
    log({
      event: "refused",
      door: "python",
      remote: printable(transport.remote),
      limit,
      message,
      unlogged: seen?.quiet ?? 0,
    });
  };

  const accept = (transport: Transport) => {
    if (closing) {
      refuse(transport, "closing", "the god is shutting down");
      return;
    }
    const refused = counters.admit(hostOf(transport.remote), Date.now());
    if (refused) {
      refuse(transport, refused.limit, refused.message);
      return;
    }
    const connection = new PythonConnection(transport, ctx);
    if (!connection.closed) connections.add(connection);
  };

  const listener = options.listener
    ? await options.listener(address, accept)
    : await listenTcp(address, accept);

  return {
    host: listener.host,
    port: listener.port,
    queues,
    async close() {
      if (closing) return;
      closing = true;
      for (const connection of [...connections]) connection.close();
      await listener.close();
    },
  };
}
