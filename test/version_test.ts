/**
 * One version everywhere: package.json, deno.json, lib/version.ts, the
 * CHANGELOG's newest entry, `taskwire --version` and the handshake's
 * `software` field agree; the npm and JSR manifests declare the same
 * dependencies and entries; what the package installs runs on the Node that
 * `engines` claims.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { connect, serve } from "../mod.ts";
import { Link } from "../lib/client/link.ts";
import { importAuthKey } from "../lib/protocol/keys.ts";
import { memoryPair } from "../lib/transport/memory.ts";
import { SOFTWARE, VERSION } from "../lib/version.ts";
import { CURRENT, ROOT, start } from "./_support/process.ts";

interface PackageJson {
  version: string;
  engines: { node: string };
  exports: Record<string, string | Record<string, string>>;
  bin: Record<string, string>;
  files: string[];
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}
interface DenoJson {
  name: string;
  version: string;
  exports: Record<string, string>;
  imports: Record<string, string>;
}
interface LockJson {
  packages: Record<string, { dev?: boolean; engines?: { node?: string } }>;
}

const read = <T>(file: string): T => JSON.parse(readFileSync(path.join(ROOT, file), "utf8")) as T;
const pkg = read<PackageJson>("package.json");
const deno = read<DenoJson>("deno.json");

test("package.json, deno.json, lib/version.ts and the CHANGELOG's newest entry carry one version", () => {
  assert.match(VERSION, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, "a semver version");
  assert.equal(pkg.version, VERSION, "package.json");
  assert.equal(deno.version, VERSION, "deno.json");
  assert.equal(SOFTWARE, `taskwire ${VERSION}`);
  const changelog = readFileSync(path.join(ROOT, "CHANGELOG.md"), "utf8");
  const newest = /^## \[?(\d+\.\d+\.\d+[^\]\s]*)/m.exec(changelog);
  assert.equal(newest?.[1], VERSION, "the first release heading of CHANGELOG.md");
});

test(`taskwire --version prints the version (roles/taskwire.ts on ${CURRENT})`, async () => {
  const proc = start(CURRENT, "roles/taskwire.ts", ["--version"]);
  const { code } = await proc.wait(30_000);
  assert.equal(code, 0, proc.output);
  assert.deepEqual(proc.lines.filter((l) => l !== ""), [SOFTWARE]);
});

test("the handshake names the software: the god's Welcome and the client's Auth carry it", async () => {
  const connected: Record<string, unknown>[] = [];
  const god = await serve({
    listen: "127.0.0.1:0",
    authkey: "version-key",
    log: (event) => {
      if (event.event === "connected") connected.push(event);
    },
  });
  try {
    const [client, server] = memoryPair();
    god.accept(server);
    const link = await Link.open(
      client,
      await importAuthKey("version-key"),
      { role: "test", runtime: "test", name: "raw" },
      { timeoutMs: 5000 },
    );
    assert.equal(link.server.software, SOFTWARE, "Welcome");
    await link.close();
    const tcp = await connect({ addr: `127.0.0.1:${god.port}`, authkey: "version-key" });
    await tcp.close();
    assert.equal(connected.length, 2);
    assert.equal(connected[0].software, undefined, "a client that sends no software is fine");
    assert.equal(connected[1].software, SOFTWARE, "Auth from connect()");
  } finally {
    await god.close();
  }
});

test("deno.json maps every npm dependency to the same npm: range, and the package's own names to its entries", () => {
  const expected = Object.fromEntries(
    Object.entries(pkg.dependencies).map(([name, range]) => [name, `npm:${name}@${range}`]),
  );
  // In the checkout, `taskwire` (the examples' import) means the sources, as tsconfig.json says for other tools.
  for (const [sub, entry] of Object.entries(deno.exports as Record<string, string>)) {
    expected[`taskwire${sub.slice(1)}`] = entry;
  }
  assert.deepEqual(deno.imports, expected);
  const { paths } = read<{ compilerOptions: { paths: Record<string, string[]> } }>(
    "tsconfig.json",
  ).compilerOptions;
  for (const [name, target] of Object.entries(expected)) {
    if (!name.startsWith("taskwire")) continue;
    assert.deepEqual(paths[name], [target], `tsconfig.json paths for ${name}`);
  }
});

test("the npm and JSR packages have the same entries, built from the same sources", () => {
  const tsconfig = read<{ files: string[] }>("tsconfig.build.json");
  assert.equal(deno.name, "@taskwire/taskwire");
  assert.deepEqual(Object.keys(deno.exports).sort(), [".", "./jetstream", "./worker"]);
  for (const [subpath, source] of Object.entries(deno.exports)) {
    const target = pkg.exports[subpath];
    assert.ok(
      target !== undefined && typeof target === "object",
      `package.json exports ${subpath}`,
    );
    const compiled = `./dist/${source.replace(/^\.\//, "").replace(/\.ts$/, "")}`;
    assert.deepEqual(target, {
      types: `${compiled}.d.ts`,
      import: `${compiled}.js`,
      default: `${compiled}.js`,
    }, subpath);
    assert.ok(
      tsconfig.files.includes(source.replace(/^\.\//, "")),
      `tsconfig.build.json ${source}`,
    );
  }
  assert.deepEqual(pkg.bin, { taskwire: "dist/roles/taskwire.js" });
  assert.ok(tsconfig.files.includes("roles/taskwire.ts"));
  for (const role of ["god", "producer", "consumer", "admin", "demo"]) {
    assert.ok(tsconfig.files.includes(`roles/${role}.ts`), `the command loads roles/${role}.ts`);
  }
});

/** The lowest Node major a range such as ">=18", ">= 22.x", "^20.9 || >=22" admits; null if unclear. */
function lowestMajor(range: string): number | null {
  const lows = range.split("||").map((part) => {
    const m = /^\s*(?:>=|\^|~)?\s*v?(\d+)(?:\.(?:\d+|x))*(?:\s|$)/.exec(part);
    return m ? Number(m[1]) : null;
  });
  return lows.includes(null) ? null : Math.min(...lows as number[]);
}

test("every package the npm package installs runs on the Node that engines claims", () => {
  const claimed = lowestMajor(pkg.engines.node);
  assert.equal(claimed, 20, `engines.node is ${pkg.engines.node}`);
  const lock = read<LockJson>("package-lock.json");
  const wrong: string[] = [];
  for (const [where, entry] of Object.entries(lock.packages)) {
    if (where === "" || entry.dev || entry.engines?.node === undefined) continue;
    const low = lowestMajor(entry.engines.node);
    if (low === null || low > claimed!) wrong.push(`${where}: node ${entry.engines.node}`);
  }
  assert.deepEqual(
    wrong,
    [],
    `runtime dependencies that want a newer Node than ${pkg.engines.node}`,
  );
  if (CURRENT === "node") {
    const major = Number(process.versions.node.split(".")[0]);
    assert.ok(major >= claimed!, `this Node (${process.versions.node}) is one engines claims`);
  }
});

test("lowestMajor() reads the engines ranges packages use", () => {
  assert.equal(lowestMajor(">=20"), 20);
  assert.equal(lowestMajor(">= 22.x"), 22);
  assert.equal(lowestMajor(">=18.0.0"), 18);
  assert.equal(lowestMajor("^20.9.0 || >=22"), 20);
  assert.equal(lowestMajor("<22"), null);
});
