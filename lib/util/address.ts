/** Parsing of god addresses, shared by every role and the library. */
import { ArgumentError } from "../protocol/errors.ts";
import type { Address } from "../transport/transport.ts";

/** The address every role uses when none is given. */
export const DEFAULT_ADDRESS = "127.0.0.1:5678";

/**
 * Parses "host:port", "[v6]:port" or ":port" (all interfaces). Throws an
 * {@link ArgumentError} that names the bad part.
 *
 * @example
 * ```ts
 * parseAddress("127.0.0.1:5678"); // { host: "127.0.0.1", port: 5678 }
 * ```
 */
export function parseAddress(text: string): Address {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\[\]\s]*)):(\d{1,5})$/.exec(text.trim());
  if (!match) {
    throw new ArgumentError(
      `Invalid address "${text}": expected HOST:PORT, for example 127.0.0.1:5678`,
    );
  }
  const port = Number(match[3]);
  if (port > 65535) {
    throw new ArgumentError(`Invalid address "${text}": port ${port} is out of range (0-65535)`);
  }
  const host = match[1] ?? (match[2] === "" ? "0.0.0.0" : match[2]);
  return { host, port };
}

/** Formats an address back to "host:port". */
export function formatAddress(address: Address): string {
  return address.host.includes(":")
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}

/** Where a client connects, by the kind of address it was given. */
export type Target =
  | { kind: "tcp" | "tls"; address: Address; text: string }
  | { kind: "http"; url: string; text: string };

/**
 * Reads a god's address: "host:port" or "tcp://host:port" (the TCP protocol),
 * "tls://host:port" (the same inside TLS), "http://…" or "https://…" (the
 * god's HTTP face). `text` is the address in its canonical form.
 *
 * @example
 * ```ts
 * parseTarget("tls://god.example:5678"); // { kind: "tls", address: {...}, text: "tls://god.example:5678" }
 * parseTarget("http://127.0.0.1:8080/"); // { kind: "http", url: "http://127.0.0.1:8080", ... }
 * ```
 */
export function parseTarget(text: string): Target {
  const trimmed = text.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === "http" || scheme === "https") {
    let url: URL;
    try {
      url = new URL(trimmed);
    } catch (cause) {
      throw new ArgumentError(`Invalid URL "${text}": it cannot be parsed`, { cause });
    }
    const href = url.href.replace(/\/+$/, "");
    return { kind: "http", url: href, text: href };
  }
  if (scheme !== undefined && scheme !== "tcp" && scheme !== "tls") {
    throw new ArgumentError(
      `Invalid address "${text}": use HOST:PORT, tcp://HOST:PORT, tls://HOST:PORT or http(s)://…`,
    );
  }
  const rest = scheme === undefined
    ? trimmed
    : trimmed.slice(scheme.length + 3).replace(/\/+$/, "");
  const address = parseAddress(rest);
  const kind = scheme === "tls" ? "tls" : "tcp";
  return { kind, address, text: `${kind === "tls" ? "tls://" : ""}${formatAddress(address)}` };
}
