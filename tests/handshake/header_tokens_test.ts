import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { hasToken, isToken, parseTokenList } from "../../lib/handshake/header_tokens.ts";

describe("RFC 7230 §3.2.6: isToken", () => {
  const TOKENS = [
    "chat",
    "superchat",
    "chat.v2",
    "v12.stomp",
    "graphql-transport-ws",
    "wamp.2.json",
    "mqtt",
    "Upgrade",
    "keep-alive",
    "!#$%&'*+-.^_`|~",
    "0",
    "A1z",
  ];
  for (const value of TOKENS) {
    test(`isToken accepts ${JSON.stringify(value)}`, () => assert.equal(isToken(value), true));
  }
  const NOT_TOKENS = [
    "",
    " ",
    "a b",
    "chat;q=1",
    "chat=v2",
    '"chat"',
    "chat/1",
    "(chat)",
    "a,b",
    "a@b",
    "{json}",
    "[x]",
    "a:b",
    "a\\b",
    "a?b",
    "café",
    "chat\t",
    "\u00a0chat",
    "a\u0000b",
    "a\u007fb",
    "чат",
  ];
  for (const value of NOT_TOKENS) {
    test(`isToken rejects ${JSON.stringify(value)}`, () => assert.equal(isToken(value), false));
  }
});

describe("RFC 7230 §7: parseTokenList", () => {
  const CASES: { name: string; value: string | null; expected: string[] | undefined }[] = [
    // Realistic: Connection, Upgrade and Sec-WebSocket-Protocol values as sent by real peers.
    { name: "no header", value: null, expected: [] },
    { name: "Chrome's Connection", value: "Upgrade", expected: ["Upgrade"] },
    { name: "Firefox's Connection", value: "keep-alive, Upgrade", expected: ["keep-alive", "Upgrade"] },
    { name: "lowercase upgrade (python-websockets, ws)", value: "upgrade", expected: ["upgrade"] },
    { name: "subprotocols", value: "chat, superchat", expected: ["chat", "superchat"] },
    {
      name: "STOMP versions",
      value: "v10.stomp, v11.stomp, v12.stomp",
      expected: ["v10.stomp", "v11.stomp", "v12.stomp"],
    },
    { name: "WAMP", value: "wamp.2.json, wamp.2.msgpack", expected: ["wamp.2.json", "wamp.2.msgpack"] },
    {
      name: "two header lines joined by Headers.get",
      value: "chat, superchat, other",
      expected: ["chat", "superchat", "other"],
    },
    { name: "Upgrade: h2c, websocket", value: "h2c, websocket", expected: ["h2c", "websocket"] },
    // Synthetic: optional whitespace and empty elements (§7: "a recipient MUST accept ... empty list elements").
    { name: "surrounding spaces and a trailing comma", value: "  Upgrade  ,", expected: ["Upgrade"] },
    { name: "no space after the comma", value: "a,b", expected: ["a", "b"] },
    { name: "tabs as OWS", value: "\ta\t,\tb\t", expected: ["a", "b"] },
    { name: "empty elements everywhere", value: ",, a ,, ,b,,", expected: ["a", "b"] },
    { name: "empty string", value: "", expected: [] },
    { name: "only commas and spaces", value: " , ,, ", expected: [] },
    { name: "case is kept", value: "Chat, CHAT", expected: ["Chat", "CHAT"] },
    { name: "duplicates are kept", value: "a, a", expected: ["a", "a"] },
    // Pathological: elements that are not tokens make the whole list invalid.
    { name: "space inside an element", value: "chat v2", expected: undefined },
    { name: "one bad element among good ones", value: "chat, super chat", expected: undefined },
    { name: "parameters (not allowed in a token list)", value: "chat;q=1", expected: undefined },
    { name: "quoted string", value: '"chat"', expected: undefined },
    { name: "slash (the Upgrade product/version form)", value: "websocket/13", expected: undefined },
    { name: "semicolon separator", value: "a; b", expected: undefined },
    { name: "non-ASCII", value: "chat, café", expected: undefined },
    { name: "a no-break space is not OWS", value: "\u00a0chat", expected: undefined },
    { name: "a vertical tab is not OWS", value: "chat,\u000bsuperchat", expected: undefined },
    { name: "a form feed is not OWS", value: "chat\u000c", expected: undefined },
  ];
  for (const { name, value, expected } of CASES) {
    test(`parseTokenList of ${JSON.stringify(value)} (${name}) is ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(parseTokenList(value), expected);
    });
  }

  test('parseTokenList round-trips a list joined with ", "', () => {
    const list = ["chat", "superchat", "v12.stomp", "graphql-ws"];
    assert.deepEqual(parseTokenList(list.join(", ")), list);
    assert.deepEqual(parseTokenList(list.join(",")), list);
  });
});

describe("RFC 6455 §4.2.1 (3), (4): hasToken", () => {
  const CASES: { name: string; value: string | null; token: string; expected: boolean }[] = [
    // Realistic Connection values.
    { name: "Chrome", value: "Upgrade", token: "upgrade", expected: true },
    { name: "Firefox", value: "keep-alive, Upgrade", token: "upgrade", expected: true },
    { name: "lowercase", value: "upgrade", token: "upgrade", expected: true },
    { name: "uppercase", value: "UPGRADE", token: "upgrade", expected: true },
    { name: "HTTP/2 cleartext upgrade", value: "Upgrade, HTTP2-Settings", token: "upgrade", expected: true },
    { name: "Upgrade header", value: "websocket", token: "websocket", expected: true },
    { name: "Upgrade header, mixed case", value: "WebSocket", token: "websocket", expected: true },
    {
      name: "Upgrade header with two protocols",
      value: "h2c, websocket",
      token: "websocket",
      expected: true,
    },
    // Synthetic: whitespace and empty elements.
    { name: "spaces and a trailing comma", value: "  Upgrade  ,", token: "upgrade", expected: true },
    { name: "empty elements", value: ",,keep-alive,,Upgrade,,", token: "upgrade", expected: true },
    { name: "tabs", value: "keep-alive,\tUpgrade\t", token: "upgrade", expected: true },
    // Absent.
    { name: "no header", value: null, token: "upgrade", expected: false },
    { name: "empty header", value: "", token: "upgrade", expected: false },
    { name: "keep-alive only", value: "keep-alive", token: "upgrade", expected: false },
    { name: "close", value: "close", token: "upgrade", expected: false },
    // Pathological: near misses are not the token.
    { name: "prefix of a longer token", value: "Upgraded", token: "upgrade", expected: false },
    { name: "hyphenated neighbour", value: "upgrade-insecure-requests", token: "upgrade", expected: false },
    { name: "space inside", value: "Up grade", token: "upgrade", expected: false },
    { name: "semicolon-separated", value: "keep-alive; Upgrade", token: "upgrade", expected: false },
    { name: "product/version form", value: "websocket/13", token: "websocket", expected: false },
    { name: "plural", value: "websockets", token: "websocket", expected: false },
    { name: "quoted", value: '"websocket"', token: "websocket", expected: false },
    {
      name: "a no-break space is not OWS",
      value: "keep-alive,\u00a0Upgrade",
      token: "upgrade",
      expected: false,
    },
  ];
  for (const { name, value, token, expected } of CASES) {
    test(`hasToken(${JSON.stringify(value)}, "${token}") is ${expected} (${name})`, () => {
      assert.equal(hasToken(value, token), expected);
    });
  }
});
