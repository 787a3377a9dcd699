/**
 * Provisioning: the queues this god knows, and the streams and durable
 * consumers behind them. Checks or creates each queue's stream (work-queue
 * retention, discard-new at `maxsize`, a dedupe window) and its shared pull
 * consumer (explicit acks, ack wait = lease), the delay stream, and learns the
 * queues other gods created from their stream descriptions. A stream with
 * settings taskwire cannot use is refused with a message naming the setting.
 */
import {
  AckPolicy,
  type ConsumerInfo,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import { ErrorCode, RemoteError, TaskwireError } from "../protocol/errors.ts";
import { defaultQueueOptions, resolveQueueOptions } from "../queue/options.ts";
import type { QueueOptions } from "../queue/types.ts";
import { ackWaitMs } from "./leases.ts";
import { errorText, isNotFound, type JsLink, NS } from "./link.ts";
import { CONSUMER, delayNames, describeQueue, parseDescription, queueNames } from "./names.ts";
import { JsQueue } from "./queue.ts";

/** How long the delay mover holds a delayed job it pulled (it naks or moves it at once). */
const DELAY_LEASE_MS = 30_000;

/** The queues of one god, each with its stream and consumer made sure of. */
export class Queues {
  readonly #link: JsLink;
  readonly #allowCreate: boolean;
  readonly #byName = new Map<string, JsQueue>();
  /** Names of the delay stream, its subjects and each queue's delay subject. */
  readonly delay: ReturnType<typeof delayNames>;

  constructor(link: JsLink, allowCreate: boolean) {
    this.#link = link;
    this.#allowCreate = allowCreate;
    this.delay = delayNames(link.prefix);
  }

  get names(): string[] {
    return [...this.#byName.keys()];
  }

  all(): JsQueue[] {
    return [...this.#byName.values()];
  }

  /** Every queue, without a copy (do not declare while iterating). */
  each(): IterableIterator<JsQueue> {
    return this.#byName.values();
  }

  /** The queue whose stream is `stream`, if this god knows it. */
  byStream(stream: string): JsQueue | undefined {
    for (const queue of this.#byName.values()) if (queue.stream === stream) return queue;
    return undefined;
  }

  /** Told when a queue's options changed (here or, seen at a refresh, by another god). */
  changed: (queue: JsQueue) => void = () => {};

  /** Creates a queue or changes its options; settles once its stream and consumer are right. */
  async declare(name: string, options: Partial<QueueOptions> = {}): Promise<QueueOptions> {
    const existing = this.#byName.get(name);
    if (existing?.ensured) await existing.ensured.catch(() => {});
    const merged = resolveQueueOptions(name, this.#byName.get(name)?.options, options);
    let queue = this.#byName.get(name);
    if (queue === undefined) {
      queue = new JsQueue(name, this.#link.prefix, merged);
      this.#byName.set(name, queue);
    }
    queue.options = merged;
    const q = queue;
    q.ensured = this.#ensureQueue(q, true);
    q.ensured.catch(() => q.ensured = null);
    await q.ensured;
    this.changed(q);
    return merged;
  }

  /** The queue named `name`, creating it (in the background) when allowed. */
  get(name: string, create = this.#allowCreate): JsQueue {
    const queue = this.#byName.get(name);
    if (queue) {
      if (queue.ensured === null) {
        queue.ensured = this.#ensureQueue(queue, false);
        queue.ensured.catch(() => queue.ensured = null);
      }
      return queue;
    }
    if (!create) throw new RemoteError(ErrorCode.UnknownQueue, `Unknown queue "${name}"`);
    const options = resolveQueueOptions(name, undefined, {});
    const created = new JsQueue(name, this.#link.prefix, options);
    this.#byName.set(name, created);
    created.ensured = this.#ensureQueue(created, true);
    created.ensured.catch(() => created.ensured = null);
    return created;
  }

  /** The dead-letter queue of `queue`; `bad_argument` when it has none. */
  deadQueue(queue: JsQueue): JsQueue {
    if (queue.options.deadLetter === null) {
      throw new RemoteError(
        ErrorCode.BadArgument,
        `Queue "${queue.name}" has no dead-letter queue`,
      );
    }
    return this.get(queue.options.deadLetter, true);
  }

  /** Waits until the queue's stream and consumer are set up; the failure as a RemoteError. */
  async ready(queue: JsQueue, action: string): Promise<void> {
    try {
      if (queue.ensured === null) this.get(queue.name);
      await queue.ensured;
    } catch (error) {
      throw this.#link.remote(error, action, queue.name);
    }
  }

  /** Runs `then` once the queue is set up, or `fail` if it cannot be. */
  whenEnsured(queue: JsQueue, then: () => void, fail: (error: unknown) => void): void {
    if (queue.ensured === null) {
      fail(this.#link.unavailable("the queue's stream could not be set up", queue.name));
      return;
    }
    queue.ensured.then(then, fail);
  }

  /** Stream info, or null when the stream does not exist. */
  async streamInfo(stream: string): Promise<StreamInfo | null> {
    try {
      return await this.#link.jsm.streams.info(stream);
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  /** Learns the queues other gods created (from stream descriptions). */
  async loadExisting(): Promise<void> {
    const prefix = this.#link.prefix;
    const lister = this.#link.jsm.streams.list();
    for await (const info of lister) {
      const parsed = parseDescription(info.config.description);
      if (parsed === null || !info.config.name.startsWith(`${prefix}_`)) continue;
      if (info.config.name !== queueNames(prefix, parsed.name).stream) continue;
      const known = this.#byName.get(parsed.name);
      if (known) {
        if (known.ensured === null) known.options = parsed.options;
        else if (known.options.paused !== parsed.options.paused) {
          // Paused or resumed by another god.
          known.options = { ...known.options, paused: parsed.options.paused };
          this.changed(known);
        }
        continue;
      }
      this.#byName.set(parsed.name, new JsQueue(parsed.name, prefix, parsed.options));
    }
  }

  /** Checks or creates the stream of delayed jobs and its consumer. */
  async ensureDelayStream(): Promise<void> {
    const { stream, subjects } = this.delay;
    await this.#ensureStream(stream, "(delayed jobs)", {
      name: stream,
      subjects: [subjects],
      retention: RetentionPolicy.Workqueue,
      discard: DiscardPolicy.Old,
      max_msgs: -1,
      duplicate_window: this.#link.dedupeWindowMs * NS,
      num_replicas: this.#link.replicas,
      storage: StorageType.File,
      description: "taskwire delayed jobs",
    });
    await this.#ensureConsumer(stream, "(delayed jobs)", DELAY_LEASE_MS);
  }

  async #ensureQueue(queue: JsQueue, write: boolean): Promise<void> {
    const config: Partial<StreamConfig> & { name: string } = {
      name: queue.stream,
      subjects: [queue.subject],
      retention: RetentionPolicy.Workqueue,
      discard: DiscardPolicy.New,
      max_msgs: queue.options.maxsize === 0 ? -1 : queue.options.maxsize,
      duplicate_window: this.#link.dedupeWindowMs * NS,
      num_replicas: this.#link.replicas,
      storage: StorageType.File,
      description: describeQueue(queue.name, queue.options),
    };
    await this.#ensureStream(queue.stream, `"${queue.name}"`, config, write);
    await this.#ensureConsumer(queue.stream, `"${queue.name}"`, queue.options.leaseMs);
    // The dead-letter queue exists from the start, so dead-lettering never has
    // to create a stream (which a cluster missing a node may refuse).
    const dead = queue.options.deadLetter;
    if (dead !== null && !this.#byName.has(dead)) {
      const dlq = new JsQueue(dead, this.#link.prefix, defaultQueueOptions(dead));
      this.#byName.set(dead, dlq);
      dlq.ensured = this.#ensureQueue(dlq, false);
      dlq.ensured.catch(() => dlq.ensured = null);
      await dlq.ensured;
    }
  }

  async #ensureStream(
    stream: string,
    what: string,
    wanted: Partial<StreamConfig> & { name: string },
    write = true,
  ): Promise<void> {
    const info = await this.streamInfo(stream);
    if (info === null) {
      try {
        await this.#link.jsm.streams.add(wanted);
        return;
      } catch (error) {
        // Another god created it just now: check that one instead. (A server
        // that is still adding it may say its subjects overlap instead; a
        // stream of another name with those subjects fails the second try.)
        if (!/already in use|subjects overlap/i.test(errorText(error)) || !write) throw error;
        return await this.#ensureStream(stream, what, wanted, false);
      }
    }
    const have = info.config;
    const refuse = (setting: string, value: unknown, need: unknown) =>
      new TaskwireError(
        ErrorCode.BadArgument,
        `Cannot use NATS stream "${stream}" for queue ${what}: its ${setting} is ${
          JSON.stringify(value)
        } but taskwire needs ${JSON.stringify(need)}. ` +
          `Delete the stream (nats stream rm ${stream}) if its jobs are not needed, or give the god another stream prefix`,
      );
    if (have.retention !== RetentionPolicy.Workqueue) {
      throw refuse("retention", have.retention, RetentionPolicy.Workqueue);
    }
    if (!(have.subjects ?? []).includes(wanted.subjects![0])) {
      throw refuse("subjects", have.subjects, wanted.subjects);
    }
    if (have.storage !== wanted.storage) throw refuse("storage", have.storage, wanted.storage);
    if (have.sealed || have.deny_delete) {
      throw refuse(have.sealed ? "sealed" : "deny_delete", true, false);
    }
    const changed =
      (["discard", "duplicate_window", "num_replicas"] as const).some((k) =>
        have[k] !== wanted[k]
      ) ||
      (write && (have.max_msgs !== wanted.max_msgs || have.description !== wanted.description));
    if (changed) {
      const update = { ...have, ...wanted };
      if (!write) {
        update.max_msgs = have.max_msgs;
        update.description = have.description;
      }
      try {
        await this.#link.jsm.streams.update(stream, update);
      } catch (error) {
        const setting = have.num_replicas !== wanted.num_replicas ? "num_replicas" : "settings";
        throw new TaskwireError(
          ErrorCode.BadArgument,
          `Cannot update NATS stream "${stream}" for queue ${what}: changing its ${setting} (${
            JSON.stringify(have[setting === "num_replicas" ? "num_replicas" : "discard"])
          } → ${
            JSON.stringify(wanted[setting === "num_replicas" ? "num_replicas" : "discard"])
          }) failed: ${errorText(error)}`,
          { cause: error },
        );
      }
    }
  }

  async #ensureConsumer(stream: string, what: string, leaseMs: number): Promise<void> {
    const jsm = this.#link.jsm;
    let info: ConsumerInfo | null = null;
    try {
      info = await jsm.consumers.info(stream, CONSUMER);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    const wanted = {
      durable_name: CONSUMER,
      ack_policy: AckPolicy.Explicit,
      ack_wait: ackWaitMs(leaseMs) * NS,
      max_deliver: -1,
      max_ack_pending: -1,
      max_waiting: 4096,
    };
    if (info === null) {
      try {
        await jsm.consumers.add(stream, wanted);
        return;
      } catch (error) {
        // Another god created it just now: use that one.
        if (!/already in use|already exists/i.test(errorText(error))) throw error;
        info = await jsm.consumers.info(stream, CONSUMER);
      }
    }
    const have = info.config;
    const refuse = (setting: string, value: unknown, need: unknown) =>
      new TaskwireError(
        ErrorCode.BadArgument,
        `Cannot use consumer "${CONSUMER}" of NATS stream "${stream}" for queue ${what}: its ${setting} is ${
          JSON.stringify(value)
        } but taskwire needs ${JSON.stringify(need)}. ` +
          `Delete the consumer (nats consumer rm ${stream} ${CONSUMER}); the jobs stay in the stream`,
      );
    if (have.ack_policy !== AckPolicy.Explicit) {
      throw refuse("ack_policy", have.ack_policy, AckPolicy.Explicit);
    }
    if (have.deliver_subject) throw refuse("deliver_subject (push)", have.deliver_subject, null);
    if (have.filter_subject) throw refuse("filter_subject", have.filter_subject, null);
    if (have.ack_wait !== wanted.ack_wait || have.max_deliver !== -1) {
      await jsm.consumers.update(stream, CONSUMER, {
        ack_wait: wanted.ack_wait,
        max_deliver: -1,
      });
    }
  }
}
