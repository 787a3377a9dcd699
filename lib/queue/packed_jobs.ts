/**
 * Ready jobs packed into columns: what a queue holds when jobs pile up.
 *
 * A `Job` object costs 72 bytes, its id and payload strings 16 bytes of
 * header each plus their text, and the array slot holding it 8: about 150
 * bytes for a job whose text is 25 characters. A {@link PackedJobs} holds up
 * to {@link PACKED_JOBS} jobs of one priority in one `Uint32Array` (3 words a
 * job) and one string, and makes a `Job` again only when one is taken,
 * peeked at or listed.
 *
 * Ids and payloads are stored as what they do not share with the chunk's
 * first job (its reference): an id as its prefix length and the rest, a
 * payload as its prefix and suffix lengths and the middle. Ids made by one
 * client share their prefix (`k3_Zq9-bT1-2s`, `k3_Zq9-bT1-2t`), payloads
 * their JSON shape (`{"json":517}`), so most jobs keep a few characters.
 * Strings stay strings (UTF-16, exactly as given, lone surrogates included);
 * the middles are joined into one string per chunk.
 *
 * A chunk is immutable once made. Jobs that carry more than the plain fields (a history, a caller,
 * a reason, a retry policy) stay objects inside the chunk, and each taking
 * gets a copy, so the stored one never changes either.
 *
 * Once its queue has taken every job, a chunk's columns are freed at once
 * ({@link drained}) unless a capture still reads them ({@link hold}): a
 * chunk lives long enough to be old, and dropped memory of the old
 * generation waits for a full collection, which V8 puts off for seconds
 * while a drain goes on.
 */
import type { Job } from "./types.ts";
import { fingerprint, fingerprintJoined, type Seed } from "./fingerprint.ts";
import type { IdSequence } from "./seen_ids.ts";
import { releaseNow } from "../util/release.ts";

/** Jobs per chunk: large enough to spread the chunk's own cost, small enough to pack in one go. */
export const PACKED_JOBS = 512;
/** Words per job: seq - seqBase; the four lengths; end of its text | attempts. */
const WORDS = 3;
/** A shared prefix or suffix, an id's middle and attempts are stored in 8 bits. */
const BYTE = 255;
/** A chunk's text ends are stored in 24 bits. */
const MAX_TEXT = 0xff_ffff;

/** The fields of a plain job (as the broker makes them, in that order). */
const PLAIN_FIELDS = 6;

/**
 * @example
 * ```ts
 * const chunk = PackedJobs.pack(jobs, 0); // jobs of priority 0, in order
 * chunk.job(0); // a Job equal to jobs[0]
 * ```
 */
export class PackedJobs {
  readonly length: number;
  /** Characters of its jobs' ids and payloads (what a snapshot of them writes), counted when packed. */
  readonly textLength: number;
  /** The priority it was packed for. */
  readonly priority: number;
  /** Every job is packed (none kept whole), so every one is of {@link priority} and plain. */
  readonly plain: boolean;
  /** The highest seq among its jobs. */
  readonly maxSeq: number;
  /** The latest time one of its jobs became ready (0 if none was delayed). */
  readonly latestReadyAt: number;
  readonly #seqBase: number;
  readonly #words: Uint32Array;
  readonly #text: string;
  readonly #refId: string;
  readonly #refPayload: string;
  /** Jobs kept whole, by index; null when every job is packed. */
  readonly #objects: (Job | undefined)[] | null;
  /** When each job became ready, if any was delayed first (else every readyAt is 0). */
  readonly #readyAt: Float64Array | null;
  /** Captures that will still read it (a snapshot being written over many turns). */
  #readers = 0;
  /** Its queue took every job: freed as soon as no capture reads it. */
  #drained = false;

  private constructor(
    fields: {
      priority: number;
      seqBase: number;
      words: Uint32Array;
      text: string;
      refId: string;
      refPayload: string;
      objects: (Job | undefined)[] | null;
      readyAt: Float64Array | null;
      textLength: number;
      maxSeq: number;
    },
  ) {
    this.length = fields.words.length / WORDS;
    this.textLength = fields.textLength;
    this.priority = fields.priority;
    this.plain = fields.objects === null;
    this.maxSeq = fields.maxSeq;
    let latest = 0;
    for (const at of fields.readyAt ?? []) if (at > latest) latest = at;
    this.latestReadyAt = latest;
    this.#seqBase = fields.seqBase;
    this.#words = fields.words;
    this.#text = fields.text;
    this.#refId = fields.refId;
    this.#refPayload = fields.refPayload;
    this.#objects = fields.objects;
    this.#readyAt = fields.readyAt;
  }

  /** Packs `jobs` (all of `priority`, at most 2^24 jobs) in their order. */
  static pack(jobs: readonly Job[], priority: number): PackedJobs {
    const n = jobs.length;
    const words = new Uint32Array(n * WORDS);
    let objects: (Job | undefined)[] | null = null;
    let readyAt: Float64Array | null = null;
    let ref: Job | null = null;
    let seqBase = Infinity;
    let maxSeq = -Infinity;
    // Whether each job is packable, worked out once (it walks the job's keys).
    const plain = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const job = jobs[i];
      if (job.seq > maxSeq) maxSeq = job.seq;
      if (!packable(job, priority)) continue;
      plain[i] = 1;
      ref ??= job;
      if (job.seq < seqBase) seqBase = job.seq;
    }
    const refId = ref?.id ?? "";
    const refPayload = ref?.payload ?? "";
    const text = new TextBuilder();
    let end = 0;
    let textLength = 0;
    for (let i = 0; i < n; i++) {
      const job = jobs[i];
      const { id, payload } = job;
      textLength += id.length + payload.length;
      const w = i * WORDS;
      const idPre = ref === null ? 0 : sharedPrefix(id, refId);
      const payPre = ref === null ? 0 : sharedPrefix(payload, refPayload);
      const paySuf = ref === null ? 0 : sharedSuffix(payload, refPayload, payload.length - payPre);
      const idMid = id.length - idPre;
      const payMid = payload.length - payPre - paySuf;
      const delta = job.seq - seqBase;
      if (
        ref === null || plain[i] === 0 || idMid > BYTE || delta >= 0x1_0000_0000 ||
        end + idMid + payMid > MAX_TEXT
      ) {
        (objects ??= new Array(n))[i] = job;
        words[w + 2] = end;
        continue;
      }
      text.add(id, idPre, id.length);
      text.add(payload, payPre, payPre + payMid);
      end += idMid + payMid;
      words[w] = delta;
      words[w + 1] = (idPre | (idMid << 8) | (payPre << 16) | (paySuf << 24)) >>> 0;
      words[w + 2] = (end | (job.attempts << 24)) >>> 0;
      // A job that was delayed keeps when it became ready.
      if (job.readyAt !== 0) (readyAt ??= new Float64Array(n))[i] = job.readyAt;
    }
    return new PackedJobs({
      priority,
      seqBase: seqBase === Infinity ? 0 : seqBase,
      words,
      text: text.finish(),
      refId,
      refPayload,
      objects,
      readyAt,
      textLength,
      maxSeq,
    });
  }

  /** A capture will read the chunk later: its columns stay until {@link unhold}. */
  hold(): void {
    this.#readers++;
  }

  /** A capture is done with the chunk. */
  unhold(): void {
    if (--this.#readers === 0 && this.#drained) this.#free();
  }

  /**
   * Its queue has taken every job and drops it: the columns are freed now,
   * or when the last capture reading them is done. Nothing reads it after.
   */
  drained(): void {
    this.#drained = true;
    if (this.#readers === 0) this.#free();
  }

  /** Whether its columns were freed (its queue and every capture are done with it). */
  get freed(): boolean {
    return this.length > 0 && this.#words.length === 0;
  }

  #free(): void {
    releaseNow(this.#words);
    if (this.#readyAt !== null) releaseNow(this.#readyAt);
  }

  /** The seq of job `i`, without making the job. */
  seq(i: number): number {
    const kept = this.#objects?.[i];
    return kept !== undefined ? kept.seq : this.#seqBase + this.#words[i * WORDS];
  }

  /** The fingerprint of job `i`'s id (see fingerprint.ts), without making the id. */
  fingerprint(i: number, seed: Seed, out: Uint32Array): void {
    const kept = this.#objects?.[i];
    if (kept !== undefined) return fingerprint(kept.id, seed, out);
    const lengths = this.#words[i * WORDS + 1];
    const start = this.#textStart(i);
    const end = start + ((lengths >>> 8) & BYTE);
    fingerprintJoined(this.#refId, lengths & BYTE, this.#text, start, end, seed, out);
  }

  /** The id of job `i`, without making the job. */
  id(i: number): string {
    const kept = this.#objects?.[i];
    return kept !== undefined ? kept.id : this.#id(i, this.#textStart(i));
  }

  /** Where job `i`'s text (the middle of its id, then of its payload) starts. */
  #textStart(i: number): number {
    return i === 0 ? 0 : this.#words[i * WORDS - 1] & MAX_TEXT;
  }

  /** The id of packed job `i`, whose text starts at `start`. */
  #id(i: number, start: number): string {
    const lengths = this.#words[i * WORDS + 1];
    const idMid = this.#text.slice(start, start + ((lengths >>> 8) & BYTE));
    const idPre = lengths & BYTE;
    return idPre === 0 ? idMid : this.#refId.slice(0, idPre) + idMid;
  }

  /** Job `i` as a fresh object (the caller may change it). */
  job(i: number): Job {
    const kept = this.#objects?.[i];
    if (kept !== undefined) return copyJob(kept);
    const words = this.#words;
    const w = i * WORDS;
    const lengths = words[w + 1];
    const start = this.#textStart(i);
    const idEnd = start + ((lengths >>> 8) & BYTE);
    const payPre = (lengths >>> 16) & BYTE;
    const paySuf = lengths >>> 24;
    const payMid = this.#text.slice(idEnd, words[w + 2] & MAX_TEXT);
    const ref = this.#refPayload;
    return {
      seq: this.#seqBase + words[w],
      id: this.#id(i, start),
      payload: (payPre === 0 ? "" : ref.slice(0, payPre)) + payMid +
        (paySuf === 0 ? "" : ref.slice(ref.length - paySuf)),
      priority: this.priority,
      attempts: words[w + 2] >>> 24,
      readyAt: this.#readyAt === null ? 0 : this.#readyAt[i],
    };
  }
}

/** The live jobs of a queue in the order they came: packed chunks and single jobs. */
export type LiveJobs = readonly (Job | PackedJobs)[];

/** How many jobs `list` holds. */
export function countJobs(list: LiveJobs): number {
  let n = 0;
  for (const part of list) n += part instanceof PackedJobs ? part.length : 1;
  return n;
}

/**
 * The fingerprints of `list`'s jobs' ids by position (see seen_ids.ts),
 * without making the ids of packed jobs; quickest read first to last.
 */
export function idsOf(list: LiveJobs): IdSequence {
  let part = 0;
  let start = 0;
  return {
    length: countJobs(list),
    fingerprint(i: number, seed: Seed, out: Uint32Array): void {
      if (i < start) part = start = 0;
      for (;;) {
        const p = list[part];
        const n = p instanceof PackedJobs ? p.length : 1;
        if (i < start + n) {
          return p instanceof PackedJobs
            ? p.fingerprint(i - start, seed, out)
            : fingerprint(p.id, seed, out);
        }
        start += n;
        part++;
      }
    },
  };
}

/** The jobs of `list` one by one (packed ones made afresh). */
export function* eachJob(list: LiveJobs): IterableIterator<Job> {
  for (const part of list) {
    if (!(part instanceof PackedJobs)) yield part;
    else for (let i = 0; i < part.length; i++) yield part.job(i);
  }
}

/**
 * A UTF-16LE decoder, if the runtime has one and stores a Uint16Array's code
 * units little-endian (what it reads); else null, and pieces are sliced.
 * ignoreBOM: a text that starts with U+FEFF keeps it (by default it is dropped).
 */
const utf16 = (() => {
  if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1) return null;
  try {
    return new TextDecoder("utf-16le", { ignoreBOM: true });
  } catch {
    return null;
  }
})();

/**
 * Joins many short pieces of strings into one string. Slicing each piece
 * would make a string apiece, the most of what packing a chunk cost; short
 * pieces are copied as code units into one buffer instead, made a string
 * at the end by one decoder call. A piece with a surrogate, or a long one,
 * is kept as a slice (the decoder would replace a lone surrogate).
 */
class TextBuilder {
  /** Shared by every builder: one chunk is packed at a time, and nothing awaits in between. */
  static readonly #units = new Uint16Array(8192);
  readonly #parts: string[] = [];
  #length = 0;

  /** Appends `text.slice(from, to)`. */
  add(text: string, from: number, to: number): void {
    const n = to - from;
    if (n <= 0) return;
    if (n <= 64 && utf16 !== null) {
      const units = TextBuilder.#units;
      if (this.#length + n > units.length) this.#flush();
      let at = this.#length;
      let i = from;
      for (; i < to; i++) {
        const c = text.charCodeAt(i);
        if (c >= 0xd800 && c <= 0xdfff) break;
        units[at++] = c;
      }
      if (i === to) {
        this.#length = at;
        return;
      }
    }
    this.#flush();
    this.#parts.push(from === 0 && to === text.length ? text : text.slice(from, to));
  }

  finish(): string {
    this.#flush();
    return this.#parts.length === 1 ? this.#parts[0] : this.#parts.join("");
  }

  #flush(): void {
    if (this.#length === 0) return;
    this.#parts.push(utf16!.decode(new Uint8Array(TextBuilder.#units.buffer, 0, this.#length * 2)));
    this.#length = 0;
  }
}

/** A copy of a job that shares nothing that the broker changes in place (its history). */
export function copyJob(job: Job): Job {
  const copy = { ...job };
  if (job.history !== undefined) copy.history = job.history.slice();
  return copy;
}

/** Whether `job` has only the plain fields, with values that fit the columns. */
function packable(job: Job, priority: number): boolean {
  if ((job.attempts & BYTE) !== job.attempts || job.priority !== priority) return false;
  if (!Number.isSafeInteger(job.seq) || !Number.isFinite(job.readyAt)) return false;
  // Counted rather than named: a field added to Job one day must not be lost by packing.
  let fields = 0;
  for (const _ in job) fields++;
  return fields === PLAIN_FIELDS;
}

function sharedPrefix(a: string, b: string): number {
  const max = Math.min(a.length, b.length, BYTE);
  let n = 0;
  while (n < max && a.charCodeAt(n) === b.charCodeAt(n)) n++;
  return n;
}

/** The suffix `a` shares with `b`, at most `room` long (what is left of `a` after its prefix). */
function sharedSuffix(a: string, b: string, room: number): number {
  const max = Math.min(room, b.length, BYTE);
  let n = 0;
  while (n < max && a.charCodeAt(a.length - 1 - n) === b.charCodeAt(b.length - 1 - n)) n++;
  return n;
}
