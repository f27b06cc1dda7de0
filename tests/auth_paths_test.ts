/**
 * Authentication and authorization across the upgrade, on every server path (tests/_server_paths.ts): the
 * `upgrade` hook's acceptance (data and user) reaches every callback, `disconnectUser` closes a user's
 * sockets, credentials that expire close their socket with 4401, and `authorizeSubscribe` guards topics.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ServerSocket } from "../lib/adapters/_socket_handler.ts";
import type { Frame } from "../lib/core/frame.ts";
import { type PathOptions, SERVER_PATHS } from "./_server_paths.ts";
import { pause, RawClient, WAIT_MS } from "./_raw_client.ts";

const TEXT = 0x1, CLOSE = 0x8;
const decode = (frame: Frame) => new TextDecoder().decode(frame.payload);
const closeCode = (frame: Frame) => (frame.payload[0] << 8) | frame.payload[1];

interface User {
  id: number;
  admin: boolean;
}

/** Tokens in the query string: `?token=ann` (admin), `?token=bob`, `?token=eve&ttl=150`. */
function options(seen: { socket: ServerSocket; data: unknown; user: string | undefined }[]): PathOptions {
  return {
    protocols: [],
    upgrade: (request) => {
      const url = new URL(request.url);
      const token = url.searchParams.get("token");
      if (token === null) return new Response("Cannot upgrade: no token\n", { status: 401 });
      const ttl = url.searchParams.get("ttl");
      return {
        data: { id: token.length, admin: token === "ann" } satisfies User,
        user: token,
        expiresAt: ttl === null ? undefined : Date.now() + Number(ttl),
      };
    },
    websocket: {
      open: (ws) => seen.push({ socket: ws as ServerSocket, data: ws.data, user: ws.user }),
      message: (ws, data) => {
        if (data === "whoami") void ws.send(JSON.stringify({ data: ws.data, user: ws.user }));
        else if (typeof data === "string" && data.startsWith("sub ")) void ws.send(String(ws.subscribe(data.slice(4))));
      },
      authorizeSubscribe: (ws, topic) => !topic.startsWith("admin:") || (ws.data as User).admin,
    },
  };
}

async function until(what: string, condition: () => boolean): Promise<void> {
  for (const started = Date.now(); !condition(); await pause(5)) {
    if (Date.now() - started > WAIT_MS) throw new Error(`Timed out: ${what}`);
  }
}

for (const path of SERVER_PATHS) {
  describe(`auth on ${path.name}`, { skip: path.skip }, () => {
    test("the upgrade hook's data and user reach open and every callback; no token: 401, no socket", async () => {
      const seen: { socket: ServerSocket; data: unknown; user: string | undefined }[] = [];
      const server = await path.start(options(seen));
      const port = Number(new URL(server.url).port);
      const clients: RawClient[] = [];
      try {
        const refused = await RawClient.connect(port);
        clients.push(refused);
        assert.equal(refused.status, 401);
        const ann = await RawClient.connect(port, { path: "/?token=ann" });
        clients.push(ann);
        assert.equal(ann.status, 101);
        await until("open", () => seen.length === 1);
        assert.deepEqual(seen[0].data, { id: 3, admin: true });
        assert.equal(seen[0].user, "ann");
        await ann.send(TEXT, "whoami");
        assert.deepEqual(JSON.parse(decode(await ann.nextFrame())), { data: { id: 3, admin: true }, user: "ann" });
      } finally {
        for (const client of clients) client.destroy();
        await server.stop();
      }
    });

    test("disconnectUser closes every socket of that user (1008), and no one else's", async () => {
      const seen: { socket: ServerSocket; data: unknown; user: string | undefined }[] = [];
      const server = await path.start(options(seen));
      const port = Number(new URL(server.url).port);
      const clients: RawClient[] = [];
      try {
        for (const token of ["ann", "bob", "ann"]) clients.push(await RawClient.connect(port, { path: `/?token=${token}` }));
        await until("three open", () => seen.length === 3);
        assert.equal(server.disconnectUser("ann"), 2);
        for (const ann of [clients[0], clients[2]]) {
          const frame = await ann.nextFrame();
          assert.equal(frame.opcode, CLOSE);
          assert.equal(closeCode(frame), 1008);
          assert.equal(new TextDecoder().decode(frame.payload.subarray(2)), "disconnected");
        }
        await clients[1].send(TEXT, "whoami");
        assert.equal(JSON.parse(decode(await clients[1].nextFrame())).user, "bob", "bob is still served");
        assert.equal(server.disconnectUser("nobody"), 0);
      } finally {
        for (const client of clients) client.destroy();
        await server.stop();
      }
    });

    test("credentials that expire (expiresAt) close their socket with 4401 token expired", async () => {
      const seen: { socket: ServerSocket; data: unknown; user: string | undefined }[] = [];
      const server = await path.start(options(seen));
      const port = Number(new URL(server.url).port);
      const client = await RawClient.connect(port, { path: "/?token=eve&ttl=150" });
      try {
        const started = Date.now();
        const frame = await client.nextFrame(3000);
        assert.equal(frame.opcode, CLOSE);
        assert.equal(closeCode(frame), 4401);
        assert.equal(new TextDecoder().decode(frame.payload.subarray(2)), "token expired");
        assert.ok(Date.now() - started >= 100, "not before its time");
      } finally {
        client.destroy();
        await server.stop();
      }
    });

    test("authorizeSubscribe guards topics: a refused subscribe subscribes nothing and returns false", async () => {
      const seen: { socket: ServerSocket; data: unknown; user: string | undefined }[] = [];
      const server = await path.start(options(seen));
      const port = Number(new URL(server.url).port);
      const clients: RawClient[] = [];
      try {
        const ann = await RawClient.connect(port, { path: "/?token=ann" });
        const bob = await RawClient.connect(port, { path: "/?token=bob" });
        clients.push(ann, bob);
        await bob.send(TEXT, "sub admin:alerts");
        assert.equal(decode(await bob.nextFrame()), "false");
        await ann.send(TEXT, "sub admin:alerts");
        assert.equal(decode(await ann.nextFrame()), "true");
        await bob.send(TEXT, "sub lobby");
        assert.equal(decode(await bob.nextFrame()), "true");
        assert.equal(server.subscriberCount("admin:alerts"), 1);
        assert.equal(server.publish("admin:alerts", "for admins"), 1);
        assert.equal(decode(await ann.nextFrame()), "for admins");
      } finally {
        for (const client of clients) client.destroy();
        await server.stop();
      }
    });
  });
}
