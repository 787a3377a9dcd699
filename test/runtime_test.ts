/**
 * Naming the runtime (lib/util/runtime.ts) from fake globals, as each runtime
 * presents itself: Node, Deno (which also has `process` and a navigator), Bun
 * (which also says it is Node), workerd with and without nodejs_compat, Vercel's
 * edge-runtime (with the `process.env` Vercel adds), and browsers by their user
 * agents. And the key's import says what to do where WebCrypto is missing (a
 * browser page that is not a secure context), checked here in-process; the
 * browser test checks it in a real insecure page.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { defaultClientName, detectRuntime, runtimeKind } from "../lib/util/runtime.ts";
import { importAuthKey } from "../lib/protocol/keys.ts";
import { CURRENT } from "./_support/process.ts";

const CHROME_UA =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

const CASES: [string, Parameters<typeof detectRuntime>[0], string][] = [
  ["Node", { process: { versions: { node: "22.11.0" } } }, "node 22.11.0"],
  [
    "Deno, which also has process and a navigator",
    {
      Deno: { version: { deno: "2.1.4" } },
      process: { versions: { node: "20.11.1" } },
      navigator: { userAgent: "Deno/2.1.4" },
    },
    "deno 2.1.4",
  ],
  [
    "Bun, which also says it is Node",
    {
      Bun: { version: "1.2.3" },
      process: { versions: { node: "24.3.0" } },
      navigator: { userAgent: "Bun/1.2.3" },
    },
    "bun 1.2.3",
  ],
  ["workerd", { navigator: { userAgent: "Cloudflare-Workers" } }, "workerd"],
  [
    "workerd with nodejs_compat (process.versions.node)",
    { navigator: { userAgent: "Cloudflare-Workers" }, process: { versions: { node: "22.14.0" } } },
    "workerd",
  ],
  ["edge-runtime", { EdgeRuntime: "edge-runtime" }, "edge-runtime"],
  [
    "edge-runtime with Vercel's process.env",
    { EdgeRuntime: "edge-runtime", process: {} },
    "edge-runtime",
  ],
  ["Chrome", { document: {}, navigator: { userAgent: CHROME_UA } }, "browser Chrome/131"],
  [
    "headless Chrome",
    { document: {}, navigator: { userAgent: CHROME_UA.replace("Chrome/", "HeadlessChrome/") } },
    "browser Chrome/131",
  ],
  [
    "Edge (its agent also says Chrome/, earlier)",
    { document: {}, navigator: { userAgent: `${CHROME_UA} Edg/131.0.2903.86` } },
    "browser Edge/131",
  ],
  [
    "Opera",
    { document: {}, navigator: { userAgent: `${CHROME_UA} OPR/116.0.0.0` } },
    "browser Opera/116",
  ],
  [
    "Firefox",
    {
      document: {},
      navigator: {
        userAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
      },
    },
    "browser Firefox/133",
  ],
  [
    "Safari",
    {
      document: {},
      navigator: {
        userAgent:
          "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
      },
    },
    "browser Safari/18",
  ],
  [
    "an Android WebView (Version/4.0, then Chrome/)",
    {
      navigator: {
        userAgent:
          "Mozilla/5.0 (Linux; Android 14; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36",
      },
    },
    "browser Chrome/120",
  ],
  [
    "a browser's Web Worker (no document)",
    { navigator: { userAgent: CHROME_UA } },
    "browser Chrome/131",
  ],
  ["a page with an unknown agent", { document: {}, navigator: { userAgent: "Lynx" } }, "browser"],
  ["nothing known", {}, "unknown"],
];

for (const [what, globals, expected] of CASES) {
  test(`detectRuntime() names ${what}: ${expected}`, () => {
    assert.equal(detectRuntime(globals), expected);
  });
}

test("detectRuntime() names the runtime running this test, and client names start with its kind", () => {
  const name = detectRuntime();
  assert.match(name, CURRENT === "deno" ? /^deno \d+\.\d+/ : /^node \d+\.\d+/);
  assert.equal(runtimeKind(), CURRENT);
  assert.match(defaultClientName(), new RegExp(`^${CURRENT}-[a-z0-9]{6}$`));
});

test("importAuthKey() where crypto.subtle is missing says to use HTTPS or localhost", async () => {
  const saved = Object.getOwnPropertyDescriptor(globalThis, "crypto");
  assert.ok(saved?.configurable, "globalThis.crypto can be replaced for this test");
  // What a browser page that is not a secure context has: crypto without subtle.
  Object.defineProperty(globalThis, "crypto", {
    value: { getRandomValues: crypto.getRandomValues.bind(crypto) },
    configurable: true,
  });
  try {
    assert.throws(
      () => importAuthKey("a key"),
      /^ArgumentError: WebCrypto is not available here: use HTTPS or localhost/,
    );
  } finally {
    Object.defineProperty(globalThis, "crypto", saved);
  }
  assert.ok(await importAuthKey("a key"), "restored");
});
