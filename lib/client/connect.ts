/**
 * `connect()`: one entry for every way to reach a god. The address picks the
 * transport — "host:port" or "tcp://host:port" the TCP protocol, "tls://"
 * the same inside TLS, "http://" or "https://" the god's HTTP face — and the
 * client surface is the same for all of them.
 */
import { importAuthKey, scopeOfKey } from "../protocol/keys.ts";
import { dialTcp } from "../transport/tcp.ts";
import { type TlsClientOptions, tlsDialer } from "../transport/tls.ts";
import type { Address, Dialer } from "../transport/transport.ts";
import { DEFAULT_ADDRESS, formatAddress, parseTarget, type Target } from "../util/address.ts";
import { defaultClientName } from "../util/runtime.ts";
import type { Client, ClientEvent } from "./api.ts";
import { GodClient } from "./client.ts";
import { connectHttp } from "./connect_http.ts";
import { TcpWire } from "./tcp_wire.ts";

/** Options of {@link connect}. */
export interface ConnectOptions {
  /**
   * The god: "host:port" (default 127.0.0.1:5678), "tcp://host:port",
   * "tls://host:port", or the "http(s)://…" URL of its HTTP face.
   */
  addr?: string | Address;
  authkey: string | Uint8Array;
  /** What this client is, shown in the god's stats ("producer", "consumer", ...). */
  role?: string;
  /** A name for this client (default: its runtime and a random suffix). */
  name?: string;
  /** TLS settings (a CA to trust; default the system's roots); given, TLS is used even without tls://. */
  tls?: TlsClientOptions;
  /** TCP/TLS: keep reconnecting when the connection drops (default true). */
  reconnect?: boolean;
  /** TCP/TLS: when the god cannot be reached at start, keep trying instead of failing (default false). */
  waitForGod?: boolean;
  /** TCP/TLS: longest pause between reconnect attempts (default 5 s). */
  maxBackoffMs?: number;
  /** TCP/TLS: how long the god may take to finish the handshake (default 5 s). */
  handshakeTimeoutMs?: number;
  /**
   * TCP/TLS: how long a request may go unanswered beyond what it waits for on
   * the god (a get's timeout, a put's wait for room) before it fails with a
   * `TimeoutError` (default 30 s). A god gone silent is noticed sooner, by heartbeats.
   */
  requestTimeoutMs?: number;
  /** TCP/TLS: opens connections instead of TCP (tests pass an in-memory pair). */
  dial?: Dialer;
  /** TCP/TLS: told about connection changes. */
  onEvent?: (event: ClientEvent) => void;
  /** HTTP: the fetch to use (default the global one). */
  fetch?: typeof fetch;
}

/** Reads `addr` as given to {@link connect}. */
export function targetOf(addr: string | Address | undefined): Target {
  if (addr === undefined) return parseTarget(DEFAULT_ADDRESS);
  if (typeof addr === "string") return parseTarget(addr);
  return { kind: "tcp", address: addr, text: formatAddress(addr) };
}

/**
 * Connects to a god. Rejects with an `AuthError` when the key is refused,
 * a `ConnectionLostError` when the god cannot be reached.
 *
 * @example
 * ```ts
 * const client = await connect({ addr: "127.0.0.1:5678", authkey: "secret", role: "producer" });
 * await client.queue<number>("tasks").put(12);
 * await client.close();
 *
 * const edge = await connect({ addr: "https://god.example", authkey: "secret" });
 * ```
 */
export async function connect(options: ConnectOptions): Promise<Client> {
  const target = targetOf(options.addr);
  const role = options.role ?? "client";
  const name = options.name ?? defaultClientName();
  if (target.kind === "http") {
    return await connectHttp({ ...options, addr: target.url });
  }
  const key = await importAuthKey(options.authkey);
  const tls = target.kind === "tls" || options.tls !== undefined;
  const wire = await TcpWire.open({
    addr: tls && target.kind === "tcp" ? `tls://${target.text}` : target.text,
    address: target.address,
    dial: options.dial ?? (tls ? tlsDialer(options.tls) : dialTcp),
    key,
    scope: scopeOfKey(options.authkey),
    role,
    name,
    reconnect: options.reconnect,
    waitForGod: options.waitForGod,
    maxBackoffMs: options.maxBackoffMs,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
    requestTimeoutMs: options.requestTimeoutMs,
    onEvent: options.onEvent,
  });
  return new GodClient(wire);
}
