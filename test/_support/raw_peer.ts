/**
 * A raw protocol peer for hostile-input tests: a socket, a frame decoder and
 * the client handshake, with no client library in between, so tests can send
 * any bytes before or after authenticating and read exactly what comes back.
 */
import * as net from "node:net";
import { encodeFrame, FrameDecoder } from "../../lib/protocol/frame.ts";
import { ClientHandshake } from "../../lib/protocol/handshake.ts";
import { importAuthKey } from "../../lib/protocol/keys.ts";
import { decodeMessage, type Message } from "../../lib/protocol/messages.ts";

/** What {@link RawPeer.next} resolves to. */
export type Received = Message | "closed" | "timeout" | "garbage";

export class RawPeer {
  readonly socket: net.Socket;
  #decoder = new FrameDecoder({ maxFrameSize: 64 * 1024 * 1024 });
  #frames: Uint8Array[] = [];
  #closed = false;
  #wake: (() => void) | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Uint8Array) => {
      try {
        this.#frames.push(...this.#decoder.push(new Uint8Array(chunk)));
      } catch {
        this.#closed = true;
      }
      this.#wake?.();
    });
    const end = () => {
      this.#closed = true;
      this.#wake?.();
    };
    socket.on("close", end);
    socket.on("error", end);
  }

  /** Connects to 127.0.0.1:`port` without saying anything. */
  static connect(port: number): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port }, () => {
        socket.off("error", reject);
        resolve(new RawPeer(socket));
      });
      socket.setNoDelay(true);
      socket.once("error", reject);
    });
  }

  /** Connects and runs the handshake with `authkey`; rejects if the god does not welcome us. */
  static async authenticated(port: number, authkey: string): Promise<RawPeer> {
    const peer = await RawPeer.connect(port);
    const handshake = new ClientHandshake(await importAuthKey(authkey), {
      role: "fuzz",
      runtime: "test",
      name: "raw",
    });
    const hello = await peer.next(5000);
    if (typeof hello === "string") throw new Error(`no Hello: ${hello}`);
    const step = await handshake.receive(hello.body);
    if (!("send" in step)) throw new Error("unexpected handshake step");
    peer.sendBody(step.send);
    const welcome = await peer.next(5000);
    if (typeof welcome === "string") throw new Error(`no Welcome: ${welcome}`);
    await handshake.receive(welcome.body);
    return peer;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Writes raw bytes. */
  sendRaw(bytes: Uint8Array): void {
    if (!this.#closed) this.socket.write(bytes);
  }

  /** Writes one frame around `body`. */
  sendBody(body: Uint8Array): void {
    this.sendRaw(encodeFrame(body));
  }

  /** The next message from the god, or why there is none within `timeoutMs`. */
  async next(
    timeoutMs: number,
  ): Promise<"closed" | "timeout" | "garbage" | (Message & { body: Uint8Array })> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = this.#frames.shift();
      if (frame) {
        try {
          return Object.assign(decodeMessage(frame), { body: frame });
        } catch {
          return "garbage";
        }
      }
      if (this.#closed) return "closed";
      const left = deadline - Date.now();
      if (left <= 0) return "timeout";
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#wake = null;
          resolve();
        }, left);
        this.#wake = () => {
          clearTimeout(timer);
          this.#wake = null;
          resolve();
        };
      });
    }
  }

  /** Reads messages until one matches, the connection closes, or time runs out. */
  async until(
    match: (m: Message) => boolean,
    timeoutMs: number,
  ): Promise<Message | "closed" | "timeout" | "garbage"> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.next(Math.max(0, deadline - Date.now()));
      if (typeof m === "string") return m;
      if (match(m)) return m;
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
