/**
 * The god's operations: the one place where a request is checked, carried
 * out on the queue backend, and answered once it is as durable as the store
 * promises. Every door (the TCP protocol, the HTTP face, the god's own
 * in-process consumer, the Python door) translates its requests into calls
 * here and encodes the outcome; no door talks to the backend, the store or
 * the clock itself.
 *
 * Outcomes come back through a callback, `done(value)` or `done(error)` with
 * a {@link TaskwireError}, so the embedded broker's answers stay synchronous
 * and allocation-free on the hot path; `ask()` turns one into a promise.
 */
import { ErrorCode, LimitError, RemoteError, TaskwireError } from "../protocol/errors.ts";
import { describeScope } from "../protocol/keys.ts";
import type { Limits, LimitStats } from "../protocol/limits.ts";
import type { CallResult, GodStats, ScheduleInfo } from "../protocol/replies.ts";
import {
  type Awaitable,
  type InFlightJob,
  type QueueBackend,
  settle,
  type Subscription,
} from "../queue/backend.ts";
import { Owner, type PutResult, type ResultPut } from "../queue/backend.ts";
import {
  checkAck,
  checkComplete,
  checkConsume,
  checkDeadDelete,
  checkDeadList,
  checkDeclare,
  checkFail,
  checkForget,
  checkGet,
  checkInFlight,
  checkNack,
  checkPause,
  checkPeek,
  checkProgress,
  checkPurge,
  checkPut,
  checkPutCount,
  checkRequeue,
  checkSchedule,
  checkStats,
  checkTouch,
  checkUnschedule,
  type RawComplete,
  type RawPut,
  type RawSchedule,
} from "../queue/arguments.ts";
import type { Delivery, Job, QueueOptions } from "../queue/types.ts";
import type { Store } from "../store/store.ts";
import { runtimeName } from "../util/runtime.ts";
import { Caller, type CallerInfo } from "./caller.ts";
import { Clock } from "./clock.ts";

/** An operation's outcome: its value, or why it failed. */
export type Done<T> = (outcome: T | TaskwireError) => void;

/** A get or put in progress: its owner, and `end(tags)` (false when it was aborted). */
interface Wait {
  owner: Owner;
  end(tags: readonly number[]): boolean;
}

const NONE: readonly number[] = [];

/** A lease that could not be acked, and why. */
export interface AckFailure {
  tag: number;
  message: string;
}

/** Options of {@link Operations}. */
export interface OperationsOptions {
  backend: QueueBackend;
  /** Where durable changes go; answers wait for it (`afterCommit`). */
  store: Store;
  limits: Limits;
  /** The god's name, shown in stats. */
  name: string;
  /** Where the god listens, for stats (read when stats are made). */
  address?: () => string;
  /** The limits' counters, for stats (the TCP door keeps them). */
  limitStats?: () => LimitStats;
  /** Told each time a request is refused by a limit (to count it). */
  onLimit?: (limit: string) => void;
  now?: () => number;
}

/**
 * Runs an operation and returns its outcome as a promise (rejected with the
 * {@link TaskwireError}).
 *
 * @example
 * ```ts
 * const jobs = await ask<Job[]>((done) => ops.peek(caller, { queue: "tasks" }, done));
 * ```
 */
export function ask<T>(run: (done: Done<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    run((outcome) => outcome instanceof TaskwireError ? reject(outcome) : resolve(outcome as T));
  });
}

/**
 * Refuses what a worker key may not do: it takes and finishes jobs of its
 * `consume` queues (acks, nacks, fails and touches need no check: a worker
 * holds leases only of those), puts to its `put` queues, reads the stats of
 * those queues, and manages (and reads) its `manage` queues; nothing else.
 * What concerns no one queue (the whole god's stats, listing or removing
 * schedules) needs the god's key, which may do everything.
 */
function permit(
  caller: Caller,
  kind: "put" | "consume" | "read" | "manage",
  queue: string | null,
  action: string,
): void {
  const scope = caller.info.scope;
  if (scope === undefined || scope === null) return;
  const allowed = kind === "put"
    ? scope.put.includes(queue!)
    : kind === "consume"
    ? scope.consume.includes(queue!)
    : kind === "read"
    ? queue !== null &&
      (scope.consume.includes(queue) || scope.put.includes(queue) ||
        (scope.manage ?? []).includes(queue))
    : queue !== null && (scope.manage ?? []).includes(queue);
  if (!allowed) {
    throw new RemoteError(
      ErrorCode.Forbidden,
      `This worker key may only ${describeScope(scope)}: it cannot ${action}`,
    );
  }
}

/**
 * The backend's implementation of an optional feature, or a refusal that
 * names the store (a feature JetStream lacks is refused, never ignored).
 */
function feature<K extends keyof QueueBackend>(
  backend: QueueBackend,
  name: K,
  action: string,
): NonNullable<QueueBackend[K]> {
  const fn = backend[name];
  if (fn === undefined) {
    const kind = backend.info?.().kind ?? "this";
    throw new RemoteError(
      ErrorCode.BadArgument,
      `Cannot ${action}: the ${
        kind === "jetstream" ? "JetStream" : kind
      } store does not support it yet (docs/FLOW.md)`,
    );
  }
  return (fn as (...args: unknown[]) => unknown).bind(backend) as NonNullable<QueueBackend[K]>;
}

/** Turns whatever was thrown into a {@link TaskwireError} for a `done` callback. */
function asError(error: unknown): TaskwireError {
  return error instanceof TaskwireError
    ? error
    : new TaskwireError(ErrorCode.Internal, `internal error: ${String(error)}`, { cause: error });
}

/**
 * The operations of one god over its queue backend.
 *
 * @example
 * ```ts
 * const ops = new Operations({ backend: new Broker(), store: new MemoryStore(), limits: resolveLimits(), name: "god" });
 * const caller = ops.attach({ door: "local", remote: "local", role: "test", runtime: "node", name: "t" });
 * ops.put(caller, { queue: "tasks", items: [{}], payloads: ['{"json":1}'] }, (i) => `id-${i}`, console.log);
 * ```
 */
export class Operations {
  readonly backend: QueueBackend;
  readonly limits: Limits;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #now: () => number;
  readonly #callers = new Set<Caller>();
  /** Callers by id, to route the results of the tasks they called. */
  readonly #byId = new Map<string, Caller>();
  /** The owner of what the god does for callers that have gone (fallback puts). */
  readonly #system = new Owner();
  readonly #options: OperationsOptions;
  readonly #startedAt: number;
  readonly #rates: ReturnType<typeof setInterval>;
  /**
   * This god's name among the gods that share a store, random per start: the
   * ids of its callers begin with it, so a god that completes a called task
   * knows whose caller waits for it.
   */
  readonly instance: string = randomInstance();

  constructor(options: OperationsOptions) {
    this.backend = options.backend;
    this.limits = options.limits;
    this.#store = options.store;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#clock = new Clock(this.backend, this.#now);
    this.backend.useClock?.(this.#now);
    this.#startedAt = this.#now();
    this.backend.sampleRates(this.#startedAt);
    this.backend.watch?.({
      instance: this.instance,
      // A called task that dies: its caller hears why, instead of waiting out its timeout.
      dead: (job, queue, reason) => {
        if (job.replyTo === undefined) return;
        const result: CallResult = {
          id: job.id,
          queue,
          error: {
            code: ErrorCode.DeadLettered,
            message: `Task ${job.id} was dead-lettered: ${reason}`,
          },
        };
        const to = this.#byId.get(job.replyTo);
        if (to !== undefined) {
          if (to.forget(job.id)) this.answer(to, result);
        } else if (!this.#isOwn(job.replyTo)) {
          this.backend.relay?.(job.replyTo, result);
        }
      },
      // Another god's consumer completed (or lost) a task one of our callers called.
      answer: (replyTo, result) => {
        const to = this.#byId.get(replyTo);
        // Progress leaves the call open; an answer ends it.
        if (result.progress !== undefined) {
          return to !== undefined && to.expects(result.id) && to.onResult?.(result) === true;
        }
        if (to === undefined || !to.forget(result.id)) return false;
        return to.onResult?.(result) === true;
      },
      // Progress of a called task: its caller hears it while it waits (never stored elsewhere),
      // here or, through the backend, on the god it called from.
      progress: (job, queue, value) => {
        if (job.replyTo === undefined) return;
        const progress: CallResult = { id: job.id, queue, progress: value };
        const to = this.#byId.get(job.replyTo);
        if (to !== undefined) {
          if (to.expects(job.id)) to.onResult?.(progress);
        } else if (!this.#isOwn(job.replyTo)) {
          this.backend.relay?.(job.replyTo, progress).catch(() => {});
        }
      },
    });
    this.#rates = setInterval(() => {
      this.backend.sampleRates(this.#now());
      // A remote backend learns of deadlines by itself (a schedule another god added).
      this.#clock.schedule();
    }, 1000);
  }

  // -- callers --

  /** A new client, as its door learnt it. Detach it when it goes away. */
  attach(info: CallerInfo): Caller {
    const caller = new Caller(info, this.#now(), this.instance);
    this.#callers.add(caller);
    this.#byId.set(caller.id, caller);
    return caller;
  }

  /** The client went away: its leases return to their queues, its waits end. */
  detach(caller: Caller): void {
    if (caller.gone) return;
    caller.markGone();
    this.#callers.delete(caller);
    this.#byId.delete(caller.id);
    const now = this.#now();
    for (const owner of caller.owners()) this.backend.release(owner, now);
    this.#clock.schedule();
  }

  /** Clients shown in stats. */
  get callers(): ReadonlySet<Caller> {
    return this.#callers;
  }

  // -- producing --

  /**
   * Stores jobs; answers once they are durable. A full queue makes the put
   * wait up to its timeout. With `signal`, an abort ends the wait (and
   * `done` is not called).
   */
  put(
    caller: Caller,
    raw: RawPut,
    makeId: (index: number) => string,
    done: Done<PutResult>,
    signal?: AbortSignal,
  ): void {
    try {
      checkPutCount(raw.items.length, this.limits.maxPutItems, "put");
      const request = checkPut(
        raw,
        makeId,
        this.limits.maxPayloadBytes,
        caller.onResult === null ? undefined : caller.id,
      );
      permit(caller, "put", request.queue, `put to "${request.queue}"`);
      // A store that cannot make records durable now (a full disk) refuses new jobs at once;
      // gets, acks and nacks go on (their records wait with the rest).
      const health = this.#store.health?.();
      if (health !== undefined && health.state !== "ok") throw health.error;
      const wait = this.#beginWait(caller, signal);
      if (wait === null) return;
      if (request.called !== null) { for (const id of request.called) caller.expect(id); }
      this.backend.put(wait.owner, request.queue, request.items, {
        now: this.#now(),
        timeoutMs: request.timeoutMs,
      }, (result) => {
        if (!wait.end(NONE)) return;
        if (result instanceof TaskwireError) this.#fail(done, result);
        else this.#whenCommitted(done, result);
      });
    } catch (error) {
      this.#fail(done, error);
    }
    this.#clock.schedule();
  }

  // -- consuming --

  /**
   * Leases up to `max` jobs (default 1), waiting up to `timeout` ms for the
   * first; answers with none when the time passes. With `signal`, an abort
   * ends the wait, hands back what was taken, and `done` is not called.
   */
  get(
    caller: Caller,
    raw: { queue: unknown; timeout?: unknown; max?: unknown },
    done: Done<Delivery[]>,
    signal?: AbortSignal,
  ): void {
    try {
      const request = checkGet(raw);
      permit(caller, "consume", request.queue, `take jobs of "${request.queue}"`);
      const wait = this.#beginWait(caller, signal);
      if (wait === null) return;
      const deliveries: Delivery[] = [];
      let size = 0;
      const finish = (error: TaskwireError | null) => {
        if (!wait.end(deliveries.map((d) => d.tag))) return;
        this.#clock.schedule();
        if (error !== null && deliveries.length === 0) this.#fail(done, error);
        else done(deliveries);
      };
      // The first job may be waited for; the rest are taken only if ready now
      // (in a later microtask: the first may arrive in the middle of the backend's dispatch).
      const take = (timeoutMs: number) => {
        try {
          this.backend.get(
            wait.owner,
            request.queue,
            { now: this.#now(), timeoutMs },
            (delivery) => {
              if (delivery instanceof TaskwireError) return finish(delivery);
              if (delivery === null) return finish(null);
              deliveries.push(delivery);
              size += delivery.job.payload.length;
              if (deliveries.length < request.max && size < this.#replyBudget && !signal?.aborted) {
                queueMicrotask(() => take(0));
              } else finish(null);
            },
          );
        } catch (error) {
          finish(asError(error));
        }
      };
      take(request.timeoutMs);
    } catch (error) {
      this.#fail(done, error);
    }
    this.#clock.schedule();
  }

  /**
   * Starts pushing jobs of a queue to `deliver`, at most `prefetch` unacked
   * at a time. Throws a {@link RemoteError} when refused.
   */
  consume(
    caller: Caller,
    raw: { queue: unknown; prefetch?: unknown },
    deliver: (deliveries: Delivery[]) => void,
  ): Subscription {
    const request = checkConsume(raw);
    permit(caller, "consume", request.queue, `take jobs of "${request.queue}"`);
    const subscription = this.backend.subscribe(caller.owner, request.queue, {
      prefetch: request.prefetch,
      now: this.#now(),
    }, deliver);
    this.#clock.schedule();
    return subscription;
  }

  /** Stops a subscription; its unacked jobs stay leased. */
  cancel(_caller: Caller, subscription: Subscription): void {
    this.backend.unsubscribe(subscription);
  }

  // -- finishing --

  /** Finishes leased jobs; answers with those that could not be acked, once durable. */
  ack(caller: Caller, raw: { tags: unknown }, done: Done<{ failed: AckFailure[] }>): void {
    try {
      const { tags } = checkAck(raw, this.limits.maxAckTags);
      const now = this.#now();
      if (!caller.lendsLeases) {
        this.#answer(this.backend.ack(caller.owner, tags, now), (failed) => ({ failed }), done);
      } else {
        // Some leases were taken by waits under borrowed owners: ack each under its owner.
        const byOwner = new Map<Owner, number[]>();
        for (const tag of tags) {
          const owner = caller.ownerOf(tag);
          let list = byOwner.get(owner);
          if (list === undefined) byOwner.set(owner, list = []);
          list.push(tag);
        }
        const results = [...byOwner].map(([owner, list]) => this.backend.ack(owner, list, now));
        const all = results.some((r) => r instanceof Promise)
          ? Promise.all(results).then((lists) => lists.flat())
          : (results as AckFailure[][]).flat();
        this.#answer(all, (failed) => ({ failed }), done);
      }
      caller.tidy();
    } catch (error) {
      this.#fail(done, error);
    }
    this.#clock.schedule();
  }

  /**
   * Finishes leased jobs, each with its result stored in the same step (see
   * {@link QueueBackend.complete}): a called task's result goes to its caller
   * while it waits, else to the queue named with it, else `<queue>.results`.
   * Answers with the jobs that could not be completed, once durable.
   */
  complete(caller: Caller, raw: RawComplete, done: Done<{ failed: AckFailure[] }>): void {
    try {
      if (Array.isArray(raw.items)) {
        checkPutCount(raw.items.length, this.limits.maxPutItems, "complete");
      }
      const items = checkComplete(raw, this.limits.maxAckTags, this.limits.maxPayloadBytes);
      const answers: { to: Caller; result: CallResult }[] = [];
      const route = (job: Job, queue: string, index: number): ResultPut | null => {
        const { result, id } = items[index];
        if (result === null) return null;
        const target = items[index].queue ?? `${queue}.results`;
        const answer: CallResult = { id: job.id, queue, payload: result, fallback: target };
        let elsewhere: string | undefined;
        if (job.replyTo !== undefined) {
          const to = this.#byId.get(job.replyTo);
          if (to !== undefined) {
            if (to.forget(job.id)) {
              answers.push({ to, result: answer });
              return null;
            }
          } else if (!this.#isOwn(job.replyTo)) elsewhere = job.replyTo;
        }
        permit(caller, "put", target, `put the result to "${target}"`);
        return {
          queue: target,
          item: { id: id ?? `result:${job.id}`, payload: result, priority: 0, delayMs: 0 },
          answer: elsewhere === undefined ? undefined : { replyTo: elsewhere, result: answer },
        };
      };
      const tags = items.map((item) => item.tag);
      this.#answer(
        this.#completeOn(caller, tags, route),
        (failed) => {
          for (const { to, result } of answers) this.answer(to, result);
          return { failed };
        },
        done,
      );
      caller.tidy();
    } catch (error) {
      this.#fail(done, error);
    }
    this.#clock.schedule();
  }

  /**
   * Hands `result` to the caller that called its task; when it cannot take it
   * (its connection just went), the result goes to its fallback queue with
   * the id `result:<task id>`, so it is not lost (and is stored once).
   */
  answer(to: Caller, result: CallResult): void {
    if (to.onResult?.(result) === true) return;
    this.fallback(result);
  }

  /** Stores a called task's result in its fallback queue (its caller no longer takes it). */
  fallback(result: CallResult): void {
    if (result.payload === undefined || result.fallback === undefined) return;
    const item = { id: `result:${result.id}`, payload: result.payload, priority: 0, delayMs: 0 };
    this.backend.put(
      this.#system,
      result.fallback,
      [item],
      { now: this.#now(), timeoutMs: 0 },
      () => {},
    );
    this.#clock.schedule();
  }

  /** The caller waits no more for the results of these called tasks (they go to their fallback). */
  forget(caller: Caller, raw: { ids: unknown }, done: Done<void>): void {
    try {
      for (const id of checkForget(raw)) caller.forget(id);
      done(undefined);
    } catch (error) {
      this.#fail(done, error);
    }
  }

  /** Hands a leased job back, ready again after `delay` ms. */
  nack(caller: Caller, raw: { tag: unknown; delay?: unknown }, done: Done<void>): void {
    try {
      const { tag, delayMs } = checkNack(raw);
      const result = this.backend.nack(caller.ownerOf(tag), tag, {
        now: this.#now(),
        delayMs: delayMs ?? undefined,
      });
      this.#answer(result, () => undefined, done);
      caller.tidy();
    } catch (error) {
      this.#fail(done, error);
    }
    this.#clock.schedule();
  }

  /** Sends a leased job to the dead-letter queue, with the reason. */
  fail(caller: Caller, raw: { tag: unknown; reason: unknown }, done: Done<void>): void {
    try {
      const { tag, reason } = checkFail(raw);
      const result = this.backend.nack(caller.ownerOf(tag), tag, {
        now: this.#now(),
        dead: reason,
      });
      this.#answer(result, () => undefined, done);
      caller.tidy();
    } catch (error) {
      this.#fail(done, error);
    }
    this.#clock.schedule();
  }

  /**
   * Records how far a leased job got (`value`: superjson text, at most
   * `maxProgressBytes`); shown with the job in flight, and told to the
   * task's caller. Not made durable: progress lives as long as the lease.
   */
  progress(caller: Caller, raw: { tag: unknown; value: string }, done: Done<void>): void {
    try {
      const { tag, value } = checkProgress(raw, this.limits.maxProgressBytes);
      const report = feature(this.backend, "progress", "report progress");
      settle(
        report(caller.ownerOf(tag), tag, value, this.#now()),
        () => done(undefined),
        (error) => this.#fail(done, error),
      );
    } catch (error) {
      this.#fail(done, error);
    }
  }

  /** Extends a lease by its queue's lease time; answers with the new deadline (epoch ms). */
  touch(caller: Caller, raw: { tag: unknown }, done: Done<number>): void {
    try {
      const { tag } = checkTouch(raw);
      settle(
        this.backend.touch(caller.ownerOf(tag), tag, this.#now()),
        (deadline) => done(deadline),
        (error) => this.#fail(done, error),
      );
    } catch (error) {
      this.#fail(done, error);
    }
    this.#clock.schedule();
  }

  // -- looking and managing --

  /** Stats of the god (or of one queue), brought up to date first for a remote backend. */
  stats(caller: Caller, raw: { queue?: unknown }, done: Done<GodStats>): void {
    try {
      const { queue } = checkStats(raw);
      permit(
        caller,
        "read",
        queue ?? null,
        queue === undefined ? "read the stats of the whole god" : `read the stats of "${queue}"`,
      );
      const answer = () => {
        try {
          done(this.snapshot(queue));
        } catch (error) {
          this.#fail(done, error);
        }
      };
      if (this.backend.refresh) {
        this.backend.refresh(queue).then(answer, (error) => this.#fail(done, error));
      } else answer();
    } catch (error) {
      this.#fail(done, error);
    }
  }

  /** Stats as they are now (a remote backend answers from its last snapshot). */
  snapshot(queue?: string): GodStats {
    const now = this.#now();
    const connections = [];
    for (const caller of this.#callers) {
      if (caller.info.listed !== false) connections.push(caller.connection());
    }
    return {
      server: {
        name: this.#options.name,
        runtime: runtimeName(),
        uptimeMs: now - this.#startedAt,
        address: this.#options.address?.() ?? "",
        store: this.backend.info?.() ?? this.#store.stats(),
      },
      queues: this.backend.stats(now, queue),
      connections,
      limits: this.#options.limitStats?.(),
    };
  }

  /** The next ready jobs of a queue, in delivery order, left in place. */
  peek(caller: Caller, raw: { queue: unknown; limit?: unknown }, done: Done<Job[]>): void {
    try {
      const { queue, limit } = checkPeek(raw);
      permit(caller, "manage", queue, `peek at "${queue}"`);
      this.#answer(this.backend.peek(queue, limit), (jobs) => this.#fit(jobs), done, false);
    } catch (error) {
      this.#fail(done, error);
    }
  }

  /** Dead letters of a queue, oldest first. */
  deadList(caller: Caller, raw: { queue: unknown; limit?: unknown }, done: Done<Job[]>): void {
    try {
      const { queue, limit } = checkDeadList(raw);
      permit(caller, "manage", queue, `list the dead letters of "${queue}"`);
      this.#answer(this.backend.deadList(queue, limit), (jobs) => this.#fit(jobs), done, false);
    } catch (error) {
      this.#fail(done, error);
    }
  }

  /** Moves dead letters of a queue (all, or those with `ids`) back; answers how many. */
  deadRequeue(caller: Caller, raw: { queue: unknown; ids?: unknown }, done: Done<number>): void {
    try {
      const { queue, ids } = checkRequeue(raw);
      permit(caller, "manage", queue, `requeue the dead letters of "${queue}"`);
      this.#answer(this.backend.deadRequeue(queue, ids, this.#now()), (n) => n, done);
    } catch (error) {
      this.#fail(done, error);
    }
    this.#clock.schedule();
  }

  /** Jobs of a queue in flight (oldest lease first) with their holders and progress. */
  inFlight(
    caller: Caller,
    raw: { queue: unknown; limit?: unknown },
    done: Done<InFlightJob[]>,
  ): void {
    try {
      const { queue, limit } = checkInFlight(raw);
      permit(caller, "manage", queue, `list the jobs in flight of "${queue}"`);
      const list = feature(this.backend, "inFlight", "list jobs in flight");
      this.#answer(list(queue, limit), (jobs) => jobs, done, false);
    } catch (error) {
      this.#fail(done, error);
    }
  }

  /** Deletes dead letters of a queue (all, or those with `ids`); answers how many. */
  deadDelete(caller: Caller, raw: { queue: unknown; ids?: unknown }, done: Done<number>): void {
    try {
      const { queue, ids } = checkDeadDelete(raw);
      permit(caller, "manage", queue, `delete the dead letters of "${queue}"`);
      const remove = feature(this.backend, "deadDelete", "delete dead letters");
      this.#answer(remove(queue, ids, this.#now()), (n) => n, done);
    } catch (error) {
      this.#fail(done, error);
    }
  }

  /**
   * Pauses (or resumes) an existing queue: while paused, puts are taken and
   * nothing is handed out. Answers with the queue's options.
   */
  pause(
    caller: Caller,
    raw: { queue: unknown },
    paused: boolean,
    done: Done<QueueOptions>,
  ): void {
    try {
      const { queue } = checkPause(raw);
      const action = `${paused ? "pause" : "resume"} "${queue}"`;
      permit(caller, "manage", queue, action);
      if (!this.backend.queueNames.includes(queue)) {
        throw new RemoteError(ErrorCode.UnknownQueue, `Cannot ${action}: unknown queue`);
      }
      this.#answer(this.backend.declare(queue, { paused }, this.#now()), (o) => o, done);
    } catch (error) {
      this.#fail(done, error);
    }
    this.#clock.schedule();
  }

  /** Adds or replaces a schedule; answers with it (its next slot included). */
  schedule(caller: Caller, raw: RawSchedule, done: Done<ScheduleInfo>): void {
    try {
      const request = checkSchedule(raw, this.limits.maxPayloadBytes);
      permit(caller, "manage", request.queue, `schedule jobs on "${request.queue}"`);
      const add = feature(this.backend, "schedule", "add a schedule");
      if (caller.info.scope === undefined || caller.info.scope === null) {
        this.#answer(add(request, this.#now()), (info) => info, done);
        return;
      }
      // A key that manages some queues may not replace a schedule of another queue.
      const list = feature(this.backend, "schedules", "add a schedule");
      this.#answer(list(), (all) => {
        const taken = all.find((s) => s.info.name === request.name);
        if (taken !== undefined && taken.info.queue !== request.queue) {
          permit(caller, "manage", taken.info.queue, `replace schedule "${request.name}"`);
        }
        return null;
      }, (outcome) => {
        if (outcome instanceof TaskwireError) done(outcome);
        else this.#answer(add(request, this.#now()), (info) => info, done);
      }, false);
    } catch (error) {
      this.#fail(done, error);
    }
    this.#clock.schedule();
  }

  /** Removes a schedule; answers whether there was one. */
  unschedule(caller: Caller, raw: { name: unknown }, done: Done<boolean>): void {
    try {
      const { name } = checkUnschedule(raw);
      permit(caller, "manage", null, `remove schedule "${name}"`);
      const remove = feature(this.backend, "unschedule", "remove a schedule");
      this.#answer(remove(name), (removed) => removed, done);
    } catch (error) {
      this.#fail(done, error);
    }
  }

  /** Every schedule, by name, with the value it puts. */
  schedules(caller: Caller, done: Done<{ info: ScheduleInfo; payload: string }[]>): void {
    try {
      permit(caller, "manage", null, "list schedules");
      const list = feature(this.backend, "schedules", "list schedules");
      this.#answer(list(), (all) => all, done, false);
    } catch (error) {
      this.#fail(done, error);
    }
  }

  /** The clock was moved (tests with an injected `now`): does what is due now. */
  advance(): void {
    this.#clock.moved();
  }

  /** Removes a queue's waiting jobs; answers how many. */
  purge(caller: Caller, raw: { queue: unknown }, done: Done<number>): void {
    try {
      const { queue } = checkPurge(raw);
      permit(caller, "manage", queue, `purge "${queue}"`);
      this.#answer(this.backend.purge(queue, this.#now()), (n) => n, done);
    } catch (error) {
      this.#fail(done, error);
    }
    this.#clock.schedule();
  }

  /** Creates a queue or changes its options; answers with the options in force. */
  declare(
    caller: Caller,
    raw: { queue: unknown; options?: unknown },
    done: Done<QueueOptions>,
  ): void {
    try {
      const { queue, options } = checkDeclare(raw);
      permit(caller, "manage", queue, `declare "${queue}"`);
      this.#answer(this.backend.declare(queue, options, this.#now()), (o) => o, done);
    } catch (error) {
      this.#fail(done, error);
    }
  }

  /** Counts a refusal by the limit `name` made by a door itself (an HTTP connection cap, say). */
  countLimit(name: string): void {
    this.#options.onLimit?.(name);
  }

  /** Stops the clock and the rate sampling (the server closes the backend and store). */
  close(): void {
    this.#clock.stop();
    clearInterval(this.#rates);
  }

  // -- internals --

  /**
   * Payload characters one reply that lists jobs (a batched get, a peek, a
   * dead-letter listing) carries at most: a quarter of the frame limit counted
   * in UTF-16 units (at most 3 bytes each), so the reply always fits in one frame.
   */
  get #replyBudget(): number {
    return Math.max(1, Math.floor(this.limits.maxFrameSize / 4));
  }

  /** The first jobs of a listing that fit in one reply (at least one). */
  #fit(jobs: Job[]): Job[] {
    let size = 0;
    for (let i = 0; i < jobs.length; i++) {
      size += jobs[i].payload.length;
      if (i > 0 && size > this.#replyBudget) return jobs.slice(0, i);
    }
    return jobs;
  }

  /** Completes on the backend, under the owners that hold the leases. */
  #completeOn(
    caller: Caller,
    tags: number[],
    route: (job: Job, queue: string, index: number) => ResultPut | null,
  ): Awaitable<AckFailure[]> {
    const now = this.#now();
    const backend = this.backend;
    if (!caller.lendsLeases) return backend.complete(caller.owner, tags, route, now);
    // Some leases were taken by waits under borrowed owners: complete each under its owner.
    const byOwner = new Map<Owner, number[]>();
    for (let i = 0; i < tags.length; i++) {
      const owner = caller.ownerOf(tags[i]);
      let indexes = byOwner.get(owner);
      if (indexes === undefined) byOwner.set(owner, indexes = []);
      indexes.push(i);
    }
    const results = [...byOwner].map(([owner, indexes]) =>
      backend.complete(
        owner,
        indexes.map((i) => tags[i]),
        (job, queue, j) => route(job, queue, indexes[j]),
        now,
      )
    );
    return results.some((r) => r instanceof Promise)
      ? Promise.all(results).then((lists) => lists.flat())
      : (results as AckFailure[][]).flat();
  }

  /** Whether caller id `replyTo` names a caller of this god (gone or not). */
  #isOwn(replyTo: string): boolean {
    return replyTo.startsWith(`${this.instance}.`);
  }

  /** Answers `done` with an error, counting a refusal by a limit. */
  #fail(done: Done<never>, error: unknown): void {
    const e = asError(error);
    if (e instanceof LimitError) this.#options.onLimit?.(e.limit);
    done(e);
  }

  /**
   * Starts a wait (a get or a put) under the caller's owner, or, with a
   * signal, under an owner borrowed for it alone: an abort releases that
   * owner (the wait ends, what it took goes back) and the wait's outcome is
   * then dropped. Null when the signal has already aborted.
   */
  #beginWait(caller: Caller, signal: AbortSignal | undefined): Wait | null {
    if (signal === undefined) return { owner: caller.owner, end: () => true };
    if (signal.aborted) return null;
    const owner = caller.borrow();
    const onAbort = () => {
      caller.endWait(owner, NONE);
      this.backend.release(owner, this.#now());
      this.#clock.schedule();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    return {
      owner,
      end: (tags) => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) return false;
        caller.endWait(owner, tags);
        return true;
      },
    };
  }

  /**
   * Answers with `result` (a value now, or a promise of it) mapped by `shape`,
   * after the store commits when `durable`.
   */
  #answer<T, R>(
    result: Awaitable<T>,
    shape: (value: T) => R,
    done: Done<R>,
    durable = true,
  ): void {
    settle(result, (value) => {
      const reply = shape(value);
      if (durable) this.#whenCommitted(done, reply);
      else done(reply);
    }, (error) => this.#fail(done, error));
  }

  /**
   * Calls `done(reply)` once the store has committed. A method of its own so
   * that the waiting closure holds only these two: one made where the request
   * was checked would keep the whole request (its results, its decoded
   * header) alive until the commit, long enough for the collector to promote
   * it all to the old generation.
   */
  #whenCommitted<R>(done: Done<R>, reply: R): void {
    this.#store.afterCommit(() => done(reply));
  }
}

/** A random name for this god among those that share a store (8 base-36 characters). */
function randomInstance(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  let n = 0;
  for (const b of bytes) n = n * 256 + b;
  return n.toString(36).padStart(8, "0").slice(-8);
}
