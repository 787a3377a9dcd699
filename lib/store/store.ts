/**
 * Where the god's durable state goes. The broker reports each change with
 * `append`; the server answers a producer only once `afterCommit` says the
 * put is as durable as the store promises.
 */
import type { Job, JournalRecord, QueueOptions } from "../queue/types.ts";
import type { StoreStats } from "../protocol/replies.ts";

export type { StoreStats };

/** Where a store reads the live state for a snapshot (the broker). */
export interface StoreSource {
  liveJobs(): Iterable<{ queue: string; job: Job }>;
  queueOptions(): Record<string, QueueOptions>;
}

/** The seam between the broker and durability. */
export interface Store {
  append(record: JournalRecord): void;
  /** Calls `fn` once every record appended so far is durable. */
  afterCommit(fn: () => void): void;
  stats(): StoreStats;
  /** Gives the store the live state to snapshot when it compacts (the server passes its broker). */
  attach?(source: StoreSource): void;
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
    return { kind: "memory" };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
