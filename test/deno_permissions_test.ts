/**
 * The roles on Deno with the smallest permissions: every row of the table in
 * docs/EDGE.md ("Deno: the smallest permissions") is read from the doc and
 * run as written — a god with exactly those flags serves, a producer puts, a
 * consumer computes, admin reads stats — so the table cannot rot. And a role
 * missing a permission exits 1 naming the narrow flag to add.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type Client, connect, type God, serve, serveHttp } from "../mod.ts";
import type { HttpFace } from "../lib/http/serve.ts";
import { haveOpenssl, makeCerts, type TestCerts } from "./_support/certs.ts";
import { DENO, freePort, Proc, ROOT } from "./_support/process.ts";

const AUTHKEY = "deno-permissions-key";
const ROLES = ["god", "producer", "consumer", "admin"] as const;
type Role = typeof ROLES[number];

/** One row of the doc's table. */
interface Row {
  line: string;
  roles: Role[];
  args: string;
  flags: string;
  env: Record<string, string>;
}

/** The rows of the table under "Deno: the smallest permissions" in docs/EDGE.md. */
function tableRows(): Row[] {
  const doc = readFileSync(path.join(ROOT, "docs/EDGE.md"), "utf8");
  const start = doc.indexOf("## Deno: the smallest permissions");
  assert.ok(start >= 0, "docs/EDGE.md has the section");
  const rows: Row[] = [];
  for (const line of doc.slice(start).split("\n").slice(1)) {
    if (line.startsWith("## ")) break;
    if (!line.startsWith("|") || /^\|\s*(Role|-)/.test(line)) continue;
    const cells = line.split("|").slice(1, -1).map((c) => c.trim());
    const code = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    const env: Record<string, string> = {};
    // Besides the arguments, the cell may name an environment variable to set (NAME=VALUE).
    for (const span of code(cells[1]).slice(1)) {
      const variable = /^([A-Z_]+)=(\S+)$/.exec(span);
      if (variable !== null) env[variable[1]] = variable[2];
    }
    rows.push({
      line,
      roles: ROLES.filter((r) => new RegExp(`\\b${r}\\b`).test(cells[0])),
      args: code(cells[1])[0],
      flags: code(cells[2])[0],
      env,
    });
  }
  return rows;
}

let dir: string;
let certs: TestCerts | null = null;
let keyFile: string;
let gods: { tcp: God; tls: God | null };
let faces: { http: HttpFace; https: HttpFace | null };
let client: Client;

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "taskwire-deno-perms-"));
  keyFile = path.join(dir, "authkey");
  writeFileSync(keyFile, AUTHKEY + "\n");
  if (haveOpenssl()) certs = makeCerts();
  const tcp = await serve({ listen: "127.0.0.1:0", authkey: AUTHKEY });
  const tls = certs === null ? null : await serve({
    listen: "127.0.0.1:0",
    authkey: AUTHKEY,
    tls: { cert: readFileSync(certs.cert, "utf8"), key: readFileSync(certs.key, "utf8") },
  });
  gods = { tcp, tls };
  faces = {
    http: await serveHttp(tcp, { listen: "127.0.0.1:0" }),
    https: certs === null ? null : await serveHttp(tcp, {
      listen: "127.0.0.1:0",
      tls: { cert: readFileSync(certs.cert, "utf8"), key: readFileSync(certs.key, "utf8") },
    }),
  };
  client = await connect({ addr: `127.0.0.1:${tcp.port}`, authkey: AUTHKEY });
});

after(async () => {
  await client.close();
  await faces.http.close();
  await faces.https?.close();
  await gods.tcp.close();
  await gods.tls?.close();
  rmSync(dir, { recursive: true, force: true });
  if (certs) rmSync(certs.dir, { recursive: true, force: true });
});

/** Fills a row's placeholders. */
function fill(text: string, values: Record<string, string>): string {
  // Whole words only: KEY is a placeholder, TASKWIRE_AUTHKEY is not.
  return text.replace(/\b(HTTP:PORT|HOST:PORT|CERT|KEY|CA|DIR|FILE)\b/g, (p) => values[p] ?? p);
}

function denoRole(role: Role, flags: string[], args: string[], env: Record<string, string>): Proc {
  return new Proc([DENO, "run", ...flags, path.join(ROOT, "roles", `${role}.ts`), ...args], {
    env: { TASKWIRE_AUTHKEY: AUTHKEY, ...env },
  });
}

/** Waits for a line matching `pattern`; fails at once (with the output) if the process exits first. */
async function lineOrExit(proc: Proc, pattern: RegExp): Promise<void> {
  const exited = proc.exited.then(({ code }) => {
    throw new Error(`exited ${code} before printing ${pattern}:\n${proc.output.slice(-2000)}`);
  });
  exited.catch(() => {});
  await Promise.race([proc.waitFor(pattern, 30_000), exited]);
}

function split(text: string): string[] {
  return text.split(/\s+/).filter((w) => w !== "");
}

async function exitsZero(proc: Proc, what: string, timeoutMs = 30_000): Promise<void> {
  const { code } = await proc.wait(timeoutMs);
  assert.equal(code, 0, `${what}:\n${proc.output.slice(-2000)}`);
}

/** Runs a client role as the row says, and checks it did its work. */
async function runClient(
  role: Role,
  row: Row,
  values: Record<string, string>,
  feeder: Client,
): Promise<void> {
  const flags = split(fill(row.flags, values));
  const args = split(fill(row.args, values));
  const env = Object.fromEntries(Object.entries(row.env).map(([k, v]) => [k, fill(v, values)]));
  const what = `${role} with ${flags.join(" ")} ${args.join(" ")}`;
  if (role === "producer") {
    const proc = denoRole(role, flags, [...args, "--count", "5", "--interval", "0", "--json"], env);
    await exitsZero(proc, what);
    assert.match(proc.output, /"event":"done","put":5/, what);
  } else if (role === "admin") {
    const proc = denoRole(role, flags, ["stats", ...args, "--json"], env);
    await exitsZero(proc, what);
    assert.match(proc.output, /"event":"stats"/, what);
  } else {
    await feeder.purge("tasks");
    const proc = denoRole(role, flags, [...args, "--json"], env);
    try {
      await lineOrExit(proc, /"event":"ready"/);
      await feeder.queue<number>("tasks").putMany([2, 3, 4]);
      for (const square of [4, 9, 16]) await proc.waitFor(new RegExp(`"square":"${square}"`));
    } finally {
      const { code } = await proc.stop();
      assert.equal(code, 0, `${what}:\n${proc.output.slice(-2000)}`);
    }
  }
}

/** Runs a god as the row says; a client of this test checks it serves. */
async function runGod(row: Row): Promise<void> {
  const values: Record<string, string> = {
    "HOST:PORT": `127.0.0.1:${await freePort()}`,
    "HTTP:PORT": `127.0.0.1:${await freePort()}`,
    DIR: path.join(dir, `data-${Date.now()}`),
    FILE: keyFile,
  };
  mkdirSync(values.DIR, { mode: 0o700 }); // as the table says: made first
  if (certs) Object.assign(values, { CERT: certs.cert, KEY: certs.key });
  const flags = split(fill(row.flags, values));
  const args = split(fill(row.args, values));
  const god = denoRole("god", flags, [...args, "--json", "--quiet"], {});
  try {
    await lineOrExit(god, /"event":"listening"/);
    const tls = args.includes("--tls-cert");
    const them = await connect({
      addr: `${tls ? "tls://" : ""}${values["HOST:PORT"]}`,
      authkey: AUTHKEY,
      tls: tls ? { ca: readFileSync(certs!.caCert, "utf8") } : undefined,
      reconnect: false,
    });
    try {
      await them.queue<number>("tasks").put(7);
      assert.equal((await them.queue<number>("tasks").get({ timeout: 5000 }))?.value, 7);
    } finally {
      await them.close();
    }
    if (args.includes("--http")) {
      const health = await fetch(`http://${values["HTTP:PORT"]}/healthz`);
      assert.equal(health.status, 200);
      await health.body?.cancel();
    }
  } finally {
    const { code } = await god.stop();
    assert.equal(code, 0, `god with ${flags.join(" ")}:\n${god.output.slice(-2000)}`);
  }
}

test("docs/EDGE.md: every row of the Deno permissions table runs as written", async (t) => {
  const rows = tableRows();
  assert.ok(rows.length >= 8, `the table has its rows (${rows.length})`);
  for (const row of rows) {
    assert.ok(
      row.roles.length > 0 && row.args && row.flags,
      `a row the test understands: ${row.line}`,
    );
    const needsTls = /tls|https|CERT|\bCA\b/.test(row.args);
    if (needsTls && certs === null) {
      console.log(`NOTICE: openssl not found: skipping the row ${row.line}`);
      continue;
    }
    await t.test(row.line.replace(/\s+/g, " "), async () => {
      if (row.roles.includes("god")) return await runGod(row);
      const scheme = /^(tls|https?):\/\//.exec(split(row.args)[1] ?? "")?.[1] ?? "tcp";
      const address = {
        tcp: `127.0.0.1:${gods.tcp.port}`,
        tls: `127.0.0.1:${gods.tls?.port}`,
        http: new URL(faces.http.url).host,
        https: new URL(faces.https?.url ?? "http://x").host,
      }[scheme]!;
      const values = { "HOST:PORT": address, CA: certs?.caCert ?? "", FILE: keyFile };
      // Tasks for the consumer go to the god it reaches (the TLS god is another god).
      const feeder = scheme === "tls"
        ? await connect({
          addr: `tls://${address}`,
          authkey: AUTHKEY,
          tls: { ca: readFileSync(certs!.caCert, "utf8") },
        })
        : client;
      try {
        for (const role of row.roles) await runClient(role, row, values, feeder);
      } finally {
        if (feeder !== client) await feeder.close();
      }
    });
  }
});

test("a Deno role without --allow-net, or without the key's variable, exits 1 naming the narrow flag", async () => {
  const host = new URL(faces.http.url).host;
  for (const role of ["consumer", "producer"] as const) {
    const noNet = denoRole(role, ["--allow-env=TASKWIRE_AUTHKEY"], [
      "--connect",
      faces.http.url,
    ], {});
    assert.equal((await noNet.wait(30_000)).code, 1, noNet.output);
    assert.match(
      noNet.output,
      new RegExp(`run again with --allow-net=${host.replace(".", "\\.")}`),
    );
    assert.doesNotMatch(noNet.output, /Is the god running/, "not taken for an unreachable god");

    const noEnv = denoRole(role, [`--allow-net=${host}`], ["--connect", faces.http.url], {});
    assert.equal((await noEnv.wait(30_000)).code, 1, noEnv.output);
    assert.match(noEnv.output, /--allow-env=TASKWIRE_AUTHKEY/);
    assert.match(noEnv.output, /--authkey-file PATH \(with --allow-read=PATH\)/);
  }
});

test("a Deno god with a journal but a narrowed --allow-net says to give --allow-net (its lock socket's name is fresh each start)", async () => {
  const data = path.join(dir, "narrow-data");
  mkdirSync(data, { mode: 0o700 });
  const port = await freePort();
  const god = denoRole(
    "god",
    [
      `--allow-net=127.0.0.1:${port}`,
      "--allow-env=TASKWIRE_AUTHKEY",
      `--allow-read=${data}`,
      `--allow-write=${data}`,
    ],
    ["--data", data, "--listen", `127.0.0.1:${port}`],
    {},
  );
  assert.equal((await god.wait(30_000)).code, 1, god.output);
  assert.match(god.output, /lock socket/);
  assert.match(god.output, /run again with --allow-net$/m);
});
