/**
 * Text a peer controls (a client's name, role, runtime, a protocol version it
 * claims, an address) made safe to print in a log line: it can neither start
 * a new line (a forged "connected" line), nor move the cursor, recolour or
 * clear a terminal, nor reorder what follows (bidirectional overrides).
 */

/** Characters terminals and log viewers act on, besides the C0 controls: DEL, C1, separators, bidi. */
const INVISIBLE =
  "\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069";
/** C0 controls and {@link INVISIBLE}. */
const UNSAFE = new RegExp(`[\\u0000-\\u001f${INVISIBLE}]`, "g");
/** The same, less the line feed and tab: what may stay in a whole line a role prints. */
const UNSAFE_IN_LINE = new RegExp(`[\\u0000-\\u0008\\u000b-\\u001f${INVISIBLE}]`, "g");
/** What JSON text leaves raw (it escapes the C0 controls itself). */
const UNSAFE_IN_JSON = new RegExp(`[${INVISIBLE}]`, "g");

const NAMED: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function escape(char: string): string {
  const named = NAMED[char];
  if (named !== undefined) return named;
  const code = char.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * A peer-controlled value as printable text on one line: every control
 * character escaped (`\n`, `\x1b`, `\u202e`), cut to `max` characters
 * (with "..." when cut). Non-strings are shown with `String()`.
 *
 * @example
 * ```ts
 * printable("evil\n+ producer x connected\x1b[2J"); // "evil\\n+ producer x connected\\x1b[2J"
 * ```
 */
export function printable(value: unknown, max = 200): string {
  let text = typeof value === "string" ? value : String(value);
  if (text.length > max) text = `${text.slice(0, max)}...`;
  return text.replace(UNSAFE, escape);
}

/**
 * A whole line (or lines) made safe for a terminal: control characters are
 * escaped as in {@link printable}, but line feeds and tabs are kept. The last
 * guard of what a role prints; fields a peer controls should go through
 * {@link printable} first, so they cannot start a line of their own.
 */
export function printableLines(text: string): string {
  return text.replace(UNSAFE_IN_LINE, escape);
}

/**
 * A JSON text with the characters JSON leaves raw but terminals and log
 * viewers act on (DEL, C1 controls, line/paragraph separators, bidi
 * controls) written as `\uXXXX` escapes: the same JSON value, safe to print.
 * (`JSON.stringify` already escapes the C0 controls.)
 */
export function safeJsonText(json: string): string {
  return json.replace(
    UNSAFE_IN_JSON,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
