/**
 * One Python connection on the door: framing, the two-way handshake, then
 * the manager's requests, performed through a {@link PythonSession}. Works on
 * any {@link Transport} (TCP in production, the in-memory pair in tests).
 *
 * At-least-once for unchanged workers: a job handed out by `get` stays leased
 * to this connection (renewed while it lives) until the connection's next
 * `get`, its next `put` once stored, or `task_done`; then it is acked. If the
 * connection drops first, the job goes back to its queue.
 */
import { ErrorCode, ProtocolError, RemoteError, TaskwireError } from "../protocol/errors.ts";
import { utf8Length } from "../protocol/messages.ts";
import { MAX_TIMEOUT_MS } from "../queue/arguments.ts";
import { hostOf, type LimitCounters } from "../server/admission.ts";
import type { Transport } from "../transport/transport.ts";
import { type AuthFacts, guessPythonVersion, type PythonKey, ServerAuth } from "./auth.ts";
import type { PythonGod, PythonSession } from "./door.ts";
import {
  encodePyFrame,
  PY_HANDSHAKE_MAX_FRAME,
  PyFrameDecoder,
  type PyFrameEvent,
} from "./framing.ts";
import { type CallOutcome, ManagerConnection, type QueueCall, traceback } from "./manager.ts";
import { textToPython, ValueMappingError } from "./values.ts";
import { printable } from "./text.ts";

/** When to renew a lease that ends at `deadline`: at half of what is left, at least 20 ms on. */
function renewDelay(deadline: number): number {
  return Math.max(20, Math.min((deadline - Date.now()) / 2, MAX_TIMEOUT_MS));
}

/** Settings of every connection of a door. */
export interface PythonConnectionSettings {
  /** Largest request after authentication (bytes). */
  maxFrameSize: number;
  /** Largest job (bytes of its superjson text). */
  maxPayloadBytes: number;
  /** The handshake and the first request must be done within this (ms). */
  handshakeTimeoutMs: number;
  /** Send Python ≤ 3.11's 20-byte challenge instead of `{sha256}` (tests). */
  legacyChallenge: boolean;
  /** Requests a peer may send before the previous ones are answered (proxies send one at a time). */
  maxPending: number;
}

/** What a connection needs from the door around it. */
export interface PythonConnectionContext {
  god: PythonGod;
  key: PythonKey;
  /** Python name → taskwire queue. */
  bindings: ReadonlyMap<string, string>;
  settings: PythonConnectionSettings;
  /** The door's limits and their counters (this connection was admitted by them). */
  limits: LimitCounters;
  log(event: Record<string, unknown>): void;
  /** Called once the connection is over. */
  ended(connection: PythonConnection): void;
}

/**
 * Serves one Python connection until either side closes it.
 *
 * @example
 * ```ts
 * new PythonConnection(transport, context); // runs by itself; context.ended() when over
 * ```
 */
export class PythonConnection {
  readonly transport: Transport;
  readonly #ctx: PythonConnectionContext;
  readonly #decoder = new PyFrameDecoder({ maxFrameSize: PY_HANDSHAKE_MAX_FRAME });
  readonly #auth: ServerAuth;
  readonly #manager: ManagerConnection;
  #facts: AuthFacts | null = null;
  #phase: "auth" | "request" | "closed" = "auth";
  #pending: PyFrameEvent[] = [];
  #busy = false;
  #session: PythonSession | null = null;
  #peer: { runtime: string; name: string } | null = null;
  /** Tags of jobs handed out by `get` and not finished yet. */
  #held: number[] = [];
  #renewTimer: ReturnType<typeof setTimeout> | undefined;
  #firstRequestTimer: ReturnType<typeof setTimeout> | undefined;
  #handshakeCounted = false;

  constructor(transport: Transport, ctx: PythonConnectionContext) {
    this.transport = transport;
    this.#ctx = ctx;
    this.#auth = new ServerAuth(ctx.key, { legacy: ctx.settings.legacyChallenge });
    this.#manager = new ManagerConnection(ctx.bindings, {
      pickle: { maxBytes: ctx.settings.maxFrameSize },
    });
    transport.start({
      data: (chunk) => this.#onData(chunk),
      closed: () => this.#end(),
    });
    this.#send(this.#auth.start());
    this.#firstRequestTimer = setTimeout(() => {
      this.#ctx.limits.hit("handshakeTimeout");
      this.#ctx.log({
        event: "rejected",
        door: "python",
        remote: this.remote,
        code: ErrorCode.HandshakeTimeout,
        message:
          `handshake and first request not done within ${ctx.settings.handshakeTimeoutMs} ms`,
      });
      this.close();
    }, ctx.settings.handshakeTimeoutMs);
  }

  get remote(): string {
    return this.transport.remote;
  }

  /** Whether the connection is over. */
  get closed(): boolean {
    return this.#phase === "closed";
  }

  /** Closes the connection; its jobs go back to their queues. */
  close(): void {
    this.transport.close();
    this.#end();
  }

  #send(body: Uint8Array): void {
    if (this.#phase !== "closed") this.transport.write(encodePyFrame(body));
  }

  #onData(chunk: Uint8Array): void {
    if (this.#phase === "closed") return;
    try {
      for (const event of this.#decoder.push(chunk)) this.#pending.push(event);
    } catch (error) {
      this.#reject(error as ProtocolError);
      return;
    }
    if (this.#pending.length > this.#ctx.settings.maxPending) {
      this.#reject(
        new ProtocolError(
          ErrorCode.Limit,
          `${this.#pending.length} requests sent without waiting for replies (at most ${this.#ctx.settings.maxPending})`,
        ),
      );
      return;
    }
    void this.#pump();
  }

  /** Handles queued messages one at a time, in order (a proxy waits for each reply). */
  async #pump(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      while (this.#pending.length > 0 && this.#phase !== "closed") {
        const event = this.#pending.shift()!;
        if (this.#phase === "auth") await this.#authenticate(event);
        else await this.#request(event);
      }
    } catch (error) {
      this.#logError(error);
      this.close();
    } finally {
      this.#busy = false;
    }
  }

  async #authenticate(event: PyFrameEvent): Promise<void> {
    if (event.type === "oversized") {
      this.#ctx.limits.hit("frameSize");
      this.#reject(
        new ProtocolError(
          ErrorCode.FrameTooLarge,
          `a handshake message of ${event.size} bytes (Python's own limit is ${PY_HANDSHAKE_MAX_FRAME})`,
        ),
      );
      return;
    }
    const step = await this.#auth.receive(event.body);
    if (this.#phase === "closed") return;
    for (const body of step.send) this.#send(body);
    if (step.error) {
      this.#reject(step.error);
      return;
    }
    if (step.done) {
      this.#facts = step.done;
      this.#phase = "request";
      this.#decoder.maxFrameSize = this.#ctx.settings.maxFrameSize;
      this.#handshakeOver();
    }
  }

  async #request(event: PyFrameEvent): Promise<void> {
    clearTimeout(this.#firstRequestTimer);
    if (event.type === "oversized") {
      this.#ctx.limits.hit("frameSize");
      const serving = this.#manager.serving;
      this.#send(
        traceback(
          `a request of ${event.size} bytes exceeds the door's limit of ${event.maxFrameSize} bytes (maxFrameSize); nothing was done`,
          "ValueError",
        ),
      );
      if (!serving) this.close();
      return;
    }
    const action = this.#manager.receive(event.body);
    switch (action.kind) {
      case "reply":
        this.#send(action.body);
        if (action.close) this.close();
        return;
      case "accepted":
        this.#peer = {
          runtime: guessPythonVersion(this.#facts, this.#manager.protocol),
          name: action.name,
        };
        this.#session = this.#ctx.god.open({ remote: this.remote, ...this.#peer });
        this.#ctx.log({
          event: "connected",
          door: "python",
          remote: this.remote,
          role: "worker",
          ...this.#peer,
        });
        this.#send(action.body);
        return;
      case "call": {
        const outcome = await this.#perform(action.call);
        this.#send(this.#manager.reply(outcome));
        return;
      }
    }
  }

  /** Performs one queue call with this connection's session. */
  async #perform(call: QueueCall): Promise<CallOutcome> {
    const session = this.#session!;
    try {
      switch (call.method) {
        case "put": {
          const size = utf8Length(call.payload);
          if (size > this.#ctx.settings.maxPayloadBytes) {
            return {
              error:
                `a job of ${size} bytes exceeds maxPayloadBytes ${this.#ctx.settings.maxPayloadBytes}; nothing was stored`,
              type: "ValueError",
            };
          }
          const stored = await this.#wait(
            call.timeoutMs,
            (timeoutMs) =>
              session.put(call.queue, call.payload, { timeoutMs }).then(() => true, (error) => {
                if (
                  error instanceof RemoteError && error.code === ErrorCode.QueueFull
                ) return false;
                throw error;
              }),
          );
          if (!stored) return { raise: "Full" };
          // The put is the worker's result (or its next task): the job it held is done.
          await this.#finishHeld();
          return { value: null };
        }
        case "get": {
          await this.#finishHeld();
          const job = await this.#wait(
            call.timeoutMs,
            (timeoutMs) => session.get(call.queue, { timeoutMs }),
          );
          if (job === null) return { raise: "Empty" };
          try {
            const value = textToPython(job.payload);
            this.#hold(job.tag, job.deadline);
            return { value };
          } catch (error) {
            // A job Python cannot receive is not lost, and not handed out again and again.
            const why = (error as Error).message;
            await session.nack(job.tag, { dead: why.slice(0, 500) });
            return {
              error: `${why}; the job was moved to the dead-letter queue of '${call.queue}'`,
              type: error instanceof ValueMappingError ? "ValueError" : "RemoteError",
            };
          }
        }
        case "task_done":
          await this.#finishHeld();
          return { value: null };
        default: {
          const stats = await session.stats(call.queue);
          const waiting = stats.ready + stats.delayed;
          if (call.method === "qsize") return { value: BigInt(waiting) };
          if (call.method === "empty") return { value: stats.ready === 0 };
          return { value: stats.maxsize > 0 && waiting >= stats.maxsize };
        }
      }
    } catch (error) {
      const message = error instanceof TaskwireError
        ? error.message
        : `internal error: ${String(error)}`;
      if (!(error instanceof TaskwireError)) {
        this.#logError(error);
      }
      return { error: message };
    }
  }

  /**
   * Runs `attempt` with at most a day's timeout at a time, until it yields a
   * result other than null/false or `timeoutMs` (Infinity: forever) has passed.
   */
  async #wait<T>(timeoutMs: number, attempt: (timeoutMs: number) => Promise<T>): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = Math.max(0, deadline - Date.now());
      const result = await attempt(Math.min(left, MAX_TIMEOUT_MS));
      if (
        (result !== null && result !== false) || left <= MAX_TIMEOUT_MS || this.#phase === "closed"
      ) {
        return result;
      }
    }
  }

  /** Keeps a job leased to this connection: renewed at half of what is left of its lease. */
  #hold(tag: number, deadline: number): void {
    this.#held.push(tag);
    if (this.#renewTimer === undefined) this.#scheduleRenewal(renewDelay(deadline));
  }

  #scheduleRenewal(afterMs: number): void {
    clearTimeout(this.#renewTimer);
    this.#renewTimer = setTimeout(() => void this.#renew(), afterMs);
  }

  /** Extends the leases of held jobs while the connection lives. */
  async #renew(): Promise<void> {
    this.#renewTimer = undefined;
    const session = this.#session;
    if (session === null || this.#held.length === 0) return;
    let next = Infinity;
    for (const tag of [...this.#held]) {
      try {
        next = Math.min(next, renewDelay(await session.touch(tag)));
      } catch {
        // The lease ended (expired or settled): the job is no longer this connection's.
        this.#held = this.#held.filter((t) => t !== tag);
      }
    }
    if (this.#held.length > 0 && this.#phase !== "closed" && this.#renewTimer === undefined) {
      this.#scheduleRenewal(next);
    }
  }

  /** Acks the jobs this connection held: the worker has moved on. */
  async #finishHeld(): Promise<void> {
    if (this.#held.length === 0) return;
    const tags = this.#held;
    this.#held = [];
    clearTimeout(this.#renewTimer);
    this.#renewTimer = undefined;
    try {
      await this.#session!.ack(tags);
    } catch (error) {
      this.#logError(error);
    }
  }

  /** Logs an error that is not the peer's fault (escaped and bounded: it may quote the peer). */
  #logError(error: unknown): void {
    this.#ctx.log({
      event: "error",
      door: "python",
      remote: this.remote,
      error: printable(String(error), 300),
    });
  }

  /** Refuses the peer (bad bytes, wrong key, limits): log, then close. */
  #reject(error: ProtocolError | TaskwireError): void {
    if (this.#phase === "closed") return;
    const limits = this.#ctx.limits;
    let logged: Record<string, unknown> | null = {};
    if (error.code === ErrorCode.AuthFailed) {
      limits.authFailures++;
      const burst = limits.auth.failed(hostOf(this.remote), Date.now());
      logged = burst && { unlogged: burst.unlogged };
    }
    if (logged) {
      this.#ctx.log({
        event: "rejected",
        door: "python",
        remote: this.remote,
        code: error.code,
        message: printable(error.message, 300),
        ...logged,
      });
    }
    this.close();
  }

  #handshakeOver(): void {
    if (this.#handshakeCounted) return;
    this.#handshakeCounted = true;
    this.#ctx.limits.handshakeOver();
  }

  #end(): void {
    if (this.#phase === "closed") return;
    this.#phase = "closed";
    clearTimeout(this.#firstRequestTimer);
    clearTimeout(this.#renewTimer);
    this.#renewTimer = undefined;
    this.#handshakeOver();
    this.#held = [];
    this.#pending = [];
    if (this.#session !== null) {
      this.#session.close();
      this.#ctx.log({
        event: "disconnected",
        door: "python",
        remote: this.remote,
        role: "worker",
        ...this.#peer,
      });
    }
    this.#ctx.ended(this);
  }
}
