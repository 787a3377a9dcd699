/**
 * Summaries of repeated runs (median, min, max) and the two ways to show
 * them: an aligned text table with ratios to the baselines (in a `--peers`
 * run, to the best peer in the same shape), or JSON.
 */

/** The figures one run of one scenario yields; absent figures are undefined. */
export interface RunFigures {
  /** Tasks per second, first put to last result. */
  tasksPerSec?: number;
  p50Ms?: number;
  p99Ms?: number;
  /** p99 over every paced task, the warm-up included. */
  p99AllMs?: number;
  maxMs?: number;
  /** The god's peak resident memory (its process tree), bytes. */
  godPeakRss?: number;
  /** CPU seconds per 100k tasks, summed over every process of the run. */
  cpuPer100k?: number;
  /** CPU seconds per 100k tasks of the god alone. */
  godCpuPer100k?: number;
  /** 1M scenario: time to put every job, ms. */
  fillMs?: number;
  /** 1M scenario: the god's resident memory with every job queued, bytes. */
  queuedRss?: number;
  /** 1M scenario: the god's peak resident memory while draining (sampled) over {@link queuedRss}. */
  drainPeakRatio?: number;
  /** 1M scenario: time from the first result to the last, ms. */
  drainMs?: number;
  /** 1M scenario: drain rate, tasks per second. */
  drainPerSec?: number;
  /** 1M durable: spawn-to-ready of the god restarted on the full journal, ms. */
  restartMs?: number;
  /** Spawn-to-ready of the same god on an empty store, ms (to compare with restartMs). */
  startupMs?: number;
}

/** The keys of {@link RunFigures}. */
export type Figure = keyof RunFigures;

/** What one run reports besides figures. */
export interface RunOutcome {
  ok: boolean;
  figures: RunFigures;
  /** Tasks the producer was asked for and what the god counted. */
  accounted: { expected: number; tasksPut?: number; results?: number; collected?: number };
  error?: string;
  notes?: string[];
}

/** Median, minimum and maximum of a figure over the runs that produced it. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

/** One scenario's result over all runs. */
export interface ScenarioResult {
  name: string;
  description: string;
  /** Which processes were role processes and which bench drivers. */
  processes: string;
  baseline?: string;
  /** Peer scenarios: the peer's name. */
  peer?: string;
  /** The scenario it is read next to (a peer's: taskwire in the same shape and store). */
  compare?: string;
  n: number;
  runs: RunOutcome[];
  figures: Partial<Record<Figure, Spread>>;
}

/** The median (mean of the middle two for even counts), min and max. */
export function spread(values: readonly number[]): Spread | undefined {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return undefined;
  const mid = Math.floor(xs.length / 2);
  const median = xs.length % 2 === 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
  return { median, min: xs[0], max: xs[xs.length - 1], n: xs.length };
}

/** Summarises the successful runs of a scenario. */
export function summarise(runs: readonly RunOutcome[]): Partial<Record<Figure, Spread>> {
  const out: Partial<Record<Figure, Spread>> = {};
  const good = runs.filter((r) => r.ok);
  const keys = new Set(good.flatMap((r) => Object.keys(r.figures))) as Set<Figure>;
  for (const key of keys) {
    const s = spread(good.map((r) => r.figures[key]).filter((v): v is number => v !== undefined));
    if (s) out[key] = s;
  }
  return out;
}

/** How a figure is shown: its column title, its formatter, and whether higher is better. */
const COLUMNS = {
  tasksPerSec: { title: "tasks/s", fmt: (v: number) => compact(v), higherBetter: true },
  p50Ms: { title: "p50 ms", fmt: (v: number) => ms(v), higherBetter: false },
  p99Ms: { title: "p99 ms", fmt: (v: number) => ms(v), higherBetter: false },
  p99AllMs: { title: "p99 incl. warm-up", fmt: (v: number) => ms(v), higherBetter: false },
  maxMs: { title: "max ms", fmt: (v: number) => ms(v), higherBetter: false },
  godPeakRss: { title: "god RSS", fmt: (v: number) => mb(v), higherBetter: false },
  cpuPer100k: { title: "CPU s/100k", fmt: (v: number) => v.toFixed(2), higherBetter: false },
  godCpuPer100k: { title: "god CPU", fmt: (v: number) => v.toFixed(2), higherBetter: false },
  fillMs: { title: "fill s", fmt: (v: number) => (v / 1000).toFixed(1), higherBetter: false },
  queuedRss: { title: "RSS queued", fmt: (v: number) => mb(v), higherBetter: false },
  drainPeakRatio: {
    title: "drain peak",
    fmt: (v: number) => `${v.toFixed(2)}×`,
    higherBetter: false,
  },
  drainMs: { title: "drain s", fmt: (v: number) => (v / 1000).toFixed(1), higherBetter: false },
  drainPerSec: { title: "drain/s", fmt: (v: number) => compact(v), higherBetter: true },
  restartMs: { title: "restart s", fmt: (v: number) => (v / 1000).toFixed(2), higherBetter: false },
  startupMs: {
    title: "empty start s",
    fmt: (v: number) => (v / 1000).toFixed(2),
    higherBetter: false,
  },
} as const satisfies Record<
  Figure,
  { title: string; fmt: (v: number) => string; higherBetter: boolean }
>;

/** Figures shown with a ratio to the baseline. */
const RATIO_FIGURES: readonly Figure[] = ["tasksPerSec", "p99Ms", "godPeakRss", "cpuPer100k"];

function compact(v: number): string {
  return v >= 10_000 ? `${(v / 1000).toFixed(1)}k` : v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

function ms(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function mb(v: number): string {
  return `${(v / (1 << 20)).toFixed(0)}MB`;
}

function cell(figure: Figure, s: Spread | undefined): string {
  if (!s) return "-";
  const { fmt } = COLUMNS[figure];
  return s.n > 1 && s.min !== s.max
    ? `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]`
    : fmt(s.median);
}

/**
 * The ratio of `value` to the baseline's, oriented so that > 1 means taskwire
 * is better: throughput / baseline, baseline / latency (or memory, CPU).
 */
export function ratio(figure: Figure, value: number, base: number): number {
  return COLUMNS[figure].higherBetter ? value / base : base / value;
}

/** What a figure is divided by: the baseline's figure, and the name shown with the ratio (if any). */
interface Versus {
  base: Spread | undefined;
  label?: string;
}

function ratioCell(figure: Figure, s: Spread | undefined, versus: Versus | undefined): string {
  const base = versus?.base;
  if (!s || !base || base.median === 0 || s.median === 0) return "";
  const r = ratio(figure, s.median, base.median);
  // Two digits below 1, where "0.8×" could hide anything from 0.75 to 0.85.
  const shown = r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r.toFixed(2);
  return ` (${shown}×${versus.label ? ` ${versus.label}` : ""})`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => (c ?? "").padEnd(widths[i])).join("  ").trimEnd())
    .join("\n");
}

/** The columns of the pipeline table. */
const PIPELINE_FIGURES: readonly Figure[] = [
  "tasksPerSec",
  "p50Ms",
  "p99Ms",
  "p99AllMs",
  "maxMs",
  "godPeakRss",
  "cpuPer100k",
  "godCpuPer100k",
];

/** The pipeline table; `versus` gives each row's ratio base per figure (none: no ratio). */
function pipelineTable(
  results: readonly (ScenarioResult | null)[],
  versus: (r: ScenarioResult, figure: Figure) => Versus | undefined,
  titles: Partial<Record<Figure, string>> = {},
): string {
  const rows = [[
    "scenario",
    "N",
    "ok",
    ...PIPELINE_FIGURES.map((f) => titles[f] ?? COLUMNS[f].title),
  ]];
  for (const r of results) {
    if (r === null) { // a blank line between groups
      rows.push([]);
      continue;
    }
    rows.push([
      r.name,
      String(r.n),
      `${r.runs.filter((x) => x.ok).length}/${r.runs.length}`,
      ...PIPELINE_FIGURES.map((f) =>
        cell(f, r.figures[f]) +
        (RATIO_FIGURES.includes(f) ? ratioCell(f, r.figures[f], versus(r, f)) : "")
      ),
    ]);
  }
  return table(rows);
}

/**
 * The `--peers` table: per shape and store, each peer, then taskwire with its
 * ratios to the best peer of that group for each figure (named in the cell).
 */
function peersTable(results: readonly ScenarioResult[]): string {
  const peersOf = (t: ScenarioResult) =>
    results.filter((r) => r.peer !== undefined && r.compare === t.name);
  const groups = results.filter((r) => r.peer === undefined && peersOf(r).length > 0);
  const grouped = new Set(groups.flatMap((t) => [t, ...peersOf(t)]));
  const rows: (ScenarioResult | null)[] = groups.flatMap((t, i) => [
    ...(i > 0 ? [null] : []),
    ...peersOf(t),
    t,
  ]);
  rows.push(...results.filter((r) => !grouped.has(r)));
  const best = (t: ScenarioResult, figure: Figure): Versus | undefined => {
    let found: Versus | undefined;
    for (const p of peersOf(t)) {
      const s = p.figures[figure];
      if (!s || s.median === 0) continue;
      if (!found?.base || ratio(figure, s.median, found.base.median) > 1) {
        found = { base: s, label: p.peer };
      }
    }
    return found;
  };
  return pipelineTable(rows, (r, f) => r.peer === undefined ? best(r, f) : undefined, {
    godPeakRss: "server RSS",
    godCpuPer100k: "server CPU",
  });
}

/** The text report: one table for the pipeline scenarios, one for the 1M-job scenarios. */
export function formatText(
  results: readonly ScenarioResult[],
  context: { header: string[]; notices: string[] },
): string {
  const byName = new Map(results.map((r) => [r.name, r]));
  const out: string[] = [...context.header, ""];
  const pipeline = results.filter((r) => r.figures.fillMs === undefined && !isMillion(r));
  const million = results.filter((r) => isMillion(r));
  if (pipeline.some((r) => r.peer !== undefined)) {
    out.push(peersTable(pipeline), "");
  } else if (pipeline.length > 0) {
    const versus = (r: ScenarioResult, f: Figure): Versus | undefined => {
      const base = r.baseline ? byName.get(r.baseline) : undefined;
      return base ? { base: base.figures[f] } : undefined;
    };
    out.push(pipelineTable(pipeline, versus), "");
  }
  if (million.length > 0) {
    const figs: Figure[] = [
      "fillMs",
      "queuedRss",
      "godPeakRss",
      "drainPeakRatio",
      "drainMs",
      "drainPerSec",
      "startupMs",
      "restartMs",
    ];
    const rows = [["scenario", "N", "ok", ...figs.map((f) => COLUMNS[f].title)]];
    for (const r of million) {
      rows.push([
        r.name,
        String(r.n),
        `${r.runs.filter((x) => x.ok).length}/${r.runs.length}`,
        ...figs.map((f) => cell(f, r.figures[f])),
      ]);
    }
    out.push(table(rows), "");
  }
  const failures = results.flatMap((r) =>
    r.runs.flatMap((run, i) => run.ok ? [] : [`  ${r.name} run ${i + 1}: ${run.error}`])
  );
  if (failures.length > 0) out.push("Failed runs:", ...failures, "");
  const notes = [...new Set(results.flatMap((r) => r.runs.flatMap((run) => run.notes ?? [])))];
  if (notes.length > 0) out.push("Notes:", ...notes.map((n) => `  ${n}`), "");
  out.push(...context.notices);
  return out.join("\n");
}

function isMillion(r: ScenarioResult): boolean {
  return r.name.startsWith("million");
}
