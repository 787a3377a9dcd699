/**
 * The journal's binary format, with no I/O: a file header, and records framed
 * by a length and a CRC-32 so a torn or corrupt record is detected.
 *
 * ```
 * file   = header record*
 * header = "TASKWIRE" (8 bytes) | version u16 | kind u8 | 0 u8 | generation u32
 *          | committed u64 | crc32(bytes 8..24) u32 | 0 u32           (32 bytes, little-endian)
 * record = bodyLength u32 | crc32(body) u32 | body
 * body   = type u8 | fields...
 * ```
 *
 * `committed` is a length of the file known to be on disk: the journal
 * rewrites it (12 bytes at offset 16, in the block it already syncs) with the
 * length its last fsync covered, so it never claims bytes that were not yet
 * durable. Recovery uses it to tell a torn tail (past `committed`: records
 * never acknowledged, cut) from lost or damaged acknowledged records (before
 * it: refused), which record checksums alone cannot: a file cut exactly at a
 * record boundary looks complete. Version 1 headers (16 bytes, no
 * `committed`) are still read.
 *
 * Fields are strings (u32 byte length + UTF-8), byte strings (u32 length +
 * bytes) and numbers (f64, so every safe integer and epoch ms fits). The
 * types are the broker's {@link JournalRecord}s plus the snapshot records
 * (`job`, `id`, `meta`, `end`).
 */
import { ErrorCode, TaskwireError } from "../protocol/errors.ts";
import type {
  Attempt,
  Backoff,
  Job,
  JournalRecord,
  QueueOptions,
  Schedule,
} from "../queue/types.ts";
import { decodeUtf8 } from "../util/utf8.ts";

/**
 * A problem with the data directory: unreadable, locked, corrupt, newer
 * format, full disk. Code `internal`, or `unavailable` for the store's
 * refusal of new puts while its disk is full or failed (see `Store.health`).
 */
export class StoreError extends TaskwireError {
  constructor(message: string, options?: ErrorOptions, code: ErrorCode = ErrorCode.Internal) {
    super(code, message, options);
  }
}

/** The format version this build writes; it reads this and older ones. */
export const FORMAT_VERSION = 2;
/** Bytes of a file header (version 2; version 1 headers had 16). */
export const HEADER_SIZE = 32;
/** Where a header's `committed` field starts; {@link encodeCommitted} writes from here. */
export const COMMITTED_OFFSET = 16;
/** Bytes before a record's body: length and CRC-32. */
export const RECORD_OVERHEAD = 8;
/**
 * Largest record body: the format's own limit (a u32 length), so reading
 * never depends on a limit of the god. Whatever `maxPayloadBytes` and
 * `maxFrameSize` were when a put was acknowledged, its record reads back
 * under any other setting. (A JavaScript string of the longest length there
 * is encodes to less than this.) Reading allocates at most the file's size.
 */
export const MAX_RECORD = 0xffff_ffff;

const MAGIC = [0x54, 0x41, 0x53, 0x4b, 0x57, 0x49, 0x52, 0x45]; // "TASKWIRE"

/** What a file holds. */
export const FileKind = { journal: 1, snapshot: 2 } as const;
export type FileKind = typeof FileKind[keyof typeof FileKind];

/** Record type bytes. */
export const RecordType = {
  declare: 1,
  put: 2,
  ack: 3,
  return: 4,
  dead: 5,
  requeue: 6,
  purge: 7,
  complete: 8,
  extra: 9,
  schedule: 10,
  unschedule: 11,
  fired: 12,
  // snapshot records
  meta: 16,
  job: 17,
  id: 18,
  end: 19,
} as const;

/** A record as stored: a broker change, or a snapshot part. */
export type StoredRecord =
  | Exclude<JournalRecord, { t: "put" | "purge" | "complete" }>
  /** `at`: when the put was journaled (epoch ms), for the dedupe window after a restart. */
  | { t: "put"; q: string; job: Job; at?: number }
  /** `at`: when a complete with a result was journaled, as for a put. */
  | { t: "complete"; q: string; seq: number; put?: { q: string; job: Job }; at?: number }
  /** `keep`: seqs of the queue's jobs in flight at the purge, which the broker keeps. */
  | { t: "purge"; q: string; keep?: number[] }
  /** `schedules`: absent in snapshots from before schedules. */
  | {
    t: "meta";
    queues: Record<string, QueueOptions>;
    createdAt: number;
    schedules?: Schedule[];
  }
  | { t: "job"; q: string; job: Job }
  | { t: "id"; q: string; id: string; at: number }
  | { t: "end"; jobs: number; ids: number };

// -- CRC-32 (IEEE 802.3, as zlib), slicing-by-4 --

const CRC_TABLE = (() => {
  const table = new Int32Array(1024);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = table[n];
    for (let k = 1; k < 4; k++) {
      c = table[c & 0xff] ^ (c >>> 8);
      table[k * 256 + n] = c;
    }
  }
  return table;
})();

/**
 * CRC-32 of `bytes[start, end)`.
 *
 * @example
 * ```ts
 * crc32(new TextEncoder().encode("123456789")); // 0xcbf43926
 * ```
 */
export function crc32(bytes: Uint8Array, start = 0, end: number = bytes.length): number {
  const t = CRC_TABLE;
  let c = -1;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    c ^= bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    c = t[768 + (c & 0xff)] ^ t[512 + ((c >>> 8) & 0xff)] ^ t[256 + ((c >>> 16) & 0xff)] ^
      t[c >>> 24];
  }
  for (; i < end; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

// -- header --

const V1_HEADER_SIZE = 16;

/**
 * The 32-byte header of a journal or snapshot file; `committed` (default:
 * the header alone) is the file length known to be durable.
 */
export function encodeHeader(
  kind: FileKind,
  generation: number,
  committed: number = HEADER_SIZE,
): Uint8Array {
  const bytes = new Uint8Array(HEADER_SIZE);
  bytes.set(MAGIC, 0);
  const view = new DataView(bytes.buffer);
  view.setUint16(8, FORMAT_VERSION, true);
  bytes[10] = kind;
  view.setUint32(12, generation, true);
  bytes.set(encodeCommitted(kind, generation, committed), COMMITTED_OFFSET);
  return bytes;
}

/**
 * The 12 bytes at {@link COMMITTED_OFFSET} of a header that say the file's
 * first `committed` bytes are durable (with their checksum, which covers the
 * header's version, kind and generation too).
 */
export function encodeCommitted(kind: FileKind, generation: number, committed: number): Uint8Array {
  const covered = new Uint8Array(16); // header bytes 8..24
  const view = new DataView(covered.buffer);
  view.setUint16(0, FORMAT_VERSION, true);
  covered[2] = kind;
  view.setUint32(4, generation, true);
  view.setUint32(8, committed % 0x1_0000_0000, true);
  view.setUint32(12, Math.floor(committed / 0x1_0000_0000), true);
  const out = new Uint8Array(12);
  out.set(covered.subarray(8, 16), 0);
  new DataView(out.buffer).setUint32(8, crc32(covered), true);
  return out;
}

/** A parsed header, or why it is not one. */
export type HeaderResult =
  | {
    ok: true;
    version: number;
    kind: FileKind;
    generation: number;
    /** Bytes of the header (16 in version 1, 32 since). */
    size: number;
    /**
     * The file length known to be durable; null in version 1 files, and when
     * the field's checksum fails (`committedUnreadable`).
     */
    committed: number | null;
    committedUnreadable: boolean;
  }
  | { ok: false; reason: "short" | "magic" | "kind" | "newer"; version?: number };

/** Reads a header from the first bytes of a file (32 are enough). */
export function decodeHeader(bytes: Uint8Array): HeaderResult {
  if (bytes.length < V1_HEADER_SIZE) return { ok: false, reason: "short" };
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) return { ok: false, reason: "magic" };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const version = view.getUint16(8, true);
  if (version > FORMAT_VERSION) return { ok: false, reason: "newer", version };
  const kind = bytes[10];
  if (kind !== FileKind.journal && kind !== FileKind.snapshot) return { ok: false, reason: "kind" };
  const generation = view.getUint32(12, true);
  if (version <= 1) {
    return {
      ok: true,
      version,
      kind: kind as FileKind,
      generation,
      size: V1_HEADER_SIZE,
      committed: null,
      committedUnreadable: false,
    };
  }
  if (bytes.length < HEADER_SIZE) return { ok: false, reason: "short" };
  const intact = view.getUint32(24, true) === crc32(bytes, 8, 24);
  const committed = view.getUint32(16, true) + view.getUint32(20, true) * 0x1_0000_0000;
  return {
    ok: true,
    version,
    kind: kind as FileKind,
    generation,
    size: HEADER_SIZE,
    committed: intact ? committed : null,
    committedUnreadable: !intact,
  };
}

// -- writing --

const encoder = new TextEncoder();

/**
 * A growable byte buffer that records are framed into. `take()` hands over
 * what was written and starts afresh.
 */
export class RecordWriter {
  #bytes: Uint8Array;
  #view: DataView;
  #length = 0;
  /** A written buffer given back for reuse. */
  #spare: ArrayBuffer | null = null;
  /** Encoded queue names, reused: a god has few queues and names repeat in every record. */
  readonly #names = new Map<string, Uint8Array>();

  constructor(initialSize = 64 * 1024) {
    this.#bytes = new Uint8Array(initialSize);
    this.#view = new DataView(this.#bytes.buffer);
  }

  /** Bytes written and not yet taken. */
  get length(): number {
    return this.#length;
  }

  /**
   * Hands over the bytes written so far; from now on another buffer is
   * written: the one last given back with {@link recycle} if it is large
   * enough, else a fresh one.
   */
  take(): Uint8Array {
    const out = this.#bytes.subarray(0, this.#length);
    const size = Math.max(64 * 1024, Math.min(this.#bytes.length, 4 * 1024 * 1024));
    const spare = this.#spare;
    this.#spare = null;
    this.#bytes = spare !== null && spare.byteLength >= size
      ? new Uint8Array(spare)
      : new Uint8Array(size);
    this.#view = new DataView(this.#bytes.buffer);
    this.#length = 0;
    return out;
  }

  /**
   * Gives back bytes from {@link take} once they are written and nothing
   * reads them any more; the next `take` reuses their buffer. A busy journal
   * takes hundreds of buffers a second: left to the collector, the dead ones
   * add up to tens of megabytes before it runs.
   */
  recycle(bytes: Uint8Array): void {
    const buffer = bytes.buffer;
    if (!(buffer instanceof ArrayBuffer) || buffer === this.#bytes.buffer) return;
    if (this.#spare === null || buffer.byteLength > this.#spare.byteLength) this.#spare = buffer;
  }

  /**
   * Appends one framed record; returns its size in bytes including the frame.
   * `now` is stored with puts (the time their id counts from for dedupe).
   */
  write(record: StoredRecord, now = 0): number {
    const start = this.#length;
    this.#reserve(RECORD_OVERHEAD + 64);
    this.#length += RECORD_OVERHEAD;
    this.#body(record, now);
    const bodyLength = this.#length - start - RECORD_OVERHEAD;
    if (bodyLength > MAX_RECORD) {
      // Cannot happen with JavaScript strings; refuse rather than write a record that reads back wrong.
      this.#length = start;
      throw new StoreError(
        `Cannot journal a ${record.t} record of ${bodyLength} bytes: the format's limit is ${MAX_RECORD}`,
      );
    }
    this.#view.setUint32(start, bodyLength, true);
    this.#view.setUint32(
      start + 4,
      crc32(this.#bytes, start + RECORD_OVERHEAD, this.#length),
      true,
    );
    return this.#length - start;
  }

  #body(r: StoredRecord, now: number): void {
    switch (r.t) {
      case "declare":
        this.#u8(RecordType.declare);
        this.#name(r.q);
        this.#str(JSON.stringify(r.options));
        return;
      case "put":
        this.#u8(RecordType.put);
        this.#name(r.q);
        this.#job(r.job);
        this.#f64(r.at ?? now);
        return;
      case "ack":
        this.#u8(RecordType.ack);
        this.#name(r.q);
        this.#f64(r.seq);
        return;
      case "complete":
        this.#u8(RecordType.complete);
        this.#name(r.q);
        this.#f64(r.seq);
        if (r.put === undefined) {
          this.#u8(0);
        } else {
          this.#u8(1);
          this.#name(r.put.q);
          this.#job(r.put.job);
          this.#f64(now);
        }
        return;
      case "return":
        this.#u8(RecordType.return);
        this.#name(r.q);
        this.#f64(r.seq);
        this.#f64(r.attempts);
        this.#f64(r.readyAt);
        if (r.attempt !== undefined) this.#attempt(r.attempt);
        return;
      case "dead":
        this.#u8(RecordType.dead);
        this.#name(r.q);
        this.#f64(r.seq);
        this.#name(r.to);
        this.#str(r.reason);
        this.#f64(r.attempts);
        if (r.attempt !== undefined) this.#attempt(r.attempt);
        return;
      case "extra":
        this.#u8(RecordType.extra);
        this.#name(r.q);
        this.#f64(r.seq);
        this.#str(JSON.stringify({ backoff: r.backoff, history: r.history }));
        return;
      case "schedule":
        this.#u8(RecordType.schedule);
        this.#str(JSON.stringify(r.schedule));
        return;
      case "unschedule":
        this.#u8(RecordType.unschedule);
        this.#str(r.name);
        return;
      case "fired":
        this.#u8(RecordType.fired);
        this.#str(r.name);
        this.#f64(r.slot);
        return;
      case "requeue":
        this.#u8(RecordType.requeue);
        this.#name(r.q);
        this.#f64(r.seq);
        this.#name(r.to);
        return;
      case "purge": {
        this.#u8(RecordType.purge);
        this.#name(r.q);
        const keep = r.keep ?? [];
        this.#f64(keep.length);
        for (const seq of keep) this.#f64(seq);
        return;
      }
      case "meta":
        this.#u8(RecordType.meta);
        this.#str(
          JSON.stringify({ queues: r.queues, createdAt: r.createdAt, schedules: r.schedules }),
        );
        return;
      case "job":
        this.#u8(RecordType.job);
        this.#name(r.q);
        this.#job(r.job);
        this.#str(r.job.reason ?? "");
        this.#str(r.job.origin ?? "");
        // Optional, at the end (older snapshots end before it): a retry policy and a history.
        if (r.job.backoff !== undefined || r.job.history !== undefined) {
          this.#str(JSON.stringify({ backoff: r.job.backoff, history: r.job.history }));
        }
        return;
      case "id":
        this.#u8(RecordType.id);
        this.#name(r.q);
        this.#str(r.id);
        this.#f64(r.at);
        return;
      case "end":
        this.#u8(RecordType.end);
        this.#f64(r.jobs);
        this.#f64(r.ids);
        return;
    }
  }

  /** An attempt that did not finish, after the fixed fields of a return or dead record (optional). */
  #attempt(attempt: Attempt): void {
    this.#f64(attempt.at);
    this.#str(attempt.by);
    this.#str(attempt.why);
  }

  #job(job: Job): void {
    this.#f64(job.seq);
    this.#str(job.id);
    this.#str(job.payload);
    this.#f64(job.priority);
    this.#f64(job.attempts);
    this.#f64(job.readyAt);
  }

  #reserve(extra: number): void {
    const need = this.#length + extra;
    if (need <= this.#bytes.length) return;
    let size = this.#bytes.length * 2;
    while (size < need) size *= 2;
    const bytes = new Uint8Array(size);
    bytes.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer);
  }

  #u8(value: number): void {
    this.#reserve(1);
    this.#bytes[this.#length++] = value;
  }

  #f64(value: number): void {
    this.#reserve(8);
    this.#view.setFloat64(this.#length, value, true);
    this.#length += 8;
  }

  #bytesField(value: Uint8Array): void {
    this.#reserve(4 + value.length);
    this.#view.setUint32(this.#length, value.length, true);
    this.#bytes.set(value, this.#length + 4);
    this.#length += 4 + value.length;
  }

  #name(value: string): void {
    let bytes = this.#names.get(value);
    if (bytes === undefined) {
      bytes = encoder.encode(value);
      if (this.#names.size < 10_000) this.#names.set(value, bytes);
    }
    this.#bytesField(bytes);
  }

  #str(value: string): void {
    // Most text is ASCII (one byte per UTF-16 unit): try with room for that
    // first, so a 100 MB payload does not make a 300 MB buffer; text that
    // needs more is encoded again with room for the worst case (3 bytes per unit).
    this.#reserve(4 + value.length);
    const first = encoder.encodeInto(value, this.#bytes.subarray(this.#length + 4));
    let written = first.written;
    if (first.read < value.length) {
      this.#reserve(4 + value.length * 3);
      written = encoder.encodeInto(value, this.#bytes.subarray(this.#length + 4)).written;
    }
    this.#view.setUint32(this.#length, written, true);
    this.#length += 4 + written;
  }
}

/**
 * Frames one record on its own (tests and one-off writes).
 *
 * @example
 * ```ts
 * const bytes = encodeRecord({ t: "ack", q: "tasks", seq: 7 });
 * ```
 */
export function encodeRecord(record: StoredRecord): Uint8Array {
  const writer = new RecordWriter(256);
  writer.write(record);
  return writer.take();
}

// -- reading --

/** What {@link readRecord} found at an offset. */
export type ReadResult =
  | { ok: true; record: StoredRecord; size: number }
  /** Not enough bytes for the record the length announces (a torn tail, or read more). */
  | { ok: false; reason: "short"; need: number }
  /** Bad length, bad checksum or a body that does not decode. */
  | { ok: false; reason: "corrupt"; detail: string };

/**
 * Reads the record at `offset` of `bytes`. Payloads are copied out, so the
 * buffer can be reused.
 */
export function readRecord(bytes: Uint8Array, offset: number): ReadResult {
  const available = bytes.length - offset;
  if (available < RECORD_OVERHEAD) return { ok: false, reason: "short", need: RECORD_OVERHEAD };
  const length = u32(bytes, offset);
  if (length === 0 || length > MAX_RECORD) {
    return { ok: false, reason: "corrupt", detail: `record length ${length} is out of range` };
  }
  if (available < RECORD_OVERHEAD + length) {
    return { ok: false, reason: "short", need: RECORD_OVERHEAD + length };
  }
  const start = offset + RECORD_OVERHEAD;
  const expected = u32(bytes, offset + 4);
  const actual = crc32(bytes, start, start + length);
  if (actual !== expected) {
    return {
      ok: false,
      reason: "corrupt",
      detail: `checksum mismatch (stored ${hex(expected)}, computed ${hex(actual)})`,
    };
  }
  try {
    const record = reader.read(bytes, start, start + length);
    return { ok: true, record, size: RECORD_OVERHEAD + length };
  } catch (error) {
    return { ok: false, reason: "corrupt", detail: (error as Error).message };
  }
}

function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

const NO_BYTES = new Uint8Array(0);
/**
 * Numbers are read through these 8 bytes: a DataView of the caller's buffer
 * would have to be made anew for each record or kept (and with it, the
 * buffer: recovery's last 8 MB read, for the life of the process).
 */
const f64Bytes = new Uint8Array(8);
const f64Value = new Float64Array(f64Bytes.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Decodes record bodies. One instance is reused: it keeps the names it
 * decoded last (queue names repeat in nearly every record), so replaying a
 * long journal allocates little besides the jobs. It keeps no reference to a
 * buffer it has read.
 */
class BodyReader {
  #bytes: Uint8Array = NO_BYTES;
  #at = 0;
  #end = 0;
  readonly #names: { bytes: Uint8Array; text: string }[] = [];

  read(bytes: Uint8Array, start: number, end: number): StoredRecord {
    this.#bytes = bytes;
    this.#at = start;
    this.#end = end;
    try {
      return this.#record();
    } finally {
      this.#bytes = NO_BYTES;
    }
  }

  #record(): StoredRecord {
    const type = this.#u8();
    let record: StoredRecord;
    switch (type) {
      case RecordType.declare:
        record = { t: "declare", q: this.#name(), options: this.#json() as QueueOptions };
        break;
      case RecordType.put:
        record = { t: "put", q: this.#name(), job: this.#job(), at: this.#f64() };
        break;
      case RecordType.ack:
        record = { t: "ack", q: this.#name(), seq: this.#f64() };
        break;
      case RecordType.complete: {
        const q = this.#name();
        const seq = this.#f64();
        record = this.#u8() === 0
          ? { t: "complete", q, seq }
          : { t: "complete", q, seq, put: { q: this.#name(), job: this.#job() }, at: this.#f64() };
        break;
      }
      case RecordType.return: {
        const r: StoredRecord = {
          t: "return",
          q: this.#name(),
          seq: this.#f64(),
          attempts: this.#f64(),
          readyAt: this.#f64(),
        };
        const attempt = this.#attempt();
        if (attempt !== undefined) r.attempt = attempt;
        record = r;
        break;
      }
      case RecordType.dead: {
        const r: StoredRecord = {
          t: "dead",
          q: this.#name(),
          seq: this.#f64(),
          to: this.#name(),
          reason: this.#str(),
          attempts: this.#f64(),
        };
        const attempt = this.#attempt();
        if (attempt !== undefined) r.attempt = attempt;
        record = r;
        break;
      }
      case RecordType.extra: {
        const q = this.#name();
        const seq = this.#f64();
        const extra = this.#json() as { backoff?: Backoff; history?: Attempt[] };
        record = { t: "extra", q, seq };
        if (extra.backoff !== undefined) record.backoff = extra.backoff;
        if (extra.history !== undefined) record.history = extra.history;
        break;
      }
      case RecordType.schedule:
        record = { t: "schedule", schedule: this.#json() as Schedule };
        break;
      case RecordType.unschedule:
        record = { t: "unschedule", name: this.#str() };
        break;
      case RecordType.fired:
        record = { t: "fired", name: this.#str(), slot: this.#f64() };
        break;
      case RecordType.requeue:
        record = { t: "requeue", q: this.#name(), seq: this.#f64(), to: this.#name() };
        break;
      case RecordType.purge: {
        const q = this.#name();
        const count = this.#f64();
        if (!Number.isSafeInteger(count) || count < 0 || count * 8 > this.#end - this.#at) {
          throw new StoreError(`purge record with a bad count ${count}`);
        }
        const keep: number[] = [];
        for (let i = 0; i < count; i++) keep.push(this.#f64());
        record = { t: "purge", q, keep };
        break;
      }
      case RecordType.meta: {
        const meta = this.#json() as {
          queues: Record<string, QueueOptions>;
          createdAt: number;
          schedules?: Schedule[];
        };
        record = { t: "meta", queues: meta.queues, createdAt: meta.createdAt };
        if (meta.schedules !== undefined) record.schedules = meta.schedules;
        break;
      }
      case RecordType.job: {
        const q = this.#name();
        const job = this.#job();
        const reason = this.#str();
        const origin = this.#str();
        if (reason !== "") job.reason = reason;
        if (origin !== "") job.origin = origin;
        if (this.#at < this.#end) {
          const extra = this.#json() as { backoff?: Backoff; history?: Attempt[] };
          if (extra.backoff !== undefined) job.backoff = extra.backoff;
          if (extra.history !== undefined) job.history = extra.history;
        }
        record = { t: "job", q, job };
        break;
      }
      case RecordType.id:
        record = { t: "id", q: this.#name(), id: this.#str(), at: this.#f64() };
        break;
      case RecordType.end:
        record = { t: "end", jobs: this.#f64(), ids: this.#f64() };
        break;
      default:
        throw new StoreError(`unknown record type ${type}`);
    }
    if (this.#at !== this.#end) {
      throw new StoreError(`record type ${type} has ${this.#end - this.#at} extra bytes`);
    }
    return record;
  }

  /** The optional attempt at the end of a return or dead record (older journals have none). */
  #attempt(): Attempt | undefined {
    if (this.#at >= this.#end) return undefined;
    return { at: this.#f64(), by: this.#str(), why: this.#str() };
  }

  #job(): Job {
    return {
      seq: this.#f64(),
      id: this.#str(),
      payload: this.#str(),
      priority: this.#f64(),
      attempts: this.#f64(),
      readyAt: this.#f64(),
    };
  }

  #need(n: number): void {
    if (this.#at + n > this.#end) throw new StoreError("record body is cut short");
  }

  #u8(): number {
    this.#need(1);
    return this.#bytes[this.#at++];
  }

  /** A little-endian float64, as the writer's DataView puts it. */
  #f64(): number {
    this.#need(8);
    const bytes = this.#bytes;
    const at = this.#at;
    for (let i = 0; i < 8; i++) f64Bytes[littleEndian ? i : 7 - i] = bytes[at + i];
    this.#at = at + 8;
    return f64Value[0];
  }

  /** Moves past a length-prefixed field; returns where its bytes start. */
  #span(): number {
    this.#need(4);
    const length = u32(this.#bytes, this.#at);
    this.#at += 4;
    this.#need(length);
    const start = this.#at;
    this.#at += length;
    return start;
  }

  #str(): string {
    const start = this.#span();
    return decodeUtf8(this.#bytes, start, this.#at);
  }

  /** A queue name: the same few repeat, so reuse the strings. */
  #name(): string {
    const start = this.#span();
    const end = this.#at;
    const bytes = this.#bytes;
    const names = this.#names;
    search: for (let n = 0; n < names.length; n++) {
      const known = names[n].bytes;
      if (known.length !== end - start) continue;
      for (let i = 0; i < known.length; i++) if (known[i] !== bytes[start + i]) continue search;
      return names[n].text;
    }
    const text = decodeUtf8(bytes, start, end);
    if (names.length >= 16) names.pop();
    names.unshift({ bytes: bytes.slice(start, end), text });
    return text;
  }

  #json(): unknown {
    return JSON.parse(this.#str());
  }
}

const reader = new BodyReader();
