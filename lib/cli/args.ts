/**
 * Command-line parsing for the roles: a table of options in, typed values out,
 * and a {@link UsageError} (exit code 2) naming the bad part otherwise.
 */
import { ErrorCode, TaskwireError } from "../protocol/errors.ts";
import type { Address } from "../transport/transport.ts";
import { parseAddress } from "../util/address.ts";
import { startedAsCommand } from "./runtime.ts";

/** A mistake on the command line: the role prints it with a hint and exits 2. */
export class UsageError extends TaskwireError {
  constructor(message: string) {
    super(ErrorCode.BadArgument, message);
  }
}

/** A failure that is not the command line's fault (wrong key, missing file): exit 1. */
export class CliFailure extends TaskwireError {
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.BadArgument, message, options);
  }
}

/** The kinds of option values. */
export const OptionKind = {
  /** Present or not; takes no value. */
  Flag: "flag",
  String: "string",
  /** A whole number, at least `min` (default 0). */
  Int: "int",
  /** A whole number of any size (BigInt). */
  BigInt: "bigint",
  /** "3s", "500ms", "2m", "1h" or a number of seconds; "0" for none. */
  Duration: "duration",
  /** HOST:PORT. */
  Address: "address",
  /** One of `choices`. */
  Choice: "choice",
  /** A string that may be given several times. */
  List: "list",
} as const;
export type OptionKind = typeof OptionKind[keyof typeof OptionKind];

/** One option of a role. */
export interface OptionSpec {
  kind: OptionKind;
  /** What the option does, for --help. */
  help: string;
  /** The value's placeholder in --help (e.g. "N", "DIR"). */
  arg?: string;
  /** Smallest allowed value for Int. */
  min?: number;
  /** Allowed values for Choice. */
  choices?: readonly string[];
  /** Shown in --help as the default. */
  default?: string;
}

/** Parsed option values: flags as booleans, ints and durations (ms) as numbers. */
export type ParsedValue = string | number | bigint | boolean | Address | string[];

/** What {@link parseArgs} returns. */
export interface ParsedArgs {
  values: Record<string, ParsedValue | undefined>;
  positionals: string[];
}

const DURATION_UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/**
 * Parses a duration: "3s", "500ms", "1.5s", "2m", "1h", or a bare number of
 * seconds ("0" means none). Throws a {@link UsageError} otherwise.
 *
 * @example
 * ```ts
 * parseDuration("3s"); // 3000
 * parseDuration("0"); // 0
 * ```
 */
export function parseDuration(text: string, what = "duration"): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) {
    throw new UsageError(
      `Invalid ${what} "${text}": expected a number with a unit, like 3s, 500ms, 2m or 0`,
    );
  }
  const unit = (match[2] ?? "s") as keyof typeof DURATION_UNITS;
  return Math.round(Number(match[1]) * DURATION_UNITS[unit]);
}

/**
 * Parses `argv` against `spec`. Accepts `--name value`, `--name=value`, `-h`
 * for `--help`, and `--` to end options. Unknown options, missing values and
 * bad numbers throw a {@link UsageError}.
 *
 * @example
 * ```ts
 * const { values } = parseArgs(["--count", "5"], { count: { kind: "int", help: "tasks" } });
 * values.count; // 5
 * ```
 */
export function parseArgs(argv: readonly string[], spec: Record<string, OptionSpec>): ParsedArgs {
  const values: Record<string, ParsedValue | undefined> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "-h") {
      values.help = true;
      continue;
    }
    if (!arg.startsWith("--") || arg === "--") {
      if (arg.startsWith("-") && arg.length > 1 && !/^-\d/.test(arg)) {
        throw new UsageError(`Unknown option ${arg}`);
      }
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const option = spec[name];
    if (!option) throw new UsageError(`Unknown option --${name}`);
    if (option.kind === OptionKind.Flag) {
      if (eq !== -1) throw new UsageError(`Option --${name} takes no value`);
      values[name] = true;
      continue;
    }
    let raw: string;
    if (eq !== -1) raw = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length || /^--[a-z]/.test(argv[i + 1])) {
        throw new UsageError(`Option --${name} needs a value (${option.arg ?? "VALUE"})`);
      }
      raw = argv[++i];
    }
    values[name] = convert(name, option, raw, values[name]);
  }
  return { values, positionals };
}

function convert(
  name: string,
  option: OptionSpec,
  raw: string,
  previous: ParsedValue | undefined,
): ParsedValue {
  switch (option.kind) {
    case OptionKind.Int: {
      const min = option.min ?? 0;
      if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(Number(raw)) || Number(raw) < min) {
        throw new UsageError(`Invalid --${name} "${raw}": expected a whole number >= ${min}`);
      }
      return Number(raw);
    }
    case OptionKind.BigInt:
      if (!/^\d+$/.test(raw.trim())) {
        throw new UsageError(`Invalid --${name} "${raw}": expected a whole number >= 0`);
      }
      return BigInt(raw.trim());
    case OptionKind.Duration:
      return parseDuration(raw, `--${name}`);
    case OptionKind.Address:
      return parseAddressOption(`--${name}`, raw);
    case OptionKind.Choice:
      if (!option.choices?.includes(raw)) {
        throw new UsageError(
          `Invalid --${name} "${raw}": expected one of ${option.choices?.join(", ")}`,
        );
      }
      return raw;
    case OptionKind.List:
      return [...(Array.isArray(previous) ? previous as string[] : []), raw];
    default:
      if (raw === "") throw new UsageError(`Option --${name} needs a non-empty value`);
      return raw;
  }
}

/** Parses HOST:PORT for option `name`, turning the library's TypeError into a {@link UsageError}. */
export function parseAddressOption(name: string, raw: string): Address {
  try {
    return parseAddress(raw);
  } catch (error) {
    throw new UsageError(`${(error as Error).message} (given by ${name})`);
  }
}

/**
 * Formats --help text: a summary, the usage line, and one aligned line per option.
 */
export function formatHelp(
  usage: string,
  summary: string,
  spec: Record<string, OptionSpec>,
  epilogue = "",
): string {
  const rows = Object.entries(spec).map(([name, o]) => {
    const left = `--${name}${o.kind === OptionKind.Flag ? "" : ` ${o.arg ?? "VALUE"}`}`;
    const right = o.default === undefined ? o.help : `${o.help} (default ${o.default})`;
    return [left, right];
  });
  const width = Math.max(...rows.map(([left]) => left.length));
  const lines = rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`);
  // "god.ts [options]" reads "taskwire god [options]" under the taskwire command.
  const shown = startedAsCommand() ? usage.replace(/^(\w+)\.ts\b/, "taskwire $1") : usage;
  return `${summary}\n\nUsage: ${shown}\n\nOptions:\n${lines.join("\n")}\n${
    epilogue ? `\n${epilogue.trimEnd()}\n` : ""
  }`;
}
