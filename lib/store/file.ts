/**
 * The one file adapter of the journal, for Node and Deno alike (both provide
 * `node:fs/promises`). Everything the store does to the disk goes through
 * here: positioned writes, fsync, truncate, rename, directory sync, a lock
 * file, and a liveness check of the PID that holds it.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import process from "node:process";

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
  close(): Promise<void>;
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

  close(): Promise<void> {
    return this.#handle.close();
  }
}

/**
 * Opens a file: "read" (must exist, read only), "update" (must exist, read and
 * write) or "create" (must not exist yet).
 */
export async function openFile(
  path: string,
  mode: "read" | "update" | "create",
): Promise<DataFile> {
  const flags = mode === "read" ? "r" : mode === "update" ? "r+" : "wx+";
  return new NodeDataFile(path, await fs.open(path, flags));
}

/** Creates `dir` (and parents) if missing. */
export async function ensureDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
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
    const code = (error as { code?: string }).code;
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
    if ((error as { code?: string }).code !== "ENOENT") throw error;
  }
}

/** Reads a small text file, or null if it does not exist. */
export async function readText(path: string): Promise<string | null> {
  try {
    return await fs.readFile(path, "utf8");
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return null;
    throw error;
  }
}

/** Creates `path` with `text` only if it does not exist yet, durably; false if it exists. */
export async function createExclusive(path: string, text: string): Promise<boolean> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, "wx");
  } catch (error) {
    if ((error as { code?: string }).code === "EEXIST") return false;
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

/** Whether a process with this PID runs on this machine. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === "EPERM";
  }
}

/**
 * This process: PID and host name, written into the lock file. The host is ""
 * when it cannot be told (Deno without `--allow-sys`).
 */
export function self(): { pid: number; host: string } {
  let host = "";
  try {
    host = os.hostname();
  } catch {
    // Deno without --allow-sys: unknown.
  }
  return { pid: process.pid, host };
}

/**
 * A failed file operation in a few words for a one-line message: "the disk is
 * full (ENOSPC)", "permission denied (EACCES)", or the error's own message.
 */
export function describeFileError(error: unknown): string {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code === "ENOSPC") return "the disk is full (ENOSPC)";
  if (code === "EACCES" || code === "EPERM") return `permission denied (${code})`;
  if (code === "EROFS") return "the filesystem is read-only (EROFS)";
  if (code === "ENOTDIR") return "a part of the path is a file, not a directory (ENOTDIR)";
  if (code === "EEXIST") return "a file (not a directory) is in the way (EEXIST)";
  return message;
}

/** The error code of a failed file operation ("ENOSPC", "EACCES", ...), if any. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}
