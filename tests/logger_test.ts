/**
 * The `logger` option and the `DEBUG=wsengine*` switch: one line per event on serve() and the client
 * (handshake accepted and refused, negotiation, closes, drops and 1013, heartbeat timeouts, reconnects).
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import {
  consoleLogger,
  debugEnabled,
  formatFields,
  type LogFields,
  type Logger,
} from "../lib/core/logger.ts";
import { serve } from "../lib/adapters/serve.ts";
import { connectNode } from "../lib/adapters/node_client.ts";
import { HandshakeRefusedError } from "../lib/handshake/handshake_refused_error.ts";
import { ReconnectingWebSocket } from "../lib/client/reconnecting_websocket.ts";
import { modulePath, runtimeArgs } from "./_files.ts";
import { withTimeout } from "./_raw_client.ts";

const WAIT = 10_000;

interface Line {
  level: "debug" | "warn" | "error";
  message: string;
  fields: LogFields;
}

/** A logger that keeps its lines, and resolves a wait when a line with a message arrives. */
function recorder(): Logger & {
  lines: Line[];
  next(message: string, match?: (fields: LogFields) => boolean): Promise<Line>;
} {
  const lines: Line[] = [];
  const waiting: { message: string; match: (fields: LogFields) => boolean; resolve: (line: Line) => void }[] =
    [];
  const push = (level: Line["level"]) => (message: string, fields: LogFields = {}) => {
    const line = { level, message, fields };
    lines.push(line);
    for (const wait of [...waiting]) {
      if (wait.message === message && wait.match(fields)) {
        waiting.splice(waiting.indexOf(wait), 1);
        wait.resolve(line);
      }
    }
  };
  return {
    lines,
    debug: push("debug"),
    warn: push("warn"),
    error: push("error"),
    next(message, match = () => true) {
      const seen = lines.find((line) => line.message === message && match(line.fields));
      if (seen !== undefined) return Promise.resolve(seen);
      return withTimeout(
        new Promise<Line>((resolve) => waiting.push({ message, match, resolve })),
        WAIT,
        `the "${message}" line`,
      );
    },
  };
}

describe("logger helpers", () => {
  test("formatFields writes key=value pairs on one line, quoting what has spaces, skipping undefined", () => {
    assert.equal(
      formatFields({
        code: 1000,
        reason: "",
        wasClean: true,
        extensions: "permessage-deflate; client_max_window_bits=10",
        x: undefined,
      }),
      'code=1000 reason="" wasClean=true extensions="permessage-deflate; client_max_window_bits=10"',
    );
    assert.equal(formatFields({ error: new Error("boom") }), "error=boom");
    assert.equal(formatFields(undefined), "");
  });

  test("consoleLogger prefixes the namespace and keeps the level", () => {
    const lines: string[] = [];
    const logger = consoleLogger("wsengine:client", (level, line) => lines.push(`${level} ${line}`));
    logger.debug("closed", { code: 1006 });
    logger.warn("heartbeat timeout");
    logger.error("x", { a: "b c" });
    assert.deepEqual(lines, [
      "debug wsengine:client closed code=1006",
      "warn wsengine:client heartbeat timeout",
      'error wsengine:client x a="b c"',
    ]);
  });

  test("debugEnabled follows the debug package's DEBUG grammar", () => {
    const cases: [string, string, boolean][] = [
      ["wsengine*", "wsengine:server", true],
      ["wsengine:*", "wsengine:client", true],
      ["wsengine:server", "wsengine:client", false],
      ["*", "wsengine:server", true],
      ["*,-wsengine:server", "wsengine:server", false],
      ["socket.io*  wsengine:client", "wsengine:client", true],
      ["", "wsengine:server", false],
      ["wsengine", "wsengine:server", false],
    ];
    for (const [pattern, namespace, expected] of cases) {
      assert.equal(debugEnabled(pattern, namespace), expected, `${pattern} / ${namespace}`);
    }
  });
});

describe("serve() and the client with a logger", () => {
  test(
    "handshake accepted with the negotiated subprotocol and deflate parameters, and closed, on both sides",
    { timeout: 30_000 },
    async () => {
      const serverLog = recorder(), clientLog = recorder();
      const server = await serve({ port: 0, protocols: ["chat"], logger: serverLog, websocket: {} });
      try {
        const { connection } = await connectNode(server.url + "room?token=secret", {
          protocols: ["chat"],
          deflate: { clientMaxWindowBits: 10 },
          logger: clientLog,
        });
        const accepted = await serverLog.next("handshake accepted");
        assert.equal(accepted.level, "debug");
        assert.equal(accepted.fields.status, 101);
        assert.equal(accepted.fields.path, "/room", "the query string (a token) is left out");
        assert.equal(accepted.fields.protocol, "chat");
        assert.match(String(accepted.fields.extensions), /^permessage-deflate; .*client_max_window_bits=10/);
        assert.equal(accepted.fields.remoteAddress, "127.0.0.1");
        const clientAccepted = await clientLog.next("handshake accepted");
        assert.equal(clientAccepted.fields.url, server.url + "room");
        assert.equal(clientAccepted.fields.protocol, "chat");
        assert.match(String(clientAccepted.fields.extensions), /client_max_window_bits=10/);
        await connection.close(4000, "done here");
        const closed = await serverLog.next("closed");
        assert.deepEqual(
          {
            role: closed.fields.role,
            code: closed.fields.code,
            reason: closed.fields.reason,
            wasClean: closed.fields.wasClean,
          },
          { role: "server", code: 4000, reason: "done here", wasClean: true },
        );
        const clientClosed = await clientLog.next("closed");
        assert.equal(clientClosed.fields.role, "client");
        assert.equal(clientClosed.fields.code, 4000, "the server echoes the code");
        assert.equal(clientClosed.fields.wasClean, true);
        // One line per event: no per-message lines, nothing else.
        assert.deepEqual(serverLog.lines.map((line) => line.message), ["handshake accepted", "closed"]);
      } finally {
        await server.close();
      }
    },
  );

  test("handshake refused: the status and the reason on the server, the status and body on the client", {
    timeout: 30_000,
  }, async () => {
    const serverLog = recorder(), clientLog = recorder();
    const server = await serve({
      port: 0,
      logger: serverLog,
      upgrade: (request) =>
        new URL(request.url).searchParams.has("token")
          ? undefined
          : new Response("token required", { status: 401 }),
      protocols: ["chat"],
      requireProtocol: true,
      websocket: {},
    });
    try {
      await assert.rejects(connectNode(server.url, { logger: clientLog }), HandshakeRefusedError);
      const refused = await serverLog.next("handshake refused");
      assert.equal(refused.fields.status, 401);
      assert.match(String(refused.fields.reason), /authorize hook with status 401/);
      assert.equal(refused.fields.remoteAddress, "127.0.0.1");
      const clientRefused = await clientLog.next("handshake refused");
      assert.deepEqual([clientRefused.fields.status, clientRefused.fields.reason], [401, "token required"]);
      // A refusal made by the handshake rules: the reason says which.
      await assert.rejects(
        connectNode(server.url + "?token=1", { protocols: ["other"] }),
        HandshakeRefusedError,
      );
      const noProtocol = await serverLog.next("handshake refused", (fields) => fields.status === 400);
      assert.match(String(noProtocol.fields.reason), /a subprotocol is required: offered other/);
    } finally {
      await server.close();
    }
  });

  test("a client whose connect fails logs why", { timeout: 30_000 }, async () => {
    const server = await serve({ port: 0, websocket: {} });
    const port = server.port;
    await server.close();
    const clientLog = recorder();
    await assert.rejects(connectNode(`ws://127.0.0.1:${port}/`, { logger: clientLog }), /Cannot connect/);
    const failed = await clientLog.next("connect failed");
    assert.match(String(failed.fields.reason), /ECONNREFUSED|refused/i);
  });

  test("a slow consumer: its drops and its 1013 close are warnings", { timeout: 60_000 }, async () => {
    const serverLog = recorder();
    const server = await serve({
      port: 0,
      deflate: false,
      publishQueue: { limit: 64 * 1024, policy: "close" },
      logger: serverLog,
      websocket: { open: (socket) => socket.subscribe("feed") },
    });
    try {
      const { connection } = await connectNode(server.url);
      connection.pauseReading();
      await serverLog.next("handshake accepted");
      const chunk = new Uint8Array(64 * 1024);
      // Bounded: at most 1000 x 64 KiB (64 MiB) before the kernel buffers fill and the queue overflows.
      for (let i = 0; i < 1000 && server.subscriberCount("feed") > 0; i++) {
        server.publish("feed", chunk);
        if (i % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      const slow = await serverLog.next("slow consumer closed with 1013");
      assert.equal(slow.level, "warn");
      assert.equal(slow.fields.topic, "feed");
      assert.equal(slow.fields.limit, 64 * 1024);
      const dropped = await serverLog.next("published messages dropped");
      assert.equal(dropped.level, "warn");
      assert.equal(dropped.fields.topic, "feed");
      assert.ok(Number(dropped.fields.count) >= 1);
      connection.onmessage = () => {};
      connection.resumeReading();
      assert.equal((await withTimeout(connection.closed, WAIT, "the client's close")).code, 1013);
    } finally {
      await server.close();
    }
  });

  test("a heartbeat timeout is a warning, then the close with 1006", { timeout: 30_000 }, async () => {
    const serverLog = recorder();
    const server = await serve({
      port: 0,
      heartbeat: { interval: 50, timeout: 200 },
      logger: serverLog,
      websocket: {},
    });
    try {
      const { connection } = await connectNode(server.url, { heartbeat: false });
      connection.pauseReading(); // no pongs: the link looks dead
      const timeout = await serverLog.next("heartbeat timeout");
      assert.equal(timeout.level, "warn");
      assert.deepEqual([timeout.fields.interval, timeout.fields.timeout], [50, 200]);
      const closed = await serverLog.next("closed");
      assert.deepEqual([closed.fields.code, closed.fields.wasClean, closed.fields.sentCode], [
        1006,
        false,
        1001,
      ]);
      connection.fail(1006);
    } finally {
      await server.close();
    }
  });

  test("a handler that throws goes to logger.error with the error", { timeout: 30_000 }, async () => {
    const serverLog = recorder();
    const server = await serve({
      port: 0,
      logger: serverLog,
      websocket: {
        message: () => {
          throw new Error("handler bug");
        },
      },
    });
    try {
      const { connection } = await connectNode(server.url);
      await connection.send("hi");
      assert.equal((await withTimeout(connection.closed, WAIT, "the 1011 close")).code, 1011);
      const line = await serverLog.next("the message handler threw; the connection was closed with 1011");
      assert.equal(line.level, "error");
      assert.equal((line.fields.error as Error).message, "handler bug");
    } finally {
      await server.close();
    }
  });

  test(
    "ReconnectingWebSocket logs each reconnect it schedules and why it stops",
    { timeout: 30_000 },
    async () => {
      const clientLog = recorder();
      let opens = 0;
      const server = await serve({
        port: 0,
        websocket: {
          open: (socket) => socket.close(++opens < 3 ? 1012 : 1008, opens < 3 ? "restarting" : "go away"),
        },
      });
      const socket = new ReconnectingWebSocket(server.url + "?token=abc", [], {
        minDelay: 10,
        maxDelay: 20,
        logger: clientLog,
      });
      try {
        const stopped = await clientLog.next("reconnect stopped");
        assert.deepEqual([stopped.fields.code, stopped.fields.terminal], [1008, true]);
        const scheduled = clientLog.lines.filter((line) => line.message === "reconnect scheduled");
        assert.equal(scheduled.length, 2);
        assert.deepEqual(scheduled.map((line) => line.fields.code), [1012, 1012]);
        assert.deepEqual(scheduled.map((line) => line.fields.retries), [1, 2]);
        assert.ok(scheduled.every((line) => typeof line.fields.delay === "number"));
        assert.equal(scheduled[0].fields.url, server.url, "the query string (a token) is left out");
        // The WebSocket it drives got the logger too: its handshakes and closes are there.
        assert.equal(clientLog.lines.filter((line) => line.message === "handshake accepted").length, 3);
      } finally {
        socket.close();
        await server.close();
      }
    },
  );
});

describe("the DEBUG environment switch", () => {
  test("DEBUG=wsengine:server prints one line per event of the server, none of the client", {
    timeout: 30_000,
  }, async () => {
    const child = spawn(
      process.execPath,
      runtimeArgs(modulePath("examples/echo_server.ts"), ["--port", "0"]),
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, DEBUG: "wsengine:server", NO_COLOR: "1" },
      },
    );
    let output = "";
    child.stdout.on("data", (chunk) => output += chunk);
    child.stderr.on("data", (chunk) => output += chunk);
    const waitFor = (pattern: RegExp) =>
      withTimeout(
        new Promise<RegExpExecArray>((resolve) => {
          const look = () => {
            const match = pattern.exec(output);
            if (match) resolve(match);
            else setTimeout(look, 20);
          };
          look();
        }),
        WAIT,
        `${pattern} in the output: ${output}`,
      );
    try {
      const url = (await waitFor(/listening on (ws:\/\/127\.0\.0\.1:\d+\/)/))[1];
      const { connection } = await connectNode(url);
      await waitFor(
        /wsengine:server handshake accepted status=101 path=\/ extensions=permessage-deflate remoteAddress=127\.0\.0\.1/,
      );
      await connection.close(1000);
      await waitFor(/wsengine:server closed role=server code=1000 reason="" wasClean=true sentCode=1000/);
      assert.doesNotMatch(output, /wsengine:client/);
    } finally {
      child.kill();
    }
  });
});

describe("the other server entry points log the same lines", () => {
  const isDeno = "Deno" in globalThis, isBun = "Bun" in globalThis;
  /** Starts a server with the logger, and returns its URL and stop(). */
  const starters: {
    name: string;
    skip: false | string;
    start(logger: Logger): Promise<{ url: string; stop(): Promise<void> }>;
  }[] = [
    {
      name: "listenDeno",
      skip: isDeno ? false : "Deno only",
      start: async (logger) => {
        const { listenDeno } = await import("../lib/adapters/deno_listen.ts");
        const server = await listenDeno({ port: 0, logger, upgrade: refuseWithoutToken, websocket: {} });
        return { url: server.url, stop: () => server.close() };
      },
    },
    {
      name: "denoServe",
      skip: isDeno ? false : "Deno only",
      start: async (logger) => {
        const { denoServe } = await import("../lib/adapters/deno_serve.ts");
        const server = Deno.serve(
          { port: 0, hostname: "127.0.0.1", onListen: () => {} },
          denoServe({ logger, upgrade: refuseWithoutToken, websocket: {} }),
        );
        return { url: `ws://127.0.0.1:${server.addr.port}/`, stop: () => server.shutdown() };
      },
    },
    {
      name: "bunServe",
      skip: isBun ? false : "Bun only",
      start: async (logger) => {
        const { bunServe } = await import("../lib/adapters/bun_serve.ts");
        const bun = (globalThis as unknown as {
          Bun: { serve(o: unknown): { port: number; stop(force?: boolean): Promise<void> | void } };
        }).Bun;
        const server = bun.serve({
          port: 0,
          hostname: "127.0.0.1",
          ...bunServe({ logger, upgrade: refuseWithoutToken, websocket: {} }),
        });
        return { url: `ws://127.0.0.1:${server.port}/`, stop: async () => void await server.stop(true) };
      },
    },
  ];
  function refuseWithoutToken(request: Request): Response | undefined {
    return new URL(request.url).searchParams.has("token")
      ? undefined
      : new Response("no token", { status: 401 });
  }
  for (const { name, skip, start } of starters) {
    test(`${name}: handshake refused, accepted, closed`, { skip, timeout: 30_000 }, async () => {
      const log = recorder();
      const server = await start(log);
      try {
        await assert.rejects(connectNode(server.url), HandshakeRefusedError);
        const refused = await log.next("handshake refused");
        assert.equal(refused.fields.status, 401);
        assert.match(String(refused.fields.reason), /status 401/);
        const { connection } = await connectNode(server.url + "?token=1");
        const accepted = await log.next("handshake accepted");
        assert.deepEqual([accepted.fields.status, accepted.fields.path], [101, "/"]);
        await connection.close(4001, "bye");
        const closed = await log.next("closed");
        assert.deepEqual([
          closed.fields.role,
          closed.fields.code,
          closed.fields.reason,
          closed.fields.wasClean,
        ], ["server", 4001, "bye", true]);
      } finally {
        await server.stop();
      }
    });
  }
});
