/**
 * Opening a data directory: check it (owner, permissions), lock it, find its
 * files, replay the newest snapshot and the journal segments after it, and
 * hand a segment to a {@link Journal} to append to.
 *
 * The state is the newest snapshot K (or nothing, when K is the first
 * generation) followed by the segments K, K+1, ... replayed in order.
 *
 * **Nothing is dropped unreported, nothing unkept.** Every byte recovery does
 * not load is named in an event and in the summary, and kept:
 * - a torn tail of the newest segment past its committed length (records
 *   whose fsync never finished, so never acknowledged) is copied to
 *   `<segment>.damaged-<time>`, then cut off; so is a segment whose header
 *   was never completely written;
 * - anything that loses acknowledged data — damage or a cut before a
 *   segment's committed length, damage in the middle or in an older segment,
 *   a damaged snapshot, a missing generation — refuses to start. With
 *   `salvage` the readable records are loaded, a fresh snapshot holds them,
 *   and every file that was read is kept whole as `<name>.corrupt-<time>`;
 * - only files whose content is elsewhere are deleted: an unfinished
 *   snapshot (`*.tmp`, written from the journal that is still there) and the
 *   files before a complete snapshot (a compaction that stopped before
 *   deleting them).
 */
import {
  chmod,
  type DataFile,
  describeFileError,
  listDir,
  openFile,
  remove,
  rename,
  syncDir,
} from "./file.ts";
import { SEGMENT, segmentName, SNAPSHOT, snapshotName, TEMP_SNAPSHOT } from "./layout.ts";
import { prepareDataDir } from "./data_dir.ts";
import { acquireLock, type Lock } from "./lock.ts";
import { encodeHeader, FileKind, HEADER_SIZE, StoreError } from "./record_codec.ts";
import { type Recovered, scanFile, type ScanResult, StateFolder } from "./recovery.ts";
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
export type { StoreHealth, StoreSource } from "./store.ts";
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
  const { uid } = await prepareDataDir(dir, log);
  const lock = await acquireLock(dir, { uid, log });
  try {
    return await recover(dir, { fsync, options, lock, uid, started });
  } catch (error) {
    await lock.release();
    if (error instanceof StoreError) throw error;
    throw new StoreError(`Cannot open data directory ${dir}: ${describeFileError(error)}`, {
      cause: error,
    });
  }
}

/** The segment the journal appends to. */
interface Segment {
  file: DataFile;
  generation: number;
  size: number;
  /** Its header's committed length; null for a version 1 header (no such field). */
  committed: number | null;
}

async function recover(
  dir: string,
  context: {
    fsync: FsyncPolicy;
    options: OpenJournalOptions;
    lock: Lock;
    uid: number;
    started: number;
  },
): Promise<{ store: JournalStore; restore: Recovered; summary: string }> {
  const { fsync, options, lock, uid, started } = context;
  const log = options.log ?? (() => {});
  const wrap = options.wrapFile ?? ((file: DataFile) => file);
  const names = await listDir(dir);
  const segments: number[] = [];
  const snapshots: number[] = [];
  for (const name of names) {
    const seg = SEGMENT.exec(name);
    if (seg) segments.push(Number(seg[1]));
    const snap = SNAPSHOT.exec(name);
    if (snap) snapshots.push(Number(snap[1]));
    if (TEMP_SNAPSHOT.test(name)) {
      // An unfinished snapshot of a compaction that was interrupted: its
      // state is in the journal, which compaction deletes only later.
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
  let salvaging = false;
  let truncatedBytes = 0;
  let skippedBytes = 0;
  let missingBytes = 0;

  function problem(what: string): void {
    if (!options.salvage) {
      throw new StoreError(
        `Cannot recover data directory ${dir}: ${what}; refusing to start so nothing is lost. Restore it from a backup, or start with --salvage to load what is readable (every damaged file is kept)`,
      );
    }
    salvaging = true;
    notes.push(`salvaged past: ${what}`);
    log({ event: "salvage", dir, problem: what });
  }

  /** Opens a file of the directory, refusing one another user made; tightens an old 0644. */
  async function open(name: string, mode: "read" | "update"): Promise<DataFile> {
    const path = `${dir}/${name}`;
    const file = wrap(await openFile(path, mode));
    const info = await file.stat();
    if (info.uid !== uid) {
      await file.close();
      throw new StoreError(
        `Cannot use data directory ${dir}: ${name} belongs to user id ${info.uid}, not to this god's user (id ${uid}), so it may not be this god's journal; move it out of ${dir} (or chown it if you trust it)`,
      );
    }
    if ((info.mode & 0o077) !== 0) {
      await chmod(path, 0o600);
      log({
        event: "permissions_tightened",
        file: path,
        note: `${path} was readable by other users (mode 0${info.mode.toString(8)}); made it 0600`,
      });
    }
    return file;
  }

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

  if (base > 0) {
    const path = `${dir}/${snapshotName(base)}`;
    const file = await open(snapshotName(base), "read");
    try {
      const scan = await scanFile(file, FileKind.snapshot, (r) => folder.apply(r), options);
      bytes += scan.size;
      if (scan.damage || folder.end === null) {
        const where = scan.damage
          ? `at offset ${scan.damage.offset}: ${scan.damage.detail}`
          : `its end marker is missing${
            scan.committed !== null && scan.size < scan.committed
              ? ` (it ends at byte ${scan.size} of ${scan.committed})`
              : ""
          }`;
        problem(`snapshot ${path} is damaged ${where}`);
        skippedBytes += scan.skipped + (scan.damage?.where === "tail" ? scan.damage.bytes : 0);
      }
    } finally {
      await file.close();
    }
  }

  let last: Segment | null = null;
  let lastScanned = 0;
  let lastVersion = 0;
  for (let i = 0; i < replay.length; i++) {
    const generation = replay[i];
    const isLast = i === replay.length - 1;
    const path = `${dir}/${segmentName(generation)}`;
    const file = await open(segmentName(generation), isLast ? "update" : "read");
    let keep = false;
    try {
      const scan = await scanFile(file, FileKind.journal, (r) => folder.apply(r), options);
      bytes += scan.size;
      const damage = scan.damage;
      const lost = lostCommitted(scan);
      if (scan.committedUnreadable) {
        log({
          event: "journal_header_unreadable",
          file: path,
          note:
            `the committed length in the header of ${path} fails its checksum; its tail is checked by record checksums only`,
        });
      }
      if (damage && (damage.where === "middle" || !isLast)) {
        const next = damage.where === "middle"
          ? `, and valid records follow at offset ${damage.resumeAt}`
          : `, and newer journals follow it`;
        problem(
          `journal ${path} is corrupt at offset ${damage.offset} (${damage.detail})${next}`,
        );
        skippedBytes += scan.skipped + (damage.where === "tail" ? damage.bytes : 0);
      } else if (lost !== null) {
        problem(`journal ${path} ${lost}`);
        missingBytes += Math.max(0, scan.committed! - scan.size);
        skippedBytes += damage?.bytes ?? 0;
      } else if (!isLast && scan.noHeader) {
        problem(`journal ${path} has no header, and newer journals follow it`);
      } else if (damage) {
        // A torn tail of the newest journal, past what was committed: records
        // never acknowledged. Report it, keep a copy, then cut it off.
        const keptIn = await keepCopy(file, damage.offset, damage.bytes, wrap);
        log({
          event: "journal_tail_truncated",
          file: path,
          offset: damage.offset,
          bytes: damage.bytes,
          detail: damage.detail,
          keptIn,
        });
        notes.push(
          `cut a damaged tail of ${damage.bytes} bytes from ${
            segmentName(generation)
          } at offset ${damage.offset} (${damage.detail}; kept in ${keptIn})`,
        );
        truncatedBytes += damage.bytes;
      }
      if (isLast) {
        let segment: Segment = {
          file,
          generation,
          size: scan.size,
          committed: scan.version >= 2 ? scan.committed ?? HEADER_SIZE : null,
        };
        if (salvaging) {
          // Superseded by the fresh segment and snapshot below; kept whole.
        } else if (scan.noHeader) {
          await file.truncate(0);
          await file.write(encodeHeader(FileKind.journal, generation), 0);
          await file.datasync();
          segment = { file, generation, size: HEADER_SIZE, committed: HEADER_SIZE };
        } else if (damage) {
          await file.truncate(scan.goodEnd);
          await file.datasync();
          segment.size = scan.goodEnd;
        }
        last = segment;
        lastScanned = scan.size;
        lastVersion = scan.noHeader ? 2 : scan.version;
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
  let older = bytes - lastScanned;
  if (last !== null && (salvaging || lastVersion < 2)) {
    // Salvage appends to a fresh segment; a version 1 segment (no committed
    // length in its header) is finished as it is, and the next one has it.
    await last.file.close();
    older = salvaging ? 0 : bytes;
    last = await createSegment(dir, Math.max(...segments, ...snapshots) + 1, wrap);
  } else if (last === null) {
    // A fresh directory (or only a snapshot): start segment `first`.
    last = await createSegment(dir, first, wrap);
  } else {
    // What recovery read is what the journal counts as committed: make sure it is on disk.
    await last.file.datasync();
  }
  store.start(last.file, last, older);
  store.seedIds(folder.recentIds(now - windowMs));
  folder.release();
  try {
    if (salvaging) {
      // Write what was recovered as a fresh snapshot; keep every file that was read, whole.
      const stamp = Date.now();
      const setAside = async () => {
        const kept = [...segments.map(segmentName), ...snapshots.map(snapshotName)];
        for (const name of kept) {
          const path = `${dir}/${name}`;
          await rename(path, `${path}.corrupt-${stamp}`);
        }
        await syncDir(dir);
        log({ event: "salvage_kept", dir, files: kept.map((name) => `${name}.corrupt-${stamp}`) });
      };
      await store.writeSalvaged(restore, last.generation, setAside);
    } else {
      // Leftovers of a compaction that finished renaming but not deleting.
      for (const g of segments) if (g < base) await remove(`${dir}/${segmentName(g)}`);
      for (const g of snapshots) if (g < base) await remove(`${dir}/${snapshotName(g)}`);
    }
  } catch (error) {
    await store.abandon();
    throw error;
  }

  const ms = Math.round(performance.now() - started);
  const c = restore.counts;
  Object.assign(c, { bytes, ms, truncatedBytes, skippedBytes, missingBytes });
  store.recovered = c;
  const summary =
    `recovered ${c.jobs} jobs (${c.ready} ready, ${c.delayed} delayed, ${c.dead} dead) in ${c.queues} queues from ${
      formatBytes(bytes)
    } journal in ${ms} ms` + (notes.length ? `; ${notes.join("; ")}` : "");
  log({ event: "recovered", dir, fsync, ...c });
  return { store, restore, summary };
}

/**
 * How a segment lost records it had committed (acknowledged ones), or null:
 * it is shorter than its committed length (cut, even at a record boundary),
 * or damaged before it.
 */
function lostCommitted(scan: ScanResult): string | null {
  const committed = scan.committed;
  if (committed === null || scan.goodEnd >= committed) return null;
  if (scan.damage === null || scan.size < committed) {
    return `ends at byte ${scan.size}, but its first ${committed} bytes were committed (fsynced and acknowledged): ${
      committed - scan.size
    } bytes of acknowledged records are missing (the file was cut short)`;
  }
  return `is damaged at offset ${scan.damage.offset} (${scan.damage.detail}), inside the ${committed} bytes it had committed (fsynced and acknowledged)`;
}

/** Copies `bytes` bytes of `file` from `offset` to `<file>.damaged-<time>`; resolves with that path. */
async function keepCopy(
  file: DataFile,
  offset: number,
  bytes: number,
  wrap: (file: DataFile) => DataFile,
): Promise<string> {
  const aside = `${file.path}.damaged-${Date.now()}`;
  const copy = new Uint8Array(bytes);
  let got = 0;
  while (got < bytes) {
    const n = await file.read(copy.subarray(got), offset + got);
    if (n <= 0) break;
    got += n;
  }
  const out = wrap(await openFile(aside, "create"));
  try {
    await out.write(copy.subarray(0, got), 0);
    await out.datasync();
  } finally {
    await out.close();
  }
  return aside;
}

/** Creates segment `generation` (a header alone) and makes it durable. */
async function createSegment(
  dir: string,
  generation: number,
  wrap: (file: DataFile) => DataFile,
): Promise<Segment> {
  const file = wrap(await openFile(`${dir}/${segmentName(generation)}`, "create"));
  await file.write(encodeHeader(FileKind.journal, generation), 0);
  await file.datasync();
  await syncDir(dir);
  return { file, generation, size: HEADER_SIZE, committed: HEADER_SIZE };
}
