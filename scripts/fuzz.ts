/**
 * `npm run fuzz`: the hardening tests with large budgets, on both runtimes —
 * the fuzz suite with TASKWIRE_FUZZ_SCALE (default 20× the `npm test` runs)
 * and the load tests with the full 1 GiB payload stream.
 *
 *   npm run fuzz                     # both runtimes, scale 20, 1 GiB
 *   npm run fuzz -- --scale 50 --seed 7 --runtime node
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};
const scale = option("--scale", process.env.TASKWIRE_FUZZ_SCALE ?? "20");
const seed = option("--seed", process.env.TASKWIRE_FUZZ_SEED ?? String(Date.now() % 1_000_000));
const runtimes = option("--runtime", "node,deno").split(",");
const files = [
  "test/fuzz_test.ts",
  "test/load_test.ts",
  "test/python_pickle_test.ts",
  "test/python_semantics_test.ts",
];
const env = {
  ...process.env,
  TASKWIRE_FUZZ_SCALE: scale,
  TASKWIRE_FUZZ_SEED: seed,
  TASKWIRE_LOAD_FULL: "1",
};
console.log(`fuzz: scale ${scale}, seed ${seed} (rerun with --seed ${seed}), runtimes ${runtimes}`);
let failed = false;
for (const runtime of runtimes) {
  const command = runtime === "deno"
    ? [path.join(ROOT, "node_modules", ".bin", "deno"), "test", "--allow-all", ...files]
    : [process.execPath, "--import", "tsx", "--test", "--test-concurrency=1", ...files];
  console.log(`\n== ${runtime}: ${command.slice(1).join(" ")}`);
  const result = spawnSync(command[0], command.slice(1), { cwd: ROOT, env, stdio: "inherit" });
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
