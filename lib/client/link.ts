/**
 * One authenticated connection from a client to a god: the handshake, request
 * ids with many requests in flight (pipelining), acks gathered per turn of the
 * event loop, and pushes routed to their subscription. The {@link Client}
 * replaces a Link when the connection drops.
 */
import {
  AuthError,
  ConnectionLostError,
  ErrorCode,
  ProtocolError,
  RemoteError,
  TimeoutError,
} from "../protocol/errors.ts";
import { HANDSHAKE_MAX_FRAME } from "../protocol/frame.ts";
import { DEFAULT_LIMITS } from "../protocol/limits.ts";
import { ClientHandshake, type PeerInfo, type ServerInfo } from "../protocol/handshake.ts";
import {
  decodeMessage,
  type Message,
  MESSAGE_NAMES,
  MessageType,
  utf8Length,
} from "../protocol/messages.ts";
import { FramedConnection } from "../transport/framed.ts";
import type { Transport } from "../transport/transport.ts";
import { deferred } from "../util/deferred.ts";
import { nextTurn } from "../util/next_turn.ts";

/** An ack or completion waiting for this turn's request. */
interface Settle {
  tag: number;
  result: string | null;
  queue: string | null;
  id: string | null;
  resolve(): void;
  reject(error: Error): void;
}

/** A completion's fields as a Complete request lists them (results travel as payload parts). */
function completionFields(s: Settle): { tag: number; q?: string; id?: string } {
  const fields: { tag: number; q?: string; id?: string } = { tag: s.tag };
  if (s.queue !== null) fields.q = s.queue;
  if (s.id !== null) fields.id = s.id;
  return fields;
}

interface Pending {
  resolve(message: Message): void;
  reject(error: Error): void;
  type: MessageType;
  /** When the request is given up (epoch ms): what it may wait on the god, plus the request timeout. */
  deadline: number;
}

/** How long a request may go unanswered beyond what it waits for on the god (default). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

/** Turns an Error message from the god into a {@link RemoteError}. */
export function remoteError(message: Message): RemoteError {
  const code = String(message.header.code);
  return new RemoteError(
    (KNOWN_CODES.has(code) ? code : ErrorCode.Internal) as ErrorCode,
    String(message.header.message ?? code),
  );
}

export class Link {
  readonly server: ServerInfo;
  readonly #connection: FramedConnection;
  readonly #pending = new Map<number, Pending>();
  readonly #pushes = new Map<number, (message: Message) => void>();
  #nextId = 1;
  #nextSubscription = 1;
  readonly #ackRequests = new Set<Promise<void>>();
  /** Acks and completions made this turn: they travel together in one request. */
  #settles: Settle[] = [];
  /** Told each Result and Progressed push (about a task this client called). */
  onResult: ((message: Message) => void) | null = null;
  #closedError: Error | null = null;
  readonly #closed = deferred<Error>();
  readonly #requestTimeoutMs: number;
  /** Checks deadlines, and (when the god announced heartbeats) the god's silence. */
  readonly #ticker: ReturnType<typeof setInterval>;
  /** Something was received since the last tick; when it last was; when we last pinged. */
  #heard = false;
  #heardAt = Date.now();
  #pingedAt = 0;

  private constructor(connection: FramedConnection, server: ServerInfo, requestTimeoutMs: number) {
    this.#connection = connection;
    this.server = server;
    this.#requestTimeoutMs = requestTimeoutMs;
    const beat = server.heartbeatMs ?? 0;
    this.#ticker = setInterval(() => this.#tick(), beat > 0 ? Math.min(beat, 1000) : 1000);
  }

  /**
   * Runs about once a second (or each heartbeat, when shorter): fails the
   * requests past their deadline, pings a god quiet for a heartbeat, and
   * closes the link to one silent for three (the client then reconnects):
   * on a real network a dead peer may never send FIN or RST.
   */
  #tick(): void {
    const now = Date.now();
    if (this.#heard) {
      this.#heard = false;
      this.#heardAt = now;
    }
    for (const [id, pending] of this.#pending) {
      if (pending.deadline > now) continue;
      this.#pending.delete(id);
      pending.reject(
        new TimeoutError(
          `No reply from the god at ${this.#connection.transport.remote} to ${
            MESSAGE_NAMES[pending.type]
          } within its deadline (its own wait plus ${this.#requestTimeoutMs} ms); the connection is up but the god did not answer`,
        ),
      );
    }
    const beat = this.server.heartbeatMs ?? 0;
    if (beat <= 0 || this.#closedError) return;
    const silent = now - this.#heardAt;
    if (silent >= 3 * beat) {
      this.#shutdown(
        new ConnectionLostError(
          `The god at ${this.#connection.transport.remote} went silent: nothing for ${silent} ms (3 heartbeats)`,
        ),
      );
    } else if (silent >= beat && now - this.#pingedAt >= beat) {
      this.#pingedAt = now;
      this.#connection.sendMessage(MessageType.Ping, 0, {});
    }
  }

  /**
   * Runs the handshake over `transport`. Rejects with {@link AuthError} when
   * the key is wrong on either side, {@link ConnectionLostError} when the god
   * hangs up or stays silent past `timeoutMs`.
   */
  static open(
    transport: Transport,
    key: CryptoKey,
    peer: PeerInfo,
    options: { timeoutMs: number; scope?: string | null; requestTimeoutMs?: number },
  ): Promise<Link> {
    const connection = new FramedConnection(transport, { maxFrameSize: HANDSHAKE_MAX_FRAME });
    const handshake = new ClientHandshake(key, peer, { scope: options.scope });
    const result = deferred<Link>();
    let link: Link | null = null;
    let busy = Promise.resolve();
    const fail = (error: Error) => {
      if (link) link.#shutdown(error);
      else {
        connection.close();
        result.reject(error);
      }
    };
    const timer = setTimeout(
      () =>
        fail(
          new ConnectionLostError(
            `Cannot connect: the god at ${transport.remote} did not finish the handshake within ${options.timeoutMs} ms`,
          ),
        ),
      options.timeoutMs,
    );
    connection.start({
      frame: (body) => {
        if (link) {
          link.#onMessage(decodeMessage(body));
          return;
        }
        // Handshake frames are handled in order, one at a time (crypto is async).
        busy = busy.then(async () => {
          if (link) return link.#onMessage(decodeMessage(body));
          const step = await handshake.receive(body);
          if ("send" in step) {
            connection.send(step.send);
            return;
          }
          clearTimeout(timer);
          connection.decoder.maxFrameSize = step.done.maxFrameSize ||
            connection.decoder.maxFrameSize;
          link = new Link(
            connection,
            step.done,
            options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
          );
          result.resolve(link);
        }).catch(fail);
      },
      error: (error) => fail(error),
      closed: (error) => {
        clearTimeout(timer);
        const lost = new ConnectionLostError(
          `Connection to the god at ${transport.remote} closed${error ? `: ${error.message}` : ""}`,
          { cause: error },
        );
        if (link) link.#shutdown(lost);
        // Let handshake frames already received (an auth error, say) speak first.
        else busy.then(() => result.reject(lost));
      },
    });
    return result.promise;
  }

  /** Resolves with why the link closed. */
  get closed(): Promise<Error> {
    return this.#closed.promise;
  }

  get isClosed(): boolean {
    return this.#closedError !== null;
  }

  /**
   * Sends a request; resolves with the Ok reply, rejects with a
   * {@link RemoteError}, or with a {@link TimeoutError} when no reply came
   * within `waitMs` (what the request may wait on the god: a get's timeout, a
   * put's wait for room) plus the link's request timeout.
   */
  request(
    type: MessageType,
    header: object,
    payload?: string[],
    waitMs = 0,
  ): Promise<Message> {
    if (this.#closedError) return Promise.reject(this.#closedError);
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 0xffff_fffe ? 1 : this.#nextId + 1;
    const deadline = Date.now() + waitMs + this.#requestTimeoutMs;
    const reply = new Promise<Message>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, type, deadline });
    });
    this.#connection.sendMessage(type, id, header, payload);
    return reply;
  }

  /** A fresh subscription id for this link. */
  nextSubscriptionId(): number {
    return this.#nextSubscription++;
  }

  /** Routes Deliver pushes for subscription `id` to `handler`. */
  onPush(id: number, handler: ((message: Message) => void) | null): void {
    if (handler) this.#pushes.set(id, handler);
    else this.#pushes.delete(id);
  }

  /** Acks a lease; acks (and completions) made in the same turn travel in one request. */
  ack(tag: number): Promise<void> {
    return this.complete(tag, null, null, null);
  }

  /**
   * Finishes a lease and stores `result` (superjson text) with it, in one step
   * on the god: to `queue` (or where the god routes it), with `id`. Without a
   * result it is an ack. Made in the same turn, they travel in one request.
   */
  complete(
    tag: number,
    result: string | null,
    queue: string | null,
    id: string | null,
  ): Promise<void> {
    if (this.#closedError) return Promise.reject(this.#leaseLost());
    const done = deferred<void>();
    if (this.#settles.length === 0) nextTurn(() => this.#flushSettles());
    this.#settles.push({ tag, result, queue, id, resolve: done.resolve, reject: done.reject });
    return done.promise;
  }

  /**
   * Says goodbye and closes, after the acks made so far have been answered
   * (for at most `graceMs`), so an ack that was not awaited still settles.
   */
  async close(graceMs = 2000): Promise<void> {
    if (this.#closedError) return;
    this.#flushSettles();
    if (this.#ackRequests.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled([...this.#ackRequests]),
        new Promise((resolve) => timer = setTimeout(resolve, graceMs)),
      ]);
      clearTimeout(timer);
    }
    if (this.#closedError) return;
    this.#connection.sendMessage(MessageType.Bye, 0, {});
    this.#shutdown(new ConnectionLostError("Connection closed by the client"));
  }

  /**
   * Sends the acks and completions of this turn: Acks when none has a result,
   * else Completes, each request within the god's default limits (maxAckTags,
   * maxPutItems).
   */
  #flushSettles(): void {
    if (this.#settles.length === 0) return;
    const settles = this.#settles;
    this.#settles = [];
    const plain = settles.every((s) => s.result === null);
    const size = plain ? DEFAULT_LIMITS.maxAckTags : DEFAULT_LIMITS.maxPutItems;
    for (let i = 0; i < settles.length; i += size) {
      this.#sendSettles(settles.length <= size ? settles : settles.slice(i, i + size), plain);
    }
  }

  /** One Ack (`plain`) or Complete request for `settles`. */
  #sendSettles(settles: Settle[], plain: boolean): void {
    const request = plain
      ? this.request(MessageType.Ack, { tags: settles.map((s) => s.tag) })
      : this.request(
        MessageType.Complete,
        {
          items: settles.map(completionFields),
          sizes: settles.map((s) => utf8Length(s.result ?? "")),
        },
        settles.map((s) => s.result ?? ""),
      );
    const sent = request.then((reply) => {
      const failed = new Map<number, string>();
      const refused = (reply.header.failed ?? []) as { tag: number; message: string }[];
      for (const f of refused) failed.set(f.tag, f.message);
      for (const s of settles) {
        const why = failed.get(s.tag);
        if (why === undefined) s.resolve();
        else {s.reject(
            new RemoteError(
              ErrorCode.NotLeased,
              `Cannot ${s.result === null ? "ack" : "complete"}: ${why}`,
            ),
          );}
      }
    }, (error) => {
      for (const s of settles) {
        s.reject(error instanceof ConnectionLostError ? this.#leaseLost() : error);
      }
    });
    this.#ackRequests.add(sent);
    sent.finally(() => this.#ackRequests.delete(sent));
  }

  #leaseLost(): ConnectionLostError {
    return new ConnectionLostError(
      "Cannot ack: the connection that leased this job was lost; the god will deliver the job again",
    );
  }

  #onMessage(message: Message): void {
    this.#heard = true;
    switch (message.type) {
      case MessageType.Ping:
        this.#connection.sendMessage(MessageType.Pong, message.id, {});
        return;
      case MessageType.Pong:
        return;
      case MessageType.Ok:
      case MessageType.Error: {
        if (message.id === 0) {
          // A connection-level error: the god is about to close.
          this.#shutdown(
            message.header.code === ErrorCode.AuthFailed
              ? new AuthError(ErrorCode.AuthFailed, String(message.header.message))
              : remoteError(message),
          );
          return;
        }
        const pending = this.#pending.get(message.id);
        if (!pending) return;
        this.#pending.delete(message.id);
        if (message.type === MessageType.Ok) pending.resolve(message);
        else pending.reject(remoteError(message));
        return;
      }
      case MessageType.Deliver:
        this.#pushes.get(message.id)?.(message);
        return;
      case MessageType.Result:
      case MessageType.Progressed:
        this.onResult?.(message);
        return;
      case MessageType.Bye:
        this.#shutdown(
          new ConnectionLostError(`The god said goodbye: ${String(message.header.reason ?? "")}`),
        );
        return;
      default:
        throw new ProtocolError(
          ErrorCode.UnknownType,
          `the god sent message type ${message.type}, which a client does not expect`,
        );
    }
  }

  #shutdown(error: Error): void {
    if (this.#closedError) return;
    this.#closedError = error;
    clearInterval(this.#ticker);
    this.#connection.close();
    const lost = error instanceof ConnectionLostError
      ? error
      : new ConnectionLostError(error.message, { cause: error });
    for (const pending of this.#pending.values()) pending.reject(lost);
    this.#pending.clear();
    for (const s of this.#settles) s.reject(this.#leaseLost());
    this.#settles = [];
    this.#closed.resolve(error);
  }
}
