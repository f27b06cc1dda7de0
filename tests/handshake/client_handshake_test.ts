import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { ClientHandshake, type ClientHandshakeOptions, parseWebSocketUrl } from "../../lib/handshake/client_handshake.ts";
import type { DeflateParameters } from "../../lib/deflate/negotiation.ts";
import { PerMessageDeflate } from "../../lib/deflate/permessage_deflate.ts";

/** The accept value computed independently of lib/handshake/accept_key.ts. */
function referenceAccept(key: string): string {
  return createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
}

/** A correct 101 answer to `handshake`, with headers added, replaced or (value `null`) removed. */
function answer(handshake: ClientHandshake, changes: Record<string, string | null> = {}): Headers {
  const headers = new Headers({
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Accept": referenceAccept(handshake.key),
  });
  for (const [name, value] of Object.entries(changes)) {
    if (value === null) headers.delete(name);
    else headers.set(name, value);
  }
  return headers;
}

/** Asserts that `promise` rejects with an Error whose message names the URL and matches `cause`. */
async function assertFails(promise: Promise<unknown>, url: string, cause: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof Error, `expected an Error, got ${String(error)}`);
    assert.ok(
      error.message.startsWith(`Cannot connect to ${url}: `),
      `message names the URL: ${error.message}`,
    );
    assert.match(error.message, cause);
    return true;
  });
}

const DEFAULT_PARAMETERS: DeflateParameters = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

describe("RFC 6455 §3, WHATWG WebSocket: ClientHandshake parses the URL", () => {
  const GOOD: { input: string; href: string; host: string; target: string }[] = [
    { input: "ws://example.com/chat", href: "ws://example.com/chat", host: "example.com", target: "/chat" },
    {
      input: "wss://example.com/chat?room=1&x=%20",
      href: "wss://example.com/chat?room=1&x=%20",
      host: "example.com",
      target: "/chat?room=1&x=%20",
    },
    { input: "ws://example.com", href: "ws://example.com/", host: "example.com", target: "/" },
    // §4.1: the Host port is omitted when it is the default port.
    { input: "ws://example.com:80/", href: "ws://example.com/", host: "example.com", target: "/" },
    { input: "wss://example.com:443/", href: "wss://example.com/", host: "example.com", target: "/" },
    { input: "ws://example.com:443/", href: "ws://example.com:443/", host: "example.com:443", target: "/" },
    {
      input: "ws://127.0.0.1:8080/ws",
      href: "ws://127.0.0.1:8080/ws",
      host: "127.0.0.1:8080",
      target: "/ws",
    },
    { input: "ws://[::1]:8080/", href: "ws://[::1]:8080/", host: "[::1]:8080", target: "/" },
    { input: "wss://[2001:db8::1]/x", href: "wss://[2001:db8::1]/x", host: "[2001:db8::1]", target: "/x" },
    { input: "WS://Example.COM/Chat", href: "ws://example.com/Chat", host: "example.com", target: "/Chat" },
    // WHATWG: "If urlRecord's scheme is "http", then set urlRecord's scheme to "ws"" (and https to wss).
    { input: "http://example.com/chat", href: "ws://example.com/chat", host: "example.com", target: "/chat" },
    {
      input: "https://example.com/chat",
      href: "wss://example.com/chat",
      host: "example.com",
      target: "/chat",
    },
    {
      input: "http://localhost:3000/ws",
      href: "ws://localhost:3000/ws",
      host: "localhost:3000",
      target: "/ws",
    },
    { input: "https://example.com:443/", href: "wss://example.com/", host: "example.com", target: "/" },
    {
      input: "ws://user:pass@example.com/",
      href: "ws://user:pass@example.com/",
      host: "example.com",
      target: "/",
    },
  ];
  for (const { input, href, host, target } of GOOD) {
    test(`ClientHandshake maps ${input} to ${href} with Host ${host}`, () => {
      const handshake = new ClientHandshake(input);
      assert.equal(handshake.url.href, href);
      assert.equal(handshake.headers.get("host"), host);
      assert.equal(handshake.url.pathname + handshake.url.search, target);
    });
  }

  test("ClientHandshake takes a URL object", () => {
    const handshake = new ClientHandshake(new URL("https://example.com:8443/a?b"));
    assert.equal(handshake.url.href, "wss://example.com:8443/a?b");
    assert.equal(handshake.headers.get("host"), "example.com:8443");
  });

  const BAD: { input: string; message: RegExp }[] = [
    { input: "ftp://example.com/", message: /scheme ftp: is not ws: or wss:/ },
    { input: "file:///tmp/socket", message: /scheme file: is not ws: or wss:/ },
    { input: "javascript:alert(1)", message: /scheme javascript: is not ws: or wss:/ },
    { input: "data:text/plain,hi", message: /scheme data: is not ws: or wss:/ },
    { input: "/chat", message: /\/chat is not an absolute URL/ },
    { input: "chat", message: /chat is not an absolute URL/ },
    { input: "//example.com/chat", message: /is not an absolute URL/ },
    { input: "", message: /is not an absolute URL/ },
    { input: "ws://exa mple.com/", message: /is not an absolute URL/ },
    { input: "ws://example.com:99999/", message: /is not an absolute URL/ },
    { input: "ws://example.com/chat#room", message: /has a fragment/ },
    { input: "ws://example.com/#", message: /has a fragment/ },
    { input: "https://example.com/#top", message: /has a fragment/ },
  ];
  for (const { input, message } of BAD) {
    test(`ClientHandshake throws a SyntaxError for ${JSON.stringify(input)}`, () => {
      assert.throws(() => new ClientHandshake(input), (error: unknown) => {
        assert.ok(error instanceof SyntaxError, `expected a SyntaxError, got ${String(error)}`);
        assert.match(error.message, message);
        return true;
      });
      assert.throws(() => parseWebSocketUrl(input), SyntaxError);
    });
  }

  test("ClientHandshake throws a SyntaxError for a URL object with an empty fragment", () => {
    assert.throws(() => new ClientHandshake(new URL("ws://example.com/#")), SyntaxError);
  });
});

describe("RFC 6455 §4.1: ClientHandshake builds the request headers", () => {
  test("ClientHandshake sends Upgrade, Connection, version 13 and a 16-byte base64 key", () => {
    const handshake = new ClientHandshake("ws://example.com/chat");
    const { headers } = handshake;
    assert.equal(headers.get("upgrade"), "websocket");
    assert.equal(headers.get("connection"), "Upgrade");
    assert.equal(headers.get("sec-websocket-version"), "13");
    assert.equal(headers.get("sec-websocket-key"), handshake.key);
    assert.match(handshake.key, /^[A-Za-z0-9+/]{21}[AQgw]==$/);
    assert.equal(Buffer.from(handshake.key, "base64").length, 16);
    assert.equal(headers.get("sec-websocket-protocol"), null);
  });

  test("ClientHandshake picks a fresh key for every handshake", () => {
    // §4.1: "The nonce MUST be selected randomly for each connection."
    const keys = new Set<string>();
    for (let i = 0; i < 200; i++) keys.add(new ClientHandshake("ws://example.com/").key);
    assert.equal(keys.size, 200);
    // Random bytes, not a counter or a timestamp: the 128 key bits are about half ones.
    let ones = 0;
    for (const key of keys) {
      for (const byte of Buffer.from(key, "base64")) for (let b = byte; b; b >>= 1) ones += b & 1;
    }
    const ratio = ones / (200 * 128);
    assert.ok(ratio > 0.45 && ratio < 0.55, `ratio of one bits ${ratio}`);
  });

  const EXTENSIONS: { name: string; deflate: ClientHandshakeOptions["deflate"]; offer: string | null }[] = [
    {
      name: "the default offer is what browsers send",
      deflate: undefined,
      offer: "permessage-deflate; client_max_window_bits",
    },
    {
      name: "deflate: {} is the default offer",
      deflate: {},
      offer: "permessage-deflate; client_max_window_bits",
    },
    { name: "deflate: false offers nothing", deflate: false, offer: null },
    {
      name: "every option",
      deflate: {
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
        serverMaxWindowBits: 10,
        clientMaxWindowBits: 9,
      },
      offer:
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9",
    },
  ];
  for (const { name, deflate, offer } of EXTENSIONS) {
    test(`ClientHandshake Sec-WebSocket-Extensions: ${name}`, () => {
      const handshake = new ClientHandshake("ws://example.com/", deflate === undefined ? {} : { deflate });
      assert.equal(handshake.headers.get("sec-websocket-extensions"), offer);
    });
  }

  test("ClientHandshake offers subprotocols in the order given", () => {
    assert.equal(
      new ClientHandshake("ws://example.com/", { protocols: "chat" }).headers.get("sec-websocket-protocol"),
      "chat",
    );
    assert.equal(
      new ClientHandshake("ws://example.com/", { protocols: ["v12.stomp", "v11.stomp", "v10.stomp"] }).headers
        .get(
          "sec-websocket-protocol",
        ),
      "v12.stomp, v11.stomp, v10.stomp",
    );
    assert.equal(
      new ClientHandshake("ws://example.com/", { protocols: [] }).headers.get("sec-websocket-protocol"),
      null,
    );
  });

  const BAD_PROTOCOLS: { name: string; protocols: string | string[]; message: RegExp }[] = [
    { name: "empty string", protocols: "", message: /subprotocol "" is not a token/ },
    { name: "space", protocols: ["chat v2"], message: /"chat v2" is not a token/ },
    { name: "comma (two protocols in one)", protocols: ["chat,superchat"], message: /is not a token/ },
    { name: "separator '/'", protocols: ["chat/1"], message: /is not a token/ },
    { name: "non-ASCII", protocols: ["chät"], message: /is not a token/ },
    { name: "control character", protocols: ["chat\u0000"], message: /is not a token/ },
    { name: "duplicate", protocols: ["chat", "chat"], message: /subprotocol "chat" is offered twice/ },
    { name: "duplicate, not adjacent", protocols: ["a", "b", "a"], message: /"a" is offered twice/ },
  ];
  for (const { name, protocols, message } of BAD_PROTOCOLS) {
    test(`ClientHandshake throws a SyntaxError for subprotocols that are not distinct tokens: ${name}`, () => {
      assert.throws(() => new ClientHandshake("ws://example.com/", { protocols }), (error: unknown) => {
        assert.ok(error instanceof SyntaxError, `expected a SyntaxError, got ${String(error)}`);
        assert.match(error.message, message);
        return true;
      });
    });
  }

  test("ClientHandshake keeps extra headers and overrides the ones the handshake owns", () => {
    const extra: [string, string][] = [
      ["Cookie", "session=abc"],
      ["Authorization", "Bearer t0k3n"],
      ["Origin", "https://app.example.com"],
      ["User-Agent", "wsengine-test"],
      ["Host", "evil.example"],
      ["Upgrade", "h2c"],
      ["Sec-WebSocket-Version", "8"],
      ["Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="],
    ];
    for (const headers of [extra, Object.fromEntries(extra), new Headers(extra)]) {
      const handshake = new ClientHandshake("ws://example.com:8080/", { headers });
      const h = handshake.headers;
      assert.equal(h.get("cookie"), "session=abc");
      assert.equal(h.get("authorization"), "Bearer t0k3n");
      assert.equal(h.get("origin"), "https://app.example.com");
      assert.equal(h.get("user-agent"), "wsengine-test");
      assert.equal(h.get("host"), "example.com:8080");
      assert.equal(h.get("upgrade"), "websocket");
      assert.equal(h.get("sec-websocket-version"), "13");
      assert.equal(h.get("sec-websocket-key"), handshake.key);
      assert.notEqual(handshake.key, "dGhlIHNhbXBsZSBub25jZQ==");
    }
  });
});

describe("RFC 6455 §4.1: ClientHandshake.verify accepts a conforming answer", () => {
  test("ClientHandshake.verify accepts a minimal 101", async () => {
    const handshake = new ClientHandshake("ws://example.com/chat");
    const result = await handshake.verify(101, answer(handshake));
    assert.deepEqual(result, { protocol: "", extensions: "", negotiated: [] });
  });

  const TOLERATED: { name: string; changes: Record<string, string> }[] = [
    { name: "Upgrade in other case", changes: { Upgrade: "WebSocket" } },
    { name: "Connection in lowercase", changes: { Connection: "upgrade" } },
    { name: "Connection listing keep-alive too", changes: { Connection: "keep-alive, Upgrade" } },
    {
      name: "extra headers (Date, Server)",
      changes: { Date: "Tue, 03 Nov 2026 10:00:00 GMT", Server: "nginx/1.29.0" },
    },
  ];
  for (const { name, changes } of TOLERATED) {
    test(`ClientHandshake.verify accepts ${name}`, async () => {
      const handshake = new ClientHandshake("ws://example.com/chat");
      assert.equal((await handshake.verify(101, answer(handshake, changes))).protocol, "");
    });
  }

  test("ClientHandshake.verify returns the subprotocol the server chose among those offered", async () => {
    const handshake = new ClientHandshake("ws://example.com/", { protocols: ["superchat", "chat"] });
    const result = await handshake.verify(101, answer(handshake, { "Sec-WebSocket-Protocol": "chat" }));
    assert.equal(result.protocol, "chat");
  });

  const DEFLATE: {
    name: string;
    options?: ClientHandshakeOptions["deflate"];
    response: string;
    parameters: DeflateParameters;
  }[] = [
    { name: "ws, Chrome-like server", response: "permessage-deflate", parameters: DEFAULT_PARAMETERS },
    {
      name: "python-websockets",
      response: "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
      parameters: { ...DEFAULT_PARAMETERS, serverMaxWindowBits: 12, clientMaxWindowBits: 12 },
    },
    {
      name: "Bun",
      response: "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
      parameters: { ...DEFAULT_PARAMETERS, clientNoContextTakeover: true, serverNoContextTakeover: true },
    },
    {
      name: "server grants less than the window we asked",
      options: { serverMaxWindowBits: 10 },
      response: "permessage-deflate; server_max_window_bits=9",
      parameters: { ...DEFAULT_PARAMETERS, serverMaxWindowBits: 9 },
    },
    {
      name: "quoted value and name in other case",
      response: 'Permessage-Deflate; client_max_window_bits="10"',
      parameters: { ...DEFAULT_PARAMETERS, clientMaxWindowBits: 10 },
    },
  ];
  for (const { name, options, response, parameters } of DEFLATE) {
    test(`ClientHandshake.verify negotiates permessage-deflate: ${name}`, async () => {
      const handshake = new ClientHandshake(
        "ws://example.com/",
        options === undefined ? {} : { deflate: options },
      );
      const result = await handshake.verify(101, answer(handshake, { "Sec-WebSocket-Extensions": response }));
      assert.equal(result.extensions, response);
      assert.equal(result.negotiated.length, 1);
      const [extension] = result.negotiated;
      assert.ok(extension instanceof PerMessageDeflate);
      assert.deepEqual(extension.parameters, parameters);
    });
  }

  test("ClientHandshake.verify negotiates nothing when the server declines the offer", async () => {
    const handshake = new ClientHandshake("ws://example.com/");
    const result = await handshake.verify(101, answer(handshake));
    assert.equal(result.extensions, "");
    assert.deepEqual(result.negotiated, []);
  });
});

describe("RFC 6455 §4.1: ClientHandshake.verify fails the connection on a non-conforming answer", () => {
  const URL_TEXT = "ws://example.com:8080/chat?room=1";
  const CASES: {
    name: string;
    status?: number;
    changes?: Record<string, string | null>;
    options?: ClientHandshakeOptions;
    cause: RegExp;
  }[] = [
    // §4.1 (1): "If the status code received from the server is not 101 ...".
    { name: "status 200", status: 200, cause: /the server answered 200$/ },
    {
      name: "status 302 with Location",
      status: 302,
      changes: { Location: "https://login.example.com/" },
      cause: /the server answered 302 \(redirect to https:\/\/login\.example\.com\/, not followed\)/,
    },
    { name: "status 404", status: 404, cause: /the server answered 404$/ },
    { name: "status 400", status: 400, cause: /the server answered 400$/ },
    { name: "status 426", status: 426, cause: /the server answered 426$/ },
    { name: "status 100 Continue", status: 100, cause: /the server answered 100$/ },
    // §4.1 (2).
    { name: "Upgrade missing", changes: { Upgrade: null }, cause: /Upgrade is missing, not websocket/ },
    { name: "Upgrade h2c", changes: { Upgrade: "h2c" }, cause: /Upgrade is h2c, not websocket/ },
    {
      name: "Upgrade websocket, h2c",
      changes: { Upgrade: "websocket, h2c" },
      cause: /Upgrade is websocket, h2c, not websocket/,
    },
    // §4.1 (3).
    {
      name: "Connection missing",
      changes: { Connection: null },
      cause: /Connection does not include Upgrade/,
    },
    {
      name: "Connection keep-alive",
      changes: { Connection: "keep-alive" },
      cause: /Connection does not include Upgrade/,
    },
    {
      name: "Connection close",
      changes: { Connection: "close" },
      cause: /Connection does not include Upgrade/,
    },
    // §4.1 (4).
    {
      name: "Sec-WebSocket-Accept missing",
      changes: { "Sec-WebSocket-Accept": null },
      cause: /Sec-WebSocket-Accept is missing/,
    },
    {
      name: "Sec-WebSocket-Accept of another key (RFC sample)",
      changes: { "Sec-WebSocket-Accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" },
      cause: /Sec-WebSocket-Accept s3pPLMBiTxaQ9kYGzzhZRbK\+xOo= does not match the key/,
    },
    {
      name: "Sec-WebSocket-Accept echoing the key",
      changes: { "Sec-WebSocket-Accept": "KEY" },
      cause: /does not match the key/,
    },
    {
      name: "Sec-WebSocket-Accept empty",
      changes: { "Sec-WebSocket-Accept": "" },
      cause: /does not match the key/,
    },
    // §4.1 (6).
    {
      name: "a subprotocol that was not offered",
      options: { protocols: ["chat"] },
      changes: { "Sec-WebSocket-Protocol": "superchat" },
      cause: /the server chose subprotocol superchat, which was not offered/,
    },
    {
      name: "a subprotocol when none was offered",
      changes: { "Sec-WebSocket-Protocol": "chat" },
      cause: /the server chose subprotocol chat, which was not offered/,
    },
    {
      name: "two subprotocols",
      options: { protocols: ["a", "b"] },
      changes: { "Sec-WebSocket-Protocol": "a, b" },
      cause: /the server chose subprotocol a, b, which was not offered/,
    },
    {
      name: "a subprotocol in other case",
      options: { protocols: ["chat"] },
      changes: { "Sec-WebSocket-Protocol": "Chat" },
      cause: /subprotocol Chat, which was not offered/,
    },
    // §4.1 (5), RFC 7692 §7.
    {
      name: "an extension that was not offered",
      changes: { "Sec-WebSocket-Extensions": "x-webkit-deflate-frame" },
      cause: /the server accepted extension x-webkit-deflate-frame, which was not offered/,
    },
    {
      name: "permessage-deflate twice",
      changes: { "Sec-WebSocket-Extensions": "permessage-deflate, permessage-deflate" },
      cause: /the server accepted permessage-deflate twice/,
    },
    {
      name: "client_max_window_bits without a value in a response",
      changes: { "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits" },
      cause: /client_max_window_bits is not 8\.\.15/,
    },
    {
      name: "server_max_window_bits larger than requested",
      options: { deflate: { serverMaxWindowBits: 10 } },
      changes: { "Sec-WebSocket-Extensions": "permessage-deflate; server_max_window_bits=12" },
      cause: /server_max_window_bits=12 exceeds the 10 requested/,
    },
    {
      name: "server_max_window_bits requested and not granted",
      options: { deflate: { serverMaxWindowBits: 10 } },
      changes: { "Sec-WebSocket-Extensions": "permessage-deflate" },
      cause: /server_max_window_bits=10 was requested and not granted/,
    },
    {
      name: "server_max_window_bits out of range",
      changes: { "Sec-WebSocket-Extensions": "permessage-deflate; server_max_window_bits=16" },
      cause: /server_max_window_bits is not 8\.\.15: 16/,
    },
    {
      name: "an unknown parameter",
      changes: { "Sec-WebSocket-Extensions": "permessage-deflate; foo" },
      cause: /parameter foo is not defined for permessage-deflate/,
    },
    {
      name: "a duplicated parameter",
      changes: {
        "Sec-WebSocket-Extensions":
          "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
      },
      cause: /parameter server_no_context_takeover appears twice/,
    },
    {
      name: "permessage-deflate accepted though deflate: false offered nothing",
      options: { deflate: false },
      changes: { "Sec-WebSocket-Extensions": "permessage-deflate" },
      cause: /the server accepted extension permessage-deflate, which was not offered/,
    },
    {
      name: "a malformed Sec-WebSocket-Extensions",
      changes: { "Sec-WebSocket-Extensions": "permessage-deflate; =" },
      cause: /Cannot parse Sec-WebSocket-Extensions/,
    },
  ];
  for (const { name, status = 101, changes = {}, options = {}, cause } of CASES) {
    test(`ClientHandshake.verify throws naming the URL for ${name}`, async () => {
      const handshake = new ClientHandshake(URL_TEXT, options);
      const edited = Object.fromEntries(
        Object.entries(changes).map(([n, v]) => [n, v === "KEY" ? handshake.key : v]),
      );
      await assertFails(handshake.verify(status, answer(handshake, edited)), URL_TEXT, cause);
    });
  }

  test("ClientHandshake.verify rejects the accept value of a different handshake", async () => {
    const first = new ClientHandshake("ws://example.com/");
    const second = new ClientHandshake("ws://example.com/");
    await assertFails(second.verify(101, answer(first)), "ws://example.com/", /does not match the key/);
  });
});
