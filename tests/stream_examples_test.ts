/**
 * The stream examples' own rules, with a raw socket as the peer (frames written by hand): the stream
 * server (examples/stream_server.ts) and client (examples/stream_client.ts) fail the connection with the
 * close code of each violation (RFC 6455 §7.4.1), answer pings, refuse a bad upgrade with 400, and report
 * 1006 when the transport ends without a Close.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { encodeFrame } from "../lib/core/encode_frame.ts";
import { computeAcceptKey } from "../lib/handshake/accept_key.ts";
import { PerMessageDeflate } from "../lib/deflate/permessage_deflate.ts";
import { connectStreamClient } from "../examples/stream_client.ts";
import { serveStreams } from "../examples/stream_server.ts";
import type { StreamSessionClose } from "../examples/stream_session.ts";
import { concatBytes, hex, toHex } from "./_vectors.ts";
import { withTimeout } from "./_interop.ts";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

/** A raw client: sends the upgrade request, then `frames`; returns the status line and every byte after the head until the server ends the connection. */
async function rawExchange(
  port: number,
  frames: Uint8Array[],
  options: { extensions?: string; headers?: string; end?: boolean } = {},
): Promise<{ status: string; after: Uint8Array }> {
  const socket = connect({ host: "127.0.0.1", port });
  const chunks: Uint8Array[] = [];
  const ended = new Promise<void>((resolve) => {
    socket.on("data", (chunk: Uint8Array) => chunks.push(new Uint8Array(chunk)));
    socket.on("close", () => resolve());
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  const headers = options.headers ??
    `host: 127.0.0.1:${port}\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: ${KEY}\r\nsec-websocket-version: 13\r\n` +
      (options.extensions ? `sec-websocket-extensions: ${options.extensions}\r\n` : "");
  socket.write(`GET / HTTP/1.1\r\n${headers}\r\n`);
  for (const frame of frames) socket.write(frame);
  if (options.end) socket.end();
  await withTimeout(ended, 15_000, "the server to end the connection");
  const all = concatBytes(chunks);
  const text = new TextDecoder("latin1").decode(all);
  const end = text.indexOf("\r\n\r\n");
  assert.notEqual(end, -1, `a complete head: ${text.slice(0, 200)}`);
  return { status: text.slice(0, text.indexOf("\r\n")), after: all.subarray(end + 4) };
}

function masked(opcode: number, payload: Uint8Array, bits: { fin?: boolean; rsv1?: boolean } = {}): Uint8Array {
  return concatBytes(encodeFrame(opcode, payload, { ...bits, mask: true }));
}

/** The first frame in `bytes`, unmasked server frame: opcode and payload. */
function firstFrame(bytes: Uint8Array): { opcode: number; payload: Uint8Array } {
  assert.ok(bytes.length >= 2, "a frame from the server");
  assert.equal(bytes[1] & 0x80, 0, "§5.1: the server does not mask");
  const length = bytes[1] & 0x7f;
  assert.ok(length < 126, "a short frame");
  return { opcode: bytes[0] & 0x0f, payload: bytes.subarray(2, 2 + length) };
}

function closeCode(bytes: Uint8Array): number {
  const frame = firstFrame(bytes);
  assert.equal(frame.opcode, 0x8, `a Close frame first, got ${toHex(bytes.subarray(0, 8))}`);
  return (frame.payload[0] << 8) | frame.payload[1];
}

const DEFLATE_PARAMETERS = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };

describe("examples/stream_server.ts fails the connection with the violation's close code", () => {
  const cases: { name: string; code: number; frames: () => Uint8Array[]; deflate?: boolean }[] = [
    // RFC 6455 §5.1: "The server MUST close the connection upon receiving a frame that is not masked."
    { name: "an unmasked frame: 1002", code: 1002, frames: () => [concatBytes(encodeFrame(0x1, hex("48 69")))] },
    // §5.2: no extension negotiated, RSV1 set.
    { name: "RSV1 without permessage-deflate: 1002", code: 1002, frames: () => [masked(0x1, hex("f2 48 cd c9 c9 07 00"), { rsv1: true })] },
    // RFC 7692 §6.1: not on control frames.
    { name: "RSV1 on a ping with permessage-deflate: 1002", code: 1002, deflate: true, frames: () => [masked(0x9, new Uint8Array(0), { rsv1: true })] },
    // §8.1: text must be UTF-8.
    { name: "invalid UTF-8 in a text message: 1007", code: 1007, frames: () => [masked(0x1, hex("ce ba e1 bd f9"))] },
    // RFC 7692 §6.2: data that does not inflate.
    { name: "a compressed message that does not inflate: 1007", code: 1007, deflate: true, frames: () => [masked(0x2, hex("ff ff ff ff"), { rsv1: true })] },
    {
      // 16 MiB of zeros in ~16 KiB: stopped at the 1 MiB limit while inflating.
      name: "a compressed message inflating past maxMessageSize: 1009",
      code: 1009,
      deflate: true,
      frames: () => {
        const frame = new PerMessageDeflate("client", DEFLATE_PARAMETERS, { releaseAfterIdle: Infinity })
          .encode({ fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 0x2, payload: new Uint8Array(16 * 1024 * 1024) });
        return [masked(0x2, frame.payload, { rsv1: true })];
      },
    },
    // §5.4: a continuation with nothing to continue.
    { name: "a continuation frame first: 1002", code: 1002, frames: () => [masked(0x0, hex("01"))] },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const closes: Promise<StreamSessionClose>[] = [];
      const server = await serveStreams({
        port: 0,
        maxMessageSize: 1024 * 1024,
        onSession: (session) => {
          closes.push(session.closed);
          session.readable.pipeTo(session.writable).catch(() => {});
        },
      });
      try {
        const { status, after } = await rawExchange(server.port, c.frames(), { extensions: c.deflate ? "permessage-deflate" : undefined });
        assert.equal(status, "HTTP/1.1 101 Switching Protocols");
        assert.equal(closeCode(after), c.code);
        const close = await closes[0];
        assert.equal(close.code, c.code);
        assert.equal(close.wasClean, false);
      } finally {
        await server.close();
      }
    });
  }

  test("answers a ping with a pong carrying the same data (§5.5.2), then closes cleanly", async () => {
    const server = await serveStreams({ port: 0 });
    try {
      const frames = [masked(0x9, hex("01 02 03")), masked(0x8, hex("03 e8"))];
      const { after } = await rawExchange(server.port, frames);
      const pong = firstFrame(after);
      assert.deepEqual({ opcode: pong.opcode, payload: toHex(pong.payload) }, { opcode: 0xa, payload: "01 02 03" });
      assert.equal(closeCode(after.subarray(2 + pong.payload.length)), 1000);
    } finally {
      await server.close();
    }
  });

  test("refuses an upgrade without Sec-WebSocket-Key with 400", async () => {
    const server = await serveStreams({ port: 0 });
    try {
      const { status } = await rawExchange(server.port, [], {
        headers: `host: 127.0.0.1\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\n`,
      });
      assert.match(status, /^HTTP\/1\.1 400 /);
    } finally {
      await server.close();
    }
  });

  test("reports 1006, not clean, when the client's connection ends without a Close", async () => {
    const closes: Promise<StreamSessionClose>[] = [];
    const server = await serveStreams({ port: 0, onSession: (session) => closes.push(session.closed) });
    try {
      // Half a frame, then the end of the stream: nothing to answer, no Close sent (1006 is never sent).
      const { after } = await rawExchange(server.port, [masked(0x1, hex("48 69")).subarray(0, 4)], { end: true });
      assert.equal(after.length, 0);
      const close = await withTimeout(closes[0], 15_000, "the session to end");
      assert.deepEqual({ code: close.code, wasClean: close.wasClean }, { code: 1006, wasClean: false });
    } finally {
      await server.close();
    }
  });
});

describe("examples/stream_client.ts fails the connection with the violation's close code", () => {
  /** A raw server: answers the upgrade with 101 (and `extensions`), sends `frames`, and collects what the client sends. */
  async function rawServer(frames: Uint8Array[], extensions?: string) {
    const received: Uint8Array[] = [];
    let done!: () => void;
    const finished = new Promise<void>((resolve) => done = resolve);
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      let head = "";
      let upgraded = false;
      socket.on("data", async (chunk: Uint8Array) => {
        if (upgraded) {
          received.push(new Uint8Array(chunk));
          return;
        }
        head += new TextDecoder("latin1").decode(chunk);
        if (!head.includes("\r\n\r\n")) return;
        upgraded = true;
        const key = /sec-websocket-key: *(\S+)/i.exec(head)![1];
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${await computeAcceptKey(key)}\r\n` +
            (extensions ? `sec-websocket-extensions: ${extensions}\r\n` : "") + "\r\n",
        );
        for (const frame of frames) socket.write(frame);
      });
      socket.on("end", () => socket.end());
      socket.on("close", () => done());
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    return {
      port,
      finished,
      received: () => concatBytes(received),
      close: () => {
        for (const socket of sockets) socket.destroy();
        return new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  /** The close code of the client's first frame, a masked Close. */
  function maskedCloseCode(bytes: Uint8Array): number {
    assert.ok(bytes.length >= 8, `a frame from the client: ${toHex(bytes)}`);
    assert.equal(bytes[0] & 0x0f, 0x8, "a Close frame");
    assert.equal(bytes[1] & 0x80, 0x80, "§5.3: the client masks");
    const key = bytes.subarray(2, 6);
    return ((bytes[6] ^ key[0]) << 8) | (bytes[7] ^ key[1]);
  }

  const cases: { name: string; code: number; frames: Uint8Array[]; extensions?: string }[] = [
    // RFC 6455 §5.1: "A client MUST close a connection if it detects a masked frame."
    { name: "a masked frame from the server: 1002", code: 1002, frames: [masked(0x1, hex("48 69"))] },
    { name: "RSV1 on a continuation frame: 1002", code: 1002, extensions: "permessage-deflate", frames: [
      concatBytes(encodeFrame(0x1, hex("f2 48 cd"), { fin: false, rsv1: true })),
      concatBytes(encodeFrame(0x0, hex("c9 c9 07 00"), { rsv1: true })),
    ] },
    { name: "a Close with a reserved code: 1002", code: 1002, frames: [concatBytes(encodeFrame(0x8, hex("03 ed")))] },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const server = await rawServer(c.frames, c.extensions);
      try {
        const client = await connectStreamClient(`ws://127.0.0.1:${server.port}/`);
        const reading = (async () => {
          for await (const _ of client.readable) { /* nothing is valid here */ }
        })();
        await reading.catch(() => {});
        const close = await withTimeout(client.closed, 15_000, "the client to fail the connection");
        assert.equal(close.code, c.code);
        await withTimeout(server.finished, 15_000, "the client to end the connection");
        assert.equal(maskedCloseCode(server.received()), c.code);
      } finally {
        await server.close();
      }
    });
  }
});
