/**
 * What the bench drivers share: a tiny `--key value` parser, one-line JSON
 * output, and a stop on SIGTERM/SIGINT that runs the driver's cleanup once.
 */
import process from "node:process";

/** Parses `--key value` and `--flag` arguments; values stay strings. */
export function parseArgs(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) throw new TypeError(`Unexpected argument "${arg}"`);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith("--")) out.set(arg.slice(2), "true");
    else {
      out.set(arg.slice(2), next);
      i++;
    }
  }
  return out;
}

/** A numeric option, or `fallback`. */
export function num(args: Map<string, string>, key: string, fallback: number): number {
  const value = args.get(key);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new TypeError(`Invalid --${key} "${value}": expected a number`);
  return n;
}

/** Prints one JSON object as a line. */
export function emit(event: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(event) + "\n");
}

/** The shared key from TASKWIRE_AUTHKEY (the harness always sets it). */
export function authkey(): string {
  const key = process.env.TASKWIRE_AUTHKEY;
  if (!key) {
    process.stderr.write("bench driver: set TASKWIRE_AUTHKEY\n");
    process.exit(2);
  }
  return key;
}

/** Runs `cleanup` once on SIGTERM or SIGINT, then exits 0 (bounded by 5 s). */
export function onStop(cleanup: () => Promise<void>): void {
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), 5000);
    cleanup().finally(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
