/**
 * BaseManager request handling as a state machine: the manager's own
 * functions on a connection's first request, then a proxy's method calls with
 * Python's argument rules; refusals are clear and keep a method-call
 * connection working. Captured CPython requests replay to the right calls.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  EXPOSED,
  type ManagerAction,
  ManagerConnection,
  type QueueCall,
} from "../lib/python/manager.ts";
import { dumpPickle, loadPickle, PyDict, PyTuple, type PyValue } from "../lib/python/pickle.ts";
import { CAPTURED, loadCapture, methodConnection } from "./_support/python_fixtures.ts";

const T = (...items: PyValue[]) => new PyTuple(items);
const D = (...entries: [PyValue, PyValue][]) => new PyDict(entries);
const BINDINGS = new Map([["pq", "tasks"], ["cq", "results"]]);

function request(
  ident: PyValue,
  method: string,
  args: PyValue[] = [],
  kwds: [string, PyValue][] = [],
) {
  return dumpPickle(T(ident, method, T(...args), D(...kwds)));
}

/** The reply tuple of a "reply"/"accepted" action, decoded. */
function reply(action: ManagerAction): [string, PyValue] {
  assert.notEqual(action.kind, "call", "expected a reply");
  const value = loadPickle((action as { body: Uint8Array }).body).value as PyTuple;
  return [value.items[0] as string, value.items[1]];
}

function serving(): ManagerConnection {
  const manager = new ManagerConnection(BINDINGS);
  const action = manager.receive(request(null, "accept_connection", ["MainProcess"]));
  assert.equal(action.kind, "accepted");
  assert.equal((action as { name: string }).name, "MainProcess");
  assert.deepEqual(reply(action), ["#RETURN", null]);
  return manager;
}

function call(manager: ManagerConnection, ...args: Parameters<typeof request>): QueueCall {
  const action = manager.receive(request(...args));
  assert.equal(action.kind, "call", action.kind === "reply" ? String(reply(action)[1]) : "");
  return (action as { call: QueueCall }).call;
}

function traceback(manager: ManagerConnection, body: Uint8Array, pattern: RegExp, close = false) {
  const action = manager.receive(body);
  assert.equal(action.kind, "reply");
  assert.equal((action as { close: boolean }).close, close);
  const [kind, text] = reply(action);
  assert.equal(kind, "#TRACEBACK");
  assert.match(text as string, pattern);
}

test("ManagerConnection answers dummy, create, incref and decref once, then closes", () => {
  const dummy = new ManagerConnection(BINDINGS).receive(request(null, "dummy"));
  assert.deepEqual(reply(dummy), ["#RETURN", null]);
  assert.equal((dummy as { close: boolean }).close, true);
  const create = new ManagerConnection(BINDINGS).receive(request(null, "create", ["pq"]));
  assert.deepEqual(reply(create), ["#RETURN", T("pq", T(...EXPOSED))]);
  for (const fn of ["incref", "decref"]) {
    assert.deepEqual(reply(new ManagerConnection(BINDINGS).receive(request(null, fn, ["cq"]))), [
      "#RETURN",
      null,
    ]);
  }
  assert.deepEqual([...EXPOSED].sort(), [
    "empty",
    "full",
    "get",
    "get_nowait",
    "put",
    "put_nowait",
    "qsize",
    "task_done",
  ]);
});

test("ManagerConnection refuses unknown names and what a worker has no business doing", () => {
  const first = () => new ManagerConnection(BINDINGS);
  traceback(
    first(),
    request(null, "create", ["xq"]),
    /KeyError: 'xq' is not a registered name on this taskwire god \(registered: pq, cq;/,
    true,
  );
  traceback(first(), request(null, "create", ["pq", 5n]), /takes no arguments/, true);
  traceback(first(), request(null, "incref", ["nope"]), /'nope' is not a registered name/, true);
  traceback(
    first(),
    request(null, "shutdown"),
    /shutdown\(\) is refused .*cannot stop the taskwire god/,
    true,
  );
  traceback(first(), request(null, "debug_info"), /debug_info\(\) is refused/, true);
  traceback(first(), request(null, "number_of_objects"), /number_of_objects\(\) is refused/, true);
  traceback(first(), request(null, "get_methods", ["pq"]), /get_methods\(\) is refused/, true);
  traceback(
    first(),
    request(null, "os.system", ["x"]),
    /os\.system is not a function of this manager/,
    true,
  );
  traceback(first(), request(null, "put", [1n]), /put is not a function of this manager/, true);
  traceback(first(), dumpPickle(T(1n, 2n)), /a request must be the tuple/, true);
  traceback(first(), Uint8Array.of(0x80, 0x03, 0x63), /UnpicklingError: Cannot unpickle/, true);
});

test("ManagerConnection maps put and get with Python's block/timeout rules", () => {
  const m = serving();
  const put = (args: PyValue[], kwds: [string, PyValue][] = []) => call(m, "pq", "put", args, kwds);
  assert.deepEqual(put([3n]), {
    method: "put",
    queue: "tasks",
    payload: '{"json":3}',
    timeoutMs: Infinity,
  });
  assert.equal((put([3n, false]) as { timeoutMs: number }).timeoutMs, 0);
  assert.equal((put([3n], [["block", 0n]]) as { timeoutMs: number }).timeoutMs, 0);
  assert.equal((put([3n], [["timeout", 0.05]]) as { timeoutMs: number }).timeoutMs, 50);
  assert.equal((put([3n, true, 2n]) as { timeoutMs: number }).timeoutMs, 2000);
  assert.equal(
    (put([3n, false, 2n]) as { timeoutMs: number }).timeoutMs,
    0,
    "no block ignores timeout",
  );
  assert.equal((call(m, "cq", "put_nowait", ["r"]) as { timeoutMs: number }).timeoutMs, 0);
  assert.equal((call(m, "cq", "put_nowait", ["r"]) as { queue: string }).queue, "results");

  const get = (args: PyValue[], kwds: [string, PyValue][] = []) =>
    (call(m, "pq", "get", args, kwds) as { timeoutMs: number }).timeoutMs;
  assert.equal(get([]), Infinity);
  assert.equal(get([], [["timeout", 1n]]), 1000);
  assert.equal(get([true, 1.5]), 1500);
  assert.equal(get([false]), 0);
  assert.equal(get([], [["block", ""]]), 0, "block is read by truth value");
  assert.equal(get([], [["timeout", 0n]]), 0);
  assert.deepEqual(call(m, "pq", "get_nowait"), { method: "get", queue: "tasks", timeoutMs: 0 });
  for (const method of ["qsize", "empty", "full", "task_done"]) {
    assert.deepEqual(call(m, "pq", method), { method, queue: "tasks" });
  }
});

test("ManagerConnection refuses bad calls with Python's exception names and keeps serving", () => {
  const m = serving();
  traceback(
    m,
    request("pq", "put", [1n, true, -1n]),
    /ValueError: 'timeout' must be a non-negative number/,
  );
  traceback(m, request("pq", "get", [true, "x"]), /ValueError: 'timeout' must be a number or None/);
  traceback(
    m,
    request("pq", "put", []),
    /TypeError: put\(\) missing 1 required positional argument: 'item'/,
  );
  traceback(
    m,
    request("pq", "put", [1n, 2n, 3n, 4n]),
    /put\(\) takes 3 positional arguments but 4 were given/,
  );
  traceback(
    m,
    request("pq", "get", [], [["wait", 1n]]),
    /get\(\) got an unexpected keyword argument 'wait'/,
  );
  traceback(m, request("pq", "put", [1n], [["item", 2n]]), /multiple values for argument 'item'/);
  traceback(
    m,
    request("pq", "qsize", [1n]),
    /qsize\(\) takes 0 positional arguments but 1 were given/,
  );
  traceback(
    m,
    request("pq", "join"),
    /AttributeError: method 'join' of taskwire queue 'tasks' is not exposed/,
  );
  traceback(m, request("pq", "#GETVALUE"), /#GETVALUE is refused/);
  traceback(m, request("zz", "put", [1n]), /KeyError: 'zz' is not a registered name/);
  traceback(
    m,
    Uint8Array.of(
      0x80,
      0x02,
      0x63,
      0x6f,
      0x73,
      0x0a,
      0x73,
      0x79,
      0x73,
      0x74,
      0x65,
      0x6d,
      0x0a,
      0x2e,
    ),
    /names os\.system/,
  );
  // A value Python itself could not build: a dict with a list key (a crafted pickle).
  const crafted = dumpPickle(T("pq", "put", T(D([[1n], 2n])), D()));
  traceback(m, crafted, /ValueError: Cannot store the Python value: value key 0 is a list/);
  // Still serving.
  assert.deepEqual(call(m, "pq", "qsize"), { method: "qsize", queue: "tasks" });
  const repr = m.receive(request("pq", "__repr__"));
  assert.deepEqual(reply(repr), ["#RETURN", "<taskwire queue 'tasks' (registered as 'pq')>"]);
});

test("ManagerConnection.reply() raises queue.Empty/Full, returns values, or reports errors", () => {
  const m = serving();
  const empty = m.reply({ raise: "Empty" });
  assert.ok(new TextDecoder().decode(empty).includes("cqueue\nEmpty\n"));
  assert.deepEqual(loadPickle(m.reply({ value: 5n })).value, T("#RETURN", 5n));
  assert.deepEqual(
    loadPickle(m.reply({ error: "no", type: "ValueError" })).value,
    T("#TRACEBACK", "taskwire Python door: ValueError: no\n"),
  );
});

for (const version of CAPTURED) {
  test(`ManagerConnection turns CPython ${version}'s captured calls into queue calls`, () => {
    const capture = loadCapture(version);
    const frames = methodConnection(capture).slice(6).filter((f) => f.from === "client");
    const idents = new Map<string, string>();
    // The captured god's object ids name its queues in the order create() made them.
    for (const c of capture.connections) {
      const req = c[6];
      const r = loadPickle(req.body).value as PyTuple;
      if (r.items[1] !== "create") continue;
      const ret = loadPickle(c[7].body).value as PyTuple;
      idents.set(
        (ret.items[1] as PyTuple).items[0] as string,
        (r.items[2] as PyTuple).items[0] as string,
      );
    }
    // Replay with bindings named after the captured ids.
    const manager = new ManagerConnection(new Map([...idents].map(([id, name]) => [id, name])));
    const calls: string[] = [];
    for (const frame of frames) {
      const action = manager.receive(frame.body);
      if (action.kind === "call") {
        const c = action.call;
        calls.push(`${c.queue}.${c.method}${"timeoutMs" in c ? `(${c.timeoutMs})` : ""}`);
      }
    }
    assert.deepEqual(calls.slice(0, 8), [
      "pq.put(Infinity)",
      "pq.put(Infinity)",
      "pq.put(Infinity)",
      "pq.empty",
      "pq.get(1000)",
      "cq.put(Infinity)",
      "pq.empty",
      "pq.get(1000)",
    ]);
    assert.deepEqual(calls.slice(-12), [
      "pq.put(0)",
      "pq.qsize",
      "pq.get(0)",
      "pq.put(1000)",
      "pq.get(0)",
      "pq.get(50)",
      "pq.get(0)",
      "bq.put(Infinity)",
      "bq.put(Infinity)",
      "bq.full",
      "bq.put(0)",
      "bq.put(50)",
    ]);
  });
}
