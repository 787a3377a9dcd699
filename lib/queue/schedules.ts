/**
 * Schedules, with no I/O: which slots of which schedules are due at `now`,
 * and when the next one is. A slot is an instant (epoch ms) of a cron
 * expression in a time zone (parsed by croner) or of a fixed interval. The
 * broker asks {@link ScheduleBook.due} on each tick and puts one job per slot
 * it gets back, with the id `schedule:NAME:SLOT`.
 *
 * Missed slots: a god that was down (or stalled) finds several slots due at
 * once. Without `catchUp` only the latest is put (and after a restart none
 * that fell in the downtime); with it, every missed slot, at most
 * {@link MAX_CATCH_UP} per tick.
 */
import { Cron } from "croner";
import { ErrorCode, RemoteError } from "../protocol/errors.ts";
import { MAX_CATCH_UP, type Schedule } from "./types.ts";
import { QUEUE_NAME } from "./options.ts";
import type { ScheduleInfo } from "../protocol/replies.ts";

/** Shortest and longest interval of an `every` schedule (1 s, 31 days). */
export const MIN_EVERY_MS = 1000;
export const MAX_EVERY_MS = 31 * 24 * 3600_000;

/** A schedule as a client sends it (before it is checked): the fields of {@link Schedule} a client sets. */
export interface ScheduleRequest {
  name: string;
  queue: string;
  cron: string | null;
  timezone: string | null;
  everyMs: number | null;
  payload: string;
  priority: number;
  catchUp: boolean;
}

function bad(message: string): RemoteError {
  return new RemoteError(ErrorCode.BadArgument, message);
}

/** The id of the job a schedule puts for `slot`. */
export function scheduledJobId(name: string, slot: number): string {
  return `schedule:${name}:${slot}`;
}

const crons = new Map<string, Cron>();

/** The parsed cron of an expression and zone (cached: a god has few schedules). */
function cronOf(pattern: string, timezone: string | null): Cron {
  const key = `${timezone ?? ""}\n${pattern}`;
  let cron = crons.get(key);
  if (cron === undefined) {
    cron = new Cron(pattern, { timezone: timezone ?? "UTC", paused: true });
    if (crons.size > 1000) crons.clear();
    crons.set(key, cron);
  }
  return cron;
}

/**
 * Checks what a client asked for; throws `bad_argument` naming the field.
 *
 * @example
 * ```ts
 * checkScheduleRequest({ name: "report", queue: "tasks", cron: "0 9 * * 1-5",
 *   timezone: "Europe/Paris", everyMs: null, payload: '{"json":1}', priority: 0, catchUp: false });
 * ```
 */
export function checkScheduleRequest(r: ScheduleRequest): ScheduleRequest {
  if (typeof r.name !== "string" || !QUEUE_NAME.test(r.name)) {
    throw bad(
      `Invalid schedule name ${
        JSON.stringify(r.name)?.slice(0, 80)
      }: use 1-200 of A-Z a-z 0-9 _ . : -`,
    );
  }
  if (typeof r.queue !== "string" || !QUEUE_NAME.test(r.queue)) {
    throw bad(`Invalid queue for schedule "${r.name}": ${JSON.stringify(r.queue)?.slice(0, 80)}`);
  }
  if ((r.cron === null) === (r.everyMs === null)) {
    throw bad(`Invalid schedule "${r.name}": give either a cron expression or an interval (every)`);
  }
  if (r.cron !== null) {
    if (typeof r.cron !== "string" || r.cron.length > 200) {
      throw bad(`Invalid cron for schedule "${r.name}": expected a string of up to 200 characters`);
    }
    if (r.timezone !== null) {
      try {
        if (typeof r.timezone !== "string") throw bad("not a string");
        new Intl.DateTimeFormat("en-US", { timeZone: r.timezone });
      } catch {
        throw bad(
          `Invalid time zone for schedule "${r.name}": ${
            JSON.stringify(r.timezone)?.slice(0, 80)
          } (use an IANA name such as "Europe/Paris" or "UTC")`,
        );
      }
    }
    try {
      cronOf(r.cron, r.timezone);
    } catch (error) {
      throw bad(
        `Invalid cron ${JSON.stringify(r.cron)} for schedule "${r.name}": ${
          (error as Error).message
        } (five fields: minute hour day-of-month month day-of-week, e.g. "*/5 * * * *")`,
      );
    }
  } else {
    if (r.timezone !== null) {
      throw bad(`Invalid schedule "${r.name}": a time zone goes with a cron, not an interval`);
    }
    const every = r.everyMs;
    if (
      typeof every !== "number" || !Number.isSafeInteger(every) || every < MIN_EVERY_MS ||
      every > MAX_EVERY_MS
    ) {
      throw bad(
        `Invalid interval for schedule "${r.name}": ${
          JSON.stringify(every)
        } (expected milliseconds from ${MIN_EVERY_MS} to ${MAX_EVERY_MS})`,
      );
    }
  }
  if (!Number.isSafeInteger(r.priority)) {
    throw bad(`Invalid priority for schedule "${r.name}": ${JSON.stringify(r.priority)}`);
  }
  if (typeof r.catchUp !== "boolean") {
    throw bad(`Invalid catchUp for schedule "${r.name}": expected true or false`);
  }
  return r;
}

/** The first slot of `schedule` strictly after `after` (epoch ms), or null when there is none. */
export function nextSlot(schedule: Schedule, after: number): number | null {
  if (schedule.everyMs !== null) {
    const every = schedule.everyMs;
    const k = Math.floor((after - schedule.anchor) / every) + 1;
    return schedule.anchor + Math.max(k, 1) * every;
  }
  const next = cronOf(schedule.cron!, schedule.timezone).nextRun(new Date(after));
  return next === null ? null : next.getTime();
}

/** The listing form of a schedule. */
export function scheduleInfo(schedule: Schedule, next: number | null): ScheduleInfo {
  return {
    name: schedule.name,
    queue: schedule.queue,
    cron: schedule.cron,
    timezone: schedule.timezone,
    everyMs: schedule.everyMs,
    priority: schedule.priority,
    catchUp: schedule.catchUp,
    last: schedule.last === 0 ? null : schedule.last,
    next,
  };
}

/**
 * The schedules of one god and their next slots.
 *
 * @example
 * ```ts
 * const book = new ScheduleBook();
 * book.add({ ...request, anchor: now, last: 0 }, now);
 * for (const { schedule, slot } of book.due(later)) console.log(schedule.name, slot);
 * ```
 */
export class ScheduleBook {
  readonly #schedules = new Map<string, Schedule>();
  readonly #next = new Map<string, number | null>();

  get size(): number {
    return this.#schedules.size;
  }

  get(name: string): Schedule | undefined {
    return this.#schedules.get(name);
  }

  /** Every schedule (for a snapshot). */
  all(): Schedule[] {
    return [...this.#schedules.values()];
  }

  /** Adds or replaces a schedule; its first slot is the next one after `now`. */
  add(schedule: Schedule, now: number): void {
    this.#schedules.set(schedule.name, schedule);
    this.#next.set(schedule.name, nextSlot(schedule, Math.max(now, schedule.last)));
  }

  remove(name: string): boolean {
    this.#next.delete(name);
    return this.#schedules.delete(name);
  }

  /**
   * Loads schedules read back after a restart at `now`: slots missed while
   * the god was down are due at once for those with `catchUp`, skipped for
   * the others.
   */
  restore(schedules: Iterable<Schedule>, now: number): void {
    for (const schedule of schedules) {
      this.#schedules.set(schedule.name, schedule);
      const from = schedule.catchUp
        ? (schedule.last === 0 ? schedule.anchor : schedule.last)
        : Math.max(now, schedule.last);
      this.#next.set(schedule.name, nextSlot(schedule, from));
    }
  }

  /** The listing, in name order. */
  list(): ScheduleInfo[] {
    return [...this.#schedules.values()]
      .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
      .map((s) => scheduleInfo(s, this.#next.get(s.name) ?? null));
  }

  /** Earliest slot of any schedule, or Infinity. */
  nextDeadline(): number {
    let next = Infinity;
    for (const slot of this.#next.values()) if (slot !== null && slot < next) next = slot;
    return next;
  }

  /**
   * The slots due at `now`, in time order per schedule; each schedule's
   * `last` moves to the latest slot returned. Without `catchUp` a schedule
   * returns only its latest due slot.
   */
  due(now: number): { schedule: Schedule; slot: number }[] {
    const out: { schedule: Schedule; slot: number }[] = [];
    for (const [name, first] of this.#next) {
      if (first === null || first > now) continue;
      const schedule = this.#schedules.get(name)!;
      const slots: number[] = [];
      let slot: number | null = first;
      while (slot !== null && slot <= now && slots.length < MAX_CATCH_UP) {
        slots.push(slot);
        slot = nextSlot(schedule, slot);
      }
      const fire = schedule.catchUp ? slots : slots.slice(-1);
      schedule.last = slots[slots.length - 1];
      // Without catch-up, slots skipped past `now` by the cap are skipped too.
      this.#next.set(
        name,
        schedule.catchUp ? slot : nextSlot(schedule, Math.max(now, schedule.last)),
      );
      for (const s of fire) out.push({ schedule, slot: s });
    }
    return out;
  }
}
