/**
 * Shell commands as the docs show them. A fenced `sh` block in README.md or
 * docs/*.md is named by the comment on the line before it:
 *
 * ```md
 * <!-- block: three-terminals -->
 * ```sh
 * npx tsx roles/god.ts --in-memory
 * ```
 * ```
 *
 * A test that runs those commands reads them with {@link docCommands}, so
 * what it runs is what the page says; test/docs_test.ts checks that every
 * named block is read by some test. A block that cannot run on a test
 * machine says why instead: `<!-- block: docker-build, not run: no Docker engine -->`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Proc, ROOT } from "./process.ts";

export { ROOT };

/** One fenced shell block of a page. */
export interface DocBlock {
  /** The page, relative to the root ("README.md", "docs/HTTP.md"). */
  page: string;
  /** Its name, or null when the comment before it is missing. */
  id: string | null;
  /** Why it is not run, when it says so. */
  notRun: string | null;
  /** 1-based line of the opening fence. */
  line: number;
  /** The block's text, without the fences. */
  text: string;
}

const NAME = /^<!--\s*block:\s*([a-z0-9-]+)\s*(?:,\s*not run:\s*(.+?))?\s*-->$/;

/** Every fenced `sh`/`bash`/`shell` block of `page`. */
export function shellBlocks(page: string): DocBlock[] {
  const lines = fs.readFileSync(path.join(ROOT, page), "utf8").split("\n");
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(sh|bash|shell)\s*$/.exec(lines[i]);
    if (open === null) {
      // Skip other fenced blocks whole, so a fence inside them is not read as an opening.
      const other = /^(\s*)```\S*\s*$/.exec(lines[i]);
      if (other !== null) {
        for (i++; i < lines.length && lines[i].trim() !== "```"; i++);
      }
      continue;
    }
    const indent = open[1];
    // The name is on the nearest line above that is not blank (deno fmt puts a blank line between).
    let above = i - 1;
    while (above >= 0 && lines[above].trim() === "") above--;
    const before = above >= 0 ? NAME.exec(lines[above].trim()) : null;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && lines[j].trim() !== "```"; j++) {
      body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j]);
    }
    blocks.push({
      page,
      id: before?.[1] ?? null,
      notRun: before?.[2] ?? null,
      line: i + 1,
      text: body.join("\n"),
    });
    i = j;
  }
  return blocks;
}

/** The pages whose shell blocks are checked: the README and every docs/ page. */
export function documentedPages(): string[] {
  const docs = fs.readdirSync(path.join(ROOT, "docs")).filter((f) => f.endsWith(".md")).sort();
  return ["README.md", ...docs.map((f) => `docs/${f}`)];
}

/**
 * The commands of block `id` on `page`: comments dropped, continuation lines
 * joined, one string per command. Throws when the page has no such block.
 */
export function docCommands(page: string, id: string): string[] {
  const block = shellBlocks(page).find((b) => b.id === id);
  if (block === undefined) throw new Error(`${page} has no shell block named "${id}"`);
  const commands: string[] = [];
  let pending = "";
  for (const raw of block.text.split("\n")) {
    const line = raw.replace(/(^|\s)#.*$/, "").trimEnd();
    if (line.trim() === "") continue;
    if (line.endsWith("\\")) {
      pending += line.slice(0, -1).trim() + " ";
      continue;
    }
    commands.push((pending + line.trim()).trim());
    pending = "";
  }
  if (pending !== "") commands.push(pending.trim());
  return commands;
}

/**
 * Splits one command into words as a POSIX shell would for the simple
 * commands the docs show: single and double quotes, `VAR=value` prefixes kept
 * as words. No expansion beyond `$NAME`/`${NAME}` from `env` inside double
 * quotes or bare words.
 */
export function shellWords(command: string, env: Record<string, string> = {}): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  const expand = (text: string) =>
    text.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, name: string) => env[name] ?? "");
  for (let i = 0; i < command.length; i++) {
    const c = command[i];
    if (c === "'") {
      const end = command.indexOf("'", i + 1);
      if (end < 0) throw new Error(`Unclosed ' in: ${command}`);
      word += command.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      let j = i + 1;
      let text = "";
      for (; j < command.length && command[j] !== '"'; j++) {
        if (command[j] === "\\" && j + 1 < command.length) j++;
        text += command[j];
      }
      if (j >= command.length) throw new Error(`Unclosed " in: ${command}`);
      word += expand(text);
      i = j;
      inWord = true;
    } else if (c === " " || c === "\t") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else if (c === "$") {
      const m = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/.exec(command.slice(i));
      if (m === null) {
        word += c;
      } else {
        word += env[m[1]] ?? "";
        i += m[0].length - 1;
      }
      inWord = true;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/**
 * Starts one documented command with bash, in the checkout, as the leader of
 * its own process group (signals reach `npx` and what it started), with
 * `env` added to the environment; `prefix` runs it elsewhere (`ip netns exec NS`).
 */
export function shell(
  command: string,
  options: { env?: Record<string, string>; cwd?: string; prefix?: string[] } = {},
): Proc {
  return new Proc([...(options.prefix ?? []), "bash", "-c", command], {
    env: options.env,
    cwd: options.cwd,
    group: true,
  });
}

/**
 * Splits a block's commands into its `export NAME=VALUE` lines (applied to
 * `env`, each value with the doc's placeholders replaced) and the rest.
 */
export function takeExports(
  commands: readonly string[],
  env: Record<string, string>,
  placeholders: Record<string, string> = {},
): string[] {
  const rest: string[] = [];
  for (const command of commands) {
    const m = /^export ([A-Z_][A-Z0-9_]*)=(\S+)$/.exec(command);
    if (m === null) {
      rest.push(command);
      continue;
    }
    env[m[1]] = placeholders[m[2]] ?? m[2];
  }
  return rest;
}
