/**
 * listenDeno(): the raw Deno.listen server path (Deno only: skipped, with the reason, under Bun).
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listenDeno } from "../../lib/adapters/deno_listen.ts";
import { connectNode } from "../../lib/adapters/node_client.ts";
import { WAIT_MS, withTimeout } from "../_raw_client.ts";

const skip = "Deno" in globalThis ? false : "Deno.listen exists only on Deno";

/** Sends raw bytes and returns what the server answered before closing (bounded). */
function rawExchange(port: number, request: string, dribbleMs = 0, stopAtHead = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`No close within 5 s; got: ${answer}`));
    }, 5000);
    socket.on("data", (chunk) => {
      answer += chunk;
      if (stopAtHead && answer.includes("\r\n\r\n")) socket.destroy();
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.on("error", () => {});
    socket.on("connect", async () => {
      if (dribbleMs === 0) {
        socket.write(request);
        return;
      }
      for (const char of request) {
        if (socket.destroyed) return;
        socket.write(char);
        await new Promise((r) => setTimeout(r, dribbleMs));
      }
    });
  });
}

describe("listenDeno", () => {
  test("echoes text and binary with permessage-deflate; callbacks run open, message, close", { skip }, async () => {
    const calls: string[] = [];
    const server = await listenDeno({
      port: 0,
      protocols: ["chat"],
      websocket: {
        open: (socket) => calls.push(`open ${socket.protocol}`),
        message: (socket, data) => {
          calls.push(`message ${typeof data}`);
          socket.send(data);
        },
        close: (_socket, code) => calls.push(`close ${code}`),
      },
    });
    try {
      const { connection, protocol, extensions } = await connectNode(server.url, { protocols: ["chat"] });
      assert.equal(protocol, "chat");
      assert.equal(extensions, "permessage-deflate");
      const received: unknown[] = [];
      const both = new Promise<void>((resolve) => {
        connection.onmessage = (data) => {
          received.push(data);
          if (received.length === 2) resolve();
        };
      });
      await connection.send("hello ".repeat(1000));
      await connection.send(new Uint8Array([1, 2, 3]));
      await withTimeout(both, WAIT_MS, "two echoes");
      assert.deepEqual(received, ["hello ".repeat(1000), new Uint8Array([1, 2, 3])]);
      assert.equal((await connection.close(1000)).code, 1000);
      await withTimeout((async () => {
        while (!calls.includes("close 1000")) await new Promise((r) => setTimeout(r, 10));
      })(), WAIT_MS, "the close callback");
      assert.deepEqual(calls, ["open chat", "message string", "message object", "close 1000"]);
    } finally {
      await server.close();
    }
  });

  test("refusals with the right status: 426 for plain GET, 400 for HTTP/1.0, 431 for a huge head, 408 for a slow one, the hook's 401", { skip }, async () => {
    const server = await listenDeno({
      port: 0,
      maxHeadSize: 1024,
      headTimeout: 300,
      upgrade: (request) => request.headers.has("authorization") ? undefined : new Response("who are you\n", { status: 401 }),
      websocket: {},
    });
    try {
      const upgradeHead = (version: string, extra = "") =>
        `GET / HTTP/${version}\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
      assert.match(await rawExchange(server.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), /^HTTP\/1\.1 426 /);
      assert.match(await rawExchange(server.port, upgradeHead("1.0")), /^HTTP\/1\.1 400 [\s\S]*older than HTTP\/1\.1/);
      assert.match(await rawExchange(server.port, upgradeHead("1.1", `X-Big: ${"a".repeat(2000)}\r\n`)), /^HTTP\/1\.1 431 /);
      const started = Date.now();
      assert.match(await rawExchange(server.port, upgradeHead("1.1"), 50), /^HTTP\/1\.1 408 /);
      assert.ok(Date.now() - started < 2000, "cut at the head timeout");
      assert.match(await rawExchange(server.port, upgradeHead("1.1")), /^HTTP\/1\.1 401 [\s\S]*who are you/);
      const accepted = await rawExchange(server.port, upgradeHead("1.1", "Authorization: Bearer x\r\n"), 0, true);
      assert.match(accepted, /^HTTP\/1\.1 101 /);
      assert.match(accepted, /sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i);
    } finally {
      await server.close();
    }
  });

  test("close() ends open connections with 1001", { skip }, async () => {
    const server = await listenDeno({ port: 0, websocket: {} });
    const { connection } = await connectNode(server.url);
    await withTimeout((async () => {
      while (server.sockets.size === 0) await new Promise((r) => setTimeout(r, 10));
    })(), WAIT_MS, "the server to open");
    await server.close();
    assert.equal((await withTimeout(connection.closed, WAIT_MS, "close")).code, 1001);
  });

  test("listenTls: wss:// with a certificate made at test time, compression on", { skip }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "wsengine-denotls-"));
    let cert: string, key: string;
    try {
      execFileSync("openssl", [
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
      ], { stdio: "ignore" });
      cert = readFileSync(join(dir, "cert.pem"), "utf8");
      key = readFileSync(join(dir, "key.pem"), "utf8");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const server = await listenDeno({ port: 0, tls: { cert, key }, websocket: { message: (socket, data) => socket.send(data) } });
    try {
      assert.match(server.url, /^wss:\/\//);
      const url = server.url.replace("127.0.0.1", "localhost");
      const { connection, extensions } = await connectNode(url, { tls: { ca: cert } });
      assert.equal(extensions, "permessage-deflate");
      const echoed = new Promise((resolve) => connection.onmessage = resolve);
      await connection.send("over TLS on Deno.listenTls");
      assert.equal(await withTimeout(echoed, WAIT_MS, "the echo"), "over TLS on Deno.listenTls");
      await connection.close(1000);
    } finally {
      await server.close();
    }
  });
});
