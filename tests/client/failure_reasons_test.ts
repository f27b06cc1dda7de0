/**
 * A client that cannot open says why, through each API: `WebSocket.failure` (the events, as the standard
 * has them, carry nothing), `WebSocketStream.opened` rejecting, and the logger's line. The reasons beyond a
 * refused handshake: a subprotocol the client did not offer, a TLS failure (an untrusted certificate, or
 * TLS spoken to a plain server), and a server that never answers (handshakeTimeout).
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { computeAcceptKey } from "../../lib/handshake/accept_key.ts";
import { WebSocket } from "../../lib/client/websocket.ts";
import { WebSocketStream } from "../../lib/client/websocket_stream.ts";
import type { LogFields } from "../../lib/core/logger.ts";
import { withTimeout } from "../_raw_client.ts";

/** A TCP server that does what `answer` does with each connection's first bytes. */
async function rawServer(
  answer: (socket: Socket, head: string) => void,
): Promise<{ port: number; server: Server; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    let head = "";
    socket.on("data", (chunk) => {
      head += chunk;
      if (head.includes("\r\n\r\n")) answer(socket, head);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, server, sockets };
}

async function stop({ server, sockets }: { server: Server; sockets: Set<Socket> }): Promise<void> {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Opens with both APIs and returns the two failures (and the logger's line from the first). */
async function failures(url: string, options: { protocols?: string[]; handshakeTimeout?: number } = {}) {
  const lines: { message: string; fields?: LogFields }[] = [];
  const logger = {
    debug: (message: string, fields?: LogFields) => void lines.push({ message, fields }),
    warn() {},
    error() {},
  };
  const socket = new WebSocket(url, options.protocols ?? [], {
    handshakeTimeout: options.handshakeTimeout,
    logger,
  });
  const closed = await withTimeout(
    new Promise<{ code: number }>((resolve) =>
      socket.onclose = (event) => resolve(event as unknown as { code: number })
    ),
    20_000,
    "the WebSocket's close",
  );
  assert.equal(closed.code, 1006);
  const stream = new WebSocketStream(url, {
    protocols: options.protocols,
    handshakeTimeout: options.handshakeTimeout,
  });
  const rejected = await withTimeout(
    stream.opened.then(() => undefined, (error: Error) => error),
    20_000,
    "opened",
  );
  stream.closed.catch(() => {});
  assert.ok(rejected instanceof Error, "opened rejects");
  return { failure: socket.failure, rejected, lines };
}

describe("a client that cannot open says why", () => {
  test("the server chose a subprotocol that was not offered", { timeout: 60_000 }, async () => {
    const peer = await rawServer(async (socket, head) => {
      const key = /sec-websocket-key: *(\S+)/i.exec(head)![1];
      socket.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${await computeAcceptKey(key)}\r\nSec-WebSocket-Protocol: superchat\r\n\r\n`,
      );
    });
    try {
      const { failure, rejected, lines } = await failures(`ws://127.0.0.1:${peer.port}/`, {
        protocols: ["chat"],
      });
      for (const error of [failure, rejected]) {
        assert.match(String(error?.message), /the server chose subprotocol superchat, which was not offered/);
      }
      assert.match(
        String(lines.find((line) => line.message === "handshake failed")?.fields?.reason),
        /which was not offered/,
      );
    } finally {
      await stop(peer);
    }
  });

  test("the server never answers: handshakeTimeout", { timeout: 60_000 }, async () => {
    const peer = await rawServer(() => {}); // reads the request, says nothing
    try {
      const { failure, rejected } = await failures(`ws://127.0.0.1:${peer.port}/`, { handshakeTimeout: 300 });
      for (const error of [failure, rejected]) {
        assert.match(String(error?.message), /no answer within 300 ms/);
      }
    } finally {
      await stop(peer);
    }
  });

  test("TLS spoken to a plain server", { timeout: 60_000 }, async () => {
    const peer = await rawServer((socket) => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n"));
    // A TLS ClientHello is not an HTTP head: answer whatever arrives.
    peer.server.removeAllListeners("connection");
    peer.server.on("connection", (socket: Socket) => {
      peer.sockets.add(socket);
      socket.on("error", () => {});
      socket.once("data", () => socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"));
    });
    try {
      const { failure, rejected } = await failures(`wss://127.0.0.1:${peer.port}/`, {
        handshakeTimeout: 5000,
      });
      for (const error of [failure, rejected]) {
        assert.match(
          String(error?.message),
          new RegExp(`Cannot connect to wss://127\\.0\\.0\\.1:${peer.port}/: .+`),
        );
        assert.match(
          String(error?.message),
          /SSL|TLS|wrong version|record|packet|EPROTO|InvalidContentType|corrupt|handshake|closed/i,
        );
      }
    } finally {
      await stop(peer);
    }
  });

  test("an untrusted (self-signed) certificate", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "wsengine-failure-tls-"));
    let key: string, cert: string;
    try {
      execFileSync("openssl", [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ], { stdio: "ignore" });
      key = readFileSync(join(dir, "key.pem"), "utf8");
      cert = readFileSync(join(dir, "cert.pem"), "utf8");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const server = createHttpsServer({ key, cert }, (_req, res) => res.end());
    server.on("tlsClientError", () => {});
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const { failure, rejected } = await failures(`wss://localhost:${port}/`, { handshakeTimeout: 5000 });
      for (const error of [failure, rejected]) {
        assert.match(String(error?.message), new RegExp(`Cannot connect to wss://localhost:${port}/: `));
        assert.match(String(error?.message), /self[- ]signed|certificate|UnknownIssuer|verify/i);
      }
    } finally {
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
