/**
 * taskwire: a distributed producer/consumer task queue for Node and Deno.
 *
 * A god hosts named queues behind a shared key; producers put jobs, consumers
 * take them under a lease and ack them.
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
export { serve } from "./lib/server/server.ts";
export { consumeLocally, LocalJob } from "./lib/server/local_consumer.ts";
export type { LocalConsumer } from "./lib/server/local_consumer.ts";
export { Client, connect, isTransient } from "./lib/client/client.ts";
export { Consumer, Job, Queue } from "./lib/client/queue.ts";
export {
  AuthError,
  ConnectionLostError,
  ErrorCode,
  ProtocolError,
  RemoteError,
  TaskwireError,
} from "./lib/protocol/errors.ts";
export { generateAuthKey } from "./lib/protocol/handshake.ts";
export { decodeValue, encodeValue } from "./lib/protocol/codec.ts";
export { formatAddress, parseAddress } from "./lib/util/address.ts";
export { MemoryStore } from "./lib/store/store.ts";
export { openJournal, StoreError } from "./lib/store/open.ts";
export { connectHttp, HttpClient, HttpConsumer, HttpJob, HttpQueue } from "./lib/http/client.ts";
export { serveHttp } from "./lib/http/serve.ts";

export type { ClientEvent, ConnectOptions, ListedJob } from "./lib/client/client.ts";
export type { PutOptions } from "./lib/client/queue.ts";
export type { ConnectionInfo, God, GodStats, ServeOptions } from "./lib/server/server.ts";
export type { QueueOptions, QueueStats } from "./lib/queue/types.ts";
export type { Store, StoreSource, StoreStats } from "./lib/store/store.ts";
export type { FsyncPolicy, JournalStore, OpenJournalOptions, Recovered } from "./lib/store/open.ts";
export type { Address, Dialer, Listener, Transport } from "./lib/transport/transport.ts";
export type {
  HttpConnectOptions,
  WorkerClient,
  WorkerJob,
  WorkerQueue,
} from "./lib/http/client.ts";
export type { HttpFace, ServeHttpOptions } from "./lib/http/serve.ts";
