/** What the HTTP face's routes share: the god's operations, the face's clients, its settings. */
import type { Caller } from "../ops/caller.ts";
import type { Operations } from "../ops/operations.ts";
import type { EndpointContext } from "./endpoint.ts";
import type { EventStreams, History } from "./events.ts";

export interface Face extends EndpointContext {
  ops: Operations;
  /** Stats requests made with the viewer token run as this caller (not listed). */
  viewer: Caller;
  history: History;
  /** The live event streams, counted per address and in total. */
  streams: EventStreams;
  /** Aborts when the face closes: long-polls and event streams end. */
  closing: AbortSignal;
  /** An HTTP client silent this long loses its leases. */
  idleMs: number;
  /** Serve `/metrics` without any token. */
  openMetrics: boolean;
}
