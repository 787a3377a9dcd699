/**
 * Summarises V8 CPU profiles (`.cpuprofile`, as `node --cpu-prof` writes them,
 * e.g. from `npm run bench -- --cpu-prof DIR`): the functions with the most
 * self time, with their share of the profile.
 *
 * Usage: node --import tsx bench/profile.ts FILE_OR_DIR... [--top 25]
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import process from "node:process";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** One function's self time. */
export interface SelfTime {
  name: string;
  ms: number;
  /** Share of all sampled time. */
  share: number;
  /** Share of the time the thread was not idle. */
  busyShare: number;
}

/** Self time per function (name and file:line), largest first. */
export function selfTimes(
  profile: CpuProfile,
): { totalMs: number; busyMs: number; top: SelfTime[] } {
  const byNode = new Map<number, ProfileNode>(profile.nodes.map((n) => [n.id, n]));
  const byFunction = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byNode.get(profile.samples[i]);
    // A sample's time is the delta to the next sample.
    const us = profile.timeDeltas[i + 1] ?? 0;
    if (!node) continue;
    total += us;
    const key = describe(node);
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  const busy = total - (byFunction.get("(idle)") ?? 0);
  const top = [...byFunction.entries()]
    .map(([name, us]) => ({
      name,
      ms: us / 1000,
      share: total > 0 ? us / total : 0,
      busyShare: name === "(idle)" || busy <= 0 ? 0 : us / busy,
    }))
    .sort((a, b) => b.ms - a.ms);
  return { totalMs: total / 1000, busyMs: busy / 1000, top };
}

function describe(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName || "(anonymous)";
  if (!url) return name;
  const file = url.replace(/^file:\/\//, "").replace(/.*\/node_modules\//, "node_modules/")
    .replace(/.*\/(lib|roles|bench)\//, "$1/");
  return `${name}  ${file}:${lineNumber + 1}`;
}

function files(arg: string): string[] {
  if (statSync(arg).isDirectory()) {
    return readdirSync(arg).filter((f) => f.endsWith(".cpuprofile")).map((f) => path.join(arg, f));
  }
  return [arg];
}

if (process.argv[1]?.endsWith("profile.ts")) {
  const args = process.argv.slice(2);
  let top = 25;
  const inputs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--top") top = Number(args[++i]);
    else inputs.push(args[i]);
  }
  if (inputs.length === 0) {
    process.stderr.write("usage: bench/profile.ts FILE_OR_DIR... [--top 25]\n");
    process.exit(2);
  }
  for (const file of inputs.flatMap(files)) {
    const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
    const { totalMs, busyMs, top: list } = selfTimes(profile);
    process.stdout.write(
      `\n${file}: ${(totalMs / 1000).toFixed(2)} s sampled, ${
        (busyMs / 1000).toFixed(2)
      } s busy\n  % all  % busy   self ms  function\n`,
    );
    for (const entry of list.slice(0, top)) {
      process.stdout.write(
        `  ${(entry.share * 100).toFixed(1).padStart(5)}  ${
          (entry.busyShare * 100).toFixed(1).padStart(6)
        }  ${entry.ms.toFixed(0).padStart(8)}  ${entry.name}\n`,
      );
    }
  }
}
