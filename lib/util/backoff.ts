/**
 * How long to wait before trying again: exponential from `baseMs`, capped at
 * `maxMs`, with jitter (a random point in the upper half) so that many
 * clients that lost the god together do not come back together.
 *
 * @example
 * ```ts
 * backoffMs(1); // 50..100
 * backoffMs(8, { maxMs: 5000 }); // 2500..5000
 * ```
 */
export function backoffMs(
  attempt: number,
  options: { baseMs?: number; maxMs?: number } = {},
): number {
  const base = options.baseMs ?? 100;
  const max = options.maxMs ?? 5000;
  const ceiling = Math.min(max, base * 2 ** Math.min(Math.max(attempt - 1, 0), 20));
  return Math.round(ceiling / 2 + Math.random() * ceiling / 2);
}

/** Resolves after `ms`, or sooner when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}
