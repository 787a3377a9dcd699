/**
 * The dashboard's operator panel in a real headless Chromium: with the viewer
 * token the page only reads (progress and queue state included), and neither
 * the viewer token typed in as a key nor the viewer token on the API can act;
 * with the god's key, entered in the page and used to sign requests in the
 * browser, it pauses and resumes, lists waiting, in-flight and dead jobs with
 * their payloads, progress and attempt history, requeues and deletes dead
 * letters and purges. What clients control is shown as text, never as HTML.
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

const AUTHKEY = "dashboard-operator-key";
const HOSTILE = "<img src=x onerror=\"document.title='owned'\">";

test("the operator panel acts only with the key, signing in the browser; the viewer token cannot", async (t) => {
  if (!existsSync(CHROMIUM)) {
    console.log(
      `NOTICE: ${CHROMIUM} not found (Debian package \`chromium\`): skipping the browser test`,
    );
    t.skip("chromium not installed");
    return;
  }
  const dir = mkdtempSync(path.join(tmpdir(), "taskwire-operator-"));
  const god = await serve({ listen: "127.0.0.1:0", authkey: AUTHKEY, name: "operator-god" });
  const face = await serveHttp(god, { listen: "127.0.0.1:0" });
  const worker = await connect({
    addr: `127.0.0.1:${god.port}`,
    authkey: AUTHKEY,
    role: "consumer",
    name: HOSTILE,
  });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [...CHROMIUM_ARGS],
    timeout: 30_000,
  });
  try {
    // Two dead letters with their attempts, one job in flight with progress, two waiting.
    const ops = worker.queue<unknown>("ops");
    await worker.declare("ops", { maxAttempts: 3 });
    await ops.put({ n: 1 }, { id: "dead-1" });
    await ops.put({ html: HOSTILE }, { id: HOSTILE });
    await ops.put({ n: 3 }, { id: "busy" });
    await ops.putMany([{ n: 4 }, { n: 5 }]);
    for (let attempt = 0; attempt < 2; attempt++) {
      const job = (await ops.get({ timeout: 1000 }))!;
      await job.nack({ delay: 0 });
    }
    await (await ops.get({ timeout: 1000 }))!.fail("cannot parse");
    const second = (await ops.get({ timeout: 1000 }))!;
    await second.fail("cannot parse either");
    const busy = (await ops.get({ timeout: 1000 }))!;
    assert.equal(busy.id, "busy");
    await busy.progress({ done: 7, of: 10 });
    assert.equal(god.stats("ops").queues[0].dead, 2);

    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    page.setDefaultTimeout(15_000);
    const stats = () => god.stats("ops").queues[0];
    const until = async (check: () => boolean, what: string) => {
      for (let i = 0; i < 150 && !check(); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(check(), what);
    };

    await page.goto(`${face.url}/?token=${encodeURIComponent(face.viewerToken)}`);
    // Read-only: progress and the job in flight, with the worker's name as text.
    const progressRow = page.locator('#progress tr[data-progress="busy"]');
    await progressRow.filter({ hasText: '"done": 7' }).waitFor();
    assert.match((await progressRow.textContent()) ?? "", /<img src=x/);
    assert.equal(await page.locator("#operator-state").textContent(), "locked");

    // The viewer token typed in as a key signs nothing the god accepts.
    await page.fill("#operator-key", face.viewerToken);
    await page.click('#operator-form button[type="submit"]');
    await page.locator("#operator-error").filter({ hasText: /401|Bad signature/ }).waitFor();
    assert.equal(await page.locator("#operator-state").textContent(), "locked");
    assert.equal(await page.locator("body.operator").count(), 0);
    // ... and the viewer token on the API itself is read-only.
    const routes: [string, string][] = [
      ["POST", "/api/queues/ops/pause"],
      ["POST", "/api/queues/ops/resume"],
      ["POST", "/api/queues/ops/purge"],
      ["GET", "/api/queues/ops/peek"],
      ["GET", "/api/queues/ops/in-flight"],
      ["GET", "/api/queues/ops/dead"],
      ["POST", "/api/queues/ops/dead/requeue"],
      ["POST", "/api/queues/ops/dead/delete"],
      ["GET", "/api/schedules"],
      ["PUT", "/api/schedules/sneaky"],
      ["DELETE", "/api/schedules/sneaky"],
    ];
    for (const [method, route] of routes) {
      const response = await fetch(`${face.url}${route}`, {
        method,
        headers: { authorization: `Bearer ${face.viewerToken}` },
        body: method === "GET" ? undefined : "{}",
      });
      assert.equal(response.status, 403, `${method} ${route} with the viewer token`);
      await response.body?.cancel();
    }
    assert.deepEqual([stats().paused, stats().dead, stats().ready], [false, 2, 2]);

    // The key: unlocked, and every action is signed in the browser.
    await page.fill("#operator-key", AUTHKEY);
    await page.click('#operator-form button[type="submit"]');
    await page.locator("body.operator").waitFor();
    assert.equal(await page.locator("#operator-key").inputValue(), "", "the field forgets the key");
    assert.match((await page.locator("#operator-state").textContent()) ?? "", /unlocked/);
    await page.selectOption("#op-queue", "ops");

    await page.click("#op-pause");
    await until(() => stats().paused, "paused from the page");
    await page.locator('tr[data-queue="ops"] td[data-field="state"]').filter({ hasText: "paused" })
      .waitFor();
    await page.click("#op-resume");
    await until(() => !stats().paused, "resumed from the page");

    // Dead letters with their reasons, attempt history and payloads.
    await page.click("#op-dead");
    const deadRow = (id: string) =>
      page.locator(`#jobs-dead tr[data-job="${id.replace(/"/g, '\\"')}"]`);
    await deadRow("dead-1").waitFor();
    assert.match(
      (await deadRow("dead-1").locator('[data-field="info"]').textContent())!,
      /cannot parse/,
    );
    const history = (await deadRow("dead-1").locator('[data-field="history"]').textContent())!;
    assert.match(history, /1\. .*nacked/);
    assert.match(history, /3\. .*cannot parse/);
    await deadRow(HOSTILE).locator("button", { hasText: "payload" }).click();
    const payload = deadRow(HOSTILE).locator('pre[data-field="payload"]');
    await payload.waitFor({ state: "visible" });
    assert.match((await payload.textContent())!, /"html": "<img src=x onerror=/);
    await deadRow("dead-1").locator("button", { hasText: "requeue" }).click();
    await until(() => stats().dead === 1 && stats().ready === 3, "requeued from the page");
    await deadRow(HOSTILE).locator("button", { hasText: "delete" }).click();
    await until(() => stats().dead === 0, "deleted from the page");
    await page.locator("#jobs-dead td.empty").waitFor();

    // Jobs in flight with their progress; waiting jobs with their payloads.
    await page.click("#op-inflight");
    await page.locator('#jobs-inflight tr[data-job="busy"]').filter({ hasText: '"done": 7' })
      .waitFor();
    await page.click("#op-waiting");
    await page.locator("#jobs-waiting tr[data-job]").nth(2).waitFor();

    // Purge asks for a second click.
    await page.click("#op-purge");
    await page.locator("#operator-said").filter({ hasText: "click purge again" }).waitFor();
    assert.equal(stats().ready, 3);
    await page.click("#op-purge");
    await until(() => stats().ready === 0, "purged from the page");

    // Nothing a client sent ran as HTML.
    assert.equal(await page.locator("img").count(), 0);
    assert.notEqual(await page.title(), "owned");

    const screenshot = path.join(dir, "operator.png");
    await page.screenshot({ path: screenshot, fullPage: true });
    assert.ok(statSync(screenshot).size > 10_000, "a real screenshot was written");
    console.log(`operator screenshot: ${screenshot}`);

    await page.click("#op-lock");
    await page.locator("#operator-state").filter({ hasText: "locked" }).waitFor();
    assert.equal(await page.locator("body.operator").count(), 0);
    await busy.ack();
  } finally {
    await browser.close();
    await worker.close();
    await face.close();
    await god.close();
    if (!process.env.TASKWIRE_KEEP_SCREENSHOT) rmSync(dir, { recursive: true, force: true });
  }
});
