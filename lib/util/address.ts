/** Parsing of "host:port" addresses, shared by every role and the library. */
import type { Address } from "../transport/transport.ts";

/** The address every role uses when none is given. */
export const DEFAULT_ADDRESS = "127.0.0.1:5678";

/**
 * Parses "host:port", "[v6]:port" or ":port" (all interfaces). Throws a
 * TypeError that names the bad part.
 *
 * @example
 * ```ts
 * parseAddress("127.0.0.1:5678"); // { host: "127.0.0.1", port: 5678 }
 * ```
 */
export function parseAddress(text: string): Address {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\[\]\s]*)):(\d{1,5})$/.exec(text.trim());
  if (!match) {
    throw new TypeError(
      `Invalid address "${text}": expected HOST:PORT, for example 127.0.0.1:5678`,
    );
  }
  const port = Number(match[3]);
  if (port > 65535) {
    throw new TypeError(`Invalid address "${text}": port ${port} is out of range (0-65535)`);
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
