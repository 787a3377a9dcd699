/**
 * TLS through `node:tls`, which both Node and Deno provide: the same
 * {@link SocketTransport} as TCP, on an encrypted socket. The taskwire
 * handshake (HMAC over the shared key) still runs inside TLS: TLS hides the
 * traffic and proves the god's certificate; the key proves both sides.
 */
import * as tls from "node:tls";
import { AuthError, ConnectionLostError, ErrorCode } from "../protocol/errors.ts";
import type { Address, Listener, Transport } from "./transport.ts";
import { SocketTransport } from "./tcp.ts";

/** A certificate and its private key, PEM text or bytes (the god's side). */
export interface TlsServerOptions {
  cert: string | Uint8Array;
  key: string | Uint8Array;
  /** A client whose TLS handshake takes longer is dropped (ms, default 5000). */
  handshakeTimeoutMs?: number;
  /** Told about TLS handshakes that failed (plain TCP sent to a TLS port, say). */
  onError?: (error: Error, remote: string) => void;
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
 * Listens for TLS connections; each is handed over once its TLS handshake is done.
 *
 * @example
 * ```ts
 * const listener = await listenTls({ host: "127.0.0.1", port: 0 }, { cert, key }, accept);
 * ```
 */
export function listenTls(
  address: Address,
  options: TlsServerOptions,
  onConnection: (transport: Transport) => void,
): Promise<Listener> {
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer({
    cert: options.cert as string,
    key: options.key as string,
    handshakeTimeout: options.handshakeTimeoutMs ?? 5000,
  }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    onConnection(new SocketTransport(socket));
  });
  server.on("tlsClientError", (error: Error, socket: tls.TLSSocket) => {
    options.onError?.(error, `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`);
    socket.destroy();
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
