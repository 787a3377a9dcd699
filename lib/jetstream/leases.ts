/**
 * The leases one god handed out: by tag, by owner, by stream sequence and in
 * deadline order. Pure bookkeeping, no I/O: JetStream itself redelivers a job
 * when its ack wait runs out; this table is how the god knows a tag is no
 * longer good.
 */
import type { Owner } from "../queue/backend.ts";
import type { Job } from "../queue/types.ts";
import type { JsQueue, JsSub, Lease } from "./queue.ts";

/**
 * JetStream's ack wait for a queue with leases of `leaseMs`: the lease plus a
 * grace of a tenth of it (100 ms to 5 s). A god ends its lease when the lease
 * runs out, counted from when the job reached it; JetStream redelivers only
 * the grace later, counted from when it sent the job. So an ack the god still
 * accepts reaches JetStream before the job can be anyone else's, unless the
 * god was stalled longer than the grace (then the redelivery notice ends it).
 */
export function ackWaitMs(leaseMs: number): number {
  return leaseMs + Math.min(5_000, Math.max(100, Math.round(leaseMs / 10)));
}

/** Every live lease of this god. */
export class LeaseTable {
  readonly #byTag = new Map<number, Lease>();
  #tag = 1;
  /** Told of each lease that ran out (its subscription has room again). */
  onExpire: (lease: Lease) => void = () => {};

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

  /**
   * The lease `tag` if `owner` holds it at `now`, else why not (the text of a
   * `not_leased` error). A lease past its deadline ends here even if the
   * timer that expires leases has not run yet: JetStream may already have
   * handed the job to another god, and an ack sent now would take it from
   * its new holder.
   */
  own(owner: Owner, tag: number, now: number): Lease | string {
    const lease = this.#byTag.get(tag);
    if (lease === undefined) {
      return `No lease ${tag}: it was already acked or nacked, or it expired and the job went back to the queue`;
    }
    if (lease.owner !== owner) return `Lease ${tag} belongs to another connection`;
    if (lease.deadline <= now) {
      this.#expireOne(lease);
      return `No lease ${tag}: it expired ${
        now - lease.deadline
      } ms ago and the job went back to the queue (another consumer may hold it now)`;
    }
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
    if (lease.progress !== undefined) lease.queue.reporting.delete(lease);
    lease.owner.leases.delete(lease.tag);
    lease.queue.inFlight--;
    if (lease.sub) lease.sub.inFlight--;
  }

  /** Ends the leases of `queues` whose deadline passed. */
  expire(queues: Iterable<JsQueue>, now: number): void {
    for (const queue of queues) {
      const order = queue.leaseOrder;
      while (order.length > 0 && order.peek()!.deadline <= now) {
        const lease = order.shift()!;
        if (lease.ended || lease.deadline > now) continue;
        this.#expireOne(lease);
      }
    }
  }

  /**
   * Ends a lease that ran out or whose job JetStream handed out again. Nothing
   * goes to JetStream: it redelivers the job on its own (ack wait), and the
   * late ack is refused here.
   */
  expireLease(lease: Lease): void {
    if (lease.ended) return;
    this.#expireOne(lease);
  }

  #expireOne(lease: Lease): void {
    this.end(lease);
    lease.queue.totals.expired++;
    this.onExpire(lease);
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
