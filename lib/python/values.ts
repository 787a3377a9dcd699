/**
 * How values cross between Python and taskwire: each Python value becomes the
 * nearest superjson value (the god stores superjson text), and back.
 *
 * | Python                 | taskwire (superjson)                  | back in Python          |
 * | ---------------------- | ------------------------------------- | ----------------------- |
 * | `None`                 | `null`                                | `None`                  |
 * | `bool`                 | `boolean`                             | `bool`                  |
 * | `int`, \|n\| ≤ 2^53−1  | `number`                              | `int`                   |
 * | `int`, larger          | `bigint`                              | `int`                   |
 * | `float`                | `number` (NaN, ±Infinity, −0 kept)    | `float`, or `int` when it is a whole number in the safe range (lossy) |
 * | `str`                  | `string`                              | `str`                   |
 * | `bytes`                | `Uint8Array`                          | `bytes`                 |
 * | `list`                 | array                                 | `list`                  |
 * | `tuple`                | array (lossy)                         | `list`                  |
 * | `dict`, all keys `str` | plain object                          | `dict`                  |
 * | `dict`, other keys     | `Map` (tuple keys become arrays)      | `dict` (array keys become tuples) |
 * | `set`, `frozenset`     | `Set` (frozenset lossy)               | `set`                   |
 *
 * From taskwire, `undefined` also becomes `None` (lossy), a `number` that is
 * a safe integer (−0 aside) becomes `int` and any other number `float`. What
 * cannot map — Date, RegExp, Error, class instances, typed arrays other than
 * Uint8Array, unhashable dict keys or set items, values that contain
 * themselves, nesting deeper than {@link MAX_DEPTH} — is refused with a
 * {@link ValueMappingError} saying where.
 */
import superjson from "superjson";
import { decodeText, encodeText } from "../protocol/codec.ts";
import { ErrorCode, TaskwireError } from "../protocol/errors.ts";
import { PyDict, PyException, PyGlobal, PySet, PyTuple, type PyValue } from "./pickle.ts";

/** Deepest nesting that crosses (containers inside containers). */
export const MAX_DEPTH = 100;
/** Most values visited while converting one value (shared parts count each time). */
export const MAX_NODES = 1_000_000;
/** Keys that would reach an object's prototype: such dicts become Maps. */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A value that has no counterpart on the other side; the message says which and where. */
export class ValueMappingError extends TaskwireError {
  constructor(message: string) {
    super(ErrorCode.BadArgument, message);
  }
}

/**
 * Converts a decoded Python value to the superjson text the god stores.
 *
 * @example
 * ```ts
 * pythonToText(12n); // '{"json":12}'
 * ```
 */
export function pythonToText(value: PyValue): string {
  const walk = new FromPython();
  const js = walk.convert(value, "value", 0);
  // The codec refuses Uint8Array for library users ("send plain data"), but
  // superjson has a typed-array form every taskwire client decodes.
  return walk.hasBytes
    ? JSON.stringify(superjson.serialize(js as Parameters<typeof superjson.serialize>[0]))
    : encodeText(js);
}

/**
 * Converts the superjson text of a job into a value the encoder can pickle.
 * Throws a ProtocolError for text that is not superjson, and a
 * {@link ValueMappingError} for a value Python cannot receive.
 *
 * @example
 * ```ts
 * textToPython('{"json":"3","meta":{"values":["bigint"],"v":1}}'); // 3n (a Python int)
 * ```
 */
export function textToPython(text: string): PyValue {
  return new ToPython().convert(decodeText(text), "value", 0);
}

class FromPython {
  hasBytes = false;
  #nodes = 0;
  readonly #active = new Set<object>();

  convert(value: PyValue, path: string, depth: number): unknown {
    if (++this.#nodes > MAX_NODES) {
      throw new ValueMappingError(
        `Cannot store the Python value: it holds more than ${MAX_NODES} values (counting shared ones each time)`,
      );
    }
    switch (typeof value) {
      case "bigint":
        return value >= -SAFE && value <= SAFE ? Number(value) : value;
      case "number":
      case "string":
      case "boolean":
        return value;
    }
    if (value === null) return null;
    if (value instanceof Uint8Array) {
      this.hasBytes = true;
      return value;
    }
    if (value instanceof PyGlobal || value instanceof PyException) {
      throw new ValueMappingError(`Cannot store the Python value: ${path} is not data`);
    }
    if (depth >= MAX_DEPTH) {
      throw new ValueMappingError(
        `Cannot store the Python value: ${path} is nested deeper than ${MAX_DEPTH} levels`,
      );
    }
    if (this.#active.has(value)) {
      throw new ValueMappingError(
        `Cannot store the Python value: ${path} contains itself (a recursive structure)`,
      );
    }
    this.#active.add(value);
    try {
      return this.#container(value, path, depth + 1);
    } finally {
      this.#active.delete(value);
    }
  }

  #container(value: PyValue[] | PyTuple | PyDict | PySet, path: string, depth: number): unknown {
    if (Array.isArray(value) || value instanceof PyTuple) {
      const items = Array.isArray(value) ? value : value.items;
      return items.map((item, i) => this.convert(item, `${path}[${i}]`, depth));
    }
    if (value instanceof PySet) {
      const out = new Set<unknown>();
      value.items.forEach((item, i) => {
        checkHashable(item, `${path} item ${i}`);
        out.add(this.convert(item, `${path} item ${i}`, depth));
      });
      return out;
    }
    const entries = value.entries;
    if (entries.every(([k]) => typeof k === "string" && !FORBIDDEN_KEYS.has(k))) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of entries) {
        out[k as string] = this.convert(v, `${path}[${JSON.stringify(k)}]`, depth);
      }
      return out;
    }
    const out = new Map<unknown, unknown>();
    entries.forEach(([k, v], i) => {
      checkHashable(k, `${path} key ${i}`);
      out.set(
        this.convert(k, `${path} key ${i}`, depth),
        this.convert(v, `${path} value ${i}`, depth),
      );
    });
    return out;
  }
}

/** Python refuses unhashable dict keys and set items; so does the door (a crafted pickle can hold them). */
function checkHashable(value: PyValue, path: string): void {
  if (
    Array.isArray(value) || value instanceof PyDict || (value instanceof PySet && !value.frozen)
  ) {
    throw new ValueMappingError(
      `Cannot store the Python value: ${path} is a ${
        Array.isArray(value) ? "list" : value instanceof PyDict ? "dict" : "set"
      }, which is unhashable and cannot be a dict key or set item`,
    );
  }
  if (value instanceof PyTuple) {
    value.items.forEach((item, i) => checkHashable(item, `${path}[${i}]`));
  }
}

class ToPython {
  #nodes = 0;
  readonly #active = new Set<object>();

  convert(value: unknown, path: string, depth: number): PyValue {
    if (++this.#nodes > MAX_NODES) {
      throw refuse(path, `it holds more than ${MAX_NODES} values`);
    }
    switch (typeof value) {
      case "undefined":
        return null;
      case "boolean":
      case "string":
      case "bigint":
        return value;
      case "number":
        return Number.isSafeInteger(value) && !Object.is(value, -0) ? BigInt(value) : value;
      case "object":
        break;
      default:
        throw refuse(path, `it is a ${typeof value}`);
    }
    if (value === null) return null;
    if (value instanceof Uint8Array && value.constructor === Uint8Array) return value;
    if (depth >= MAX_DEPTH) throw refuse(path, `it is nested deeper than ${MAX_DEPTH} levels`);
    if (this.#active.has(value)) throw refuse(path, "it contains itself");
    this.#active.add(value);
    try {
      return this.#container(value, path, depth + 1);
    } finally {
      this.#active.delete(value);
    }
  }

  #container(value: object, path: string, depth: number): PyValue {
    if (Array.isArray(value)) {
      return value.map((item, i) => this.convert(item, `${path}[${i}]`, depth));
    }
    if (value instanceof Map) {
      const entries: [PyValue, PyValue][] = [];
      let i = 0;
      for (const [k, v] of value) {
        const key = this.#key(k, `${path} key ${i}`, depth);
        entries.push([key, this.convert(v, `${path}.get(${i})`, depth) as PyValue]);
        i++;
      }
      return new PyDict(entries);
    }
    if (value instanceof Set) {
      let i = 0;
      const items: PyValue[] = [];
      for (const item of value) items.push(this.#key(item, `${path} item ${i++}`, depth));
      return new PySet(items, false);
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      const name = (value as { constructor?: { name?: string } }).constructor?.name ?? "object";
      throw refuse(path, `it is a ${name}`);
    }
    const entries: [PyValue, PyValue][] = Object.keys(value).map((k) => [
      k,
      this.convert((value as Record<string, unknown>)[k], `${path}.${k}`, depth) as PyValue,
    ]);
    return new PyDict(entries);
  }

  /** A dict key or set item: hashable in Python, so arrays become tuples and Sets frozensets. */
  #key(value: unknown, path: string, depth: number): PyValue {
    if (Array.isArray(value)) {
      if (depth >= MAX_DEPTH) throw refuse(path, `it is nested deeper than ${MAX_DEPTH} levels`);
      return new PyTuple(value.map((item, i) => this.#key(item, `${path}[${i}]`, depth + 1)));
    }
    if (value instanceof Set) {
      if (depth >= MAX_DEPTH) throw refuse(path, `it is nested deeper than ${MAX_DEPTH} levels`);
      return new PySet(
        [...value].map((item, i) => this.#key(item, `${path} item ${i}`, depth + 1)),
        true,
      );
    }
    if (typeof value === "object" && value !== null && !(value instanceof Uint8Array)) {
      throw refuse(
        path,
        "an object or Map is unhashable in Python and cannot be a dict key or set item",
      );
    }
    return this.convert(value, path, depth) as PyValue;
  }
}

function refuse(path: string, why: string): ValueMappingError {
  return new ValueMappingError(
    `Cannot hand the job to Python: ${path} has no Python counterpart (${why}); the door maps None, bool, int, float, str, bytes, list, dict and set`,
  );
}
