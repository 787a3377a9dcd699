import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeValue, encodeValue } from "../lib/protocol/codec.ts";
import { ErrorCode, ProtocolError, TaskwireError } from "../lib/protocol/errors.ts";

const utf8 = new TextEncoder();

function roundTrip<T>(value: T): T {
  return decodeValue<T>(encodeValue(value));
}

/** Fails if anything was added to Object.prototype (or Array/Map prototypes). */
function assertPrototypesClean(): void {
  for (const proto of [Object.prototype, Array.prototype, Map.prototype, Function.prototype]) {
    for (const key of ["polluted", "p", "x", "isAdmin"]) {
      assert.equal(Object.hasOwn(proto, key), false, `prototype gained "${key}"`);
    }
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
  assert.equal(typeof Object.prototype.toString, "function");
  assert.equal(({}).constructor, Object);
}

test("encodeValue()/decodeValue() round-trip JSON primitives", () => {
  for (
    const value of [
      null,
      true,
      false,
      0,
      1,
      -1,
      1.5,
      Number.MAX_SAFE_INTEGER,
      Number.MIN_VALUE,
      "",
      "plain",
      'ünïcødé ✓ 🚀 \u0000 \n "quoted"',
      [],
      {},
    ]
  ) {
    assert.deepEqual(roundTrip(value), value);
  }
});

test("encodeValue()/decodeValue() round-trip NaN, Infinity, -Infinity and -0", () => {
  assert.ok(Number.isNaN(roundTrip(NaN)));
  assert.equal(roundTrip(Infinity), Infinity);
  assert.equal(roundTrip(-Infinity), -Infinity);
  assert.ok(Object.is(roundTrip(-0), -0));
  assert.deepEqual(roundTrip({ a: NaN, b: [Infinity, -Infinity, -0] }), {
    a: NaN,
    b: [Infinity, -Infinity, -0],
  });
});

test("encodeValue()/decodeValue() round-trip undefined (top level, in objects, in arrays)", () => {
  assert.equal(roundTrip(undefined), undefined);
  const object = roundTrip({ a: undefined, b: 1 });
  assert.ok(Object.hasOwn(object, "a"));
  assert.deepEqual(object, { a: undefined, b: 1 });
  assert.deepEqual(roundTrip([undefined, 1, undefined]), [undefined, 1, undefined]);
});

test("encodeValue()/decodeValue() round-trip Date, including the epoch and before it", () => {
  for (const date of [new Date(0), new Date("2024-02-29T12:34:56.789Z"), new Date(-1e12)]) {
    const back = roundTrip(date);
    assert.ok(back instanceof Date);
    assert.equal(back.getTime(), date.getTime());
  }
  // superjson sends an invalid Date as JSON does: null (documented in docs/PROTOCOL.md).
  assert.equal(roundTrip(new Date(NaN)), null);
});

test("encodeValue()/decodeValue() round-trip BigInt, including huge and negative ones", () => {
  const huge = 2n ** 4096n + 12345n;
  for (const n of [0n, 1n, -1n, 2n ** 64n, -(2n ** 63n), huge, -huge]) {
    assert.equal(roundTrip(n), n);
  }
  const exact = 123456789012345678901234567890n;
  assert.equal(roundTrip(exact * exact), exact * exact);
});

test("encodeValue()/decodeValue() round-trip Map and Set with rich keys and values", () => {
  const map = new Map<unknown, unknown>([
    ["a", 1],
    [2, "two"],
    [3n, new Date(3)],
    [new Date(4), new Set([1, 2])],
    ["__proto__", { polluted: true }],
    [undefined, null],
  ]);
  assert.deepEqual(roundTrip(map), map);
  const set = new Set<unknown>([1, "1", 1n, new Date(1), undefined, null, /x/g]);
  assert.deepEqual(roundTrip(set), set);
  assert.deepEqual(roundTrip(new Map()), new Map());
  assert.deepEqual(roundTrip(new Set()), new Set());
  assertPrototypesClean();
});

test("encodeValue()/decodeValue() round-trip RegExp with flags", () => {
  for (
    const re of [
      /a+b/,
      /^x.*$/gimsuy,
      new RegExp("\\/slash\\/", "g"),
      new RegExp("[\\p{L}\\u00e9]+", "u"),
    ]
  ) {
    const back = roundTrip(re);
    assert.ok(back instanceof RegExp);
    assert.equal(back.source, re.source);
    assert.equal(back.flags, re.flags);
  }
});

test("encodeValue()/decodeValue() round-trip deeply nested mixed structures", () => {
  const value = {
    when: new Date(1_700_000_000_000),
    big: 10n ** 30n,
    tags: new Set(["a", "b"]),
    index: new Map<string, unknown>([["x", { at: new Date(5), n: [1n, 2n] }]]),
    nothing: undefined,
    pattern: /^job-\d+$/i,
    list: [{ deep: [[[new Map([[1, new Set([undefined])]])]]] }],
    nums: [NaN, -0, Infinity],
  };
  assert.deepEqual(roundTrip(value), value);
  let nested: unknown = 1n;
  for (let i = 0; i < 150; i++) nested = { next: nested, at: i };
  assert.deepEqual(roundTrip(nested), nested);
});

test("encodeValue()/decodeValue() keep shared references as equal values", () => {
  const shared = { n: 1 };
  const back = roundTrip({ a: shared, b: shared });
  assert.deepEqual(back, { a: { n: 1 }, b: { n: 1 } });
});

test("encodeValue()/decodeValue() round-trip arbitrary rich values (property)", () => {
  const { tree } = fc.letrec((tie) => ({
    leaf: fc.oneof(
      fc.constant(null),
      fc.constant(undefined),
      fc.boolean(),
      fc.double(),
      fc.string(),
      fc.bigInt(),
      fc.date({ noInvalidDate: true }),
      fc.constantFrom(/a/, /b+c/gi, /^\d$/m),
    ),
    tree: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      tie("leaf"),
      fc.array(tie("tree"), { maxLength: 4 }),
      fc.dictionary(
        fc.string().filter((k) => !["__proto__", "constructor", "prototype"].includes(k)),
        tie("tree"),
        { maxKeys: 4, noNullPrototype: true },
      ),
      fc.array(tie("leaf"), { maxLength: 4 }).map((items) => new Set(items)),
      fc.array(fc.tuple(tie("leaf"), tie("tree")), { maxLength: 4 }).map((e) => new Map(e)),
    ),
  }));
  fc.assert(
    fc.property(tree, (value) => {
      assert.deepEqual(roundTrip(value), value);
    }),
    { numRuns: 300 },
  );
});

test("encodeValue() refuses functions, symbols and class instances with bad_argument", () => {
  class Point {
    x = 1;
  }
  const cases: [unknown, RegExp][] = [
    [() => 1, /Cannot encode value: a function cannot be sent/],
    [Symbol("s"), /Cannot encode value: a symbol cannot be sent/],
    [{ a: [1, { f() {} }] }, /Cannot encode value\.a\[1\]\.f: a function/],
    [new Point(), /Cannot encode value: instances of Point are not supported/],
    [{ p: new Point() }, /Cannot encode value\.p: instances of Point/],
    [new Map([["k", () => 1]]), /Cannot encode value\.get\(k\): a function/],
    [new Set([Symbol("x")]), /Cannot encode value\[0\]: a symbol/],
    [new Uint8Array(2), /instances of Uint8Array are not supported/],
    [new URL("http://example.com/"), /instances of URL are not supported/],
    [Promise.resolve(1), /instances of Promise are not supported/],
  ];
  for (const [value, pattern] of cases) {
    assert.throws(
      () => encodeValue(value),
      (error: unknown) =>
        error instanceof TaskwireError && !(error instanceof ProtocolError) &&
        error.code === ErrorCode.BadArgument && pattern.test(error.message),
      String(pattern),
    );
  }
});

test("encodeValue() refuses circular structures with bad_argument", () => {
  const loop: Record<string, unknown> = {};
  loop.self = loop;
  assert.throws(
    () => encodeValue(loop),
    (error: unknown) =>
      error instanceof TaskwireError && error.code === ErrorCode.BadArgument &&
      /nested deeper than 200 levels \(or circular\)/.test(error.message),
  );
});

test("encodeValue() refuses __proto__, constructor and prototype keys without polluting", () => {
  const values: unknown[] = [
    JSON.parse('{"__proto__":{"polluted":true}}'),
    { constructor: { prototype: { polluted: true } } },
    { prototype: { polluted: true } },
    { nested: [JSON.parse('{"__proto__":{"isAdmin":true}}')] },
    new Map([["k", { constructor: 1 }]]),
  ];
  for (const value of values) {
    assert.throws(
      () => encodeValue(value),
      (error: unknown) =>
        error instanceof TaskwireError && error.code === ErrorCode.BadArgument &&
        /property "(__proto__|constructor|prototype)" is not allowed/.test(error.message),
    );
    assertPrototypesClean();
  }
  // An object whose prototype is null travels as plain data.
  const bare = Object.assign(Object.create(null), { a: 1 });
  assert.deepEqual({ ...roundTrip(bare) }, { a: 1 });
});

test("decodeValue() of hand-crafted __proto__/constructor/prototype bytes cannot pollute", () => {
  const attacks = [
    '{"json":{"__proto__":{"polluted":true}}}',
    '{"json":{"__proto__":{"polluted":"x"}},"meta":{"values":{"__proto__.polluted":["undefined"]}}}',
    '{"json":{"a":{"__proto__":{"isAdmin":true}}},"meta":{"values":{"a.__proto__.isAdmin":["bigint"]}}}',
    '{"json":{"constructor":{"prototype":{"polluted":"x"}}},"meta":{"values":{"constructor.prototype.polluted":["Date"]}}}',
    '{"json":{"p":1},"meta":{"referentialEqualities":{"p":["__proto__"]}}}',
    '{"json":{"a":{"p":1}},"meta":{"referentialEqualities":{"a":["constructor.prototype"]}}}',
    '{"json":{"a":"2020-01-01"},"meta":{"values":{"a":["Date"],"__proto__":["map"]}}}',
    '{"json":[["__proto__",{"polluted":1}]],"meta":{"values":["map"]}}',
    '{"json":{"x":[]},"meta":{"values":{"x":["set"],"x.__proto__":["Date"]}}}',
    '{"json":[],"__proto__":{"polluted":1}}',
  ];
  for (const text of attacks) {
    let result: unknown;
    try {
      result = decodeValue(utf8.encode(text));
    } catch (error) {
      assert.ok(error instanceof ProtocolError, `${text}: ${error}`);
      assert.equal(error.code, ErrorCode.BadMessage);
      result = undefined;
    }
    assertPrototypesClean();
    if (result !== null && typeof result === "object" && !(result instanceof Map)) {
      // Whatever came back is ordinary data with an ordinary prototype.
      const proto = Object.getPrototypeOf(result);
      assert.ok(proto === Object.prototype || proto === Array.prototype, text);
      assert.equal((result as Record<string, unknown>).polluted, undefined, text);
      assert.equal((result as Record<string, unknown>).isAdmin, undefined, text);
    }
  }
});

test("decodeValue() never runs code: unknown or class annotations are refused", () => {
  const attacks = [
    '{"json":{},"meta":{"values":[["class","Function"]]}}',
    '{"json":"return 1","meta":{"values":[["custom","Function"]]}}',
    '{"json":"x","meta":{"values":["Function"]}}',
    '{"json":"s","meta":{"values":[["symbol","s"]]}}',
    '{"json":"abc","meta":{"values":["bigint"]}}',
    '{"json":"/[/","meta":{"values":["regexp"]}}',
  ];
  for (const text of attacks) {
    assert.throws(
      () => decodeValue(utf8.encode(text)),
      (error: unknown) =>
        error instanceof ProtocolError && error.code === ErrorCode.BadMessage &&
        error.message === "Cannot decode payload: invalid superjson",
      text,
    );
  }
  assertPrototypesClean();
});

test("decodeValue() turns garbage bytes into a ProtocolError", () => {
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(0), /not UTF-8 JSON/],
    [Uint8Array.from([0xff, 0xfe, 0x00]), /not UTF-8 JSON/],
    [utf8.encode("{"), /not UTF-8 JSON/],
    [utf8.encode("GET / HTTP/1.1\r\n"), /not UTF-8 JSON/],
    [utf8.encode("null"), /not a superjson object with a "json" field/],
    [utf8.encode("[1,2]"), /not a superjson object/],
    [utf8.encode("42"), /not a superjson object/],
    [utf8.encode('{"meta":{}}'), /not a superjson object/],
    [utf8.encode('{"json":1,"meta":{"values":["nonsense"]}}'), /invalid superjson/],
  ];
  for (const [bytes, pattern] of cases) {
    assert.throws(
      () => decodeValue(bytes),
      (error: unknown) =>
        error instanceof ProtocolError && error.code === ErrorCode.BadMessage &&
        pattern.test(error.message),
      new TextDecoder().decode(bytes),
    );
  }
  for (let seed = 1; seed <= 200; seed++) {
    const bytes = Uint8Array.from({ length: seed % 40 }, (_, i) => (seed * 131 + i * 17) & 0xff);
    try {
      decodeValue(bytes);
    } catch (error) {
      assert.ok(error instanceof ProtocolError, `seed ${seed}: ${error}`);
    }
  }
});

test("encodeValue() output is UTF-8 superjson text (documented wire form)", () => {
  const text = new TextDecoder().decode(encodeValue({ at: new Date(0), n: 5n, u: undefined }));
  assert.deepEqual(JSON.parse(text), {
    json: { at: "1970-01-01T00:00:00.000Z", n: "5", u: null },
    meta: { values: { at: ["Date"], n: ["bigint"], u: ["undefined"] }, v: 1 },
  });
  assert.equal(new TextDecoder().decode(encodeValue(12)), '{"json":12}');
});
