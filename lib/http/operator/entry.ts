/**
 * What the dashboard page runs to act as an operator: the library's own HTTP
 * client (lib/client/connect_http.ts), so the page signs its requests with
 * the very code every other HTTP client uses (lib/http/sign.ts, WebCrypto):
 * a change to the signature scheme reaches the page when the bundle is
 * rebuilt (`npm run build:operator`; test/operator_bundle_test.ts fails until
 * it is). The key stays in the page's memory: it is imported as a
 * non-extractable CryptoKey and never stored or sent.
 *
 * Bundled for the browser into lib/http/operator/bundle.ts, which defines
 * `taskwireOperator` on the page.
 */
import { connectHttp } from "../../client/connect_http.ts";
import type { Client } from "../../client/api.ts";

/** What the page gets: a client over the god's HTTP face, signed with the key given. */
export interface OperatorApi {
  connect(key: string): Promise<Client>;
}

const api: OperatorApi = {
  connect: (key) =>
    connectHttp({
      addr: (globalThis as unknown as { location: { origin: string } }).location.origin,
      authkey: key,
      role: "operator",
      name: "dashboard",
    }),
};

(globalThis as unknown as { taskwireOperator: OperatorApi }).taskwireOperator = api;
