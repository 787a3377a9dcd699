/**
 * The one file adapter of the journal, for Node and Deno alike (both provide
 * `node:fs/promises` and `node:net`). Everything the store does to the disk
 * goes through here: positioned writes, fsync, truncate, rename, directory
 * sync, creating the data directory, owners and modes, and the lock's
 * liveness socket (a Unix socket in the data directory; see lock.ts for why).
 *
 * Files are created 0600 and the data directory 0700: the journal holds every
 * payload, so nobody but the god's user may read it.
 */
import * as fs from "node:fs/promises";
import * as net from "node:net";
import * as os from "node:os";
import * as nodePath from "node:path";
import process from "node:process";

/** What {@link statPath} and {@link DataFile.stat} tell. */
export interface FileInfo {
  size: number;
  /** The owner's user id. */
  uid: number;
  /** Permission bits (`mode & 0o7777`). */
  mode: number;
  kind: "file" | "directory" | "socket" | "symlink" | "other";
}

/** A file opened for positioned reads and writes. */
export interface DataFile {
  readonly path: string;
  /** Reads up to `length` bytes at `position` into `into`; returns how many were read. */
  read(into: Uint8Array, position: number): Promise<number>;
  /** Writes all of `bytes` at `position`. */
  write(bytes: Uint8Array, position: number): Promise<void>;
  /** Flushes file data to the device (fdatasync). */
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  size(): Promise<number>;
  stat(): Promise<FileInfo>;
  close(): Promise<void>;
}

/**
 * Wraps every file the journal opens, so a test can inject disk faults (a
 * `datasync` that fails with EIO, a `write` that fails with ENOSPC). The
 * journal is written against {@link DataFile}, so a wrapper sees every
 * read, write and fsync it makes.
 */
export type FileWrapper = (file: DataFile) => DataFile;

function infoOf(stats: {
  size: number;
  uid: number;
  mode: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isSocket(): boolean;
  isSymbolicLink(): boolean;
}): FileInfo {
  return {
    size: stats.size,
    uid: stats.uid,
    mode: stats.mode & 0o7777,
    kind: stats.isFile()
      ? "file"
      : stats.isDirectory()
      ? "directory"
      : stats.isSocket()
      ? "socket"
      : stats.isSymbolicLink()
      ? "symlink"
      : "other",
  };
}

class NodeDataFile implements DataFile {
  readonly path: string;
  readonly #handle: fs.FileHandle;

  constructor(path: string, handle: fs.FileHandle) {
    this.path = path;
    this.#handle = handle;
  }

  async read(into: Uint8Array, position: number): Promise<number> {
    const { bytesRead } = await this.#handle.read(into, 0, into.length, position);
    return bytesRead;
  }

  async write(bytes: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.#handle.write(
        bytes,
        done,
        bytes.length - done,
        position + done,
      );
      if (bytesWritten <= 0) throw new Error(`write to ${this.path} made no progress`);
      done += bytesWritten;
    }
  }

  datasync(): Promise<void> {
    return this.#handle.datasync();
  }

  truncate(length: number): Promise<void> {
    return this.#handle.truncate(length);
  }

  async size(): Promise<number> {
    return (await this.#handle.stat()).size;
  }

  async stat(): Promise<FileInfo> {
    return infoOf(await this.#handle.stat());
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}

/**
 * Opens a file: "read" (must exist, read only), "update" (must exist, read and
 * write) or "create" (must not exist yet; made 0600).
 */
export async function openFile(
  path: string,
  mode: "read" | "update" | "create",
): Promise<DataFile> {
  const flags = mode === "read" ? "r" : mode === "update" ? "r+" : "wx+";
  return new NodeDataFile(path, await fs.open(path, flags, 0o600));
}

/** The kind, owner and mode of `path` (of a symlink itself, not its target), or null if it is missing. */
export async function statPath(path: string, options: { follow?: boolean } = {}): Promise<
  FileInfo | null
> {
  try {
    return infoOf(await (options.follow ? fs.stat(path) : fs.lstat(path)));
  } catch (error) {
    if (errorCode(error) === "ENOENT") return null;
    throw error;
  }
}

/** Sets the permission bits of `path`. */
export function chmod(path: string, mode: number): Promise<void> {
  return fs.chmod(path, mode);
}

/**
 * Creates `dir` (0700) and its missing parents (0755 at most), each with
 * one mkdir: a filesystem that answers EEXIST and then ENOENT for the same
 * path (/proc does) is an error, never a loop. Resolves true if `dir` was made.
 */
export async function makeDirs(dir: string): Promise<boolean> {
  const missing: string[] = [];
  let path = nodePath.resolve(dir);
  // A path has at most a few hundred parts; the bound is there for safety only.
  for (let depth = 0; depth < 4096; depth++) {
    const info = await statPath(path, { follow: true });
    if (info !== null) {
      if (info.kind !== "directory") {
        throw Object.assign(new Error(`${path} is not a directory`), { code: "ENOTDIR" });
      }
      break;
    }
    missing.push(path);
    const parent = nodePath.dirname(path);
    if (parent === path) break;
    path = parent;
  }
  missing.reverse();
  for (let i = 0; i < missing.length; i++) {
    const target = missing[i];
    const last = i === missing.length - 1;
    try {
      // Parents as `mkdir -p` would make them, but never writable by others
      // (whoever may write a parent could swap the data directory).
      await fs.mkdir(target, { mode: last ? 0o700 : 0o755 });
    } catch (error) {
      const code = errorCode(error);
      const info = code === "EEXIST" ? await statPath(target, { follow: true }) : null;
      if (info?.kind === "directory") continue; // made by someone else meanwhile
      if (code === "EEXIST" || code === "ENOENT") {
        const parent = nodePath.dirname(target);
        throw Object.assign(
          new Error(
            `the filesystem will not create ${target} (mkdir says ${code}, yet ${
              code === "EEXIST" ? "it is not there" : `${parent} exists`
            }): ${parent} looks like a kernel filesystem such as /proc or /sys, which cannot hold data`,
          ),
          { code: "EBADFS", cause: error },
        );
      }
      throw error;
    }
    // mkdir's mode is masked by the umask: make sure it is exactly 0700.
    if (last) await fs.chmod(target, 0o700);
  }
  return missing.length > 0;
}

/** Names of the entries of `dir`. */
export function listDir(dir: string): Promise<string[]> {
  return fs.readdir(dir);
}

/** Makes renames and creations in `dir` durable (fsync of the directory). */
export async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, "r");
  try {
    await handle.sync();
  } catch (error) {
    // Some filesystems refuse fsync on a directory; their renames are durable anyway.
    const code = errorCode(error);
    if (code !== "EINVAL" && code !== "ENOTSUP" && code !== "EISDIR" && code !== "EPERM") {
      throw error;
    }
  } finally {
    await handle.close();
  }
}

/** Atomically replaces `to` with `from`. */
export function rename(from: string, to: string): Promise<void> {
  return fs.rename(from, to);
}

/** Removes a file; a missing file is fine. */
export async function remove(path: string): Promise<void> {
  try {
    await fs.unlink(path);
  } catch (error) {
    if (errorCode(error) !== "ENOENT") throw error;
  }
}

/** Reads a small text file, or null if it does not exist. */
export async function readText(path: string): Promise<string | null> {
  try {
    return await fs.readFile(path, "utf8");
  } catch (error) {
    if (errorCode(error) === "ENOENT") return null;
    throw error;
  }
}

/** Creates `path` (0600) with `text` only if it does not exist yet, durably; false if it exists. */
export async function createExclusive(path: string, text: string): Promise<boolean> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, "wx", 0o600);
  } catch (error) {
    if (errorCode(error) === "EEXIST") return false;
    throw error;
  }
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

/** Replaces `path` (0600) with `text` atomically and durably: a temp file, fsync, rename, fsync of the directory. */
export async function replaceFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.${randomHex(4)}.tmp`;
  const handle = await fs.open(tmp, "wx", 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => {});
    await remove(tmp).catch(() => {});
    throw error;
  }
  await handle.close();
  try {
    await fs.rename(tmp, path);
  } catch (error) {
    await remove(tmp).catch(() => {});
    throw error;
  }
  await syncDir(nodePath.dirname(path));
}

/**
 * The user id of this process, or null when the runtime will not say (Deno
 * without `--allow-sys`; then the owner of a file this process creates tells).
 */
export function currentUid(): number | null {
  try {
    return process.getuid?.() ?? null;
  } catch {
    return null;
  }
}

/**
 * Whether a process with this PID runs on this machine: "unknown" when the
 * runtime may not ask (Deno without `--allow-run`), which is never taken for
 * "gone".
 */
export function processAlive(pid: number): "alive" | "gone" | "unknown" {
  try {
    process.kill(pid, 0);
    return "alive";
  } catch (error) {
    const code = errorCode(error);
    if (code === "ESRCH") return "gone";
    if (code === "EPERM") return "alive"; // it exists, owned by someone else
    return "unknown";
  }
}

/**
 * This process: its PID, and the machine's name, written into the lock. The
 * name comes from /etc/hostname where it exists (readable by Node and by Deno
 * with `--allow-read`, so gods of both runtimes on one machine agree), else
 * from the OS (Node; Deno with `--allow-sys`), else "" (unknown).
 */
export async function self(): Promise<{ pid: number; host: string }> {
  let host = "";
  try {
    host = ((await readText("/etc/hostname")) ?? "").split("\n")[0].trim();
  } catch {
    // Not readable (Deno with --allow-read scoped elsewhere): ask the OS.
  }
  if (host === "") {
    try {
      host = os.hostname();
    } catch {
      // Deno without --allow-sys: unknown.
    }
  }
  return { pid: process.pid, host };
}

/** Random bytes as hex (names of temp files and lock sockets). */
export function randomHex(bytes: number): string {
  const values = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(values, (b) => b.toString(16).padStart(2, "0")).join("");
}

// -- the lock's liveness socket --

/**
 * The longest Unix socket path every platform takes (sun_path is 108 bytes
 * on Linux, 104 on macOS, both with the final NUL). A longer one is not
 * refused by every runtime: Deno silently cuts it short, so check first.
 */
const MAX_SOCKET_PATH = 103;

function fits(address: string): boolean {
  return new TextEncoder().encode(address).length <= MAX_SOCKET_PATH;
}

/**
 * Runs `use` with an address for the Unix socket at `path`: the path as
 * given, absolute, or relative to the working directory, whichever fits; for
 * a deeper directory, the path through a short symlink to it made in the
 * temp directory for the moment (bind and connect resolve it; the socket is
 * made where `path` says).
 */
async function withSocketAddress<T>(
  path: string,
  use: (address: string) => Promise<T>,
): Promise<T> {
  const absolute = nodePath.resolve(path);
  const candidates = [path, absolute];
  try {
    candidates.push(nodePath.relative(process.cwd(), absolute));
  } catch {
    // No working directory to be relative to.
  }
  const direct = candidates.find(fits);
  if (direct !== undefined) return await use(direct);
  const link = nodePath.join(os.tmpdir(), `taskwire-${randomHex(6)}`);
  const address = nodePath.join(link, nodePath.basename(absolute));
  if (!fits(address)) {
    throw Object.assign(
      new Error(
        `the lock socket ${absolute} has a path too long for a Unix socket, even through ${link}`,
      ),
      { code: "ENAMETOOLONG" },
    );
  }
  await fs.symlink(nodePath.dirname(absolute), link);
  try {
    return await use(address);
  } finally {
    await remove(link).catch(() => {});
  }
}

/** A listening lock socket. */
export interface LockSocket {
  /** Stops listening (the socket file is removed too). */
  close(): Promise<void>;
}

/**
 * Listens on a Unix socket at `path` (made 0600), answering every connection
 * by closing it: while this process lives, connecting succeeds, even when it
 * is stopped or busy (the kernel completes the connection). Fails with
 * EADDRINUSE when `path` exists. The socket does not keep the process alive.
 */
export async function listenLockSocket(path: string): Promise<LockSocket> {
  const server = net.createServer((connection) => connection.destroy());
  await withSocketAddress(path, (address) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(address, () => {
        server.off("error", reject);
        resolve();
      });
    }));
  server.on("error", () => {});
  server.unref();
  await fs.chmod(path, 0o600).catch(() => {});
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      }).then(() => remove(path)),
  };
}

/**
 * Whether a process listens on the lock socket at `path`: "alive", "gone"
 * (the connection was refused: the socket file outlived its process; or it
 * was just closed or removed by its god), or why it cannot be told (a
 * timeout, an unexpected error).
 */
export function probeLockSocket(
  path: string,
  timeoutMs = 2000,
): Promise<"alive" | "gone" | { unknown: string }> {
  return withSocketAddress(path, (address) => probe(address, timeoutMs)).catch((error) => ({
    unknown: (error as Error).message,
  }));
}

function probe(
  address: string,
  timeoutMs: number,
): Promise<"alive" | "gone" | { unknown: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(address);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ unknown: `no answer within ${timeoutMs} ms` });
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve("alive");
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      socket.destroy();
      const code = errorCode(error);
      // Refused: nothing listens (its process is gone). ENOENT: the file was
      // just removed. ECONNRESET: the listener closed while we connected (its
      // god is releasing the lock). Anything else proves nothing.
      resolve(
        code === "ECONNREFUSED" || code === "ENOENT" || code === "ECONNRESET"
          ? "gone"
          : { unknown: `${code ?? "error"}: ${error.message}` },
      );
    });
  });
}

// -- errors --

/**
 * A failed file operation in a few words for a one-line message: "the disk is
 * full (ENOSPC)", "permission denied (EACCES)", a Deno permission that was not
 * given (naming its flag), or the error's own message.
 */
export function describeFileError(error: unknown): string {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  const denied = denoDenial(error);
  if (denied !== null) {
    if (denied.flag === "--allow-all") {
      // Deno guards /proc, /sys and /dev even with --allow-read/--allow-write: they hold no data anyway.
      return `"${denied.path}" is on a kernel filesystem (such as /proc, /sys or /dev), which cannot hold data and which Deno keeps programs out of`;
    }
    return `Deno was not given ${denied.flag} for "${denied.path}"`;
  }
  if (code === "ENOSPC") return "the disk is full (ENOSPC)";
  if (code === "EDQUOT") return "the disk quota is exhausted (EDQUOT)";
  if (code === "EIO") return "the disk reported an I/O error (EIO)";
  if (code === "EACCES" || code === "EPERM") return `permission denied (${code})`;
  if (code === "EROFS") return "the filesystem is read-only (EROFS)";
  if (code === "ENOTDIR") return "a part of the path is a file, not a directory (ENOTDIR)";
  if (code === "EEXIST") return "a file (not a directory) is in the way (EEXIST)";
  return message;
}

/**
 * What to do about a failed file operation when it is not the data directory's
 * fault: for a Deno permission that was not given, start Deno with its flag.
 * Null when choosing another directory is the advice.
 */
export function fileErrorAdvice(error: unknown): string | null {
  const denied = denoDenial(error);
  if (denied === null || denied.flag === "--allow-all") return null;
  return `start Deno with ${denied.flag} (the README's flags are --allow-net --allow-env --allow-read --allow-write)`;
}

/** A Deno permission error ("Requires write access to ..."): the flag it wants and the path. */
function denoDenial(error: unknown): { flag: string; path: string } | null {
  if (!(error instanceof Error) || error.name !== "NotCapable") return null;
  const match = /Requires (\w+) access to "([^"]*)"/.exec(error.message);
  if (match === null) return null;
  return { flag: `--allow-${match[1]}`, path: match[2] };
}

/** The error code of a failed file operation ("ENOSPC", "EACCES", ...), if any. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Out of space (or quota): a write that failed this way can be retried once space is freed. */
export function isOutOfSpace(error: unknown): boolean {
  const code = errorCode(error);
  return code === "ENOSPC" || code === "EDQUOT";
}
