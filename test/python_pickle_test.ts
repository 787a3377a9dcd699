/**
 * The pickle subset: every request captured from CPython 3.6-3.13 decodes to
 * the values the client sent; the encoder's output is read back by the
 * decoder and by a real python3; anything that is not data (os.system via
 * GLOBAL or STACK_GLOBAL, REDUCE, BUILD, INST, OBJ, NEWOBJ, persistent ids,
 * the extension registry, protocol 0/1) is refused with a message naming it;
 * limits hold; and a fuzzed decoder throws nothing but PickleError.
 *
 * Budget: TASKWIRE_FUZZ_SCALE multiplies the fuzz runs (`npm run fuzz`).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fc from "fast-check";
import {
  dumpPickle,
  loadPickle,
  PickleError,
  PyDict,
  PyException,
  PySet,
  PyTuple,
  type PyValue,
} from "../lib/python/pickle.ts";
import { pythonToText } from "../lib/python/values.ts";
import { TaskwireError } from "../lib/protocol/errors.ts";
import { CAPTURED, loadCapture, methodConnection } from "./_support/python_fixtures.ts";

const SCALE = Number(process.env.TASKWIRE_FUZZ_SCALE ?? 1);
const SEED = Number(process.env.TASKWIRE_FUZZ_SEED ?? 20261130);
const enc = new TextEncoder();
const T = (...items: PyValue[]) => new PyTuple(items);
const D = (...entries: [PyValue, PyValue][]) => new PyDict(entries);
const bytes = (...b: number[]) => Uint8Array.from(b);

/** What capture.py's client put, in order (its VALUES list). */
const VALUES: PyValue[] = [
  0n,
  1n,
  -1n,
  255n,
  256n,
  65535n,
  65536n,
  -129n,
  2n ** 31n - 1n,
  -(2n ** 31n),
  2n ** 31n,
  2n ** 63n,
  -(2n ** 64n) - 1n,
  10n ** 30n,
  1.5,
  -0,
  Infinity,
  "",
  "hi",
  "h\u00e9\u4e2d\u{1f600}",
  "x".repeat(300),
  bytes(),
  bytes(0, 255),
  new Uint8Array(300).fill(0x79),
  true,
  false,
  null,
  [],
  [1n, "a"],
  T(),
  T(1n),
  T(1n, 2n),
  T(1n, 2n, 3n),
  T(1n, 2n, 3n, 4n),
  D(),
  D(["a", 1n], ["b", [2n]]),
  D([1n, "x"], [T(2n, 3n), null]),
  new PySet([], false),
  new PySet([1n, 2n], false),
  new PySet([], true),
  new PySet(["z"], true),
  [[1n, [2n, [3n]]]],
  ["s", "s"],
];

/** Assembles a pickle from strings (latin-1) and byte arrays. */
function pk(...parts: (string | number[])[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "string") { for (const c of p) out.push(c.charCodeAt(0)); }
    else out.push(...p);
  }
  return Uint8Array.from(out);
}

function refused(pickle: Uint8Array, pattern: RegExp): void {
  assert.throws(() => loadPickle(pickle), (e: unknown) => {
    assert.ok(e instanceof PickleError, `a PickleError, not ${e}`);
    assert.match(e.message, pattern);
    return true;
  });
}

for (const version of CAPTURED) {
  test(`loadPickle() decodes every request CPython ${version} sent, to the values it sent`, () => {
    const capture = loadCapture(version);
    assert.equal(
      capture.values.length,
      VALUES.length,
      "capture.py and this test list the same values",
    );
    const requests = methodConnection(capture).slice(6).filter((f) => f.from === "client")
      .map((f) => loadPickle(f.body));
    for (const r of requests) assert.equal(r.protocol, capture.pickleProtocol);
    const calls = requests.map((r) => r.value as PyTuple);
    for (const call of calls) assert.equal(call.items.length, 4);
    const pqIdent = (calls.find((c) => c.items[1] === "put")!).items[0];
    const puts = calls.filter((c) => c.items[0] === pqIdent && c.items[1] === "put")
      .map((c) => (c.items[2] as PyTuple).items[0]);
    assert.deepEqual(puts, [3n, 999n, 0n, ...VALUES, 8n]);
    const first = calls[0];
    assert.deepEqual(first, T(null, "accept_connection", T("MainProcess"), D()));
    const timed = calls.find((c) => c.items[1] === "get" && (c.items[3] as PyDict).entries.length);
    assert.deepEqual(timed!.items[3], D(["timeout", 1n]));
    const positional = calls.find((c) => (c.items[2] as PyTuple).items.length === 3);
    assert.deepEqual(positional!.items[2], T(8n, true, 1n));
  });

  test(`loadPickle() reads CPython ${version}'s own replies, and refuses its queue.Empty`, () => {
    const capture = loadCapture(version);
    const replies = methodConnection(capture).slice(6).filter((f) => f.from === "server");
    const values: PyValue[] = [];
    let exceptions = 0;
    for (const reply of replies) {
      try {
        const v = loadPickle(reply.body).value as PyTuple;
        assert.equal(v.items[0], "#RETURN");
        values.push(v.items[1]);
      } catch (error) {
        // ('#ERROR', queue.Empty()) names a class: the decoder accepts only data.
        assert.ok(error instanceof PickleError);
        assert.match(error.message, /names (_?queue)\.(Empty|Full), which is not allowed/);
        exceptions++;
      }
    }
    assert.equal(exceptions, 4, "two Empty and two Full");
    for (const value of VALUES) assert.ok(values.some((v) => equal(v, value)), String(value));
  });
}

function equal(a: PyValue, b: PyValue): boolean {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

test("dumpPickle() output decodes back to the same value", () => {
  for (const value of VALUES) {
    assert.deepEqual(loadPickle(dumpPickle(value)).value, value);
  }
  const reply = T("#RETURN", T("pq", T("get", "put")));
  assert.deepEqual(loadPickle(dumpPickle(reply)).value, reply);
  // Every int size class, including the LONG4 form.
  for (
    const n of [
      0n,
      255n,
      256n,
      65535n,
      65536n,
      -1n,
      2n ** 31n,
      -(2n ** 31n) - 1n,
      2n ** 2100n,
      -(2n ** 2100n),
    ]
  ) {
    assert.equal(loadPickle(dumpPickle(n)).value, n);
  }
  // A str with a lone surrogate survives (Python writes it with surrogatepass).
  assert.equal(loadPickle(dumpPickle("a\ud800b")).value, "a\ud800b");
});

test("dumpPickle() writes queue.Empty() as CPython's god does: GLOBAL, empty args, REDUCE", () => {
  const body = dumpPickle(T("#ERROR", new PyException("Empty")));
  assert.deepEqual(
    body,
    pk("\x80\x04\x8c\x06#ERROR", "cqueue\nEmpty\n", ")R", "\x86."),
  );
});

test("dumpPickle() output is read by a real python3 as the same values", async (t) => {
  const value = [...VALUES, T("#ERROR", new PyException("Full"))];
  const hex = Array.from(dumpPickle(value), (b) => b.toString(16).padStart(2, "0")).join("");
  const script = "import pickle,sys,queue\nv=pickle.loads(bytes.fromhex(sys.argv[1]))\n" +
    "print(repr(v[:-1]))\nprint(type(v[-1][1]).__name__, v[-1][1].__class__ is queue.Full)";
  const out = await new Promise<string | null>((resolve) =>
    execFile(
      "python3",
      ["-c", script, hex],
      { timeout: 20_000 },
      (error, stdout) => resolve(error ? null : stdout),
    )
  );
  if (out === null) {
    t.skip("python3 is not available");
    return;
  }
  const capture = loadCapture("3.11");
  const [values, full] = out.trim().split("\n");
  // frozenset stays frozenset here: this is the encoder's own output, not a trip through superjson.
  assert.equal(values, `[${capture.values.join(", ")}]`);
  assert.equal(full, "Full True");
});

test("loadPickle() refuses os.system via GLOBAL and STACK_GLOBAL, naming it", () => {
  // What CPython pickles for a class whose __reduce__ returns (os.system, ("touch x",)).
  refused(
    pk("\x80\x03cposix\nsystem\nq\x00X\x07\x00\x00\x00touch xq\x01\x85q\x02Rq\x03."),
    /opcode GLOBAL names posix\.system, which is not allowed/,
  );
  refused(pk("\x80\x02cos\nsystem\n."), /names os\.system/);
  refused(
    pk("\x80\x04\x95\x11\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94."),
    /opcode STACK_GLOBAL names os\.system, which is not allowed/,
  );
  refused(pk("\x80\x04\x8c\x08builtins\x8c\x04eval\x93."), /builtins\.eval/);
  refused(pk("\x80\x02c__builtin__\ngetattr\n."), /__builtin__\.getattr/);
  // Names are escaped in the message.
  refused(pk("\x80\x02cos\x1b[31m\nsystem\n."), /os\\u001b\[31m\.system/);
});

test("loadPickle() refuses every opcode that builds objects or reaches outside the data", () => {
  const cases: [Uint8Array, RegExp][] = [
    [pk("\x80\x02cbuiltins\nset\n}R."), /REDUCE of builtins\.set takes one list \(got a dict\)/],
    [pk("\x80\x02N)R."), /REDUCE is not accepted: it calls None/],
    [pk("\x80\x02]}b."), /BUILD is not accepted/],
    [pk("\x80\x02(ios\nsystem\n."), /INST is not accepted/],
    [pk("\x80\x02(N)o."), /OBJ is not accepted/],
    [pk("\x80\x02N)\x81."), /NEWOBJ is not accepted/],
    [pk("\x80\x04N)}\x92."), /NEWOBJ_EX is not accepted/],
    [pk("\x80\x02Pabc\n."), /PERSID is not accepted: it loads a persistent id/],
    [pk("\x80\x02NQ."), /BINPERSID is not accepted/],
    [pk("\x80\x02\x82\x01."), /EXT1 is not accepted: it loads from the extension registry/],
    [pk("\x80\x02\x84\x01\x00\x00\x00."), /EXT4 is not accepted/],
    [pk("\x80\x05\x96", [1, 0, 0, 0, 0, 0, 0, 0], "a."), /BYTEARRAY8 is not accepted/],
    [pk("\x80\x05\x97."), /NEXT_BUFFER is not accepted/],
    [pk("\x80\x02I1\n."), /INT is not accepted: it belongs to pickle protocols 0 and 1/],
    [pk("\x80\x02S'a'\n."), /STRING is not accepted/],
    [pk("(lp0\n."), /does not start with PROTO/],
    [pk("\x80\x06N."), /protocol 6 is not one of 2 to 5/],
    [pk("\x80\x02\xff."), /unknown opcode 0xff/],
    [pk("\x80\x02N2."), /DUP is not accepted/],
  ];
  for (const [pickle, pattern] of cases) refused(pickle, pattern);
});

test("loadPickle() accepts sets as protocols 2 and 3 spell them, without calling anything", () => {
  assert.deepEqual(
    loadPickle(pk("\x80\x03cbuiltins\nset\nq\x00]q\x01(K\x01K\x02e\x85q\x02Rq\x03.")).value,
    new PySet([1n, 2n], false),
  );
  assert.deepEqual(
    loadPickle(pk("\x80\x02c__builtin__\nfrozenset\n]\x85R.")).value,
    new PySet([], true),
  );
  // The class itself is not data.
  assert.throws(() => pythonToText(loadPickle(pk("\x80\x02cbuiltins\nset\n.")).value), /not data/);
});

test("loadPickle() enforces its limits before allocating", () => {
  const hugeInt = pk("\x80\x02\x8b", [0x29, 0x23, 0, 0], "");
  refused(hugeInt, /an int of 9001 bytes is over the limit of 8192/);
  refused(pk("\x80\x02\x8b", [0xff, 0xff, 0xff, 0xff], "."), /LONG4 has a negative length/);
  refused(pk("\x80\x02X", [0xff, 0xff, 0xff, 0x7f], "abc."), /truncated/);
  refused(pk("\x80\x04\x8d", [0, 0, 0, 0, 0, 0, 0, 0x80], "."), /truncated/);
  refused(pk("\x80\x04\x95", [0xff, 0, 0, 0, 0, 0, 0, 0], "N."), /FRAME announces 255 bytes/);
  const many = pk("\x80\x02(", "N".repeat(100), "l.");
  assert.throws(() => loadPickle(many, { maxItems: 50 }), /more than 50 values/);
  const memo = pk("\x80\x04", "N\x94".repeat(20), ".");
  assert.throws(() => loadPickle(memo, { maxMemo: 10 }), /more than 10 memo entries/);
  assert.throws(
    () => loadPickle(new Uint8Array(100), { maxBytes: 99 }),
    /100 bytes, over the limit of 99/,
  );
  refused(pk("\x80\x02N.N"), /1 bytes follow STOP/);
  refused(pk("\x80\x02N"), /truncated/);
  refused(pk("\x80\x02h\x05."), /memo entry 5 does not exist/);
  refused(pk("\x80\x02NNa."), /APPEND to something not a list \(None\)/);
  refused(pk("\x80\x02]Ka."), /STOP with 2 values/);
  refused(pk("\x80\x02(N."), /STOP with 1 values and 1 open MARKs/);
  refused(pk("\x80\x02}(Nu."), /odd number/);
  refused(pk("\x80\x02e."), /no MARK to pop to/);
  refused(pk("\x80\x02."), /STOP with 0 values/);
});

test("loadPickle() throws only PickleError on every prefix of every captured request", () => {
  const requests = CAPTURED.flatMap((v) =>
    methodConnection(loadCapture(v)).slice(6).filter((f) => f.from === "client").map((f) => f.body)
  );
  for (const request of requests.slice(0, 300)) {
    for (let cut = 0; cut < request.length; cut++) {
      assert.throws(() => loadPickle(request.subarray(0, cut)), PickleError, `cut at ${cut}`);
    }
  }
});

test("values that contain themselves or nest too deep are refused, never walked forever", () => {
  // l = []; l.append(l)
  const recursive = loadPickle(pk("\x80\x04]\x94h\x00a.")).value;
  assert.throws(() => pythonToText(recursive), /contains itself/);
  const deep = pk("\x80\x04", "]".repeat(150), "a".repeat(149), ".");
  assert.throws(() => pythonToText(loadPickle(deep).value), /nested deeper than 100 levels/);
  // A billion laughs: 40 levels of [x, x] is 2^40 values if walked naively.
  let p = "\x80\x04]";
  for (let i = 0; i < 40; i++) {
    const c = String.fromCharCode(i);
    p += `q${c}0h${c}h${c}\x86`;
  }
  p += ".";
  const started = Date.now();
  assert.throws(() => pythonToText(loadPickle(pk(p)).value), /more than 1000000 values/);
  assert.ok(Date.now() - started < 5000);
});

test("a fuzzed decoder throws only PickleError, and what it returns maps or is refused cleanly (property)", () => {
  const seeds = CAPTURED.flatMap((v) =>
    methodConnection(loadCapture(v)).slice(6).filter((f) => f.from === "client").map((f) => f.body)
  );
  const mutated = fc.tuple(
    fc.constantFrom(...seeds),
    fc.array(
      fc.tuple(
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom("set", "insert", "delete"),
      ),
      { minLength: 1, maxLength: 8 },
    ),
  ).map(([seed, edits]) => {
    const bytes = [...seed];
    for (const [at, value, kind] of edits) {
      const i = at % (bytes.length + 1);
      if (kind === "set" && i < bytes.length) bytes[i] = value;
      else if (kind === "insert") bytes.splice(i, 0, value);
      else bytes.splice(i, 1);
    }
    return Uint8Array.from(bytes);
  });
  const random = fc.uint8Array({ maxLength: 200 }).map((b) => pk("\x80\x04", [...b]));
  fc.assert(
    fc.property(fc.oneof(mutated, random), (pickle) => {
      let value: PyValue;
      try {
        value = loadPickle(pickle, { maxItems: 10_000 }).value;
      } catch (error) {
        assert.ok(error instanceof PickleError, String(error));
        return;
      }
      try {
        assert.equal(typeof pythonToText(value), "string");
      } catch (error) {
        assert.ok(error instanceof TaskwireError, String(error));
      }
    }),
    { numRuns: Math.round(3000 * SCALE), seed: SEED },
  );
});

test("loadPickle() needs no bytes beyond its input for text and bytes (surrogatepass, copies)", () => {
  // A lone surrogate as Python writes it (surrogatepass).
  assert.equal(loadPickle(pk("\x80\x04\x8c\x03\xed\xa0\x80.")).value, "\ud800");
  refused(pk("\x80\x04\x8c\x02\xc3\x28."), /not valid UTF-8/);
  const source = pk("\x80\x04C\x02ab.");
  const value = loadPickle(source).value as Uint8Array;
  source[5] = 0x7a;
  assert.deepEqual(value, enc.encode("ab"), "bytes are copied out of the frame");
});
