/**
 * The data directory itself, before anything in it is trusted: made (0700)
 * when missing; when it exists, it must belong to this god's user and be
 * writable by nobody else. A directory another local user owns or can write
 * could hold a journal of their making (jobs this god would serve) or have
 * its files swapped while the god runs.
 */
import {
  createExclusive,
  currentUid,
  describeFileError,
  fileErrorAdvice,
  makeDirs,
  randomHex,
  remove,
  statPath,
} from "./file.ts";
import { StoreError } from "./record_codec.ts";

/**
 * Makes `dir` if missing and checks who owns it and who may write it.
 * Resolves with this process's user id (what the files in it must belong to).
 * Throws a {@link StoreError} that says what to do.
 *
 * @example
 * ```ts
 * const { uid } = await prepareDataDir("./taskwire-data", console.log);
 * ```
 */
export async function prepareDataDir(
  dir: string,
  log: (event: Record<string, unknown>) => void,
): Promise<{ uid: number }> {
  try {
    await makeDirs(dir);
  } catch (error) {
    throw new StoreError(
      `Cannot create data directory ${dir}: ${describeFileError(error)}; ${
        fileErrorAdvice(error) ?? "choose a writable --data DIR"
      }`,
      { cause: error },
    );
  }
  try {
    const info = await statPath(dir, { follow: true });
    if (info === null || info.kind !== "directory") {
      throw new StoreError(
        `Cannot use data directory ${dir}: it vanished or is not a directory any more; choose a writable --data DIR`,
      );
    }
    const uid = currentUid() ?? await uidFromNewFile(dir);
    if (info.uid !== uid) {
      throw new StoreError(
        `Cannot use data directory ${dir}: it belongs to user id ${info.uid}, not to this god's user (id ${uid}), and its owner could change the journal; choose a directory of your own with --data DIR (or chown it to user id ${uid} if you trust it)`,
      );
    }
    if ((info.mode & 0o022) !== 0) {
      throw new StoreError(
        `Cannot use data directory ${dir}: it is writable by ${whom(info.mode & 0o022)} (mode ${
          octal(info.mode)
        }), so another user could change the journal; run chmod 700 ${dir}`,
      );
    }
    if ((info.mode & 0o077) !== 0) {
      log({
        event: "data_dir_readable",
        dir,
        mode: octal(info.mode),
        note: `${dir} can be read by ${whom(info.mode & 0o077)} (mode ${
          octal(info.mode)
        }), who could read every payload in its journal; run chmod 700 ${dir}`,
      });
    }
    return { uid };
  } catch (error) {
    if (error instanceof StoreError) throw error;
    throw new StoreError(
      `Cannot use data directory ${dir}: ${describeFileError(error)}; ${
        fileErrorAdvice(error) ?? "choose a writable --data DIR"
      }`,
      { cause: error },
    );
  }
}

/** When the runtime will not tell this process's user id, the owner of a file it makes does. */
async function uidFromNewFile(dir: string): Promise<number> {
  const probe = `${dir}/.owner-probe-${randomHex(6)}`;
  await createExclusive(probe, "");
  try {
    const info = await statPath(probe);
    if (info === null) throw new StoreError(`${probe} vanished right after it was made`);
    return info.uid;
  } finally {
    await remove(probe);
  }
}

/** "group", "others" or "group and others" for the group/other bits of `mode`. */
function whom(bits: number): string {
  const group = (bits & 0o070) !== 0;
  const others = (bits & 0o007) !== 0;
  return group && others ? "group and others" : group ? "group" : "others";
}

function octal(mode: number): string {
  return `0${mode.toString(8)}`;
}
