/**
 * Schedules on JetStream: each schedule is the one message of its subject in
 * the stream `<prefix>__SCHEDULES` (at most one message per subject), so
 * every god reads the same ones, with the last slot put. Every god runs the
 * scheduler ({@link ScheduleBook}, the same rules as the embedded broker) and
 * puts each slot with the `Nats-Msg-Id` `schedule:NAME:SLOT`: the queue
 * stream's duplicate window keeps one job per slot however many gods put it.
 */
import { DiscardPolicy, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import type { Schedule } from "../queue/types.ts";
import { ENCODER, isNotFound, type JsLink } from "./link.ts";
import { encodeQueueName } from "./names.ts";

const decoder = new TextDecoder();

/** The schedules stream of one god's prefix: load, save, remove. */
export class JsSchedules {
  readonly #link: JsLink;
  readonly stream: string;
  readonly #subjects: string;
  #ensured: Promise<void> | null = null;

  constructor(link: JsLink) {
    this.#link = link;
    this.stream = `${link.prefix}__SCHEDULES`;
    this.#subjects = `${link.prefix.toLowerCase()}.schedule`;
  }

  #subject(name: string): string {
    return `${this.#subjects}.${encodeQueueName(name)}`;
  }

  /** Creates the stream when it is missing. */
  ensure(): Promise<void> {
    this.#ensured ??= (async () => {
      const jsm = this.#link.jsm;
      try {
        await jsm.streams.info(this.stream);
      } catch (error) {
        if (!isNotFound(error)) throw error;
        await jsm.streams.add({
          name: this.stream,
          subjects: [`${this.#subjects}.>`],
          retention: RetentionPolicy.Limits,
          storage: StorageType.File,
          num_replicas: this.#link.replicas,
          max_msgs_per_subject: 1,
          discard: DiscardPolicy.Old,
          description: "taskwire schedules",
        });
      }
    })();
    this.#ensured.catch(() => this.#ensured = null);
    return this.#ensured;
  }

  /** Every schedule stored, with its last slot. */
  async load(): Promise<Schedule[]> {
    await this.ensure();
    const jsm = this.#link.jsm;
    const info = await jsm.streams.info(this.stream, { subjects_filter: ">" });
    const subjects = Object.keys(
      (info.state as { subjects?: Record<string, number> }).subjects ?? {},
    );
    const out: Schedule[] = [];
    for (const subject of subjects) {
      try {
        const msg = await jsm.streams.getMessage(this.stream, { last_by_subj: subject });
        if (msg === null) continue;
        out.push(JSON.parse(decoder.decode(msg.data)) as Schedule);
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    return out;
  }

  /** Stores (or replaces) a schedule, its last slot included. */
  async save(schedule: Schedule): Promise<void> {
    await this.ensure();
    await this.#link.publish(
      this.#subject(schedule.name),
      ENCODER.encode(JSON.stringify(schedule)),
    );
  }

  /** Removes a schedule. */
  async remove(name: string): Promise<void> {
    await this.ensure();
    await this.#link.jsm.streams.purge(this.stream, { filter: this.#subject(name) });
  }
}
