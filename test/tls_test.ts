/**
 * TLS: a god on either runtime serving `tls://`, clients checking its
 * certificate against a throwaway CA made at run time with `openssl`, the HMAC
 * handshake still required inside TLS, and the HTTP face over HTTPS.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as https from "node:https";
import * as net from "node:net";
import { connect } from "../mod.ts";
import { serve } from "../lib/server/server.ts";
import { serveHttp } from "../lib/http/serve.ts";
import { AuthError } from "../lib/protocol/errors.ts";
import { parseTarget } from "../lib/util/address.ts";
import { ArgumentError } from "../lib/protocol/errors.ts";
import { haveOpenssl, makeCerts, type TestCerts } from "./_support/certs.ts";
import { AUTHKEY, hardGod } from "./_support/hardening.ts";
import { CURRENT, freePort, RUNTIMES, start } from "./_support/process.ts";

const OPENSSL = haveOpenssl();
if (!OPENSSL) console.log("NOTICE: openssl not found: the TLS tests are skipped");

let certs: TestCerts | null = null;
function getCerts(): TestCerts {
  certs ??= makeCerts();
  return certs;
}
after(() => {
  if (certs) fs.rmSync(certs.dir, { recursive: true, force: true });
});

test("parseTarget() reads tls://, tcp://, http(s):// and plain HOST:PORT", () => {
  const local = { host: "127.0.0.1", port: 5678 };
  assert.deepEqual(parseTarget("tls://127.0.0.1:5678"), {
    kind: "tls",
    address: local,
    text: "tls://127.0.0.1:5678",
  });
  assert.deepEqual(parseTarget("TLS://god.example:1/"), {
    kind: "tls",
    address: { host: "god.example", port: 1 },
    text: "tls://god.example:1",
  });
  assert.deepEqual(parseTarget("tcp://[::1]:5678"), {
    kind: "tcp",
    address: { host: "::1", port: 5678 },
    text: "[::1]:5678",
  });
  assert.deepEqual(parseTarget("127.0.0.1:5678"), {
    kind: "tcp",
    address: local,
    text: "127.0.0.1:5678",
  });
  assert.deepEqual(parseTarget("http://127.0.0.1:8080/"), {
    kind: "http",
    url: "http://127.0.0.1:8080",
    text: "http://127.0.0.1:8080",
  });
  assert.throws(() => parseTarget("ftp://x:1"), ArgumentError);
  assert.throws(() => parseTarget("nohost"), ArgumentError);
});

for (const godRuntime of RUNTIMES) {
  test(
    `TLS: ${CURRENT} client ↔ ${godRuntime} god: works with the CA, refuses a wrong key, an unknown CA and plain TCP`,
    {
      skip: !OPENSSL,
    },
    async () => {
      const c = getCerts();
      const god = await hardGod(godRuntime, ["--tls-cert", c.cert, "--tls-key", c.key]);
      try {
        const ca = fs.readFileSync(c.caCert, "utf8");
        const addr = `tls://127.0.0.1:${god.port}`;
        // The right CA and the right key: the queue works.
        const client = await connect({ addr, authkey: AUTHKEY, tls: { ca }, reconnect: false });
        const tasks = client.queue<{ n: number; text: string }>("tasks");
        await tasks.put({ n: 1, text: "secret payload" });
        const job = await tasks.get({ timeout: 5000 });
        assert.deepEqual(job?.value, { n: 1, text: "secret payload" });
        await job!.ack();

        // Inside TLS, the HMAC handshake is still required.
        await assert.rejects(
          connect({ addr, authkey: "not-the-key", tls: { ca }, reconnect: false }),
          (error: Error) =>
            error instanceof AuthError && /authentication failed/i.test(error.message),
        );
        // A CA that did not sign the god's certificate: refused by the client before any byte of
        // the protocol, as an AuthError (retrying cannot help) that says what to do.
        await assert.rejects(
          connect({
            addr,
            authkey: AUTHKEY,
            tls: { ca: fs.readFileSync(c.otherCa, "utf8") },
            reconnect: false,
          }),
          (error: Error) =>
            error instanceof AuthError &&
            /Cannot trust the god's TLS certificate at 127\.0\.0\.1:\d+ \(.*(certificate|verify).*\): pass the CA that signed it with --tls-ca/i
              .test(error.message),
        );
        // The system's roots do not know the throwaway CA either.
        await assert.rejects(
          connect({ addr, authkey: AUTHKEY, reconnect: false }),
          /certificate|verify/i,
        );
        // A plain TCP client on the TLS port gets nowhere and does not disturb the god.
        await assert.rejects(
          connect({
            addr: `127.0.0.1:${god.port}`,
            authkey: AUTHKEY,
            reconnect: false,
            handshakeTimeoutMs: 2000,
          }),
        );
        // On the wire, the payload text never appears in the clear.
        const seen = await sniff(god.port, async (port) => {
          const sniffed = await connect({
            addr: `tls://127.0.0.1:${port}`,
            authkey: AUTHKEY,
            tls: { ca, servername: "localhost" },
            reconnect: false,
          });
          await sniffed.queue("tasks").put({ text: "the eagle lands at dawn" });
          await sniffed.close();
        });
        assert.ok(seen.length > 200, "bytes went through the sniffer");
        assert.ok(!Buffer.from(seen).toString("latin1").includes("eagle"), "payload is encrypted");

        const stats = await client.stats();
        assert.equal(stats.queues.find((q) => q.name === "tasks")?.ready, 1);
        await client.close();
      } finally {
        await god.proc.stop();
      }
    },
  );
}

test("TLS: the HTTP face serves HTTPS with the same certificate", { skip: !OPENSSL }, async () => {
  const c = getCerts();
  const tls = { cert: fs.readFileSync(c.cert, "utf8"), key: fs.readFileSync(c.key, "utf8") };
  const god = await serve({ listen: "127.0.0.1:0", authkey: AUTHKEY, tls });
  const face = await serveHttp(god, { listen: "127.0.0.1:0", tls });
  try {
    assert.match(face.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const url = new URL(`${face.url}/healthz`);
    const body = await new Promise<string>((resolve, reject) => {
      https.get({
        host: url.hostname,
        port: Number(url.port),
        path: url.pathname,
        ca: fs.readFileSync(c.caCert, "utf8"),
        servername: "localhost",
      }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => text += chunk);
        res.on("end", () => resolve(text));
      }).on("error", reject);
    });
    assert.equal(JSON.parse(body).ok, true);
    // Without the CA the HTTPS face is refused too.
    await assert.rejects(
      new Promise((resolve, reject) => {
        https.get({ host: url.hostname, port: Number(url.port), path: "/healthz" }, resolve)
          .on("error", reject);
      }),
      /certificate|verify/i,
    );
  } finally {
    await face.close();
    await god.close();
  }
});

test(
  "TLS: the god role takes --tls-cert/--tls-key; a producer finds it with tls:// and TASKWIRE_TLS_CA",
  {
    skip: !OPENSSL,
  },
  async () => {
    const c = getCerts();
    const port = await freePort();
    const godRuntime = CURRENT === "node" ? "deno" : "node";
    const god = start(godRuntime, "roles/god.ts", [
      "--listen",
      `127.0.0.1:${port}`,
      "--in-memory",
      "--tls-cert",
      c.cert,
      "--tls-key",
      c.key,
      "--json",
    ], { env: { TASKWIRE_AUTHKEY: AUTHKEY } });
    try {
      await god.waitFor(/"event":"listening".*tls:\/\/127\.0\.0\.1/, 30_000);
      const producer = start(CURRENT, "roles/producer.ts", [
        "--connect",
        `tls://127.0.0.1:${port}`,
        "--count",
        "3",
        "--interval",
        "0",
        "--json",
      ], { env: { TASKWIRE_AUTHKEY: AUTHKEY, TASKWIRE_TLS_CA: c.caCert } });
      const { code } = await producer.wait(60_000);
      assert.equal(code, 0, producer.output.slice(-2000));
      const client = await connect({
        addr: `tls://127.0.0.1:${port}`,
        authkey: AUTHKEY,
        tls: { ca: fs.readFileSync(c.caCert, "utf8") },
        reconnect: false,
      });
      const stats = await client.stats("tasks");
      assert.equal(stats.queues[0].totals.put, 3);
      await client.close();
    } finally {
      const { code } = await god.stop();
      assert.equal(code, 0, god.output.slice(-2000));
    }
  },
);

/** Runs `use` against a TCP relay in front of `port`; resolves with every byte the client sent. */
async function sniff(port: number, use: (relayPort: number) => Promise<void>): Promise<Uint8Array> {
  const seen: Uint8Array[] = [];
  const sockets = new Set<net.Socket>();
  const relay = net.createServer((inbound) => {
    const outbound = net.connect({ host: "127.0.0.1", port });
    sockets.add(inbound).add(outbound);
    inbound.on("data", (chunk: Uint8Array) => {
      seen.push(new Uint8Array(chunk));
      outbound.write(chunk);
    });
    outbound.on("data", (chunk: Uint8Array) => {
      seen.push(new Uint8Array(chunk));
      inbound.write(chunk);
    });
    const end = () => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on("close", end).on("error", end);
    outbound.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  try {
    await use((relay.address() as net.AddressInfo).port);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => relay.close(() => resolve()));
  }
  return Uint8Array.from(seen.flatMap((c) => [...c]));
}
