/**
 * A client of the god as the operations layer sees it, whichever door it came
 * through: who it is (for stats and logs) and which leases it holds.
 *
 * Leases belong to an {@link Owner}. A caller has one main owner; a wait that
 * may be abandoned (an HTTP long-poll whose request goes away) runs under an
 * owner borrowed for it alone, so ending that wait returns only what it took.
 */
import { Owner } from "../queue/backend.ts";
import type { CallResult, ConnectionInfo, Door } from "../protocol/replies.ts";
import type { WorkerScope } from "../protocol/keys.ts";

/** Who a client says it is; the door adds where it came from. */
export interface CallerInfo {
  door: Door;
  /** "host:port" of the client, or a door-specific label. */
  remote: string;
  role: string;
  runtime: string;
  name: string;
  /** Shown among the god's connections (default true; the god's own consumer is not). */
  listed?: boolean;
  /** What a client holding a worker key may do; null (or absent) for the god's key. */
  scope?: WorkerScope | null;
}

let nextCallerId = 1;

export class Caller {
  /** This caller's id (its god's instance, a dot, a number): what a called task's `replyTo` names. */
  readonly id: string;
  readonly info: Readonly<CallerInfo>;
  readonly connectedAt: number;
  /**
   * How the caller's door hands it the result of a task it called (TCP: a
   * Result push; HTTP: kept for its next results poll); false when it could
   * not (the connection is gone), and the result goes to its fallback queue.
   * Null: this caller cannot take results, so it cannot call.
   */
  onResult: ((result: CallResult) => boolean) | null = null;
  /** Ids of the tasks it called and still waits for. */
  #calls: Set<string> | null = null;
  /** Holds subscriptions, puts and the leases of waits that are never abandoned. */
  readonly owner: Owner = new Owner();
  /** Owners borrowed for waits that may be abandoned, and which of them holds each lease. */
  #borrowed: Set<Owner> | null = null;
  #tagOwners: Map<number, Owner> | null = null;
  /** Borrowed owners whose wait is still running. */
  #waiting: Set<Owner> | null = null;
  #gone = false;

  constructor(info: CallerInfo, now: number, instance = "local") {
    this.id = `${instance}.c${nextCallerId++}`;
    this.info = info;
    this.connectedAt = now;
    this.owner.label = info.name;
  }

  /** The caller now waits for the result of task `id` (it called it). */
  expect(id: string): void {
    (this.#calls ??= new Set()).add(id);
  }

  /** The caller waits for task `id` no more (it gave up, or the result is on its way). */
  forget(id: string): boolean {
    return this.#calls?.delete(id) ?? false;
  }

  /** Whether the caller still waits for task `id`. */
  expects(id: string): boolean {
    return this.#calls?.has(id) ?? false;
  }

  /** Whether the caller has gone away (its door detached it). */
  get gone(): boolean {
    return this.#gone;
  }

  /** @internal The operations layer marks a detached caller. */
  markGone(): void {
    this.#gone = true;
  }

  /** Leases held right now. */
  get leases(): number {
    let n = this.owner.leases.size;
    if (this.#borrowed) { for (const owner of this.#borrowed) n += owner.leases.size; }
    return n;
  }

  /** Every owner of this caller: the main one and the borrowed ones. */
  *owners(): IterableIterator<Owner> {
    yield this.owner;
    if (this.#borrowed) yield* this.#borrowed;
  }

  /** A fresh owner for a wait that may be abandoned; end it with {@link endWait}. */
  borrow(): Owner {
    const owner = new Owner();
    owner.label = this.info.name;
    (this.#borrowed ??= new Set()).add(owner);
    (this.#waiting ??= new Set()).add(owner);
    return owner;
  }

  /**
   * The wait of a borrowed `owner` is over, having taken the leases `tags`
   * (acks find them under it), or nothing (the owner is forgotten).
   */
  endWait(owner: Owner, tags: readonly number[]): void {
    if (owner === this.owner) return;
    this.#waiting?.delete(owner);
    if (tags.length === 0 && owner.leases.size === 0) {
      this.#borrowed?.delete(owner);
      return;
    }
    const map = this.#tagOwners ??= new Map();
    for (const tag of tags) map.set(tag, owner);
  }

  /** The owner that holds lease `tag` (the main one unless a borrowed one took it). */
  ownerOf(tag: number): Owner {
    return this.#tagOwners?.get(tag) ?? this.owner;
  }

  /** Whether some leases are held by borrowed owners (acks must then be sorted by owner). */
  get lendsLeases(): boolean {
    return this.#tagOwners !== null && this.#tagOwners.size > 0;
  }

  /** Forgets borrowed owners and tags whose leases have all ended. */
  tidy(): void {
    if (this.#tagOwners === null) return;
    for (const [tag, owner] of this.#tagOwners) {
      if (!owner.leases.has(tag)) this.#tagOwners.delete(tag);
    }
    for (const owner of this.#borrowed ?? []) {
      if (owner.leases.size === 0 && !this.#waiting?.has(owner)) this.#borrowed!.delete(owner);
    }
  }

  /** This caller as the god's stats list it. */
  connection(): ConnectionInfo {
    return {
      remote: this.info.remote,
      role: this.info.role,
      runtime: this.info.runtime,
      name: this.info.name,
      transport: this.info.door,
      connectedAt: new Date(this.connectedAt).toISOString(),
      leases: this.leases,
    };
  }
}
