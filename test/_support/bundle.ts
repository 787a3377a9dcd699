/**
 * Bundling the worker entry and the examples with esbuild (installed with
 * tsx), as a user deploying to an edge platform or a web page would. Runs the
 * esbuild command, so it works the same from Node and from Deno.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { ROOT } from "./process.ts";

export const ESBUILD: string = path.join(ROOT, "node_modules", ".bin", "esbuild");

/** What a bundle run gave: the exit code and everything esbuild printed. */
export interface BundleResult {
  code: number | null;
  output: string;
}

/**
 * Bundles `entry` (relative to the repository) into `outfile`. The platform
 * defaults to "neutral": no Node built-ins, which is what edge runtimes offer.
 */
export function bundle(
  entry: string,
  outfile: string,
  options: {
    platform?: "neutral" | "browser" | "node";
    format?: "esm" | "iife";
    metafile?: string;
    extra?: string[];
  } = {},
): Promise<BundleResult> {
  const argv = [
    path.join(ROOT, entry),
    "--bundle",
    `--format=${options.format ?? "esm"}`,
    `--platform=${options.platform ?? "neutral"}`,
    "--target=es2022",
    "--log-level=warning",
    `--outfile=${outfile}`,
    ...(options.metafile ? [`--metafile=${options.metafile}`] : []),
    ...(options.extra ?? []),
  ];
  return new Promise((resolve) => {
    const child = spawn(ESBUILD, argv, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout!.on("data", (chunk) => output += chunk);
    child.stderr!.on("data", (chunk) => output += chunk);
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** Like {@link bundle}, but a failed bundle throws with esbuild's messages. */
export async function mustBundle(
  entry: string,
  outfile: string,
  options: Parameters<typeof bundle>[2] = {},
): Promise<void> {
  const result = await bundle(entry, outfile, options);
  if (result.code !== 0) {
    throw new Error(`esbuild could not bundle ${entry} (exit ${result.code}):\n${result.output}`);
  }
}
