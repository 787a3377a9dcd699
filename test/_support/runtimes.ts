/**
 * Other JavaScript runtimes for the edge tests (Bun, Cloudflare's workerd,
 * Vercel's edge-runtime), installed from the npm registry by the tests
 * themselves, not as dependencies of the package: `npm install --no-save
 * --prefix DIR NAME@VERSION` once per machine into a cache directory outside
 * the checkout, then reused. Each install is bounded in time; where one cannot
 * be made (no npm, no registry, no binary for this platform), the test prints a
 * `NOTICE:` line and skips.
 *
 * The cache is `$TASKWIRE_RUNTIMES_DIR`, else `~/.cache/taskwire-test-runtimes`;
 * delete it to force a fresh install. Versions are pinned here, so every
 * machine and CI run tests the same runtimes.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";

/** The runtimes and the versions the tests use. */
export const RUNTIME_PACKAGES = {
  bun: "1.4.5",
  workerd: "1.20261117.1",
  "edge-runtime": "4.0.1",
} as const;

export type RuntimePackage = keyof typeof RUNTIME_PACKAGES;

/** How long one install may take before it is given up (and the test skipped with a notice). */
const INSTALL_MS = 240_000;
/** After a failed install, how long tests skip at once before trying again. */
const RETRY_AFTER_MS = 10 * 60_000;

/** Where installed runtimes are kept between runs. */
export function runtimesDir(): string {
  return process.env.TASKWIRE_RUNTIMES_DIR ??
    path.join(os.homedir(), ".cache", "taskwire-test-runtimes");
}

/** An installed runtime package. */
export interface InstalledRuntime {
  name: RuntimePackage;
  version: string;
  /** The `--prefix` directory (its node_modules holds the package). */
  prefix: string;
  /** The path of one of the package's commands (`node_modules/.bin/NAME`). */
  bin(name?: string): string;
  /** The package's own directory. */
  packageDir: string;
}

function installed(name: RuntimePackage, prefix: string): InstalledRuntime {
  return {
    name,
    version: RUNTIME_PACKAGES[name],
    prefix,
    bin: (bin = name) => path.join(prefix, "node_modules", ".bin", bin),
    packageDir: path.join(prefix, "node_modules", name),
  };
}

function run(
  argv: string[],
  timeoutMs: number,
): Promise<{ code: number | null; output: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    let output = "";
    let timedOut = false;
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1", npm_config_update_notifier: "false" },
    });
    child.stdout!.on("data", (chunk) => output += chunk);
    child.stderr!.on("data", (chunk) => output += chunk);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      resolve({ code: null, output: output + String(error), timedOut });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output, timedOut });
    });
  });
}

const pending = new Map<RuntimePackage, Promise<InstalledRuntime | string>>();

/**
 * The runtime `name`, installed if this machine does not have it yet;
 * resolves to a reason (text) when it cannot be had.
 */
export function installRuntime(name: RuntimePackage): Promise<InstalledRuntime | string> {
  let install = pending.get(name);
  if (install === undefined) {
    install = doInstall(name);
    pending.set(name, install);
  }
  return install;
}

async function doInstall(name: RuntimePackage): Promise<InstalledRuntime | string> {
  const version = RUNTIME_PACKAGES[name];
  const prefix = path.join(runtimesDir(), `${name}-${version}`);
  const runtime = installed(name, prefix);
  if (existsSync(runtime.bin())) return runtime;
  // A failed install is not tried again for a while: the other test files that need this
  // runtime skip at once instead of each waiting for npm to give up.
  const failed = `${prefix}.failed`;
  try {
    const since = Date.now() - statSync(failed).mtimeMs;
    if (since < RETRY_AFTER_MS) {
      return `${readFileSync(failed, "utf8")}, ${
        Math.round(since / 1000)
      } s ago (delete ${failed} to try again now)`;
    }
  } catch {
    // Never failed, or long ago: try.
  }
  // Install beside the final place, then rename: a run stopped half-way, or
  // another run installing at the same time, never leaves a broken copy in use.
  const temp = `${prefix}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(temp, { recursive: true });
  const started = Date.now();
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const result = await run([
    npm,
    "install",
    "--no-save",
    "--no-package-lock",
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
    "--fetch-retries=1",
    "--prefix",
    temp,
    `${name}@${version}`,
  ], INSTALL_MS);
  if (result.code !== 0 || !existsSync(installed(name, temp).bin())) {
    await rm(temp, { recursive: true, force: true });
    // npm's first lines that say something ("npm error code ECONNREFUSED", ...).
    const errors = result.output.split("\n").filter((l) => /^npm error \w/.test(l)).slice(0, 2);
    const why = result.timedOut
      ? `npm install did not finish within ${INSTALL_MS / 1000} s`
      : `npm install exited ${result.code}: ${
        errors.join(" / ") || result.output.trim().slice(-300)
      }`;
    const reason = `cannot install ${name}@${version} from the npm registry (${why})`;
    await mkdir(runtimesDir(), { recursive: true });
    writeFileSync(failed, reason);
    return reason;
  }
  // A copy without its command (half deleted by hand) is replaced.
  if (existsSync(prefix) && !existsSync(runtime.bin())) {
    await rm(prefix, { recursive: true, force: true });
  }
  try {
    await rename(temp, prefix);
  } catch (error) {
    // Another run finished first: use its copy.
    await rm(temp, { recursive: true, force: true });
    if (!existsSync(runtime.bin())) throw error;
  }
  rmSync(failed, { force: true });
  console.log(
    `installed ${name}@${version} into ${prefix} in ${
      ((Date.now() - started) / 1000).toFixed(1)
    } s`,
  );
  return runtime;
}

/**
 * The runtime for a test: installed (or found in the cache) and able to
 * start; null after a `NOTICE:` line and a skip when it cannot be had.
 */
export async function needRuntime(
  t: { skip(message?: string): void },
  name: RuntimePackage,
): Promise<InstalledRuntime | null> {
  const got = await installRuntime(name);
  if (typeof got === "string") {
    console.log(`NOTICE: ${got}: skipping this test`);
    t.skip(got);
    return null;
  }
  return got;
}
