/**
 * Where the god's durable state goes. The broker reports each change with
 * `append`; the server answers a producer only once `afterCommit` says the
 * put is as durable as the store promises.
 */
import type { Job, JournalRecord, QueueOptions, Schedule } from "../queue/types.ts";
import type { StoreStats } from "../protocol/replies.ts";
import type { StoreError } from "./record_codec.ts";

export type { StoreStats };

/**
 * Whether a store can make new records durable, for the server to decide
 * what to accept:
 * - "ok": everything goes;
 * - "stalled": its disk is full (ENOSPC or quota). Records appended now wait
 *   in memory and are written when space returns (the store retries by
 *   itself, and reports `journal_resumed`); their `afterCommit` runs then.
 *   Refuse new puts with `error` (code `unavailable`, a one-line message
 *   naming the disk); gets, acks, nacks and touches go on (their records
 *   wait too: a job acked meanwhile may come back after a crash, never a
 *   put that was acknowledged be lost);
 * - "failed": a write or fsync failed otherwise (EIO, ...). Nothing more will
 *   be durable and no `afterCommit` runs again; refuse puts with `error` and
 *   restart the god (it recovers everything acknowledged before).
 */
export type StoreHealth =
  | { state: "ok" }
  | { state: "stalled"; error: StoreError; since: string }
  | { state: "failed"; error: StoreError };

/** Where a store reads the live state for a snapshot (the broker). */
export interface StoreSource {
  /**
   * The live jobs as they are at the call, to iterate later: a snapshot is
   * written over many turns while the broker goes on, and must not see it.
   */
  captureLiveJobs(): Iterable<{ queue: string; job: Job }>;
  /** How many jobs live and about the characters of their ids and payloads (cheap: nothing unpacked). */
  liveSize(): { jobs: number; chars: number };
  queueOptions(): Record<string, QueueOptions>;
  /** Schedules with their last slots (a source without schedules leaves it out). */
  scheduleRecords?(): Schedule[];
}

/** The seam between the broker and durability. */
export interface Store {
  append(record: JournalRecord): void;
  /** Calls `fn` once every record appended so far is durable. */
  afterCommit(fn: () => void): void;
  stats(): StoreStats;
  /** Gives the store the live state to snapshot when it compacts (the server passes its broker). */
  attach?(source: StoreSource): void;
  /** Whether new records can be made durable now (a store without it always can). */
  health?(): StoreHealth;
  /** Makes everything durable and releases files and locks. */
  close(): Promise<void>;
}

/** No durability: the god's `--in-memory` mode. Commits are immediate. */
export class MemoryStore implements Store {
  append(_record: JournalRecord): void {}

  afterCommit(fn: () => void): void {
    fn();
  }

  stats(): StoreStats {
    return { kind: "memory", state: "ok" };
  }

  health(): StoreHealth {
    return { state: "ok" };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
