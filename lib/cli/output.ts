/**
 * What roles print: a human line or, with --json, one JSON object per line
 * per event; a live progress line on a terminal; aligned tables.
 */
import { stdoutIsTTY, terminalColumns, writeErr, writeOut } from "./runtime.ts";

/** Fields of an event; bigints are written as decimal strings in JSON. */
export type EventFields = Record<string, unknown>;

/**
 * Serialises one event as a JSON line: bigints become decimal strings, Dates
 * ISO strings, Maps and Sets arrays.
 */
export function jsonLine(event: EventFields): string {
  return JSON.stringify(event, (_key, value) => {
    if (typeof value === "bigint") return value.toString();
    if (value instanceof Map) return [...value];
    if (value instanceof Set) return [...value];
    return value;
  });
}

/** Where {@link Output} writes; replaced in tests. */
export interface Sink {
  out(text: string): void;
  err(text: string): void;
  tty: boolean;
}

const processSink: Sink = {
  out: writeOut,
  err: writeErr,
  get tty() {
    return stdoutIsTTY();
  },
};

/** Prints a role's events as human lines or JSON lines. */
export class Output {
  readonly json: boolean;
  readonly #sink: Sink;
  #progressShown = false;

  constructor(options: { json: boolean; sink?: Sink }) {
    this.json = options.json;
    this.#sink = options.sink ?? processSink;
  }

  /** Whether a live progress line can be drawn (a terminal, not --json). */
  get interactive(): boolean {
    return !this.json && this.#sink.tty;
  }

  /**
   * Reports an event: with --json the object `{event, ...fields}`, otherwise
   * the `human` line (nothing when `human` is null).
   */
  event(event: string, fields: EventFields, human: string | null): void {
    if (this.json) this.#line(jsonLine({ event, ...fields }));
    else if (human !== null) this.#line(human);
  }

  /** A human-only line (skipped with --json). */
  say(line: string): void {
    if (!this.json) this.#line(line);
  }

  /**
   * A human-only remark on stderr (skipped with --json), beside output meant
   * to be captured: `KEY=$(taskwire admin key worker …)` gets the key alone.
   */
  note(line: string): void {
    if (!this.json) {
      this.#clearProgress();
      this.#sink.err(line + "\n");
    }
  }

  /** A warning or error: a human line on stderr, or an event with --json. */
  warn(event: string, fields: EventFields, human: string): void {
    if (this.json) this.#line(jsonLine({ event, ...fields }));
    else {
      this.#clearProgress();
      this.#sink.err(human + "\n");
    }
  }

  /** Draws (replaces) the live progress line on a terminal; does nothing otherwise. */
  progress(text: string): void {
    if (!this.interactive) return;
    const width = Math.max(10, terminalColumns() - 1);
    this.#sink.out(`\r\x1b[2K${text.slice(0, width)}`);
    this.#progressShown = true;
  }

  /** Removes the progress line, if one is drawn. */
  endProgress(): void {
    this.#clearProgress();
  }

  #line(text: string): void {
    this.#clearProgress();
    this.#sink.out(text + "\n");
  }

  #clearProgress(): void {
    if (this.#progressShown) {
      this.#sink.out("\r\x1b[2K");
      this.#progressShown = false;
    }
  }
}

/**
 * Formats rows as an aligned table; numbers (and numeric strings) align right.
 *
 * @example
 * ```ts
 * table(["queue", "ready"], [["tasks", 3]]);
 * // "queue  ready\ntasks      3"
 * ```
 */
export function table(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = [
    headers.map(String),
    ...rows.map((r) => r.map((c) => c === undefined ? "" : String(c))),
  ];
  const numeric = headers.map((_, i) =>
    rows.length > 0 &&
    rows.every((r) => typeof r[i] === "number" || /^-?[\d.,]+(\/s)?$/.test(String(r[i])))
  );
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  return cells.map((r) =>
    r.map((c, i) => numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])).join("  ").trimEnd()
  ).join("\n");
}

/** A number with thousands separators: 12345 → "12,345". */
export function count(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** A rate with sensible precision: 0.5 → "0.5", 1234.5 → "1,235". */
export function rate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return "0";
  return perSecond < 10 ? perSecond.toFixed(1) : count(perSecond);
}

/** A duration for people: 850 → "850ms", 12_300 → "12.3s", 75_000 → "1m15s". */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return "?";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1).replace(/\.0$/, "")}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
}

/** "1 task", "2 tasks", "1,000 tasks". */
export function plural(n: number, noun: string): string {
  return `${count(n)} ${noun}${n === 1 ? "" : "s"}`;
}
