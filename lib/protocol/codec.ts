/**
 * Payload codec: values travel as superjson, so Date, BigInt, Map, Set,
 * undefined, RegExp and nested structures survive the trip between Node and
 * Deno. Decoding never runs code and never touches prototypes: JSON.parse
 * makes `__proto__` an ordinary own key, and superjson refuses to walk
 * `__proto__`/`constructor`/`prototype` paths.
 *
 * Both directions have a fast path for the values that make up nearly all
 * traffic: JSON values plus BigInt, valid Dates and undefined, in plain
 * objects and dense arrays without shared references. superjson's walk, copy
 * and path parsing cost far more than the value itself for such payloads.
 * The fast path emits the same wire form superjson does (only without the
 * `referentialEqualities` superjson adds for equal primitives), so any
 * superjson client decodes it; anything outside that subset goes through
 * superjson unchanged.
 */
import superjson from "superjson";
import { ArgumentError, ErrorCode, ProtocolError } from "./errors.ts";
import { jsonTooDeep } from "./json_depth.ts";

export { jsonTooDeep };

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Encodes a value as superjson UTF-8 bytes. Throws a `bad_argument` error for
 * values that cannot travel (functions, symbols, class instances superjson does not know).
 *
 * @example
 * ```ts
 * decodeValue(encodeValue(new Map([[1n, new Date(0)]]))); // Map { 1n => 1970-01-01T00:00:00.000Z }
 * ```
 */
export function encodeValue(value: unknown): Uint8Array {
  return encoder.encode(encodeText(value));
}

/**
 * Encodes a value as superjson text (what {@link encodeValue} sends as UTF-8),
 * for callers that hold payloads as strings. Same errors as {@link encodeValue}.
 *
 * @example
 * ```ts
 * encodeText({ n: 3n }); // '{"json":{"n":"3"},"meta":{"values":{"n":["bigint"]},"v":1}}'
 * ```
 */
export function encodeText(value: unknown): string {
  return encodeFast(value) ?? encodeWithSuperjson(value);
}

/** Decodes bytes made by {@link encodeValue}; throws {@link ProtocolError} on anything else. */
export function decodeValue<T = unknown>(bytes: Uint8Array): T {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch (cause) {
    throw notJson(cause);
  }
  return decodeText<T>(text);
}

/**
 * Decodes superjson text made by {@link encodeText} (or any superjson client);
 * throws {@link ProtocolError} on anything else.
 *
 * @example
 * ```ts
 * decodeText('{"json":"3","meta":{"values":["bigint"],"v":1}}'); // 3n
 * ```
 */
export function decodeText<T = unknown>(text: string): T {
  // As deep as an encoded value can be (the envelope and its meta add two levels), no deeper.
  if (jsonTooDeep(text, MAX_DEPTH + 3)) {
    throw new ProtocolError(
      ErrorCode.BadMessage,
      `Cannot decode payload: nested deeper than ${MAX_DEPTH} levels (taskwire does not encode such values)`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw notJson(cause);
  }
  if (typeof parsed !== "object" || parsed === null || !("json" in parsed)) {
    throw new ProtocolError(
      ErrorCode.BadMessage,
      'Cannot decode payload: not a superjson object with a "json" field',
    );
  }
  const fast = decodeFast(parsed as Envelope, text);
  return fast === BAIL ? decodeWithSuperjson<T>(parsed) : fast as T;
}

function notJson(cause: unknown): ProtocolError {
  return new ProtocolError(ErrorCode.BadMessage, "Cannot decode payload: not UTF-8 JSON", {
    cause,
  });
}

// ---------------------------------------------------------------------------
// The superjson paths: everything the fast paths decline.

function encodeWithSuperjson(value: unknown): string {
  assertSerialisable(value, "value", 0);
  let serialized: unknown;
  try {
    serialized = superjson.serialize(value);
  } catch (cause) {
    throw new ArgumentError(
      `Cannot encode value: ${(cause as Error)?.message ?? String(cause)}`,
      { cause },
    );
  }
  return JSON.stringify(serialized);
}

function decodeWithSuperjson<T>(parsed: object): T {
  try {
    // deno-lint-ignore no-explicit-any -- superjson's SuperJSONResult type is checked by the caller
    return superjson.deserialize(parsed as any) as T;
  } catch (cause) {
    throw new ProtocolError(ErrorCode.BadMessage, "Cannot decode payload: invalid superjson", {
      cause,
    });
  }
}

/** How deeply a value may nest: deeper ones are refused when encoded and when decoded. */
export const MAX_DEPTH = 200;

const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

function assertSerialisable(value: unknown, path: string, depth: number): void {
  switch (typeof value) {
    case "number":
    case "string":
    case "boolean":
    case "bigint":
    case "undefined":
      return;
    case "function":
    case "symbol":
      throw new ArgumentError(
        `Cannot encode ${path}: a ${typeof value} cannot be sent to another process`,
      );
  }
  if (value === null) return;
  if (depth > MAX_DEPTH) {
    throw new ArgumentError(
      `Cannot encode ${path}: nested deeper than ${MAX_DEPTH} levels (or circular)`,
    );
  }
  if (value instanceof Date || value instanceof RegExp || value instanceof Error) return;
  if (Array.isArray(value) || value instanceof Set) {
    let i = 0;
    for (const item of value) assertSerialisable(item, `${path}[${i++}]`, depth + 1);
    return;
  }
  if (value instanceof Map) {
    for (const [k, v] of value) {
      assertSerialisable(k, `${path} key`, depth + 1);
      assertSerialisable(v, `${path}.get(${String(k)})`, depth + 1);
    }
    return;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    throw new ArgumentError(
      `Cannot encode ${path}: instances of ${
        proto?.constructor?.name ?? "a custom class"
      } are not supported; send plain data`,
    );
  }
  for (const key of Object.keys(value as object)) {
    if (FORBIDDEN_KEYS.has(key)) {
      // superjson refuses these keys (they are how prototypes get polluted).
      throw new ArgumentError(
        `Cannot encode ${path}: property "${key}" is not allowed (__proto__, constructor and prototype keys are refused)`,
      );
    }
    assertSerialisable((value as Record<string, unknown>)[key], `${path}.${key}`, depth + 1);
  }
}

// ---------------------------------------------------------------------------
// Encode fast path.

/** Returned by the fast paths for "not in my subset: let superjson do it". */
const BAIL: unique symbol = Symbol("bail");

/** The three annotations the fast paths write and read. */
const Annotation = { BigInt: "bigint", Date: "Date", Undefined: "undefined" } as const;
type Annotation = typeof Annotation[keyof typeof Annotation];

/**
 * Returns the superjson text of `value`, or undefined when the value is outside
 * the fast subset. Invalid values (functions, class instances, forbidden keys,
 * too deep) are outside it too: the superjson path then raises the error with
 * its precise path, so every error message comes from one place.
 */
function encodeFast(value: unknown): string | undefined {
  const walk = new FastEncodeWalk();
  const json = walk.visit(value, 0);
  if (json === BAIL) return undefined;
  let text: string;
  try {
    text = JSON.stringify(json);
  } catch {
    return undefined; // a getter that changed its answer; superjson reports it properly
  }
  const meta = walk.metaText();
  return meta === undefined ? `{"json":${text}}` : `{"json":${text},"meta":${meta}}`;
}

/**
 * One walk that checks a value, finds whether it is in the fast subset, and
 * makes its JSON form: containers are copied only when something inside them
 * is transformed (BigInt → decimal string, Date → ISO string, undefined → null),
 * so a plain JSON value is stringified as it is.
 */
class FastEncodeWalk {
  /** Keys from the root to the value being visited: `#path[d]` is the key at depth d + 1. */
  readonly #path: (string | number)[] = [];
  /**
   * Containers met so far: one met twice is a shared reference or a cycle
   * (superjson's job). Most payloads hold one container, so the Set is made
   * only for the second.
   */
  #first: object | undefined;
  #seen: Set<object> | undefined;
  #rootAnnotation: Annotation | undefined;
  /** `"path":["type"]` entries of meta.values, comma-separated. */
  #annotations = "";

  /** Returns the JSON form of `value` at `depth`, or BAIL. */
  visit(value: unknown, depth: number): unknown {
    switch (typeof value) {
      case "string":
      case "boolean":
        return value;
      case "number":
        // NaN, ±Infinity and -0 need superjson's "number" annotation.
        return Number.isFinite(value) && !Object.is(value, -0) ? value : BAIL;
      case "bigint":
        this.#annotate(depth, Annotation.BigInt);
        return value.toString();
      case "undefined":
        this.#annotate(depth, Annotation.Undefined);
        return null;
      case "object":
        return value === null ? null : this.#visitObject(value, depth);
      default:
        return BAIL; // function or symbol: refused by the superjson path
    }
  }

  /** The text of `meta`, or undefined when nothing was annotated. */
  metaText(): string | undefined {
    if (this.#rootAnnotation !== undefined) {
      return `{"values":["${this.#rootAnnotation}"],"v":1}`;
    }
    return this.#annotations === "" ? undefined : `{"values":{${this.#annotations}},"v":1}`;
  }

  #visitObject(value: object, depth: number): unknown {
    if (depth > MAX_DEPTH) return BAIL;
    const proto = Object.getPrototypeOf(value);
    if (proto === Date.prototype) {
      const date = value as Date;
      if (Number.isNaN(date.getTime())) return BAIL; // superjson sends it as null
      this.#annotate(depth, Annotation.Date);
      return date.toISOString();
    }
    const isArray = proto === Array.prototype && Array.isArray(value);
    if (!isArray && proto !== Object.prototype && proto !== null) return BAIL;
    if (!this.#firstVisit(value)) return BAIL;
    return isArray
      ? this.#visitArray(value as unknown[], depth)
      : this.#visitRecord(value as Record<string, unknown>, depth);
  }

  #visitArray(array: unknown[], depth: number): unknown {
    let copy: unknown[] | undefined;
    for (let i = 0; i < array.length; i++) {
      const item = array[i];
      if (item === undefined && !(i in array)) return BAIL; // a hole
      this.#path[depth] = i;
      const out = this.visit(item, depth + 1);
      if (out === BAIL) return BAIL;
      if (copy === undefined && out !== item) copy = array.slice(0, i);
      if (copy !== undefined) copy.push(out);
    }
    return copy ?? array;
  }

  #visitRecord(record: Record<string, unknown>, depth: number): unknown {
    const keys = Object.keys(record);
    let copy: Record<string, unknown> | undefined;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (FORBIDDEN_KEYS.has(key)) return BAIL;
      const item = record[key];
      this.#path[depth] = key;
      const out = this.visit(item, depth + 1);
      if (out === BAIL) return BAIL;
      if (copy === undefined && out !== item) {
        copy = {};
        for (let j = 0; j < i; j++) copy[keys[j]] = record[keys[j]];
      }
      if (copy !== undefined) copy[key] = out;
    }
    return copy ?? record;
  }

  #firstVisit(container: object): boolean {
    if (this.#first === undefined) {
      this.#first = container;
      return true;
    }
    if (this.#seen === undefined) {
      if (container === this.#first) return false;
      this.#seen = new Set([this.#first]);
    } else if (this.#seen.has(container)) {
      return false;
    }
    this.#seen.add(container);
    return true;
  }

  /** Records that the value at `depth` (reached through `#path`) was transformed. */
  #annotate(depth: number, annotation: Annotation): void {
    if (depth === 0) {
      this.#rootAnnotation = annotation;
      return;
    }
    let path = escapeKey(this.#path[0]);
    for (let d = 1; d < depth; d++) path += "." + escapeKey(this.#path[d]);
    if (this.#annotations !== "") this.#annotations += ",";
    this.#annotations += `${JSON.stringify(path)}:["${annotation}"]`;
  }
}

/** superjson's path escaping: `\` → `\\`, `.` → `\.`. */
function escapeKey(key: string | number): string {
  if (typeof key === "number") return String(key);
  if (!key.includes(".") && !key.includes("\\")) return key;
  return key.replaceAll("\\", "\\\\").replaceAll(".", "\\.");
}

// ---------------------------------------------------------------------------
// Decode fast path.

/** The parsed superjson envelope, before anything is trusted. */
type Envelope = { json: unknown; meta?: unknown };

/**
 * Decodes the envelope in place when it is plain JSON or carries only
 * bigint/Date/undefined annotations on plain paths; BAIL otherwise. Nothing is
 * changed before every annotation has been checked and converted, so after a
 * BAIL superjson sees the envelope exactly as parsed.
 */
function decodeFast(envelope: Envelope, text: string): unknown {
  const { json, meta } = envelope;
  // superjson's copy drops `__proto__` keys inside `json`; leave any text that
  // might hold one (literally or through a \u escape) to it, so both paths give
  // the same value. (meta is read key by key below, which refuses such keys.)
  if (typeof json === "object" && json !== null && mayHoldProtoKey(text)) return BAIL;
  // JSON.parse made `json` fresh: no copy needed (superjson copies it).
  if (meta === undefined) return json;
  if (!isRecord(meta)) return BAIL;
  for (const key in meta) if (key !== "values" && key !== "v") return BAIL;
  if (meta.v !== undefined && meta.v !== 1) return BAIL;
  const values = meta.values;
  if (values === undefined) return json;
  if (Array.isArray(values)) return values.length === 1 ? revive(json, values[0]) : BAIL;
  if (!isRecord(values)) return BAIL;
  const writes: unknown[] = [];
  for (const path in values) if (!planWrite(json, path, values[path], writes)) return BAIL;
  for (let i = 0; i < writes.length; i += 3) {
    (writes[i] as Record<string, unknown>)[writes[i + 1] as string] = writes[i + 2];
  }
  return json;
}

function mayHoldProtoKey(text: string): boolean {
  return text.includes("__proto__") || text.includes("\\u");
}

/**
 * Appends to `writes` the triple (container, key, revived value) for one
 * annotation, or returns false. The path is dot-joined and must lead through
 * own properties only: escaped paths, `__proto__`/`constructor`/`prototype`
 * segments and anything unresolved are superjson's to judge. Because every
 * annotated value must still be a string or null, no path can lead through a
 * value another annotation replaces, so the order of writes does not matter.
 */
function planWrite(json: unknown, path: string, entry: unknown, writes: unknown[]): boolean {
  if (path.includes("\\")) return false;
  let node = json;
  let start = 0;
  for (;;) {
    const dot = path.indexOf(".", start);
    const key = dot === -1 ? path.slice(start) : path.slice(start, dot);
    if (!hasOwnSlot(node, key)) return false;
    const value = (node as Record<string, unknown>)[key];
    if (dot === -1) {
      const revived = revive(value, unwrap(entry));
      if (revived === BAIL) return false;
      writes.push(node, key, revived);
      return true;
    }
    node = value;
    start = dot + 1;
  }
}

function hasOwnSlot(node: unknown, key: string): boolean {
  if (typeof node !== "object" || node === null || FORBIDDEN_KEYS.has(key)) return false;
  // A parsed array's own keys are its canonical indices, where `array[key]` and
  // superjson's `array[+key]` agree, and "length", which is no slot.
  return Object.hasOwn(node, key) && !(key === "length" && Array.isArray(node));
}

/** The single annotation of a leaf entry (`["bigint"]`), or BAIL. */
function unwrap(entry: unknown): unknown {
  return Array.isArray(entry) && entry.length === 1 ? entry[0] : BAIL;
}

/** The value an annotated JSON leaf stands for, or BAIL when it is not what our encoder writes. */
function revive(leaf: unknown, annotation: unknown): unknown {
  switch (annotation) {
    case Annotation.BigInt:
      if (typeof leaf !== "string") return BAIL;
      try {
        return BigInt(leaf);
      } catch {
        return BAIL; // superjson raises it as invalid superjson
      }
    case Annotation.Date:
      return typeof leaf === "string" ? new Date(leaf) : BAIL;
    case Annotation.Undefined:
      return leaf === null ? undefined : BAIL;
    default:
      return BAIL;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
