/**
 * Jobs as every door describes them in replies and listings: their fields,
 * lease and progress, the payload travelling apart (after the TCP header, or
 * spliced into the HTTP JSON).
 */
import type { InFlightJob } from "../queue/backend.ts";
import type { Job } from "../queue/types.ts";
import type { JobMeta } from "../protocol/replies.ts";

/** A job's fields as replies and listings carry them (the payload travels apart). */
export function jobMeta(job: Job, tag?: number): JobMeta {
  const meta: JobMeta = { id: job.id, attempts: job.attempts, priority: job.priority };
  if (tag !== undefined) meta.tag = tag;
  if (job.reason !== undefined) meta.reason = job.reason;
  if (job.origin !== undefined) meta.origin = job.origin;
  if (job.history !== undefined && job.history.length > 0) meta.history = job.history;
  return meta;
}

/** A job in flight as listings carry it: its fields, lease, holder and last progress. */
export function inFlightMeta(listed: InFlightJob): JobMeta {
  const meta = jobMeta(listed.job, listed.tag);
  meta.by = listed.by;
  meta.deadline = listed.deadline;
  if (listed.progress !== undefined) {
    meta.progress = listed.progress;
    meta.progressAt = listed.progressAt;
  }
  return meta;
}
