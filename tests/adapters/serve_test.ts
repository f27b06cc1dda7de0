/**
 * serve(): plain requests to a fetch-style handler, upgrades to WebSocket callbacks (in order), the upgrade
 * hook before the 101, compression by default, and shutdown with 1001.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connectNode } from "../../lib/adapters/node_client.ts";
import { serve, type ServerSocket } from "../../lib/adapters/serve.ts";
import { WAIT_MS, withTimeout } from "../_raw_client.ts";

describe("serve()", () => {
  test("plain requests go to fetch (method, body, headers, cookies); upgrades to the handler", async () => {
    const server = await serve({
      port: 0,
      fetch: async (request) => {
        const body = request.method === "POST" ? await request.text() : "";
        const headers = new Headers({ "x-path": new URL(request.url).pathname });
        headers.append("set-cookie", "a=1");
        headers.append("set-cookie", "b=2");
        return new Response(`${request.method} ${body}`, { status: 201, headers });
      },
      websocket: { message: (socket, data) => socket.send(data) },
    });
    try {
      const http = server.url.replace("ws:", "http:");
      const get = await fetch(http + "some/path");
      assert.equal(get.status, 201);
      assert.equal(await get.text(), "GET ");
      assert.equal(get.headers.get("x-path"), "/some/path");
      assert.deepEqual(get.headers.getSetCookie(), ["a=1", "b=2"]);
      const post = await fetch(http, { method: "POST", body: "payload" });
      assert.equal(await post.text(), "POST payload");
      const { connection, extensions } = await connectNode(server.url);
      assert.equal(extensions, "permessage-deflate", "compression on by default");
      const echoed = new Promise((resolve) => connection.onmessage = resolve);
      await connection.send("over the socket");
      assert.equal(await withTimeout(echoed, WAIT_MS, "the echo"), "over the socket");
      await connection.close(1000);
    } finally {
      await server.close();
    }
  });

  test("callbacks run in order: open, message, close; data set in open is kept", async () => {
    const calls: string[] = [];
    let closed!: () => void;
    const done = new Promise<void>((resolve) => closed = resolve);
    const server = await serve<{ name: string }>({
      port: 0,
      websocket: {
        open: (socket) => {
          socket.data = { name: new URL(socket.request.url).searchParams.get("name") ?? "" };
          calls.push(`open ${socket.data.name}`);
        },
        message: (socket, data) => calls.push(`message ${socket.data.name} ${data}`),
        close: (socket, code, reason, wasClean) => {
          calls.push(`close ${socket.data.name} ${code} ${reason} ${wasClean}`);
          closed();
        },
      },
    });
    try {
      const { connection } = await connectNode(server.url + "?name=ana");
      await connection.send("first");
      await connection.close(1000, "bye");
      await withTimeout(done, WAIT_MS, "the close callback");
      assert.deepEqual(calls, ["open ana", "message ana first", "close ana 1000 bye true"]);
    } finally {
      await server.close();
    }
  });

  test("the upgrade hook refuses with its own Response before anything is accepted", async () => {
    let opened = 0;
    const server = await serve({
      port: 0,
      protocols: ["chat"],
      upgrade: (request) =>
        new URL(request.url).searchParams.get("token") === "secret" ? undefined : new Response("no token\n", { status: 401 }),
      websocket: { open: () => opened++ },
    });
    try {
      await assert.rejects(connectNode(server.url), /answered 401/);
      const { connection, protocol } = await connectNode(server.url + "?token=secret", { protocols: ["chat"] });
      assert.equal(protocol, "chat");
      assert.equal(opened, 1);
      await connection.close(1000);
    } finally {
      await server.close();
    }
  });

  test("a message handler that throws with no error callback is logged (with the error) and closes with 1011", async () => {
    const server = await serve({
      port: 0,
      websocket: {
        message: () => {
          throw new Error("the handler's own bug");
        },
      },
    });
    const logged: unknown[][] = [];
    const realError = console.error;
    console.error = (...args: unknown[]) => void logged.push(args);
    try {
      const { connection } = await connectNode(server.url);
      await connection.send("boom");
      const closed = await withTimeout(connection.closed, WAIT_MS, "the close");
      assert.equal(closed.code, 1011);
      assert.equal(logged.length, 1);
      assert.match(String(logged[0][0]), /message handler threw; the connection was closed with 1011/);
      assert.equal((logged[0][1] as Error).message, "the handler's own bug");
    } finally {
      console.error = realError;
      await server.close();
    }
  });

  test("without fetch, a plain request gets 426; close() ends open sockets with 1001", async () => {
    const sockets: ServerSocket[] = [];
    const server = await serve({ port: 0, websocket: { open: (socket) => sockets.push(socket) } });
    const response = await fetch(server.url.replace("ws:", "http:"));
    assert.equal(response.status, 426);
    assert.equal(response.headers.get("upgrade"), "websocket");
    await response.body?.cancel();
    const { connection } = await connectNode(server.url);
    await withTimeout((async () => {
      while (sockets.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    })(), WAIT_MS, "open");
    assert.equal(server.sockets.size, 1);
    await server.close();
    const result = await withTimeout(connection.closed, WAIT_MS, "the client's close");
    assert.equal(result.code, 1001);
    assert.equal(server.sockets.size, 0);
  });
});
