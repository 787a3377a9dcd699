/**
 * The value mapping between Python and superjson, both ways: the table in
 * lib/python/values.ts, its lossy corners, and its refusals.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import superjson from "superjson";
import { decodeText, encodeText } from "../lib/protocol/codec.ts";
import { PyDict, PySet, PyTuple, type PyValue } from "../lib/python/pickle.ts";
import { pythonToText, textToPython, ValueMappingError } from "../lib/python/values.ts";

const T = (...items: PyValue[]) => new PyTuple(items);
const D = (...entries: [PyValue, PyValue][]) => new PyDict(entries);
/** Python value → what a Node or Deno client decodes. */
const toJs = (value: PyValue) => decodeText(pythonToText(value));
/** What a Node or Deno client put → the Python value. */
const toPy = (value: unknown) => textToPython(encodeText(value));
const MAX = BigInt(Number.MAX_SAFE_INTEGER);

test("Python ints become numbers up to 2^53-1 and bigints beyond, and come back as ints", () => {
  assert.equal(toJs(12n), 12);
  assert.equal(toJs(MAX), Number.MAX_SAFE_INTEGER);
  assert.equal(toJs(-MAX), -Number.MAX_SAFE_INTEGER);
  assert.equal(toJs(MAX + 1n), MAX + 1n);
  assert.equal(toJs(-MAX - 1n), -MAX - 1n);
  assert.equal(toJs(10n ** 40n), 10n ** 40n);
  assert.equal(pythonToText(7n), '{"json":7}');
  for (const n of [0n, 12n, MAX, MAX + 1n, -(10n ** 40n)]) {
    assert.equal(textToPython(pythonToText(n)), n);
  }
  // A Node producer's numbers and bigints: safe integers and every bigint are ints.
  assert.equal(toPy(5), 5n);
  assert.equal(toPy(5n), 5n);
  assert.equal(toPy(2n ** 80n), 2n ** 80n);
});

test("floats stay numbers; a whole float in the safe range comes back as an int (lossy)", () => {
  assert.equal(toJs(1.5), 1.5);
  assert.ok(Object.is(toJs(-0), -0));
  assert.ok(Number.isNaN(toJs(NaN) as number));
  assert.equal(toJs(-Infinity), -Infinity);
  assert.equal(toPy(1.5), 1.5);
  assert.ok(Object.is(toPy(-0), -0), "-0 is a float");
  assert.equal(toPy(2 ** 60), 2 ** 60, "beyond 2^53 a number is a float");
  assert.equal(toPy(Infinity), Infinity);
  assert.equal(textToPython(pythonToText(3.0)), 3n, "3.0 → 3 → int 3");
});

test("str, bytes, bool and None cross unchanged", () => {
  for (const v of ["", "h\u00e9\u4e2d\u{1f600}", true, false, null]) assert.deepEqual(toJs(v), v);
  assert.deepEqual(toJs(Uint8Array.of(0, 255)), Uint8Array.of(0, 255));
  assert.deepEqual(textToPython(pythonToText(Uint8Array.of(1, 2))), Uint8Array.of(1, 2));
  assert.equal(toPy(undefined), null, "undefined becomes None (lossy)");
  // (taskwire's codec does not send Uint8Array itself; a superjson client can.)
  const bytes = JSON.stringify(superjson.serialize({ b: Uint8Array.of(9) }));
  assert.deepEqual(textToPython(bytes), D(["b", Uint8Array.of(9)]));
});

test("lists and tuples become arrays; arrays come back as lists (tuples are lossy)", () => {
  assert.deepEqual(toJs([1n, "a", [2n]]), [1, "a", [2]]);
  assert.deepEqual(toJs(T(1n, T(2n, 3n))), [1, [2, 3]]);
  assert.deepEqual(toPy([1, [2, "x"]]), [1n, [2n, "x"]]);
});

test("dicts with str keys become objects; other keys make a Map, tuple keys arrays", () => {
  assert.deepEqual(toJs(D(["a", 1n], ["b", D()])), { a: 1, b: {} });
  const map = toJs(D([1n, "x"], [T(2n, 3n), null])) as Map<unknown, unknown>;
  assert.ok(map instanceof Map);
  assert.deepEqual([...map], [[1, "x"], [[2, 3], null]]);
  // Keys that would reach a prototype make a Map too (never an object with a __proto__ key).
  const proto = toJs(D(["__proto__", 1n], ["constructor", 2n])) as Map<unknown, unknown>;
  assert.ok(proto instanceof Map);
  assert.equal(proto.get("__proto__"), 1);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  // Back: a Map's array keys become tuples, Set keys frozensets.
  assert.deepEqual(
    toPy(new Map<unknown, unknown>([[1, "x"], [[2, 3], null], [new Set([4]), true]])),
    D([1n, "x"], [T(2n, 3n), null], [new PySet([4n], true), true]),
  );
  assert.deepEqual(toPy({ a: 1, b: [true] }), D(["a", 1n], ["b", [true]]));
});

test("sets become Sets (frozenset lossy) and come back as sets", () => {
  assert.deepEqual(toJs(new PySet([1n, "a"], false)), new Set([1, "a"]));
  assert.deepEqual(toJs(new PySet([T(1n, 2n)], true)), new Set([[1, 2]]));
  assert.deepEqual(toPy(new Set([1, [2, 3]])), new PySet([1n, T(2n, 3n)], false));
});

test("what has no Python counterpart is refused, saying where", () => {
  const cases: [unknown, RegExp][] = [
    [new Date(0), /value has no Python counterpart \(it is a Date\)/],
    [{ at: /x/ }, /value\.at has no Python counterpart \(it is a RegExp\)/],
    [[new Error("e")], /value\[0\] has no Python counterpart \(it is a Error\)/],
    [new Map([[{ a: 1 }, 1]]), /unhashable in Python/],
    [new Set([{ a: 1 }]), /unhashable in Python/],
  ];
  for (const [value, pattern] of cases) {
    assert.throws(() => textToPython(encodeText(value)), (e: unknown) => {
      assert.ok(e instanceof ValueMappingError);
      assert.match(e.message, pattern);
      return true;
    });
  }
  // A Uint16Array is superjson, but not a Python value.
  const typed = '{"json":[1],"meta":{"values":[["typed-array","Uint16Array"]],"v":1}}';
  assert.throws(() => textToPython(typed), /it is a Uint16Array/);
});

test("Python values that cannot exist in Python or nest too deep are refused before storing", () => {
  assert.throws(() => pythonToText(D([[1n], 2n])), /is a list, which is unhashable/);
  assert.throws(() => pythonToText(new PySet([D()], false)), /is a dict, which is unhashable/);
  let deep: PyValue = 1n;
  for (let i = 0; i < 101; i++) deep = [deep];
  assert.throws(() => pythonToText(deep), /nested deeper than 100 levels/);
  let ok: PyValue = 1n;
  for (let i = 0; i < 99; i++) ok = [ok];
  assert.equal(typeof pythonToText(ok), "string");
});
