/**
 * A pickle subset for the Python door, both ways, written here so that
 * nothing can run: the decoder is an interpreter of **data opcodes only**
 * (protocols 2–5 as CPython 3.6–3.14 emit them for plain values), and the
 * only globals it knows are `builtins.set` and `builtins.frozenset` — which
 * protocols 2 and 3 use to spell sets — and even those are never called: a
 * REDUCE of one of them with a list builds a {@link PySet} here. Every other
 * global, and every opcode that builds objects (REDUCE, BUILD, INST, OBJ,
 * NEWOBJ, NEWOBJ_EX), loads persistent ids or the extension registry, or
 * brings out-of-band buffers, is refused with a {@link PickleError} naming it.
 * Sizes, items and memo entries are bounded before anything is allocated.
 *
 * The encoder writes protocol 4 (which every Python ≥ 3.4 reads) and can only
 * express data, the `queue.Empty` / `queue.Full` exceptions, and tuples of
 * those (the manager's reply tuples).
 */
import { ArgumentError, ErrorCode, ProtocolError } from "../protocol/errors.ts";
import { printable } from "../util/printable.ts";
import { decodeUtf8, encodeUtf8 } from "./text.ts";

/** A Python tuple. */
export class PyTuple {
  readonly items: readonly PyValue[];
  constructor(items: readonly PyValue[]) {
    this.items = items;
  }
}

/** A Python dict, in insertion order (keys are Python values, not only strings). */
export class PyDict {
  readonly entries: [PyValue, PyValue][];
  constructor(entries: [PyValue, PyValue][] = []) {
    this.entries = entries;
  }
}

/** A Python set or frozenset. */
export class PySet {
  readonly items: PyValue[];
  readonly frozen: boolean;
  constructor(items: PyValue[], frozen: boolean) {
    this.items = items;
    this.frozen = frozen;
  }
}

/**
 * A global the decoder met (`builtins.set` or `builtins.frozenset` only). It
 * is a name, never a callable; as a value it cannot be converted.
 */
export class PyGlobal {
  readonly module: string;
  readonly name: string;
  constructor(module: string, name: string) {
    this.module = module;
    this.name = name;
  }
}

/** An exception instance the encoder can send: only `queue.Empty` and `queue.Full`. */
export class PyException {
  readonly name: "Empty" | "Full";
  constructor(name: "Empty" | "Full") {
    this.name = name;
  }
}

/**
 * A Python value as the door sees it: `None` is null, `bool` boolean, `int`
 * bigint (always, so ints and floats stay apart), `float` number, `str`
 * string, `bytes` Uint8Array, `list` an array, and the classes above. The
 * decoder never makes a {@link PyException}; the encoder refuses a {@link PyGlobal}.
 */
export type PyValue =
  | null
  | boolean
  | bigint
  | number
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | PyDict
  | PySet
  | PyGlobal
  | PyException;

/** A pickle the door refuses to decode (the peer's fault); the message says why. */
export class PickleError extends ProtocolError {
  constructor(message: string) {
    super(ErrorCode.BadMessage, message);
  }
}

/** Bounds on what one pickle may make the decoder do. */
export interface PickleLimits {
  /** Largest pickle (bytes). */
  maxBytes: number;
  /** Values pushed on the stack in all (every scalar and container counts). */
  maxItems: number;
  /** Memo entries. */
  maxMemo: number;
  /** Largest `int` (bytes of its two's complement form; 8 KiB is about 19,700 digits). */
  maxIntBytes: number;
}

/** Defaults: generous for real messages, small enough to keep a hostile one cheap. */
export const DEFAULT_PICKLE_LIMITS: Readonly<PickleLimits> = Object.freeze({
  maxBytes: 16 * 1024 * 1024,
  maxItems: 1_000_000,
  maxMemo: 1_000_000,
  maxIntBytes: 8192,
});

/** Opcode bytes and their pickletools names (for messages). */
const OPCODE_NAMES: Record<number, string> = {
  0x49: "INT",
  0x4a: "BININT",
  0x4b: "BININT1",
  0x4d: "BININT2",
  0x4c: "LONG",
  0x8a: "LONG1",
  0x8b: "LONG4",
  0x53: "STRING",
  0x54: "BINSTRING",
  0x55: "SHORT_BINSTRING",
  0x42: "BINBYTES",
  0x43: "SHORT_BINBYTES",
  0x8e: "BINBYTES8",
  0x96: "BYTEARRAY8",
  0x97: "NEXT_BUFFER",
  0x98: "READONLY_BUFFER",
  0x4e: "NONE",
  0x88: "NEWTRUE",
  0x89: "NEWFALSE",
  0x56: "UNICODE",
  0x8c: "SHORT_BINUNICODE",
  0x58: "BINUNICODE",
  0x8d: "BINUNICODE8",
  0x46: "FLOAT",
  0x47: "BINFLOAT",
  0x5d: "EMPTY_LIST",
  0x61: "APPEND",
  0x65: "APPENDS",
  0x6c: "LIST",
  0x29: "EMPTY_TUPLE",
  0x74: "TUPLE",
  0x85: "TUPLE1",
  0x86: "TUPLE2",
  0x87: "TUPLE3",
  0x7d: "EMPTY_DICT",
  0x64: "DICT",
  0x73: "SETITEM",
  0x75: "SETITEMS",
  0x8f: "EMPTY_SET",
  0x90: "ADDITEMS",
  0x91: "FROZENSET",
  0x30: "POP",
  0x32: "DUP",
  0x28: "MARK",
  0x31: "POP_MARK",
  0x67: "GET",
  0x68: "BINGET",
  0x6a: "LONG_BINGET",
  0x70: "PUT",
  0x71: "BINPUT",
  0x72: "LONG_BINPUT",
  0x94: "MEMOIZE",
  0x82: "EXT1",
  0x83: "EXT2",
  0x84: "EXT4",
  0x63: "GLOBAL",
  0x93: "STACK_GLOBAL",
  0x52: "REDUCE",
  0x62: "BUILD",
  0x69: "INST",
  0x6f: "OBJ",
  0x81: "NEWOBJ",
  0x92: "NEWOBJ_EX",
  0x80: "PROTO",
  0x2e: "STOP",
  0x95: "FRAME",
  0x50: "PERSID",
  0x51: "BINPERSID",
};

/** Why each refused opcode is refused. */
const REFUSED: Record<string, string> = {
  REDUCE: "it calls a callable",
  BUILD: "it sets an object's state (calls __setstate__)",
  INST: "it creates an instance of a class",
  OBJ: "it creates an instance of a class",
  NEWOBJ: "it creates an instance of a class",
  NEWOBJ_EX: "it creates an instance of a class",
  PERSID: "it loads a persistent id",
  BINPERSID: "it loads a persistent id",
  EXT1: "it loads from the extension registry",
  EXT2: "it loads from the extension registry",
  EXT4: "it loads from the extension registry",
  BYTEARRAY8: "bytearray is not among the values the door maps",
  NEXT_BUFFER: "out-of-band buffers are not accepted",
  READONLY_BUFFER: "out-of-band buffers are not accepted",
  DUP: "CPython never emits it",
};

/** The globals a pickle may name: the spellings of set and frozenset in protocols 2 and 3. */
const ALLOWED_GLOBALS: ReadonlySet<string> = new Set([
  "builtins set",
  "builtins frozenset",
  "__builtin__ set",
  "__builtin__ frozenset",
]);

const encoder = new TextEncoder();

/**
 * Decodes one pickle of data. Returns the value and the pickle's protocol.
 * Throws {@link PickleError} for anything outside the allowed subset or the
 * limits; nothing the pickle names is ever imported or called.
 *
 * @example
 * ```ts
 * loadPickle(bytes).value; // e.g. PyTuple [null, "dummy", PyTuple [], PyDict {}]
 * ```
 */
export function loadPickle(
  bytes: Uint8Array,
  limits: Partial<PickleLimits> = {},
): { value: PyValue; protocol: number } {
  return new Unpickler(bytes, { ...DEFAULT_PICKLE_LIMITS, ...limits }).load();
}

class Unpickler {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #limits: PickleLimits;
  #pos = 0;
  /** Offset of the opcode being run, for messages. */
  #at = 0;
  /** The values above the latest MARK (as CPython's unpickler keeps them). */
  #stack: PyValue[] = [];
  /** The stacks saved by each MARK. */
  #metastack: PyValue[][] = [];
  #memo = new Map<number, PyValue>();
  #items = 0;

  constructor(bytes: Uint8Array, limits: PickleLimits) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#limits = limits;
  }

  load(): { value: PyValue; protocol: number } {
    const bytes = this.#bytes;
    if (bytes.length > this.#limits.maxBytes) {
      this.#fail(`it has ${bytes.length} bytes, over the limit of ${this.#limits.maxBytes}`);
    }
    if (bytes.length < 2 || bytes[0] !== 0x80) {
      this.#fail(
        "it does not start with PROTO (pickle protocols 0 and 1 are not accepted; Python's multiprocessing uses 3 or later)",
      );
    }
    const protocol = bytes[1];
    if (protocol < 2 || protocol > 5) this.#fail(`protocol ${protocol} is not one of 2 to 5`);
    this.#pos = 2;
    for (;;) {
      this.#at = this.#pos;
      const op = this.#u8();
      if (op === 0x2e /* STOP */) {
        // CPython's pickles end with exactly one value and no open MARK.
        if (this.#stack.length !== 1 || this.#metastack.length > 0) {
          this.#fail(
            `STOP with ${this.#stack.length} values and ${this.#metastack.length} open MARKs (expected one value)`,
          );
        }
        const value = this.#pop();
        if (this.#pos !== bytes.length) {
          this.#fail(`${bytes.length - this.#pos} bytes follow STOP`);
        }
        return { value, protocol };
      }
      this.#run(op);
    }
  }

  #run(op: number): void {
    switch (op) {
      case 0x95: { // FRAME: a length hint; the bytes must be there.
        const length = this.#u64();
        if (length > BigInt(this.#bytes.length - this.#pos)) {
          this.#fail(
            `FRAME announces ${length} bytes but ${this.#bytes.length - this.#pos} remain`,
          );
        }
        return;
      }
      case 0x80:
        this.#fail("a second PROTO");
        return;
      case 0x28: // MARK
        if (this.#metastack.length >= this.#limits.maxItems) {
          this.#fail(`more than ${this.#limits.maxItems} MARKs`);
        }
        this.#metastack.push(this.#stack);
        this.#stack = [];
        return;
      case 0x30: // POP
        if (this.#stack.length > 0) this.#stack.pop();
        else this.#popMark();
        return;
      case 0x31: // POP_MARK
        this.#popMark();
        return;
      case 0x4e: // NONE
        return this.#push(null);
      case 0x88: // NEWTRUE
        return this.#push(true);
      case 0x89: // NEWFALSE
        return this.#push(false);
      case 0x4a: // BININT
        this.#need(4);
        this.#push(BigInt(this.#view.getInt32(this.#pos, true)));
        this.#pos += 4;
        return;
      case 0x4b: // BININT1
        return this.#push(BigInt(this.#u8()));
      case 0x4d: // BININT2
        this.#need(2);
        this.#push(BigInt(this.#view.getUint16(this.#pos, true)));
        this.#pos += 2;
        return;
      case 0x8a: // LONG1
        return this.#push(this.#long(this.#u8()));
      case 0x8b: { // LONG4
        this.#need(4);
        const n = this.#view.getInt32(this.#pos, true);
        this.#pos += 4;
        if (n < 0) this.#fail(`LONG4 has a negative length ${n}`);
        return this.#push(this.#long(n));
      }
      case 0x47: // BINFLOAT
        this.#need(8);
        this.#push(this.#view.getFloat64(this.#pos, false));
        this.#pos += 8;
        return;
      case 0x8c: // SHORT_BINUNICODE
        return this.#push(this.#text(this.#u8()));
      case 0x58: // BINUNICODE
        return this.#push(this.#text(this.#u32()));
      case 0x8d: // BINUNICODE8
        return this.#push(this.#text(this.#length64()));
      case 0x43: // SHORT_BINBYTES
        return this.#push(new Uint8Array(this.#take(this.#u8())));
      case 0x42: // BINBYTES
        return this.#push(new Uint8Array(this.#take(this.#u32())));
      case 0x8e: // BINBYTES8
        return this.#push(new Uint8Array(this.#take(this.#length64())));
      case 0x5d: // EMPTY_LIST
        return this.#push([]);
      case 0x29: // EMPTY_TUPLE
        return this.#push(new PyTuple([]));
      case 0x7d: // EMPTY_DICT
        return this.#push(new PyDict());
      case 0x8f: // EMPTY_SET
        return this.#push(new PySet([], false));
      case 0x61: { // APPEND
        const value = this.#pop();
        this.#list("APPEND").push(value);
        return;
      }
      case 0x65: { // APPENDS
        const items = this.#popMark();
        const list = this.#list("APPENDS");
        for (const item of items) list.push(item);
        return;
      }
      case 0x74: // TUPLE
        return this.#push(new PyTuple(this.#popMark()));
      case 0x85: // TUPLE1
        return this.#push(new PyTuple(this.#popN(1)));
      case 0x86: // TUPLE2
        return this.#push(new PyTuple(this.#popN(2)));
      case 0x87: // TUPLE3
        return this.#push(new PyTuple(this.#popN(3)));
      case 0x73: { // SETITEM
        const [key, value] = this.#popN(2);
        this.#dict("SETITEM").entries.push([key, value]);
        return;
      }
      case 0x75: { // SETITEMS
        const items = this.#popMark();
        if (items.length % 2 !== 0) this.#fail("SETITEMS has an odd number of items");
        const dict = this.#dict("SETITEMS");
        for (let i = 0; i < items.length; i += 2) dict.entries.push([items[i], items[i + 1]]);
        return;
      }
      case 0x90: { // ADDITEMS
        const items = this.#popMark();
        const set = this.#top();
        if (!(set instanceof PySet) || set.frozen) this.#fail("ADDITEMS to something not a set");
        for (const item of items) (set as PySet).items.push(item);
        return;
      }
      case 0x91: // FROZENSET
        return this.#push(new PySet(this.#popMark(), true));
      case 0x71: // BINPUT
        return this.#put(this.#u8());
      case 0x72: // LONG_BINPUT
        return this.#put(this.#u32());
      case 0x94: // MEMOIZE
        return this.#put(this.#memo.size);
      case 0x68: // BINGET
        return this.#get(this.#u8());
      case 0x6a: // LONG_BINGET
        return this.#get(this.#u32());
      case 0x63: { // GLOBAL
        const module = this.#line();
        const name = this.#line();
        return this.#push(this.#global(module, name, "GLOBAL"));
      }
      case 0x93: { // STACK_GLOBAL
        const [module, name] = this.#popN(2);
        if (typeof module !== "string" || typeof name !== "string") {
          this.#fail("STACK_GLOBAL needs two strings");
        }
        return this.#push(this.#global(module as string, name as string, "STACK_GLOBAL"));
      }
      case 0x52: // REDUCE
        return this.#reduce();
      default: {
        const name = OPCODE_NAMES[op];
        if (name === undefined) this.#fail(`unknown opcode 0x${hex(op)}`);
        this.#fail(
          `opcode ${name} is not accepted: ${
            REFUSED[name] ?? "it belongs to pickle protocols 0 and 1"
          } (only data is accepted)`,
        );
      }
    }
  }

  /** REDUCE, only as protocols 2-3 spell a set: set([items]) or frozenset([items]). */
  #reduce(): void {
    const args = this.#pop();
    const callable = this.#pop();
    if (!(callable instanceof PyGlobal)) {
      this.#fail(`opcode REDUCE is not accepted: it calls ${describe(callable)}`);
    }
    const global = callable as PyGlobal;
    if (!(args instanceof PyTuple) || args.items.length > 1) {
      this.#fail(
        `REDUCE of ${global.module}.${global.name} takes one list (got ${describe(args)})`,
      );
    }
    const source = (args as PyTuple).items[0] ?? [];
    const items = Array.isArray(source)
      ? source
      : source instanceof PyTuple
      ? [...source.items]
      : source instanceof PySet
      ? [...source.items]
      : this.#fail(
        `REDUCE of ${global.module}.${global.name} takes one list (got ${describe(source)})`,
      );
    this.#push(new PySet([...items], global.name === "frozenset"));
  }

  #global(module: string, name: string, op: string): PyGlobal {
    if (!ALLOWED_GLOBALS.has(`${module} ${name}`)) {
      this.#fail(
        `opcode ${op} names ${printable(module)}.${
          printable(name)
        }, which is not allowed (only data is accepted; the allowed globals are builtins.set and builtins.frozenset)`,
      );
    }
    return new PyGlobal(module, name);
  }

  #put(index: number): void {
    if (this.#stack.length === 0) this.#fail("memo store with nothing on the stack");
    if (!this.#memo.has(index) && this.#memo.size >= this.#limits.maxMemo) {
      this.#fail(`more than ${this.#limits.maxMemo} memo entries`);
    }
    this.#memo.set(index, this.#top());
  }

  #get(index: number): void {
    const value = this.#memo.get(index);
    if (value === undefined) this.#fail(`memo entry ${index} does not exist`);
    this.#push(value as PyValue);
  }

  #list(op: string): PyValue[] {
    const list = this.#top();
    if (!Array.isArray(list)) this.#fail(`${op} to something not a list (${describe(list)})`);
    return list as PyValue[];
  }

  #dict(op: string): PyDict {
    const dict = this.#top();
    if (!(dict instanceof PyDict)) this.#fail(`${op} to something not a dict (${describe(dict)})`);
    return dict as PyDict;
  }

  #push(value: PyValue): void {
    if (++this.#items > this.#limits.maxItems) {
      this.#fail(`more than ${this.#limits.maxItems} values`);
    }
    this.#stack.push(value);
  }

  #top(): PyValue {
    if (this.#stack.length === 0) this.#fail("the stack is empty (above the latest MARK)");
    return this.#stack[this.#stack.length - 1];
  }

  #pop(): PyValue {
    if (this.#stack.length === 0) this.#fail("the stack is empty (above the latest MARK)");
    return this.#stack.pop() as PyValue;
  }

  #popN(n: number): PyValue[] {
    if (this.#stack.length < n) this.#fail(`${n} values were needed above the latest MARK`);
    return this.#stack.splice(this.#stack.length - n, n);
  }

  #popMark(): PyValue[] {
    const items = this.#stack;
    const saved = this.#metastack.pop();
    if (saved === undefined) this.#fail("no MARK to pop to");
    this.#stack = saved as PyValue[];
    return items;
  }

  #need(n: number): void {
    if (this.#bytes.length - this.#pos < n) {
      this.#fail(`it is truncated (needed ${n} more bytes)`);
    }
  }

  #u8(): number {
    this.#need(1);
    return this.#bytes[this.#pos++];
  }

  #u32(): number {
    this.#need(4);
    const n = this.#view.getUint32(this.#pos, true);
    this.#pos += 4;
    return n;
  }

  #u64(): bigint {
    this.#need(8);
    const n = this.#view.getBigUint64(this.#pos, true);
    this.#pos += 8;
    return n;
  }

  /** An 8-byte length, which must fit what is left. */
  #length64(): number {
    const n = this.#u64();
    if (n > BigInt(this.#bytes.length - this.#pos)) {
      this.#fail(`it is truncated (a length of ${n})`);
    }
    return Number(n);
  }

  #take(n: number): Uint8Array {
    this.#need(n);
    const out = this.#bytes.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  #text(n: number): string {
    const bytes = this.#take(n);
    try {
      return decodeUtf8(bytes);
    } catch {
      this.#fail("a string is not valid UTF-8");
    }
    return "";
  }

  /** A newline-terminated ASCII line (GLOBAL's operands), at most 256 bytes. */
  #line(): string {
    const end = this.#bytes.subarray(this.#pos, this.#pos + 257).indexOf(0x0a);
    if (end < 0) this.#fail("GLOBAL's names are not newline-terminated within 256 bytes");
    const line = String.fromCharCode(...this.#bytes.subarray(this.#pos, this.#pos + end));
    this.#pos += end + 1;
    return line;
  }

  /** A little-endian two's complement integer of `n` bytes. */
  #long(n: number): bigint {
    if (n > this.#limits.maxIntBytes) {
      this.#fail(`an int of ${n} bytes is over the limit of ${this.#limits.maxIntBytes}`);
    }
    const bytes = this.#take(n);
    if (n === 0) return 0n;
    let hexText = "";
    for (let i = n - 1; i >= 0; i--) hexText += HEX[bytes[i]];
    let value = BigInt("0x" + hexText);
    if (bytes[n - 1] & 0x80) value -= 1n << BigInt(8 * n);
    return value;
  }

  #fail(why: string): never {
    throw new PickleError(`Cannot unpickle the request: ${why} (at offset ${this.#at})`);
  }
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

function hex(n: number): string {
  return HEX[n & 0xff];
}

/** A short, safe description of a decoded value for messages. */
function describe(value: PyValue | undefined): string {
  if (value instanceof PyGlobal) return `${printable(value.module)}.${printable(value.name)}`;
  if (value instanceof PyException) return `queue.${value.name}()`;
  if (value === null) return "None";
  if (Array.isArray(value)) return "a list";
  if (value instanceof PyTuple) return "a tuple";
  if (value instanceof PyDict) return "a dict";
  if (value instanceof PySet) return value.frozen ? "a frozenset" : "a set";
  if (value instanceof Uint8Array) return "bytes";
  if (typeof value === "string") return "a str";
  if (typeof value === "bigint") return "an int";
  if (typeof value === "number") return "a float";
  if (typeof value === "boolean") return "a bool";
  return "nothing";
}

// ---------------------------------------------------------------------------
// Encoding.

/** A growable byte buffer. */
class Writer {
  #buffer = new Uint8Array(256);
  #view = new DataView(this.#buffer.buffer);
  length = 0;

  #room(n: number): void {
    if (this.length + n <= this.#buffer.length) return;
    const next = new Uint8Array(Math.max(this.#buffer.length * 2, this.length + n));
    next.set(this.#buffer.subarray(0, this.length));
    this.#buffer = next;
    this.#view = new DataView(next.buffer);
  }

  byte(b: number): void {
    this.#room(1);
    this.#buffer[this.length++] = b;
  }

  bytes(b: Uint8Array): void {
    this.#room(b.length);
    this.#buffer.set(b, this.length);
    this.length += b.length;
  }

  u16(n: number): void {
    this.#room(2);
    this.#view.setUint16(this.length, n, true);
    this.length += 2;
  }

  i32(n: number): void {
    this.#room(4);
    this.#view.setInt32(this.length, n, true);
    this.length += 4;
  }

  u32(n: number): void {
    this.#room(4);
    this.#view.setUint32(this.length, n, true);
    this.length += 4;
  }

  u64(n: number): void {
    this.#room(8);
    this.#view.setBigUint64(this.length, BigInt(n), true);
    this.length += 8;
  }

  f64(x: number): void {
    this.#room(8);
    this.#view.setFloat64(this.length, x, false);
    this.length += 8;
  }

  result(): Uint8Array {
    return this.#buffer.slice(0, this.length);
  }
}

/** Deepest nesting the encoder writes (the conversion to Python values checks it first). */
const MAX_ENCODE_DEPTH = 200;

/**
 * Encodes data, `queue.Empty`/`queue.Full` exceptions and tuples of them as a
 * protocol 4 pickle (no FRAME, no memo: a plain tree).
 *
 * @example
 * ```ts
 * dumpPickle(new PyTuple(["#RETURN", null])); // what Python reads as ('#RETURN', None)
 * ```
 */
export function dumpPickle(value: PyValue): Uint8Array {
  const w = new Writer();
  w.byte(0x80);
  w.byte(4);
  writeValue(w, value, 0);
  w.byte(0x2e);
  return w.result();
}

function writeValue(w: Writer, value: PyValue, depth: number): void {
  if (depth > MAX_ENCODE_DEPTH) {
    throw new ArgumentError(`Cannot pickle a value nested deeper than ${MAX_ENCODE_DEPTH} levels`);
  }
  if (value === null) return w.byte(0x4e);
  switch (typeof value) {
    case "boolean":
      return w.byte(value ? 0x88 : 0x89);
    case "bigint":
      return writeInt(w, value);
    case "number":
      w.byte(0x47);
      return w.f64(value);
    case "string": {
      const bytes = encodeUtf8(value);
      if (bytes.length < 256) {
        w.byte(0x8c);
        w.byte(bytes.length);
      } else if (bytes.length <= 0xffff_ffff) {
        w.byte(0x58);
        w.u32(bytes.length);
      } else {
        w.byte(0x8d);
        w.u64(bytes.length);
      }
      return w.bytes(bytes);
    }
  }
  if (value instanceof Uint8Array) {
    if (value.length < 256) {
      w.byte(0x43);
      w.byte(value.length);
    } else if (value.length <= 0xffff_ffff) {
      w.byte(0x42);
      w.u32(value.length);
    } else {
      w.byte(0x8e);
      w.u64(value.length);
    }
    return w.bytes(value);
  }
  if (Array.isArray(value)) {
    w.byte(0x5d); // EMPTY_LIST
    if (value.length === 0) return;
    w.byte(0x28); // MARK
    for (const item of value) writeValue(w, item, depth + 1);
    return w.byte(0x65); // APPENDS
  }
  if (value instanceof PyTuple) {
    const items = value.items as PyValue[];
    if (items.length === 0) return w.byte(0x29);
    if (items.length > 3) w.byte(0x28);
    for (const item of items) writeValue(w, item, depth + 1);
    return w.byte(
      items.length === 1 ? 0x85 : items.length === 2 ? 0x86 : items.length === 3 ? 0x87 : 0x74,
    );
  }
  if (value instanceof PyDict) {
    w.byte(0x7d); // EMPTY_DICT
    if (value.entries.length === 0) return;
    w.byte(0x28);
    for (const [k, v] of value.entries) {
      writeValue(w, k as PyValue, depth + 1);
      writeValue(w, v as PyValue, depth + 1);
    }
    return w.byte(0x75); // SETITEMS
  }
  if (value instanceof PySet) {
    if (value.frozen) {
      w.byte(0x28);
      for (const item of value.items) writeValue(w, item as PyValue, depth + 1);
      return w.byte(0x91); // FROZENSET
    }
    w.byte(0x8f); // EMPTY_SET
    if (value.items.length === 0) return;
    w.byte(0x28);
    for (const item of value.items) writeValue(w, item as PyValue, depth + 1);
    return w.byte(0x90); // ADDITEMS
  }
  if (value instanceof PyException) {
    // queue.Empty() is what CPython's own god sends: GLOBAL, then REDUCE with no arguments.
    w.byte(0x63);
    w.bytes(encoder.encode(`queue\n${value.name}\n`));
    w.byte(0x29); // EMPTY_TUPLE
    return w.byte(0x52); // REDUCE
  }
  throw new ArgumentError(`Cannot pickle ${describe(value as PyValue)}`);
}

function writeInt(w: Writer, n: bigint): void {
  if (n >= 0n && n < 256n) {
    w.byte(0x4b);
    return w.byte(Number(n));
  }
  if (n >= 0n && n < 65536n) {
    w.byte(0x4d);
    return w.u16(Number(n));
  }
  if (n >= -0x8000_0000n && n <= 0x7fff_ffffn) {
    w.byte(0x4a);
    return w.i32(Number(n));
  }
  const bytes = longBytes(n);
  if (bytes.length < 256) {
    w.byte(0x8a);
    w.byte(bytes.length);
  } else {
    w.byte(0x8b);
    w.i32(bytes.length);
  }
  w.bytes(bytes);
}

/** The shortest little-endian two's complement bytes of `n` (as Python's encode_long). */
export function longBytes(n: bigint): Uint8Array {
  if (n === 0n) return new Uint8Array(0);
  // Bits needed for the magnitude plus a sign bit.
  const magnitude = n < 0n ? -n - 1n : n;
  const bits = magnitude.toString(2).length + 1;
  const length = Math.ceil(bits / 8);
  const unsigned = n < 0n ? (1n << BigInt(length * 8)) + n : n;
  const hexText = unsigned.toString(16).padStart(length * 2, "0");
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const at = hexText.length - 2 * (i + 1);
    out[i] = parseInt(hexText.slice(at, at + 2), 16);
  }
  return out;
}
