/**
 * What every role shares: finding the key and the god's address, reporting
 * connection changes, turning errors into one-line messages and exit codes,
 * and stopping gracefully on SIGINT/SIGTERM.
 */
import { AuthError } from "../protocol/errors.ts";
import type { ClientEvent } from "../client/api.ts";
import type { Address } from "../transport/transport.ts";
import { DEFAULT_ADDRESS } from "../util/address.ts";
import { CliFailure, parseAddressOption, UsageError } from "./args.ts";
import { duration, type Output } from "./output.ts";
import {
  args,
  env,
  envAllowed,
  exit,
  missingPermission,
  onSignals,
  readText,
  writeErr,
} from "./runtime.ts";

/** The environment variable holding the shared key. */
export const KEY_ENV = "TASKWIRE_AUTHKEY";
/** The environment variable holding the god's address. */
export const ADDR_ENV = "TASKWIRE_ADDR";

/** How to give a role the key, for messages. */
export const KEY_HINT =
  `set ${KEY_ENV} to the god's key (export ${KEY_ENV}=...) or pass --authkey-file PATH`;

/**
 * The key from `--authkey-file` (when given) or `TASKWIRE_AUTHKEY`; undefined
 * when neither is set. A missing, unreadable or empty key file is a
 * {@link CliFailure}.
 */
export async function loadKey(file: string | undefined): Promise<string | undefined> {
  if (file !== undefined) {
    let text: string;
    try {
      text = await readText(file);
    } catch (error) {
      const code = (error as { code?: string }).code;
      const why = code === "ENOENT" || (error as Error).name === "NotFound"
        ? "it does not exist"
        : (error as Error).message;
      throw new CliFailure(
        `Cannot read the key file "${file}": ${why}. Save the god's key in it, or set ${KEY_ENV}`,
        { cause: error },
      );
    }
    const key = text.trim();
    if (key === "") {
      throw new CliFailure(
        `The key file "${file}" is empty: save the god's key in it, or set ${KEY_ENV}`,
      );
    }
    return key;
  }
  if (!envAllowed(KEY_ENV)) {
    throw new CliFailure(
      `Deno may not read ${KEY_ENV}: run with --allow-env=${KEY_ENV}, or pass --authkey-file PATH (with --allow-read=PATH)`,
    );
  }
  return env(KEY_ENV)?.trim() || undefined;
}

/** Like {@link loadKey}, but a missing key is a {@link CliFailure} that says how to set one. */
export async function requireKey(file: string | undefined): Promise<string> {
  const key = await loadKey(file);
  if (key === undefined) throw new CliFailure(`No key given: ${KEY_HINT}`);
  return key;
}

/**
 * The address given by an option (already parsed), else `TASKWIRE_ADDR`, else
 * 127.0.0.1:5678.
 */
export function resolveAddress(given: Address | undefined): Address {
  if (given !== undefined) return given;
  const fromEnv = env(ADDR_ENV);
  return parseAddressOption(
    fromEnv !== undefined ? ADDR_ENV : "the default",
    fromEnv ?? DEFAULT_ADDRESS,
  );
}

/**
 * The god to connect to: `--connect` (HOST:PORT or an http:// URL of the
 * god's HTTP face), else `TASKWIRE_ADDR`, else 127.0.0.1:5678. Bad text is a
 * {@link UsageError}.
 */
export function resolveTarget(given: string | undefined): string {
  const [text, source] = given !== undefined
    ? [given, "--connect"]
    : [env(ADDR_ENV) ?? DEFAULT_ADDRESS, env(ADDR_ENV) !== undefined ? ADDR_ENV : "the default"];
  const tls = /^tls:\/\//i.test(text);
  if (tls) {
    const address = parseAddressOption(source, text.slice("tls://".length));
    return `tls://${
      address.host.includes(":") ? `[${address.host}]` : address.host
    }:${address.port}`;
  }
  if (/^https?:\/\//i.test(text)) {
    try {
      return new URL(text).href.replace(/\/$/, "");
    } catch {
      throw new UsageError(`Invalid URL "${text}" (given by ${source})`);
    }
  }
  const address = parseAddressOption(source, text);
  return address.host.includes(":")
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}

/** Prints a client's connection changes: connected, lost, retrying. */
export function reportClientEvent(out: Output, event: ClientEvent): void {
  switch (event.event) {
    case "connected":
      out.event(
        "connected",
        event,
        `connected to the god at ${event.addr} (${event.god}, ${event.runtime})`,
      );
      break;
    case "disconnected":
      out.warn(
        "disconnected",
        event,
        `lost the god at ${event.addr}: ${event.reason}; reconnecting, nothing is lost`,
      );
      break;
    case "retrying":
      out.warn(
        "retrying",
        event,
        `cannot reach the god at ${event.addr} (${event.reason}); retrying in ${
          duration(event.delayMs)
        } (attempt ${event.attempt})`,
      );
      break;
  }
}

/** The message for a key the god refused. */
export function keyRejected(addr: string, error: Error): CliFailure {
  return new CliFailure(
    `The god at ${addr} rejected the key (${error.message}): ${KEY_HINT}, using the key the god printed at start`,
    { cause: error },
  );
}

/** A stop request from SIGINT/SIGTERM. */
export interface Stopper {
  /** Aborted on the first SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
  /** Resolves on the first SIGINT/SIGTERM. */
  readonly stopped: Promise<string>;
}

/**
 * Watches SIGINT and SIGTERM. The first asks for a graceful stop; another one
 * at least a second later stops at once (exit 1). Signals arriving together
 * (Ctrl-C reaching a whole process group, then a parent forwarding it) count once.
 */
export function watchSignals(out: Output, role: string): Stopper {
  const controller = new AbortController();
  let first = 0;
  let resolve!: (signal: string) => void;
  const stopped = new Promise<string>((r) => resolve = r);
  onSignals((signal) => {
    const now = Date.now();
    if (first === 0) {
      first = now;
      out.event("stopping", { signal }, `${role}: ${signal}, stopping gracefully...`);
      controller.abort(signal);
      resolve(signal);
    } else if (now - first >= 1000) {
      writeErr(`${role}: ${signal} again, stopping now without draining\n`);
      exit(1);
    }
  });
  return { signal: controller.signal, stopped };
}

/**
 * Runs a role's `main` with the command-line arguments and exits with its
 * code; errors become one-line messages (usage errors exit 2, others 1).
 */
export async function runRole(
  role: string,
  main: (argv: string[]) => Promise<number>,
): Promise<void> {
  let code: number;
  try {
    code = await main(args());
  } catch (error) {
    code = reportFailure(role, error);
  }
  exit(code);
}

/** Prints `error` as one line on stderr; returns the exit code it deserves. */
export function reportFailure(role: string, error: unknown): number {
  const permission = missingPermission(error);
  if (permission !== null) {
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    writeErr(
      `taskwire ${role}: Deno refused a permission (${message}): run again with ${permission}\n`,
    );
    return 1;
  }
  if (error instanceof UsageError) {
    writeErr(`taskwire ${role}: ${error.message}. Run with --help to see the options.\n`);
    return 2;
  }
  if (error instanceof CliFailure) {
    writeErr(`taskwire ${role}: ${error.message}\n`);
    return 1;
  }
  if (error instanceof AuthError) {
    writeErr(`taskwire ${role}: the key was rejected (${error.message}): ${KEY_HINT}\n`);
    return 1;
  }
  const message = error instanceof Error ? error.message : String(error);
  writeErr(`taskwire ${role}: ${message.split("\n")[0]}\n`);
  return 1;
}
