/**
 * wss:// over TLS with a self-signed certificate made at test time (openssl): a node:https server with
 * handleNodeUpgrade, our client and the WebSocket class, compression on.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectNode } from "../lib/adapters/node_client.ts";
import { handleNodeUpgrade } from "../lib/adapters/node_http.ts";
import { listenBun } from "../lib/adapters/bun_listen.ts";
import { listenDeno } from "../lib/adapters/deno_listen.ts";
import { WebSocket } from "../lib/client/websocket.ts";
import { WAIT_MS, withTimeout } from "./_raw_client.ts";

function makeCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), "wsengine-tls-"));
  try {
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
      "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
    ], { stdio: "ignore" });
    return { key: readFileSync(join(dir, "key.pem"), "utf8"), cert: readFileSync(join(dir, "cert.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function withTlsServer(body: (port: number, cert: string, seen: { secureUrl?: string }) => Promise<void>): Promise<void> {
  const { key, cert } = makeCertificate();
  const seen: { secureUrl?: string } = {};
  const server: Server = createServer({ key, cert }, (_req, res) => res.end("not a websocket request\n"));
  server.on("upgrade", async (req, socket, head) => {
    const upgrade = await handleNodeUpgrade(req, socket, head);
    if (upgrade === undefined) return;
    seen.secureUrl = upgrade.request.url;
    const { connection } = upgrade;
    connection.onmessage = (data) => {
      if (connection.readyState === 1) connection.send(data).catch(() => {});
    };
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    await body((server.address() as AddressInfo).port, cert, seen);
  } finally {
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe("wss:// over TLS", () => {
  test("our client, trusting the test CA, exchanges compressed messages; the server sees an https URL", { timeout: 30_000 }, async () => {
    await withTlsServer(async (port, cert, seen) => {
      const { connection, extensions } = await connectNode(`wss://localhost:${port}/secure`, { tls: { ca: cert } });
      assert.equal(extensions, "permessage-deflate");
      const echoed = new Promise((resolve) => connection.onmessage = resolve);
      await connection.send("over TLS ".repeat(100));
      assert.equal(await withTimeout(echoed, WAIT_MS, "the echo"), "over TLS ".repeat(100));
      assert.equal(seen.secureUrl, `https://localhost:${port}/secure`);
      const closed = await connection.close(1000);
      assert.equal(closed.code, 1000);
    });
  });

  test("the WebSocket class over wss:// with TLS options", { timeout: 30_000 }, async () => {
    await withTlsServer(async (port, cert) => {
      const socket = new WebSocket(`wss://localhost:${port}/`, [], { tls: { ca: cert } });
      const message = new Promise<MessageEvent>((resolve) => socket.onmessage = (e) => resolve(e as MessageEvent));
      socket.onopen = () => socket.send("hello tls");
      assert.equal((await withTimeout(message, WAIT_MS, "the echo")).data, "hello tls");
      const closed = new Promise<CloseEvent>((resolve) => socket.onclose = (e) => resolve(e as CloseEvent));
      socket.close(1000);
      assert.equal((await withTimeout(closed, WAIT_MS, "close")).wasClean, true);
    });
  });

  // The runtimes' own TLS listeners with this library's engine: a large compressed message each way.
  const listeners = [
    { name: "listenBun", skip: "Bun" in globalThis ? false : "Bun.listen exists only on Bun", start: listenBun },
    { name: "listenDeno", skip: "Deno" in globalThis ? false : "Deno.listenTls exists only on Deno", start: listenDeno },
  ];
  for (const { name, skip, start } of listeners) {
    test(`${name}({ tls }): our client exchanges a 1 MiB compressed message; the server sees an https URL`, { skip, timeout: 30_000 }, async () => {
      const { key, cert } = makeCertificate();
      let url = "";
      const server = await start({
        port: 0,
        tls: { cert, key },
        upgrade: (request) => void (url = request.url),
        websocket: { message: (ws, data) => void ws.send(data).catch(() => {}) },
      });
      try {
        assert.match(server.url, /^wss:/);
        const { connection, extensions } = await connectNode(`wss://localhost:${server.port}/secure`, { tls: { ca: cert } });
        assert.equal(extensions, "permessage-deflate");
        const big = "over TLS, large ".repeat(65536);
        const echoed = new Promise((resolve) => connection.onmessage = resolve);
        await connection.send(big);
        assert.equal(await withTimeout(echoed, WAIT_MS, "the echo"), big);
        assert.equal(url, `https://localhost:${server.port}/secure`);
        assert.equal((await connection.close(1000)).code, 1000);
      } finally {
        await server.close();
      }
    });
  }

  test("an untrusted certificate fails the connection with an error naming the URL", { timeout: 30_000 }, async () => {
    await withTlsServer(async (port) => {
      await assert.rejects(
        connectNode(`wss://localhost:${port}/`, { handshakeTimeout: 5000 }),
        (error: unknown) => error instanceof Error && error.message.includes(`wss://localhost:${port}/`),
      );
    });
  });
});
