/**
 * Admin and stats on the JetStream store: the stats snapshot (cluster-wide
 * ready / in flight / dead / delayed from stream and consumer info, this god's
 * own totals and rates), peek, purge, and the dead-letter list and requeue
 * (stored jobs read with scan.ts).
 */
import { headers } from "@nats-io/transport-node";
import type { Job, QueueStats } from "../queue/types.ts";
import { isNotFound, type JsLink } from "./link.ts";
import { CONSUMER, Header, queueNames } from "./names.ts";
import type { Queues } from "./provision.ts";
import { scanStream } from "./scan.ts";

/** Dead letters requeued at once (each a publish, then a delete). */
const REQUEUE_CHUNK = 64;

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
      paused: queue.options.paused,
      rateLimit: queue.options.rateLimit,
      throttled: false,
      // This god's leases only: a lease lives on the god that handed it out.
      progress: [...queue.reporting].map((lease) => ({
        id: lease.job.id,
        tag: lease.tag,
        by: lease.owner.label,
        value: lease.progress!,
        at: lease.progressAt!,
      })).sort((a, b) => b.at - a.at).slice(0, 10),
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
      return await scanStream(this.#link, queue.stream, queue.subject, { from, limit });
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
      if (dlq.ensured) await dlq.ensured.catch(() => {});
      return await scanStream(this.#link, dlq.stream, dlq.subject, {
        from: 1,
        limit,
        keep: (job) => job.origin === queueName,
      });
    } catch (error) {
      throw this.#link.remote(error, "list dead letters of", queue.name);
    }
  }

  /** Deletes dead letters of `queueName` (all, or those with the given ids); returns how many. */
  async deadDelete(queueName: string, ids: readonly string[] | null): Promise<number> {
    const queue = this.#queues.get(queueName, false);
    const dlq = this.#queues.deadQueue(queue);
    await this.#queues.ready(dlq, "delete dead letters of");
    const wanted = ids === null ? null : new Set(ids);
    let deleted = 0;
    try {
      const jobs = await scanStream(this.#link, dlq.stream, dlq.subject, {
        from: 1,
        limit: Infinity,
        keep: (job) => job.origin === queueName && (wanted === null || wanted.has(job.id)),
      });
      for (let i = 0; i < jobs.length; i += REQUEUE_CHUNK) {
        await Promise.all(
          jobs.slice(i, i + REQUEUE_CHUNK).map(async (job) => {
            const gone = await this.#link.jsm.streams.deleteMessage(dlq.stream, job.seq, false)
              .catch((error) => {
                if (!isNotFound(error)) throw error;
                return false;
              });
            if (gone) deleted++;
          }),
        );
      }
    } catch (error) {
      throw this.#link.remote(error, `delete dead letters (${deleted} deleted) of`, queue.name);
    }
    await this.refresh(queue.name).catch(() => {});
    return deleted;
  }

  async deadRequeue(queueName: string, ids: readonly string[] | null): Promise<number> {
    const queue = this.#queues.get(queueName, false);
    const dlq = this.#queues.deadQueue(queue);
    await this.#queues.ready(dlq, "requeue dead letters of");
    await this.#queues.ready(queue, "requeue dead letters to");
    const wanted = ids === null ? null : new Set(ids);
    const { jsm } = this.#link;
    let moved = 0;
    const requeue = async (job: Job) => {
      const h = headers();
      h.set(Header.id, job.id);
      h.set(Header.priority, String(job.priority));
      h.set(Header.msgId, `requeue-${dlq.stream}-${job.seq}`);
      await this.#link.publish(queue.subject, job.payload, { headers: h });
      await jsm.streams.deleteMessage(dlq.stream, job.seq, false).catch((error) => {
        if (!isNotFound(error)) throw error;
      });
      moved++;
    };
    try {
      const jobs = await scanStream(this.#link, dlq.stream, dlq.subject, {
        from: 1,
        limit: Infinity,
        keep: (job) => job.origin === queueName && (wanted === null || wanted.has(job.id)),
      });
      // A chunk at a time, each job's publish before its delete; the publishes of a
      // chunk leave in order on one connection, so the jobs keep their order.
      for (let i = 0; i < jobs.length; i += REQUEUE_CHUNK) {
        await Promise.all(jobs.slice(i, i + REQUEUE_CHUNK).map(requeue));
      }
    } catch (error) {
      throw this.#link.remote(error, `requeue dead letters (${moved} moved) of`, queue.name);
    }
    await this.refresh(queue.name).catch(() => {});
    return moved;
  }
}
