/**
 * The lock on a data directory: one god at a time. The lock file `LOCK` holds
 * the PID and host of the god using the directory.
 */
import {
  createExclusive,
  describeFileError,
  processAlive,
  readText,
  remove,
  self,
} from "./file.ts";
import { LOCK } from "./layout.ts";
import { StoreError } from "./record_codec.ts";

/** A held lock. */
export interface Lock {
  release(): Promise<void>;
}

/**
 * Takes the lock of `dir`, or throws a {@link StoreError} saying who holds it.
 * A lock whose holder is gone is taken over, with a `stale_lock` event.
 */
export async function acquireLock(
  dir: string,
  log: (event: Record<string, unknown>) => void,
): Promise<Lock> {
  const path = `${dir}/${LOCK}`;
  const me = self();
  const text = JSON.stringify({ pid: me.pid, host: me.host, startedAt: new Date().toISOString() }) +
    "\n";
  for (let attempt = 0; attempt < 3; attempt++) {
    let created: boolean;
    try {
      created = await createExclusive(path, text);
    } catch (error) {
      throw new StoreError(
        `Cannot lock data directory ${dir}: ${
          describeFileError(error)
        }; choose a writable --data DIR`,
        { cause: error },
      );
    }
    if (created) {
      return { release: () => remove(path).catch(() => {}) };
    }
    const existing = await readText(path).catch(() => null);
    let holder: { pid?: unknown; host?: unknown; startedAt?: unknown } = {};
    try {
      holder = JSON.parse(existing ?? "");
    } catch {
      // An empty or half-written lock: its writer died while creating it.
    }
    const pid = typeof holder.pid === "number" ? holder.pid : null;
    const host = typeof holder.host === "string" ? holder.host : "";
    // Only a PID on this machine can be checked (the host is "" when a runtime cannot tell it).
    if (pid !== null && host !== "" && me.host !== "" && host !== me.host) {
      throw new StoreError(
        `Cannot open data directory ${dir}: it is locked by PID ${pid} on host ${host}; stop that god, or if it is gone, delete ${path}`,
      );
    }
    if (pid !== null && processAlive(pid)) {
      const since = typeof holder.startedAt === "string" ? `, since ${holder.startedAt}` : "";
      throw new StoreError(
        `Cannot open data directory ${dir}: another god (PID ${pid}${since}) is using it; stop that god or choose another --data DIR`,
      );
    }
    log({
      event: "stale_lock",
      dir,
      pid,
      note: `taking over the lock of PID ${pid}, which is gone`,
    });
    await remove(path);
  }
  throw new StoreError(
    `Cannot lock data directory ${dir}: the lock file keeps changing; is another god starting?`,
  );
}
