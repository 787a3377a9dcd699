/**
 * examples/browser in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core, as the dashboard test does), served from another origin
 * than the god's HTTP face:
 * - with `--http-cors <the page's origin>` the page connects with a worker
 *   key, puts tasks and squares them; the god names it `browser Chrome/…`;
 * - without it the browser refuses the requests, and the page's error says it
 *   is probably CORS and names the flag to add;
 * - on a page that is not a secure context (plain http:// on a host other than
 *   localhost, mapped to 127.0.0.1 inside Chromium only), the page says
 *   WebCrypto is not available there.
 * Skips with a notice where /usr/bin/chromium is missing.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { type Client, connect, type God, makeWorkerKey, serve, serveHttp } from "../mod.ts";
import type { HttpFace } from "../lib/http/serve.ts";
import { mustBundle } from "./_support/bundle.ts";
import { CURRENT, freePort, ROOT, start } from "./_support/process.ts";
import { CHROMIUM, CHROMIUM_ARGS } from "./_support/chromium.ts";

const GOD_KEY = "browser-test-god-key";
/** A name that is not localhost, so a page there is not a secure context. */
const INSECURE_HOST = "insecure.taskwire.test";
const ARGS = [
  ...CHROMIUM_ARGS,
  // Resolves the insecure test host to loopback inside this browser only.
  `--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`,
];

let dir: string;
let pages: http.Server;
let pageOrigin: string;
let god: God;
let corsFace: HttpFace;
let plainFace: HttpFace;
let client: Client;
let browser: Browser | null = null;
let workerKey: string;

/** A static server for the example's folder: the page and its bundled script. */
function servePages(root: string): Promise<http.Server> {
  const types: Record<string, string> = { ".html": "text/html", ".js": "text/javascript" };
  const server = http.createServer(async (request, response) => {
    const name = new URL(request.url ?? "/", "http://x").pathname.slice(1) || "index.html";
    try {
      if (!/^[a-z]+\.(html|js)$/.test(name)) throw new Error("not served");
      const body = await readFile(path.join(root, name));
      response.writeHead(200, { "content-type": types[path.extname(name)] });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

before(async () => {
  if (!existsSync(CHROMIUM)) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "taskwire-browser-"));
  await copyFile(path.join(ROOT, "examples/browser/index.html"), path.join(dir, "index.html"));
  await mustBundle("examples/browser/app.ts", path.join(dir, "app.js"), { platform: "browser" });
  pages = await servePages(dir);
  const port = (pages.address() as { port: number }).port;
  pageOrigin = `http://127.0.0.1:${port}`;
  god = await serve({ listen: "127.0.0.1:0", authkey: GOD_KEY });
  corsFace = await serveHttp(god, { listen: "127.0.0.1:0", cors: [pageOrigin] });
  plainFace = await serveHttp(god, { listen: "127.0.0.1:0" });
  client = await connect({ addr: `127.0.0.1:${god.port}`, authkey: GOD_KEY });
  workerKey = await makeWorkerKey(GOD_KEY, { consume: ["tasks"], put: ["tasks", "results"] });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 30_000 });
});

after(async () => {
  await browser?.close();
  if (god === undefined) return;
  await client.close();
  await corsFace.close();
  await plainFace.close();
  await god.close();
  await new Promise((resolve) => pages.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

function skipWithoutChromium(t: { skip(message?: string): void }): boolean {
  if (browser !== null) return false;
  console.log(
    `NOTICE: ${CHROMIUM} not found (Debian package \`chromium\`): skipping the browser test`,
  );
  t.skip("chromium not installed");
  return true;
}

/** Opens the example page at `origin` and connects it to `godUrl`. */
async function openAndConnect(origin: string, godUrl: string): Promise<Page> {
  const page = await browser!.newPage();
  page.setDefaultTimeout(20_000);
  await page.goto(`${origin}/index.html`);
  await page.fill("#god", godUrl);
  await page.fill("#key", workerKey);
  await page.click("#connect");
  return page;
}

/** Waits until the page's log or error shows `pattern`. */
async function shows(page: Page, selector: string, pattern: RegExp): Promise<string> {
  await page.locator(selector).filter({ hasText: pattern }).waitFor();
  return (await page.locator(selector).textContent()) ?? "";
}

test("a page on another origin puts and squares tasks when the god allows its origin (library option cors)", async (t) => {
  if (skipWithoutChromium(t)) return;
  const page = await openAndConnect(pageOrigin, corsFace.url);
  try {
    await shows(page, "#log", /connected to/);
    assert.equal(await page.evaluate(() => location.origin), pageOrigin);
    assert.notEqual(new URL(corsFace.url).origin, pageOrigin, "the god is on another origin");
    await page.fill("#count", "20");
    await page.click("#put");
    await shows(page, "#log", /put 20 tasks/);
    await page.click("#work");
    await shows(page, "#log", /squared 20 tasks/);
    assert.equal(await page.locator("#error").textContent(), "");

    const results = client.queue<{ n: bigint; square: bigint; by: string }>("results");
    for (let i = 0; i < 20; i++) {
      const job = await results.get({ timeout: 5000 });
      assert.ok(job, `result ${i + 1} of 20`);
      assert.equal(job.value.square, job.value.n * job.value.n);
      assert.equal(job.value.by, "browser");
      await job.ack();
    }
    const pageClient = (await client.stats()).connections.find((c) => c.transport === "http");
    assert.ok(pageClient, "the page is a client of the god");
    assert.match(pageClient.runtime, /^browser Chrome\/\d+$/);
    assert.match(pageClient.name, /^browser-/);
  } finally {
    await page.close();
  }
});

test("without --http-cors the browser refuses, and the page is told it is probably CORS", async (t) => {
  if (skipWithoutChromium(t)) return;
  const page = await openAndConnect(pageOrigin, plainFace.url);
  try {
    const started = Date.now();
    const error = await shows(page, "#error", /--http-cors/);
    assert.match(error, /browser refusing the request/);
    assert.ok(error.includes(`--http-cors ${pageOrigin}`), error);
    assert.ok(Date.now() - started < 15_000, "it gives up instead of retrying forever");
    assert.doesNotMatch(await page.locator("#log").textContent() ?? "", /connected/);
  } finally {
    await page.close();
  }
});

test("a page that is not a secure context is told WebCrypto is not available there", async (t) => {
  if (skipWithoutChromium(t)) return;
  const insecure = pageOrigin.replace("127.0.0.1", INSECURE_HOST);
  const page = await openAndConnect(insecure, corsFace.url);
  try {
    assert.equal(
      await page.evaluate(() => (globalThis as { isSecureContext?: boolean }).isSecureContext),
      false,
    );
    const error = await shows(page, "#error", /WebCrypto/);
    assert.match(error, /WebCrypto is not available here: use HTTPS or localhost/);
  } finally {
    await page.close();
  }
});

test(`the god role with --http-cors <the page's origin> serves the page (god on ${CURRENT})`, async (t) => {
  if (skipWithoutChromium(t)) return;
  const [port, httpPort] = [await freePort(), await freePort()];
  const godRole = start(CURRENT, "roles/god.ts", [
    "--in-memory",
    "--json",
    "--listen",
    `127.0.0.1:${port}`,
    "--http",
    `127.0.0.1:${httpPort}`,
    "--http-cors",
    `https://other.example,${pageOrigin}`,
  ], { env: { TASKWIRE_AUTHKEY: GOD_KEY } });
  let page: Page | null = null;
  try {
    const announced = JSON.parse(await godRole.waitFor(/"event":"http"/, 30_000));
    assert.deepEqual(announced.cors, ["https://other.example", pageOrigin]);
    page = await openAndConnect(pageOrigin, announced.url);
    await shows(page, "#log", /connected to/);
    await page.fill("#count", "5");
    await page.click("#put");
    await shows(page, "#log", /put 5 tasks/);
    await page.click("#work");
    await shows(page, "#log", /squared 5 tasks/);
    // The god role prints each result as it arrives.
    await godRole.waitFor(/"event":"result".*"by":"browser"/);
    await until(() => godRole.lines.filter((l) => l.includes('"event":"result"')).length === 5);
  } finally {
    await page?.close();
    await godRole.stop();
  }
});

async function until(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
