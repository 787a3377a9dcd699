/**
 * Where the god's durable state goes. The broker reports each change with
 * `append`; the server answers a producer only once `afterCommit` says the
 * put is as durable as the store promises.
 */
import type { JournalRecord } from "../queue/types.ts";

/** What a store tells stats and metrics about itself. */
export interface StoreStats {
  kind: "memory" | "journal";
  fsync?: string;
  journalBytes?: number;
  lastCompaction?: string | null;
  recovered?: Record<string, number>;
  /** Recent fsync durations in ms (for the metrics histogram). */
  fsyncMs?: number[];
}

/** The seam between the broker and durability. */
export interface Store {
  append(record: JournalRecord): void;
  /** Calls `fn` once every record appended so far is durable. */
  afterCommit(fn: () => void): void;
  stats(): StoreStats;
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
