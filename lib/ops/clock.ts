/**
 * Drives a queue backend's time with one timer: the backend says when it next
 * has work ({@link Deadlines.nextDeadline}), the clock calls
 * {@link Deadlines.tick} then. After any operation that may have added a
 * deadline, {@link Clock.schedule} re-arms the timer; calls made in the same
 * turn of the event loop are checked once, at its end.
 */

/** What a clock drives: the deadline part of a queue backend. */
export interface Deadlines {
  nextDeadline(): number;
  tick(now: number): void;
}

export class Clock {
  readonly #target: Deadlines;
  readonly #now: () => number;
  #armedAt = Infinity;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #pending = false;
  #stopped = false;

  constructor(target: Deadlines, now: () => number = Date.now) {
    this.#target = target;
    this.#now = now;
  }

  /** Something may be due sooner than the timer is set for: check at the end of this turn. */
  schedule(): void {
    if (this.#pending || this.#stopped) return;
    this.#pending = true;
    queueMicrotask(() => {
      this.#pending = false;
      this.#arm();
    });
  }

  /** Time jumped (an injected clock was moved): check what is due now. */
  moved(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedAt = Infinity;
    this.#target.tick(this.#now());
    this.#arm();
  }

  /** Stops the timer for good. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    if (this.#stopped) return;
    const next = this.#target.nextDeadline();
    if (next >= this.#armedAt) return;
    clearTimeout(this.#timer);
    this.#armedAt = next;
    if (next === Infinity) return;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, next - this.#now()));
  }

  #fire(): void {
    this.#armedAt = Infinity;
    this.#timer = undefined;
    if (this.#stopped) return;
    this.#target.tick(this.#now());
    this.#arm();
  }
}
