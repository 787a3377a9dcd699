/**
 * Which runtime runs this code, for client names, the handshake, stats, the
 * dashboard and metrics: "node 20.20.2", "deno 2.9.6", "bun 1.2.3",
 * "workerd", "edge-runtime", "browser Chrome/156", or "unknown".
 */
interface RuntimeGlobals {
  Deno?: { version?: { deno?: string } };
  Bun?: { version?: string };
  EdgeRuntime?: unknown;
  process?: { versions?: { node?: string } };
  navigator?: { userAgent?: string };
  document?: unknown;
}

/** Browser user-agent tokens and the names shown, most specific first ("Version/" is Safari's). */
const BROWSERS = [
  ["Edg", "Edge"],
  ["OPR", "Opera"],
  ["Firefox", "Firefox"],
  ["Chrome", "Chrome"],
  ["Version", "Safari"],
] as const;

/** Names the runtime; `globals` is for tests (default `globalThis`). */
export function detectRuntime(globals: RuntimeGlobals = globalThis as RuntimeGlobals): string {
  const userAgent = globals.navigator?.userAgent ?? "";
  // Order matters: Bun and workerd (with nodejs_compat) also carry process.versions.node,
  // and Deno has a navigator.
  if (globals.Deno?.version?.deno) return `deno ${globals.Deno.version.deno}`;
  if (typeof globals.Bun?.version === "string") return `bun ${globals.Bun.version}`;
  if (globals.EdgeRuntime !== undefined) return "edge-runtime";
  if (userAgent === "Cloudflare-Workers") return "workerd";
  if (globals.process?.versions?.node) return `node ${globals.process.versions.node}`;
  if (globals.document !== undefined || /Mozilla\//.test(userAgent)) {
    // By token, most specific first: Edge's and Opera's agents also say Chrome/, earlier in the text
    // (and headless Chrome says HeadlessChrome/, so no word boundary before the token).
    for (const [token, name] of BROWSERS) {
      const version = new RegExp(`${token}/(\\d+)`).exec(userAgent);
      if (version !== null) return `browser ${name}/${version[1]}`;
    }
    return "browser";
  }
  return "unknown";
}

let detected: string | undefined;

/** This runtime's name (see {@link detectRuntime}); sent in the handshake. */
export function runtimeName(): string {
  return detected ??= detectRuntime();
}

/** The runtime's kind, the first word of {@link runtimeName}: "node", "deno", "bun", ... */
export function runtimeKind(): string {
  return runtimeName().split(" ")[0];
}

/** A name for a client that was given none: its runtime and a short random suffix, "node-ab12cd". */
export function defaultClientName(): string {
  return `${runtimeKind()}-${Math.random().toString(36).slice(2, 8).padEnd(6, "0")}`;
}
