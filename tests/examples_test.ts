/**
 * The examples run as their doc comments say, on the runtime under test (under Node, compiled into
 * dist-tests/examples/): started on a free port, talked to with our client.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectNode } from "../lib/adapters/node_client.ts";
import { HandshakeRefusedError } from "../lib/handshake/handshake_refused_error.ts";
import { serve, type ServerSocket } from "../lib/adapters/serve.ts";
import { modulePath, runtimeArgs } from "./_files.ts";
import { WAIT_MS, withTimeout } from "./_raw_client.ts";

test("examples/echo_server.ts listens on the port it is given and echoes text and binary, compressed", {
  timeout: 30_000,
}, async () => {
  const child = spawn(process.execPath, runtimeArgs(modulePath("examples/echo_server.ts"), ["--port", "0"]), {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "", stderr = "";
  child.stderr.on("data", (chunk) => stderr += chunk);
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`No "listening" line within 10 s: ${stdout}${stderr}`)),
        10_000,
      );
      child.stdout.on("data", (chunk) => {
        stdout += chunk;
        const match = /listening on (ws:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`The example exited with ${code}: ${stderr}`));
      });
    });
    const { connection, extensions } = await connectNode(url);
    assert.match(extensions, /^permessage-deflate/);
    const received: (string | Uint8Array)[] = [];
    const both = new Promise<void>((resolve) => {
      connection.onmessage = (data) => {
        received.push(data);
        if (received.length === 2) resolve();
      };
    });
    await connection.send("hello, example");
    await connection.send(Uint8Array.of(0, 1, 2, 255));
    await withTimeout(both, WAIT_MS, "the two echoes");
    assert.deepEqual(received, ["hello, example", Uint8Array.of(0, 1, 2, 255)]);
    assert.equal((await connection.close(1000)).code, 1000);
  } finally {
    child.kill();
  }
});

/** A running example: its URL (from its "listening on" line), its output so far, and stop(). */
interface RunningExample {
  url: string;
  output: () => string;
  /** Resolves with the first match of the pattern in the output (bounded by `ms`). */
  waitFor: (pattern: RegExp, ms?: number) => Promise<RegExpExecArray>;
  exited: Promise<number | null>;
  stop: () => void;
}

/** Starts an example on a free port and waits for its "listening on" line (or, without one, starts it). */
async function startExample(
  path: string,
  args: string[] = ["--port", "0"],
  listening = true,
): Promise<RunningExample> {
  const child = spawn(process.execPath, runtimeArgs(modulePath(path), args), {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => output += chunk);
  child.stderr.on("data", (chunk) => output += chunk);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const waitFor = (pattern: RegExp, ms = 15_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const started = Date.now();
      const look = () => {
        const match = pattern.exec(output);
        if (match) return resolve(match);
        if (Date.now() - started > ms) {
          return reject(new Error(`No ${pattern} within ${ms} ms in the output of ${path}:\n${output}`));
        }
        setTimeout(look, 20);
      };
      look();
    });
  const running = { url: "", output: () => output, waitFor, exited, stop: () => void child.kill() };
  if (!listening) return running;
  try {
    running.url = (await Promise.race([
      waitFor(/listening on (ws:\/\/127\.0\.0\.1:\d+\/)/),
      exited.then((code) => Promise.reject(new Error(`${path} exited with ${code}:\n${output}`))),
    ]))[1];
  } catch (error) {
    child.kill();
    throw error;
  }
  return running;
}

/** A client that speaks JSON and lets a test wait for the next message that matches. */
async function jsonClient(url: string, options: Parameters<typeof connectNode>[1] = {}) {
  const { connection, protocol } = await connectNode(url, options);
  const received: Record<string, unknown>[] = [];
  const waiters: {
    match: (m: Record<string, unknown>) => boolean;
    resolve: (m: Record<string, unknown>) => void;
  }[] = [];
  let seen = 0;
  connection.onmessage = (data) => {
    const message = JSON.parse(String(data));
    received.push(message);
    for (const waiter of [...waiters]) {
      if (waiter.match(message)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    }
  };
  return {
    connection,
    protocol,
    received,
    send: (message: object) => connection.send(JSON.stringify(message)),
    /** The first message not waited for before that matches. */
    next(
      match: (m: Record<string, unknown>) => boolean = () => true,
      what = "a message",
    ): Promise<Record<string, unknown>> {
      for (let i = seen; i < received.length; i++) {
        if (match(received[i])) {
          seen = i + 1;
          return Promise.resolve(received[i]);
        }
      }
      return withTimeout(
        new Promise((resolve) =>
          waiters.push({
            match,
            resolve: (m) => {
              seen = received.indexOf(m) + 1;
              resolve(m);
            },
          })
        ),
        10_000,
        what,
      );
    },
  };
}

test("examples/chat_rooms.ts: names, join and leave, and a room's messages reach its members only", {
  timeout: 60_000,
}, async () => {
  const example = await startExample("examples/chat_rooms.ts");
  try {
    await assert.rejects(connectNode(example.url), (error: HandshakeRefusedError) => error.status === 400);
    const ana = await jsonClient(example.url + "?name=ana");
    const bo = await jsonClient(example.url + "?name=bo");
    const cy = await jsonClient(example.url + "?name=cy");
    assert.deepEqual(await ana.next(), { type: "welcome", name: "ana" });
    await ana.send({ type: "join", room: "lobby" });
    assert.deepEqual(await ana.next((m) => m.type === "joined"), {
      type: "joined",
      room: "lobby",
      name: "ana",
      members: 1,
    });
    await bo.send({ type: "join", room: "lobby" });
    assert.deepEqual(await ana.next((m) => m.type === "joined"), {
      type: "joined",
      room: "lobby",
      name: "bo",
      members: 2,
    });
    await cy.send({ type: "join", room: "games" });
    await cy.next((m) => m.type === "joined");
    await cy.send({ type: "say", room: "games", text: "not for the lobby" });
    await cy.next((m) => m.type === "message");
    await cy.send({ type: "say", room: "lobby", text: "sneaking in" });
    assert.deepEqual(await cy.next((m) => m.type === "error"), {
      type: "error",
      message: "join lobby first",
    });
    await bo.send({ type: "say", room: "lobby", text: "hello ana" });
    const heard = { type: "message", room: "lobby", name: "bo", text: "hello ana" };
    assert.deepEqual(await ana.next((m) => m.type === "message"), heard);
    assert.deepEqual(await bo.next((m) => m.type === "message"), heard);
    await bo.send({ type: "leave", room: "lobby" });
    assert.deepEqual(await ana.next((m) => m.type === "left"), {
      type: "left",
      room: "lobby",
      name: "bo",
      members: 1,
    });
    await cy.send({ type: "join", room: "lobby" });
    await ana.next((m) => m.type === "joined" && m.name === "cy");
    await cy.connection.close(1000);
    assert.equal(
      (await ana.next((m) => m.type === "left")).name,
      "cy",
      "a member that disconnects leaves its rooms",
    );
    assert.equal(ana.received.filter((m) => m.room === "games").length, 0, "nothing from another room");
    await ana.connection.close(1000);
    await bo.connection.close(1000);
  } finally {
    example.stop();
  }
});

test(
  "examples/auth.ts: 401 without or with a forged credential, 403 when banned, cookie, query and subprotocol tokens, 4401 at expiry",
  { timeout: 60_000 },
  async () => {
    const example = await startExample("examples/auth.ts");
    const http = example.url.replace("ws:", "http:");
    const login = async (user: string, ttl: number) => {
      const response = await fetch(`${http}login`, { method: "POST", body: JSON.stringify({ user, ttl }) });
      assert.equal(response.status, 200);
      const cookie = response.headers.get("set-cookie") ?? "";
      assert.match(cookie, /^session=[\w.-]+; HttpOnly; SameSite=Strict/);
      return { token: ((await response.json()) as { token: string }).token, cookie: cookie.split(";")[0] };
    };
    const refusedWith = (status: number) => (error: unknown) =>
      error instanceof HandshakeRefusedError && error.status === status;
    const hello = async (url: string, options: Parameters<typeof connectNode>[1] = {}) => {
      const { connection, protocol } = await connectNode(url, options);
      const first = await withTimeout(
        new Promise((resolve) => connection.onmessage = resolve),
        WAIT_MS,
        "hello",
      );
      return { connection, protocol, first };
    };
    try {
      await assert.rejects(connectNode(example.url), refusedWith(401));
      const ana = await login("ana", 60);
      // Another user's name with ana's signature.
      const forged = [btoa(`admin.${Date.now() + 60_000}`).replace(/=+$/, ""), ana.token.split(".")[1]].join(
        ".",
      );
      await assert.rejects(connectNode(`${example.url}?token=${forged}`), refusedWith(401));
      await assert.rejects(
        connectNode(example.url, {
          headers: { origin: "https://evil.example" },
          protocols: ["chat", `token.${ana.token}`],
        }),
        refusedWith(403),
      );
      const mallory = await login("mallory", 60);
      await assert.rejects(connectNode(`${example.url}?token=${mallory.token}`), refusedWith(403));

      const byCookie = await hello(example.url, { headers: { cookie: ana.cookie } });
      assert.equal(byCookie.first, "hello ana");
      const byQuery = await hello(`${example.url}?token=${ana.token}`);
      assert.equal(byQuery.first, "hello ana");
      const byProtocol = await hello(example.url, { protocols: ["chat", `token.${ana.token}`] });
      assert.deepEqual([byProtocol.first, byProtocol.protocol], ["hello ana", "chat"]);
      for (const socket of [byCookie, byQuery, byProtocol]) {
        assert.equal(
          (await socket.connection.close(1000)).code,
          1000,
        );
      }

      const brief = await login("bo", 1);
      const expiring = await hello(`${example.url}?token=${brief.token}`);
      assert.equal(expiring.first, "hello bo");
      const closed = await withTimeout(expiring.connection.closed, 10_000, "the expiry close");
      assert.deepEqual([closed.code, closed.reason], [4401, "token expired"]);
      await assert.rejects(connectNode(`${example.url}?token=${brief.token}`), refusedWith(401));
    } finally {
      example.stop();
    }
  },
);

test(
  "examples/heartbeat_reconnect.ts: reconnects when the server restarts, and when the heartbeat finds a dead link",
  { timeout: 90_000 },
  async () => {
    const example = await startExample("examples/heartbeat_reconnect.ts", [], false);
    try {
      const code = await withTimeout(example.exited, 80_000, "the example's end");
      const lines = example.output().split("\n");
      assert.equal(code, 0, example.output());
      // In this order (other lines, like refused attempts while the server is down, may come between).
      const expected = [
        /^open \(attempt 1\)$/,
        /^message: hello from server #1$/,
        /^stopping the server$/,
        /^close 1001, reconnecting in \d+ ms$/,
        /^server restarted$/,
        /^open \(attempt \d+, reconnected\)$/,
        /^message: hello from server #2$/,
        /^warning: heartbeat timeout$/,
        /^close 1006, reconnecting in \d+ ms$/,
        /^open \(attempt 1, reconnected\)$/,
        /^message: hello from server #2$/,
        /^close 1000$/,
        /^done$/,
      ];
      let at = 0;
      for (const pattern of expected) {
        while (at < lines.length && !pattern.test(lines[at])) at++;
        assert.ok(at < lines.length, `${pattern} (in order) in:\n${example.output()}`);
        at++;
      }
    } finally {
      example.stop();
    }
  },
);

test(
  "examples/relay.ts: messages, the subprotocol and closes cross both ways; 502 without upstream; a slow upstream slows the client",
  { timeout: 120_000 },
  async () => {
    let upstreamSocket: ServerSocket | undefined;
    let paused = false;
    const arrived: number[] = [];
    const upstream = await serve({
      port: 0,
      protocols: ["v2.relay-test"],
      websocket: {
        open: (ws) => {
          upstreamSocket = ws;
          // After `open` returns (setting the message handler starts reading).
          if (paused) queueMicrotask(() => ws.connection!.pauseReading());
        },
        message: (ws, data, binary) => {
          if (binary && (data as Uint8Array).length === 64 * 1024) {
            arrived.push(
              new DataView((data as Uint8Array).buffer, (data as Uint8Array).byteOffset).getUint32(0),
            );
          } else if (data === "close please") ws.close(4321, "as asked");
          else ws.send(data).catch(() => {});
        },
      },
    });
    const example = await startExample("examples/relay.ts", ["--port", "0", "--upstream", upstream.url]);
    try {
      const { connection, protocol } = await connectNode(example.url + "room/1?x=y", {
        protocols: ["v1.relay-test", "v2.relay-test"],
      });
      assert.equal(protocol, "v2.relay-test", "the upstream's choice");
      assert.equal(
        new URL(upstreamSocket!.request.url).pathname + new URL(upstreamSocket!.request.url).search,
        "/room/1?x=y",
      );
      const echoes: (string | Uint8Array)[] = [];
      let echoed: () => void = () => {};
      connection.onmessage = (data) => {
        echoes.push(data);
        echoed();
      };
      const big = crypto.getRandomValues(new Uint8Array(60_000));
      const both = new Promise<void>((resolve) => echoed = () => echoes.length === 2 && resolve());
      await connection.send("through the relay");
      await connection.send(big);
      await withTimeout(both, 10_000, "two echoes");
      assert.deepEqual(echoes, ["through the relay", big]);
      await connection.send("close please");
      const closed = await withTimeout(connection.closed, 10_000, "the forwarded close");
      assert.deepEqual([closed.code, closed.reason], [4321, "as asked"]);

      // Backpressure: the upstream stops reading; the client, awaiting each send, is held back.
      paused = true;
      const slow = await connectNode(example.url, { deflate: false });
      // 32 MiB of 64 KiB messages: more than the kernel's buffers on the two hops hold (about 5 MiB a hop on
      // loopback here), so the sends must stall.
      const total = 512;
      let sent = 0;
      const sending = (async () => {
        for (let i = 0; i < total; i++) {
          // Random: zeros would shrink to nothing on the relay's compressed hop to upstream.
          const chunk = crypto.getRandomValues(new Uint8Array(64 * 1024));
          new DataView(chunk.buffer).setUint32(0, i);
          await slow.connection.send(chunk);
          sent++;
        }
      })();
      sending.catch(() => {}); // awaited below; a failure there must not surface before
      // Wait until the sends stall (no progress for 2 s), bounded by 60 s.
      let last = -1;
      for (let rounds = 0; rounds < 30 && sent !== last; rounds++) {
        last = sent;
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
      assert.ok(sent < total, `all ${total} sends went through while upstream read nothing`);
      assert.ok(arrived.length <= 8, `${arrived.length} arrived upstream (only what came before it paused)`);
      upstreamSocket!.connection!.resumeReading();
      await withTimeout(sending, 60_000, "the sends after the upstream resumed");
      for (let waited = 0; arrived.length < total && waited < 300; waited++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.deepEqual(arrived, Array.from({ length: total }, (_, i) => i), "every message, in order");
      console.log(
        `relay backpressure: ${last} of ${total} 64 KiB sends completed while upstream read nothing`,
      );
      await slow.connection.close(1000);
    } finally {
      example.stop();
      await upstream.close();
    }
    // No upstream: the relay refuses with 502 before the 101.
    const orphan = await startExample("examples/relay.ts", ["--port", "0", "--upstream", upstream.url]);
    try {
      await assert.rejects(
        connectNode(orphan.url),
        (error: unknown) => error instanceof HandshakeRefusedError && error.status === 502,
      );
    } finally {
      orphan.stop();
    }
  },
);

test(
  "examples/send_file.ts: a file streamed with sendStream arrives whole, its SHA-256 checked by the example's own receiver",
  { timeout: 90_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "wsengine-send-file-"));
    const content = new Uint8Array(5 * 1024 * 1024 + 123);
    for (let i = 0; i < content.length; i += 65536) {
      crypto.getRandomValues(
        content.subarray(i, Math.min(i + 65536, content.length)),
      );
    }
    writeFileSync(join(dir, "data.bin"), content);
    const sha256 = createHash("sha256").update(content).digest("hex");
    const example = await startExample("examples/send_file.ts", ["serve", "--dir", dir, "--port", "0"]);
    try {
      await assert.rejects(
        connectNode(example.url + "missing.bin"),
        (error: unknown) => error instanceof HandshakeRefusedError && error.status === 404,
      );
      await assert.rejects(
        connectNode(example.url + "..%2f..%2fetc%2fpasswd"),
        (error: unknown) => error instanceof HandshakeRefusedError && error.status === 404,
      );

      // Our client: the header, one binary message of the file's bytes, the trailer with the hash.
      const { connection } = await connectNode(example.url + "data.bin", {
        maxMessageSize: 64 * 1024 * 1024,
      });
      const messages: (string | Uint8Array)[] = [];
      connection.onmessage = (data) => void messages.push(data);
      const closed = await withTimeout(connection.closed, 30_000, "the end of the file");
      assert.deepEqual([closed.code, closed.reason], [1000, "sent"]);
      assert.equal(messages.length, 3);
      assert.deepEqual(JSON.parse(messages[0] as string), { name: "data.bin", size: content.length });
      assert.deepEqual(messages[1], content);
      assert.deepEqual(JSON.parse(messages[2] as string), { sha256 });

      // The example's receiving side checks the hash and writes the file.
      const out = join(dir, "copy.bin");
      const receiver = await startExample("examples/send_file.ts", [
        "get",
        example.url + "data.bin",
        "--out",
        out,
      ], false);
      assert.equal(await withTimeout(receiver.exited, 30_000, "the receiver's end"), 0, receiver.output());
      assert.match(
        receiver.output(),
        new RegExp(`received data.bin: ${content.length} bytes, sha256 ${sha256} ok`),
      );
      assert.deepEqual(new Uint8Array(readFileSync(out)), content);
    } finally {
      example.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "examples/hono_app.ts: Hono routes HTTP and decides upgrades (bearerAuth 401, 404), rooms over WebSockets and from a POST",
  { timeout: 60_000 },
  async () => {
    const example = await startExample("examples/hono_app.ts");
    const http = example.url.replace("ws:", "http:");
    const headers = { authorization: "Bearer let-me-in" };
    const refusedWith = (status: number) => (error: unknown) =>
      error instanceof HandshakeRefusedError && error.status === status;
    try {
      assert.match(await (await fetch(http)).text(), /^Hono with wsengine/);
      await assert.rejects(connectNode(example.url + "ws/lobby"), refusedWith(401));
      await assert.rejects(
        connectNode(example.url + "ws/lobby", { headers: { authorization: "Bearer wrong" } }),
        refusedWith(401),
      );
      await assert.rejects(connectNode(example.url + "elsewhere", { headers }), refusedWith(404));
      assert.equal(
        (await fetch(`${http}ws/lobby`, { headers })).status,
        426,
        "a plain GET of the WebSocket route",
      );

      const clients = await Promise.all(
        ["ws/lobby", "ws/lobby", "ws/games"].map((path) => connectNode(example.url + path, { headers })),
      );
      assert.match(clients[0].extensions, /^permessage-deflate/);
      const inbox: (string | Uint8Array)[][] = [[], [], []];
      let arrived: () => void = () => {};
      clients.forEach(({ connection }, i) =>
        connection.onmessage = (data) => (inbox[i].push(data), arrived())
      );
      const until = (done: () => boolean, what: string) =>
        withTimeout(new Promise<void>((resolve) => (arrived = () => done() && resolve())()), 10_000, what);
      await clients[0].connection.send("hi lobby");
      await until(() => inbox[1].length === 1, "the lobby message");
      assert.deepEqual(await (await fetch(`${http}api/rooms/lobby`)).json(), { room: "lobby", listeners: 2 });
      assert.equal((await fetch(`${http}api/rooms/lobby`, { method: "POST", body: "no token" })).status, 401);
      const posted = await fetch(`${http}api/rooms/lobby`, { method: "POST", body: "from HTTP", headers });
      assert.deepEqual(await posted.json(), { delivered: 2 });
      await until(() => inbox[0].length === 1 && inbox[1].length === 2, "the posted message");
      assert.deepEqual(inbox, [["from HTTP"], ["hi lobby", "from HTTP"], []]);
      for (const { connection } of clients) await connection.close(1000);
    } finally {
      example.stop();
    }
  },
);
