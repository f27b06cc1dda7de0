/**
 * Bytes accepted for sending are written before a socket is destroyed, or the failure is reported
 * (lib/adapters/node_socket.ts, under the servers and `connectNode`): echoes cut off at close, close frames
 * that never left, and a close that looked clean although its bytes were lost.
 *
 * Runs on Node, Deno and Bun: each of them gives this library a `node:net` socket.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net";
import { computeAcceptKey } from "../lib/handshake/accept_key.ts";
import { connectNode } from "../lib/adapters/node_client.ts";
import { socketToTransport } from "../lib/adapters/node_socket.ts";
import { serve } from "../lib/adapters/serve.ts";
import { Connection } from "../lib/connection.ts";
import type { Frame } from "../lib/core/frame.ts";
import { FrameParser } from "../lib/core/frame_parser.ts";
import { frame, pause, withTimeout } from "./_raw_client.ts";
import { concatBytes, pseudoRandomBytes } from "./_vectors.ts";

/** The echo of the reported case. */
const ECHO_SIZE = 256 * 1024;
/** Runs per way of closing: the reported case failed 3 runs in 10. */
const RUNS = 10;
/**
 * Large enough that a socket cannot take it all at once (loopback buffers took 4 MiB in one write here):
 * some stays queued in the runtime while the peer does not read.
 */
const LARGE = 24 * 1024 * 1024;
const CLOSE_1000 = new Uint8Array([0x03, 0xe8]);

/** A listening `node:net` server on 127.0.0.1. */
async function listen(onSocket: (socket: Socket) => void, allowHalfOpen = false): Promise<Server> {
  const server = createServer({ allowHalfOpen }, onSocket);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

function stop(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function connected(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/** Every byte a socket receives until its peer ends it (or it breaks). */
function collect(
  socket: Socket,
  options: { slow?: boolean } = {},
): Promise<{ bytes: Uint8Array; how: string }> {
  const chunks: Uint8Array[] = [];
  return new Promise((resolve) => {
    const done = (how: string) => resolve({ bytes: concatBytes(chunks), how });
    socket.on("data", (chunk: Uint8Array) => {
      chunks.push(new Uint8Array(chunk));
      if (options.slow) {
        socket.pause();
        setTimeout(() => socket.resume(), 2);
      }
    });
    socket.once("end", () => done("end"));
    socket.once("close", () => done("close"));
    socket.on("error", (error: Error & { code?: string }) => done(error.code ?? error.message));
  });
}

/** The frames in a byte string, as an endpoint of `role` reads them; a cut frame ends the list. */
function framesOf(
  bytes: Uint8Array,
  role: "client" | "server",
): { frames: Frame[]; cutAt: number | undefined } {
  const parser = new FrameParser({ role, maxPayloadSize: Number.MAX_SAFE_INTEGER });
  parser.push(bytes.slice());
  const frames: Frame[] = [];
  for (let next = parser.next(); next !== undefined; next = parser.next()) {
    frames.push({ ...next, payload: next.payload.slice() });
  }
  const parsed = frames.reduce((sum, f) => sum + f.payload.length, 0);
  return { frames, cutAt: frames.at(-1)?.opcode === 8 ? undefined : parsed };
}

function describeFrames(frames: Frame[]): string {
  return frames.map((f) => `${f.opcode}:${f.payload.length}`).join(" ") || "none";
}

/** Opens a WebSocket by hand (no extension offered), returning the socket past the 101 and what followed it. */
async function rawUpgrade(port: number): Promise<{ socket: Socket; rest: Uint8Array }> {
  const socket = await connected(port);
  socket.write(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let head: Uint8Array = new Uint8Array(0);
  const rest = await withTimeout(
    new Promise<Uint8Array>((resolve) => {
      const onData = (chunk: Uint8Array) => {
        head = concatBytes([head, new Uint8Array(chunk)]);
        const text = new TextDecoder("latin1").decode(head);
        const end = text.indexOf("\r\n\r\n");
        if (end === -1) return;
        socket.off("data", onData);
        socket.pause();
        assert.match(text, /^HTTP\/1\.1 101 /);
        resolve(head.subarray(end + 4));
      };
      socket.on("data", onData);
    }),
    3000,
    "the 101 response",
  );
  return { socket, rest };
}

describe("close drain: accepted bytes are written before the socket goes", () => {
  // The reported case: serve()'s echo of a 256 KiB message sent with a close frame behind it, by a client that
  // then reads until EOF, half-closes at once, or reads slowly. The echo and the close frame must arrive
  // whole, every run. (Reported as cut in 3 runs of 10 on Node; on this machine these runs were never cut,
  // before the fix or after: node:http gives half-open sockets and the Connection cancels the readable only
  // once its writable has closed. The tests below make the ways of losing bytes happen every time.)
  for (const how of ["reads until EOF", "half-closes after sending", "reads slowly"] as const) {
    test(`serve(): a 256 KiB echo and the close frame arrive whole when the client ${how} (${RUNS} runs)`, async () => {
      const results: { code: number; wasClean: boolean }[] = [];
      const server = await serve({
        port: 0,
        websocket: {
          message: (socket, data, binary) => void socket.send(data, { binary }).catch(() => {}),
          close: (_socket, code, _reason, wasClean) => void results.push({ code, wasClean }),
        },
      });
      const cut: string[] = [];
      try {
        for (let run = 0; run < RUNS; run++) {
          const payload = pseudoRandomBytes(ECHO_SIZE, run);
          const { socket, rest } = await rawUpgrade(server.port);
          const received = collect(socket, { slow: how === "reads slowly" });
          socket.resume();
          socket.write(concatBytes([frame(0x2, payload), frame(0x8, CLOSE_1000)]));
          if (how === "half-closes after sending") socket.end();
          const { bytes, how: ended } = await withTimeout(
            received,
            5000,
            "the server to close the connection",
          );
          socket.destroy();
          const { frames, cutAt } = framesOf(concatBytes([rest, bytes]), "client");
          const whole = frames.length === 2 && frames[0].opcode === 2 && frames[1].opcode === 8 &&
            frames[0].payload.length === ECHO_SIZE && frames[0].payload.every((b, i) => b === payload[i]);
          const where = cutAt === undefined ? "" : ` (cut after ${cutAt} payload bytes)`;
          if (!whole) cut.push(`run ${run}: ${describeFrames(frames)}${where}, ${ended}`);
        }
        assert.deepEqual(cut, [], `${cut.length} of ${RUNS} runs were cut`);
        await withTimeout(
          (async () => {
            while (results.length < RUNS) await pause(5);
          })(),
          3000,
          "the server's close callbacks",
        );
        assert.deepEqual(results.filter((r) => r.code !== 1000 || !r.wasClean), []);
      } finally {
        await server.close();
      }
    });
  }

  // A `node:net` server's socket ends its writing half on the peer's FIN unless told otherwise
  // (allowHalfOpen: false). A client that sends a message, its close frame and FIN while the echo is still
  // queued then never got the server's close frame, and the server reported a clean close.
  test("a server over a net.Server socket finishes its echo and close frame after the client's FIN", async () => {
    let serverClosed: Promise<{ code: number; wasClean: boolean }> | undefined;
    const server = await listen((socket) => {
      const connection = new Connection(socketToTransport(socket), { role: "server", maxMessageSize: LARGE });
      connection.onmessage = (data, binary) => void connection.send(data, { binary }).catch(() => {});
      serverClosed = connection.closed;
    });
    try {
      const payload = pseudoRandomBytes(LARGE, 7);
      const client = await connected(portOf(server));
      client.pause(); // the echo piles up in the server until the client reads
      const received = collect(client);
      client.end(concatBytes([frame(0x2, payload), frame(0x8, CLOSE_1000)]));
      await pause(300);
      client.resume();
      const { bytes } = await withTimeout(received, 10_000, "the echo");
      client.destroy();
      const { frames } = framesOf(bytes, "client");
      assert.equal(describeFrames(frames), `2:${LARGE} 8:2`, "the whole echo, then the close frame");
      const closed = await withTimeout(serverClosed!, 3000, "the server connection to close");
      assert.deepEqual({ code: closed.code, wasClean: closed.wasClean }, { code: 1000, wasClean: true });
    } finally {
      await stop(server);
    }
  });

  // The client side: `net.connect` sockets end their writing half on the server's FIN too. A server that
  // half-closes right behind its close frame must still get the client's queued message and close reply.
  test("connectNode: a server that half-closes behind its close frame still gets the client's message and close reply", async () => {
    let serverGot: Promise<{ bytes: Uint8Array; how: string }> | undefined;
    const server = await listen((socket) => {
      let head: Uint8Array = new Uint8Array(0);
      const onData = async (chunk: Uint8Array) => {
        head = concatBytes([head, new Uint8Array(chunk)]);
        const text = new TextDecoder("latin1").decode(head);
        const end = text.indexOf("\r\n\r\n");
        if (end === -1) return;
        socket.off("data", onData);
        socket.pause();
        const key = /\r\nsec-websocket-key:\s*([^\r\n]*)/i.exec(text)![1].trim();
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Accept: ${await computeAcceptKey(key)}\r\n\r\n`,
        );
        const rest = head.subarray(end + 4);
        // The client's message is on its way: answer with a close frame and FIN at once, then read it all.
        await pause(100);
        socket.end(frame(0x8, CLOSE_1000, { mask: false }));
        await pause(200);
        serverGot = collect(socket).then(({ bytes, how }) => ({ bytes: concatBytes([rest, bytes]), how }));
        socket.resume();
      };
      socket.on("data", onData);
      socket.on("error", () => {});
    }, true);
    try {
      const { connection } = await connectNode(`ws://127.0.0.1:${portOf(server)}/`, { deflate: false });
      const errors: string[] = [];
      connection.onerror = (error) => errors.push(error.message);
      connection.onmessage = () => {};
      const payload = pseudoRandomBytes(LARGE, 3);
      connection.send(payload).catch(() => {});
      const closed = await withTimeout(connection.closed, 10_000, "the client connection to close");
      while (serverGot === undefined) await pause(5);
      const { bytes } = await withTimeout(serverGot, 10_000, "the server to read the client's bytes");
      const { frames } = framesOf(bytes, "server");
      assert.equal(describeFrames(frames), `2:${LARGE} 8:2`, "the whole message, then the close reply");
      assert.deepEqual({ code: closed.code, wasClean: closed.wasClean, errors }, {
        code: 1000,
        wasClean: true,
        errors: [],
      });
    } finally {
      await stop(server);
    }
  });

  // The transport itself: cancelling the readable while writes are queued writes them before the socket is
  // destroyed (the Connection cancels after its writable closed; any other owner may not).
  test("socketToTransport: cancelling the readable with writes queued writes them all, then closes", async () => {
    let peer: Socket | undefined;
    const server = await listen((socket) => {
      peer = socket;
      socket.pause();
    });
    try {
      const { readable, writable } = socketToTransport(await connected(portOf(server)));
      while (peer === undefined) await pause(5);
      const received = collect(peer);
      const writer = writable.getWriter();
      const payload = pseudoRandomBytes(LARGE, 11);
      const outcome = Promise.allSettled([writer.write(payload), writer.close()]);
      await readable.cancel();
      await pause(100);
      peer.resume();
      const { bytes, how } = await withTimeout(received, 10_000, "the peer to read everything");
      assert.equal(how, "end", "a clean end, no reset");
      assert.equal(bytes.length, LARGE, "every accepted byte arrived");
      assert.ok(bytes.every((b, i) => b === payload[i]));
      const settled = await withTimeout(outcome, 3000, "the write and the close to settle");
      assert.deepEqual(settled.map((s) => s.status), ["fulfilled", "fulfilled"]);
    } finally {
      peer?.destroy();
      await stop(server);
    }
  });

  // A peer that sends its close frame and then stops reading: our echo and close reply cannot all be written
  // within the close timeout. The close frames crossed, but the connection must not claim a clean end.
  test("Connection: our bytes not written within closeTimeout are reported (error, wasClean false)", async () => {
    let peer: Socket | undefined;
    const server = await listen((socket) => {
      peer = socket;
      socket.pause(); // never reads
    });
    try {
      const connection = new Connection(socketToTransport(await connected(portOf(server))), {
        role: "client",
        closeTimeout: 300,
      });
      const errors: Error[] = [];
      connection.onerror = (error) => errors.push(error);
      while (peer === undefined) await pause(5);
      connection.send(pseudoRandomBytes(LARGE, 14)).catch(() => {}); // far more than the socket buffers take
      peer.write(new Uint8Array([0x88, 0x02, 0x03, 0xe8])); // the server's close frame: 1000
      const result = await withTimeout(connection.closed, 5000, "the connection to close");
      assert.equal(result.code, 1000);
      assert.equal(result.wasClean, false);
      assert.equal(errors.length, 1);
      assert.match(errors[0].message, /^Cannot close: \d+ bytes were not written within 300 ms$/);
    } finally {
      peer?.destroy();
      await stop(server);
    }
  });

  // And when the bytes cannot be written, closing says so instead of resolving as if they had been.
  test("socketToTransport: close() rejects when the peer resets before everything was written", async () => {
    let peer: Socket | undefined;
    const server = await listen((socket) => {
      peer = socket;
      socket.pause();
    });
    try {
      const { readable, writable } = socketToTransport(await connected(portOf(server)));
      while (peer === undefined) await pause(5);
      const writer = writable.getWriter();
      writer.write(pseudoRandomBytes(LARGE, 13)).catch(() => {});
      const closing = writer.close();
      closing.catch(() => {});
      await pause(100);
      peer.destroy(); // with bytes unread: a reset
      // The write's own error (ECANCELED, ECONNRESET, EPIPE) or "Cannot close: ...": anything but success.
      await assert.rejects(withTimeout(closing, 3000, "close() to settle"), Error);
      await readable.cancel().catch(() => {});
    } finally {
      await stop(server);
    }
  });
});
