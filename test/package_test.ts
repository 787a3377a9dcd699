/**
 * The package as users get it. `npm pack` (which runs the build) once per run
 * of this file; the tarball is installed into a fresh temporary project, and
 * there, with no TypeScript tooling:
 *
 * - plain `node` imports `taskwire`, starts a god, connects, puts, gets and
 *   acks; `taskwire/worker` does the same over the god's HTTP face;
 * - the `taskwire` command: `npx taskwire --version`, `--help`, an unknown
 *   role, and a god, a producer and two consumers exchanging every task;
 * - `taskwire/worker` bundles for a neutral platform with no `node:` module;
 * - Deno uses the installed package through `npm:` specifiers;
 * - the type declarations compile in a strict consumer project.
 *
 * And for JSR: `deno publish --dry-run` passes with no slow types, and a Deno
 * script outside the checkout imports the library by name and by path.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { SOFTWARE } from "../lib/version.ts";
import { DENO, freePort, NODE, Proc, ROOT } from "./_support/process.ts";

const BIN = path.join(ROOT, "node_modules", ".bin");

/**
 * This process's environment without what `npm test` adds for its scripts:
 * `npm_config_local_prefix` and friends would point the temporary project's
 * npm at the checkout.
 */
const ENV: Record<string, string> = Object.fromEntries(
  Object.entries(process.env).filter(([name, value]) =>
    value !== undefined &&
    !/^npm_(package_|lifecycle_|command$|execpath$|node_execpath$|config_(local_)?prefix$)/i
      .test(name)
  ),
) as Record<string, string>;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (killed after `timeoutMs`), collecting its output. */
function run(
  argv: string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd: options.cwd,
      env: { ...ENV, NO_COLOR: "1", ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => stdout += chunk);
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk);
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `ran` exited 0, else fail with its output. */
function ok(ran: Ran, what: string): Ran {
  assert.equal(
    ran.code,
    0,
    `${what} exited ${ran.code}:\n${ran.stdout}\n${ran.stderr}`.slice(-4000),
  );
  return ran;
}

/** Did a failure come from an unreachable registry (then the test skips with a NOTICE)? */
function offline(ran: Ran): boolean {
  return /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|network|dns error|error sending request|timed out/i
    .test(ran.stdout + ran.stderr);
}

interface Installed {
  /** The temporary folder holding the tarball and the project. */
  dir: string;
  /** The project that installed the tarball. */
  project: string;
  /** Paths inside the tarball. */
  files: string[];
  /** The installed `taskwire` command (what `npx taskwire` runs). */
  bin: string;
}

let installing: Promise<Installed> | null = null;

/** Packs the checkout and installs the tarball into a fresh project, once per run of this file. */
function installed(): Promise<Installed> {
  installing ??= (async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "taskwire-package-"));
    const pack = ok(
      await run(["npm", "pack", "--json", "--pack-destination", dir], {
        cwd: ROOT,
        timeoutMs: 240_000,
      }),
      "npm pack",
    );
    const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
    const project = path.join(dir, "project");
    await mkdir(project);
    await writeFile(
      path.join(project, "package.json"),
      JSON.stringify({ name: "uses-taskwire", private: true, type: "module" }),
    );
    // The dependencies are in npm's cache after the checkout's npm ci; the registry only if not.
    ok(
      await run(
        [
          "npm",
          "install",
          "--prefer-offline",
          "--no-audit",
          "--no-fund",
          path.join(dir, info.filename),
        ],
        { cwd: project, timeoutMs: 180_000 },
      ),
      "npm install of the tarball",
    );
    return {
      dir,
      project,
      files: info.files.map((f) => f.path),
      bin: path.join(project, "node_modules", ".bin", "taskwire"),
    };
  })();
  return installing;
}

after(async () => {
  if (installing) await rm((await installing).dir, { recursive: true, force: true });
});

test("npm pack ships compiled modules, types, source maps, README and LICENSE, and no sources or tests", async () => {
  const { files, project } = await installed();
  for (
    const file of [
      "package.json",
      "README.md",
      "LICENSE",
      "CHANGELOG.md",
      "dist/mod.js",
      "dist/mod.d.ts",
      "dist/mod.js.map",
      "dist/worker.js",
      "dist/worker.d.ts",
      "dist/jetstream.js",
      "dist/jetstream.d.ts",
      "dist/roles/taskwire.js",
      "dist/roles/god.js",
      "dist/roles/demo.js",
    ]
  ) {
    assert.ok(files.includes(file), `${file} is in the tarball`);
  }
  const strays = files.filter((f) =>
    (f.endsWith(".ts") && !f.endsWith(".d.ts")) || /^(test|bench|scripts|node_modules)\//.test(f)
  );
  assert.deepEqual(strays, [], "no TypeScript sources, tests or benchmarks");
  const bin = await readFile(
    path.join(project, "node_modules/taskwire/dist/roles/taskwire.js"),
    "utf8",
  );
  assert.ok(bin.startsWith("#!/usr/bin/env node\n"), "the command has a node shebang");
  // What the user's project got: the runtime dependencies, none of the development ones.
  const modules = path.join(project, "node_modules");
  for (const name of ["hono", "superjson", "@nats-io/transport-node", "@nats-io/jetstream"]) {
    await stat(path.join(modules, name));
  }
  for (const name of ["tsx", "typescript", "deno", "esbuild", "fast-check", "@types/node"]) {
    await assert.rejects(stat(path.join(modules, name)), `${name} is not installed`);
  }
});

/** A script that starts a god with the HTTP face, then uses both client entries. */
function libraryScript(specifier: (entry: string) => string): string {
  return `
import { connect, serve, serveHttp } from "${specifier("taskwire")}";
import { connect as connectWorker } from "${specifier("taskwire/worker")}";
import { openJetStream } from "${specifier("taskwire/jetstream")}";
const authkey = "package-test-key";
const god = await serve({ listen: "127.0.0.1:0", authkey });
const face = await serveHttp(god, { listen: "127.0.0.1:0" });
const out = { jetstream: typeof openJetStream };
try {
  const client = await connect({ addr: "127.0.0.1:" + god.port, authkey });
  const tasks = client.queue("tasks");
  await tasks.put({ n: 12n, at: new Date(0) });
  const job = await tasks.get({ timeout: 5000 });
  out.tcp = { n: String(job.value.n), at: job.value.at.toISOString() };
  await job.ack();
  const stats = await client.stats("tasks");
  out.acked = stats.queues.find((q) => q.name === "tasks").totals.acked;
  await client.close();
  const worker = await connectWorker({ addr: face.url, authkey });
  const results = worker.queue("results");
  await results.put(7n);
  const done = await results.get({ timeout: 5000 });
  out.http = String(done.value);
  await done.ack();
  await worker.close();
} finally {
  await face.close();
  await god.close();
}
console.log(JSON.stringify(out));
`;
}

const EXPECTED = {
  jetstream: "function",
  tcp: { n: "12", at: "1970-01-01T00:00:00.000Z" },
  acked: 1,
  http: "7",
};

test("plain node imports taskwire: a god, a client, put, get, ack; taskwire/worker over HTTP", async () => {
  const { project } = await installed();
  await writeFile(
    path.join(project, "library.mjs"),
    libraryScript((entry) => entry) +
      `console.log(import.meta.resolve("taskwire"));\n`,
  );
  const ran = ok(await run([NODE, "library.mjs"], { cwd: project }), "node library.mjs");
  const [result, resolved] = ran.stdout.trim().split("\n");
  assert.deepEqual(JSON.parse(result), EXPECTED);
  assert.match(resolved, /\/node_modules\/taskwire\/dist\/mod\.js$/, "the compiled module");
});

test("npx taskwire: --version, --help listing the roles, a role's own help, an unknown role", async () => {
  const { project } = await installed();
  const npx = (...args: string[]) => run(["npx", "taskwire", ...args], { cwd: project });
  const [version, help, godHelp, unknown, bare] = await Promise.all([
    npx("--version"),
    npx("--help"),
    npx("god", "--help"),
    npx("frobnicate"),
    npx(),
  ]);
  assert.equal(ok(version, "--version").stdout, `${SOFTWARE}\n`);
  for (const role of ["god", "producer", "consumer", "admin", "demo"]) {
    assert.match(ok(help, "--help").stdout, new RegExp(`^  ${role} `, "m"));
  }
  assert.match(ok(godHelp, "god --help").stdout, /^Usage: taskwire god \[options\]$/m);
  assert.match(godHelp.stdout, /--in-memory/);
  assert.equal(unknown.code, 2);
  assert.equal(
    unknown.stderr.trim(),
    'taskwire: unknown role "frobnicate": use god, producer, consumer, admin or demo (taskwire --help lists them)',
  );
  assert.equal(bare.code, 2, "no role is a usage error");
  assert.match(bare.stderr, /Usage: taskwire ROLE/);
});

interface Result {
  n: bigint;
  square: bigint;
  task: string;
  by: string;
}

function events(lines: string[], name: string): Record<string, unknown>[] {
  return lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
    .filter((e) => e.event === name);
}

test("the taskwire command: a god, a producer and two consumers, every result exactly once", async () => {
  const { project, bin } = await installed();
  const port = await freePort();
  const env = { TASKWIRE_AUTHKEY: `package-key-${port}`, TASKWIRE_ADDR: `127.0.0.1:${port}` };
  // God and consumers run until stopped: they are started as what `npx taskwire` runs (the
  // installed bin, on plain node), because npx answers SIGTERM by exiting at once and leaving
  // its child running; the producer ends by itself, so it goes through npx.
  const role = (args: string[]) => new Proc([NODE, bin, ...args], { cwd: project, env });
  const god = role(["god", "--in-memory", "--json", "--quiet"]);
  const procs = [god];
  try {
    await god.waitFor(/"event":"listening"/, 30_000);
    const consumers = [1, 2].map(() => role(["consumer", "--json", "--concurrency", "4"]));
    procs.push(...consumers);
    await Promise.all(consumers.map((c) => c.waitFor(/"event":"ready"/, 30_000)));
    const count = 300;
    const producer = ok(
      await run(
        ["npx", "taskwire", "producer", "--count", `${count}`, "--interval", "0", "--json"],
        {
          cwd: project,
          env,
        },
      ),
      "npx taskwire producer",
    );
    const [done] = events(producer.stdout.split("\n"), "done");
    assert.equal(done?.put, count, producer.stdout.slice(-2000));
    const results = (): Result[] =>
      events(god.lines, "result").map((e) => ({
        n: BigInt(e.n as string),
        square: BigInt(e.square as string),
        task: e.task as string,
        by: e.by as string,
      }));
    const deadline = Date.now() + 30_000;
    while (results().length < count && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise((resolve) => setTimeout(resolve, 200)); // room for a duplicate to show
    const got = results();
    assert.equal(got.length, count, "one result per task");
    assert.equal(new Set(got.map((r) => r.task)).size, count, "no task twice");
    for (const r of got) assert.equal(r.square, r.n * r.n, `${r.n} squared`);
    assert.equal(
      got.reduce((sum, r) => sum + r.n, 0n),
      BigInt(done.sum as string),
      "the tasks put",
    );
    assert.equal(new Set(got.map((r) => r.by)).size, 2, "both consumers computed");
  } finally {
    for (const proc of procs.reverse()) {
      const { code } = await proc.stop(10_000);
      assert.equal(code, 0, `exit 0 after SIGTERM:\n${proc.output.slice(-1500)}`);
    }
  }
});

test("taskwire demo, installed: the compiled roles on plain node; SIGINT stops them all", async () => {
  const { project, bin } = await installed();
  const demo = new Proc([NODE, bin, "demo"], {
    cwd: project,
    env: { TASKWIRE_AUTHKEY: "", TASKWIRE_ADDR: "" },
  });
  try {
    const result = await demo.waitFor(
      /^god \(node\) +\| -?\d+ \* -?\d+ = \d+ {2}\(consumer /,
      30_000,
    );
    const [, n, , square] = /(-?\d+) \* (-?\d+) = (\d+)/.exec(result)!;
    assert.equal(BigInt(square), BigInt(n) ** 2n);
    assert.match(demo.output, /npx taskwire consumer --connect 127\.0\.0\.1:\d+/);
  } finally {
    demo.signal("SIGINT");
    const { code } = await demo.wait(40_000);
    assert.equal(code, 0, demo.output.slice(-3000));
  }
  const started = [...demo.output.matchAll(/\| started as pid (\d+): (\S+) (\S+)/g)];
  assert.equal(started.length, 4, demo.output.slice(0, 2000));
  for (const [, pid, runtime, file] of started) {
    assert.equal(runtime, "node", "plain node, no tsx");
    assert.match(file, /^roles\/(god|producer|consumer)\.js$/);
    assert.throws(() => process.kill(Number(pid), 0), `child ${pid} has exited`);
  }
  assert.match(demo.output, /demo: stopped/);
});

test("taskwire/worker bundles for a neutral platform with no node: module (the main entry does not)", async () => {
  const { project } = await installed();
  const bundle = (entry: string, out: string) =>
    run([
      path.join(BIN, "esbuild"),
      entry,
      "--bundle",
      "--platform=neutral",
      "--format=esm",
      "--main-fields=module,main",
      `--outfile=${out}`,
      "--log-limit=3",
    ], { cwd: project });
  await writeFile(path.join(project, "edge.mjs"), `export { connect } from "taskwire/worker";\n`);
  ok(await bundle("edge.mjs", "edge.bundle.mjs"), "esbuild taskwire/worker");
  const code = await readFile(path.join(project, "edge.bundle.mjs"), "utf8");
  assert.doesNotMatch(code, /["']node:/, "no node: import in the bundle");
  // The same check catches Node modules: the main entry holds sockets and files.
  await writeFile(path.join(project, "main.mjs"), `export { connect } from "taskwire";\n`);
  const main = await bundle("main.mjs", "main.bundle.mjs");
  assert.notEqual(main.code, 0);
  assert.match(main.stderr, /node:/);
});

test("Deno uses the installed npm package through npm: specifiers", async () => {
  const { project } = await installed();
  await writeFile(
    path.join(project, "deno_library.ts"),
    libraryScript((entry) => `npm:${entry}`),
  );
  const ran = ok(
    await run([DENO, "run", "-A", "deno_library.ts"], { cwd: project }),
    "deno run deno_library.ts",
  );
  assert.deepEqual(JSON.parse(ran.stdout.trim()), EXPECTED);
  const version = ok(
    await run([DENO, "run", "-A", "npm:taskwire", "--version"], { cwd: project }),
    "deno run npm:taskwire --version",
  );
  assert.equal(version.stdout, `${SOFTWARE}\n`);
});

test("the type declarations compile in a strict consumer project; the worker's need no Node types", async () => {
  const { project } = await installed();
  await writeFile(
    path.join(project, "use.ts"),
    `import { type Client, connect, type Job, serve, TaskwireError } from "taskwire";
import { connect as connectWorker, type Queue } from "taskwire/worker";
import { openJetStream, type OpenJetStreamOptions } from "taskwire/jetstream";

const god = await serve({ listen: "127.0.0.1:0", authkey: "k" });
const client: Client = await connect({ addr: \`127.0.0.1:\${god.port}\`, authkey: "k" });
const tasks: Queue<{ n: bigint }> = client.queue<{ n: bigint }>("tasks");
await tasks.put({ n: 1n }, { priority: 2 });
const job: Job<{ n: bigint }> | null = await tasks.get({ timeout: 10 });
const n: bigint | undefined = job?.value.n;
// @ts-expect-error: a number is not a { n: bigint }
await tasks.put(5);
const options: OpenJetStreamOptions = { replicas: 1, maxAttempts: 1 };
export const used = [n, connectWorker, openJetStream, options, new TaskwireError("internal", "x")];
`,
  );
  await writeFile(
    path.join(project, "use_worker.ts"),
    `import { connect, type Job, type Queue } from "taskwire/worker";
const client = await connect({ addr: "http://127.0.0.1:1", authkey: "k" });
const tasks: Queue<number> = client.queue<number>("tasks");
const job: Job<number> | null = await tasks.get({ timeout: 10 });
// @ts-expect-error: a string is not a number
await tasks.put("five");
export const value: number | undefined = job?.value;
`,
  );
  const tsconfig = (file: string, types: string[], lib?: string[]) =>
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        target: "ES2022",
        ...(lib ? { lib } : {}),
        module: "NodeNext",
        moduleResolution: "NodeNext",
        types,
        typeRoots: [path.join(ROOT, "node_modules", "@types")],
      },
      files: [file],
    });
  await writeFile(path.join(project, "tsconfig.json"), tsconfig("use.ts", ["node"]));
  await writeFile(
    path.join(project, "tsconfig.worker.json"),
    tsconfig("use_worker.ts", [], ["ES2022", "DOM"]),
  );
  const tsc = (config: string) =>
    run([NODE, path.join(ROOT, "node_modules/typescript/bin/tsc"), "-p", config], {
      cwd: project,
      timeoutMs: 180_000,
    });
  ok(await tsc("tsconfig.json"), "tsc (taskwire, taskwire/worker, taskwire/jetstream)");
  ok(await tsc("tsconfig.worker.json"), "tsc (taskwire/worker without @types/node)");
});

test("deno publish --dry-run: the JSR package has no slow types", async () => {
  // Offline is fine: deno.json's npm: imports resolve from the checkout's node_modules.
  const ran = await run([DENO, "publish", "--dry-run", "--allow-dirty"], {
    cwd: ROOT,
    timeoutMs: 180_000,
  });
  ok(ran, "deno publish --dry-run");
  assert.match(ran.stdout + ran.stderr, /Simulating publish of @taskwire\/taskwire@/);
  assert.doesNotMatch(ran.stdout + ran.stderr, /^\s*(error|warning)\b/im, "no errors or warnings");
});

const ENTRY_SCRIPT = (from: (entry: string) => string) => `
import { connect, serve } from "${from("mod")}";
import { connect as connectWorker } from "${from("worker")}";
const god = await serve({ listen: "127.0.0.1:0", authkey: "k" });
const client = await connect({ addr: "127.0.0.1:" + god.port, authkey: "k" });
await client.queue("tasks").put(new Map([["n", 3n]]));
const job = await client.queue<Map<string, bigint>>("tasks").get({ timeout: 5000 });
await job?.ack();
await client.close();
await god.close();
console.log(String(job?.value.get("n")), typeof connectWorker);
`;

test("a Deno script outside the checkout imports the library by path (--config) and by name (links)", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "taskwire-deno-outside-"));
  try {
    // By path, from a folder with no config: the checkout's deno.json (its import map) resolves
    // the library's npm dependencies, wherever the script is.
    const bare = path.join(dir, "bare");
    await mkdir(bare);
    await writeFile(
      path.join(bare, "main.ts"),
      ENTRY_SCRIPT((entry) => path.join(ROOT, `${entry}.ts`)),
    );
    const byPath = await run(
      [DENO, "run", "-A", "--config", path.join(ROOT, "deno.json"), "main.ts"],
      { cwd: bare },
    );
    assert.equal(ok(byPath, "deno run --config").stdout, "3 function\n");

    // By name, with only the sources and deno.json (no package.json, no node_modules): a
    // project's deno.json "links" the library, whose own import map then applies to its files.
    const library = path.join(dir, "taskwire");
    for (const name of ["mod.ts", "worker.ts", "jetstream.ts", "lib", "deno.json"]) {
      await cp(path.join(ROOT, name), path.join(library, name), { recursive: true });
    }
    const app = path.join(dir, "app");
    await mkdir(app);
    await writeFile(path.join(app, "deno.json"), JSON.stringify({ links: ["../taskwire"] }));
    await writeFile(
      path.join(app, "main.ts"),
      ENTRY_SCRIPT((entry) => entry === "mod" ? "@taskwire/taskwire" : `../taskwire/${entry}.ts`),
    );
    const byName = await run([DENO, "run", "-A", "main.ts"], { cwd: app, timeoutMs: 120_000 });
    if (byName.code !== 0 && offline(byName)) {
      console.warn(
        `NOTICE: skipping the linked-package half: Deno could not fetch the npm packages:\n${
          byName.stderr.slice(-800)
        }`,
      );
      return;
    }
    assert.equal(ok(byName, "deno run (links)").stdout, "3 function\n");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
