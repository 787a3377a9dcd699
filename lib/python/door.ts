/**
 * The seam between the Python door and the god: the few queue operations a
 * Python worker's calls translate onto, one {@link PythonSession} per
 * method-call connection (it holds that connection's leases).
 *
 * `ops_adapter.ts` implements it over the god's operations layer; nothing
 * else in lib/python depends on how (tests may serve a door from a fake).
 */

/** Who is on the other side of a Python method-call connection. */
export interface PythonPeer {
  /** "host:port" of the Python process. */
  remote: string;
  /** "python 3.8-3.11" and the like when the handshake and pickles tell, else "python". */
  runtime: string;
  /** The thread's name the proxy sent (`MainProcess`, `MainProcess|Thread-1`), escaped and bounded. */
  name: string;
}

/** What one job looks like to the door. */
export interface PythonJob {
  /** The lease's tag, for ack, nack and touch. */
  tag: number;
  /** The job's superjson text. */
  payload: string;
  /** When the lease ends unless renewed with `touch` (epoch ms). */
  deadline: number;
}

/** A queue's gauges, for `qsize`, `empty` and `full`. */
export interface PythonQueueStats {
  ready: number;
  delayed: number;
  inFlight: number;
  /** 0 for an unbounded queue. */
  maxsize: number;
}

/** The god, as the Python door needs it. */
export interface PythonGod {
  /** A session for one Python connection: it holds that connection's leases. */
  open(peer: PythonPeer): PythonSession;
}

/**
 * One Python connection's view of the god. Every method rejects with a
 * `RemoteError` (codes as on the wire: `queue_full`, `unknown_queue`, ...) when
 * the god refuses; `timeoutMs` is at most a day (the door waits longer in turns).
 */
export interface PythonSession {
  /** Stores a job (its superjson text); waits up to `timeoutMs` for room, then rejects with `queue_full`. */
  put(queue: string, payload: string, options: { timeoutMs: number }): Promise<void>;
  /** Leases the next job, waiting up to `timeoutMs`; null when none came. */
  get(queue: string, options: { timeoutMs: number }): Promise<PythonJob | null>;
  /** Finishes leased jobs (once durable). */
  ack(tags: number[]): Promise<void>;
  /** Hands a leased job back, or dead-letters it with the reason `dead`. */
  nack(tag: number, options?: { dead?: string }): Promise<void>;
  /** Extends a lease; resolves with its new deadline (epoch ms). */
  touch(tag: number): Promise<number>;
  /** The queue's gauges now. */
  stats(queue: string): Promise<PythonQueueStats>;
  /** The connection is gone: its leases return to their queues, its waits end. */
  close(): void;
}
