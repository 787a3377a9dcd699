/**
 * The leases one god handed out: by tag, by owner, by stream sequence and in
 * deadline order. Pure bookkeeping, no I/O: JetStream itself redelivers a job
 * when its ack wait runs out; this table is how the god knows a tag is no
 * longer good.
 */
import type { Owner } from "../queue/backend.ts";
import type { Job } from "../queue/types.ts";
import type { JsQueue, JsSub, Lease } from "./queue.ts";

/** Every live lease of this god. */
export class LeaseTable {
  readonly #byTag = new Map<number, Lease>();
  #tag = 1;

  get(tag: number): Lease | undefined {
    return this.#byTag.get(tag);
  }

  all(): Lease[] {
    return [...this.#byTag.values()];
  }

  /**
   * Leases `job` to `owner` (for subscription `sub`, if any). With no owner the
   * lease is only a handle (a job dead-lettered on arrival): it is not recorded.
   */
  make(queue: JsQueue, reply: string, job: Job, owner: Owner | null, sub: JsSub | null): Lease {
    const tag = this.#tag++;
    const lease: Lease = {
      tag,
      queue,
      reply,
      seq: job.seq,
      job,
      owner: owner as Owner,
      sub,
      deadline: Date.now() + queue.options.leaseMs,
      ended: owner === null,
    };
    if (owner === null) return lease;
    this.#byTag.set(tag, lease);
    queue.bySeq.set(job.seq, lease);
    queue.leaseOrder.push(lease);
    owner.leases.add(tag);
    queue.inFlight++;
    if (sub) sub.inFlight++;
    return lease;
  }

  /** The lease `tag` if `owner` holds it, else why not (the text of a `not_leased` error). */
  own(owner: Owner, tag: number): Lease | string {
    const lease = this.#byTag.get(tag);
    if (lease === undefined) {
      return `No lease ${tag}: it was already acked or nacked, or it expired and the job went back to the queue`;
    }
    if (lease.owner !== owner) return `Lease ${tag} belongs to another connection`;
    return lease;
  }

  /** Forgets a lease (acked, nacked, expired or redelivered). */
  end(lease: Lease): void {
    if (lease.ended) return;
    lease.ended = true;
    const order = lease.queue.leaseOrder;
    while (order.length > 0 && order.peek()!.ended) order.shift();
    this.#byTag.delete(lease.tag);
    if (lease.queue.bySeq.get(lease.seq) === lease) lease.queue.bySeq.delete(lease.seq);
    lease.owner.leases.delete(lease.tag);
    lease.queue.inFlight--;
    if (lease.sub) lease.sub.inFlight--;
  }

  /** Ends the leases of `queues` whose deadline passed; returns them. */
  expire(queues: Iterable<JsQueue>, now: number): Lease[] {
    const expired: Lease[] = [];
    for (const queue of queues) {
      const order = queue.leaseOrder;
      while (order.length > 0 && order.peek()!.deadline <= now) {
        const lease = order.shift()!;
        if (lease.ended || lease.deadline > now) continue;
        // JetStream redelivers it on its own (ack wait); the late ack is refused here.
        this.end(lease);
        queue.totals.expired++;
        expired.push(lease);
      }
    }
    return expired;
  }

  /** The earliest lease deadline among `queues`, or Infinity. */
  nextDeadline(queues: Iterable<JsQueue>): number {
    let next = Infinity;
    for (const queue of queues) {
      const lease = queue.leaseOrder.peek();
      if (lease && lease.deadline < next) next = lease.deadline;
    }
    return next;
  }
}
