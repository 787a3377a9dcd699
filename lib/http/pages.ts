/**
 * The HTTP face's pages: the live dashboard (open; its data needs the viewer
 * token), `/healthz` (open), and `/metrics` in Prometheus text (viewer token,
 * or open when asked for).
 */
import { Hono } from "hono";
import { DASHBOARD_HTML } from "./dashboard.ts";
import { OPERATOR_JS } from "./operator/bundle.ts";
import { endpoint, type HttpEnv, open } from "./endpoint.ts";
import { json } from "./errors.ts";
import type { Face } from "./face.ts";
import { renderMetrics } from "./metrics.ts";
import { verifyViewerToken } from "./sign.ts";

const DASHBOARD_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "content-security-policy":
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "referrer-policy": "no-referrer",
} as const;

/** Whether a request carries the right viewer token (`Authorization: Bearer …` or `?token=…`). */
async function viewerAsks(face: Face, request: Request, url: URL): Promise<boolean> {
  const token = request.headers.get("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1] ??
    url.searchParams.get("token");
  return token !== null && token !== undefined && await verifyViewerToken(face.keys.key, token);
}

/** The pages as a Hono app. */
export function pagesApp(face: Face): Hono<HttpEnv> {
  const pages = new Hono<HttpEnv>();
  endpoint(pages, face, "/", {
    GET: open(() => new Response(DASHBOARD_HTML, { headers: DASHBOARD_HEADERS })),
  });
  // The operator client the page signs with (the library's HTTP client, bundled): open, it holds no secret.
  endpoint(pages, face, "/operator.js", {
    GET: open(() =>
      new Response(OPERATOR_JS, {
        headers: {
          "content-type": "text/javascript; charset=utf-8",
          "cache-control": "no-cache",
          "x-content-type-options": "nosniff",
        },
      })
    ),
  });
  endpoint(pages, face, "/healthz", {
    GET: open(async ({ request, url }) => {
      const { server } = face.ops.snapshot();
      // Ready: not closing, and (for the journal) able to make new jobs durable.
      const storeState = (server.store as { state?: string }).state ?? "ok";
      const ok = !face.closing.aborted && storeState === "ok";
      const health: Record<string, unknown> = { ok, live: true, ready: ok };
      if (!ok) health.reason = face.closing.aborted ? "shutting down" : `store ${storeState}`;
      // Anyone may ask whether the god is up; what runs it (runtime version, store, its
      // name and address) is told only with the viewer token (docs/SECURITY.md).
      if (await viewerAsks(face, request, url)) {
        Object.assign(health, {
          name: server.name,
          runtime: server.runtime,
          uptimeMs: server.uptimeMs,
          store: server.store,
        });
      }
      return json(health, ok ? 200 : 503);
    }),
  });
  endpoint(pages, face, "/metrics", {
    GET: {
      access: face.openMetrics ? "open" : "viewer",
      action: "read metrics",
      handle: () =>
        new Response(renderMetrics(face.ops.snapshot()), {
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
        }),
    },
  });
  return pages;
}
