/**
 * Before a `--peers` run: install the peers' clients, and leave out, with a
 * NOTICE saying what and why, every peer scenario whose server is not
 * installed or cannot run in the scenario's mode here.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { Scenario } from "../scenarios.ts";
import { clientVersion, ensurePeerClients } from "./install.ts";
import { durableUnsupported, SERVER_PACKAGE, serverInstalled, serverVersion } from "./servers.ts";
import { PEERS, type ServerKind } from "./systems.ts";

/** What can run, what cannot and why, and the versions of what runs. */
export interface PreparedPeers {
  scenarios: Scenario[];
  notices: string[];
  /** One line for the report's header: servers and clients with their versions. */
  versions: string;
}

/** Keeps the scenarios that can run (taskwire's always can) and says why the others cannot. */
export function preparePeers(
  scenarios: readonly Scenario[],
  log: (line: string) => void,
): PreparedPeers {
  const notices: string[] = [];
  const leaveOut = (which: Scenario[], why: string) => {
    if (which.length === 0) return;
    const notice = `NOTICE: ${why}: skipped ${which.map((s) => s.name).join(", ")}.`;
    notices.push(notice);
    log(notice);
  };
  const peers = scenarios.filter((s) => s.system === "peer");
  const failed = peers.length > 0 ? ensurePeerClients(log) : null;
  if (failed !== null) {
    leaveOut(peers, `the peers' clients could not be installed: ${failed}`);
    return { scenarios: scenarios.filter((s) => s.system !== "peer"), notices, versions: "" };
  }
  const kinds = [...new Set(peers.map((s) => PEERS[s.peer!].server))];
  const scratch = mkdtempSync(path.join(tmpdir(), "taskwire-bench-probe-"));
  const cannot = new Map<string, string>();
  try {
    for (const kind of kinds) {
      if (!serverInstalled(kind)) {
        cannot.set(
          kind,
          `${SERVER_PACKAGE[kind]} is not installed (apt-get install ${SERVER_PACKAGE[kind]})`,
        );
        continue;
      }
      const durable = durableUnsupported(kind, scratch);
      if (durable !== null) cannot.set(`${kind}.always`, durable);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const why = (s: Scenario): string | undefined => {
    const kind = PEERS[s.peer!].server;
    return cannot.get(kind) ?? (s.store === "always" ? cannot.get(`${kind}.always`) : undefined);
  };
  for (const reason of new Set(cannot.values())) {
    leaveOut(peers.filter((s) => why(s) === reason), reason);
  }
  const running = new Set(peers.filter((s) => why(s) === undefined).map((s) => s.peer!));
  const servers = new Set<ServerKind>([...running].map((p) => PEERS[p].server));
  const versions = [
    ...[...servers].map(serverVersion),
    ...[...running].map((p) => `${PEERS[p].client} ${clientVersion(PEERS[p].client)}`),
  ].join(", ");
  // A taskwire scenario stays when a peer is there to compare it with.
  const compared = new Set(peers.filter((s) => why(s) === undefined).map((s) => s.compare));
  return {
    scenarios: scenarios.filter((s) =>
      s.system === "peer" ? why(s) === undefined : compared.has(s.name)
    ),
    notices,
    versions,
  };
}
