/**
 * The Python door's seam ({@link PythonGod}) over today's god: each session
 * is an {@link Owner} on the god's queue backend, as the god's own in-process
 * consumer is (lib/server/local_consumer.ts). The operations layer will
 * replace this file; nothing else in lib/python imports it.
 */
import { Owner, settle } from "../queue/backend.ts";
import { TaskwireError } from "../protocol/errors.ts";
import type { ConnectionInfo, God, GodStats } from "../server/server.ts";
import type { PythonGod, PythonJob, PythonPeer, PythonQueueStats, PythonSession } from "./door.ts";

/** A {@link PythonGod} that also lists its open sessions, for the god's stats. */
export interface PythonGodAdapter extends PythonGod {
  /** Open Python connections as the god's stats show clients. */
  connections(): ConnectionInfo[];
}

/**
 * Serves Python sessions from `god`'s queues.
 *
 * @example
 * ```ts
 * const god = await serve({ authkey });
 * const door = await servePython(pythonGod(god), { listen: "127.0.0.1:5679", authkey });
 * ```
 */
export function pythonGod(god: God): PythonGodAdapter {
  const sessions = new Set<BackendSession>();
  const leases = new LeaseTimes();
  return {
    open(peer: PythonPeer): PythonSession {
      const session = new BackendSession(god, leases, peer, () => sessions.delete(session));
      sessions.add(session);
      return session;
    },
    connections(): ConnectionInfo[] {
      return [...sessions].map((s) =>
        ({
          remote: s.peer.remote,
          role: "worker",
          runtime: s.peer.runtime,
          name: s.peer.name,
          connectedAt: new Date(s.openedAt).toISOString(),
          leases: s.owner.leases.size,
          transport: "python",
        }) as ConnectionInfo
      );
    },
  };
}

/**
 * `god` with the Python door's connections added to its stats, so the
 * dashboard, /metrics and the god's summaries count Python workers as clients.
 */
export function withPythonClients(god: God, python: PythonGodAdapter): God {
  return {
    get host() {
      return god.host;
    },
    get port() {
      return god.port;
    },
    get broker() {
      return god.broker;
    },
    stats(queue?: string): GodStats {
      const stats = god.stats(queue);
      return { ...stats, connections: [...stats.connections, ...python.connections()] };
    },
    accept: (transport) => god.accept(transport),
    connectLocal: () => god.connectLocal(),
    afterCommit: (fn) => god.afterCommit(fn),
    schedule: () => god.schedule(),
    close: () => god.close(),
  };
}

/** Ids of jobs put by Python get this random prefix per process, then a counter. */
const ID_PREFIX = `py-${
  Array.from(crypto.getRandomValues(new Uint8Array(5)), (b) => b.toString(16).padStart(2, "0"))
    .join("")
}`;
let idCounter = 0;

/**
 * Each queue's lease time, learned from a touch now and then (the backend
 * hands out leases but does not say how long they last), so a delivery's
 * deadline is known without touching every job.
 */
class LeaseTimes {
  readonly #known = new Map<string, { ms: number; at: number }>();
  /** How long a learned lease time is trusted (a queue's options may change). */
  static readonly TRUST_MS = 5000;

  /** The lease time of `queue` if learned recently, else null. */
  get(queue: string, now: number): number | null {
    const known = this.#known.get(queue);
    return known && now - known.at < LeaseTimes.TRUST_MS ? known.ms : null;
  }

  set(queue: string, ms: number, now: number): void {
    if (this.#known.size > 10_000) this.#known.clear();
    this.#known.set(queue, { ms, at: now });
  }
}

class BackendSession implements PythonSession {
  readonly owner = new Owner();
  readonly openedAt = Date.now();
  readonly peer: PythonPeer;
  readonly #god: God;
  readonly #leases: LeaseTimes;
  readonly #forget: () => void;
  #closed = false;

  constructor(god: God, leases: LeaseTimes, peer: PythonPeer, forget: () => void) {
    this.#god = god;
    this.#leases = leases;
    this.peer = peer;
    this.#forget = forget;
  }

  put(queue: string, payload: string, options: { timeoutMs: number }): Promise<void> {
    return new Promise((resolve, reject) => {
      const item = { id: `${ID_PREFIX}-${++idCounter}`, payload, priority: 0, delayMs: 0 };
      try {
        this.#god.broker.put(this.owner, queue, [item], {
          now: Date.now(),
          timeoutMs: options.timeoutMs,
        }, (result) => {
          if (result instanceof TaskwireError) reject(result);
          // Answered once durable, as the TCP door answers puts.
          else this.#god.afterCommit(() => resolve());
        });
      } catch (error) {
        reject(error);
      }
      this.#god.schedule();
    });
  }

  get(queue: string, options: { timeoutMs: number }): Promise<PythonJob | null> {
    return new Promise((resolve, reject) => {
      try {
        this.#god.broker.get(this.owner, queue, { now: Date.now(), timeoutMs: options.timeoutMs }, (
          delivery,
        ) => {
          if (delivery instanceof TaskwireError) reject(delivery);
          else if (delivery === null) resolve(null);
          else if (this.#closed) {
            // Arrived after the connection went (a remote backend): hand it back.
            settle(
              this.#god.broker.nack(this.owner, delivery.tag, { now: Date.now() }),
              () => {},
              () => {},
            );
            this.#god.schedule();
            resolve(null);
          } else this.#withDeadline(queue, delivery.tag, delivery.job.payload, resolve, reject);
        });
      } catch (error) {
        reject(error);
      }
      this.#god.schedule();
    });
  }

  /** Resolves with the job and its lease's deadline (touching it once to learn the lease time). */
  #withDeadline(
    queue: string,
    tag: number,
    payload: string,
    resolve: (job: PythonJob) => void,
    reject: (error: unknown) => void,
  ): void {
    const now = Date.now();
    const leaseMs = this.#leases.get(queue, now);
    if (leaseMs !== null) {
      resolve({ tag, payload, deadline: now + leaseMs });
      return;
    }
    try {
      settle(this.#god.broker.touch(this.owner, tag, now), (deadline) => {
        this.#leases.set(queue, deadline - now, now);
        resolve({ tag, payload, deadline });
      }, reject);
    } catch (error) {
      reject(error);
    }
  }

  ack(tags: number[]): Promise<void> {
    return new Promise((resolve, reject) => {
      try {
        settle(
          this.#god.broker.ack(this.owner, tags, Date.now()),
          // A tag that could not be acked went back to its queue already (lease expired).
          () => this.#god.afterCommit(() => resolve()),
          reject,
        );
      } catch (error) {
        reject(error);
      }
    });
  }

  nack(tag: number, options: { dead?: string } = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      try {
        settle(
          this.#god.broker.nack(this.owner, tag, { now: Date.now(), dead: options.dead }),
          () => this.#god.afterCommit(() => resolve()),
          reject,
        );
      } catch (error) {
        reject(error);
      }
      this.#god.schedule();
    });
  }

  touch(tag: number): Promise<number> {
    return new Promise((resolve, reject) => {
      try {
        settle(this.#god.broker.touch(this.owner, tag, Date.now()), resolve, reject);
      } catch (error) {
        reject(error);
      }
      this.#god.schedule();
    });
  }

  async stats(queue: string): Promise<PythonQueueStats> {
    const broker = this.#god.broker;
    if (broker.refresh) await broker.refresh(queue);
    const [q] = broker.stats(Date.now(), queue);
    return { ready: q.ready, delayed: q.delayed, inFlight: q.inFlight, maxsize: q.maxsize };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#god.broker.release(this.owner, Date.now());
    this.#god.schedule();
    this.#forget();
  }
}
