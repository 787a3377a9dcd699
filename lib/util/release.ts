/**
 * Gives the memory of a typed array that is no longer needed back now, not at
 * the next full collection.
 *
 * Why: a big array that lived a while sits in V8's old generation, and
 * dropping it frees its memory only at the next mark-compact, which V8 may put
 * off for seconds while the process's RSS holds it (a dedupe table doubling
 * under a stream of puts leaves its old arrays there, megabytes each).
 * Transferring the buffer moves its memory to a new, young `ArrayBuffer` that
 * nothing refers to, and the next scavenge, milliseconds away on a busy god,
 * frees it. `structuredClone` with `transfer` does that on every runtime the
 * library runs on (Node, Deno, Bun, workerd, browsers).
 *
 * The array is detached afterwards (its length is 0): only for memory that
 * nothing else can still be reading.
 */
export function releaseNow(array: ArrayBufferView): void {
  const buffer = array.buffer;
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength === 0) return;
  try {
    structuredClone(buffer, { transfer: [buffer] });
  } catch {
    // A runtime that cannot transfer it: the collector frees it in its own time, as before.
  }
}
