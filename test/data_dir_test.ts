/**
 * The data directory before anything in it is trusted: made private (0700,
 * files 0600), refused when another user owns it (or its lock or journal) or
 * may write it, and a path no directory can be made at (/proc) fails at once
 * instead of spinning.
 *
 * The tests that need another user `chown` to uid 65534 ("nobody"); they are
 * skipped with a NOTICE where chown is not allowed (not running as root).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import process from "node:process";
import { openJournal, StoreError } from "../lib/store/open.ts";
import { Broker } from "../lib/queue/broker.ts";

const NOBODY = 65534;

function tempRoot(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "taskwire-datadir-"));
}

function mode(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

/** Whether this process may give files away (root); prints a NOTICE once when not. */
let noticed = false;
function canChown(root: string): boolean {
  const probe = path.join(root, "chown-probe");
  fs.writeFileSync(probe, "");
  try {
    fs.chownSync(probe, NOBODY, NOBODY);
    return true;
  } catch {
    if (!noticed) {
      console.log(
        `NOTICE: skipping the other-user checks of test/data_dir_test.ts: this user (uid ${process.getuid?.()}) may not chown files to uid ${NOBODY}; run as root to include them`,
      );
      noticed = true;
    }
    return false;
  } finally {
    fs.rmSync(probe, { force: true });
  }
}

function refusal(pattern: RegExp): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof StoreError, String(error));
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes("\n"), "one line");
    return true;
  };
}

test("a new data directory is 0700 and every file the journal makes is 0600, whatever the umask", async () => {
  const root = tempRoot();
  const previous = process.umask(0o000); // the most permissive umask must not matter
  try {
    const dir = path.join(root, "parent", "data");
    const { store } = await openJournal(dir, { compactMinBytes: Number.MAX_SAFE_INTEGER });
    process.umask(previous);
    const broker = new Broker({ journal: (r) => store.append(r) });
    store.attach?.(broker);
    broker.put(
      null,
      "tasks",
      [{ id: "a", payload: "secret", priority: 0, delayMs: 0 }],
      { now: Date.now() },
      () => {},
    );
    await store.compact(); // a snapshot and a second segment too
    assert.equal(mode(dir), 0o700, "the data directory");
    assert.equal(mode(path.dirname(dir)) & 0o022, 0, "a parent it made is not writable by others");
    const names = fs.readdirSync(dir).sort();
    assert.ok(names.includes("snapshot-00000002.tws"), names.join(","));
    assert.ok(names.some((n) => n.startsWith("lock.")), names.join(","));
    for (const name of names) {
      assert.equal(
        mode(path.join(dir, name)),
        0o600,
        `${name} is 0${mode(path.join(dir, name)).toString(8)}`,
      );
    }
    await store.close();
  } finally {
    process.umask(previous);
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("a data directory writable by group or others is refused, saying to chmod 700; one readable by others is used with a warning", async () => {
  const root = tempRoot();
  try {
    const dir = path.join(root, "data");
    fs.mkdirSync(dir);
    for (
      const [bits, whom] of [[0o777, "group and others"], [0o770, "group"], [
        0o702,
        "others",
      ]] as const
    ) {
      fs.chmodSync(dir, bits);
      await assert.rejects(
        openJournal(dir),
        refusal(
          new RegExp(
            `^Cannot use data directory .*data: it is writable by ${whom} \\(mode 0${
              bits.toString(8)
            }\\), so another user could change the journal; run chmod 700 .*data$`,
          ),
        ),
      );
      assert.deepEqual(fs.readdirSync(dir), [], "nothing is written into a refused directory");
    }
    fs.chmodSync(dir, 0o755);
    const events: Record<string, unknown>[] = [];
    const { store } = await openJournal(dir, { log: (e) => events.push(e) });
    const warning = events.find((e) => e.event === "data_dir_readable");
    assert.ok(warning, JSON.stringify(events));
    assert.match(
      String(warning.note),
      /can be read by group and others \(mode 0755\).*run chmod 700/,
    );
    assert.equal(mode(dir), 0o755, "an existing directory's mode is the user's to change");
    await store.close();
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("journal files readable by others (made by an older taskwire) are made 0600 when opened", async () => {
  const root = tempRoot();
  try {
    const dir = path.join(root, "data");
    const { store } = await openJournal(dir);
    await store.close();
    const segment = path.join(dir, "journal-00000001.twj");
    fs.chmodSync(segment, 0o644);
    const events: Record<string, unknown>[] = [];
    const again = await openJournal(dir, { log: (e) => events.push(e) });
    assert.equal(mode(segment), 0o600);
    assert.ok(events.some((e) => e.event === "permissions_tightened" && e.file === segment));
    await again.store.close();
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("a data directory, lock or journal file owned by another user is refused, saying what to do", async (t) => {
  const root = tempRoot();
  try {
    if (!canChown(root)) {
      t.skip("chown to another user is not allowed here");
      return;
    }
    // Another user made the directory (and could have put a journal of their own in it).
    const theirs = path.join(root, "theirs");
    fs.mkdirSync(theirs, { mode: 0o700 });
    fs.chownSync(theirs, NOBODY, NOBODY);
    await assert.rejects(
      openJournal(theirs),
      refusal(
        new RegExp(
          `^Cannot use data directory .*theirs: it belongs to user id ${NOBODY}, not to this god's user \\(id ${process.getuid?.()}\\).*choose a directory of your own with --data DIR`,
        ),
      ),
    );
    assert.deepEqual(fs.readdirSync(theirs), [], "nothing read or written there");

    // Our directory, but a lock file or a journal segment of another user's making.
    const dir = path.join(root, "data");
    const { store } = await openJournal(dir);
    await store.close();
    const lockFile = path.join(dir, "LOCK");
    fs.writeFileSync(lockFile, JSON.stringify({ pid: 4_194_000, host: "" }), { mode: 0o600 });
    fs.chownSync(lockFile, NOBODY, NOBODY);
    await assert.rejects(
      openJournal(dir),
      refusal(
        /^Cannot lock data directory .*: its lock file belongs to user id 65534.*delete .*LOCK$/,
      ),
    );
    fs.rmSync(lockFile);
    const segment = path.join(dir, "journal-00000001.twj");
    fs.chownSync(segment, NOBODY, NOBODY);
    await assert.rejects(
      openJournal(dir),
      refusal(
        /journal-00000001\.twj belongs to user id 65534, not to this god's user.*move it out of/,
      ),
    );
    assert.ok(!fs.existsSync(lockFile), "the lock is released after refusing");
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("a data directory under /proc fails in well under a second with a clear message (no loop)", async () => {
  for (const dir of ["/proc/taskwire-test/data", "/proc/self/taskwire-data"]) {
    const started = performance.now();
    await assert.rejects(
      openJournal(dir),
      refusal(
        /^Cannot create data directory \/proc\/.*: (the filesystem will not create .*kernel filesystem such as \/proc or \/sys, which cannot hold data|.*is on a kernel filesystem).*; choose a writable --data DIR$/,
      ),
    );
    const ms = performance.now() - started;
    assert.ok(ms < 1000, `${dir}: took ${Math.round(ms)} ms`);
  }
});
