/**
 * One client connection on the god: handshake, then requests dispatched to the
 * broker, replies and pushes written back. A bad frame closes only this
 * connection; a bad request fails only that request.
 */
import { type Broker, checkDuration, Owner, type Subscription } from "../queue/broker.ts";
import type { Delivery, Job, PutItem } from "../queue/types.ts";
import type { Store } from "../store/store.ts";
import { ErrorCode, ProtocolError, RemoteError, TaskwireError } from "../protocol/errors.ts";
import { HANDSHAKE_MAX_FRAME } from "../protocol/frame.ts";
import {
  errorBody,
  type PeerInfo,
  ServerHandshake,
  type ServerInfo,
} from "../protocol/handshake.ts";
import {
  decodeMessage,
  encodeMessage,
  type Message,
  MessageType,
  splitPayload,
} from "../protocol/messages.ts";
import { FramedConnection } from "../transport/framed.ts";
import type { Transport } from "../transport/transport.ts";

/** What a session needs from the server around it. */
export interface SessionContext {
  broker: Broker;
  store: Store;
  key: CryptoKey;
  info: ServerInfo;
  handshakeTimeoutMs: number;
  /** Stats of the whole god, for the Stats request. */
  stats(queue?: string): Record<string, unknown>;
  log(event: Record<string, unknown>): void;
  /** Called once the session is over. */
  ended(session: Session): void;
  /** Asks the server to run broker deadlines soon (something new may be due). */
  schedule(): void;
}

/** Largest job id a client may choose. */
const MAX_ID_LENGTH = 256;

/** A connection's view of a job, as sent in Get replies, Deliver pushes and listings. */
function jobMeta(job: Job): Record<string, unknown> {
  const meta: Record<string, unknown> = {
    id: job.id,
    attempts: job.attempts,
    priority: job.priority,
  };
  if (job.reason !== undefined) meta.reason = job.reason;
  if (job.origin !== undefined) meta.origin = job.origin;
  return meta;
}

export class Session {
  readonly connection: FramedConnection;
  readonly owner = new Owner();
  readonly connectedAt = Date.now();
  peer: PeerInfo | null = null;
  readonly #ctx: SessionContext;
  readonly #handshake: ServerHandshake;
  #state: "hello" | "checking" | "ready" = "hello";
  #timer: ReturnType<typeof setTimeout> | undefined;
  #subscriptions = new Map<number, Subscription>();
  #idCounter = 0;
  #ended = false;

  constructor(transport: Transport, ctx: SessionContext) {
    this.#ctx = ctx;
    this.connection = new FramedConnection(transport, { maxFrameSize: HANDSHAKE_MAX_FRAME });
    this.#handshake = new ServerHandshake(ctx.key, ctx.info);
    this.connection.start({
      frame: (body) => this.#onFrame(body),
      error: (error) => this.#fail(error),
      closed: () => this.#end(),
    });
    this.connection.send(this.#handshake.hello());
    this.#timer = setTimeout(() => {
      this.#fail(
        new ProtocolError(
          ErrorCode.HandshakeTimeout,
          `handshake not finished within ${ctx.handshakeTimeoutMs} ms`,
        ),
      );
    }, ctx.handshakeTimeoutMs);
  }

  get remote(): string {
    return this.connection.transport.remote;
  }

  /** Tells the client the god is going away, then closes. */
  goodbye(reason: string): void {
    this.connection.send(encodeMessage(MessageType.Bye, 0, { reason }));
    this.connection.close();
  }

  #onFrame(body: Uint8Array): void {
    if (this.#state === "checking") {
      // The client spoke again before we answered its Auth.
      throw new ProtocolError(ErrorCode.BadMessage, "message sent before the handshake finished");
    }
    if (this.#state === "hello") {
      this.#state = "checking";
      this.#handshake.receive(body).then(({ reply, peer }) => {
        if (this.#ended) return;
        clearTimeout(this.#timer);
        this.#state = "ready";
        this.peer = peer;
        this.connection.decoder.maxFrameSize = this.#ctx.info.maxFrameSize;
        this.connection.send(reply);
        this.#ctx.log({ event: "connected", remote: this.remote, ...peer });
      }, (error) => this.#fail(error));
      return;
    }
    const message = decodeMessage(body);
    try {
      this.#handle(message);
    } catch (error) {
      if (error instanceof ProtocolError) throw error;
      this.#replyError(message.id, error);
    }
  }

  #handle(m: Message): void {
    const { broker } = this.#ctx;
    const h = m.header;
    const now = Date.now();
    switch (m.type) {
      case MessageType.Put: {
        const parts = splitPayload(m.payload, h.sizes);
        const items = this.#putItems(h.items, parts);
        const timeoutMs = h.timeout === undefined ? 30_000 : checkDuration(h.timeout, "timeout");
        broker.put(this.owner, queueName(h.q), items, { now, timeoutMs }, (result) => {
          if (result instanceof TaskwireError) {
            this.#replyError(m.id, result);
            return;
          }
          this.#ctx.store.afterCommit(() => this.#reply(m.id, { ...result }));
        });
        this.#ctx.schedule();
        return;
      }
      case MessageType.Get: {
        const timeoutMs = checkDuration(h.timeout ?? 0, "timeout");
        broker.get(this.owner, queueName(h.q), { now, timeoutMs }, (delivery) => {
          if (delivery === null) this.#reply(m.id, { job: null });
          else {
            this.#reply(m.id, { job: { ...jobMeta(delivery.job), tag: delivery.tag } }, [
              delivery.job.payload,
            ]);
          }
        });
        this.#ctx.schedule();
        return;
      }
      case MessageType.Consume: {
        // The client picks the subscription id, so it can route pushes that
        // arrive before this reply.
        const sub = h.sub;
        if (
          !Number.isSafeInteger(sub) || sub < 1 || sub > 0xffff_ffff || this.#subscriptions.has(sub)
        ) {
          throw new RemoteError(
            ErrorCode.BadArgument,
            `Invalid subscription id: ${JSON.stringify(sub)}`,
          );
        }
        const subscription = broker.subscribe(
          this.owner,
          queueName(h.q),
          { prefetch: h.prefetch ?? 64, now },
          (deliveries) => this.#deliver(sub, deliveries),
        );
        this.#subscriptions.set(sub, subscription);
        this.#reply(m.id, { sub });
        return;
      }
      case MessageType.Cancel: {
        const subscription = this.#subscriptions.get(h.sub);
        if (subscription) {
          broker.unsubscribe(subscription);
          this.#subscriptions.delete(h.sub);
        }
        this.#reply(m.id, {});
        return;
      }
      case MessageType.Ack: {
        if (!Array.isArray(h.tags) || !h.tags.every(Number.isSafeInteger)) {
          throw new RemoteError(ErrorCode.BadArgument, "Invalid ack: tags must be integers");
        }
        const failed = broker.ack(this.owner, h.tags, now);
        this.#ctx.store.afterCommit(() => this.#reply(m.id, { failed }));
        return;
      }
      case MessageType.Nack: {
        broker.nack(this.owner, h.tag, {
          now,
          delayMs: h.delay,
          dead: h.dead === undefined ? undefined : String(h.dead),
        });
        this.#ctx.schedule();
        this.#ctx.store.afterCommit(() => this.#reply(m.id, {}));
        return;
      }
      case MessageType.Touch: {
        const deadline = broker.touch(this.owner, h.tag, now);
        this.#ctx.schedule();
        this.#reply(m.id, { deadline });
        return;
      }
      case MessageType.Stats:
        this.#reply(m.id, this.#ctx.stats(h.q === undefined ? undefined : queueName(h.q)));
        return;
      case MessageType.Peek:
      case MessageType.DeadList: {
        const limit = h.n === undefined ? 10 : h.n;
        if (!Number.isSafeInteger(limit) || limit < 0 || limit > 10_000) {
          throw new RemoteError(
            ErrorCode.BadArgument,
            `Invalid count: ${JSON.stringify(limit)} (0 to 10000)`,
          );
        }
        const jobs = m.type === MessageType.Peek
          ? broker.peek(queueName(h.q), limit)
          : broker.deadList(queueName(h.q), limit);
        const payloads = jobs.map((job) => job.payload);
        this.#reply(
          m.id,
          { jobs: jobs.map(jobMeta), sizes: payloads.map((p) => p.length) },
          payloads,
        );
        return;
      }
      case MessageType.Purge: {
        const purged = broker.purge(queueName(h.q), now);
        this.#ctx.store.afterCommit(() => this.#reply(m.id, { purged }));
        return;
      }
      case MessageType.DeadRequeue: {
        const ids = h.ids === undefined || h.ids === null ? null : h.ids;
        if (ids !== null && (!Array.isArray(ids) || !ids.every((id) => typeof id === "string"))) {
          throw new RemoteError(ErrorCode.BadArgument, "Invalid requeue: ids must be strings");
        }
        const requeued = broker.deadRequeue(queueName(h.q), ids, now);
        this.#ctx.store.afterCommit(() => this.#reply(m.id, { requeued }));
        return;
      }
      case MessageType.Declare: {
        const options = broker.declare(queueName(h.q), h.options ?? {});
        this.#ctx.store.afterCommit(() => this.#reply(m.id, { options }));
        return;
      }
      case MessageType.Bye:
        this.connection.close();
        return;
      default:
        throw new ProtocolError(
          ErrorCode.UnknownType,
          `message type ${m.type} is not a request a client may send`,
        );
    }
  }

  #putItems(raw: unknown, parts: Uint8Array[]): PutItem[] {
    if (!Array.isArray(raw) || raw.length !== parts.length) {
      throw new ProtocolError(
        ErrorCode.BadMessage,
        "Put: items and sizes must be arrays of one length",
      );
    }
    return raw.map((item, i) => {
      const o = (typeof item === "object" && item !== null ? item : {}) as Record<string, unknown>;
      let id = o.id;
      if (id === undefined) id = `god-${this.owner.id}-${++this.#idCounter}`;
      if (typeof id !== "string" || id.length === 0 || id.length > MAX_ID_LENGTH) {
        throw new RemoteError(
          ErrorCode.BadArgument,
          `Invalid job id: ${JSON.stringify(id)?.slice(0, 80)}`,
        );
      }
      const priority = o.priority ?? 0;
      if (!Number.isSafeInteger(priority)) {
        throw new RemoteError(
          ErrorCode.BadArgument,
          `Invalid priority: ${JSON.stringify(priority)}`,
        );
      }
      return {
        id,
        // Copy: the frame's buffer may be far larger than this one payload.
        payload: parts[i].slice(),
        priority: priority as number,
        delayMs: o.delay === undefined ? 0 : checkDuration(o.delay, "delay"),
      };
    });
  }

  #deliver(subscription: number, deliveries: Delivery[]): void {
    const jobs = new Array(deliveries.length);
    const sizes = new Array(deliveries.length);
    const payloads = new Array<Uint8Array>(deliveries.length);
    for (let i = 0; i < deliveries.length; i++) {
      const { tag, job } = deliveries[i];
      jobs[i] = [tag, job.id, job.attempts, job.priority];
      sizes[i] = job.payload.length;
      payloads[i] = job.payload;
    }
    this.connection.send(
      encodeMessage(MessageType.Deliver, subscription, { jobs, sizes }, payloads),
    );
  }

  #reply(id: number, header: object, payload?: Uint8Array[]): void {
    this.connection.send(encodeMessage(MessageType.Ok, id, header, payload));
  }

  #replyError(id: number, error: unknown): void {
    const e = error instanceof TaskwireError
      ? error
      : new TaskwireError(ErrorCode.Internal, `internal error: ${String(error)}`);
    if (e.code === ErrorCode.Internal) this.#ctx.log({ event: "error", error: String(error) });
    this.connection.send(errorBody(e, id));
  }

  /** A connection-level failure: tell the peer why, then close. */
  #fail(error: unknown): void {
    if (this.#ended) return;
    const e = error instanceof TaskwireError
      ? error
      : new TaskwireError(ErrorCode.Internal, String(error));
    this.#ctx.log({ event: "rejected", remote: this.remote, code: e.code, message: e.message });
    this.connection.send(errorBody(e));
    this.connection.close();
    this.#end();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#timer);
    this.#ctx.broker.release(this.owner, Date.now());
    if (this.peer) this.#ctx.log({ event: "disconnected", remote: this.remote, ...this.peer });
    this.#ctx.ended(this);
  }
}

function queueName(value: unknown): string {
  if (typeof value !== "string") {
    throw new RemoteError(ErrorCode.BadArgument, `Invalid queue name: ${JSON.stringify(value)}`);
  }
  return value;
}
