import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ExtensionOffer, formatExtensions, parseExtensions } from "../../lib/handshake/extension_header.ts";

type Params = ExtensionOffer["params"];
const pmd = (...params: Params): ExtensionOffer => ({ name: "permessage-deflate", params });

/** Realistic values: what browsers, libraries and test suites put in Sec-WebSocket-Extensions. */
const REALISTIC: { name: string; value: string; expected: ExtensionOffer[] }[] = [
  {
    name: "Chrome, ws, python-websockets and Bun offer",
    value: "permessage-deflate; client_max_window_bits",
    expected: [pmd(["client_max_window_bits", null])],
  },
  { name: "Firefox and Safari offer", value: "permessage-deflate", expected: [pmd()] },
  {
    name: "autobahn: several offers joined with a bare comma",
    value: "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=10," +
      "permessage-deflate; client_no_context_takeover; client_max_window_bits",
    expected: [
      pmd(["client_no_context_takeover", null], ["client_max_window_bits", null], ["server_max_window_bits", "10"]),
      pmd(["client_no_context_takeover", null], ["client_max_window_bits", null]),
    ],
  },
  {
    name: "Bun's answer",
    value: "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
    expected: [pmd(["client_no_context_takeover", null], ["server_no_context_takeover", null])],
  },
  {
    name: "python-websockets' answer",
    value: "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
    expected: [pmd(["server_max_window_bits", "12"], ["client_max_window_bits", "12"])],
  },
  {
    name: "RFC 6455 §9.1: two header lines joined with \", \"",
    value: "foo, bar; baz=2",
    expected: [{ name: "foo", params: [] }, { name: "bar", params: [["baz", "2"]] }],
  },
  {
    name: "two header lines (Headers.get joins them with \", \")",
    value: "permessage-deflate; client_max_window_bits=10, permessage-deflate",
    expected: [pmd(["client_max_window_bits", "10"]), pmd()],
  },
  {
    name: "RFC 6455 §9.1 example",
    value: "mux; max-channels=4; flow-control, deflate-stream",
    expected: [
      { name: "mux", params: [["max-channels", "4"], ["flow-control", null]] },
      { name: "deflate-stream", params: [] },
    ],
  },
  {
    name: "RFC 7692 §5.2: a quoted value",
    value: 'permessage-foo; x="10"',
    expected: [{ name: "permessage-foo", params: [["x", "10"]] }],
  },
  {
    name: "RFC 7692 §5.2: the same extension twice, with and without a parameter",
    value: "permessage-foo; use_y, permessage-foo",
    expected: [{ name: "permessage-foo", params: [["use_y", null]] }, { name: "permessage-foo", params: [] }],
  },
  {
    name: "RFC 7692 §7.1.3: quoted server_max_window_bits",
    value: 'permessage-deflate; client_max_window_bits; server_max_window_bits="10"',
    expected: [pmd(["client_max_window_bits", null], ["server_max_window_bits", "10"])],
  },
  {
    name: "spaces and tabs around ; and =",
    value: " \tpermessage-deflate \t; \tclient_max_window_bits \t= \t10 ;server_no_context_takeover\t ",
    expected: [pmd(["client_max_window_bits", "10"], ["server_no_context_takeover", null])],
  },
  {
    name: "spaces around a quoted value",
    value: 'permessage-deflate; server_max_window_bits = "10" , x',
    expected: [pmd(["server_max_window_bits", "10"]), { name: "x", params: [] }],
  },
];

/** Synthetic values: the grammar's corners. */
const SYNTHETIC: { name: string; value: string; expected: ExtensionOffer[] }[] = [
  {
    name: "unknown extensions kept in order, with their parameters",
    value: "x-webkit-deflate-frame; no_context_takeover, permessage-deflate, x-foo; a=1; b; a=2",
    expected: [
      { name: "x-webkit-deflate-frame", params: [["no_context_takeover", null]] },
      pmd(),
      { name: "x-foo", params: [["a", "1"], ["b", null], ["a", "2"]] },
    ],
  },
  {
    name: "the name as sent (compared case-insensitively later)",
    value: "PerMessage-Deflate; Client_Max_Window_Bits",
    expected: [{ name: "PerMessage-Deflate", params: [["Client_Max_Window_Bits", null]] }],
  },
  {
    name: "empty list elements skipped (RFC 7230 §7)",
    value: ", permessage-deflate ,, \t, x ,",
    expected: [pmd(), { name: "x", params: [] }],
  },
  {
    name: "a quoted-pair unescaped",
    value: 'x; y="1\\0"',
    expected: [{ name: "x", params: [["y", "10"]] }],
  },
  {
    name: "every tchar in names and values",
    value: "!#$%&'*+-.^_`|~09AZaz; !#$%&'*+-.^_`|~09AZaz=!#$%&'*+-.^_`|~09AZaz",
    expected: [{
      name: "!#$%&'*+-.^_`|~09AZaz",
      params: [["!#$%&'*+-.^_`|~09AZaz", "!#$%&'*+-.^_`|~09AZaz"]],
    }],
  },
];

/** Values that do not conform to §9.1's grammar: each a SyntaxError ("MUST immediately _Fail_"). */
const PATHOLOGICAL: { name: string; value: string }[] = [
  { name: "a trailing ;", value: "permessage-deflate;" },
  { name: "a trailing ; and space", value: "permessage-deflate; " },
  { name: "no extension name", value: ";x" },
  { name: "a parameter in place of the name", value: "a=b" },
  { name: "a quoted value that is not a token", value: 'x; y="1 0"' },
  { name: "an empty quoted value", value: 'x; y=""' },
  { name: "an unterminated quoted string", value: 'x; y="10' },
  { name: "an unterminated quoted string ending in a backslash", value: 'x; y="10\\' },
  { name: "a quoted value with an escaped quote (not a token)", value: 'x; y="a\\"b"' },
  { name: "two tokens with no separator", value: "x y" },
  { name: "an empty parameter", value: "x;;y" },
  { name: "= with no value", value: "x; y=" },
  { name: "= with no name", value: "x; =1" },
  { name: "two values", value: "x; y=1 2" },
  { name: "a quote after a token value", value: 'x; y=1"2"' },
  { name: "a quoted name", value: '"x"' },
  { name: "a NUL", value: "permessage-deflate\u0000" },
  { name: "a bare LF (an unfolded header)", value: "permessage-deflate;\nclient_max_window_bits" },
  { name: "CR LF", value: "permessage-deflate\r\n" },
  { name: "a control character in a quoted value", value: 'x; y="\u00011"' },
  { name: "DEL", value: "permessage-deflate\u007f" },
  { name: "a non-ASCII name", value: "përmessage-deflate" },
  { name: "an empty value", value: "" },
  { name: "only spaces", value: "  \t " },
  { name: "only a comma", value: "," },
  { name: "only empty elements", value: " , ,\t," },
];

describe("RFC 6455 §9.1 grammar: parseExtensions", () => {
  for (const { name, value, expected } of [...REALISTIC, ...SYNTHETIC]) {
    test(`parseExtensions reads ${name}`, () => {
      assert.deepEqual(parseExtensions(value), expected);
    });
  }

  for (const { name, value } of PATHOLOGICAL) {
    test(`parseExtensions rejects ${name} with a SyntaxError`, () => {
      assert.throws(() => parseExtensions(value), {
        name: "SyntaxError",
        message: /^Cannot parse Sec-WebSocket-Extensions: .+ at offset \d+: /,
      });
    });
  }

  test("parseExtensions names what it expected and where", () => {
    assert.throws(() => parseExtensions("permessage-deflate;"), {
      name: "SyntaxError",
      message: "Cannot parse Sec-WebSocket-Extensions: expected a parameter name at offset 19: permessage-deflate;",
    });
    assert.throws(() => parseExtensions('x; y="1 0"'), {
      name: "SyntaxError",
      message: /quoted value "1 0" is not a token at offset 10/,
    });
    assert.throws(() => parseExtensions("x y"), { name: "SyntaxError", message: /expected , or ; at offset 2/ });
  });

  test("parseExtensions rejects 100 KiB of commas quickly", () => {
    const value = ",".repeat(100 * 1024);
    const start = performance.now();
    assert.throws(() => parseExtensions(value), { name: "SyntaxError", message: /expected an extension/ });
    const elapsed = performance.now() - start;
    assert.ok(elapsed < 500, `took ${elapsed.toFixed(1)} ms`);
  });

  test("parseExtensions reads 100 KiB of commas around one extension, and large values, in linear time", () => {
    const commas = ",".repeat(50 * 1024);
    const inputs: [string, (result: ExtensionOffer[]) => void][] = [
      [`${commas}permessage-deflate${commas}`, (r) => assert.deepEqual(r, [pmd()])],
      ["x" + "; a".repeat(20_000), (r) => assert.equal(r[0].params.length, 20_000)],
      ["x, ".repeat(30_000) + "x", (r) => assert.equal(r.length, 30_001)],
      [`x; y="${"a".repeat(100 * 1024)}"`, (r) => assert.equal(r[0].params[0][1]?.length, 100 * 1024)],
    ];
    for (const [value, check] of inputs) {
      const start = performance.now();
      check(parseExtensions(value));
      const elapsed = performance.now() - start;
      assert.ok(elapsed < 500, `${value.slice(0, 20)}...: took ${elapsed.toFixed(1)} ms`);
    }
  });
});

describe("formatExtensions", () => {
  test("formatExtensions writes parameters after \"; \" and extensions after \", \"", () => {
    assert.equal(
      formatExtensions([
        pmd(["server_no_context_takeover", null], ["server_max_window_bits", "10"]),
        { name: "x", params: [] },
      ]),
      "permessage-deflate; server_no_context_takeover; server_max_window_bits=10, x",
    );
    assert.equal(formatExtensions([]), "");
  });

  const bad: [string, ExtensionOffer][] = [
    ["a name with a space", { name: "permessage deflate", params: [] }],
    ["an empty name", { name: "", params: [] }],
    ["a parameter with a =", { name: "x", params: [["a=b", null]] }],
    ["a value with a space", { name: "x", params: [["a", "1 0"]] }],
    ["an empty value", { name: "x", params: [["a", ""]] }],
    ["a value with a quote", { name: "x", params: [["a", '"10"']] }],
    ["a value with a CR LF", { name: "x", params: [["a", "1\r\nX-Injected: 1"]] }],
  ];
  for (const [name, extension] of bad) {
    test(`formatExtensions refuses ${name} with a TypeError`, () => {
      assert.throws(() => formatExtensions([extension]), { name: "TypeError", message: /^Cannot format extension: / });
    });
  }
});

describe("round trips", () => {
  const CANONICAL = [
    "permessage-deflate",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; " +
    "client_max_window_bits=8",
    "permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate; client_max_window_bits",
    "mux; max-channels=4; flow-control, deflate-stream",
    "x-foo; a=1; a=2; b, permessage-deflate",
  ];
  for (const value of CANONICAL) {
    test(`formatExtensions(parseExtensions(s)) === s for "${value}"`, () => {
      assert.equal(formatExtensions(parseExtensions(value)), value);
    });
  }

  test("parseExtensions(formatExtensions(x)) deep-equals x for every parsed value", () => {
    for (const { value, expected } of [...REALISTIC, ...SYNTHETIC]) {
      assert.deepEqual(parseExtensions(formatExtensions(expected)), expected, value);
    }
  });

  test("formatExtensions drops the quotes and spaces of a non-canonical value", () => {
    assert.equal(
      formatExtensions(parseExtensions(' permessage-deflate ;server_max_window_bits = "10",x')),
      "permessage-deflate; server_max_window_bits=10, x",
    );
  });
});
