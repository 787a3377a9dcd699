/**
 * CORS origins for the HTTP face (`--http-cors`): checked here, without
 * loading Hono, so the god role can refuse a bad one before it starts.
 */
import { ArgumentError } from "../protocol/errors.ts";

/** Checks CORS origins: "*" or `scheme://host[:port]`, as browsers send them. */
export function checkCorsOrigins(origins: readonly string[]): string[] {
  return origins.map((origin) => {
    if (origin === "*") return origin;
    let url: URL | null = null;
    try {
      url = new URL(origin);
    } catch {
      url = null;
    }
    if (url === null || url.origin !== origin || url.origin === "null") {
      throw new ArgumentError(
        `Invalid CORS origin ${
          JSON.stringify(origin)
        }: give an origin as a browser sends it, like https://app.example or http://localhost:3000 (no path, no trailing slash), or *`,
      );
    }
    return origin;
  });
}
