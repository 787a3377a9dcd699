/**
 * The structure holds: no module under lib/ imports itself back through
 * others (a cycle), and the client never reaches into the god (lib/client
 * does not import lib/server), so a client can be bundled without the server.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..");
const LIB = path.join(ROOT, "lib");

/** Every .ts file under `dir`. */
function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? files(full) : full.endsWith(".ts") ? [full] : [];
  });
}

/** The relative imports of each file under lib/ (type-only ones too), as absolute paths. */
function importGraph(): Map<string, string[]> {
  const pattern =
    /(?:import|export)\s[^'"]*?from\s*["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;
  const graph = new Map<string, string[]>();
  for (const file of files(LIB)) {
    const text = readFileSync(file, "utf8");
    graph.set(
      file,
      [...text.matchAll(pattern)].map((m) => path.resolve(path.dirname(file), m[1] ?? m[2])),
    );
  }
  return graph;
}

/** Strongly connected components with more than one file (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const stack: string[] = [];
  const onStack = new Set<string>();
  const indices = new Map<string, number>();
  const lows = new Map<string, number>();
  const found: string[][] = [];
  const visit = (v: string) => {
    indices.set(v, index);
    lows.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!indices.has(w)) {
        visit(w);
        lows.set(v, Math.min(lows.get(v)!, lows.get(w)!));
      } else if (onStack.has(w)) lows.set(v, Math.min(lows.get(v)!, indices.get(w)!));
    }
    if (lows.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(path.relative(ROOT, w));
      } while (w !== v);
      if (component.length > 1) found.push(component);
    }
  };
  for (const file of graph.keys()) if (!indices.has(file)) visit(file);
  return found;
}

test("no module under lib/ imports in a cycle", () => {
  assert.deepEqual(cycles(importGraph()), []);
});

test("lib/client never imports lib/server", () => {
  const offenders = [...importGraph()]
    .filter(([file]) => path.relative(LIB, file).startsWith(`client${path.sep}`))
    .flatMap(([file, imports]) =>
      imports.filter((target) => path.relative(LIB, target).startsWith(`server${path.sep}`))
        .map((target) => `${path.relative(ROOT, file)} -> ${path.relative(ROOT, target)}`)
    );
  assert.deepEqual(offenders, []);
});

test("the cycle check finds a cycle when there is one", () => {
  const a = path.join(LIB, "a.ts");
  const b = path.join(LIB, "b.ts");
  assert.equal(cycles(new Map([[a, [b]], [b, [a]]])).length, 1);
  assert.equal(cycles(new Map([[a, [b]], [b, []]])).length, 0);
});
