/**
 * One inbox for the replies this god waits for from JetStream: PubAcks and
 * confirmed acks. One wildcard subscription (`<inbox>.*`), requests routed by
 * number, and one timer that times out overdue requests.
 *
 * Why not `nc.request()`: nats.js builds two Error objects (with their stack
 * traces) for every request it makes, and a promise chain per request; on the
 * hot path (a PubAck per put, a confirmation per ack) that was over a third of
 * a god's CPU. Here a request is a map entry and a callback.
 */
import type { Msg, MsgHdrs, NatsConnection, Subscription } from "@nats-io/transport-node";

/** How often overdue requests are looked for (their timeouts are whole seconds). */
const SWEEP_MS = 250;

/** Why a request got no answer. */
export class NoReplyError extends Error {
  override name = "NoReplyError";
  /** `timeout`, or `no_responders` when nothing listens on the subject (no stream, JetStream down). */
  readonly reason: "timeout" | "no_responders";

  constructor(reason: "timeout" | "no_responders", subject: string, options?: ErrorOptions) {
    super(
      reason === "timeout"
        ? `no reply to a request on ${subject} in time`
        : `no responders on ${subject} (no stream, or JetStream unavailable)`,
      options,
    );
    this.reason = reason;
  }
}

/** The answer to a request: the reply, or why there is none. */
export type ReplyHandler = (error: NoReplyError | null, reply: Msg | null) => void;

class Route {
  constructor(
    readonly subject: string,
    readonly onReply: ReplyHandler,
    /** Epoch ms after which the request times out. */
    readonly deadline: number,
  ) {}
}

/** Routes replies on one wildcard subscription. */
export class Inbox {
  readonly #nc: NatsConnection;
  /** The inbox's subject prefix; replies arrive on `<prefix>.<number>`. */
  readonly prefix: string;
  readonly #dot: string;
  readonly #routes = new Map<number, Route>();
  readonly #sub: Subscription;
  readonly #timer: ReturnType<typeof setInterval>;
  #next = 1;

  constructor(nc: NatsConnection, prefix: string) {
    this.#nc = nc;
    this.prefix = prefix;
    this.#dot = `${prefix}.`;
    this.#sub = nc.subscribe(`${prefix}.*`, {
      callback: (error, msg) => {
        if (error === null) this.#dispatch(msg);
      },
    });
    this.#timer = setInterval(() => this.#sweep(Date.now()), SWEEP_MS);
  }

  /**
   * Publishes `data` to `subject` with a reply subject of this inbox; `done`
   * gets the first reply, or a {@link NoReplyError} after `timeoutMs` or when
   * nothing listens. A publish that throws (connection closed) throws here.
   */
  request(
    subject: string,
    data: Uint8Array | string,
    options: { headers?: MsgHdrs; timeoutMs: number },
    done: ReplyHandler,
  ): void {
    const id = this.#next++;
    this.#routes.set(id, new Route(subject, done, Date.now() + options.timeoutMs));
    try {
      this.#nc.publish(subject, data, { reply: this.#dot + id, headers: options.headers });
    } catch (error) {
      this.#routes.delete(id);
      throw error;
    }
  }

  /** Stops routing; pending requests get no answer. */
  stop(): void {
    clearInterval(this.#timer);
    this.#routes.clear();
    try {
      this.#sub.unsubscribe();
    } catch {
      // Already closed.
    }
  }

  #dispatch(msg: Msg): void {
    const id = Number(msg.subject.slice(this.#dot.length));
    const route = this.#routes.get(id);
    // Late (timed out already): dropped.
    if (route === undefined) return;
    this.#routes.delete(id);
    const headers = msg.headers;
    if (headers !== undefined && headers.code === 503 && msg.data.length === 0) {
      route.onReply(new NoReplyError("no_responders", route.subject), null);
      return;
    }
    route.onReply(null, msg);
  }

  #sweep(now: number): void {
    for (const [id, route] of this.#routes) {
      if (route.deadline > now) continue;
      this.#routes.delete(id);
      route.onReply(new NoReplyError("timeout", route.subject), null);
    }
  }
}
