/**
 * The version of taskwire: the one number that package.json, deno.json, the
 * handshake (`software` in Auth and Welcome) and `taskwire --version` share.
 * `test/version_test.ts` fails when any of them disagree.
 *
 * @module
 */

/** This release of taskwire (semver). */
export const VERSION = "0.2.0";

/** How taskwire names itself to peers in the handshake: `taskwire 0.2.0`. */
export const SOFTWARE: string = `taskwire ${VERSION}`;
