/**
 * Admin and stats on the JetStream store: the stats snapshot (cluster-wide
 * ready / in flight / dead / delayed from stream and consumer info, this god's
 * own totals and rates), peek, purge, and the dead-letter list and requeue.
 */
import { headers } from "@nats-io/transport-node";
import type { Job, QueueStats } from "../queue/types.ts";
import { isNotFound, type JsLink } from "./link.ts";
import { CONSUMER, Header, queueNames } from "./names.ts";
import type { Queues } from "./provision.ts";

/** Stats, listings and admin requests. */
export class Admin {
  readonly #link: JsLink;
  readonly #queues: Queues;
  /** Epoch ms of the last full refresh, 0 before the first. */
  lastRefresh = 0;

  constructor(link: JsLink, queues: Queues) {
    this.#link = link;
    this.#queues = queues;
  }

  stats(now: number, queueName?: string): QueueStats[] {
    const queues = queueName === undefined
      ? this.#queues.all()
      : [this.#queues.get(queueName, false)];
    return queues.map((queue) => ({
      name: queue.name,
      ready: queue.snapshot.ready,
      delayed: queue.snapshot.delayed,
      inFlight: queue.snapshot.inFlight,
      dead: queue.snapshot.dead,
      consumers: queue.subs.length,
      waitingGets: queue.waits,
      waitingPuts: queue.waitingPuts,
      maxsize: queue.options.maxsize,
      totals: { ...queue.totals },
      rates: {
        put: queue.putRate.rate(now, queue.totals.put),
        acked: queue.ackRate.rate(now, queue.totals.acked),
      },
    }));
  }

  sampleRates(now: number): void {
    for (const queue of this.#queues.all()) {
      queue.putRate.sample(now, queue.totals.put);
      queue.ackRate.sample(now, queue.totals.acked);
    }
  }

  /** Reads stream and consumer info of every queue (or one) into the stats snapshot. */
  async refresh(queueName?: string): Promise<void> {
    if (queueName === undefined) await this.#queues.loadExisting().catch(() => {});
    const queues = queueName === undefined
      ? this.#queues.all()
      : [this.#queues.get(queueName, false)];
    const { jsm, prefix } = this.#link;
    const delay = this.#queues.delay;
    let delayed: Record<string, number> = {};
    try {
      const info = await jsm.streams.info(delay.stream, { subjects_filter: delay.subjects });
      delayed = (info.state as { subjects?: Record<string, number> }).subjects ?? {};
    } catch {
      // Stats stay as they were; the next refresh tries again.
    }
    await Promise.all(queues.map(async (queue) => {
      try {
        if (queue.ensured) await queue.ensured;
        const [consumer, dead] = await Promise.all([
          jsm.consumers.info(queue.stream, CONSUMER),
          queue.options.deadLetter === null
            ? Promise.resolve(null)
            : this.#queues.streamInfo(queueNames(prefix, queue.options.deadLetter).stream),
        ]);
        queue.snapshot = {
          ready: consumer.num_pending + consumer.num_redelivered,
          inFlight: Math.max(0, consumer.num_ack_pending - consumer.num_redelivered),
          dead: dead?.state.messages ?? 0,
          delayed: delayed[delay.subject(queue.name)] ?? 0,
          at: Date.now(),
        };
      } catch {
        // Keep the last snapshot.
      }
    }));
  }

  async peek(queueName: string, limit: number): Promise<Job[]> {
    const queue = this.#queues.get(queueName, false);
    await this.#queues.ready(queue, "peek at");
    try {
      const consumer = await this.#link.jsm.consumers.info(queue.stream, CONSUMER);
      const from = consumer.delivered.stream_seq + 1;
      return await this.#scan(queue.stream, from, limit, () => true);
    } catch (error) {
      throw this.#link.remote(error, "peek at", queue.name);
    }
  }

  async purge(queueName: string): Promise<number> {
    const queue = this.#queues.get(queueName, false);
    await this.#queues.ready(queue, "purge");
    const { jsm } = this.#link;
    const delay = this.#queues.delay;
    try {
      const [main, delayed] = await Promise.all([
        jsm.streams.purge(queue.stream),
        jsm.streams.purge(delay.stream, { filter: delay.subject(queue.name) }),
      ]);
      queue.wakePuts();
      await this.refresh(queue.name);
      return main.purged + delayed.purged;
    } catch (error) {
      throw this.#link.remote(error, "purge", queue.name);
    }
  }

  async deadList(queueName: string, limit: number): Promise<Job[]> {
    const queue = this.#queues.get(queueName, false);
    const dlq = this.#queues.deadQueue(queue);
    try {
      const info = await this.#queues.streamInfo(dlq.stream);
      if (info === null) return [];
      return await this.#scan(
        dlq.stream,
        info.state.first_seq,
        limit,
        (job) => job.origin === queueName,
      );
    } catch (error) {
      throw this.#link.remote(error, "list dead letters of", queue.name);
    }
  }

  async deadRequeue(queueName: string, ids: readonly string[] | null): Promise<number> {
    const queue = this.#queues.get(queueName, false);
    const dlq = this.#queues.deadQueue(queue);
    await this.#queues.ready(dlq, "requeue dead letters of");
    await this.#queues.ready(queue, "requeue dead letters to");
    const wanted = ids === null ? null : new Set(ids);
    const { js, jsm } = this.#link;
    let moved = 0;
    try {
      const info = await jsm.streams.info(dlq.stream);
      const jobs = await this.#scan(
        dlq.stream,
        info.state.first_seq,
        Infinity,
        (job) => job.origin === queueName && (wanted === null || wanted.has(job.id)),
      );
      for (const job of jobs) {
        const h = headers();
        h.set(Header.id, job.id);
        h.set(Header.priority, String(job.priority));
        await js.publish(queue.subject, job.payload, {
          headers: h,
          msgID: `requeue-${dlq.stream}-${job.seq}`,
        });
        await jsm.streams.deleteMessage(dlq.stream, job.seq, false).catch((error) => {
          if (!isNotFound(error)) throw error;
        });
        moved++;
      }
    } catch (error) {
      throw this.#link.remote(error, `requeue dead letters (${moved} moved) of`, queue.name);
    }
    await this.refresh(queue.name).catch(() => {});
    return moved;
  }

  /** Reads up to `limit` messages of `stream` from `from` on, those `keep` accepts. */
  async #scan(
    stream: string,
    from: number,
    limit: number,
    keep: (job: Job) => boolean,
  ): Promise<Job[]> {
    const jsm = this.#link.jsm;
    const jobs: Job[] = [];
    const info = await jsm.streams.info(stream);
    if (info.state.messages === 0) return jobs;
    const last = info.state.last_seq;
    let seq = Math.max(from, info.state.first_seq, 1);
    // Bounded: never more lookups than the stream has sequence numbers.
    while (jobs.length < limit && seq <= last) {
      const stored = await jsm.streams.getMessage(stream, { seq });
      seq++;
      if (stored === null) continue;
      const h = stored.header;
      const job: Job = {
        seq: stored.seq,
        id: h?.get(Header.id) || h?.get(Header.msgId) || `js-${stored.seq}`,
        payload: stored.string(),
        priority: Number(h?.get(Header.priority) || 0),
        attempts: Number(h?.get(Header.attempts) || 0),
        readyAt: 0,
      };
      const reason = h?.get(Header.reason);
      if (reason) {
        job.reason = reason;
        job.origin = h?.get(Header.origin) || undefined;
      }
      if (keep(job)) jobs.push(job);
    }
    return jobs;
  }
}
