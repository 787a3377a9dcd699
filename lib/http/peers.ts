/**
 * The HTTP face's clients. HTTP has no connection, so each client names
 * itself with a client id (signed with every request); the face keeps one
 * {@link Caller} per id on the operations layer. A client silent for
 * `idleMs` (and with no request running) is forgotten: its jobs go back.
 */
import { ErrorCode } from "../protocol/errors.ts";
import type { Caller } from "../ops/caller.ts";
import type { Operations } from "../ops/operations.ts";
import { HttpError } from "./errors.ts";
import type { WorkerScope } from "../protocol/keys.ts";
import type { CallResult } from "../protocol/replies.ts";

function sameScope(a: WorkerScope | null, b: WorkerScope | null): boolean {
  return a === b || (a !== null && b !== null && JSON.stringify(a) === JSON.stringify(b));
}

/** Most HTTP clients remembered at once. */
export const MAX_PEERS = 10_000;

/** One HTTP client as the face remembers it. */
export interface Peer {
  readonly id: string;
  readonly caller: Caller;
  lastSeen: number;
  /** Requests of this client being handled right now (a long-poll keeps it alive). */
  active: number;
  /** Answers to the tasks it called, kept for its next results poll. */
  answers: CallResult[];
  /** Wakes the results poll waiting for an answer. */
  wake: (() => void) | null;
}

export class Peers {
  readonly #ops: Operations;
  readonly #idleMs: number;
  readonly #log: (event: Record<string, unknown>) => void;
  readonly #byId = new Map<string, Peer>();
  readonly #reaper: ReturnType<typeof setInterval>;

  constructor(
    ops: Operations,
    options: { idleMs: number; log: (event: Record<string, unknown>) => void },
  ) {
    this.#ops = ops;
    this.#idleMs = options.idleMs;
    this.#log = options.log;
    this.#reaper = setInterval(
      () => this.expire(Date.now()),
      Math.max(250, Math.min(15_000, Math.floor(options.idleMs / 4))),
    );
  }

  /**
   * The client `clientId` makes a request: found, or registered with what it
   * says of itself (`peerText`, a signed query string of role, runtime, name).
   */
  enter(
    clientId: string,
    peerText: string,
    remote: string,
    scope: WorkerScope | null,
    now: number,
  ): Peer {
    let peer = this.#byId.get(clientId);
    if (peer !== undefined && !sameScope(peer.caller.info.scope ?? null, scope)) {
      // A client id stands for the leases taken with one key: another key cannot act as it.
      throw new HttpError(
        403,
        ErrorCode.AuthFailed,
        `Client id ${clientId} is in use with another key: pick a fresh client id`,
      );
    }
    if (peer === undefined) {
      if (this.#byId.size >= MAX_PEERS) {
        this.expire(now);
        if (this.#byId.size >= MAX_PEERS) {
          throw new HttpError(
            429,
            ErrorCode.Limit,
            `Too many HTTP clients (limit ${MAX_PEERS}); try again later`,
          );
        }
      }
      const info = new URLSearchParams(peerText.slice(0, 600));
      const caller = this.#ops.attach({
        door: "http",
        remote,
        role: (info.get("role") ?? "client").slice(0, 40),
        runtime: (info.get("runtime") ?? "unknown").slice(0, 60),
        name: (info.get("name") ?? clientId).slice(0, 100),
        scope,
      });
      const entered: Peer = {
        id: clientId,
        caller,
        lastSeen: now,
        active: 0,
        answers: [],
        wake: null,
      };
      caller.onResult = (result) => {
        // Only the latest progress of a task waits for the next poll: a slow poller holds one each.
        const stale = result.progress === undefined
          ? -1
          : entered.answers.findIndex((a) => a.id === result.id && a.progress !== undefined);
        if (stale >= 0) entered.answers.splice(stale, 1);
        entered.answers.push(result);
        const wake = entered.wake;
        entered.wake = null;
        wake?.();
        return true;
      };
      peer = entered;
      this.#byId.set(clientId, peer);
      const { role, name, runtime } = caller.info;
      this.#log({ event: "connected", via: "http", client: clientId, role, name, runtime, remote });
    }
    peer.lastSeen = now;
    peer.active++;
    return peer;
  }

  /** The request of `peer` is over. */
  leave(peer: Peer, now: number): void {
    peer.active--;
    peer.lastSeen = now;
  }

  /** Forgets a client: its jobs go back to their queues. */
  forget(peer: Peer, why: string): void {
    if (this.#byId.get(peer.id) !== peer) return;
    this.#byId.delete(peer.id);
    this.#ops.detach(peer.caller);
    // Answers it never fetched are kept in their fallback queues.
    for (const answer of peer.answers.splice(0)) this.#ops.fallback(answer);
    const { role, name, runtime } = peer.caller.info;
    this.#log({
      event: "disconnected",
      via: "http",
      client: peer.id,
      role,
      name,
      runtime,
      reason: why,
    });
  }

  /** Forgets clients silent for longer than `idleMs`. */
  expire(now: number): void {
    for (const peer of this.#byId.values()) {
      if (peer.active === 0 && now - peer.lastSeen > this.#idleMs) {
        this.forget(peer, `silent for more than ${this.#idleMs} ms`);
      }
    }
  }

  /** Forgets every client and stops the reaper. */
  close(why: string): void {
    clearInterval(this.#reaper);
    for (const peer of [...this.#byId.values()]) this.forget(peer, why);
  }
}
