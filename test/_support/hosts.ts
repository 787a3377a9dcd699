/**
 * A test bed of separate hosts on this machine: one network namespace per
 * host, each with its own address on 10.77.0.0/24, all joined by veth pairs
 * to a bridge in a switch namespace of their own (the machine's own network
 * is untouched). Processes run inside a host with `ip netns exec`. A host's
 * link can be taken down at the switch — a silent partition: packets vanish,
 * no FIN, no RST — and brought back.
 *
 * Needs root (namespaces); {@link TestBed.create} says why it cannot be made
 * otherwise, for the test to skip with a NOTICE.
 */
import { execFileSync } from "node:child_process";
import { command, Proc, type Runtime } from "./process.ts";

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

export class TestBed {
  readonly #tag: string;
  readonly #hosts: string[];
  readonly #procs = new Set<Proc>();
  readonly #subnet: string;
  readonly #first: number;

  private constructor(tag: string, hosts: string[], subnet: string, first: number) {
    this.#tag = tag;
    this.#hosts = hosts;
    this.#subnet = subnet;
    this.#first = first;
  }

  /**
   * Makes the hosts (names like "god", "w1"), or returns why it cannot. They
   * get the addresses `<subnet>.<first>`, `<subnet>.<first + 1>`, … of a /24
   * (default 10.77.0.1 on): the namespaces are private, so any will do — a
   * docs test gives them the addresses the docs show.
   */
  static create(
    hosts: readonly string[],
    options: { subnet?: string; first?: number } = {},
  ): TestBed | string {
    const tag = Math.random().toString(36).slice(2, 7);
    const bed = new TestBed(tag, [...hosts], options.subnet ?? "10.77.0", options.first ?? 1);
    try {
      ip("netns", "add", bed.#ns("sw"));
    } catch (error) {
      const why = String((error as { stderr?: unknown }).stderr ?? error).trim().split("\n")[0];
      return `cannot create network namespaces here (${why}); run as root on Linux with iproute2`;
    }
    try {
      ip("-n", bed.#ns("sw"), "link", "add", "br0", "type", "bridge");
      ip("-n", bed.#ns("sw"), "link", "set", "br0", "up");
      hosts.forEach((host, i) => {
        const ns = bed.#ns(host);
        const [inHost, atSwitch] = bed.#veth(i);
        ip("netns", "add", ns);
        ip("link", "add", inHost, "type", "veth", "peer", "name", atSwitch);
        ip("link", "set", inHost, "netns", ns);
        ip("link", "set", atSwitch, "netns", bed.#ns("sw"));
        ip("-n", bed.#ns("sw"), "link", "set", atSwitch, "master", "br0");
        ip("-n", bed.#ns("sw"), "link", "set", atSwitch, "up");
        ip("-n", ns, "link", "set", "lo", "up");
        ip("-n", ns, "addr", "add", `${bed.address(host)}/24`, "dev", inHost);
        ip("-n", ns, "link", "set", inHost, "up");
      });
    } catch (error) {
      bed.destroy();
      return `cannot build the test hosts (${String(error).split("\n")[0]})`;
    }
    return bed;
  }

  /** The address of `host` (10.77.0.1 for the first, and so on, by default). */
  address(host: string): string {
    return `${this.#subnet}.${this.#first + this.#index(host)}`;
  }

  /** Runs a shell command inside `host`, in the checkout, as the leader of a process group. */
  shell(host: string, command: string, options: { env?: Record<string, string> } = {}): Proc {
    const proc = new Proc(["ip", "netns", "exec", this.#ns(host), "bash", "-c", command], {
      env: options.env,
      group: true,
    });
    this.#procs.add(proc);
    return proc;
  }

  /** Starts `file` on `runtime` inside `host`. */
  start(
    host: string,
    runtime: Runtime,
    file: string,
    args: readonly string[],
    options: { env?: Record<string, string> } = {},
  ): Proc {
    const proc = new Proc(
      ["ip", "netns", "exec", this.#ns(host), ...command(runtime, file, args)],
      options,
    );
    this.#procs.add(proc);
    return proc;
  }

  /** Takes `host`'s link down at the switch: everything it sends or is sent vanishes. */
  partition(host: string): void {
    ip("-n", this.#ns("sw"), "link", "set", this.#veth(this.#index(host))[1], "down");
  }

  /** Brings `host`'s link back. */
  heal(host: string): void {
    ip("-n", this.#ns("sw"), "link", "set", this.#veth(this.#index(host))[1], "up");
  }

  /** Stops every process started here (by PID), then removes the namespaces and links. */
  async close(): Promise<void> {
    await Promise.all([...this.#procs].map((p) => p.stop(3000)));
    this.destroy();
  }

  /** Removes the namespaces (their links go with them). */
  destroy(): void {
    for (const host of [...this.#hosts, "sw"]) {
      try {
        ip("netns", "del", this.#ns(host));
      } catch {
        // not made, or already gone
      }
    }
  }

  #ns(host: string): string {
    return `tw${this.#tag}-${host}`;
  }

  #index(host: string): number {
    const i = this.#hosts.indexOf(host);
    if (i < 0) throw new Error(`no host ${host} in this test bed`);
    return i;
  }

  /** The veth pair of host number `i`: the end inside it, and the end at the switch. */
  #veth(i: number): [string, string] {
    return [`tw${this.#tag}h${i}`, `tw${this.#tag}s${i}`];
  }
}
