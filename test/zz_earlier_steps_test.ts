/**
 * `npm test` runs three steps: the checks, the Deno half, the Node half. CI
 * shows only the tail of the output, where Node's summary is; a failure in an
 * earlier step was counted in the exit code but named nowhere near it. This
 * test, which Node runs last (hence the name), repeats what failed earlier:
 * `npm test` passes each step's exit code in `TASKWIRE_EARLIER_STEPS`
 * (`check=0 deno=1`), and the Deno half writes a JUnit report whose failed
 * tests are named here.
 *
 * Run on its own (no `TASKWIRE_EARLIER_STEPS`), it has nothing to report.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

/** Where `npm run test:deno` writes its report (gitignored). */
const DENO_REPORT = ".test-results/deno.xml";

const steps = process.env.TASKWIRE_EARLIER_STEPS;

test("the steps npm test ran before the Node half passed", {
  skip: steps === undefined || "Deno" in globalThis ? "only npm test passes their results" : false,
}, () => {
  const failures = earlierFailures(steps!);
  if (failures.length > 0) assert.fail(failures.join("\n"));
});

test("what failed before the Node half is named: the checks, and each Deno test", () => {
  const dir = mkdtempSync(join(tmpdir(), "taskwire-steps-"));
  try {
    const report = join(dir, "deno.xml");
    writeFileSync(report, REPORT);
    assert.deepEqual(earlierFailures("check=0 deno=0", report), []);
    assert.deepEqual(earlierFailures("check=1 deno=1", report), [
      "failed before the Node half: check=1, deno=1",
      'deno: ./test/a_test.ts: fails <&>: Uncaught Error: boom "x"',
      "check: run `npm run check` (deno fmt, deno lint, deno check) to see what it found",
    ]);
    assert.match(earlierFailures("deno=1", join(dir, "missing.xml"))[1], /no report at .*ended/);
    // Spaces are skipped; anything but a 0 exit code is named, not taken for a pass.
    assert.deepEqual(earlierFailures(" check=0  deno=0 ", report), []);
    assert.equal(earlierFailures("deno=", report)[0], "failed before the Node half: deno=");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A report as `deno test --junit-path` writes it: one passed test, one failed. */
const REPORT = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="deno test" tests="2" failures="1" errors="0" time="0.011">
    <testsuite name="./test/a_test.ts" tests="2" disabled="0" errors="0" failures="1">
        <testcase name="passes" classname="./test/a_test.ts" time="0.001" line="1" col="6">
        </testcase>
        <testcase name="fails &lt;&amp;&gt;" classname="./test/a_test.ts" time="0.001" line="2" col="6">
            <failure message="Uncaught Error: boom &quot;x&quot;">Error: boom &quot;x&quot;
    at file:///test/a_test.ts:2:38</failure>
        </testcase>
    </testsuite>
</testsuites>`;

/**
 * What to say about the earlier steps, given `TASKWIRE_EARLIER_STEPS`
 * (`check=0 deno=1`): nothing when each exited 0.
 */
export function earlierFailures(steps: string, report = DENO_REPORT): string[] {
  const failed = steps.split(" ").filter((step) => step !== "" && !/^\w+=0$/.test(step));
  if (failed.length === 0) return [];
  const lines = [`failed before the Node half: ${failed.join(", ")}`];
  if (failed.some((step) => step.startsWith("deno="))) lines.push(...denoFailures(report));
  if (failed.some((step) => step.startsWith("check="))) {
    lines.push("check: run `npm run check` (deno fmt, deno lint, deno check) to see what it found");
  }
  return lines;
}

/** The Deno tests that failed, by file and name, from its JUnit report. */
export function denoFailures(path = DENO_REPORT): string[] {
  let xml: string;
  try {
    xml = readFileSync(path, "utf8");
  } catch {
    return [`deno: no report at ${path} (the Deno run ended before writing it)`];
  }
  const out: string[] = [];
  const testcase = /<testcase name="([^"]*)" classname="([^"]*)"[^>]*>([\s\S]*?)<\/testcase>/g;
  for (const [, name, file, body] of xml.matchAll(testcase)) {
    const failure = /<failure message="([^"]*)"/.exec(body);
    if (failure === null) continue;
    out.push(
      `deno: ${unescapeXml(file)}: ${unescapeXml(name)}: ${unescapeXml(failure[1]).slice(0, 300)}`,
    );
  }
  return out.length > 0 ? out : [`deno: the report at ${path} names no failed test`];
}

function unescapeXml(text: string): string {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'").replace(/&amp;/g, "&");
}
