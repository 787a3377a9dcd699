/**
 * The lock on a data directory: one god at a time, on Node and on Deno, with
 * no permission beyond the README's (`--allow-read --allow-write`; no
 * `--allow-run`, no `--allow-sys`).
 *
 * **Why a socket.** A lock file with a PID needs a liveness check of that
 * PID, and Deno without `--allow-run` may not call `kill(pid, 0)`, nor read
 * `/proc` without `--allow-all`; treating "may not ask" as "gone" let a Deno
 * god take over a live Node god's directory. OS file locks (`flock`) are not
 * in `node:fs`. A heartbeat (a file the holder keeps touching) cannot tell a
 * dead god from a stopped or starved one. What both runtimes can do with
 * file permissions alone is listen on and connect to a Unix socket in the
 * data directory, and the kernel answers for the holder: while its process
 * lives (even stopped with SIGSTOP or stuck in a long computation) a
 * connection succeeds; once it is gone, however it died, the socket file
 * stays but a connection is refused. So a refused connection proves the
 * holder dead, and nothing else is taken for proof.
 *
 * **The protocol.** Each god listens on a socket with a fresh name,
 * `lock.<machine>.<random>`, then lists the directory: any other lock socket
 * that answers is a live god (refuse to start); one that refuses is stale and
 * is removed (safe: a name is never used twice, so a stale socket can never
 * come back to life). Because every god makes its socket before it looks,
 * of two gods starting at once the later one always sees the earlier one;
 * at worst both see each other and both refuse, never both start. The
 * winner then writes `LOCK` (its PID, machine, start time and socket name,
 * atomically) for people and for the messages of gods it refuses. On close
 * it removes `LOCK` only if `LOCK` still names its socket, then its socket.
 *
 * **What it cannot see.** Another machine's god on a shared (network)
 * filesystem: its socket cannot be probed from here. The machine's name in
 * the socket's name and in `LOCK` makes such a lock refuse to start with
 * advice, never a takeover (keep data directories on local disks). A lock
 * written by an older taskwire (a `LOCK` without a socket) is checked by its
 * PID where the runtime may ask, and refused with advice where it may not.
 */
import {
  describeFileError,
  errorCode,
  fileErrorAdvice,
  listDir,
  listenLockSocket,
  type LockSocket,
  probeLockSocket,
  processAlive,
  randomHex,
  readText,
  remove,
  replaceFile,
  self,
  statPath,
} from "./file.ts";
import { LOCK } from "./layout.ts";
import { StoreError } from "./record_codec.ts";

/** A held lock. */
export interface Lock {
  /** Releases it: removes `LOCK` if it is still ours, and our socket. */
  release(): Promise<void>;
}

/** `lock.<machine tag>.<random>`: a god's lock socket. */
const LOCK_SOCKET = /^lock\.([0-9a-f]{8})\.([0-9a-f]{8})$/;
/** The machine tag of a god that could not tell its machine's name. */
const UNKNOWN_MACHINE = "00000000";

/** What `LOCK` says (every field may be missing in a damaged or old lock). */
interface Holder {
  pid: number | null;
  host: string;
  startedAt: string | null;
  /** The holder's lock socket; absent in locks of older versions. */
  socket: string | null;
}

/**
 * Takes the lock of `dir` (which must belong to user `uid`), or throws a
 * {@link StoreError} saying who holds it and what to do. A lock whose holder
 * is proven gone is taken over, with a `stale_lock` event.
 *
 * @example
 * ```ts
 * const lock = await acquireLock("./taskwire-data", { uid: 1000, log: console.log });
 * await lock.release();
 * ```
 */
export async function acquireLock(
  dir: string,
  options: { uid: number; log: (event: Record<string, unknown>) => void },
): Promise<Lock> {
  const me = await self();
  const machine = machineTag(me.host);
  const { name, socket } = await listen(dir, machine);
  try {
    const removed = await removeStaleSockets(dir, name, machine, options.uid);
    const holder = await readHolder(dir, options.uid);
    if (holder !== null || removed > 0) {
      if (holder !== null) checkHolder(dir, holder, me.host);
      options.log({
        event: "stale_lock",
        dir,
        pid: holder?.pid ?? null,
        note: `taking over the lock of PID ${holder?.pid ?? "?"}${
          holder?.startedAt ? ` (since ${holder.startedAt})` : ""
        }, which is gone${removed > 0 ? " (its lock socket refuses connections)" : ""}`,
      });
    }
    const text = JSON.stringify({
      pid: me.pid,
      host: me.host,
      startedAt: new Date().toISOString(),
      socket: name,
    }) + "\n";
    await replaceFile(`${dir}/${LOCK}`, text);
  } catch (error) {
    await socket.close().catch(() => {});
    if (error instanceof StoreError) throw error;
    throw new StoreError(
      `Cannot lock data directory ${dir}: ${describeFileError(error)}; ${
        fileErrorAdvice(error) ?? "choose a writable --data DIR"
      }`,
      { cause: error },
    );
  }
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      // While our socket listens no other god can have written LOCK, so a
      // LOCK naming our socket is ours; any other is left alone.
      const holder = await readHolder(dir, null).catch(() => null);
      if (holder?.socket === name) await remove(`${dir}/${LOCK}`).catch(() => {});
      await socket.close().catch(() => {});
    },
  };
}

/** Listens on a lock socket with a fresh name in `dir`. */
async function listen(dir: string, machine: string): Promise<{ name: string; socket: LockSocket }> {
  for (let attempt = 0;; attempt++) {
    const name = `lock.${machine}.${randomHex(4)}`;
    try {
      return { name, socket: await listenLockSocket(`${dir}/${name}`) };
    } catch (error) {
      // The same 32 random bits twice: pick again (a few times at most).
      if (errorCode(error) === "EADDRINUSE" && attempt < 5) continue;
      throw new StoreError(
        `Cannot lock data directory ${dir}: cannot make its lock socket (${
          describeFileError(error)
        }); ${
          fileErrorAdvice(error) ??
            "the lock is a Unix socket in the data directory: choose a --data DIR on a local filesystem"
        }`,
        { cause: error },
      );
    }
  }
}

/**
 * Refuses if another god's socket answers (or cannot be probed); removes
 * those proven stale and says how many.
 */
async function removeStaleSockets(
  dir: string,
  mine: string,
  machine: string,
  uid: number,
): Promise<number> {
  let removed = 0;
  for (const name of await listDir(dir)) {
    const match = LOCK_SOCKET.exec(name);
    if (match === null || name === mine) continue;
    const path = `${dir}/${name}`;
    const info = await statPath(path);
    if (info === null) continue; // released meanwhile
    if (info.uid !== uid) {
      throw new StoreError(
        `Cannot lock data directory ${dir}: its lock socket ${name} belongs to user id ${info.uid}, not to this god's user (id ${uid}); if no god uses ${dir}, delete ${path}`,
      );
    }
    const theirs = match[1];
    if (theirs !== machine && theirs !== UNKNOWN_MACHINE && machine !== UNKNOWN_MACHINE) {
      // Another machine's god (a shared filesystem): its socket cannot be probed from here.
      const holder = await readHolder(dir, null).catch(() => null);
      const who = holder?.socket === name
        ? `PID ${holder.pid ?? "?"} on host ${holder.host || "?"}`
        : `a god on another machine`;
      throw new StoreError(
        `Cannot open data directory ${dir}: it is locked by ${who} (lock socket ${name}); stop that god, or if it is gone, delete ${path} and ${dir}/${LOCK}`,
      );
    }
    const state = await probeLockSocket(path);
    if (state === "gone") {
      await remove(path);
      removed++;
      continue;
    }
    const holder = await readHolder(dir, null).catch(() => null);
    const since = holder?.startedAt ? `, since ${holder.startedAt}` : "";
    if (state === "alive") {
      const who = holder?.socket === name && holder.pid !== null
        ? `another god (PID ${holder.pid}${since})`
        : `another god (lock socket ${name})`;
      throw new StoreError(
        `Cannot open data directory ${dir}: ${who} is using it; stop that god or choose another --data DIR`,
      );
    }
    throw new StoreError(
      `Cannot open data directory ${dir}: cannot tell whether the god of lock socket ${name} is gone (${state.unknown}); if no god uses ${dir}, delete ${path}`,
    );
  }
  return removed;
}

/** Reads `LOCK`, or null if there is none. Refuses one that belongs to another user (when `uid` is given). */
async function readHolder(dir: string, uid: number | null): Promise<Holder | null> {
  const path = `${dir}/${LOCK}`;
  if (uid !== null) {
    const info = await statPath(path);
    if (info === null) return null;
    if (info.uid !== uid) {
      throw new StoreError(
        `Cannot lock data directory ${dir}: its lock file belongs to user id ${info.uid}, not to this god's user (id ${uid}); if no god uses ${dir}, delete ${path}`,
      );
    }
  }
  const text = await readText(path);
  if (text === null) return null;
  let fields: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(text);
    if (typeof parsed === "object" && parsed !== null) fields = parsed;
  } catch {
    // An empty or half-written lock of an older version: its writer died while creating it.
  }
  return {
    pid: typeof fields.pid === "number" && Number.isSafeInteger(fields.pid) ? fields.pid : null,
    host: printable(fields.host) ?? "",
    startedAt: printable(fields.startedAt),
    socket: printable(fields.socket),
  };
}

/**
 * Every live lock socket was refused above; what remains is `LOCK` itself:
 * one of another machine, or of an older taskwire (no socket: check its PID).
 */
function checkHolder(dir: string, holder: Holder, host: string): void {
  const path = `${dir}/${LOCK}`;
  if (holder.pid !== null && holder.host !== "" && host !== "" && holder.host !== printable(host)) {
    throw new StoreError(
      `Cannot open data directory ${dir}: it is locked by PID ${holder.pid} on host ${holder.host}; stop that god, or if it is gone, delete ${path}`,
    );
  }
  if (holder.socket !== null || holder.pid === null) return; // its socket was refused, or a torn old lock
  const state = processAlive(holder.pid);
  if (state === "alive") {
    const since = holder.startedAt ? `, since ${holder.startedAt}` : "";
    throw new StoreError(
      `Cannot open data directory ${dir}: another god (PID ${holder.pid}${since}) is using it; stop that god or choose another --data DIR`,
    );
  }
  if (state === "unknown") {
    throw new StoreError(
      `Cannot open data directory ${dir}: it is locked by PID ${holder.pid} (a lock of an older taskwire), and this runtime may not check whether that process runs (Deno without --allow-run); if no god uses ${dir}, delete ${path}`,
    );
  }
}

/** What goes into messages is printable and short, whatever a lock file says. */
function printable(value: unknown): string | null {
  return typeof value === "string" ? value.replace(/[^\x20-\x7e]/g, "?").slice(0, 200) : null;
}

/** An 8-hex-digit tag of the machine's name (FNV-1a), "00000000" when unknown. */
function machineTag(host: string): string {
  if (host === "") return UNKNOWN_MACHINE;
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(host)) {
    hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  }
  if (hash === 0) hash = 1;
  return hash.toString(16).padStart(8, "0");
}
