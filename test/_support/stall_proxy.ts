/**
 * A TCP proxy on 127.0.0.1 that can stall its connections: {@link StallProxy.stall}
 * stops forwarding in both directions without closing anything (the sockets
 * stay open, bytes wait in buffers), what a network partition or a hung
 * middlebox looks like to both ends; {@link StallProxy.resume} lets the bytes
 * through again.
 */
import * as net from "node:net";

export class StallProxy {
  readonly server: net.Server;
  port = 0;
  #pairs = new Set<[net.Socket, net.Socket]>();
  #stalled = false;

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
      client.pipe(god);
      god.pipe(client);
      if (this.#stalled) this.#pause(pair);
      client.on("close", kill).on("error", kill);
      god.on("close", kill).on("error", kill);
    });
  }

  /** Starts a proxy in front of 127.0.0.1:`target`. */
  static async start(target: number): Promise<StallProxy> {
    const proxy = new StallProxy(target);
    await new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
    proxy.port = (proxy.server.address() as net.AddressInfo).port;
    return proxy;
  }

  /** Stops forwarding, in both directions, on every connection (new ones too); nothing is closed. */
  stall(): void {
    this.#stalled = true;
    for (const pair of this.#pairs) this.#pause(pair);
  }

  /** Forwards again what waited and what comes next. */
  resume(): void {
    this.#stalled = false;
    for (const [a, b] of this.#pairs) {
      a.pipe(b);
      b.pipe(a);
    }
  }

  #pause([a, b]: [net.Socket, net.Socket]): void {
    a.unpipe(b);
    b.unpipe(a);
    a.pause();
    b.pause();
  }

  async close(): Promise<void> {
    for (const [a, b] of this.#pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
