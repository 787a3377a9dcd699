/**
 * beanstalkd through jackd, a maintained promise-based client: a put is a
 * `put` on a connection that `use`s the tube, pipelined (a batch is written at
 * once and its INSERTED replies come back in order); a consumer `reserve`s
 * from the tube it `watch`es, puts the result, then `delete`s the job.
 *
 * beanstalkd waits for a job per connection (a `reserve` blocks the commands
 * behind it), and only the connection that reserved a job may delete it, so
 * holding `window` jobs takes `window` connections, each in the classic
 * worker loop. Each loop sends its `delete` and the next `reserve` together
 * (one round trip per job). jackd's reply parser assumes a job's body ends the
 * data read, so a `reserve` is only ever the last command outstanding on its
 * connection.
 */
import * as jackd from "jackd";
import type { JackdClient } from "jackd";
import {
  type ClientOptions,
  type ConsumeOptions,
  fatal,
  type PeerClient,
} from "../client.ts";

// jackd's CommonJS entry ends by replacing module.exports with its class, so
// Node's ESM namespace has the class as `default` only; its types declare the
// named export.
const Jackd: typeof jackd.JackdClient = jackd.JackdClient ??
  (jackd.default as unknown as typeof jackd.JackdClient);

/** Seconds a reserved job may stay in hand before beanstalkd hands it out again (taskwire's lease). */
const TTR = 30;

/** Opens connections as needed: one per tube put to, one per job in hand. */
export function open(options: ClientOptions): Promise<PeerClient> {
  const url = new URL(options.url);
  const connections: JackdClient[] = [];
  let closed = false;
  const connect = async (): Promise<JackdClient> => {
    const client = new Jackd();
    await client.connect({ host: url.hostname, port: Number(url.port) });
    client.socket.setNoDelay(true);
    client.socket.on("error", (error: Error) => {
      if (!closed) fatal("beanstalkd connection", error);
    });
    connections.push(client);
    return client;
  };
  const putters = new Map<string, Promise<JackdClient>>();
  const putter = (tube: string): Promise<JackdClient> => {
    let p = putters.get(tube);
    if (!p) {
      p = connect().then(async (client) => {
        await client.use(tube);
        return client;
      });
      putters.set(tube, p);
    }
    return p;
  };
  /** The next job of the watched tube; a 1 s timeout lets the loop see a close. */
  const reserve = async (client: JackdClient) => {
    while (!closed) {
      try {
        return await client.reserveWithTimeout(1);
      } catch (error) {
        if (!String((error as Error).message).startsWith("TIMED_OUT")) {
          throw error;
        }
      }
    }
    return null;
  };
  const workLoop = async (
    client: JackdClient,
    handle: (body: string) => string | null,
    results: JackdClient | null,
  ): Promise<void> => {
    let job = await reserve(client);
    while (job !== null && !closed) {
      const result = handle(job.payload.toString());
      if (result !== null && results) await results.put(result, { ttr: TTR });
      const deleted = client.delete(job.id);
      const next = reserve(client);
      await deleted;
      job = await next;
    }
  };

  return Promise.resolve({
    async put(tube: string, bodies: readonly string[]) {
      const client = await putter(tube);
      await Promise.all(bodies.map((body) => client.put(body, { ttr: TTR })));
    },
    async consume(
      tube: string,
      consumeOptions: ConsumeOptions,
      handle: (body: string) => string | null,
    ) {
      const results = consumeOptions.resultsTo
        ? await putter(consumeOptions.resultsTo)
        : null;
      await Promise.all(
        Array.from({ length: consumeOptions.window }, async () => {
          const client = await connect();
          await client.watch(tube);
          await client.ignore("default");
          workLoop(client, handle, results).catch((error) => {
            if (!closed) fatal(`taking jobs from ${tube}`, error);
          });
        }),
      );
    },
    close() {
      closed = true;
      for (const client of connections) client.socket.destroy();
      return Promise.resolve();
    },
  });
}
