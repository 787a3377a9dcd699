/**
 * Compaction: the journal keeps growing with every put and ack, so now and
 * then the live state is written as a snapshot and the files before it are
 * deleted.
 *
 * The order makes every crash point loadable: the journal starts segment N+1
 * (its write loop does that at the boundary, after every record appended so
 * far), snapshot N+1 is written beside it as a temp file with the state
 * captured at that same boundary, fsynced and renamed into place, the
 * directory is fsynced, and only then are the older files deleted.
 */
import type { Job, QueueOptions, Schedule } from "../queue/types.ts";
import type { StoreSource } from "./store.ts";
import {
  describeFileError,
  type FileWrapper,
  listDir,
  openFile,
  remove,
  rename,
  syncDir,
} from "./file.ts";
import { SEGMENT, SNAPSHOT, snapshotName, tempSnapshotName } from "./layout.ts";
import { encodeHeader, FileKind, HEADER_SIZE, RecordWriter } from "./record_codec.ts";
import type { Recovered } from "./recovery.ts";
import type { IdList } from "./recent_ids.ts";
import { formatBytes } from "../util/format_bytes.ts";

/** What a compaction needs from the journal it compacts. */
export interface CompactionHost {
  readonly dir: string;
  /** Bytes of the files the state needs now (snapshot and segments). */
  journalBytes(): number;
  /**
   * Ends the current segment after every record appended so far: the write
   * loop starts segment `generation` there; `rotated` settles once it exists.
   */
  rotate(): { generation: number; rotated: Promise<void> };
  /** The put ids the snapshot keeps. */
  recentIds(): IdList;
  /** A snapshot of `bytes` now replaces every file before the current segment. */
  compacted(bytes: number): void;
  /** The journal closed: stop writing the snapshot. */
  closed(): boolean;
}

/** Options of a {@link Compactor}. */
export interface CompactionOptions {
  /** Compact once the files hold more than this many bytes ... */
  minBytes: number;
  /** ... and more than this many times the live state. */
  ratio: number;
  /** Tests: pause this long between the steps, to widen the window for a kill. */
  pauseMs: number;
  log: (event: Record<string, unknown>) => void;
  /** Tests: wraps the snapshot file, to inject disk faults. */
  wrapFile?: FileWrapper;
}

/**
 * Decides when to compact and runs one compaction at a time.
 *
 * @example
 * ```ts
 * const compactor = new Compactor(host, { minBytes: 64 << 20, ratio: 4, pauseMs: 0, log });
 * compactor.attach(broker);
 * compactor.maybeStart(); // after each write
 * ```
 */
export class Compactor {
  readonly #host: CompactionHost;
  readonly #options: CompactionOptions;
  #source: StoreSource | null = null;
  #running: Promise<void> | null = null;
  #nextCheck: number;
  #last: string | null = null;

  constructor(host: CompactionHost, options: CompactionOptions) {
    this.#host = host;
    this.#options = options;
    this.#nextCheck = options.minBytes;
  }

  /** Where the live state is read from (the broker). */
  attach(source: StoreSource): void {
    this.#source = source;
  }

  /** When the last compaction finished (ISO time), or null. */
  get lastCompaction(): string | null {
    return this.#last;
  }

  /** The compaction running now, if any. */
  get running(): Promise<void> | null {
    return this.#running;
  }

  /** Compacts now, unless one runs (then resolves when it ends) or there is no source. */
  compact(why: string): Promise<void> {
    if (this.#running) return this.#running;
    if (this.#source === null || this.#host.closed()) return Promise.resolve();
    return this.#start(why);
  }

  /** Called after writes: starts a compaction once the files outgrow the live state. */
  maybeStart(): void {
    if (this.#source === null || this.#running !== null || this.#host.closed()) return;
    const total = this.#host.journalBytes();
    if (total < this.#nextCheck) return;
    // About a snapshot's size: each job's id and payload and some 80 bytes of record.
    const size = this.#source.liveSize();
    const live = size.chars + size.jobs * 80;
    if (live * this.#options.ratio > total) {
      // Look again once the files grew by a quarter: the live state may shrink meanwhile (a
      // backlog draining), and weighing it costs little (nothing is unpacked).
      this.#nextCheck = Math.max(this.#options.minBytes, Math.ceil(total * 1.25));
      return;
    }
    void this.#start("journal " + formatBytes(total) + ", live ~" + formatBytes(live));
  }

  /**
   * Salvage: writes `state` (what recovery could read) as snapshot
   * `generation`, the generation of the fresh (empty) segment the journal
   * appends to. `setAside` moves the damaged files out of the way (renamed
   * `*.corrupt-<time>`) after the snapshot is on disk and before it is renamed
   * into place: a crash in between leaves them, never deletes them.
   */
  async writeSalvaged(
    state: Recovered,
    generation: number,
    setAside: () => Promise<void>,
  ): Promise<void> {
    const host = this.#host;
    const size = await writeSnapshot(
      host.dir,
      generation,
      state.queues,
      state.schedules,
      state.jobs,
      host.recentIds(),
      setAside,
      this.#hooks(),
    );
    host.compacted(size ?? 0);
    this.#options.log({ event: "salvaged", generation, jobs: state.jobs.length });
  }

  #start(why: string): Promise<void> {
    const promise = this.#compact(why).catch((error) => {
      this.#options.log({ event: "compaction_failed", message: describeFileError(error) });
      this.#nextCheck = this.#host.journalBytes() * 2;
    }).finally(() => {
      this.#running = null;
    });
    this.#running = promise;
    return promise;
  }

  async #compact(why: string): Promise<void> {
    const host = this.#host;
    const source = this.#source!;
    const log = this.#options.log;
    const started = performance.now();
    // The boundary: records appended so far belong to the old segment, the
    // state captured right now (in this same turn) is the snapshot, later
    // records go to the new segment. The capture copies little: packed
    // ready jobs and put ids are shared (they never change) and made into
    // records only as the snapshot is written.
    const { generation, rotated } = host.rotate();
    const queues = { ...source.queueOptions() };
    const schedules = source.scheduleRecords?.() ?? [];
    const { jobs: count } = source.liveSize();
    const jobs = source.captureLiveJobs();
    const ids = host.recentIds();
    const captureMs = performance.now() - started;
    log({ event: "compaction_started", generation, jobs: count, why, captureMs });

    const size = await writeSnapshot(
      host.dir,
      generation,
      queues,
      schedules,
      jobs,
      ids,
      () => rotated,
      this.#hooks(),
    );
    if (size === null) return;
    // Older files are no longer needed.
    for (const name of await listDir(host.dir)) {
      const match = SEGMENT.exec(name) ?? SNAPSHOT.exec(name);
      if (match && Number(match[1]) < generation) await remove(`${host.dir}/${name}`);
    }
    await syncDir(host.dir);
    host.compacted(size);
    this.#nextCheck = Math.max(this.#options.minBytes, size * this.#options.ratio);
    this.#last = new Date().toISOString();
    log({
      event: "compaction_done",
      generation,
      jobs: count,
      snapshotBytes: size,
      ms: Math.round(performance.now() - started),
    });
  }

  #hooks(): SnapshotHooks {
    const pauseMs = this.#options.pauseMs;
    return {
      log: this.#options.log,
      wrapFile: this.#options.wrapFile ?? ((file) => file),
      closed: () => this.#host.closed(),
      pause: () =>
        pauseMs > 0 ? new Promise((resolve) => setTimeout(resolve, pauseMs)) : Promise.resolve(),
    };
  }
}

/** How {@link writeSnapshot} reports, pauses (tests) and learns that the journal closed. */
interface SnapshotHooks {
  log: (event: Record<string, unknown>) => void;
  wrapFile: FileWrapper;
  closed(): boolean;
  pause(): Promise<void>;
}

/**
 * Writes snapshot `generation` of `dir` as a temp file in slices, fsyncs it,
 * waits for `ready` (segment `generation` exists), renames it into place
 * and fsyncs the directory. Returns its size, or null when the journal closed
 * meanwhile (the temp file is removed).
 */
async function writeSnapshot(
  dir: string,
  generation: number,
  queues: Record<string, QueueOptions>,
  schedules: Schedule[],
  jobs: Iterable<{ queue: string; job: Job }>,
  ids: IdList,
  ready: () => Promise<void>,
  hooks: SnapshotHooks,
): Promise<number | null> {
  const tmp = `${dir}/${tempSnapshotName(generation)}`;
  const final = `${dir}/${snapshotName(generation)}`;
  const file = hooks.wrapFile(await openFile(tmp, "create"));
  let ok = false;
  try {
    const writer = new RecordWriter(1024 * 1024);
    let position = 0;
    const flush = async () => {
      const bytes = writer.take();
      await file.write(bytes, position);
      position += bytes.length;
      writer.recycle(bytes);
      await hooks.pause();
    };
    await file.write(encodeHeader(FileKind.snapshot, generation), 0);
    position = HEADER_SIZE;
    writer.write({ t: "meta", queues, createdAt: Date.now(), schedules });
    let jobCount = 0;
    for (const { queue, job } of jobs) {
      writer.write({ t: "job", q: queue, job });
      jobCount++;
      if (writer.length >= 512 * 1024) {
        await flush();
        if (hooks.closed()) return null;
      }
    }
    for (const { q, id, at } of ids) {
      writer.write({ t: "id", q, id, at });
      if (writer.length >= 512 * 1024) {
        await flush();
        if (hooks.closed()) return null;
      }
    }
    writer.write({ t: "end", jobs: jobCount, ids: ids.length });
    await flush();
    // The whole file is committed: a snapshot cut short is refused, not read as a torn tail.
    await file.write(encodeHeader(FileKind.snapshot, generation, position), 0);
    await file.datasync();
    await ready();
    hooks.log({ event: "compaction_snapshot_written", generation, file: tmp, bytes: position });
    await hooks.pause();
    await rename(tmp, final);
    await syncDir(dir);
    ok = true;
    hooks.log({ event: "compaction_snapshot_renamed", generation, file: final });
    await hooks.pause();
    return position;
  } finally {
    await file.close().catch(() => {});
    if (!ok) await remove(tmp).catch(() => {});
  }
}
