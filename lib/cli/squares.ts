/**
 * The seed's task, shared by the roles: producers put integers, consumers put
 * back `n * n` computed exactly (BigInt end to end), the god prints it.
 */
import { jsonLine } from "./output.ts";
import { printable } from "../util/printable.ts";

/** What a consumer puts to `results` for each task. */
export interface SquareResult {
  /** The task's integer. */
  n: bigint;
  /** n * n, exact. */
  square: bigint;
  /** The name of the consumer that computed it. */
  by: string;
  /** The task's job id (a result's id is `result:<task>`; a task is completed once, so counted once). */
  task: string;
}

/**
 * The task value as a BigInt, or a reason why it is not an integer.
 *
 * @example
 * ```ts
 * toInteger(12); // 12n
 * toInteger("x"); // { reason: 'not an integer: string "x"' }
 * ```
 */
export function toInteger(value: unknown): bigint | { reason: string } {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
  return { reason: `not an integer: ${describeValue(value)}` };
}

/** A short description of any value for error messages: `string "x"`, `number 1.5`, `object {...}`. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") {
    return `string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + "..." : value)}`;
  }
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "undefined") {
    return `${typeof value} ${String(value)}`;
  }
  if (typeof value === "bigint") return `bigint ${value}`;
  if (Array.isArray(value)) return `array of ${value.length}`;
  if (value instanceof Date) return `Date ${value.toISOString()}`;
  const name = (value as object).constructor?.name ?? "object";
  let text: string;
  try {
    text = jsonLine({ v: value }).slice(5, -1);
  } catch {
    text = "";
  }
  return `${name === "Object" ? "object" : name} ${
    text.length > 40 ? text.slice(0, 40) + "..." : text
  }`
    .trimEnd();
}

/** The line the god prints for a result: `12 * 12 = 144  (consumer node-ab12cd)`. */
export function describeResult(value: unknown): string {
  const v = value as Partial<SquareResult> | null;
  if (v !== null && typeof v === "object" && "square" in v && "n" in v) {
    // A consumer wrote this: numbers are printed whole, anything else escaped and short.
    const shown = (x: unknown) =>
      typeof x === "bigint" || typeof x === "number" ? String(x) : printable(x, 200);
    return `${shown(v.n)} * ${shown(v.n)} = ${shown(v.square)}  (consumer ${
      printable(v.by ?? "?", 100)
    })`;
  }
  return `result: ${describeValue(value)}`;
}

/**
 * A random integer in 0..max (inclusive), a number when that is exact and a
 * BigInt beyond 2^53.
 */
export function randomInteger(max: bigint): number | bigint {
  if (max <= BigInt(Number.MAX_SAFE_INTEGER)) {
    return Math.floor(Math.random() * (Number(max) + 1));
  }
  const bytes = Math.ceil(max.toString(16).length / 2) + 8;
  const random = crypto.getRandomValues(new Uint8Array(bytes));
  let n = 0n;
  for (const b of random) n = (n << 8n) | BigInt(b);
  return n % (max + 1n);
}
