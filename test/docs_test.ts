/**
 * The README and the docs/ pages say what the code does:
 *
 * - every shell block is named, and some test reads it by that name and runs
 *   its commands as written (test/_support/doc_blocks.ts), so editing a
 *   command in a page changes what the tests run;
 * - every code block marked `<!-- example: PATH -->` is the file PATH, byte
 *   for byte, every example file is shown on some page, and the tests run the
 *   examples (the README's tour here, the edge examples on their platforms);
 * - every option a role's --help lists is in docs/ROLES.md.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  docCommands,
  documentedPages,
  ROOT,
  shellBlocks,
  shellWords,
} from "./_support/doc_blocks.ts";
import { CURRENT, RUNTIMES, start } from "./_support/process.ts";
import { serve } from "../mod.ts";

/** The blocks the test files read: calls with a literal page and block name. */
function blocksReadByTests(): Set<string> {
  const read = new Set<string>();
  const files = fs.readdirSync(path.join(ROOT, "test")).filter((f) => f.endsWith(".ts"));
  for (const file of files) {
    if (file === "docs_test.ts") continue;
    const text = fs.readFileSync(path.join(ROOT, "test", file), "utf8");
    // docCommands("page", "id"), or a helper called the same way, or (PAGE, "id") with PAGE a constant.
    for (const m of text.matchAll(/\(\s*"([^"]+\.md)",\s*"([a-z0-9-]+)"\s*\)/g)) {
      read.add(`${m[1]}#${m[2]}`);
    }
    const page = /const PAGE = "([^"]+\.md)"/.exec(text)?.[1];
    if (page === undefined) continue;
    for (const m of text.matchAll(/\(\s*PAGE,\s*"([a-z0-9-]+)"\s*\)/g)) read.add(`${page}#${m[1]}`);
  }
  return read;
}

test("every shell block in the README and docs/ is named, and each name is read by a test", () => {
  const read = blocksReadByTests();
  const problems: string[] = [];
  const notRun: string[] = [];
  for (const page of documentedPages()) {
    const seen = new Set<string>();
    for (const block of shellBlocks(page)) {
      const where = `${page}:${block.line}`;
      if (block.id === null) {
        problems.push(`${where}: a shell block without a <!-- block: NAME --> line before it`);
        continue;
      }
      if (seen.has(block.id)) problems.push(`${where}: a second block named "${block.id}"`);
      seen.add(block.id);
      if (block.notRun !== null) notRun.push(`${where} (${block.id}): ${block.notRun}`);
      else if (!read.has(`${page}#${block.id}`)) {
        problems.push(
          `${where}: no test reads block "${block.id}" (docCommands("${page}", "${block.id}"))`,
        );
      }
    }
  }
  for (const line of notRun) console.log(`NOTICE: a documented command is not run here: ${line}`);
  assert.deepEqual(problems, [], problems.join("\n"));
});

test("every block a test reads is on its page", () => {
  for (const key of blocksReadByTests()) {
    const [page, id] = key.split("#");
    assert.ok(docCommands(page, id).length > 0, `${page} block "${id}" has commands`);
  }
});

test("docCommands joins continued lines and drops comments; shellWords splits like sh", () => {
  const dir = fs.mkdtempSync(path.join(ROOT, "scratch-docs-"));
  try {
    const page = path.relative(ROOT, path.join(dir, "page.md"));
    fs.writeFileSync(
      path.join(ROOT, page),
      [
        "<!-- block: one -->",
        "```sh",
        "# a comment",
        "npx tsx roles/god.ts \\",
        "  --listen 0.0.0.0:5678   # trailing comment",
        "",
        "TASKWIRE_AUTHKEY=k npx tsx roles/producer.ts --rounds 3",
        "```",
        "```text",
        "```sh",
        "```",
        "<!-- block: two, not run: needs Docker -->",
        "```bash",
        "docker build .",
        "```",
      ].join("\n"),
    );
    const blocks = shellBlocks(page);
    assert.deepEqual(blocks.map((b) => [b.id, b.notRun]), [["one", null], ["two", "needs Docker"]]);
    assert.deepEqual(docCommands(page, "one"), [
      "npx tsx roles/god.ts --listen 0.0.0.0:5678",
      "TASKWIRE_AUTHKEY=k npx tsx roles/producer.ts --rounds 3",
    ]);
    assert.throws(() => docCommands(page, "three"), /no shell block named "three"/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(
    shellWords(`K=v npx a --value '{"n": 1}' "$HOME/x y" \${HOME}z`, { HOME: "/h" }),
    ["K=v", "npx", "a", "--value", '{"n": 1}', "/h/x y", "/hz"],
  );
});

/** The blocks of `page` marked with the file they show. */
function shownExamples(page: string): Map<string, string> {
  const shown = new Map<string, string>();
  const lines = fs.readFileSync(path.join(ROOT, page), "utf8").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const marker = /^\s*<!-- example: (\S+) -->$/.exec(lines[i]);
    if (marker === null) continue;
    let j = i + 1;
    while (lines[j] === "") j++;
    const fence = /^(`{3,})\w*$/.exec(lines[j]);
    assert.ok(fence, `${page}: a code block follows the marker for ${marker[1]} (line ${i + 1})`);
    const end = lines.indexOf(fence[1], j + 1);
    assert.ok(end > j, `${page}: the code block for ${marker[1]} ends`);
    shown.set(marker[1], lines.slice(j + 1, end).join("\n"));
  }
  return shown;
}

function exampleFiles(dir = "examples"): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? exampleFiles(`${dir}/${entry.name}`)
      : /\.(ts|jsonc|capnp)$/.test(entry.name)
      ? [`${dir}/${entry.name}`]
      : []
  );
}

test("the pages show every example file as it is", () => {
  const everywhere = new Set<string>();
  for (const page of documentedPages()) {
    for (const [file, code] of shownExamples(page)) {
      const actual = fs.readFileSync(path.join(ROOT, file), "utf8").replace(/\n$/, "");
      assert.equal(code, actual, `${page} shows an outdated ${file}: copy the file into its block`);
      everywhere.add(file);
    }
  }
  assert.deepEqual([...everywhere].sort(), exampleFiles().sort(), "every example is shown");
});

test("the README links to every page of docs/", () => {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  for (const page of documentedPages().slice(1)) {
    assert.ok(readme.includes(`](${page})`), `the README links to ${page}`);
  }
});

for (const role of ["god", "producer", "consumer", "admin"]) {
  test(`docs/ROLES.md has every option of the ${role}'s --help`, {
    skip: CURRENT === "deno" ? "the same help on both runtimes: read once, on Node" : false,
  }, async () => {
    const help = start("node", `roles/${role}.ts`, ["--help"]);
    assert.equal((await help.wait(30_000)).code, 0);
    const options = [...help.output.matchAll(/^ {2}(--[a-z-]+)/gm)].map((m) => m[1]);
    assert.ok(options.length > 3, help.output);
    const roles = fs.readFileSync(path.join(ROOT, "docs/ROLES.md"), "utf8");
    const section = roles.split(/^### /m).find((s) => s.startsWith(`${role}\n`)) ?? "";
    const common = roles.split(/^### /m)[0];
    for (const option of options) {
      assert.ok(
        section.includes(`\`${option}`) || common.includes(`\`${option}`),
        `docs/ROLES.md does not document ${role} ${option}`,
      );
    }
  });
}

for (const runtime of RUNTIMES) {
  test(
    `the README's tour (examples/tour.ts) runs on ${runtime}: a consumer completes, a call gets its answer`,
    {
      skip: runtime !== CURRENT ? `run by the ${runtime} test runner` : false,
    },
    async () => {
      const authkey = "tour-key";
      const god = await serve({ listen: "127.0.0.1:0", authkey });
      try {
        const tour = start(runtime, "examples/tour.ts", [], {
          env: { TASKWIRE_ADDR: `127.0.0.1:${god.port}`, TASKWIRE_AUTHKEY: authkey },
        });
        const { code } = await tour.wait(30_000);
        assert.equal(code, 0, tour.output);
        assert.equal(tour.output.trim(), "7 * 7 = 49");
        const [results] = god.stats("tasks.results").queues;
        assert.equal(results.ready, 1, "the put task's result is stored (the call's came back)");
      } finally {
        await god.close();
      }
    },
  );
}
