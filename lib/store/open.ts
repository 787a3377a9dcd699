/**
 * Opening a data directory: lock it, find its files, replay the newest
 * snapshot and the journal segments after it (reporting and cutting a torn
 * tail, refusing corruption in the middle unless salvaging), and hand the
 * newest segment to a {@link Journal} to append to.
 *
 * The state is the newest snapshot K (or nothing, when K is the first
 * generation) followed by the segments K, K+1, ... replayed in order.
 */
import {
  type DataFile,
  describeFileError,
  ensureDir,
  listDir,
  openFile,
  remove,
  syncDir,
} from "./file.ts";
import { SEGMENT, segmentName, SNAPSHOT, snapshotName, TEMP_SNAPSHOT } from "./layout.ts";
import { acquireLock, type Lock } from "./lock.ts";
import { encodeHeader, FileKind, HEADER_SIZE, StoreError } from "./record_codec.ts";
import { type Recovered, scanFile, StateFolder } from "./recovery.ts";
import {
  FSYNC_POLICIES,
  type FsyncPolicy,
  Journal,
  type JournalOptions,
  type JournalStore,
} from "./journal.ts";
import { formatBytes } from "../util/format_bytes.ts";

export { StoreError } from "./record_codec.ts";
export { FSYNC_POLICIES } from "./journal.ts";
export type { FsyncPolicy, JournalStore } from "./journal.ts";
export type { Recovered } from "./recovery.ts";
export type { StoreSource } from "./store.ts";
export type { StoredRecord } from "./record_codec.ts";

/** Options of {@link openJournal}. */
export interface OpenJournalOptions extends JournalOptions {
  /** Default "always": a put is acknowledged only after its record is fsynced (group commit). */
  fsync?: FsyncPolicy;
  /**
   * Load what is readable from a journal damaged in the middle instead of
   * refusing to start. The damaged files are kept aside (renamed
   * `*.corrupt-<time>`), and a fresh snapshot holds what was recovered.
   */
  salvage?: boolean;
}

/**
 * Opens (or creates) the data directory `dir`: locks it, recovers its state
 * and returns the store to hand to `serve`, the state to restore, and a
 * one-line summary of what was recovered. Throws a {@link StoreError} with a
 * one-line, actionable message when the directory cannot be used.
 *
 * @example
 * ```ts
 * const { store, restore, summary } = await openJournal("./taskwire-data", { fsync: "always" });
 * console.log(summary); // recovered 1200 jobs (1000 ready, 150 delayed, 50 dead) ...
 * const god = await serve({ authkey, store, restore });
 * ```
 */
export async function openJournal(
  dir: string,
  options: OpenJournalOptions = {},
): Promise<{ store: JournalStore; restore: Recovered; summary: string }> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const fsync = options.fsync ?? "always";
  if (!FSYNC_POLICIES.includes(fsync)) {
    throw new StoreError(
      `Invalid fsync policy ${JSON.stringify(fsync)}: use one of ${FSYNC_POLICIES.join(", ")}`,
    );
  }
  try {
    await ensureDir(dir);
  } catch (error) {
    throw new StoreError(
      `Cannot create data directory ${dir}: ${
        describeFileError(error)
      }; choose a writable --data DIR`,
      { cause: error },
    );
  }
  const lock = await acquireLock(dir, log);
  try {
    return await recover(dir, fsync, options, lock, started);
  } catch (error) {
    await lock.release();
    if (error instanceof StoreError) throw error;
    throw new StoreError(`Cannot open data directory ${dir}: ${describeFileError(error)}`, {
      cause: error,
    });
  }
}

async function recover(
  dir: string,
  fsync: FsyncPolicy,
  options: OpenJournalOptions,
  lock: Lock,
  started: number,
): Promise<{ store: JournalStore; restore: Recovered; summary: string }> {
  const log = options.log ?? (() => {});
  const names = await listDir(dir);
  const segments: number[] = [];
  const snapshots: number[] = [];
  for (const name of names) {
    const seg = SEGMENT.exec(name);
    if (seg) segments.push(Number(seg[1]));
    const snap = SNAPSHOT.exec(name);
    if (snap) snapshots.push(Number(snap[1]));
    if (TEMP_SNAPSHOT.test(name)) {
      // An unfinished snapshot of a compaction that was interrupted.
      log({ event: "compaction_leftover", file: name, note: "removing an unfinished snapshot" });
      await remove(`${dir}/${name}`);
    }
  }
  segments.sort((a, b) => a - b);
  snapshots.sort((a, b) => a - b);
  const base = snapshots.length > 0 ? snapshots[snapshots.length - 1] : 0;
  const replay = segments.filter((g) => g >= base);
  const folder = new StateFolder();
  const notes: string[] = [];
  let bytes = 0;
  let damagedMiddle = false;
  let truncatedBytes = 0;
  let skippedBytes = 0;

  // Which generations must be there.
  const first = base > 0 ? base : 1;
  if (base === 0 && segments.length > 0 && segments[0] !== 1) {
    problem(
      `journal ${segmentName(first)} is missing (the oldest journal is ${
        segmentName(segments[0])
      } and there is no snapshot)`,
    );
  }
  for (let i = 0; i < replay.length; i++) {
    const expected = (base > 0 ? base : replay[0]) + i;
    if (replay[i] !== expected) {
      problem(`journal ${segmentName(expected)} is missing between the journals that remain`);
    }
  }
  if (base > 0 && (replay.length === 0 || replay[0] !== base)) {
    // Compaction creates segment N before snapshot N is renamed into place.
    problem(`journal ${segmentName(base)} is missing beside ${snapshotName(base)}`);
  }

  function problem(what: string): void {
    if (!options.salvage) {
      throw new StoreError(
        `Cannot recover data directory ${dir}: ${what}; refusing to start so nothing is lost. Restore it from a backup, or start with --salvage to load what is readable`,
      );
    }
    damagedMiddle = true;
    notes.push(`salvaged past: ${what}`);
    log({ event: "salvage", dir, problem: what });
  }

  if (base > 0) {
    const path = `${dir}/${snapshotName(base)}`;
    const file = await openFile(path, "read");
    try {
      const scan = await scanFile(file, FileKind.snapshot, (r) => folder.apply(r), options);
      bytes += scan.size;
      if (scan.damage || folder.end === null) {
        const where = scan.damage
          ? `at offset ${scan.damage.offset}: ${scan.damage.detail}`
          : "its end marker is missing";
        problem(`snapshot ${path} is damaged ${where}`);
        skippedBytes += scan.skipped + (scan.damage?.where === "tail" ? scan.damage.bytes : 0);
      }
    } finally {
      await file.close();
    }
  }

  let last: { file: DataFile; generation: number; size: number } | null = null;
  let lastScanned = 0;
  for (let i = 0; i < replay.length; i++) {
    const generation = replay[i];
    const isLast = i === replay.length - 1;
    const path = `${dir}/${segmentName(generation)}`;
    const file = await openFile(path, isLast ? "update" : "read");
    let keep = false;
    try {
      const scan = await scanFile(file, FileKind.journal, (r) => folder.apply(r), options);
      bytes += scan.size;
      let size = scan.size;
      const damage = scan.damage;
      if (damage && (damage.where === "middle" || !isLast)) {
        const next = damage.where === "middle"
          ? `, and valid records follow at offset ${damage.resumeAt}`
          : `, and newer journals follow it`;
        problem(
          `journal ${path} is corrupt at offset ${damage.offset} (${damage.detail})${next}`,
        );
        skippedBytes += scan.skipped + (damage.where === "tail" ? damage.bytes : 0);
      } else if (damage) {
        // A torn tail of the newest journal: report it, keep a copy if it is
        // more than a cut-short record, then cut it off.
        const event: Record<string, unknown> = {
          event: "journal_tail_truncated",
          file: path,
          offset: damage.offset,
          bytes: damage.bytes,
          detail: damage.detail,
        };
        if (!damage.detail.includes("cut short") && damage.bytes > 0) {
          const aside = `${path}.damaged-${Date.now()}`;
          const copy = new Uint8Array(damage.bytes);
          await file.read(copy, damage.offset);
          const out = await openFile(aside, "create");
          await out.write(copy, 0);
          await out.datasync();
          await out.close();
          event.keptIn = aside;
        }
        log(event);
        notes.push(
          `cut a damaged tail of ${damage.bytes} bytes from ${
            segmentName(generation)
          } at offset ${damage.offset} (${damage.detail})`,
        );
        truncatedBytes += damage.bytes;
      }
      if (isLast) {
        if (scan.noHeader) {
          await file.truncate(0);
          await file.write(encodeHeader(FileKind.journal, generation), 0);
          await file.datasync();
          size = HEADER_SIZE;
        } else if (damage && damage.where === "tail") {
          await file.truncate(scan.goodEnd);
          await file.datasync();
          size = scan.goodEnd;
        } else if (damage && options.salvage) {
          size = scan.goodEnd; // salvage: superseded by the fresh snapshot below
        }
        last = { file, generation, size };
        lastScanned = scan.size;
        keep = true;
      }
    } finally {
      if (!keep) await file.close();
    }
  }

  const now = Date.now();
  const windowMs = options.dedupeWindowMs ?? 600_000;
  const restore = folder.result(now, windowMs);
  const store = new Journal(dir, fsync, options, lock);
  let generation: number;
  if (last === null) {
    // A fresh directory (or only a snapshot): start segment `first`.
    generation = first;
    const file = await openFile(`${dir}/${segmentName(generation)}`, "create");
    await file.write(encodeHeader(FileKind.journal, generation), 0);
    await file.datasync();
    await syncDir(dir);
    last = { file, generation, size: HEADER_SIZE };
  }
  generation = last.generation;
  store.start(last.file, generation, last.size, bytes - lastScanned);
  store.seedIds(folder.recentIds(now - windowMs));
  try {
    // Leftovers of a compaction that finished renaming but not deleting.
    for (const g of segments) if (g < base) await remove(`${dir}/${segmentName(g)}`);
    for (const g of snapshots) if (g < base) await remove(`${dir}/${snapshotName(g)}`);
    if (damagedMiddle) {
      // Salvage: write what was recovered as a fresh snapshot, keep the damaged files aside.
      await store.writeSalvaged(restore, segments.filter((g) => g <= generation), snapshots);
    }
  } catch (error) {
    await store.abandon();
    throw error;
  }

  const ms = Math.round(performance.now() - started);
  const c = restore.counts;
  Object.assign(c, { bytes, ms, truncatedBytes, skippedBytes });
  store.recovered = c;
  const summary =
    `recovered ${c.jobs} jobs (${c.ready} ready, ${c.delayed} delayed, ${c.dead} dead) in ${c.queues} queues from ${
      formatBytes(bytes)
    } journal in ${ms} ms` + (notes.length ? `; ${notes.join("; ")}` : "");
  log({ event: "recovered", dir, fsync, ...c });
  return { store, restore, summary };
}
