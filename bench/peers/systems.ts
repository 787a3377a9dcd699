/**
 * The peers `npm run bench -- --peers` compares taskwire with: which server
 * each runs on and which Node client drives it. How each server is started is
 * in servers.ts; how each client takes and acks jobs is in clients/<name>.ts.
 */

/** The servers the peers run on (one per peer run, started by the harness). */
export type ServerKind = "beanstalkd" | "redis" | "nats" | "rabbitmq";

/** One peer: a queue as its users would drive it from Node. */
export interface PeerSystem {
  /** The server it runs on. */
  server: ServerKind;
  /** The npm package of its client (for the versions line). */
  client: string;
  /** One line for the report: what a put, a take and an ack are. */
  description: string;
}

/** Every peer, in the order of the tables. */
export const PEERS = {
  beanstalkd: {
    server: "beanstalkd",
    client: "jackd",
    description: "beanstalkd tubes (jackd): put; reserve, put the result, delete",
  },
  redis: {
    server: "redis",
    client: "ioredis",
    description:
      "Redis lists (ioredis): LPUSH; BLMOVE to a processing list, LPUSH result + LREM ack in one MULTI",
  },
  bullmq: {
    server: "redis",
    client: "bullmq",
    description: "BullMQ on Redis: addBulk; a Worker that adds the result, then completes the job",
  },
  jetstream: {
    server: "nats",
    client: "@nats-io/jetstream",
    description:
      "NATS JetStream (nats.js): work-queue streams, publish with PubAck; a durable pull consumer, ack after the result's PubAck",
  },
  rabbitmq: {
    server: "rabbitmq",
    client: "amqplib",
    description:
      "RabbitMQ classic queues (amqplib): publish with confirms; consume with prefetch, ack after the result's confirm",
  },
} as const satisfies Record<string, PeerSystem>;

/** A peer's name, as in scenario names (`redis.mem.1x2`). */
export type PeerName = keyof typeof PEERS;

/** The peers' names, in table order. */
export const PEER_NAMES: readonly PeerName[] = Object.keys(PEERS) as PeerName[];

/** Tasks in hand per consumer when the scenario does not say: the consumer role's default --concurrency. */
export const CONSUMER_WINDOW = 256;
/** Results in hand of a peer's collector: the god role's collector prefetch. */
export const COLLECTOR_WINDOW = 256;
/** Tasks in hand of a paced consumer: the prefetch of taskwire's latency consumer driver. */
export const PACED_WINDOW = 64;
