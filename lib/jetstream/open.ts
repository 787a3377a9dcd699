/**
 * Connecting a god to NATS JetStream: `god --store nats://host:port[,host:port…]`.
 *
 * Reaching NATS is retried with backoff (each failure is reported through
 * `log`); once connected, the NATS client reconnects by itself for as long as
 * the god runs. Credentials come from the URL (`nats://user:pass@host`), a
 * creds file, or the environment (`NATS_CREDS`, `NATS_USER`/`NATS_PASSWORD`,
 * `NATS_TOKEN`); `tls://` URLs or `tls` options (default `NATS_TLS_CA`,
 * `NATS_TLS_CERT`, `NATS_TLS_KEY`) turn TLS on.
 */
import { readFile } from "node:fs/promises";
import {
  connect,
  credsAuthenticator,
  type NatsConnection,
  type NodeConnectionOptions,
} from "@nats-io/transport-node";
import { ErrorCode, TaskwireError } from "../protocol/errors.ts";
import { JetStreamBackend, type JetStreamBackendOptions } from "./backend.ts";

/** Options of {@link openJetStream}. */
export interface OpenJetStreamOptions extends JetStreamBackendOptions {
  /** A NATS creds file (JWT + nkey seed); default `$NATS_CREDS`. */
  credsFile?: string;
  /** User and password, or a token; default `$NATS_USER`/`$NATS_PASSWORD`, `$NATS_TOKEN`. */
  user?: string;
  pass?: string;
  token?: string;
  /**
   * TLS files, for servers that require TLS (a `tls://` URL turns TLS on with
   * system CAs); default from `NATS_TLS_CA`, `NATS_TLS_CERT`, `NATS_TLS_KEY`.
   */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** Stop retrying to connect after this many attempts (default: keep trying). */
  maxAttempts?: number;
  /** Longest pause between connection attempts (default 5 s). */
  maxBackoffMs?: number;
  /** The NATS connection's name, shown by `nats server report connections`. */
  name?: string;
  /** Ends the connection attempts (the god is stopping). */
  signal?: AbortSignal;
}

/** Splits `nats://a:4222,b:4222` (or a list) into server URLs. */
export function parseNatsUrls(urls: string | readonly string[]): string[] {
  const list = (typeof urls === "string" ? urls.split(",") : [...urls])
    .map((u) => u.trim())
    .filter((u) => u.length > 0);
  if (list.length === 0) {
    throw new TaskwireError(ErrorCode.BadArgument, "Invalid NATS address: no server given");
  }
  let scheme = "nats://";
  return list.map((u) => {
    const m = /^([a-z]+):\/\//i.exec(u);
    if (m) {
      scheme = `${m[1].toLowerCase()}://`;
      if (!["nats://", "tls://"].includes(scheme)) {
        throw new TaskwireError(
          ErrorCode.BadArgument,
          `Invalid NATS address "${u}": use nats://HOST:PORT or tls://HOST:PORT`,
        );
      }
      return u;
    }
    // Later hosts of "nats://a:1,b:2" take the first one's scheme.
    return scheme + u;
  });
}

/**
 * Connects to NATS (retrying with backoff until it answers) and opens the
 * JetStream backend for a god.
 *
 * @example
 * ```ts
 * const backend = await openJetStream("nats://127.0.0.1:4222", { replicas: 1 });
 * const god = await serve({ authkey: "secret", backend });
 * ```
 */
export async function openJetStream(
  urls: string | readonly string[],
  options: OpenJetStreamOptions = {},
): Promise<JetStreamBackend> {
  const servers = parseNatsUrls(urls);
  const env = (name: string) => process.env[name] || undefined;
  const credsFile = options.credsFile ?? env("NATS_CREDS");
  const connectOptions: NodeConnectionOptions = {
    servers,
    name: options.name ?? "taskwire-god",
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    pingInterval: 5_000,
    maxPingOut: 3,
    user: options.user ?? env("NATS_USER"),
    pass: options.pass ?? env("NATS_PASSWORD"),
    token: options.token ?? env("NATS_TOKEN"),
  };
  if (credsFile !== undefined) {
    let creds: Uint8Array;
    try {
      creds = await readFile(credsFile);
    } catch (error) {
      throw new TaskwireError(
        ErrorCode.BadArgument,
        `Cannot read the NATS creds file "${credsFile}": ${(error as Error).message}`,
        { cause: error },
      );
    }
    connectOptions.authenticator = credsAuthenticator(creds);
  }
  const tls = options.tls ?? {
    caFile: env("NATS_TLS_CA"),
    certFile: env("NATS_TLS_CERT"),
    keyFile: env("NATS_TLS_KEY"),
  };
  if (tls.caFile || tls.certFile || tls.keyFile) {
    connectOptions.tls = Object.fromEntries(Object.entries(tls).filter(([, v]) => v)) as typeof tls;
  }
  const log = options.log ?? (() => {});
  const maxBackoffMs = options.maxBackoffMs ?? 5_000;
  const where = servers.join(",");
  const pause = async (attempt: number, state: string, message: string) => {
    const delayMs = Math.min(maxBackoffMs, 250 * 2 ** Math.min(attempt - 1, 10));
    log({ event: "nats", state, servers: where, attempt, delayMs, error: message });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, delayMs);
      options.signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(new TaskwireError(ErrorCode.ShuttingDown, `Stopped connecting to NATS at ${where}`));
      }, { once: true });
    });
    if (options.signal?.aborted) {
      throw new TaskwireError(ErrorCode.ShuttingDown, `Stopped connecting to NATS at ${where}`);
    }
  };
  for (let attempt = 1;; attempt++) {
    let nc: NatsConnection;
    try {
      nc = await connect(connectOptions);
    } catch (error) {
      const message = (error as Error).message;
      if (/authorization|authentication|permissions/i.test(message)) {
        throw new TaskwireError(
          ErrorCode.AuthFailed,
          `Cannot connect to NATS at ${where}: ${message}. Check the credentials (URL, NATS_CREDS, NATS_USER/NATS_PASSWORD, NATS_TOKEN)`,
          { cause: error },
        );
      }
      if (options.maxAttempts !== undefined && attempt >= options.maxAttempts) {
        throw new TaskwireError(
          ErrorCode.Unavailable,
          `Cannot reach NATS at ${where} after ${attempt} attempts: ${message}`,
          { cause: error },
        );
      }
      await pause(attempt, "unreachable", message);
      continue;
    }
    try {
      return await JetStreamBackend.open(nc, options);
    } catch (error) {
      await nc.close().catch(() => {});
      // Settings taskwire cannot use: retrying will not help.
      if (error instanceof TaskwireError) throw error;
      const message = (error as Error).message;
      if (/jetstream not enabled/i.test(message)) {
        throw new TaskwireError(
          ErrorCode.Unavailable,
          `NATS at ${where} has no JetStream: start nats-server with -js (and a store dir, -sd DIR)`,
          { cause: error },
        );
      }
      if (options.maxAttempts !== undefined && attempt >= options.maxAttempts) {
        throw new TaskwireError(
          ErrorCode.Unavailable,
          `Cannot set up taskwire's streams on NATS at ${where} after ${attempt} attempts: ${message}`,
          { cause: error },
        );
      }
      // JetStream is still starting (no meta leader yet) or a node is away: try again.
      await pause(attempt, "jetstream unavailable", message);
    }
  }
}
