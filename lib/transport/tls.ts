/**
 * TLS through `node:tls`, which both Node and Deno provide: the same
 * {@link SocketTransport} as TCP, on an encrypted socket. The taskwire
 * handshake (HMAC over the shared key) still runs inside TLS: TLS hides the
 * traffic and proves the god's certificate; the key proves both sides.
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { AuthError, ConnectionLostError, ErrorCode, TaskwireError } from "../protocol/errors.ts";
import { encodeFrame } from "../protocol/frame.ts";
import { errorBody } from "../protocol/handshake.ts";
import type { Address, Listener, Transport } from "./transport.ts";
import { SocketTransport } from "./tcp.ts";

/** A certificate and its private key, PEM text or bytes (the god's side). */
export interface TlsServerOptions {
  cert: string | Uint8Array;
  key: string | Uint8Array;
  /** A client whose TLS handshake takes longer is dropped (ms, default 5000). */
  handshakeTimeoutMs?: number;
  /** Told about TLS handshakes that failed (plain TCP sent to a TLS port, say), once per connection. */
  onError?: (error: Error, remote: string) => void;
  /**
   * Asked as soon as a connection is accepted, before any TLS work: false
   * closes it at once. A connection let in is then either handed over (with
   * `admitted` true) or given back through `abandoned`.
   */
  admit?: (remote: string) => boolean;
  /** A connection `admit` let in will not be handed over (its TLS handshake failed or the peer left). */
  abandoned?: (remote: string) => void;
}

/** How a client checks the god's certificate. */
export interface TlsClientOptions {
  /** PEM of the CA (or the self-signed certificate) to trust; default the system's roots. */
  ca?: string | Uint8Array;
  /** The name the certificate must carry; default the host dialled. */
  servername?: string;
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(":");
}

/**
 * Why a TLS connection could not be opened. A certificate that does not
 * verify is an {@link AuthError} (retrying cannot fix it: the client says
 * what to trust, or the god's certificate is fixed); anything else is a
 * {@link ConnectionLostError} (worth retrying).
 */
function tlsError(error: Error, where: string): AuthError | ConnectionLostError {
  const code = String((error as { code?: unknown }).code ?? "");
  const certificate = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|HOSTNAME/i.test(code) ||
    /certificate/i.test(error.message);
  if (
    /WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|RECORD_LAYER_FAILURE/i.test(code) ||
    /wrong version number|packet length too long/i.test(error.message)
  ) {
    // Worth retrying all the same: a TLS god that took this client for a silent plain one
    // (its ClientHello came seconds late) answers the same way.
    return new ConnectionLostError(
      `Cannot open TLS to ${where}: the god there does not seem to speak TLS on this port (${
        error.message.split("\n")[0]
      }); connect with HOST:PORT, without tls://`,
      { cause: error },
    );
  }
  if (certificate) {
    return new AuthError(
      ErrorCode.AuthFailed,
      `Cannot trust the god's TLS certificate at ${where} (${error.message}): pass the CA that signed it with --tls-ca PATH or TASKWIRE_TLS_CA, or give the god a certificate for this name`,
      { cause: error },
    );
  }
  return new ConnectionLostError(`Cannot open TLS to ${where}: ${error.message}`, { cause: error });
}

/**
 * Returns a dialer that opens TLS connections, checking the god's certificate
 * against `options.ca` (or the system's roots). A certificate that does not
 * verify rejects with an {@link AuthError} saying what to do.
 *
 * @example
 * ```ts
 * const dial = tlsDialer({ ca: await Deno.readTextFile("ca.pem") });
 * const transport = await dial({ host: "127.0.0.1", port: 5678 });
 * ```
 */
export function tlsDialer(
  options: TlsClientOptions = {},
): (address: Address) => Promise<Transport> {
  return (address) =>
    new Promise((resolve, reject) => {
      const servername = options.servername ?? (isIp(address.host) ? undefined : address.host);
      const socket = tls.connect({
        host: address.host,
        port: address.port,
        ca: options.ca as string | undefined,
        servername,
        rejectUnauthorized: true,
      });
      const onError = (error: Error) => {
        socket.destroy();
        reject(tlsError(error, `${address.host}:${address.port}`));
      };
      socket.once("error", onError);
      socket.once("secureConnect", () => {
        socket.off("error", onError);
        resolve(new SocketTransport(socket));
      });
    });
}

/**
 * A plain-TCP taskwire client says nothing first (it waits for the god's
 * Hello): after this long (at most half the handshake time), it is told to
 * use TLS. A TLS client sends its ClientHello at once, seconds before.
 */
const PLAIN_CLIENT_HINT_MS = 3000;
/** The first byte of a TLS record that carries a handshake (a ClientHello starts with it). */
const TLS_HANDSHAKE_RECORD = 0x16;

/**
 * Listens for TLS connections; each is handed over once its TLS handshake is
 * done. Connections are counted from the moment they are accepted, before any
 * TLS work: `admit` decides then whether one may open at all, and one let in
 * whose TLS handshake fails (or times out, or never starts) is given back with
 * `abandoned`, so limits hold for connections still in their TLS handshake. A
 * client that says nothing first (a plain-TCP taskwire client waiting for the
 * god's Hello) is told, in a plain Error frame, to connect with `tls://`.
 *
 * @example
 * ```ts
 * const listener = await listenTls({ host: "127.0.0.1", port: 0 }, { cert, key }, accept);
 * ```
 */
export function listenTls(
  address: Address,
  options: TlsServerOptions,
  onConnection: (transport: Transport, admitted: boolean) => void,
): Promise<Listener> {
  const sockets = new Set<net.Socket>();
  const secureContext = tls.createSecureContext({
    cert: options.cert as string,
    key: options.key as string,
  });
  const timeoutMs = options.handshakeTimeoutMs ?? 5000;
  const server = net.createServer((raw) => {
    const remote = `${raw.remoteAddress ?? "?"}:${raw.remotePort ?? "?"}`;
    if (options.admit !== undefined && !options.admit(remote)) {
      raw.destroy();
      return;
    }
    sockets.add(raw);
    raw.once("close", () => sockets.delete(raw));
    let settled = false;
    /** The connection will not be handed over: give its admission back, once. */
    const abandon = (error: Error | null, end = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(plainTimer);
      if (error !== null) options.onError?.(error, remote);
      if (end) {
        raw.end();
        setTimeout(() => raw.destroy(), 1000).unref?.();
      } else raw.destroy();
      options.abandoned?.(remote);
    };
    const timer = setTimeout(
      () =>
        abandon(
          new TaskwireError(
            ErrorCode.HandshakeTimeout,
            `TLS handshake not finished within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
    const plainTimer = setTimeout(() => {
      if (settled || raw.bytesRead > 0) return;
      raw.write(encodeFrame(errorBody({
        code: ErrorCode.VersionMismatch,
        message:
          "this god serves TLS on this port: connect with tls://HOST:PORT (and --tls-ca PATH for a private CA)",
      })));
      abandon(
        new TaskwireError(
          ErrorCode.BadMessage,
          "a plain TCP client (it sent nothing); told to connect with tls://",
        ),
        true,
      );
    }, Math.min(PLAIN_CLIENT_HINT_MS, timeoutMs / 2));
    raw.once("error", (error: Error) => abandon(error));
    raw.once("close", () => abandon(null));
    raw.once("data", (chunk: Uint8Array) => {
      if (settled) return;
      clearTimeout(plainTimer);
      if (chunk[0] !== TLS_HANDSHAKE_RECORD) {
        abandon(
          new TaskwireError(
            ErrorCode.BadMessage,
            "not TLS: the client's first bytes are not a TLS ClientHello",
          ),
        );
        return;
      }
      raw.pause();
      raw.unshift(chunk);
      const socket = new tls.TLSSocket(raw, { isServer: true, secureContext });
      socket.once("error", (error: Error) => {
        if (!settled) abandon(error);
        socket.destroy();
      });
      socket.once("secure", () => {
        if (settled) {
          socket.destroy();
          return;
        }
        settled = true;
        clearTimeout(timer);
        sockets.add(socket);
        socket.once("close", () => sockets.delete(socket));
        onConnection(new SocketTransport(socket), options.admit !== undefined);
      });
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: address.host, port: address.port }, () => {
      server.off("error", reject);
      const bound = server.address() as { address: string; port: number };
      resolve({
        host: bound.address,
        port: bound.port,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
