/**
 * The `taskwire/worker` entry bundles for edge runtimes and browsers: esbuild
 * with `--platform=neutral` (no Node built-ins) takes worker.ts and every edge
 * example, and nothing in the bundle imports a `node:` module. The main entry
 * (mod.ts), which does use Node's modules, fails the same bundle, naming them:
 * the check would catch a `node:` import creeping into the worker entry.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { bundle } from "./_support/bundle.ts";

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "taskwire-bundle-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Bundles `entry` for `platform`; asserts it worked and that no `node:` module is in it. */
async function bundlesWithoutNode(
  entry: string,
  platform: "neutral" | "browser" = "neutral",
): Promise<number> {
  const out = path.join(dir, `${path.basename(path.dirname(entry))}-${path.basename(entry)}.js`);
  const meta = `${out}.meta.json`;
  const result = await bundle(entry, out, { platform, metafile: meta });
  assert.equal(result.code, 0, `esbuild --platform=${platform} ${entry}:\n${result.output}`);
  const inputs = JSON.parse(readFileSync(meta, "utf8")).inputs as Record<
    string,
    { imports: { path: string; external?: boolean }[] }
  >;
  const nodeImports = Object.entries(inputs).flatMap(([file, input]) =>
    input.imports.filter((i) => i.path.startsWith("node:")).map((i) => `${file} → ${i.path}`)
  );
  assert.deepEqual(nodeImports, [], `${entry} pulls in Node modules`);
  const code = readFileSync(out, "utf8");
  assert.doesNotMatch(code, /\bfrom\s*["']node:|\brequire\(\s*["']node:|import\(\s*["']node:/);
  return statSync(out).size;
}

test("worker.ts bundles with esbuild --platform=neutral, with no node: module", async () => {
  const size = await bundlesWithoutNode("worker.ts");
  console.log(`worker.ts bundle: ${(size / 1024).toFixed(1)} KiB (unminified)`);
  assert.ok(size < 200 * 1024, `the worker bundle stays small (${size} bytes)`);
});

test("the edge examples bundle with no node: module (Cloudflare, Vercel, Deno Deploy, browser)", async () => {
  await bundlesWithoutNode("examples/cloudflare-worker/worker.ts");
  await bundlesWithoutNode("examples/vercel-edge/route.ts");
  await bundlesWithoutNode("examples/deno-deploy/main.ts");
  await bundlesWithoutNode("examples/browser/app.ts", "browser");
});

test("the check catches a node: import: mod.ts (TCP, files) fails the neutral bundle, naming it", async () => {
  const result = await bundle("mod.ts", path.join(dir, "mod.js"), { platform: "neutral" });
  assert.notEqual(result.code, 0, "mod.ts must not bundle for a platform without Node");
  assert.match(result.output, /Could not resolve "node:(net|tls|http|fs|os|process)/);
});
