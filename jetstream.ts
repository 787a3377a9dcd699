/**
 * taskwire on NATS JetStream: the queues of one or more gods kept in
 * JetStream streams instead of the embedded journal (what `god --store
 * nats://…` uses). Needs the NATS client packages (dependencies of the npm
 * package; `npm:` imports on JSR) and loads nothing of them until imported.
 *
 * @example
 * ```ts
 * import { serve } from "taskwire";
 * import { openJetStream } from "taskwire/jetstream";
 * const backend = await openJetStream("nats://127.0.0.1:4222", { replicas: 1 });
 * const god = await serve({ listen: "127.0.0.1:5678", authkey: "secret", backend });
 * ```
 *
 * @module
 */
// The one place that names the backend's folder: when it moves, only these lines change.
export { openJetStream, parseNatsUrls } from "./lib/jetstream/open.ts";
export { JetStreamBackend, LIMITATIONS } from "./lib/jetstream/backend.ts";

export type { OpenJetStreamOptions } from "./lib/jetstream/open.ts";
export type { JetStreamBackendOptions } from "./lib/jetstream/backend.ts";
