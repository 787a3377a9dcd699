/**
 * The live dashboard in a real headless Chromium (Debian's `chromium`, driven
 * by playwright-core): it loads with the viewer token, shows the queues and
 * the connected workers, and its numbers change as jobs are put and consumed.
 * Skips with a notice where /usr/bin/chromium is missing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { serve } from "../lib/server/server.ts";
import { connect } from "../lib/client/connect.ts";
import { serveHttp } from "../lib/http/serve.ts";
import { CHROMIUM, CHROMIUM_ARGS } from "./_support/chromium.ts";

const AUTHKEY = "dashboard-test-key";

test("the dashboard shows live queues and workers in headless Chromium", async (t) => {
  if (!existsSync(CHROMIUM)) {
    console.log(
      `NOTICE: ${CHROMIUM} not found (Debian package \`chromium\`): skipping the browser test`,
    );
    t.skip("chromium not installed");
    return;
  }
  const dir = mkdtempSync(path.join(tmpdir(), "taskwire-dashboard-"));
  const god = await serve({ listen: "127.0.0.1:0", authkey: AUTHKEY, name: "dashboard-god" });
  const face = await serveHttp(god, { listen: "127.0.0.1:0" });
  const producer = await connect({
    addr: `127.0.0.1:${god.port}`,
    authkey: AUTHKEY,
    role: "producer",
    name: "tcp-producer",
  });
  const consumer = await connect({
    addr: face.url,
    authkey: AUTHKEY,
    role: "consumer",
    name: "http-consumer",
  });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [...CHROMIUM_ARGS],
    timeout: 30_000,
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(15_000);
    const cell = (queue: string, field: string) =>
      page.locator(`tr[data-queue="${queue}"] td[data-field="${field}"]`);
    const waitText = async (queue: string, field: string, expected: string) => {
      // Locators poll without evaluating strings, which the page's CSP forbids.
      await cell(queue, field).filter({ hasText: new RegExp(`^${expected}$`) }).waitFor();
    };

    // Without a token: the login form, no data.
    await page.goto(`${face.url}/`);
    await page.locator("#login-token").waitFor({ state: "visible" });

    await producer.queue<number>("tasks").putMany([1, 2, 3, 4, 5]);
    await page.goto(`${face.url}/?token=${encodeURIComponent(face.viewerToken)}`);
    await waitText("tasks", "ready", "5");
    assert.ok(!page.url().includes("token="), "the token leaves the address bar");
    assert.equal(await cell("results", "ready").textContent(), "0");
    await page.locator('#connections tr[data-role="producer"]').waitFor();
    await page.locator('#connections tr[data-role="consumer"]').waitFor();
    const workers = await page.locator("#connections").textContent();
    assert.match(workers ?? "", /tcp-producer/);
    assert.match(workers ?? "", /http-consumer/);
    assert.match(workers ?? "", /node|deno/);

    // Consume three (ack two, hold one) and put more: the numbers follow.
    const tasks = consumer.queue<number>("tasks");
    const a = await tasks.get({ timeout: 2000 });
    const b = await tasks.get({ timeout: 2000 });
    const held = await tasks.get({ timeout: 2000 });
    await a!.ack();
    await b!.ack();
    await producer.queue<number>("results").putMany([1, 4]);
    await waitText("tasks", "ready", "2");
    await waitText("tasks", "inFlight", "1");
    await waitText("tasks", "acked", "2");
    await waitText("results", "ready", "2");
    await held!.fail("dashboard test");
    await waitText("tasks", "dead", "1");
    await page.locator("#rates path").nth(1).waitFor();

    const screenshot = path.join(dir, "dashboard.png");
    await page.screenshot({ path: screenshot, fullPage: true });
    assert.ok(statSync(screenshot).size > 10_000, "a real screenshot was written");
    console.log(`dashboard screenshot: ${screenshot}`);
  } finally {
    await browser.close();
    await consumer.close();
    await producer.close();
    await face.close();
    await god.close();
    if (!process.env.TASKWIRE_KEEP_SCREENSHOT) rmSync(dir, { recursive: true, force: true });
  }
});
