/**
 * A TCP proxy on 127.0.0.1 that can cut its connections in the middle of a
 * frame: {@link CutProxy.cutNext} makes the next chunk in the chosen direction
 * go through only in part, then both sockets are destroyed — what a network
 * failure looks like to both ends.
 */
import * as net from "node:net";

export class CutProxy {
  readonly server: net.Server;
  port = 0;
  /** Connections cut so far. */
  cuts = 0;
  /** Bytes forwarded, per direction. */
  readonly forwarded = { up: 0, down: 0 };
  #pairs = new Set<[net.Socket, net.Socket]>();
  #armed: "up" | "down" | null = null;

  private constructor(target: number) {
    this.server = net.createServer((client) => {
      const god = net.connect({ host: "127.0.0.1", port: target });
      const pair: [net.Socket, net.Socket] = [client, god];
      this.#pairs.add(pair);
      client.setNoDelay(true);
      god.setNoDelay(true);
      const kill = () => {
        client.destroy();
        god.destroy();
        this.#pairs.delete(pair);
      };
      const relay = (from: net.Socket, to: net.Socket, direction: "up" | "down") => {
        from.on("data", (chunk: Uint8Array) => {
          if (this.#armed === direction && chunk.length > 4) {
            this.#armed = null;
            this.cuts++;
            // Part of the chunk only: the frame it carries never completes.
            to.write(chunk.subarray(0, Math.max(1, Math.floor(chunk.length / 2))), () => kill());
            from.pause();
            return;
          }
          this.forwarded[direction] += chunk.length;
          to.write(chunk);
        });
      };
      relay(client, god, "up");
      relay(god, client, "down");
      client.on("close", kill).on("error", kill);
      god.on("close", kill).on("error", kill);
    });
  }

  /** Starts a proxy in front of 127.0.0.1:`target`. */
  static async start(target: number): Promise<CutProxy> {
    const proxy = new CutProxy(target);
    await new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
    proxy.port = (proxy.server.address() as net.AddressInfo).port;
    return proxy;
  }

  /** Cuts the connection carrying the next chunk (longer than 4 bytes) in `direction`. */
  cutNext(direction: "up" | "down"): void {
    this.#armed = direction;
  }

  async close(): Promise<void> {
    for (const [a, b] of this.#pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
