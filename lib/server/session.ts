/**
 * The TCP door: one client connection on the god. It runs the handshake, then
 * translates each request frame into its operation (lib/ops/operations.ts)
 * and the operation's answer into a reply frame; pushes go out as Deliver
 * frames. What is particular to a connection stays here: request ids, the
 * per-connection limits, and holding deliveries back while the client reads
 * too slowly. A bad frame closes only this connection; a bad request fails
 * only that request.
 */
import type { InFlightJob, Subscription } from "../queue/backend.ts";
import type { Delivery, Job } from "../queue/types.ts";
import type { Caller } from "../ops/caller.ts";
import type { Done, Operations } from "../ops/operations.ts";
import {
  ErrorCode,
  LimitError,
  ProtocolError,
  RemoteError,
  TaskwireError,
} from "../protocol/errors.ts";
import { HANDSHAKE_MAX_FRAME } from "../protocol/frame.ts";
import type { CallResult } from "../protocol/replies.ts";
import { inFlightMeta, jobMeta } from "../ops/job_meta.ts";
import { errorBody, ServerHandshake, type ServerInfo } from "../protocol/handshake.ts";
import type { KeyRing } from "../protocol/keys.ts";
import {
  checkHeaderSize,
  decodeMessage,
  type Message,
  MessageType,
  splitPayload,
  utf8Length,
} from "../protocol/messages.ts";
import { FramedConnection } from "../transport/framed.ts";
import type { Transport } from "../transport/transport.ts";
import { hostOf, isLocal, judgeFailure, type LimitCounters } from "./admission.ts";
import { checkPutCount } from "../queue/arguments.ts";

/** What a session needs from the server around it. */
export interface SessionContext {
  ops: Operations;
  /** The god's key and the worker keys derived from it. */
  keys: KeyRing;
  info: ServerInfo;
  handshakeTimeoutMs: number;
  /** The god's limits and their counters. */
  limits: LimitCounters;
  log(event: Record<string, unknown>): void;
  /** Called once the session is over. */
  ended(session: Session): void;
}

/** Jobs handed out by a batched get: their fields and leases in the header, payloads after it. */
function deliveryListing(deliveries: Delivery[]): [object, string[]] {
  const payloads = deliveries.map((d) => d.job.payload);
  return [
    { jobs: deliveries.map((d) => jobMeta(d.job, d.tag)), sizes: payloads.map(utf8Length) },
    payloads,
  ];
}

/** The reply of a get without `max` (protocol version 1): one job or none. */
function singleDelivery(deliveries: Delivery[]): [object, string[]?] {
  if (deliveries.length === 0) return [{ job: null }];
  const [{ job, tag }] = deliveries;
  return [{ job: jobMeta(job, tag) }, [job.payload]];
}

/** A listing (peek, dead letters) as a reply: metadata in the header, payloads after it. */
function listing(jobs: Job[]): [object, string[]] {
  const payloads = jobs.map((job) => job.payload);
  return [{ jobs: jobs.map((job) => jobMeta(job)), sizes: payloads.map(utf8Length) }, payloads];
}

/** Jobs in flight as a reply, like {@link listing}. */
function inFlightListing(jobs: InFlightJob[]): [object, string[]] {
  const payloads = jobs.map((listed) => listed.job.payload);
  return [{ jobs: jobs.map(inFlightMeta), sizes: payloads.map(utf8Length) }, payloads];
}

export class Session {
  readonly connection: FramedConnection;
  /** The client, once its handshake succeeded. */
  caller: Caller | null = null;
  readonly #ctx: SessionContext;
  readonly #handshake: ServerHandshake;
  #state: "hello" | "checking" | "ready" = "hello";
  #timer: ReturnType<typeof setTimeout> | undefined;
  #subscriptions = new Map<number, Subscription>();
  #idCounter = 0;
  #ended = false;
  /** Requests received and not answered yet. */
  #inFlight = 0;
  /** Gets not answered yet, by request id (a parked get waits for a job). */
  #gets = new Map<number, number>();
  #getsOpen = 0;
  /** Deliveries held back while the client reads too slowly (its write buffer is over the high-water mark). */
  #held: { sub: number; deliveries: Delivery[] }[] = [];
  #paused = false;
  /** While paused: checks the write buffer now and then, in case no drain event comes. */
  #pauseTimer: ReturnType<typeof setInterval> | undefined;
  #draining: { idle(): void } | null = null;
  /** Whether the client answers pings (it said so in its Auth), and what was heard lately. */
  #pings = false;
  #heard = false;
  #silentBeats = 0;
  /** A failed handshake waiting out its penalty before it is answered (see AuthLimiter). */
  #penalty: ReturnType<typeof setTimeout> | undefined;

  constructor(transport: Transport, ctx: SessionContext) {
    this.#ctx = ctx;
    this.connection = new FramedConnection(transport, { maxFrameSize: HANDSHAKE_MAX_FRAME });
    this.#handshake = new ServerHandshake(ctx.keys, ctx.info);
    this.connection.start({
      frame: (body) => this.#onFrame(body),
      error: (error) => this.#fail(error),
      closed: () => this.#end(),
      drain: () => this.#resume(),
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
    this.connection.sendMessage(MessageType.Bye, 0, { reason });
    this.connection.close();
  }

  /**
   * A graceful end: new requests are refused with `shutting_down`, requests
   * in flight (parked gets aside) get their replies for at most `waitMs`, then
   * {@link goodbye}.
   */
  async shutdown(reason: string, waitMs: number): Promise<void> {
    if (this.#ended) return;
    if (this.#busy() > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#draining = { idle: resolve };
        timer = setTimeout(resolve, waitMs);
      });
      clearTimeout(timer);
    } else this.#draining = { idle: () => {} };
    this.goodbye(reason);
  }

  /** Requests still being worked on (a parked get waits for a job, not for the god). */
  #busy(): number {
    return this.#inFlight - this.#getsOpen;
  }

  /** Sends a reply or a push, encoded straight into the outgoing bytes. */
  #sendMessage(
    type: MessageType,
    id: number,
    header: object,
    payload?: readonly string[],
    payloadBytes?: number,
  ): void {
    this.connection.sendMessage(type, id, header, payload, payloadBytes);
    this.#checkWriteLimit();
  }

  /** Cuts off a client whose unread bytes pass the write limit. */
  #checkWriteLimit(): void {
    const { writeLimit } = this.#ctx.limits.settings;
    if (this.connection.bufferedAmount > writeLimit) {
      this.#ctx.limits.hit("slowConsumer");
      this.#fail(
        new RemoteError(
          ErrorCode.Limit,
          `Cannot write to ${this.remote}: ${this.connection.bufferedAmount} bytes unread exceed writeLimit ${writeLimit} (a slow consumer)`,
        ),
      );
    }
  }

  /** A request got its answer: count it off. */
  #answered(id: number): void {
    if (this.#inFlight > 0) this.#inFlight--;
    const gets = this.#gets.get(id);
    if (gets !== undefined) {
      this.#getsOpen--;
      if (gets <= 1) this.#gets.delete(id);
      else this.#gets.set(id, gets - 1);
    }
    if (this.#draining && this.#busy() <= 0) this.#draining.idle();
  }

  /** Checks a request against the per-connection limits before it is handled. */
  #admit(m: Message): void {
    const { limits } = this.#ctx;
    const s = limits.settings;
    if (this.#draining) {
      throw new RemoteError(
        ErrorCode.ShuttingDown,
        "Cannot take requests: the god is shutting down",
      );
    }
    if (this.#inFlight > s.maxInFlight) {
      limits.hit("inFlight");
      throw new RemoteError(
        ErrorCode.Limit,
        `Cannot take request ${m.id}: ${
          this.#inFlight - 1
        } requests of this connection are in flight (maxInFlight ${s.maxInFlight})`,
      );
    }
    if (m.type === MessageType.Get && this.#getsOpen > s.maxParkedGets) {
      limits.hit("parkedGets");
      throw new RemoteError(
        ErrorCode.Limit,
        `Cannot park get ${m.id}: ${
          this.#getsOpen - 1
        } gets of this connection are waiting (maxParkedGets ${s.maxParkedGets})`,
      );
    }
  }

  /** Decodes a request; its JSON header is parsed only when within `maxRequestHeaderBytes`. */
  #decodeRequest(body: Uint8Array): Message {
    const { limits } = this.#ctx;
    try {
      checkHeaderSize(body, limits.settings.maxRequestHeaderBytes);
    } catch (error) {
      limits.hit("headerSize");
      throw error;
    }
    return decodeMessage(body);
  }

  /** Refuses a new subscription past `maxSubscriptions` on this connection. */
  #checkSubscriptions(): void {
    const { limits } = this.#ctx;
    const max = limits.settings.maxSubscriptions;
    if (this.#subscriptions.size >= max) {
      limits.hit("subscriptions");
      throw new RemoteError(
        ErrorCode.Limit,
        `Cannot consume: this connection has ${this.#subscriptions.size} subscriptions (maxSubscriptions ${max}); cancel some, or use another connection`,
      );
    }
  }

  /** The write buffer drained: send what was held back. */
  #resume(): void {
    if (!this.#paused || this.#ended) return;
    if (this.connection.transport.bufferedAmount > this.#ctx.limits.settings.writeHighWater / 2) {
      return;
    }
    this.#paused = false;
    clearInterval(this.#pauseTimer);
    this.#ctx.limits.pausedWriters--;
    const held = this.#held;
    this.#held = [];
    for (const { sub, deliveries } of held) this.#deliver(sub, deliveries);
  }

  /**
   * Called by the server every `heartbeatMs`: a client heard from since the
   * last call is alive; a quiet one is pinged; one silent for three beats is
   * taken for dead (no FIN or RST may ever come on a real network), so its
   * leases return to their queues now instead of expiring on a dead link.
   */
  heartbeat(): void {
    if (!this.#pings || this.#ended) return;
    if (this.#heard) {
      this.#heard = false;
      this.#silentBeats = 0;
      return;
    }
    this.#silentBeats++;
    if (this.#silentBeats >= 3) {
      this.#ctx.log({
        event: "silent",
        remote: this.remote,
        ms: this.#silentBeats * this.#ctx.limits.settings.heartbeatMs,
      });
      this.#fail(
        new ProtocolError(
          ErrorCode.Unavailable,
          `heard nothing from the client for ${this.#silentBeats} heartbeats; taking it for gone`,
        ),
      );
      return;
    }
    this.connection.sendMessage(MessageType.Ping, this.#silentBeats, {});
  }

  #onFrame(body: Uint8Array): void {
    this.#heard = true;
    if (this.#state === "checking") {
      // The client spoke again before we answered its Auth.
      throw new ProtocolError(ErrorCode.BadMessage, "message sent before the handshake finished");
    }
    if (this.#state === "hello") {
      this.#state = "checking";
      this.#handshake.receive(body).then(({ reply, peer, scope, heartbeat }) => {
        if (this.#ended) return;
        clearTimeout(this.#timer);
        this.#state = "ready";
        if (!isLocal(this.connection.transport)) {
          this.#ctx.limits.handshakeOver(hostOf(this.remote));
        }
        const caller = this.#ctx.ops.attach({ door: "tcp", remote: this.remote, ...peer, scope });
        caller.onResult = (result) => this.#sendResult(result);
        this.caller = caller;
        this.#pings = heartbeat && this.#ctx.limits.settings.heartbeatMs > 0;
        this.connection.decoder.maxFrameSize = this.#ctx.info.maxFrameSize;
        this.connection.send(reply);
        this.#ctx.log({ event: "connected", remote: this.remote, ...peer });
      }, (error) => this.#fail(error));
      return;
    }
    const message = this.#decodeRequest(body);
    if (message.type === MessageType.Bye) {
      this.connection.close();
      return;
    }
    if (message.type === MessageType.Ping) {
      this.connection.sendMessage(MessageType.Pong, message.id, {});
      return;
    }
    if (message.type === MessageType.Pong) return;
    this.#inFlight++;
    if (message.type === MessageType.Get) {
      this.#gets.set(message.id, (this.#gets.get(message.id) ?? 0) + 1);
      this.#getsOpen++;
    }
    try {
      this.#admit(message);
      this.#handle(message, this.caller!);
    } catch (error) {
      if (error instanceof ProtocolError) throw error;
      // A limit refused here, before any operation ran: counted like the operations' own.
      if (error instanceof LimitError) this.#ctx.limits.hit(error.limit);
      this.#replyError(message.id, error);
    }
  }

  /**
   * Translates one request into its operation; the reply goes out when the
   * operation answers. No closure made here may use `m` or `h`: a durable
   * reply waits for the journal's commit, and the request would wait with it.
   */
  #handle(m: Message, caller: Caller): void {
    const { ops } = this.#ctx;
    const h = m.header;
    switch (m.type) {
      case MessageType.Put: {
        // Refused before its payloads are cut apart and copied.
        if (Array.isArray(h.items)) {
          checkPutCount(h.items.length, this.#ctx.limits.settings.maxPutItems, "put");
        }
        const parts = splitPayload(m.payload, h.sizes);
        const items = h.items;
        if (!Array.isArray(items) || items.length !== parts.length) {
          throw new ProtocolError(
            ErrorCode.BadMessage,
            "Put: items and sizes must be arrays of one length",
          );
        }
        // Kept as text: compact to hold, and the frame's buffer is not retained.
        const payloads: string[] = new Array(parts.length);
        for (let i = 0; i < parts.length; i++) payloads[i] = payloadText(parts[i], i);
        ops.put(
          caller,
          { queue: h.q, items, payloads, timeout: h.timeout },
          () => `god-${caller.owner.id}-${++this.#idCounter}`,
          this.#answer(m.id, (r) => [{ accepted: r.accepted, duplicates: r.duplicates }]),
        );
        return;
      }
      case MessageType.Get:
        // With `max`, the batched reply lists the jobs; without, the single-job reply of version 1.
        ops.get(
          caller,
          { queue: h.q, timeout: h.timeout, max: h.max },
          this.#answer(m.id, h.max !== undefined ? deliveryListing : singleDelivery),
        );
        return;
      case MessageType.Consume: {
        // The client picks the subscription id, so it can route pushes that
        // arrive before this reply.
        const sub = h.sub;
        if (
          typeof sub !== "number" || !Number.isSafeInteger(sub) || sub < 1 ||
          sub > 0xffff_ffff || this.#subscriptions.has(sub)
        ) {
          throw new RemoteError(
            ErrorCode.BadArgument,
            `Invalid subscription id: ${JSON.stringify(sub)}`,
          );
        }
        this.#checkSubscriptions();
        const subscription = ops.consume(
          caller,
          { queue: h.q, prefetch: h.prefetch },
          (deliveries) => this.#deliver(sub, deliveries),
        );
        this.#subscriptions.set(sub, subscription);
        this.#reply(m.id, { sub });
        return;
      }
      case MessageType.Cancel: {
        const subscription = this.#subscriptions.get(h.sub as number);
        if (subscription) {
          ops.cancel(caller, subscription);
          this.#subscriptions.delete(h.sub as number);
        }
        this.#reply(m.id, {});
        return;
      }
      case MessageType.Ack:
        ops.ack(caller, { tags: h.tags }, this.#answer(m.id, (result) => [result]));
        return;
      case MessageType.Complete: {
        const parts = splitPayload(m.payload, h.sizes);
        // A part of 0 bytes is "no result" (an empty text is never a value).
        const results: string[] = new Array(parts.length);
        for (let i = 0; i < parts.length; i++) {
          results[i] = parts[i].length === 0 ? "" : payloadText(parts[i], i);
        }
        ops.complete(
          caller,
          { items: Array.isArray(h.items) ? h.items : [], results },
          this.#answer(m.id, (result) => [result]),
        );
        return;
      }
      case MessageType.Forget:
        ops.forget(caller, { ids: h.ids }, this.#answer(m.id, () => [{}]));
        return;
      case MessageType.Nack:
        if (h.dead !== undefined) {
          ops.fail(caller, { tag: h.tag, reason: h.dead }, this.#answer(m.id, () => [{}]));
        } else {
          ops.nack(caller, { tag: h.tag, delay: h.delay }, this.#answer(m.id, () => [{}]));
        }
        return;
      case MessageType.Touch:
        ops.touch(caller, { tag: h.tag }, this.#answer(m.id, (deadline) => [{ deadline }]));
        return;
      case MessageType.Stats:
        ops.stats(caller, { queue: h.q }, this.#answer(m.id, (stats) => [stats]));
        return;
      case MessageType.Peek:
        ops.peek(caller, { queue: h.q, limit: h.n }, this.#answer(m.id, listing));
        return;
      case MessageType.DeadList:
        ops.deadList(caller, { queue: h.q, limit: h.n }, this.#answer(m.id, listing));
        return;
      case MessageType.Purge:
        ops.purge(caller, { queue: h.q }, this.#answer(m.id, (purged) => [{ purged }]));
        return;
      case MessageType.DeadRequeue:
        ops.deadRequeue(
          caller,
          { queue: h.q, ids: h.ids },
          this.#answer(m.id, (requeued) => [{ requeued }]),
        );
        return;
      case MessageType.Declare:
        ops.declare(
          caller,
          { queue: h.q, options: h.options },
          this.#answer(m.id, (options) => [{ options }]),
        );
        return;
      case MessageType.Progress:
        ops.progress(
          caller,
          { tag: h.tag, value: payloadText(m.payload, 0) },
          this.#answer(m.id, () => [{}]),
        );
        return;
      case MessageType.InFlight:
        ops.inFlight(caller, { queue: h.q, limit: h.n }, this.#answer(m.id, inFlightListing));
        return;
      case MessageType.DeadDelete:
        ops.deadDelete(
          caller,
          { queue: h.q, ids: h.ids },
          this.#answer(m.id, (deleted) => [{ deleted }]),
        );
        return;
      case MessageType.Pause:
        ops.pause(
          caller,
          { queue: h.q },
          h.paused !== false,
          this.#answer(m.id, (options) => [{ options }]),
        );
        return;
      case MessageType.Schedule:
        ops.schedule(
          caller,
          { fields: h.schedule, payload: payloadText(m.payload, 0) },
          this.#answer(m.id, (schedule) => [{ schedule }]),
        );
        return;
      case MessageType.Unschedule:
        ops.unschedule(caller, { name: h.name }, this.#answer(m.id, (removed) => [{ removed }]));
        return;
      case MessageType.Schedules:
        ops.schedules(
          caller,
          this.#answer(m.id, (all) => {
            const payloads = all.map((s) => s.payload);
            return [
              { schedules: all.map((s) => s.info), sizes: payloads.map(utf8Length) },
              payloads,
            ];
          }),
        );
        return;
      default:
        throw new ProtocolError(
          ErrorCode.UnknownType,
          `message type ${m.type} is not a request a client may send`,
        );
    }
  }

  /** A `done` for request `id`: replies with the encoded value, or with the error. */
  #answer<T>(id: number, encode: (value: T) => [object, string[]?]): Done<T> {
    return (outcome) => {
      if (outcome instanceof TaskwireError) {
        this.#replyError(id, outcome);
        return;
      }
      const [header, payload] = encode(outcome as T);
      this.#reply(id, header, payload);
    };
  }

  #deliver(subscription: number, deliveries: Delivery[]): void {
    const { writeHighWater } = this.#ctx.limits.settings;
    // One Deliver frame carries at most about this many payload bytes, so a
    // large batch goes out in pieces and can pause between them.
    const batchBytes = Math.min(1024 * 1024, writeHighWater);
    let start = 0;
    while (start < deliveries.length) {
      if (this.#ended) return;
      if (this.#paused || this.connection.bufferedAmount > writeHighWater) {
        // The client is not reading: hold the deliveries (their jobs stay leased
        // to it; the broker holds their bytes anyway) until the socket drains.
        if (!this.#paused) {
          this.#paused = true;
          this.#pauseTimer = setInterval(() => this.#resume(), 50);
          this.#ctx.limits.pausedWriters++;
        }
        this.#held.push({ sub: subscription, deliveries: deliveries.slice(start) });
        return;
      }
      const jobs = [];
      const sizes = [];
      const payloads: string[] = [];
      let bytes = 0;
      let i = start;
      for (; i < deliveries.length && (i === start || bytes < batchBytes); i++) {
        const { tag, job } = deliveries[i];
        jobs.push([tag, job.id, job.attempts, job.priority]);
        const size = utf8Length(job.payload);
        sizes.push(size);
        payloads.push(job.payload);
        bytes += size;
      }
      start = i;
      this.#sendMessage(MessageType.Deliver, subscription, { jobs, sizes }, payloads, bytes);
      // More to go: hand these bytes to the socket now, so its buffer says whether to pause.
      if (start < deliveries.length) this.connection.flush();
    }
  }

  /**
   * The answer to a task this client called: a Result push (the value as
   * payload), or a Progressed push while it runs; false when gone.
   */
  #sendResult(result: CallResult): boolean {
    if (this.#ended) return false;
    if (result.progress !== undefined) {
      this.#sendMessage(MessageType.Progressed, 0, { id: result.id, q: result.queue }, [
        result.progress,
      ]);
      return true;
    }
    const header: Record<string, unknown> = { id: result.id, q: result.queue };
    if (result.fallback !== undefined) header.fallback = result.fallback;
    if (result.error !== undefined) header.error = result.error;
    this.#sendMessage(
      MessageType.Result,
      0,
      header,
      result.payload === undefined ? [] : [result.payload],
    );
    return true;
  }

  #reply(id: number, header: object, payload?: string[]): void {
    this.#answered(id);
    this.#sendMessage(MessageType.Ok, id, header, payload);
  }

  /** Answers request `id` with its error; an internal one is logged here and told only as such. */
  #replyError(id: number, error: unknown): void {
    let e = error instanceof TaskwireError ? error : null;
    if (e === null || e.code === ErrorCode.Internal) {
      this.#ctx.log({ event: "error", error: String(e?.cause ?? error) });
      e = new TaskwireError(
        ErrorCode.Internal,
        "Internal error in the god: its log says what went wrong",
      );
    }
    this.#answered(id);
    this.connection.send(errorBody(e, id));
    this.#checkWriteLimit();
  }

  /**
   * A connection-level failure: tell the peer why, then close. A failed
   * handshake from an address that used up its burst is answered only after
   * the penalty (AuthLimiter); rejections before the handshake are logged once
   * per address per interval (RejectionLog), the rest summed up later.
   */
  #fail(error: unknown): void {
    if (this.#ended || this.#penalty !== undefined) return;
    const e = error instanceof TaskwireError
      ? error
      : new TaskwireError(ErrorCode.Internal, String(error));
    const { delayMs, log } = judgeFailure(this.#ctx.limits, {
      code: e.code,
      address: hostOf(this.remote),
      remote: !isLocal(this.connection.transport),
      beforeAuth: this.#state !== "ready",
    }, Date.now());
    if (log) {
      this.#ctx.log({ event: "rejected", remote: this.remote, code: e.code, message: e.message });
    }
    const finish = () => {
      this.connection.send(errorBody(e));
      this.connection.close();
      this.#end();
    };
    if (delayMs > 0) {
      // Held silent until then (frames it sends meanwhile are dropped), then told.
      clearTimeout(this.#timer);
      this.#penalty = setTimeout(finish, delayMs);
      return;
    }
    finish();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#penalty);
    if (this.#state !== "ready" && !isLocal(this.connection.transport)) {
      this.#ctx.limits.handshakeOver(hostOf(this.remote));
    }
    if (this.#paused) this.#ctx.limits.pausedWriters--;
    clearInterval(this.#pauseTimer);
    this.#held = [];
    this.#draining?.idle();
    if (this.caller) {
      this.#ctx.ops.detach(this.caller);
      const { role, name, runtime } = this.caller.info;
      this.#ctx.log({ event: "disconnected", remote: this.remote, role, name, runtime });
    }
    this.#ctx.ended(this);
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A payload as the god stores it: its text. Bytes that are not UTF-8 cannot be superjson. */
function payloadText(bytes: Uint8Array, index: number): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new RemoteError(
      ErrorCode.BadArgument,
      `Cannot put: payload ${index} is not UTF-8 text (payloads are superjson)`,
    );
  }
}
