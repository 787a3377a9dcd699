/**
 * BaseManager's request handling, sans-I/O: one {@link ManagerConnection}
 * per authenticated connection, fed each request's pickle, answering with
 * the bytes to send or a queue call for the driver to perform.
 *
 * A connection's first request is one of the manager's own functions
 * (`dummy`, `create`, `incref`, `decref`, `accept_connection`); CPython's
 * server answers it and closes, except after `accept_connection`, which
 * turns the connection into a method-call connection: requests
 * `(ident, methodname, args, kwds)` for the proxies of that thread, each
 * answered with `('#RETURN', value)`, `('#ERROR', exception)` or
 * `('#TRACEBACK', text)`. What a worker has no business doing (`shutdown`,
 * `debug_info`, `#GETVALUE`, unknown names or methods) gets a `#TRACEBACK`
 * saying so, and a method-call connection keeps working after it.
 */
import {
  dumpPickle,
  loadPickle,
  type PickleLimits,
  PyDict,
  PyException,
  PySet,
  PyTuple,
  type PyValue,
} from "./pickle.ts";
import { pythonToText } from "./values.ts";
import { printable } from "./text.ts";

/** The queue methods a proxy may call (what `create` answers as "exposed"). */
export const EXPOSED: readonly string[] = Object.freeze([
  "empty",
  "full",
  "get",
  "get_nowait",
  "put",
  "put_nowait",
  "qsize",
  "task_done",
]);

/** A queue operation the driver performs with the god, then answers with {@link ManagerConnection.reply}. */
export type QueueCall =
  /** Store a job; `timeoutMs` 0 for `block=False`, Infinity for "wait forever". */
  | { method: "put"; queue: string; payload: string; timeoutMs: number }
  /** Take a job; `timeoutMs` as for put. */
  | { method: "get"; queue: string; timeoutMs: number }
  | { method: "qsize" | "empty" | "full" | "task_done"; queue: string };

/** What to do with a request. */
export type ManagerAction =
  /** Send `body`; close afterwards when `close`. */
  | { kind: "reply"; body: Uint8Array; close: boolean }
  /** The connection became a method-call connection for the thread `name`: send `body`. */
  | { kind: "accepted"; body: Uint8Array; name: string }
  /** Perform `call`, then send {@link ManagerConnection.reply}. */
  | { kind: "call"; call: QueueCall };

/** How a queue call ended, for the reply. */
export type CallOutcome =
  | { value: PyValue }
  /** Raise `queue.Empty` or `queue.Full` in the caller. */
  | { raise: "Empty" | "Full" }
  /** Fail the call with a message (Python raises `RemoteError` with it). */
  | { error: string; type?: string };

/** The manager functions CPython's server offers, with why the door refuses some. */
const REFUSED_FUNCTIONS: Record<string, string> = {
  shutdown: "a worker cannot stop the taskwire god",
  debug_info: "the door does not describe its objects; see the god's stats or dashboard",
  number_of_objects: "the door does not count its objects; see the god's stats or dashboard",
  get_methods: "the door answers exposed methods in create() only",
};

/**
 * The state machine of one connection after authentication.
 *
 * @example
 * ```ts
 * const manager = new ManagerConnection(new Map([["pq", "tasks"]]));
 * const action = manager.receive(body); // reply, accepted, or a queue call
 * ```
 */
export class ManagerConnection {
  /** Python name → taskwire queue. */
  readonly #bindings: ReadonlyMap<string, string>;
  readonly #limits: Partial<PickleLimits>;
  #state: "first" | "serving" | "closed" = "first";
  #protocol: number | null = null;

  constructor(
    bindings: ReadonlyMap<string, string>,
    options: { pickle?: Partial<PickleLimits> } = {},
  ) {
    this.#bindings = bindings;
    this.#limits = options.pickle ?? {};
  }

  /** The pickle protocol of the peer's first request (narrows down its Python version). */
  get protocol(): number | null {
    return this.#protocol;
  }

  /** Whether the connection serves method calls (after `accept_connection`). */
  get serving(): boolean {
    return this.#state === "serving";
  }

  /** Takes one request's pickle. Never throws for anything the peer sends. */
  receive(body: Uint8Array): ManagerAction {
    if (this.#state === "closed") {
      return {
        kind: "reply",
        body: traceback("the connection has already been answered"),
        close: true,
      };
    }
    let request: PyValue;
    try {
      const loaded = loadPickle(body, this.#limits);
      this.#protocol ??= loaded.protocol;
      request = loaded.value;
    } catch (error) {
      return this.#fail((error as Error).message, "UnpicklingError");
    }
    const parsed = parseRequest(request);
    if (typeof parsed === "string") return this.#fail(parsed, "ValueError");
    return this.#state === "first" ? this.#function(parsed) : this.#method(parsed);
  }

  /** The reply to a call returned by {@link receive}, once performed. */
  reply(outcome: CallOutcome): Uint8Array {
    if ("raise" in outcome) {
      return dumpPickle(new PyTuple(["#ERROR", new PyException(outcome.raise)]));
    }
    if ("error" in outcome) return traceback(outcome.error, outcome.type);
    return dumpPickle(new PyTuple(["#RETURN", outcome.value]));
  }

  /** A refusal: the connection keeps working when it serves method calls, else it closes. */
  #fail(message: string, type = "RemoteError"): ManagerAction {
    const close = this.#state !== "serving";
    if (close) this.#state = "closed";
    return { kind: "reply", body: traceback(message, type), close };
  }

  /** The connection's first request: one of the manager's own functions. */
  #function(request: Request): ManagerAction {
    const { method, args, kwds } = request;
    const done = (value: PyValue): ManagerAction => {
      this.#state = "closed";
      return { kind: "reply", body: dumpPickle(new PyTuple(["#RETURN", value])), close: true };
    };
    if (kwds.length > 0 && method !== "create") {
      return this.#fail(`${printable(method)}() takes no keyword arguments`, "TypeError");
    }
    switch (method) {
      case "dummy":
        return done(null);
      case "create": {
        const typeid = args[0];
        if (typeof typeid !== "string") {
          return this.#fail("create() needs a registered name", "TypeError");
        }
        if (!this.#bindings.has(typeid)) return this.#fail(this.#unknownName(typeid), "KeyError");
        if (args.length > 1 || kwds.length > 0) {
          return this.#fail(
            `${
              printable(typeid)
            }() takes no arguments on a taskwire god (the queue already exists)`,
            "TypeError",
          );
        }
        return done(new PyTuple([typeid, new PyTuple([...EXPOSED])]));
      }
      case "incref":
      case "decref": {
        const ident = args[0];
        if (args.length !== 1 || typeof ident !== "string") {
          return this.#fail(`${method}() takes one object id`, "TypeError");
        }
        if (!this.#bindings.has(ident)) return this.#fail(this.#unknownName(ident), "KeyError");
        return done(null);
      }
      case "accept_connection": {
        const name = args[0];
        if (args.length !== 1 || typeof name !== "string") {
          return this.#fail("accept_connection() takes the thread's name", "TypeError");
        }
        this.#state = "serving";
        return {
          kind: "accepted",
          body: dumpPickle(new PyTuple(["#RETURN", null])),
          name: printable(name),
        };
      }
      default: {
        const why = REFUSED_FUNCTIONS[method];
        return this.#fail(
          why === undefined
            ? `${printable(method)} is not a function of this manager`
            : `${method}() is refused by taskwire's Python door: ${why}`,
        );
      }
    }
  }

  /** A proxy's method call on a method-call connection. */
  #method(request: Request): ManagerAction {
    const { ident, method, args, kwds } = request;
    if (typeof ident !== "string" || !this.#bindings.has(ident)) {
      return this.#fail(
        typeof ident === "string" ? this.#unknownName(ident) : "a method call needs an object id",
        "KeyError",
      );
    }
    const queue = this.#bindings.get(ident)!;
    if (method === "__repr__" || method === "__str__") {
      return this.#value(`<taskwire queue '${queue}' (registered as '${ident}')>`);
    }
    if (method === "#GETVALUE") {
      return this.#fail(
        "#GETVALUE is refused by taskwire's Python door: a proxy cannot copy a whole queue",
      );
    }
    if (!EXPOSED.includes(method)) {
      return this.#fail(
        `method '${printable(method)}' of taskwire queue '${queue}' is not exposed; exposed are ${
          EXPOSED.join(", ")
        }`,
        "AttributeError",
      );
    }
    const bound = bindArguments(method, args, kwds);
    if (typeof bound === "string") return this.#fail(bound, "TypeError");
    switch (method) {
      case "put":
      case "put_nowait": {
        const timeoutMs = method === "put_nowait" ? 0 : waitMs(bound.block, bound.timeout);
        if (typeof timeoutMs === "string") return this.#fail(timeoutMs, "ValueError");
        let payload: string;
        try {
          payload = pythonToText(bound.item!);
        } catch (error) {
          return this.#fail((error as Error).message, "ValueError");
        }
        return { kind: "call", call: { method: "put", queue, payload, timeoutMs } };
      }
      case "get":
      case "get_nowait": {
        const timeoutMs = method === "get_nowait" ? 0 : waitMs(bound.block, bound.timeout);
        if (typeof timeoutMs === "string") return this.#fail(timeoutMs, "ValueError");
        return { kind: "call", call: { method: "get", queue, timeoutMs } };
      }
      default:
        return {
          kind: "call",
          call: { method: method as "qsize" | "empty" | "full" | "task_done", queue },
        };
    }
  }

  #value(value: PyValue): ManagerAction {
    return { kind: "reply", body: dumpPickle(new PyTuple(["#RETURN", value])), close: false };
  }

  #unknownName(name: string): string {
    return `'${printable(name)}' is not a registered name on this taskwire god (registered: ${
      [...this.#bindings.keys()].join(", ")
    }; see the god's --python-queues)`;
  }
}

/** A request tuple, checked. */
interface Request {
  ident: PyValue;
  method: string;
  args: readonly PyValue[];
  kwds: [string, PyValue][];
}

function parseRequest(value: PyValue): Request | string {
  if (!(value instanceof PyTuple) || value.items.length !== 4) {
    return "a request must be the tuple (ident, methodname, args, kwds)";
  }
  const [ident, method, args, kwds] = value.items;
  if (typeof method !== "string") return "a request's method name must be a str";
  if (!(args instanceof PyTuple) && !Array.isArray(args)) return "a request's args must be a tuple";
  if (!(kwds instanceof PyDict)) return "a request's kwds must be a dict";
  const named: [string, PyValue][] = [];
  for (const [k, v] of kwds.entries) {
    if (typeof k !== "string") return "keyword argument names must be str";
    named.push([k, v]);
  }
  return { ident, method, args: Array.isArray(args) ? args : args.items, kwds: named };
}

/** Python's signatures of the exposed methods (without self). */
const SIGNATURES: Record<string, readonly string[]> = {
  put: ["item", "block", "timeout"],
  put_nowait: ["item"],
  get: ["block", "timeout"],
  get_nowait: [],
  qsize: [],
  empty: [],
  full: [],
  task_done: [],
};

interface Bound {
  item?: PyValue;
  block: PyValue;
  timeout: PyValue;
}

/** Binds positional and keyword arguments as Python would, or says what is wrong. */
function bindArguments(
  method: string,
  args: readonly PyValue[],
  kwds: [string, PyValue][],
): Bound | string {
  const names = SIGNATURES[method];
  if (args.length > names.length) {
    return `${method}() takes ${names.length} positional argument${
      names.length === 1 ? "" : "s"
    } but ${args.length} were given`;
  }
  const bound = new Map<string, PyValue>();
  args.forEach((arg, i) => bound.set(names[i], arg));
  for (const [name, value] of kwds) {
    if (!names.includes(name)) {
      return `${method}() got an unexpected keyword argument '${printable(name)}'`;
    }
    if (bound.has(name)) return `${method}() got multiple values for argument '${name}'`;
    bound.set(name, value);
  }
  if (names.includes("item") && !bound.has("item")) {
    return `${method}() missing 1 required positional argument: 'item'`;
  }
  return {
    item: bound.get("item"),
    block: bound.has("block") ? bound.get("block")! : true,
    timeout: bound.has("timeout") ? bound.get("timeout")! : null,
  };
}

/**
 * Python's `block`/`timeout` rules as a wait in milliseconds: not `block` → 0;
 * `timeout` None → Infinity (wait forever); a negative timeout is a ValueError.
 */
function waitMs(block: PyValue, timeout: PyValue): number | string {
  if (!truthy(block)) return 0;
  if (timeout === null) return Infinity;
  const seconds = typeof timeout === "bigint"
    ? Number(timeout)
    : typeof timeout === "number"
    ? timeout
    : typeof timeout === "boolean"
    ? Number(timeout)
    : NaN;
  if (typeof timeout !== "bigint" && typeof timeout !== "number" && typeof timeout !== "boolean") {
    return "'timeout' must be a number or None";
  }
  if (!(seconds >= 0)) return "'timeout' must be a non-negative number";
  return Math.min(Math.ceil(seconds * 1000), Number.MAX_SAFE_INTEGER);
}

/** Python's truth value of a plain value. */
function truthy(value: PyValue): boolean {
  if (value === null || value === false || value === 0n || value === 0 || value === "") {
    return false;
  }
  if (typeof value === "number" && Number.isNaN(value)) return true;
  if (value instanceof Uint8Array || Array.isArray(value)) return value.length > 0;
  if (value instanceof PyTuple) return value.items.length > 0;
  if (value instanceof PyDict) return value.entries.length > 0;
  if (value instanceof PySet) return value.items.length > 0;
  return true;
}

/** A `('#TRACEBACK', text)` reply: Python raises `RemoteError` showing the text. */
export function traceback(message: string, type = "RemoteError"): Uint8Array {
  return dumpPickle(new PyTuple(["#TRACEBACK", `taskwire Python door: ${type}: ${message}\n`]));
}
