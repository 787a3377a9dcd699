#!/usr/bin/env node
/**
 * The `taskwire` command: `taskwire ROLE [options]` runs one of the roles with
 * exactly its own options, help and exit codes (this file only picks the role,
 * takes its name off the command line and loads its module, which runs
 * itself). npm installs it as the package's bin (compiled to
 * dist/roles/taskwire.js, run by plain node); from a checkout it runs like the
 * roles:
 *
 *   npx taskwire god --in-memory            (installed from npm)
 *   npx tsx roles/taskwire.ts producer --count 100 --interval 0
 *   deno run --allow-net --allow-env --allow-read roles/taskwire.ts --version
 */
import process from "node:process";
import { exit, writeErr, writeOut } from "../lib/cli/runtime.ts";
import { SOFTWARE } from "../lib/version.ts";

/** Each role with its one-line summary; imports are literal so every tool can follow them. */
const ROLES = {
  god: {
    summary: "hosts the queues `tasks` and `results` behind the shared key (the server)",
    load: () => import("./god.ts"),
  },
  producer: {
    summary: "puts random integers on `tasks` for consumers to square",
    load: () => import("./producer.ts"),
  },
  consumer: {
    summary: "squares the integers on `tasks` and puts the results on `results`",
    load: () => import("./consumer.ts"),
  },
  admin: {
    summary: "looks into a running god: stats, peek, purge, dead letters",
    load: () => import("./admin.ts"),
  },
  demo: {
    summary: "a god, a producer and two consumers on this machine, with a fresh key",
    load: () => import("./demo.ts"),
  },
} as const;
type Role = keyof typeof ROLES;

const NAMES = Object.keys(ROLES) as Role[];
const LIST = `${NAMES.slice(0, -1).join(", ")} or ${NAMES.at(-1)}`;

const HELP = `${SOFTWARE}: a distributed producer/consumer task queue for Node and Deno.

Usage: taskwire ROLE [options]
       taskwire ROLE --help       the role's options
       taskwire --version

Roles:
${NAMES.map((name) => `  ${name.padEnd(9)}  ${ROLES[name].summary}`).join("\n")}

Every role but the god needs the god's key: set TASKWIRE_AUTHKEY or pass --authkey-file PATH.
The god's address: --listen / --connect HOST:PORT, else TASKWIRE_ADDR, else 127.0.0.1:5678.
Exits 0 on success (and after a graceful stop on SIGINT/SIGTERM), 2 on usage errors, 1 on failures.
`;

function isRole(name: string): name is Role {
  return Object.hasOwn(ROLES, name);
}

const [first] = process.argv.slice(2);
if (first === "--version" || first === "-V" || first === "version") {
  writeOut(`${SOFTWARE}\n`);
  exit(0);
} else if (first === "--help" || first === "-h" || first === "help") {
  writeOut(HELP);
  exit(0);
} else if (first === undefined) {
  writeErr(HELP);
  exit(2);
} else if (!isRole(first)) {
  const what = first.startsWith("-")
    ? `expected a role before "${first}"`
    : `unknown role "${first}"`;
  writeErr(`taskwire: ${what}: use ${LIST} (taskwire --help lists them)\n`);
  exit(2);
} else {
  // The role reads its options from process.argv.slice(2): drop the role's name.
  process.argv.splice(2, 1);
  await ROLES[first].load();
}
