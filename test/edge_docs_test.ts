/**
 * docs/EDGE.md shows the examples as they are: every code block marked
 * `<!-- example: PATH -->` is the file PATH, byte for byte, and every example
 * file the tests run is shown. The tests run the files, so the page cannot
 * show code that does not work. And the README points to the page.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { ROOT } from "./_support/process.ts";

/** The blocks of `doc` marked with the file they show. */
function shownExamples(doc: string): Map<string, string> {
  const shown = new Map<string, string>();
  const lines = doc.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const marker = /^<!-- example: (\S+) -->$/.exec(lines[i]);
    if (marker === null) continue;
    let j = i + 1;
    while (lines[j] === "") j++;
    const fence = /^(`{3,})\w*$/.exec(lines[j]);
    assert.ok(fence, `a code block follows the marker for ${marker[1]} (line ${i + 1})`);
    const end = lines.indexOf(fence[1], j + 1);
    assert.ok(end > j, `the code block for ${marker[1]} ends`);
    shown.set(marker[1], lines.slice(j + 1, end).join("\n"));
  }
  return shown;
}

function exampleFiles(dir = "examples"): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? exampleFiles(`${dir}/${entry.name}`)
      : /\.(ts|jsonc|capnp)$/.test(entry.name)
      ? [`${dir}/${entry.name}`]
      : []
  );
}

test("docs/EDGE.md shows every example file as it is", () => {
  const shown = shownExamples(readFileSync(path.join(ROOT, "docs/EDGE.md"), "utf8"));
  for (const [file, code] of shown) {
    const actual = readFileSync(path.join(ROOT, file), "utf8").replace(/\n$/, "");
    assert.equal(
      code,
      actual,
      `docs/EDGE.md shows an outdated ${file}: copy the file into its block`,
    );
  }
  assert.deepEqual([...shown.keys()].sort(), exampleFiles().sort(), "every example is shown");
});

test("the README links to docs/EDGE.md", () => {
  assert.match(readFileSync(path.join(ROOT, "README.md"), "utf8"), /\]\(docs\/EDGE\.md\)/);
});
