/**
 * Payload codec: values travel as superjson, so Date, BigInt, Map, Set,
 * undefined, RegExp and nested structures survive the trip between Node and
 * Deno. Decoding never runs code and never touches prototypes: JSON.parse
 * makes `__proto__` an ordinary own key, and superjson refuses to walk
 * `__proto__`/`constructor`/`prototype` paths.
 */
import superjson from "superjson";
import { ErrorCode, ProtocolError, TaskwireError } from "./errors.ts";

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
  assertSerialisable(value, "value", 0);
  let serialized: unknown;
  try {
    serialized = superjson.serialize(value);
  } catch (cause) {
    throw new TaskwireError(
      ErrorCode.BadArgument,
      `Cannot encode value: ${(cause as Error)?.message ?? String(cause)}`,
      { cause },
    );
  }
  return encoder.encode(JSON.stringify(serialized));
}

/** Decodes bytes made by {@link encodeValue}; throws {@link ProtocolError} on anything else. */
export function decodeValue<T = unknown>(bytes: Uint8Array): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch (cause) {
    throw new ProtocolError(ErrorCode.BadMessage, "Cannot decode payload: not UTF-8 JSON", {
      cause,
    });
  }
  if (typeof parsed !== "object" || parsed === null || !("json" in parsed)) {
    throw new ProtocolError(
      ErrorCode.BadMessage,
      'Cannot decode payload: not a superjson object with a "json" field',
    );
  }
  try {
    // deno-lint-ignore no-explicit-any -- superjson's SuperJSONResult type is checked just above
    return superjson.deserialize(parsed as any) as T;
  } catch (cause) {
    throw new ProtocolError(ErrorCode.BadMessage, "Cannot decode payload: invalid superjson", {
      cause,
    });
  }
}

const MAX_DEPTH = 200;
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
      throw new TaskwireError(
        ErrorCode.BadArgument,
        `Cannot encode ${path}: a ${typeof value} cannot be sent to another process`,
      );
  }
  if (value === null) return;
  if (depth > MAX_DEPTH) {
    throw new TaskwireError(
      ErrorCode.BadArgument,
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
    throw new TaskwireError(
      ErrorCode.BadArgument,
      `Cannot encode ${path}: instances of ${
        proto?.constructor?.name ?? "a custom class"
      } are not supported; send plain data`,
    );
  }
  for (const key of Object.keys(value as object)) {
    if (FORBIDDEN_KEYS.has(key)) {
      // superjson refuses these keys (they are how prototypes get polluted).
      throw new TaskwireError(
        ErrorCode.BadArgument,
        `Cannot encode ${path}: property "${key}" is not allowed (__proto__, constructor and prototype keys are refused)`,
      );
    }
    assertSerialisable((value as Record<string, unknown>)[key], `${path}.${key}`, depth + 1);
  }
}
