/**
 * A TCP proxy on 127.0.0.1 standing in for a network link between a client
 * and a god: it can add latency (each chunk is held `delayMs` in each
 * direction, so a round trip takes twice that) and it can go silent — stop
 * forwarding in both directions without closing anything, as a pulled cable,
 * a frozen VM or a NAT box that forgot the flow looks to both ends — and come
 * back; or cut a connection in the middle of a frame ({@link LinkProxy.cutNext}).
 * Used by the heartbeat and fault tests and the benchmark's long-link scenario.
 */
import * as net from "node:net";

export class LinkProxy {
  readonly server: net.Server;
  port = 0;
  /** Milliseconds each chunk is held, per direction. */
  delayMs: number;
  #silent = false;
  readonly #pairs = new Set<[net.Socket, net.Socket]>();
  /**
   * What one end did while the link is silent — bytes sent, an end, a close —
   * held in order and passed on when it heals: TCP retransmits until the link
   * is back, so nothing is lost, only late, and the other end learns of a
   * close no sooner than of the bytes.
   */
  #held: (() => void)[] = [];
  /** Connections cut so far ({@link cutNext}). */
  cuts = 0;
  /** Bytes forwarded, per direction ("up": client → god). */
  readonly forwarded = { up: 0, down: 0 };
  #armed: "up" | "down" | null = null;

  private constructor(target: { host: string; port: number }, delayMs: number) {
    this.delayMs = delayMs;
    // Half-open: a side that ends still gets what the other sends until that one ends too.
    this.server = net.createServer({ allowHalfOpen: true }, (client) => {
      const god = net.connect({ ...target, allowHalfOpen: true });
      const pair: [net.Socket, net.Socket] = [client, god];
      this.#pairs.add(pair);
      client.setNoDelay(true);
      god.setNoDelay(true);
      const kill = () => {
        client.destroy();
        god.destroy();
        this.#pairs.delete(pair);
      };
      // Each step of a direction waits the same delay, so it keeps its order:
      // a side's end reaches the other after the bytes it sent before it.
      const later = (fn: () => void) => this.delayMs <= 0 ? fn() : setTimeout(fn, this.delayMs);
      // A silent link passes nothing on, a close included, until it heals.
      const pass = (fn: () => void) => later(() => this.#silent ? this.#held.push(fn) : fn());
      const relay = (from: net.Socket, to: net.Socket, direction: "up" | "down") => {
        from.on("data", (chunk: Uint8Array) => {
          if (this.#armed === direction && chunk.length > 4) {
            this.#armed = null;
            this.cuts++;
            // Part of the chunk only: the frame it carries never completes; then both ends go.
            to.write(chunk.subarray(0, Math.max(1, Math.floor(chunk.length / 2))), () => kill());
            from.pause();
            return;
          }
          this.forwarded[direction] += chunk.length;
          pass(() => {
            if (!to.destroyed) to.write(chunk);
          });
        });
        from.on("end", () => pass(() => to.end()));
      };
      relay(client, god, "up");
      relay(god, client, "down");
      client.on("close", () => pass(kill)).on("error", () => pass(kill));
      god.on("close", () => pass(kill)).on("error", () => pass(kill));
    }).on("error", () => {});
  }

  /** Starts a proxy in front of `target` (default host 127.0.0.1), adding `delayMs` each way. */
  static async start(
    target: number | { host: string; port: number },
    options: { delayMs?: number; listen?: string } = {},
  ): Promise<LinkProxy> {
    const proxy = new LinkProxy(
      typeof target === "number" ? { host: "127.0.0.1", port: target } : target,
      options.delayMs ?? 0,
    );
    await new Promise<void>((resolve) =>
      proxy.server.listen(0, options.listen ?? "127.0.0.1", resolve)
    );
    proxy.port = (proxy.server.address() as net.AddressInfo).port;
    return proxy;
  }

  /** Cuts the connection carrying the next chunk (longer than 4 bytes) in `direction`. */
  cutNext(direction: "up" | "down"): void {
    this.#armed = direction;
  }

  /** The link goes silent (nothing passes, nothing closes) until {@link heal}. */
  partition(): void {
    this.#silent = true;
  }

  /** The link carries bytes again; what was sent meanwhile arrives now, in order. */
  heal(): void {
    this.#silent = false;
    const held = this.#held;
    this.#held = [];
    for (const fn of held) fn();
  }

  /** Connections open through the proxy. */
  get connections(): number {
    return this.#pairs.size;
  }

  async close(): Promise<void> {
    for (const [a, b] of this.#pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
