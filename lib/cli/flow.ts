/**
 * The admin role's flow-control commands, as far as they are more than a
 * call: parsing `--rate-limit`, `--backoff` and a schedule's options, and
 * printing schedules, jobs in flight and the attempt history of dead letters.
 */
import { parseDuration, UsageError } from "./args.ts";
import { count, duration, jsonLine, type Output, table } from "./output.ts";
import type { ListedJob, ScheduleInfo, ScheduleOptions } from "../../mod.ts";
import type { Backoff, RateLimit } from "../queue/types.ts";
import { printable } from "../util/printable.ts";

/**
 * `--rate-limit N/DUR` (e.g. `10/1s`, `600/1m`) or `off`.
 *
 * @example
 * ```ts
 * parseRateLimit("10/1s"); // { count: 10, perMs: 1000 }
 * ```
 */
export function parseRateLimit(text: string): RateLimit | null {
  if (text === "off") return null;
  const match = /^(\d+)\/(.+)$/.exec(text.trim());
  if (match === null || Number(match[1]) < 1) {
    throw new UsageError(
      `Invalid --rate-limit "${text}": expected N/DURATION such as 10/1s or 600/1m, or off`,
    );
  }
  const perMs = parseDuration(match[2], "--rate-limit interval");
  if (perMs < 1) throw new UsageError(`Invalid --rate-limit "${text}": the interval must be > 0`);
  return { count: Number(match[1]), perMs };
}

/**
 * `--backoff TYPE:DELAY[:MAX][:jitter]` (e.g. `exponential:1s:1m:jitter`,
 * `fixed:5s`) or `off`.
 */
export function parseBackoff(text: string): Backoff | null {
  if (text === "off") return null;
  const [type, delay, ...rest] = text.trim().split(":");
  const jitter = rest.at(-1) === "jitter";
  if (jitter) rest.pop();
  if ((type !== "fixed" && type !== "exponential") || delay === undefined || rest.length > 1) {
    throw new UsageError(
      `Invalid --backoff "${text}": expected fixed:DELAY or exponential:DELAY[:MAX][:jitter] (e.g. exponential:1s:1m), or off`,
    );
  }
  const delayMs = parseDuration(delay, "--backoff delay");
  const maxMs = rest[0] === undefined ? undefined : parseDuration(rest[0], "--backoff maximum");
  return { type, delayMs, maxMs: maxMs ?? 24 * 3600_000, jitter };
}

/** A schedule's options from the command line; one of `--cron` and `--every`. */
export function scheduleOptions(values: {
  queue?: string;
  cron?: string;
  tz?: string;
  every?: number;
  value?: string;
  priority?: string;
  "catch-up"?: boolean;
}): ScheduleOptions {
  if (values.queue === undefined) throw new UsageError("Missing --queue: the queue to put on");
  if ((values.cron === undefined) === (values.every === undefined)) {
    throw new UsageError('Give one of --cron "EXPR" and --every DURATION');
  }
  if (values.tz !== undefined && values.cron === undefined) {
    throw new UsageError("Option --tz goes with --cron");
  }
  let value: unknown = null;
  if (values.value !== undefined) {
    try {
      value = JSON.parse(values.value);
    } catch {
      throw new UsageError(
        `Invalid --value: not JSON (${
          JSON.stringify(values.value.slice(0, 40))
        }); quote it, e.g. --value '{"report":"daily"}'`,
      );
    }
  }
  const priority = values.priority === undefined ? 0 : Number(values.priority);
  if (!Number.isSafeInteger(priority)) {
    throw new UsageError(`Invalid --priority "${values.priority}": expected an integer`);
  }
  const options: ScheduleOptions = { queue: values.queue, value, priority };
  if (values.cron !== undefined) options.cron = values.cron;
  if (values.tz !== undefined) options.timezone = values.tz;
  if (values.every !== undefined) options.every = values.every;
  if (values["catch-up"]) options.catchUp = true;
  return options;
}

/** When a schedule fires, in words: `cron "*\/5 * * * *" (UTC)` or `every 5m`. */
function when(s: ScheduleInfo): string {
  return s.cron !== null
    ? `cron "${s.cron}" (${s.timezone ?? "UTC"})`
    : `every ${duration(s.everyMs!)}`;
}

function iso(ms: number | null): string {
  return ms === null ? "-" : new Date(ms).toISOString();
}

/** `schedule list`. */
export function printSchedules(
  out: Output,
  schedules: (ScheduleInfo & { value: unknown })[],
): void {
  if (out.json) {
    for (const s of schedules) out.event("schedule", { ...s }, null);
    return;
  }
  if (schedules.length === 0) return out.say("no schedules");
  out.say(table(
    ["schedule", "queue", "when", "next", "last", "catch-up", "value"],
    schedules.map((s) => [
      printable(s.name),
      printable(s.queue),
      printable(when(s)),
      iso(s.next),
      iso(s.last),
      s.catchUp ? "yes" : "no",
      valueText(s.value, 40),
    ]),
  ));
}

/** A value as one short printable line. */
export function valueText(value: unknown, max: number): string {
  const text = printable(jsonLine({ v: value }).slice(5, -1));
  return text.length > max ? text.slice(0, max - 3) + "..." : text;
}

/** `peek QUEUE --in-flight`: who holds each job, until when, and its progress. */
export function printInFlight(out: Output, queue: string, jobs: ListedJob[]): void {
  if (out.json) {
    for (const job of jobs) out.event("in-flight", { queue, ...job }, null);
    return;
  }
  if (jobs.length === 0) return out.say(`no jobs in flight in ${printable(queue)}`);
  const now = Date.now();
  out.say(table(
    ["id", "attempts", "held by", "lease left", "progress", "value"],
    jobs.map((j) => [
      printable(j.id),
      count(j.attempts),
      printable(j.by ?? ""),
      j.deadline === undefined ? "-" : duration(Math.max(0, j.deadline - now)),
      j.progressAt === undefined
        ? "-"
        : `${valueText(j.progress, 30)} (${duration(Math.max(0, now - j.progressAt))} ago)`,
      valueText(j.value, 30),
    ]),
  ));
}

/** The history of a dead letter, one line per attempt, under the job's row. */
export function historyLines(job: ListedJob): string[] {
  return (job.history ?? []).map((a, i) =>
    `    attempt ${i + 1}: ${new Date(a.at).toISOString()} ${printable(a.by || "?")}: ${
      printable(a.why)
    }`
  );
}
