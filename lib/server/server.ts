/**
 * The god: a queue backend (the embedded broker journaled by a store, or a
 * remote backend), the operations layer over it, and the TCP door, whose
 * connections become {@link Session}s. Other doors (the HTTP face, the Python
 * door) are started on a running god and translate onto the same operations.
 */
import { Broker, type BrokerOptions } from "../queue/broker.ts";
import type { QueueBackend } from "../queue/backend.ts";
import type { QueueOptions } from "../queue/types.ts";
import { MemoryStore, type Store } from "../store/store.ts";
import { Operations } from "../ops/operations.ts";
import { importAuthKey, KeyRing } from "../protocol/keys.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { errorBody } from "../protocol/handshake.ts";
import { encodeFrame } from "../protocol/frame.ts";
import { type Limits, resolveLimits } from "../protocol/limits.ts";
import type { GodStats } from "../protocol/replies.ts";
import { listenTcp } from "../transport/tcp.ts";
import { listenTls, type TlsServerOptions } from "../transport/tls.ts";
import type { Address, Listener, Transport } from "../transport/transport.ts";
import { parseAddress } from "../util/address.ts";
import { runtimeName } from "../util/runtime.ts";
import { Session, type SessionContext } from "./session.ts";
import { hostOf, isLocal, LimitCounters, refusalLogger } from "./admission.ts";
import { SOFTWARE } from "../version.ts";

/** Options of {@link serve}. */
export interface ServeOptions {
  /** "host:port" or an address; default 127.0.0.1:5678. Port 0 picks a free port. */
  listen?: string | Address;
  /** The shared key every client must prove it knows. */
  authkey: string | Uint8Array;
  /** Queues that exist from the start (default `tasks` and `results`). */
  queues?: Record<string, Partial<QueueOptions>>;
  /** Whether clients may create queues by naming them (default true). */
  allowCreate?: boolean;
  /** Largest frame after the handshake (default 16 MiB). */
  maxFrameSize?: number;
  /** A client that has not finished the handshake by then is dropped (default 5 s). */
  handshakeTimeoutMs?: number;
  /** Durability; default in memory. See `openJournal` for the durable store. */
  store?: Store;
  /** State recovered by the store, loaded before serving. */
  restore?: Parameters<Broker["restore"]>[0];
  /** Broker settings beyond queues (dedupe window, limits). */
  broker?: Omit<BrokerOptions, "queues" | "allowCreate" | "journal">;
  /** A name for this god, shown to clients and in stats. */
  name?: string;
  /** Receives one object per notable event (connections, rejections). */
  log?: (event: Record<string, unknown>) => void;
  /** Limits on what clients may use (see docs/SECURITY.md); unset ones take their defaults. */
  limits?: Partial<Limits>;
  /** Serve TLS instead of plain TCP with this certificate and key (PEM). */
  tls?: Pick<TlsServerOptions, "cert" | "key">;
  /** How long a graceful close waits for requests in flight (default 3000 ms). */
  drainMs?: number;
  /**
   * Where the queues live instead of the embedded broker, e.g. NATS JetStream
   * (`openJetStream`, which takes the queues to declare); `queues`,
   * `allowCreate`, `store`, `restore` and `broker` are then unused. The god
   * closes it on close.
   */
  backend?: QueueBackend;
  /**
   * The god's clock (default Date.now). Tests pass their own to move time
   * (schedules, backoff, rate limits, leases) without sleeping, then call
   * `god.ops.advance()`.
   */
  now?: () => number;
  /** Replaces TCP (tests): listen and hand over each new connection. */
  listener?: (address: Address, onConnection: (t: Transport) => void) => Promise<Listener>;
}

/** A running god. */
export interface God {
  readonly host: string;
  readonly port: number;
  /** The operations every door translates onto (lib/ops/operations.ts). */
  readonly ops: Operations;
  /** The god's key (imported for HMAC) and the worker keys derived from it: the doors started on this god check requests with them. */
  readonly keys: KeyRing;
  /** Connections counted against the god's limits: every socket door (the Python door too) admits through them. */
  readonly admission: LimitCounters;
  /** Everything the god can tell about itself, now. */
  stats(queue?: string): GodStats;
  /** Hands a transport to the TCP door as if it had just connected (tests use this). */
  accept(transport: Transport): void;
  /** Stops accepting, says goodbye to every client, makes the store durable and closes it. */
  close(): Promise<void>;
}

/**
 * Starts a god.
 *
 * @example
 * ```ts
 * const god = await serve({ listen: "127.0.0.1:5678", authkey: "secret" });
 * // ... later
 * await god.close();
 * ```
 */
export async function serve(options: ServeOptions): Promise<God> {
  const address = typeof options.listen === "string"
    ? parseAddress(options.listen)
    : options.listen ?? { host: "127.0.0.1", port: 5678 };
  const keys = new KeyRing(await importAuthKey(options.authkey));
  const limits = resolveLimits({
    maxFrameSize: options.maxFrameSize,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
    maxQueues: options.broker?.maxQueues,
    ...options.limits,
  });
  const counters = new LimitCounters(limits);
  const store: Store = options.store ?? new MemoryStore();
  const backend: QueueBackend = options.backend ??
    embeddedBroker(options, store, limits.maxQueues);
  const log = options.log ?? (() => {});
  const sessions = new Set<Session>();
  const name = options.name ?? "god";

  let listener: Listener | null = null;
  const ops = new Operations({
    backend,
    store,
    limits,
    name,
    address: () => listener ? `${listener.host}:${listener.port}` : "",
    limitStats: () => counters.stats(Date.now()),
    onLimit: (limit) => counters.hit(limit),
    now: options.now,
  });
  const sweeper = setInterval(() => {
    const now = Date.now();
    counters.auth.sweep(now);
    for (const summary of counters.rejections.sweep(now)) log({ event: "rejections", ...summary });
  }, 1000);
  // One timer for every connection's heartbeat.
  const heartbeats = setInterval(() => {
    for (const session of sessions) session.heartbeat();
  }, limits.heartbeatMs);

  const ctx: SessionContext = {
    ops,
    keys,
    info: {
      maxFrameSize: limits.maxFrameSize,
      runtime: runtimeName(),
      name,
      heartbeatMs: limits.heartbeatMs,
      software: SOFTWARE,
    },
    handshakeTimeoutMs: limits.handshakeTimeoutMs,
    limits: counters,
    log,
    ended: (session) => {
      sessions.delete(session);
      if (admitted.delete(session)) counters.release(hostOf(session.remote));
    },
  };
  let closing = false;
  const admitted = new WeakSet<Session>();
  const logRefusal = refusalLogger(log);
  const refuse = (transport: Transport, code: ErrorCode, limit: string, message: string) => {
    transport.write(encodeFrame(errorBody({ code, message })));
    transport.close();
    logRefusal(transport.remote, limit, message);
  };
  /** A new connection; `preAdmitted` when the listener already counted it (TLS counts at accept). */
  const accept = (transport: Transport, preAdmitted = false) => {
    if (closing) {
      if (preAdmitted) releaseAdmission(transport.remote);
      refuse(transport, ErrorCode.ShuttingDown, "closing", "the god is shutting down");
      return;
    }
    // In-process connections (tests) are not limited per address.
    const local = isLocal(transport);
    if (!local && !preAdmitted) {
      const refused = counters.admit(hostOf(transport.remote), Date.now());
      if (refused) {
        refuse(transport, ErrorCode.Limit, refused.limit, refused.message);
        return;
      }
    }
    const session = new Session(transport, ctx);
    if (!local) admitted.add(session);
    sessions.add(session);
  };
  /** Admission at accept time, before a TLS handshake: false refuses (the socket is just closed). */
  const admitRaw = (remote: string): boolean => {
    if (closing) return false;
    const refused = counters.admit(hostOf(remote), Date.now());
    if (refused === null) return true;
    logRefusal(remote, refused.limit, refused.message);
    return false;
  };
  /** A connection counted at accept time that will not become a session (its TLS handshake failed). */
  const releaseAdmission = (remote: string) => {
    counters.handshakeOver(hostOf(remote));
    counters.release(hostOf(remote));
  };
  /** A failed TLS handshake: logged like other rejections, once per address per interval. */
  const tlsFailed = (error: Error, remote: string) => {
    if (counters.rejections.note(hostOf(remote), "tls", Date.now())) {
      log({ event: "tls-error", remote, message: error.message.split("\n")[0] });
    }
  };
  const tls = options.tls;
  try {
    listener = options.listener
      ? await options.listener(address, accept)
      : tls
      ? await listenTls(address, {
        ...tls,
        handshakeTimeoutMs: limits.handshakeTimeoutMs,
        onError: tlsFailed,
        admit: admitRaw,
        abandoned: releaseAdmission,
      }, accept)
      : await listenTcp(address, accept);
  } catch (error) {
    ops.close();
    clearInterval(sweeper);
    clearInterval(heartbeats);
    throw error;
  }

  return {
    host: listener.host,
    port: listener.port,
    ops,
    keys,
    admission: counters,
    stats: (queue) => ops.snapshot(queue),
    accept,
    async close() {
      if (closing) return;
      closing = true;
      // New connections are refused from now on; requests in flight get their replies.
      await Promise.all(
        [...sessions].map((session) =>
          session.shutdown("the god is shutting down", options.drainMs ?? 3000)
        ),
      );
      await listener!.close();
      clearInterval(sweeper);
      clearInterval(heartbeats);
      ops.close();
      await store.close();
      await backend.close?.();
    },
  };
}

/** The embedded broker, journaled to `store` and loaded with what the store recovered. */
function embeddedBroker(options: ServeOptions, store: Store, maxQueues: number): Broker {
  const broker = new Broker({
    maxQueues,
    ...options.broker,
    queues: options.restore ? {} : options.queues ?? { tasks: {}, results: {} },
    allowCreate: options.allowCreate,
    journal: (record) => store.append(record),
  });
  if (options.restore) {
    broker.restore(options.restore, options.now?.() ?? Date.now());
    for (
      const [name, queueOptions] of Object.entries(options.queues ?? { tasks: {}, results: {} })
    ) {
      if (!broker.queueNames.includes(name)) broker.declare(name, queueOptions);
    }
  }
  store.attach?.(broker);
  return broker;
}
