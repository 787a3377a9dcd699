/** Which runtime runs this process, e.g. "node 20.20.2" or "deno 2.9.6"; sent in the handshake. */
export function runtimeName(): string {
  const g = globalThis as {
    Deno?: { version: { deno: string } };
    process?: { versions?: { node?: string } };
  };
  if (g.Deno) return `deno ${g.Deno.version.deno}`;
  if (g.process?.versions?.node) return `node ${g.process.versions.node}`;
  return "unknown";
}

/** The runtime's kind, the first word of {@link runtimeName}: "node", "deno", ... */
export function runtimeKind(): string {
  return runtimeName().split(" ")[0];
}

/** A name for a client that was given none: its runtime and a short random suffix, "node-ab12cd". */
export function defaultClientName(): string {
  return `${runtimeKind()}-${Math.random().toString(36).slice(2, 8).padEnd(6, "0")}`;
}
