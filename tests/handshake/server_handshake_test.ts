import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { DeflateParameters } from "../../lib/deflate/negotiation.ts";
import { PerMessageDeflate } from "../../lib/deflate/permessage_deflate.ts";
import {
  type ServerHandshake,
  serverHandshake,
  type ServerHandshakeOptions,
} from "../../lib/handshake/server_handshake.ts";

/** The accept value computed independently of lib/handshake/accept_key.ts. */
function referenceAccept(key: string): string {
  return createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
}

/** A request as an HTTP server hands it over. Header names in any case, as the peers send them. */
function request(
  headers: Record<string, string>,
  { url = "http://example.com/chat", method = "GET" }: { url?: string; method?: string } = {},
): Request {
  return new Request(url, { method, headers });
}

/** The response headers as sorted [name, value] pairs, to compare the whole set. */
function headerPairs(response: Response): [string, string][] {
  return [...response.headers].sort(([a], [b]) => a.localeCompare(b));
}

function assertAccepted(result: ServerHandshake): asserts result is Extract<ServerHandshake, { ok: true }> {
  if (!result.ok) assert.fail(`expected 101, got ${result.response.status}: ${result.reason}`);
}

function assertRefused(result: ServerHandshake): asserts result is Extract<ServerHandshake, { ok: false }> {
  if (result.ok) {
    assert.fail(`expected a refusal, got 101 with ${JSON.stringify(headerPairs(result.response))}`);
  }
}

/** A minimal valid upgrade (RFC 6455 §1.3's example), to which each refusal case applies one defect. */
const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const BASE: Record<string, string> = {
  Host: "example.com",
  Upgrade: "websocket",
  Connection: "Upgrade",
  "Sec-WebSocket-Key": KEY,
  "Sec-WebSocket-Version": "13",
};

function without(headers: Record<string, string>, name: string): Record<string, string> {
  const copy = { ...headers };
  delete copy[name];
  return copy;
}

const DEFAULT_PARAMETERS: DeflateParameters = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

describe("RFC 6455 §4.2.1, §4.2.2: serverHandshake accepts what real clients send", () => {
  // Header sets as these clients send them (names in their case and order; keys are fresh random values).
  const CLIENTS: {
    name: string;
    url: string;
    headers: Record<string, string>;
    extensions: string;
  }[] = [
    {
      name: "Chrome",
      url: "http://example.com:8000/chat",
      headers: {
        Host: "example.com:8000",
        Connection: "Upgrade",
        Pragma: "no-cache",
        "Cache-Control": "no-cache",
        "User-Agent":
          "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
        Upgrade: "websocket",
        Origin: "http://example.com:8000",
        "Sec-WebSocket-Version": "13",
        "Accept-Encoding": "gzip, deflate, br, zstd",
        "Accept-Language": "en-US,en;q=0.9",
        Cookie: "session=4f1c2a",
        "Sec-WebSocket-Key": "cWIzHUHmBSQu8TnzpdVEYQ==",
        "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
      },
      extensions: "permessage-deflate",
    },
    {
      name: "Firefox",
      url: "http://example.com/chat",
      headers: {
        Host: "example.com",
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
        Accept: "*/*",
        "Accept-Language": "en-US,en;q=0.5",
        "Accept-Encoding": "gzip, deflate, br, zstd",
        "Sec-WebSocket-Version": "13",
        Origin: "http://example.com",
        "Sec-WebSocket-Extensions": "permessage-deflate",
        "Sec-WebSocket-Key": "MF9L6SHQHXf8dcr7m1tW5Q==",
        Connection: "keep-alive, Upgrade",
        "Sec-Fetch-Dest": "empty",
        "Sec-Fetch-Mode": "websocket",
        "Sec-Fetch-Site": "same-origin",
        Pragma: "no-cache",
        "Cache-Control": "no-cache",
        Upgrade: "websocket",
      },
      extensions: "permessage-deflate",
    },
    {
      name: "Safari",
      url: "https://example.com/socket",
      headers: {
        Upgrade: "websocket",
        Connection: "Upgrade",
        Host: "example.com",
        Origin: "https://example.com",
        Pragma: "no-cache",
        "Cache-Control": "no-cache",
        "Sec-WebSocket-Key": "gzMQQmZRFa52CVUqKXWJ8Q==",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Extensions": "permessage-deflate",
        "User-Agent":
          "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
      },
      extensions: "permessage-deflate",
    },
    {
      name: "ws (Node)",
      url: "http://127.0.0.1:8080/",
      headers: {
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "ToD2iGw/QCUouy1WCmoNrQ==",
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
        Host: "127.0.0.1:8080",
      },
      extensions: "permessage-deflate",
    },
    {
      name: "python-websockets",
      url: "http://127.0.0.1:8765/",
      headers: {
        Host: "127.0.0.1:8765",
        Upgrade: "websocket",
        Connection: "Upgrade",
        "Sec-WebSocket-Key": "KFagcCyeNL3+73iiJnsalg==",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
        "User-Agent": "Python/3.13 websockets/15.0.1",
      },
      extensions: "permessage-deflate",
    },
    {
      name: "Bun",
      url: "http://localhost:3000/ws",
      headers: {
        Host: "localhost:3000",
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "MLph/OcvJ1riMGD+WKT3mA==",
        "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
        "User-Agent": "Bun/1.4.5",
        Accept: "*/*",
      },
      extensions: "permessage-deflate",
    },
    {
      name: "Deno (offers no extension)",
      url: "http://localhost:8000/",
      headers: {
        Host: "localhost:8000",
        Upgrade: "websocket",
        Connection: "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "ustGY1TGeKG0Hep1Y8AsNw==",
        "User-Agent": "Deno/2.9.6",
        Accept: "*/*",
      },
      extensions: "",
    },
    {
      name: "autobahn (several offers)",
      url: "http://127.0.0.1:9001/",
      headers: {
        Host: "127.0.0.1:9001",
        Upgrade: "WebSocket",
        Connection: "Upgrade",
        Pragma: "no-cache",
        "Cache-Control": "no-cache",
        "Sec-WebSocket-Key": "5JYd2POloLmw24mszy+aHQ==",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Extensions":
          "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=10," +
          "permessage-deflate; client_no_context_takeover; client_max_window_bits",
        "User-Agent": "AutobahnTestSuite/25.10.1-0.10.9",
      },
      extensions: "permessage-deflate; client_no_context_takeover; server_max_window_bits=10",
    },
  ];

  for (const client of CLIENTS) {
    test(`serverHandshake answers ${client.name} with 101, the right accept and "${client.extensions}"`, async () => {
      const result = await serverHandshake(request(client.headers, { url: client.url }));
      assertAccepted(result);
      const { response } = result;
      assert.equal(response.status, 101);
      assert.equal(response.body, null);
      const expected: [string, string][] = [
        ["connection", "Upgrade"],
        ["sec-websocket-accept", referenceAccept(client.headers["Sec-WebSocket-Key"])],
        ["upgrade", "websocket"],
      ];
      if (client.extensions !== "") expected.push(["sec-websocket-extensions", client.extensions]);
      assert.deepEqual(headerPairs(response), expected.sort(([a], [b]) => a.localeCompare(b)));
      assert.equal(result.protocol, "");
      assert.equal(result.extensions, client.extensions);
      assert.equal(result.negotiated.length, client.extensions === "" ? 0 : 1);
    });
  }

  test("serverHandshake answers the RFC 6455 §1.3 example with s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", async () => {
    const result = await serverHandshake(
      request({ ...BASE, Origin: "http://example.com", "Sec-WebSocket-Protocol": "chat, superchat" }),
      {
        protocols: ["chat"],
      },
    );
    assertAccepted(result);
    assert.equal(result.response.headers.get("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert.equal(result.response.headers.get("sec-websocket-protocol"), "chat");
  });

  test("serverHandshake negotiates default parameters for Chrome's offer", async () => {
    const result = await serverHandshake(
      request({ ...BASE, "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits" }),
    );
    assertAccepted(result);
    const [extension] = result.negotiated;
    assert.ok(extension instanceof PerMessageDeflate);
    assert.deepEqual(extension.parameters, DEFAULT_PARAMETERS);
  });

  const TOLERATED: { name: string; headers: Record<string, string> }[] = [
    {
      name: "Upgrade in mixed case (§4.2.1 (3): ASCII case-insensitive)",
      headers: { ...BASE, Upgrade: "WebSocket" },
    },
    { name: "Upgrade listing two protocols", headers: { ...BASE, Upgrade: "h2c, websocket" } },
    { name: "Connection in lowercase", headers: { ...BASE, Connection: "upgrade" } },
    {
      name: "Connection with empty elements and spaces",
      headers: { ...BASE, Connection: " , keep-alive ,, Upgrade ," },
    },
    { name: "version with surrounding spaces", headers: { ...BASE, "Sec-WebSocket-Version": " 13 " } },
    { name: "key with surrounding spaces", headers: { ...BASE, "Sec-WebSocket-Key": `  ${KEY}  ` } },
  ];
  for (const { name, headers } of TOLERATED) {
    test(`serverHandshake accepts ${name}`, async () => {
      const result = await serverHandshake(request(headers));
      assertAccepted(result);
      assert.equal(result.response.headers.get("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    });
  }
});

describe("RFC 6455 §4.2.1, §4.2.2: serverHandshake refuses a bad upgrade with a status that says why", () => {
  const TEXT = ["content-type", "text/plain; charset=utf-8"] as [string, string];
  const REFUSALS: {
    name: string;
    headers: Record<string, string>;
    method?: string;
    status: number;
    /** Every response header but content-type. */
    extra?: [string, string][];
    reason: RegExp;
  }[] = [
    // §4.2.1 (1): "An HTTP/1.1 or higher GET request".
    ...["POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"].map((method) => ({
      name: `method ${method}`,
      headers: BASE,
      method,
      status: 405,
      extra: [["allow", "GET"]] as [string, string][],
      reason: new RegExp(`method ${method} is not GET`),
    })),
    // §4.2.1 (3); RFC 7231 §6.5.15: a 426 "MUST send an Upgrade header field".
    {
      name: "no Upgrade header",
      headers: without(BASE, "Upgrade"),
      status: 426,
      extra: [["connection", "Upgrade"], ["upgrade", "websocket"]],
      reason: /Upgrade header is missing/,
    },
    ...["h2c", "websockets", "websocket/13", "HTTP/2.0", "web socket", "TLS/1.2"].map((upgrade) => ({
      name: `Upgrade: ${upgrade}`,
      headers: { ...BASE, Upgrade: upgrade },
      status: 400,
      reason: new RegExp(`Upgrade header does not name websocket: ${upgrade.replace(/[./]/g, "\\$&")}`),
    })),
    // §4.2.1 (4).
    ...[undefined, "keep-alive", "close", "Upgraded", "keep-alive; Upgrade"].map((connection) => ({
      name: connection === undefined ? "no Connection header" : `Connection: ${connection}`,
      headers: connection === undefined ? without(BASE, "Connection") : { ...BASE, Connection: connection },
      status: 400,
      reason: /Connection header does not include Upgrade/,
    })),
    // §4.2.2: "426 Upgrade Required ... and a |Sec-WebSocket-Version| header field indicating the version(s)".
    {
      name: "no Sec-WebSocket-Version",
      headers: without(BASE, "Sec-WebSocket-Version"),
      status: 426,
      extra: [["sec-websocket-version", "13"]],
      reason: /Sec-WebSocket-Version is missing/,
    },
    ...["8", "14", "7", "0", "13, 8", "013", "thirteen"].map((version) => ({
      name: `Sec-WebSocket-Version: ${version}`,
      headers: { ...BASE, "Sec-WebSocket-Version": version },
      status: 426,
      extra: [["sec-websocket-version", "13"]] as [string, string][],
      reason: new RegExp(`Sec-WebSocket-Version is ${version}, not 13`),
    })),
    // §4.2.1 (5): "base64-encoded ... value that, when decoded, is 16 bytes in length".
    ...[
      ["missing", undefined],
      ["short (5 bytes)", "c2hvcnQ="],
      ["long (32 bytes)", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="],
      ["17 bytes", "AAAAAAAAAAAAAAAAAAAAAAA="],
      ["unpadded", "dGhlIHNhbXBsZSBub25jZQ"],
      ["not base64", "dGhlIHNhbXBsZSBub25!ZQ=="],
      ["base64url", "dGhlIHNhbXBsZSBub25-ZQ=="],
      ["non-zero padding bits", "dGhlIHNhbXBsZSBub25jZR=="],
      ["space inside", "dGhlIHNhbXBs ZSBub25jZQ=="],
      ["empty", ""],
      ["two keys", `${KEY}, x3JJHMbDL1EzLkh9GBhXDw==`],
    ].map(([what, key]) => ({
      name: `Sec-WebSocket-Key ${what}`,
      headers: key === undefined ? without(BASE, "Sec-WebSocket-Key") : { ...BASE, "Sec-WebSocket-Key": key },
      status: 400,
      reason: /Sec-WebSocket-Key is not base64 of 16 bytes/,
    })),
    // §4.2.1 (2): "A |Host| header field containing the server's authority."
    { name: "no Host header", headers: without(BASE, "Host"), status: 400, reason: /Host header is missing/ },
    {
      name: "empty Host header",
      headers: { ...BASE, Host: "" },
      status: 400,
      reason: /Host header is missing/,
    },
    // §4.1: Sec-WebSocket-Protocol is 1#token.
    ...["chat v2", "chat;q=1", '"chat"', "chat, super chat", "chat/1", "chat,(x)"].map((protocols) => ({
      name: `Sec-WebSocket-Protocol: ${protocols}`,
      headers: { ...BASE, "Sec-WebSocket-Protocol": protocols },
      status: 400,
      reason: /Sec-WebSocket-Protocol is not a list of tokens/,
    })),
    // §9.1: "the recipient of such malformed data MUST immediately _Fail the WebSocket Connection_".
    ...[
      "permessage-deflate; =",
      "",
      ",",
      ";",
      "permessage-deflate;",
      "permessage-deflate client_max_window_bits",
      "permessage-deflate; client_max_window_bits=",
      'permessage-deflate; client_max_window_bits="1 0"',
      'permessage-deflate; client_max_window_bits="10',
      "permessage-deflate; client_max_window_bits=1 0",
      "permessage deflate",
    ].map((extensions) => ({
      name: `Sec-WebSocket-Extensions: ${JSON.stringify(extensions)}`,
      headers: { ...BASE, "Sec-WebSocket-Extensions": extensions },
      status: 400,
      reason: /Cannot parse Sec-WebSocket-Extensions/,
    })),
  ];

  for (const { name, headers, method, status, extra = [], reason } of REFUSALS) {
    test(`serverHandshake answers ${name} with ${status}`, async () => {
      const result = await serverHandshake(request(headers, { method }));
      assertRefused(result);
      const { response } = result;
      assert.equal(response.status, status);
      assert.match(result.reason, reason);
      assert.deepEqual(headerPairs(response), [TEXT, ...extra].sort(([a], [b]) => a.localeCompare(b)));
      // The body says what was wrong.
      const body = await response.text();
      assert.equal(body, `${result.reason}\n`);
      assert.match(body, reason);
    });
  }

  test("serverHandshake refuses a malformed extension header even with deflate: false (§9.1)", async () => {
    const result = await serverHandshake(
      request({ ...BASE, "Sec-WebSocket-Extensions": "permessage-deflate; =" }),
      {
        deflate: false,
      },
    );
    assertRefused(result);
    assert.equal(result.response.status, 400);
  });

  test("serverHandshake refuses a request without Host, and the same request with Host is accepted", async () => {
    // Whether `new Request(url, { headers })` keeps a Host header is up to the runtime (the fetch spec lists
    // Host as a forbidden request header; Deno 2.9 and Bun 1.4 keep it). Either way this test proves the
    // check: it asserts the request really reaches serverHandshake without Host (a runtime that derived
    // one from the URL would make this test fail, not pass), and that the same request with Host is
    // accepted (a runtime that stripped Host would make that half fail with "Host header is missing",
    // as would every accepted handshake in this file). So the 400 can only come from the Host check.
    const missing = request(without(BASE, "Host"));
    assert.equal(missing.headers.get("host"), null);
    const refused = await serverHandshake(missing);
    assertRefused(refused);
    assert.equal(refused.response.status, 400);
    assert.match(refused.reason, /Host header is missing/);

    const present = request(BASE);
    assert.equal(
      present.headers.get("host"),
      "example.com",
      "this runtime keeps the Host header of a Request",
    );
    assertAccepted(await serverHandshake(present));
  });

  test("serverHandshake checks the method first: a POST without any WebSocket header is 405, not 426", async () => {
    const result = await serverHandshake(request({ Host: "example.com" }, { method: "POST" }));
    assertRefused(result);
    assert.equal(result.response.status, 405);
  });

  test("serverHandshake answers a plain GET (a browser opening the URL) with 426 and Upgrade: websocket", async () => {
    const result = await serverHandshake(request({
      Host: "example.com",
      Accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
      "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
    }));
    assertRefused(result);
    assert.equal(result.response.status, 426);
    assert.equal(result.response.headers.get("upgrade"), "websocket");
  });
});

describe("RFC 9110 §9.3.1: serverHandshake refuses an upgrade that declares a body (request smuggling)", () => {
  // The headers added to a valid upgrade, and the field named in the refusal (undefined: accepted).
  const CASES: [Record<string, string>, string | undefined][] = [
    [{ "Content-Length": "14" }, "Content-Length: 14"],
    [{ "Content-Length": "1" }, "Content-Length: 1"],
    [{ "Content-Length": "0" }, undefined],
    [{ "Content-Length": "00" }, undefined],
    [{ "Content-Length": "0, 0" }, undefined], // a repeated field, joined
    [{ "Content-Length": "0, 14" }, "Content-Length: 0, 14"],
    [{ "Content-Length": "-1" }, "Content-Length: -1"],
    [{ "Content-Length": "abc" }, "Content-Length: abc"],
    [{ "Content-Length": "" }, "Content-Length: "],
    [{ "Transfer-Encoding": "chunked" }, "Transfer-Encoding: chunked"],
    [{ "Transfer-Encoding": "identity" }, "Transfer-Encoding: identity"],
    [{ "Transfer-Encoding": "gzip, chunked" }, "Transfer-Encoding: gzip, chunked"],
    [{ "Transfer-Encoding": "chunked", "Content-Length": "0" }, "Transfer-Encoding: chunked"],
    [{}, undefined],
  ];

  for (const [headers, refused] of CASES) {
    const name = Object.entries(headers).map(([field, value]) => `${field}: ${JSON.stringify(value)}`).join(", ") ||
      "neither header";
    test(`serverHandshake ${refused === undefined ? "accepts" : "refuses with 400"} an upgrade with ${name}`, async () => {
      const upgrade = request({ ...BASE, ...headers });
      // The check can only be proven if the Request really carries the headers on this runtime.
      for (const [field, value] of Object.entries(headers)) {
        assert.equal(upgrade.headers.get(field), value, `this runtime's Request keeps ${field}`);
      }
      const result = await serverHandshake(upgrade);
      if (refused === undefined) {
        assertAccepted(result);
        return;
      }
      assertRefused(result);
      assert.equal(result.response.status, 400);
      assert.equal(result.reason, `Cannot upgrade: the request declares a body: ${refused}`);
      assert.equal(await result.response.text(), `${result.reason}\n`);
    });
  }

  test("serverHandshake checks the method before the body: a POST with a body is 405", async () => {
    const result = await serverHandshake(request({ ...BASE, "Content-Length": "14" }, { method: "POST" }));
    assertRefused(result);
    assert.equal(result.response.status, 405);
  });

  test("serverHandshake refuses a body before running the authorize hook", async () => {
    let called = false;
    const result = await serverHandshake(request({ ...BASE, "Transfer-Encoding": "chunked" }), {
      authorize: () => void (called = true),
    });
    assertRefused(result);
    assert.equal(result.response.status, 400);
    assert.equal(called, false);
  });
});

describe("RFC 6455 §4.2.2 /subprotocol/: serverHandshake chooses a subprotocol in the server's order", () => {
  const CASES: {
    name: string;
    offered: string | undefined;
    protocols: readonly string[];
    chosen: string;
  }[] = [
    { name: "server order wins over client order", offered: "a, b", protocols: ["b", "a"], chosen: "b" },
    {
      name: "the only common one",
      offered: "chat, superchat",
      protocols: ["superchat"],
      chosen: "superchat",
    },
    {
      name: "STOMP: newest the server speaks",
      offered: "v10.stomp, v11.stomp, v12.stomp",
      protocols: ["v12.stomp", "v11.stomp"],
      chosen: "v12.stomp",
    },
    {
      name: "server's first is not offered, its second is",
      offered: "graphql-ws",
      protocols: ["graphql-transport-ws", "graphql-ws"],
      chosen: "graphql-ws",
    },
    { name: "no common protocol: no header", offered: "chat", protocols: ["superchat"], chosen: "" },
    { name: "comparison is exact (case-sensitive)", offered: "Chat", protocols: ["chat"], chosen: "" },
    { name: "client offers none: no header", offered: undefined, protocols: ["chat"], chosen: "" },
    { name: "server speaks none: no header", offered: "chat", protocols: [], chosen: "" },
    {
      name: "empty elements in the offer are skipped",
      offered: ", chat,,",
      protocols: ["chat"],
      chosen: "chat",
    },
  ];
  for (const { name, offered, protocols, chosen } of CASES) {
    test(`serverHandshake subprotocol: ${name}`, async () => {
      const headers = offered === undefined ? BASE : { ...BASE, "Sec-WebSocket-Protocol": offered };
      const result = await serverHandshake(request(headers), { protocols });
      assertAccepted(result);
      assert.equal(result.protocol, chosen);
      assert.equal(result.response.headers.get("sec-websocket-protocol"), chosen === "" ? null : chosen);
    });
  }

  test("serverHandshake with requireProtocol refuses 400 when no protocol is common", async () => {
    for (const offered of ["chat", undefined]) {
      const headers = offered === undefined ? BASE : { ...BASE, "Sec-WebSocket-Protocol": offered };
      const result = await serverHandshake(request(headers), {
        protocols: ["superchat"],
        requireProtocol: true,
      });
      assertRefused(result);
      assert.equal(result.response.status, 400);
      assert.match(
        result.reason,
        offered === undefined
          ? /subprotocol is required: offered none/
          : /subprotocol is required: offered chat/,
      );
      assert.match(await result.response.text(), /subprotocol is required/);
    }
  });

  test("serverHandshake with requireProtocol accepts when one is common", async () => {
    const result = await serverHandshake(request({ ...BASE, "Sec-WebSocket-Protocol": "chat" }), {
      protocols: ["chat"],
      requireProtocol: true,
    });
    assertAccepted(result);
    assert.equal(result.protocol, "chat");
  });

  test("serverHandshake passes the offered list and the request to a selector, and answers its choice", async () => {
    const calls: { offered: string[]; url: string; token: string | null }[] = [];
    const req = request({
      ...BASE,
      "Sec-WebSocket-Protocol": "v10.stomp, v11.stomp,  v12.stomp",
      "X-Token": "t1",
    }, {
      url: "http://example.com/chat?room=7",
    });
    const result = await serverHandshake(req, {
      protocols: (offered, r) => {
        calls.push({ offered: [...offered], url: r.url, token: r.headers.get("x-token") });
        return offered.at(-1);
      },
    });
    assertAccepted(result);
    assert.deepEqual(calls, [{
      offered: ["v10.stomp", "v11.stomp", "v12.stomp"],
      url: "http://example.com/chat?room=7",
      token: "t1",
    }]);
    assert.equal(result.protocol, "v12.stomp");
    assert.equal(result.response.headers.get("sec-websocket-protocol"), "v12.stomp");
  });

  test('serverHandshake answers without a protocol when the selector returns undefined or ""', async () => {
    for (const choice of [undefined, ""]) {
      const result = await serverHandshake(request({ ...BASE, "Sec-WebSocket-Protocol": "chat" }), {
        protocols: () => choice,
      });
      assertAccepted(result);
      assert.equal(result.protocol, "");
      assert.equal(result.response.headers.get("sec-websocket-protocol"), null);
    }
  });

  test("serverHandshake does not call the selector when the client offers no protocol", async () => {
    let called = false;
    const result = await serverHandshake(request(BASE), {
      protocols: () => {
        called = true;
        return "chat";
      },
    });
    assertAccepted(result);
    assert.equal(called, false);
    assert.equal(result.response.headers.get("sec-websocket-protocol"), null);
  });

  test("serverHandshake throws a TypeError when the selector chooses a protocol the client did not offer", async () => {
    // §4.2.2: "The value chosen MUST be derived from the client's handshake": a selector bug, not the client's.
    await assert.rejects(
      serverHandshake(request({ ...BASE, "Sec-WebSocket-Protocol": "a, b" }), { protocols: () => "c" }),
      (error: unknown) => {
        assert.ok(error instanceof TypeError);
        assert.match(error.message, /chose c, which the client did not offer/);
        return true;
      },
    );
  });
});

describe("RFC 6455 §4.2.2 /origin/, §10.2: serverHandshake applies the origin policy", () => {
  const CASES: { name: string; origins: readonly string[]; origin: string | undefined; allowed: boolean }[] =
    [
      {
        name: "listed origin",
        origins: ["https://example.com"],
        origin: "https://example.com",
        allowed: true,
      },
      {
        name: "listed origin in other case",
        origins: ["https://example.com"],
        origin: "https://EXAMPLE.com",
        allowed: true,
      },
      {
        name: "list entry in other case",
        origins: ["https://Example.COM"],
        origin: "https://example.com",
        allowed: true,
      },
      {
        name: "second of two",
        origins: ["https://a.example", "http://localhost:5173"],
        origin: "http://localhost:5173",
        allowed: true,
      },
      {
        name: "unlisted origin",
        origins: ["https://example.com"],
        origin: "https://evil.example",
        allowed: false,
      },
      {
        name: "other scheme",
        origins: ["https://example.com"],
        origin: "http://example.com",
        allowed: false,
      },
      {
        name: "other port",
        origins: ["https://example.com"],
        origin: "https://example.com:8443",
        allowed: false,
      },
      {
        name: "suffix match is no match",
        origins: ["https://example.com"],
        origin: "https://example.com.evil.example",
        allowed: false,
      },
      { name: 'opaque origin "null"', origins: ["https://example.com"], origin: "null", allowed: false },
      { name: "empty list", origins: [], origin: "https://example.com", allowed: false },
      {
        name: "no Origin (not a browser)",
        origins: ["https://example.com"],
        origin: undefined,
        allowed: true,
      },
    ];
  for (const { name, origins, origin, allowed } of CASES) {
    test(`serverHandshake origin list: ${name} is ${allowed ? "allowed" : "refused with 403"}`, async () => {
      const headers = origin === undefined ? BASE : { ...BASE, Origin: origin };
      const result = await serverHandshake(request(headers), { origins });
      if (allowed) {
        assertAccepted(result);
        return;
      }
      assertRefused(result);
      assert.equal(result.response.status, 403);
      assert.equal(result.reason, `Cannot upgrade: origin ${origin} is not allowed`);
      assert.match(await result.response.text(), /is not allowed/);
    });
  }

  test("serverHandshake passes a function the lowercased origin, or null, and the request", async () => {
    const seen: (string | null)[] = [];
    const policy = (origin: string | null, r: Request) => {
      seen.push(origin);
      assert.equal(new URL(r.url).pathname, "/chat");
      return origin === "https://app.example.com";
    };
    assertAccepted(
      await serverHandshake(request({ ...BASE, Origin: "https://App.Example.COM" }), { origins: policy }),
    );
    const refused = await serverHandshake(request(BASE), { origins: policy });
    assertRefused(refused);
    assert.equal(refused.response.status, 403);
    assert.match(refused.reason, /origin \(none\) is not allowed/);
    assert.deepEqual(seen, ["https://app.example.com", null]);
  });

  test("serverHandshake awaits an async origin policy", async () => {
    const policy = async (origin: string | null) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return origin === "https://example.com";
    };
    assertAccepted(
      await serverHandshake(request({ ...BASE, Origin: "https://example.com" }), { origins: policy }),
    );
    const refused = await serverHandshake(request({ ...BASE, Origin: "https://evil.example" }), {
      origins: policy,
    });
    assertRefused(refused);
    assert.equal(refused.response.status, 403);
  });

  test("serverHandshake checks the upgrade before the origin: a bad key is 400 even from a refused origin", async () => {
    let called = false;
    const result = await serverHandshake(
      request({ ...BASE, Origin: "https://evil.example", "Sec-WebSocket-Key": "c2hvcnQ=" }),
      { origins: () => (called = true, false) },
    );
    assertRefused(result);
    assert.equal(result.response.status, 400);
    assert.equal(called, false);
  });
});

describe("serverHandshake authorize hook", () => {
  test("serverHandshake returns the hook's 401 Response as the refusal", async () => {
    const denial = new Response("token required\n", {
      status: 401,
      headers: { "www-authenticate": 'Bearer realm="chat"' },
    });
    const result = await serverHandshake(request(BASE), { authorize: () => denial });
    assertRefused(result);
    assert.equal(result.response, denial);
    assert.equal(result.response.status, 401);
    assert.equal(result.response.headers.get("www-authenticate"), 'Bearer realm="chat"');
    assert.match(result.reason, /401/);
  });

  test("serverHandshake proceeds when the hook returns undefined, sync or async", async () => {
    for (const authorize of [() => undefined, async () => {}, () => {}]) {
      const result = await serverHandshake(request(BASE), { authorize });
      assertAccepted(result);
      assert.equal(result.response.status, 101);
    }
  });

  test("serverHandshake gives the hook the request: cookies, URL and query", async () => {
    const seen: { cookie: string | null; token: string | null; path: string }[] = [];
    const authorize = (r: Request) => {
      const url = new URL(r.url);
      seen.push({
        cookie: r.headers.get("cookie"),
        token: url.searchParams.get("token"),
        path: url.pathname,
      });
      return r.headers.get("cookie")?.includes("session=ok")
        ? undefined
        : new Response(null, { status: 401 });
    };
    const good = await serverHandshake(
      request({ ...BASE, Cookie: "theme=dark; session=ok" }, { url: "http://example.com/chat?token=abc" }),
      { authorize },
    );
    assertAccepted(good);
    const bad = await serverHandshake(
      request({ ...BASE, Cookie: "theme=dark" }, { url: "http://example.com/chat" }),
      {
        authorize,
      },
    );
    assertRefused(bad);
    assert.equal(bad.response.status, 401);
    assert.deepEqual(seen, [
      { cookie: "theme=dark; session=ok", token: "abc", path: "/chat" },
      { cookie: "theme=dark", token: null, path: "/chat" },
    ]);
  });

  test("serverHandshake does not run the hook for a request that is not a valid upgrade, nor a refused origin", async () => {
    let calls = 0;
    const authorize = () => {
      calls++;
    };
    assertRefused(await serverHandshake(request(without(BASE, "Sec-WebSocket-Version")), { authorize }));
    assertRefused(await serverHandshake(request(BASE, { method: "POST" }), { authorize }));
    assertRefused(
      await serverHandshake(request({ ...BASE, Origin: "https://evil.example" }), {
        authorize,
        origins: ["https://example.com"],
      }),
    );
    assert.equal(calls, 0);
    assertAccepted(await serverHandshake(request(BASE), { authorize }));
    assert.equal(calls, 1);
  });
});

describe("RFC 7692 §5, §7.1: serverHandshake negotiates permessage-deflate", () => {
  const CASES: {
    name: string;
    offer: string | undefined;
    options?: ServerHandshakeOptions["deflate"];
    answer: string;
    parameters?: DeflateParameters;
  }[] = [
    {
      name: "Chrome's offer, defaults",
      offer: "permessage-deflate; client_max_window_bits",
      answer: "permessage-deflate",
      parameters: DEFAULT_PARAMETERS,
    },
    {
      name: "deflate: false ignores an offer",
      offer: "permessage-deflate; client_max_window_bits",
      options: false,
      answer: "",
    },
    { name: "no offer", offer: undefined, answer: "" },
    { name: "only an unknown extension", offer: "x-webkit-deflate-frame", answer: "" },
    {
      name: "unknown extensions are ignored",
      offer: "x-webkit-deflate-frame, foo; bar=1, permessage-deflate",
      answer: "permessage-deflate",
      parameters: DEFAULT_PARAMETERS,
    },
    {
      name: "the first acceptable of several offers (first has an unknown parameter)",
      offer: "permessage-deflate; foo, permessage-deflate; server_max_window_bits=10",
      answer: "permessage-deflate; server_max_window_bits=10",
      parameters: { ...DEFAULT_PARAMETERS, serverMaxWindowBits: 10 },
    },
    {
      name: "the first acceptable of several offers (first has a window of 16)",
      offer: "permessage-deflate; client_max_window_bits=16, permessage-deflate; client_max_window_bits=12",
      answer: "permessage-deflate; client_max_window_bits=12",
      parameters: { ...DEFAULT_PARAMETERS, clientMaxWindowBits: 12 },
    },
    {
      name: "the first of two acceptable offers",
      offer: "permessage-deflate; server_no_context_takeover, permessage-deflate",
      answer: "permessage-deflate; server_no_context_takeover",
      parameters: { ...DEFAULT_PARAMETERS, serverNoContextTakeover: true },
    },
    {
      name: "no acceptable offer: a duplicated parameter and an invalid value",
      offer:
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover, permessage-deflate; server_max_window_bits=7",
      answer: "",
    },
    {
      name: "server asks clients to reset context",
      offer: "permessage-deflate; client_max_window_bits",
      options: { clientNoContextTakeover: true },
      answer: "permessage-deflate; client_no_context_takeover",
      parameters: { ...DEFAULT_PARAMETERS, clientNoContextTakeover: true },
    },
    {
      name: "server limits the client's window (offer allows it)",
      offer: "permessage-deflate; client_max_window_bits",
      options: { clientMaxWindowBits: 10 },
      answer: "permessage-deflate; client_max_window_bits=10",
      parameters: { ...DEFAULT_PARAMETERS, clientMaxWindowBits: 10 },
    },
    {
      name: "server cannot limit the client's window when the offer lacks client_max_window_bits (Firefox)",
      offer: "permessage-deflate",
      options: { clientMaxWindowBits: 10 },
      answer: "permessage-deflate",
      parameters: DEFAULT_PARAMETERS,
    },
    {
      name: "extension name in other case",
      offer: "PerMessage-Deflate",
      answer: "permessage-deflate",
      parameters: DEFAULT_PARAMETERS,
    },
  ];
  for (const { name, offer, options, answer, parameters } of CASES) {
    test(`serverHandshake answers ${JSON.stringify(offer ?? null)} with ${JSON.stringify(answer || null)}: ${name}`, async () => {
      const headers = offer === undefined ? BASE : { ...BASE, "Sec-WebSocket-Extensions": offer };
      const result = await serverHandshake(
        request(headers),
        options === undefined ? {} : { deflate: options },
      );
      assertAccepted(result);
      assert.equal(result.response.headers.get("sec-websocket-extensions"), answer === "" ? null : answer);
      assert.equal(result.extensions, answer);
      if (parameters === undefined) {
        assert.deepEqual(result.negotiated, []);
      } else {
        assert.equal(result.negotiated.length, 1);
        const [extension] = result.negotiated;
        assert.ok(extension instanceof PerMessageDeflate);
        assert.deepEqual(extension.parameters, parameters);
      }
    });
  }
});
