/**
 * The peers' clients live in their own npm package (bench/peers/package.json
 * and its lock), so taskwire's dependencies stay its own. `--peers` and the
 * bench test install it with `npm ci` when it is missing or older than its lock.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { ROOT } from "../procs.ts";

/** The peers' package directory. */
export const PEERS_DIR: string = path.join(ROOT, "bench", "peers");

/** Whether bench/peers/node_modules matches its lock (npm ci writes node_modules/.package-lock.json). */
function installed(): boolean {
  const marker = path.join(PEERS_DIR, "node_modules", ".package-lock.json");
  const lock = path.join(PEERS_DIR, "package-lock.json");
  return existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs;
}

/**
 * Installs the peers' clients unless they are already (`npm ci --prefix
 * bench/peers`, bounded to 5 minutes). Returns null when they are there, or
 * why they could not be installed.
 */
export function ensurePeerClients(log: (line: string) => void): string | null {
  if (installed()) return null;
  log("bench: installing the peers' clients (npm ci --prefix bench/peers)");
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const r = spawnSync(npm, ["ci", "--prefix", PEERS_DIR, "--no-audit", "--no-fund"], {
    encoding: "utf8",
    timeout: 300_000,
  });
  if (r.status === 0 && installed()) return null;
  const why = r.error?.message ?? `${r.stderr ?? ""}${r.stdout ?? ""}`.trim().split("\n").slice(-3)
    .join(" / ");
  return `npm ci --prefix bench/peers failed (${why || `exit ${r.status}`})`;
}

/** The installed version of a client package ("" when it is not installed). */
export function clientVersion(name: string): string {
  for (const dir of [path.join(PEERS_DIR, "node_modules"), path.join(ROOT, "node_modules")]) {
    const manifest = path.join(dir, name, "package.json");
    if (existsSync(manifest)) {
      return (JSON.parse(readFileSync(manifest, "utf8")) as { version: string }).version;
    }
  }
  return "";
}
