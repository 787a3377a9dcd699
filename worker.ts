/**
 * taskwire for workers that speak only `fetch`: edge runtimes (Cloudflare
 * Workers, Deno Deploy, Vercel Edge), Bun, browsers. The same client surface
 * as the main entry, over the god's signed HTTP face, and nothing of Node.
 *
 * @example
 * ```ts
 * import { connect } from "taskwire/worker";
 * const client = await connect({ addr: "https://god.example", authkey: env.TASKWIRE_AUTHKEY });
 * for await (const job of client.queue<number>("tasks").consume({ prefetch: 8 })) {
 *   await client.queue("results").put(job.value * job.value);
 *   await job.ack();
 * }
 * ```
 *
 * @module
 */
export { connectHttp as connect } from "./lib/client/connect_http.ts";
export {
  ArgumentError,
  AuthError,
  ConnectionLostError,
  ErrorCode,
  isTransient,
  LimitError,
  ProtocolError,
  RemoteError,
  TaskwireError,
  TimeoutError,
} from "./lib/protocol/errors.ts";
export { decodeValue, encodeValue } from "./lib/protocol/codec.ts";

export type {
  BackoffOptions,
  Client,
  Consumer,
  Job,
  ListedJob,
  PutOptions,
  Queue,
  ScheduleOptions,
} from "./lib/client/api.ts";
export type { HttpConnectOptions as ConnectOptions } from "./lib/client/connect_http.ts";
export type { ConnectionInfo, GodStats, QueueStats, ScheduleInfo } from "./lib/protocol/replies.ts";
export type { QueueOptions } from "./lib/queue/types.ts";
