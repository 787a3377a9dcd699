/**
 * The dashboard's operator client (lib/http/operator/bundle.ts) is the
 * library's HTTP client bundled for the browser, so the page signs requests
 * with the same code as every client. This fails while the committed bundle
 * is older than its sources (say, after a change to lib/http/sign.ts): run
 * `npm run build:operator`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { bundleModule, bundleOperator, OUTPUT } from "../scripts/build_operator.ts";
import { ROOT } from "./_support/process.ts";
import { OPERATOR_JS } from "../lib/http/operator/bundle.ts";

test("the committed operator bundle is what esbuild makes of its sources now", async () => {
  const fresh = bundleModule(await bundleOperator());
  const committed = await readFile(path.join(ROOT, OUTPUT), "utf8");
  assert.ok(
    fresh === committed,
    `${OUTPUT} is out of date with the client it bundles: run \`npm run build:operator\` and commit it`,
  );
  // It is the signing client: the canonical text's first line and the signature header are in it.
  assert.match(OPERATOR_JS, /taskwire-http-\d/);
  assert.match(OPERATOR_JS, /x-taskwire-signature/);
  assert.match(OPERATOR_JS, /taskwireOperator/);
});
