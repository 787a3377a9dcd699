/**
 * A byte count for people: "3.1 MB", "512 B".
 *
 * @example
 * ```ts
 * formatBytes(3_100_000); // "3.1 MB"
 * ```
 */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}
