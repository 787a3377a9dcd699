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
