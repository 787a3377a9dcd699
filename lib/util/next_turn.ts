/**
 * Runs `fn` after the current turn of the event loop, once pending I/O
 * callbacks have run. Clients gather puts and acks until then, so a consumer
 * loop that handles a whole delivery of jobs sends one frame, not one per job.
 * `setImmediate` exists on Node and Deno; elsewhere (browsers, edge) a
 * zero-delay timer does the same job.
 */
const immediate = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate;

export const nextTurn: (fn: () => void) => void = immediate
  ? (fn) => {
    immediate(fn);
  }
  : (fn) => {
    setTimeout(fn, 0);
  };
