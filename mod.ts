/**
 * taskwire: a distributed producer/consumer task queue for Node and Deno.
 *
 * A god hosts named queues behind a shared key; producers put jobs, consumers
 * take them under a lease and ack them. `connect()` reaches a god by TCP
 * ("host:port"), TLS ("tls://host:port") or its HTTP face ("http(s)://…"),
 * with the same client surface for all three.
 *
 * @example
 * ```ts
 * import { connect, serve } from "taskwire";
 * const god = await serve({ listen: "127.0.0.1:5678", authkey: "secret" });
 * const client = await connect({ addr: "127.0.0.1:5678", authkey: "secret" });
 * const tasks = client.queue<number>("tasks");
 * await tasks.put(12);
 * const job = await tasks.get({ timeout: 1000 });
 * console.log(job?.value); // 12
 * await job?.ack();
 * await client.close();
 * await god.close();
 * ```
 *
 * @module
 */
export { connect } from "./lib/client/connect.ts";
export { serve } from "./lib/server/server.ts";
export { consumeLocally, LocalJob } from "./lib/server/local_consumer.ts";
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
export { describeScope, generateAuthKey, keyWarnings, makeWorkerKey } from "./lib/protocol/keys.ts";
export { decodeValue, encodeValue } from "./lib/protocol/codec.ts";
export { formatAddress, parseAddress } from "./lib/util/address.ts";
export { MemoryStore } from "./lib/store/store.ts";
export { openJournal, StoreError } from "./lib/store/open.ts";
export { serveHttp } from "./lib/http/serve.ts";

export type {
  BackoffOptions,
  Client,
  ClientEvent,
  Consumer,
  Job,
  ListedJob,
  PutOptions,
  Queue,
  ScheduleOptions,
} from "./lib/client/api.ts";
export type { ConnectOptions } from "./lib/client/connect.ts";
export type { God, ServeOptions } from "./lib/server/server.ts";
export type { LocalConsumer } from "./lib/server/local_consumer.ts";
export type { Caller, CallerInfo } from "./lib/ops/caller.ts";
export type { Operations } from "./lib/ops/operations.ts";
export type {
  AttemptInfo,
  BackendInfo,
  ConnectionInfo,
  GodStats,
  ProgressInfo,
  QueueStats,
  ScheduleInfo,
  StoreStats,
} from "./lib/protocol/replies.ts";
export type { Limits, LimitStats } from "./lib/protocol/limits.ts";
export type { WorkerScope } from "./lib/protocol/keys.ts";
export type { Backoff, QueueOptions, RateLimit } from "./lib/queue/types.ts";
export type { Store, StoreSource } from "./lib/store/store.ts";
export type { FsyncPolicy, JournalStore, OpenJournalOptions, Recovered } from "./lib/store/open.ts";
export type { Address, Dialer, Listener, Transport } from "./lib/transport/transport.ts";
export type { HttpFace, ServeHttpOptions } from "./lib/http/serve.ts";
