/**
 * The files of a data directory, by name:
 * - `LOCK`: the PID and host of the god using it;
 * - `journal-NNNNNNNN.twj`: journal segments, one per generation N;
 * - `snapshot-NNNNNNNN.tws`: the live state as it was when segment N began;
 * - `snapshot-NNNNNNNN.tmp`: a snapshot being written (a compaction in progress).
 */

/** The lock file. */
export const LOCK = "LOCK";
/** A journal segment; group 1 is its generation. */
export const SEGMENT: RegExp = /^journal-(\d{8})\.twj$/;
/** A snapshot; group 1 is its generation. */
export const SNAPSHOT: RegExp = /^snapshot-(\d{8})\.tws$/;
/** A snapshot whose writing never finished. */
export const TEMP_SNAPSHOT: RegExp = /^snapshot-\d{8}\.tmp$/;

function pad(generation: number): string {
  return String(generation).padStart(8, "0");
}

/** `journal-00000007.twj` */
export function segmentName(generation: number): string {
  return `journal-${pad(generation)}.twj`;
}

/** `snapshot-00000007.tws` */
export function snapshotName(generation: number): string {
  return `snapshot-${pad(generation)}.tws`;
}

/** `snapshot-00000007.tmp` */
export function tempSnapshotName(generation: number): string {
  return `snapshot-${pad(generation)}.tmp`;
}
