/**
 * Resource readings of benchmark processes from Linux's /proc: resident memory
 * (VmRSS, and the kernel's own high-water mark VmHWM) from /proc/<pid>/status,
 * CPU time (utime + stime) from /proc/<pid>/stat. A process is read together
 * with its descendants (the Python god forks its manager server), found through
 * /proc/<pid>/task/<tid>/children — except tsx's esbuild helper (see processTree).
 *
 * A {@link Sampler} reads every tracked process at a fixed period and keeps the
 * last reading, so the CPU time of a process that exits on its own is known to
 * within one period.
 */
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** Whether /proc readings work here (Linux only). */
export function procAvailable(): boolean {
  try {
    readFileSync("/proc/self/stat", "utf8");
    return true;
  } catch {
    return false;
  }
}

/** One process's reading: bytes and CPU seconds; null fields when it was gone. */
export interface ProcReading {
  rss: number;
  hwm: number;
  cpu: number;
}

/** Reads one process (not its children); null when it no longer exists. */
export function readProc(pid: number): ProcReading | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parens: split after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    const cpu = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    return { rss: kilobytes(status, "VmRSS") * 1024, hwm: kilobytes(status, "VmHWM") * 1024, cpu };
  } catch {
    return null;
  }
}

function kilobytes(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  return match ? Number(match[1]) : 0;
}

/** The command name of a process (/proc/<pid>/comm), "" when it is gone. */
function commandName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/**
 * The pid and all its living descendants. With `measured`, helper processes
 * that are not part of the work are left out: tsx's esbuild service, which
 * every `node --import tsx` process starts to compile TypeScript (about 12 MB
 * RSS, no CPU after start-up).
 */
export function processTree(pid: number, options: { measured?: boolean } = {}): number[] {
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0 && out.length < 1000) {
    const current = stack.pop()!;
    out.push(current);
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${current}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const children = readFileSync(`/proc/${current}/task/${tid}/children`, "utf8").trim();
        if (!children) continue;
        for (const child of children.split(" ")) {
          const childPid = Number(child);
          if (options.measured && commandName(childPid) === "esbuild") continue;
          stack.push(childPid);
        }
      } catch {
        // the thread ended meanwhile
      }
    }
  }
  return out;
}

/** Per-process figures a sampler tracks. */
interface Tracked {
  /** pid → last CPU seconds seen (descendants included). */
  cpu: Map<number, number>;
  /** Largest sum of VmRSS over the tree seen by sampling. */
  peakRss: number;
  /** Largest sum of VmHWM over the tree (the kernel's peak, between samples too). */
  peakHwm: number;
  /** Largest sum of VmRSS sampled since {@link Sampler.startWindow}. */
  windowPeak: number;
}

/**
 * Samples a set of labelled processes (each with its descendants) every
 * `periodMs`. Read the figures with {@link Sampler.cpu} and {@link Sampler.peakRss}.
 */
export class Sampler {
  readonly #tracked = new Map<string, { pid: number; data: Tracked }>();
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(periodMs = 20) {
    this.#timer = setInterval(() => this.sample(), periodMs);
  }

  /** Starts tracking `pid` under `label` (e.g. "god", "consumer-1"). */
  track(label: string, pid: number): void {
    this.#tracked.set(label, {
      pid,
      data: { cpu: new Map(), peakRss: 0, peakHwm: 0, windowPeak: 0 },
    });
    this.sample();
  }

  /** Reads every tracked process now. */
  sample(): void {
    for (const { pid, data } of this.#tracked.values()) {
      let rss = 0;
      let hwm = 0;
      for (const p of processTree(pid, { measured: true })) {
        const reading = readProc(p);
        if (reading === null) continue;
        rss += reading.rss;
        hwm += reading.hwm;
        data.cpu.set(p, reading.cpu);
      }
      if (rss > data.peakRss) data.peakRss = rss;
      if (hwm > data.peakHwm) data.peakHwm = hwm;
      if (rss > data.windowPeak) data.windowPeak = rss;
    }
  }

  /** CPU seconds used so far by `label`'s tree (last readings; exited processes keep their last). */
  cpu(label: string): number {
    const tracked = this.#tracked.get(label);
    if (!tracked) return 0;
    let sum = 0;
    for (const value of tracked.data.cpu.values()) sum += value;
    return sum;
  }

  /** Sum of {@link Sampler.cpu} over every label starting with one of `prefixes` (all when empty). */
  cpuOf(prefixes: readonly string[] = []): number {
    let sum = 0;
    for (const label of this.#tracked.keys()) {
      if (prefixes.length === 0 || prefixes.some((p) => label.startsWith(p))) {
        sum += this.cpu(label);
      }
    }
    return sum;
  }

  /** CPU seconds of every label now, to subtract later. */
  snapshot(): Map<string, number> {
    this.sample();
    return new Map([...this.#tracked.keys()].map((label) => [label, this.cpu(label)]));
  }

  /** Peak resident bytes of `label`'s tree: the larger of sampled VmRSS sums and VmHWM sums. */
  peakRss(label: string): number {
    const data = this.#tracked.get(label)?.data;
    return data ? Math.max(data.peakRss, data.peakHwm) : 0;
  }

  /**
   * Starts measuring `label`'s peak over a phase of the run (the kernel keeps
   * only a lifetime peak, so this one is sampled: every `periodMs`).
   */
  startWindow(label: string): void {
    const data = this.#tracked.get(label)?.data;
    if (data) data.windowPeak = 0;
    this.sample();
  }

  /** Peak resident bytes of `label`'s tree sampled since {@link Sampler.startWindow}. */
  windowPeak(label: string): number {
    this.sample();
    return this.#tracked.get(label)?.data.windowPeak ?? 0;
  }

  /** Resident bytes of `label`'s tree right now. */
  rssNow(label: string): number {
    const tracked = this.#tracked.get(label);
    if (!tracked) return 0;
    let rss = 0;
    for (const p of processTree(tracked.pid, { measured: true })) rss += readProc(p)?.rss ?? 0;
    return rss;
  }

  /** Living pids of every tracked tree (to stop stragglers by PID). */
  allPids(): number[] {
    return [...this.#tracked.values()].flatMap(({ pid }) => processTree(pid));
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
