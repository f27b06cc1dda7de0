import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { type ClientConnection, connectTransport, parseResponseHead } from "../../lib/client/connect_transport.ts";
import { Connection, type Transport } from "../../lib/connection.ts";
import { serverHandshake } from "../../lib/handshake/server_handshake.ts";

// connectTransport driven against an in-memory server: two TransformStreams, no sockets.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The accept value computed independently of lib/handshake/accept_key.ts. */
function referenceAccept(key: string): string {
  return createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
}

function hex(text: string): Uint8Array {
  return Uint8Array.from(text.trim().split(/\s+/), (byte) => parseInt(byte, 16));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function indexOfBlankLine(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
  }
  return -1;
}

/** An unmasked server text frame "hi" (RFC 6455 §5.7 style). */
const HI = hex("81 02 68 69");

interface ReceivedRequest {
  /** The request line. */
  line: string;
  /** Header lines as sent, in order. */
  lines: string[];
  headers: Headers;
  /** Bytes after the request head (a client sends none before the 101). */
  rest: Uint8Array;
}

/** The server end of an in-memory transport. */
class FakeServer {
  /** What the client under test gets. */
  readonly transport: Transport;
  readonly #fromClient: ReadableStreamDefaultReader<Uint8Array>;
  readonly #toClient: WritableStreamDefaultWriter<Uint8Array>;

  /** @param queued Chunks the client's readable holds before it is read (a socket's receive buffer). */
  constructor(queued = 0) {
    const up = new TransformStream<Uint8Array, Uint8Array>(); // client -> server
    const down = new TransformStream<Uint8Array, Uint8Array>({}, undefined, { highWaterMark: queued }); // server -> client
    this.transport = { readable: down.readable, writable: up.writable };
    this.#fromClient = up.readable.getReader();
    this.#toClient = down.writable.getWriter();
  }

  /** Reads the client's request head. */
  async readRequest(): Promise<ReceivedRequest> {
    let received: Uint8Array = new Uint8Array(0);
    for (;;) {
      const end = indexOfBlankLine(received);
      if (end !== -1) {
        const [line, ...lines] = decoder.decode(received.subarray(0, end)).split("\r\n");
        const headers = new Headers();
        for (const header of lines) {
          const colon = header.indexOf(":");
          assert.ok(colon > 0, `request header line without a colon: ${header}`);
          headers.append(header.slice(0, colon), header.slice(colon + 1).trim());
        }
        return { line, lines, headers, rest: received.subarray(end + 4) };
      }
      const { value, done } = await this.#fromClient.read();
      if (done) throw new Error("the client closed before sending a request head");
      received = concat(received, value);
    }
  }

  /** Sends chunks to the client, in order, without waiting for the client to read them. */
  send(...chunks: (string | Uint8Array)[]): void {
    for (const chunk of chunks) {
      this.#toClient.write(typeof chunk === "string" ? encoder.encode(chunk) : chunk).catch(() => {});
    }
  }

  /** Ends the server's side (TCP FIN) and stops reading the client's. */
  async end(): Promise<void> {
    await this.#toClient.close().catch(() => {});
    await this.#fromClient.cancel().catch(() => {});
  }

  /** Resolves once the client has closed or aborted its side, with how; bytes sent meanwhile are dropped. */
  async clientEnded(): Promise<"closed" | "aborted"> {
    try {
      for (;;) {
        const { done } = await this.#fromClient.read();
        if (done) return "closed";
      }
    } catch {
      return "aborted";
    }
  }

  /** Hands the streams over to a server-side Connection, with bytes already read from the client. */
  serverConnection(head: Uint8Array, options: ConstructorParameters<typeof Connection>[1]): Connection {
    const reader = this.#fromClient;
    const writer = this.#toClient;
    const readable = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { value, done } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel: () => reader.cancel(),
    });
    const writable = new WritableStream<Uint8Array>({
      write: (chunk) => writer.write(chunk),
      close: () => writer.close(),
      abort: () => writer.abort(),
    });
    return new Connection({ readable, writable }, { ...options, head });
  }
}

/** A 101 head answering `key`, with extra header lines. */
function switchingProtocols(key: string, extra: string[] = []): string {
  return [
    "HTTP/1.1 101 Switching Protocols",
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Accept: ${referenceAccept(key)}`,
    ...extra,
    "",
    "",
  ].join("\r\n");
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) =>
    timer = setTimeout(() => reject(new Error(`Timed out: ${what}`)), ms)
  );
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The first message the connection delivers. */
function firstMessage(connection: Connection): Promise<string | Uint8Array> {
  return withTimeout(new Promise((resolve) => connection.onmessage = resolve), 2000, "a message");
}

/** Ends the server side and waits for the client connection to finish. */
async function shutdown(server: FakeServer, client: ClientConnection): Promise<void> {
  await server.end();
  await withTimeout(client.connection.closed, 2000, "the connection to close");
}

const URL_TEXT = "ws://example.com:8080/chat?room=1";

/** Asserts a rejection with an Error naming the URL and matching `cause`. */
async function assertConnectFails(promise: Promise<unknown>, cause: RegExp, url = URL_TEXT): Promise<void> {
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

describe("RFC 6455 §4.1: connectTransport sends the opening handshake", () => {
  test("connectTransport writes an HTTP/1.1 GET head with the handshake headers and nothing after it", async () => {
    const server = new FakeServer();
    const connecting = connectTransport(URL_TEXT, server.transport, {
      protocols: ["chat", "superchat"],
      headers: { Cookie: "session=abc", Origin: "https://app.example.com" },
      closeTimeout: 200,
    });
    const request = await server.readRequest();
    // §4.1: "The method of the request MUST be GET, and the HTTP version MUST be at least 1.1", and the
    // Request-URI is the path and query.
    assert.equal(request.line, "GET /chat?room=1 HTTP/1.1");
    assert.equal(request.headers.get("host"), "example.com:8080");
    assert.equal(request.headers.get("upgrade"), "websocket");
    assert.equal(request.headers.get("connection"), "Upgrade");
    assert.equal(request.headers.get("sec-websocket-version"), "13");
    assert.equal(request.headers.get("sec-websocket-protocol"), "chat, superchat");
    assert.equal(
      request.headers.get("sec-websocket-extensions"),
      "permessage-deflate; client_max_window_bits",
    );
    assert.equal(request.headers.get("cookie"), "session=abc");
    assert.equal(request.headers.get("origin"), "https://app.example.com");
    const key = request.headers.get("sec-websocket-key")!;
    assert.match(key, /^[A-Za-z0-9+/]{21}[AQgw]==$/);
    // Each header once, each line "name: value".
    assert.equal(new Set(request.lines.map((l) => l.split(":")[0].toLowerCase())).size, request.lines.length);
    for (const line of request.lines) assert.match(line, /^[a-z0-9-]+: \S/);
    assert.equal(request.rest.length, 0);

    server.send(
      switchingProtocols(key, [
        "Sec-WebSocket-Protocol: superchat",
        "Sec-WebSocket-Extensions: permessage-deflate",
      ]),
    );
    const client = await connecting;
    assert.equal(client.protocol, "superchat");
    assert.equal(client.extensions, "permessage-deflate");
    assert.equal(client.url.href, URL_TEXT);
    await shutdown(server, client);
  });

  test("connectTransport asks for / when the URL has no path, and keeps the query", async () => {
    for (
      const [url, line] of [
        ["ws://example.com", "GET / HTTP/1.1"],
        ["ws://example.com?x=1", "GET /?x=1 HTTP/1.1"],
        ["http://[::1]:9000/a%20b", "GET /a%20b HTTP/1.1"],
      ]
    ) {
      const server = new FakeServer();
      const connecting = connectTransport(url, server.transport, { closeTimeout: 200 });
      const request = await server.readRequest();
      assert.equal(request.line, line);
      server.send(switchingProtocols(request.headers.get("sec-websocket-key")!));
      await shutdown(server, await connecting);
    }
  });
});

describe("connectTransport reads the 101 response at any chunk boundary", () => {
  test("connectTransport delivers a frame sent in the same chunk as the 101 head", async () => {
    const server = new FakeServer();
    const connecting = connectTransport(URL_TEXT, server.transport, { closeTimeout: 200 });
    const request = await server.readRequest();
    server.send(concat(encoder.encode(switchingProtocols(request.headers.get("sec-websocket-key")!)), HI));
    const client = await connecting;
    assert.equal(await firstMessage(client.connection), "hi");
    await shutdown(server, client);
  });

  test("connectTransport delivers frames queued behind the 101 head to handlers set after several awaits", async () => {
    // A socket's receive buffer can hold the 101 head and the server's first frames as separate chunks
    // by the time the head is parsed. A caller that reaches connectTransport through another async
    // function (as connectNode and the WebSocket class do) sets its handlers some microtasks later.
    const server = new FakeServer(8);
    const open = async () =>
      await (async () => await connectTransport(URL_TEXT, server.transport, { closeTimeout: 200 }))();
    const connecting = open();
    const request = await server.readRequest();
    server.send(switchingProtocols(request.headers.get("sec-websocket-key")!), HI, hex("81 03 79 6f 75"));
    const client = await connecting;
    const messages: (string | Uint8Array)[] = [];
    client.connection.onmessage = (data) => messages.push(data);
    await withTimeout(
      (async () => {
        while (messages.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
      })(),
      2000,
      "two messages",
    );
    assert.deepEqual(messages, ["hi", "you"]);
    await shutdown(server, client);
  });

  /** Runs one handshake whose answer (101 head + "hi" frame) is cut into chunks by `split`. */
  async function answerInChunks(split: (bytes: Uint8Array) => Uint8Array[]): Promise<void> {
    const server = new FakeServer();
    const connecting = connectTransport(URL_TEXT, server.transport, {
      protocols: ["chat"],
      closeTimeout: 200,
    });
    const request = await server.readRequest();
    const head = switchingProtocols(request.headers.get("sec-websocket-key")!, [
      "Sec-WebSocket-Protocol: chat",
      "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
    ]);
    server.send(...split(concat(encoder.encode(head), HI)));
    const client = await connecting;
    assert.equal(client.protocol, "chat");
    assert.equal(
      client.extensions,
      "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
    );
    assert.equal(await firstMessage(client.connection), "hi");
    await shutdown(server, client);
  }

  test("connectTransport reads a response sent one byte per chunk", async () => {
    await answerInChunks((bytes) => Array.from(bytes, (byte) => Uint8Array.of(byte)));
  });

  test("connectTransport reads a response split in two at every offset", async () => {
    const length = encoder.encode(switchingProtocols("dGhlIHNhbXBsZSBub25jZQ==", [
      "Sec-WebSocket-Protocol: chat",
      "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
    ])).length + HI.length;
    for (let at = 1; at < length; at++) {
      await answerInChunks((bytes) => [bytes.slice(0, at), bytes.slice(at)]);
    }
  });

  test("connectTransport accepts a 60 KiB response head", async () => {
    const server = new FakeServer();
    const connecting = connectTransport(URL_TEXT, server.transport, { closeTimeout: 200 });
    const request = await server.readRequest();
    const head = encoder.encode(
      switchingProtocols(request.headers.get("sec-websocket-key")!, [`X-Pad: ${"a".repeat(60 * 1024)}`]),
    );
    const chunks = [];
    for (let i = 0; i < head.length; i += 1024) chunks.push(head.slice(i, i + 1024));
    server.send(...chunks, HI);
    const client = await connecting;
    assert.equal(await firstMessage(client.connection), "hi");
    await shutdown(server, client);
  });
});

describe("connectTransport fails with an error naming the URL, and closes the transport", () => {
  const OVERSIZE: { name: string; chunks: (key: string) => Uint8Array[] }[] = [
    {
      name: "a head over 64 KiB that never ends, in 1 KiB chunks",
      chunks: (key) => {
        const start = encoder.encode(
          switchingProtocols(key).slice(0, -2) + `X-Pad: ${"a".repeat(70 * 1024)}`,
        );
        const out = [];
        for (let i = 0; i < start.length; i += 1024) out.push(start.slice(i, i + 1024));
        return out;
      },
    },
    {
      name: "a complete 70 KiB head in one chunk",
      chunks: (key) => [encoder.encode(switchingProtocols(key, [`X-Pad: ${"a".repeat(70 * 1024)}`]))],
    },
    {
      name: "a complete 70 KiB head in 1 KiB chunks",
      chunks: (key) => {
        const head = encoder.encode(switchingProtocols(key, [`X-Pad: ${"a".repeat(70 * 1024)}`]));
        const out = [];
        for (let i = 0; i < head.length; i += 1024) out.push(head.slice(i, i + 1024));
        return out;
      },
    },
    {
      name: "1 MiB of garbage without a blank line",
      chunks: () => [new Uint8Array(1024 * 1024).fill(0x41)],
    },
  ];
  for (const { name, chunks } of OVERSIZE) {
    test(`connectTransport refuses ${name}`, async () => {
      const server = new FakeServer();
      const connecting = connectTransport(URL_TEXT, server.transport);
      const request = await server.readRequest();
      server.send(...chunks(request.headers.get("sec-websocket-key")!));
      await assertConnectFails(connecting, /the response head exceeds 65536 bytes/);
      assert.equal(await withTimeout(server.clientEnded(), 2000, "the client to close"), "aborted");
    });
  }

  test("connectTransport fails when the server closes before answering", async () => {
    const server = new FakeServer();
    const connecting = connectTransport(URL_TEXT, server.transport);
    await server.readRequest();
    await server.end();
    await assertConnectFails(connecting, /the connection closed during the handshake/);
  });

  test("connectTransport fails when the server closes in the middle of the 101 head", async () => {
    const server = new FakeServer();
    const connecting = connectTransport(URL_TEXT, server.transport);
    const request = await server.readRequest();
    server.send(switchingProtocols(request.headers.get("sec-websocket-key")!).slice(0, 60));
    await server.end();
    await assertConnectFails(connecting, /the connection closed during the handshake/);
  });

  test("connectTransport fails after handshakeTimeout when the server does not answer", async () => {
    const server = new FakeServer();
    const started = Date.now();
    const connecting = connectTransport(URL_TEXT, server.transport, { handshakeTimeout: 100 });
    await server.readRequest();
    await assertConnectFails(connecting, /no answer within 100 ms/);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 90 && elapsed < 2000, `failed after ${elapsed} ms`);
    assert.equal(await withTimeout(server.clientEnded(), 2000, "the client to close"), "aborted");
  });

  test("connectTransport fails after handshakeTimeout when the server answers half a head", async () => {
    const server = new FakeServer();
    const connecting = connectTransport(URL_TEXT, server.transport, { handshakeTimeout: 100 });
    const request = await server.readRequest();
    server.send(switchingProtocols(request.headers.get("sec-websocket-key")!).slice(0, -2));
    await assertConnectFails(connecting, /no answer within 100 ms/);
  });

  test("connectTransport fails after handshakeTimeout when the server never reads the request", async () => {
    const server = new FakeServer();
    await assertConnectFails(
      connectTransport(URL_TEXT, server.transport, { handshakeTimeout: 100 }),
      /no answer within 100 ms/,
    );
  });

  const ANSWERS: { name: string; answer: (key: string) => string; cause: RegExp }[] = [
    {
      name: "a 400 with a body",
      answer: () =>
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nbad request\n",
      cause: /the server answered 400: bad request$/,
    },
    {
      name: "a 426 asking for another version",
      answer: () => "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 8\r\nContent-Length: 0\r\n\r\n",
      cause: /the server answered 426$/,
    },
    {
      name: "a redirect",
      answer: () =>
        "HTTP/1.1 301 Moved Permanently\r\nLocation: wss://example.com/chat\r\nContent-Length: 0\r\n\r\n",
      cause: /the server answered 301 \(redirect to wss:\/\/example\.com\/chat, not followed\)/,
    },
    {
      name: "a wrong Sec-WebSocket-Accept",
      answer: () => switchingProtocols("dGhlIHNhbXBsZSBub25jZQ=="),
      cause: /Sec-WebSocket-Accept s3pPLMBiTxaQ9kYGzzhZRbK\+xOo= does not match the key/,
    },
    {
      name: "an extension that was not offered",
      answer: (key) => switchingProtocols(key, ["Sec-WebSocket-Extensions: x-webkit-deflate-frame"]),
      cause: /the server accepted extension x-webkit-deflate-frame, which was not offered/,
    },
    {
      name: "a Shoutcast status line",
      answer: () => "ICY 200 OK\r\nicy-name: radio\r\n\r\n",
      cause: /does not start with an HTTP\/1\.1 status line: ICY 200 OK/,
    },
    {
      name: "a header line without a colon",
      answer: (key) => switchingProtocols(key, ["Upgrade websocket"]),
      cause: /malformed response header line: Upgrade websocket/,
    },
  ];
  for (const { name, answer, cause } of ANSWERS) {
    test(`connectTransport fails on ${name}`, async () => {
      const server = new FakeServer();
      const connecting = connectTransport(URL_TEXT, server.transport);
      const request = await server.readRequest();
      server.send(answer(request.headers.get("sec-websocket-key")!));
      await assertConnectFails(connecting, cause);
      assert.equal(await withTimeout(server.clientEnded(), 2000, "the client to close"), "aborted");
    });
  }

  test("connectTransport throws a SyntaxError for a URL it cannot use, before writing anything", async () => {
    const server = new FakeServer();
    await assert.rejects(connectTransport("ftp://example.com/", server.transport), SyntaxError);
    await assert.rejects(connectTransport("ws://example.com/#x", server.transport), SyntaxError);
  });
});

describe("connectTransport against serverHandshake", () => {
  test("connectTransport and serverHandshake negotiate a subprotocol and permessage-deflate, then echo", async () => {
    const server = new FakeServer();
    const connecting = connectTransport("ws://example.com/echo", server.transport, {
      protocols: ["v11.stomp", "v12.stomp"],
      deflate: { serverMaxWindowBits: 11 },
      closeTimeout: 500,
    });
    const received = await server.readRequest();
    const [method, target] = received.line.split(" ");
    const result = await serverHandshake(
      new Request(`http://${received.headers.get("host")}${target}`, { method, headers: received.headers }),
      { protocols: ["v12.stomp", "v11.stomp"] },
    );
    assert.ok(result.ok, "serverHandshake accepts the client's request");
    let head = `HTTP/1.1 ${result.response.status} Switching Protocols\r\n`;
    result.response.headers.forEach((value, name) => head += `${name}: ${value}\r\n`);
    server.send(head + "\r\n");
    const echo = server.serverConnection(received.rest, {
      role: "server",
      extensions: result.negotiated,
      closeTimeout: 500,
    });
    echo.onmessage = (data) => echo.send(data);

    const client = await connecting;
    assert.equal(client.protocol, "v12.stomp");
    assert.equal(client.extensions, "permessage-deflate; server_max_window_bits=11");
    const message = "SEND\ndestination:/queue/a\n\n" + "hello ".repeat(200);
    const reply = firstMessage(client.connection);
    await client.connection.send(message);
    assert.equal(await reply, message);
    const closed = await withTimeout(client.connection.close(1000, "done"), 2000, "the closing handshake");
    assert.equal(closed.code, 1000);
    assert.equal(closed.wasClean, true);
    await withTimeout(echo.closed, 2000, "the server side to close");
  });
});

describe("parseResponseHead", () => {
  const GOOD: { name: string; head: string; status: number; headers: [string, string][] }[] = [
    {
      name: "RFC 6455 §1.3 answer",
      head: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat",
      status: 101,
      headers: [
        ["connection", "Upgrade"],
        ["sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="],
        ["sec-websocket-protocol", "chat"],
        ["upgrade", "websocket"],
      ],
    },
    {
      name: "an older server's reason phrase",
      head: "HTTP/1.1 101 Web Socket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade",
      status: 101,
      headers: [["connection", "Upgrade"], ["upgrade", "WebSocket"]],
    },
    {
      name: "no reason phrase",
      head: "HTTP/1.1 101\r\nUpgrade: websocket",
      status: 101,
      headers: [["upgrade", "websocket"]],
    },
    {
      name: "an empty reason phrase",
      head: "HTTP/1.1 101 \r\nUpgrade: websocket",
      status: 101,
      headers: [["upgrade", "websocket"]],
    },
    { name: "no header at all", head: "HTTP/1.1 204 No Content", status: 204, headers: [] },
    {
      name: "header spacing: none, several, tabs",
      head: "HTTP/1.1 101 OK\r\nupgrade:websocket\r\nConnection:   Upgrade   \r\nX-A:\tb\t",
      status: 101,
      headers: [["connection", "Upgrade"], ["upgrade", "websocket"], ["x-a", "b"]],
    },
    {
      name: "a value containing colons",
      head: "HTTP/1.1 302 Found\r\nLocation: http://example.com:8080/a:b",
      status: 302,
      headers: [["location", "http://example.com:8080/a:b"]],
    },
    { name: "an empty value", head: "HTTP/1.1 101 OK\r\nX-Empty:", status: 101, headers: [["x-empty", ""]] },
    {
      name: "a header repeated on two lines",
      head:
        "HTTP/1.1 101 OK\r\nSec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Extensions: x-foo",
      status: 101,
      headers: [["sec-websocket-extensions", "permessage-deflate, x-foo"]],
    },
    {
      name: "a 400 from nginx",
      head: "HTTP/1.1 400 Bad Request\r\nServer: nginx/1.29.0\r\nDate: Tue, 03 Nov 2026 10:00:00 GMT\r\n" +
        "Content-Type: text/html\r\nContent-Length: 157\r\nConnection: close",
      status: 400,
      headers: [
        ["connection", "close"],
        ["content-length", "157"],
        ["content-type", "text/html"],
        ["date", "Tue, 03 Nov 2026 10:00:00 GMT"],
        ["server", "nginx/1.29.0"],
      ],
    },
  ];
  for (const { name, head, status, headers } of GOOD) {
    test(`parseResponseHead reads ${name}`, () => {
      const parsed = parseResponseHead(head);
      assert.equal(parsed.status, status);
      assert.deepEqual([...parsed.headers].sort(([a], [b]) => a.localeCompare(b)), headers);
    });
  }

  const BAD: { name: string; head: string; message: RegExp }[] = [
    // RFC 7230 §6.7, RFC 7231 §6.2: 101 and Upgrade belong to HTTP/1.1; an HTTP/1.0 hop cannot have
    // switched protocols (python-websockets refuses the same: "unsupported protocol; expected HTTP/1.1").
    {
      name: "HTTP/1.0 101",
      head: "HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket",
      message: /status line: HTTP\/1\.0 101/,
    },
    { name: "HTTP/2", head: "HTTP/2 101\r\nUpgrade: websocket", message: /status line: HTTP\/2 101/ },
    { name: "HTTP/0.9-style garbage", head: "<html><body>hi</body></html>", message: /status line: <html>/ },
    { name: "lowercase protocol name", head: "http/1.1 101 Switching Protocols", message: /status line/ },
    { name: "two-digit status", head: "HTTP/1.1 10 Switching", message: /status line/ },
    { name: "four-digit status", head: "HTTP/1.1 1010 Switching", message: /status line/ },
    { name: "no space before the status", head: "HTTP/1.1101 Switching", message: /status line/ },
    { name: "two spaces before the status", head: "HTTP/1.1  101 Switching", message: /status line/ },
    { name: "leading space", head: " HTTP/1.1 101 Switching", message: /status line/ },
    { name: "an empty head", head: "", message: /status line/ },
    { name: "SSH banner", head: "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13", message: /status line: SSH-2\.0/ },
    {
      name: "a header line without a colon",
      head: "HTTP/1.1 101 OK\r\nUpgrade websocket",
      message: /malformed response header line: Upgrade websocket/,
    },
    {
      name: "a header line starting with a colon",
      head: "HTTP/1.1 101 OK\r\n: websocket",
      message: /malformed response header line: : websocket/,
    },
    {
      name: "an obsolete folded line",
      head: "HTTP/1.1 101 OK\r\nX-A: b\r\n  continued",
      message: /malformed response header line/,
    },
    {
      name: "a space in the header name",
      head: "HTTP/1.1 101 OK\r\nSec WebSocket Accept: x",
      message: /malformed response header line: Sec WebSocket/,
    },
    {
      name: "an empty line inside",
      head: "HTTP/1.1 101 OK\r\n\r\nUpgrade: websocket",
      message: /malformed response header line/,
    },
  ];
  for (const { name, head, message } of BAD) {
    test(`parseResponseHead rejects ${name}`, () => {
      assert.throws(() => parseResponseHead(head), (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.match(error.message, message);
        return true;
      });
    });
  }

  test("parseResponseHead cuts a long bad line to 80 characters in the message", () => {
    assert.throws(() => parseResponseHead(`HTTP/1.1 101 OK\r\n${"x".repeat(10_000)}`), (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.ok(error.message.length < 200, `message of ${error.message.length} characters`);
      return true;
    });
  });
});
