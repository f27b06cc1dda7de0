import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { NodeUpgrade } from "../lib/adapters/node_http.ts";
import type { CloseResult } from "../lib/connection.ts";
import type { Frame } from "../lib/core/frame.ts";
import {
  echo,
  frame,
  httpExchange,
  pause,
  RawClient,
  startServer,
  type TestServer,
  type TestServerOptions,
  utf8,
  WAIT_MS,
  withTimeout,
} from "./_raw_client.ts";
import { concatBytes, hex, INVALID_CLOSE_CODES, pseudoRandomBytes, VALID_CLOSE_CODES } from "./_vectors.ts";

// Cases of the kinds in the Autobahn TestSuite's groups 1-7, driven over real 127.0.0.1 sockets against an
// in-process echo server (node:http + handleNodeUpgrade), asserting what comes back on the wire.

const TEXT = 0x1, BINARY = 0x2, CONTINUATION = 0x0, CLOSE = 0x8, PING = 0x9, PONG = 0xa;
const MiB = 1024 * 1024;

/** ASCII text of exactly `length` bytes. */
function asciiText(length: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ";
  let out = "";
  for (let i = 0; i < length; i++) out += alphabet[(i * 7) % alphabet.length];
  return out;
}

/** Index of the first differing byte, or -1 (cheaper than deepEqual on a mebibyte). */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function assertFrame(actual: Frame, opcode: number, payload: Uint8Array | string): void {
  assert.equal(actual.opcode, opcode, `opcode 0x${actual.opcode.toString(16)}`);
  assert.equal(actual.fin, true, "FIN");
  assert.deepEqual([actual.rsv1, actual.rsv2, actual.rsv3], [false, false, false], "RSV bits");
  if (typeof payload === "string") {
    assert.equal(new TextDecoder("utf-8", { fatal: true }).decode(actual.payload), payload);
  } else {
    assert.equal(actual.payload.length, payload.length, "payload length");
    assert.equal(firstDifference(actual.payload, payload), -1, "first differing payload byte");
  }
}

/** A server, a connected raw client and the server's side of it; both closed afterwards. */
async function session(
  options: TestServerOptions,
  body: (client: RawClient, upgrade: NodeUpgrade, server: TestServer) => Promise<void>,
): Promise<void> {
  const server = await startServer(options);
  let client: RawClient | undefined;
  try {
    client = await RawClient.connect(server.port);
    assert.equal(client.status, 101);
    await body(client, await server.nextUpgrade(), server);
  } finally {
    client?.destroy();
    await server.close();
  }
}

function withEcho(
  body: (client: RawClient, upgrade: NodeUpgrade, server: TestServer) => Promise<void>,
): Promise<void> {
  return session({}, body);
}

/**
 * The server failed the connection: the next frame is a close frame with `code` (nothing before it), the
 * TCP connection then ends with nothing after the close frame, and the server's `closed` reports no clean
 * closing handshake.
 */
async function expectFailure(client: RawClient, upgrade: NodeUpgrade, code: number): Promise<void> {
  const close = await client.closeFrame();
  assert.deepEqual(close.before.map((f) => f.opcode), [], "frames before the close frame");
  assert.equal(close.code, code, `close code (reason: ${close.reason})`);
  assert.ok(close.payload.length <= 125, "a close payload fits a control frame");
  await client.waitEnd();
  await assert.rejects(client.nextFrame(0), /socket ended/, "nothing after the close frame");
  const result = await closedOf(upgrade);
  assert.equal(result.wasClean, false);
}

function closedOf(upgrade: NodeUpgrade): Promise<CloseResult> {
  return withTimeout(upgrade.connection.closed, WAIT_MS, "the server connection's closed promise");
}

/** A client close frame: a status code and a reason, or raw payload bytes. */
function closePayload(code: number, reason = ""): Uint8Array {
  return concatBytes([new Uint8Array([code >>> 8, code & 0xff]), utf8(reason)]);
}

async function expectedAccept(key: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-1",
    new TextEncoder().encode(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
  );
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

describe("Autobahn 1: echo of text and binary messages over loopback", () => {
  for (const size of [0, 125, 126, 65535, 65536, MiB]) {
    test(`the echo server returns a ${size}-byte text message unchanged in one frame`, async () => {
      await withEcho(async (client) => {
        const text = asciiText(size);
        const bytes = frame(TEXT, text);
        if (size === MiB) await client.writeInPieces(bytes, 3, 10);
        else await client.write(bytes);
        assertFrame(await client.nextFrame(), TEXT, text);
      });
    });

    test(`the echo server returns a ${size}-byte binary message unchanged in one frame`, async () => {
      await withEcho(async (client) => {
        const payload = pseudoRandomBytes(size, size + 1);
        const bytes = frame(BINARY, payload);
        if (size === MiB) await client.writeInPieces(bytes, 3, 10);
        else await client.write(bytes);
        assertFrame(await client.nextFrame(), BINARY, payload);
      });
    });
  }

  test("the echo server returns 64 KiB of two-byte UTF-8 text unchanged", async () => {
    await withEcho(async (client) => {
      const text = "ä".repeat(32768);
      await client.send(TEXT, text);
      assertFrame(await client.nextFrame(), TEXT, text);
    });
  });

  test("the server reads a text frame written one byte per TCP write", async () => {
    await withEcho(async (client) => {
      await client.writeInPieces(frame(TEXT, "Hello, world!"), Infinity, 5);
      assertFrame(await client.nextFrame(), TEXT, "Hello, world!");
    });
  });

  test("the server reads a 200-byte binary frame (16-bit length) written one byte per TCP write", async () => {
    await withEcho(async (client) => {
      const payload = pseudoRandomBytes(200, 7);
      await client.writeInPieces(frame(BINARY, payload), Infinity, 1);
      assertFrame(await client.nextFrame(), BINARY, payload);
    });
  });

  test("the server reads a 1 MiB binary frame written in 3 TCP writes with pauses", async () => {
    await withEcho(async (client) => {
      const payload = pseudoRandomBytes(MiB, 3);
      await client.writeInPieces(frame(BINARY, payload), 3, 50);
      assertFrame(await client.nextFrame(), BINARY, payload);
    });
  });

  test("the server echoes 100 frames sent in one TCP write, in order", async () => {
    await withEcho(async (client) => {
      const messages = Array.from(
        { length: 100 },
        (_, i) => i % 2 === 0 ? `message ${i}` : pseudoRandomBytes(i, i),
      );
      await client.write(concatBytes(messages.map((m) => frame(typeof m === "string" ? TEXT : BINARY, m))));
      for (const message of messages) {
        assertFrame(await client.nextFrame(), typeof message === "string" ? TEXT : BINARY, message);
      }
    });
  });
});

describe("Autobahn 2: pings and pongs", () => {
  for (const size of [0, 1, 125]) {
    test(`a ${size}-byte ping gets a pong with identical payload`, async () => {
      await withEcho(async (client) => {
        const payload = pseudoRandomBytes(size, 11);
        await client.send(PING, payload);
        assertFrame(await client.nextFrame(), PONG, payload);
      });
    });
  }

  test("a ping with a text payload gets a pong with the same bytes", async () => {
    await withEcho(async (client) => {
      await client.send(PING, "Hello, world!");
      assertFrame(await client.nextFrame(), PONG, "Hello, world!");
    });
  });

  test("10 pings in one TCP write get 10 pongs in order", async () => {
    await withEcho(async (client) => {
      await client.write(concatBytes(Array.from({ length: 10 }, (_, i) => frame(PING, `ping ${i}`))));
      for (let i = 0; i < 10; i++) assertFrame(await client.nextFrame(), PONG, `ping ${i}`);
    });
  });

  test("a ping between the fragments of a message is answered before the message is echoed", async () => {
    await withEcho(async (client) => {
      await client.send(TEXT, "fragment one, ", { fin: false });
      await client.send(PING, "in between");
      assertFrame(await client.nextFrame(), PONG, "in between");
      await client.send(CONTINUATION, "fragment two");
      assertFrame(await client.nextFrame(), TEXT, "fragment one, fragment two");
    });
  });

  test("a ping between fragments in one TCP write: the pong comes first, then the echo", async () => {
    await withEcho(async (client) => {
      await client.write(concatBytes([
        frame(BINARY, hex("01 02"), { fin: false }),
        frame(PING, "ping"),
        frame(CONTINUATION, hex("03 04")),
      ]));
      assertFrame(await client.nextFrame(), PONG, "ping");
      assertFrame(await client.nextFrame(), BINARY, hex("01 02 03 04"));
    });
  });

  test("messages and a close frame in one TCP write: every echo is sent before the close reply", async () => {
    await withEcho(async (client) => {
      await client.write(concatBytes([
        frame(TEXT, "first"),
        frame(BINARY, hex("0a 0b")),
        frame(PING, "p"),
        frame(CLOSE, concatBytes([hex("03 e8"), utf8("bye")])),
      ]));
      assertFrame(await client.nextFrame(), TEXT, "first");
      assertFrame(await client.nextFrame(), BINARY, hex("0a 0b"));
      assertFrame(await client.nextFrame(), PONG, "p");
      const close = await client.nextFrame();
      assert.equal(close.opcode, CLOSE);
      assert.deepEqual(close.payload, hex("03 e8"));
    });
  });

  test("an unsolicited pong is ignored: no answer, and the next echo still works", async () => {
    await withEcho(async (client) => {
      await client.send(PONG, "unsolicited");
      await client.send(TEXT, "after the pong");
      assertFrame(await client.nextFrame(), TEXT, "after the pong");
    });
  });

  test("a ping of 126 bytes (control frame over 125) fails the connection with 1002", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(PING, pseudoRandomBytes(126, 5));
      await expectFailure(client, upgrade, 1002);
    });
  });
});

describe("Autobahn 3: reserved bits", () => {
  for (const [name, rsv] of [["RSV1", 0x40], ["RSV2", 0x20], ["RSV3", 0x10], ["RSV1-3", 0x70]] as const) {
    test(`a text frame with ${name} set fails the connection with 1002, then the socket ends`, async () => {
      await withEcho(async (client, upgrade) => {
        await client.send(TEXT, "Hello", { rsv });
        await expectFailure(client, upgrade, 1002);
      });
    });
  }

  test("a ping with RSV1 set fails the connection with 1002", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(PING, "x", { rsv: 0x40 });
      await expectFailure(client, upgrade, 1002);
    });
  });

  test("after an echo, a frame with RSV2 and a ping in one write: close 1002 and no pong", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(TEXT, "Hello, world!");
      assertFrame(await client.nextFrame(), TEXT, "Hello, world!");
      await client.write(concatBytes([frame(TEXT, "Hello, world!", { rsv: 0x20 }), frame(PING)]));
      await expectFailure(client, upgrade, 1002);
    });
  });
});

describe("Autobahn 4: opcodes", () => {
  for (const opcode of [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
    test(`a frame with reserved opcode 0x${opcode.toString(16)} fails the connection with 1002`, async () => {
      await withEcho(async (client, upgrade) => {
        await client.send(opcode, "payload");
        await expectFailure(client, upgrade, 1002);
      });
    });
  }

  test("after an echo, reserved opcode 0xb and a ping in one write: close 1002 and no pong", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(TEXT, "Hello");
      assertFrame(await client.nextFrame(), TEXT, "Hello");
      await client.write(concatBytes([frame(0xb), frame(PING)]));
      await expectFailure(client, upgrade, 1002);
    });
  });
});

describe("Autobahn 5: fragmentation", () => {
  test("a text message in 3 fragments, one write each, is echoed as one message", async () => {
    await withEcho(async (client) => {
      await client.send(TEXT, "frag1 ", { fin: false });
      await client.send(CONTINUATION, "frag2 ", { fin: false });
      await client.send(CONTINUATION, "frag3");
      assertFrame(await client.nextFrame(), TEXT, "frag1 frag2 frag3");
    });
  });

  test("a binary message of 1000 one-byte fragments in one write is echoed as one message", async () => {
    await withEcho(async (client) => {
      const payload = pseudoRandomBytes(1000, 13);
      const frames = Array.from(
        payload,
        (b, i) => frame(i === 0 ? BINARY : CONTINUATION, Uint8Array.of(b), { fin: i === 999 }),
      );
      await client.write(concatBytes(frames));
      assertFrame(await client.nextFrame(), BINARY, payload);
    });
  });

  test("a fragmented ping (FIN clear) fails the connection with 1002", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(PING, "fragment", { fin: false });
      await expectFailure(client, upgrade, 1002);
    });
  });

  test("a fragmented pong (FIN clear) fails the connection with 1002", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(PONG, "fragment", { fin: false });
      await expectFailure(client, upgrade, 1002);
    });
  });

  test("a continuation frame with no message to continue fails the connection with 1002", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(CONTINUATION, "orphan");
      await expectFailure(client, upgrade, 1002);
    });
  });

  test("a continuation frame without FIN and no message to continue fails the connection with 1002", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(CONTINUATION, "orphan", { fin: false });
      await expectFailure(client, upgrade, 1002);
    });
  });

  test("a text frame while a fragmented message is in progress fails the connection with 1002", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(TEXT, "first ", { fin: false });
      await client.send(TEXT, "interleaved");
      await expectFailure(client, upgrade, 1002);
    });
  });

  test("a binary frame while a fragmented text message is in progress fails the connection with 1002", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(TEXT, "first ", { fin: false });
      await client.send(BINARY, hex("00"), { fin: false });
      await expectFailure(client, upgrade, 1002);
    });
  });
});

describe("§5.1 masking", () => {
  test("an unmasked client frame fails the connection with 1002", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(TEXT, "Hello", { mask: false });
      await expectFailure(client, upgrade, 1002);
    });
  });

  test("an unmasked frame after a valid echo fails the connection with 1002", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(TEXT, "masked");
      assertFrame(await client.nextFrame(), TEXT, "masked");
      await client.send(BINARY, hex("01 02 03"), { mask: false });
      await expectFailure(client, upgrade, 1002);
    });
  });
});

describe("Autobahn 6: UTF-8 handling", () => {
  // "κόσμε" (with U+1F79 as its second letter) and U+110000 as f4 90 80 80, invalid at its second byte
  // (Autobahn 6.4.x).
  const valid = hex("ce ba e1 bd b9 cf 83 ce bc ce b5");
  const invalid = hex("f4 90 80 80");

  test("a text frame with invalid UTF-8 fails the connection with 1007", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(TEXT, concatBytes([valid, invalid]));
      await expectFailure(client, upgrade, 1007);
    });
  });

  test("a lone continuation byte 0x80 in text fails the connection with 1007", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(TEXT, hex("41 80 42"));
      await expectFailure(client, upgrade, 1007);
    });
  });

  test("a text message that ends inside a code point fails the connection with 1007", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(TEXT, valid.subarray(0, 4)); // ce ba e1 bd: e1 bd b9 cut short
      await expectFailure(client, upgrade, 1007);
    });
  });

  test("a fragmented text message whose last fragment ends inside a code point fails with 1007", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(TEXT, valid.subarray(0, 3), { fin: false });
      await client.send(CONTINUATION, valid.subarray(3, 4));
      await expectFailure(client, upgrade, 1007);
    });
  });

  test("a code point split between fragments is valid UTF-8 and is echoed", async () => {
    await withEcho(async (client) => {
      // "κόσμε": split inside the three-byte e1 bd b9.
      await client.send(TEXT, valid.subarray(0, 3), { fin: false });
      await client.send(CONTINUATION, valid.subarray(3));
      assertFrame(await client.nextFrame(), TEXT, new TextDecoder().decode(valid));
    });
  });

  test("fail fast: invalid UTF-8 in fragment 2 of 3 gets 1007 before fragment 3 is sent", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(TEXT, valid, { fin: false });
      await client.send(CONTINUATION, concatBytes([valid, invalid]), { fin: false });
      // Fragment 3 is never sent: the close must come without it.
      await expectFailure(client, upgrade, 1007);
    });
  });

  test("fail fast: one text frame written in 3 TCP writes gets 1007 before the third write", async () => {
    await withEcho(async (client, upgrade) => {
      const payload = concatBytes([valid, invalid, utf8("the rest of the frame, never sent")]);
      const bytes = frame(TEXT, payload);
      const header = bytes.length - payload.length;
      await client.write(bytes.slice(0, header + valid.length));
      await pause(20);
      await client.write(bytes.slice(header + valid.length, header + valid.length + invalid.length));
      // The third piece is never sent: the close must come without it.
      await expectFailure(client, upgrade, 1007);
    });
  });

  test("fail fast: invalid UTF-8 in a partly received continuation frame gets 1007 at once", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(TEXT, valid, { fin: false });
      const bytes = frame(CONTINUATION, concatBytes([invalid, new Uint8Array(1000).fill(0x61)]));
      await client.write(bytes.slice(0, 8 + invalid.length));
      await expectFailure(client, upgrade, 1007);
    });
  });

  test("fail fast: invalid UTF-8 in the first TCP write of a large text frame gets 1007 at once", async () => {
    await withEcho(async (client, upgrade) => {
      const payload = concatBytes([invalid, new Uint8Array(65536).fill(0x61)]);
      const bytes = frame(TEXT, payload);
      await client.write(bytes.slice(0, 100));
      await expectFailure(client, upgrade, 1007);
    });
  });
});

describe("Autobahn 7: closing handshake", () => {
  test("an empty close frame gets an empty close frame back; the server reports 1005, clean", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(CLOSE);
      const close = await client.closeFrame();
      assert.deepEqual(close.before, []);
      assert.equal(close.payload.length, 0);
      await client.waitEnd();
      assert.deepEqual(await closedOf(upgrade), { code: 1005, reason: "", wasClean: true });
    });
  });

  test('close 1000 "bye" gets close 1000 back; the server reports {1000, "bye", clean}', async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(CLOSE, closePayload(1000, "bye"));
      const close = await client.closeFrame();
      assert.deepEqual(close.before, []);
      assert.equal(close.code, 1000);
      await client.waitEnd();
      assert.deepEqual(await closedOf(upgrade), { code: 1000, reason: "bye", wasClean: true });
    });
  });

  test("the server's oncloseframe sees the client's code and reason as the close frame arrives", async () => {
    let seen: [number, string] | undefined;
    const onUpgrade = (upgrade: NodeUpgrade) => {
      echo(upgrade);
      upgrade.connection.oncloseframe = (code, reason) => seen = [code, reason];
    };
    await session({ onUpgrade }, async (client) => {
      await client.send(CLOSE, closePayload(4000, "going"));
      assert.equal((await client.closeFrame()).code, 4000);
      assert.deepEqual(seen, [4000, "going"]);
    });
  });

  test("a close frame with a 123-byte reason (125-byte payload) is answered with the same code", async () => {
    await withEcho(async (client, upgrade) => {
      const reason = asciiText(123);
      await client.send(CLOSE, closePayload(1000, reason));
      assert.equal((await client.closeFrame()).code, 1000);
      assert.deepEqual(await closedOf(upgrade), { code: 1000, reason, wasClean: true });
    });
  });

  for (
    const code of VALID_CLOSE_CODES
  ) {
    test(`close code ${code} is valid on the wire and is echoed`, async () => {
      await withEcho(async (client, upgrade) => {
        await client.send(CLOSE, closePayload(code));
        assert.equal((await client.closeFrame()).code, code);
        await client.waitEnd();
        assert.deepEqual(await closedOf(upgrade), { code, reason: "", wasClean: true });
      });
    });
  }

  for (const code of INVALID_CLOSE_CODES) {
    test(`close code ${code} is not valid on the wire: the server fails the connection with 1002`, async () => {
      await withEcho(async (client, upgrade) => {
        await client.send(CLOSE, closePayload(code));
        await expectFailure(client, upgrade, 1002);
      });
    });
  }

  test("a close frame with a 1-byte payload fails the connection with 1002", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(CLOSE, hex("03"));
      await expectFailure(client, upgrade, 1002);
    });
  });

  test("a close frame whose reason is invalid UTF-8 fails the connection with 1007", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(CLOSE, concatBytes([closePayload(1000), hex("ce ba f4 90 80 80")]));
      await expectFailure(client, upgrade, 1007);
    });
  });

  test("data after the close frame in the same write is discarded: close back, no echo", async () => {
    await withEcho(async (client) => {
      await client.write(
        concatBytes([frame(CLOSE, closePayload(1000)), frame(TEXT, "too late"), frame(PING, "late")]),
      );
      const close = await client.closeFrame();
      assert.deepEqual(close.before, []);
      assert.equal(close.code, 1000);
      await client.waitEnd();
      await assert.rejects(client.nextFrame(0), /socket ended/);
    });
  });

  test("a close frame between fragments of a message is answered with a close; the message is dropped", async () => {
    await withEcho(async (client, upgrade) => {
      await client.send(TEXT, "unfinished", { fin: false });
      await client.send(CLOSE, closePayload(1000));
      const close = await client.closeFrame();
      assert.deepEqual(close.before, []);
      assert.equal(close.code, 1000);
      await client.waitEnd();
      assert.deepEqual(await closedOf(upgrade), { code: 1000, reason: "", wasClean: true });
    });
  });

  // §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response, unless it
  // already received a Close frame." Having sent one is no exemption, and a pong is not a data frame.
  test("RFC 6455 §5.5.2: a ping received after the server sent its close frame still gets a pong", async () => {
    const options: TestServerOptions = {
      upgrade: { closeTimeout: 2000 },
      onUpgrade: ({ connection }) => void connection.close(1000),
    };
    await session(options, async (client, upgrade) => {
      assert.equal((await client.closeFrame()).code, 1000);
      await client.send(PING, "still there?");
      assertFrame(await client.nextFrame(1000), PONG, "still there?");
      await client.send(CLOSE, closePayload(1000));
      await client.waitEnd();
      assert.deepEqual(await closedOf(upgrade), { code: 1000, reason: "", wasClean: true });
    });
  });
});

describe("message size limit", () => {
  const limited: TestServerOptions = { upgrade: { maxMessageSize: 1024 } };

  test("a frame header declaring 2048 bytes gets 1009 before any payload is sent (limit 1024)", async () => {
    await session(limited, async (client, upgrade) => {
      const header = frame(BINARY, new Uint8Array(2048)).subarray(0, 8); // 82 fe 08 00 + mask key
      assert.deepEqual([...header.subarray(0, 4)], [0x82, 0xfe, 0x08, 0x00]);
      await client.write(header);
      await expectFailure(client, upgrade, 1009);
    });
  });

  test("a 64-bit length header declaring 2^53-1 bytes gets 1009 (limit 1024)", async () => {
    await session(limited, async (client, upgrade) => {
      await client.write(hex("82 ff 00 1f ff ff ff ff ff ff 00 00 00 00"));
      await expectFailure(client, upgrade, 1009);
    });
  });

  test("fragments summing to more than 1024 bytes get 1009 (limit 1024)", async () => {
    await session(limited, async (client, upgrade) => {
      await client.send(BINARY, new Uint8Array(600), { fin: false });
      await client.send(CONTINUATION, new Uint8Array(600));
      await expectFailure(client, upgrade, 1009);
    });
  });

  test("a message of exactly 1024 bytes in fragments is accepted and echoed (limit 1024)", async () => {
    await session(limited, async (client) => {
      const payload = pseudoRandomBytes(1024, 17);
      await client.send(BINARY, payload.subarray(0, 512), { fin: false });
      await client.send(CONTINUATION, payload.subarray(512));
      assertFrame(await client.nextFrame(), BINARY, payload);
    });
  });
});

describe("close timeout", () => {
  test("a peer that never answers the server's close is cut after closeTimeout: closed is 1006, not clean", async () => {
    const options: TestServerOptions = {
      upgrade: { closeTimeout: 200 },
      onUpgrade: ({ connection }) => void connection.close(1000, "server done"),
    };
    await session(options, async (client, upgrade) => {
      const close = await client.closeFrame();
      assert.equal(close.code, 1000);
      assert.equal(close.reason, "server done");
      const start = Date.now();
      // The client never sends its close frame.
      await client.waitEnd(1000);
      const elapsed = Date.now() - start;
      assert.ok(elapsed >= 100, `the server waited for the close timeout (cut after ${elapsed} ms)`);
      assert.deepEqual(await closedOf(upgrade), { code: 1006, reason: "", wasClean: false });
    });
  });

  test("a server-initiated close answered by the client completes cleanly", async () => {
    const options: TestServerOptions = {
      upgrade: { closeTimeout: 200 },
      onUpgrade: ({ connection }) => void connection.close(1001, "restart"),
    };
    await session(options, async (client, upgrade) => {
      const close = await client.closeFrame();
      assert.equal(close.code, 1001);
      await client.send(CLOSE, closePayload(1001));
      await client.waitEnd();
      assert.deepEqual(await closedOf(upgrade), { code: 1001, reason: "", wasClean: true });
    });
  });
});

describe("server resilience", () => {
  test("the server keeps serving other connections after one connection fails", async () => {
    const server = await startServer();
    const clients: RawClient[] = [];
    try {
      const open = async () => {
        const client = await RawClient.connect(server.port);
        clients.push(client);
        return { client, upgrade: await server.nextUpgrade() };
      };
      const bystander = await open();
      await bystander.client.send(TEXT, "before");
      assertFrame(await bystander.client.nextFrame(), TEXT, "before");

      const failing = await open();
      await failing.client.send(TEXT, "bad", { rsv: 0x20 });
      await expectFailure(failing.client, failing.upgrade, 1002);

      await bystander.client.send(TEXT, "after");
      assertFrame(await bystander.client.nextFrame(), TEXT, "after");
      const newcomer = await open();
      await newcomer.client.send(BINARY, hex("ca fe"));
      assertFrame(await newcomer.client.nextFrame(), BINARY, hex("ca fe"));
    } finally {
      for (const client of clients) client.destroy();
      await server.close();
    }
  });

  test("a client that stops reading makes the server buffer and wait; every echo arrives once it reads", async () => {
    await withEcho(async (client, upgrade) => {
      client.pauseReading();
      const messages = Array.from({ length: 64 }, (_, i) => pseudoRandomBytes(256 * 1024, i));
      // 16 MiB: more than loopback's kernel buffers hold, so the server's writes must back up.
      const written = client.write(concatBytes(messages.map((m) => frame(BINARY, m))));
      const start = Date.now();
      while (upgrade.connection.bufferedAmount === 0) {
        assert.ok(Date.now() - start < WAIT_MS, "the server's writes back up while the client does not read");
        await pause(10);
      }
      client.resumeReading();
      for (const message of messages) assertFrame(await client.nextFrame(), BINARY, message);
      await written;
    });
  });

  test("a message handler that throws fails the connection with 1011 and no detail on the wire", async () => {
    const errors: Error[] = [];
    const onUpgrade = ({ connection }: NodeUpgrade) => {
      connection.onerror = (error) => errors.push(error);
      connection.onmessage = () => {
        throw new Error("secret internal detail");
      };
    };
    await session({ onUpgrade }, async (client, upgrade) => {
      await client.send(TEXT, "boom");
      const close = await client.closeFrame();
      assert.equal(close.code, 1011);
      assert.equal(close.reason, "");
      await client.waitEnd();
      assert.equal((await closedOf(upgrade)).wasClean, false);
      assert.ok(
        errors.some((e) => e.message === "secret internal detail"),
        "the handler's error reaches onerror",
      );
    });
  });

  test("connection.fail(1008, reason) from the application sends close 1008 with the reason and ends the socket", async () => {
    const onUpgrade = ({ connection }: NodeUpgrade) => {
      connection.onmessage = () => connection.fail(1008, "not allowed");
    };
    await session({ onUpgrade }, async (client, upgrade) => {
      await client.send(TEXT, "forbidden");
      const close = await client.closeFrame();
      assert.deepEqual([close.code, close.reason], [1008, "not allowed"]);
      await client.waitEnd();
      assert.equal((await closedOf(upgrade)).wasClean, false);
    });
  });

  test("a client that vanishes mid-message leaves the server's connection closed as 1006", async () => {
    await withEcho(async (client, upgrade) => {
      await client.write(frame(BINARY, new Uint8Array(1000)).subarray(0, 100));
      client.destroy();
      assert.deepEqual(await closedOf(upgrade), { code: 1006, reason: "", wasClean: false });
    });
  });
});

describe("§4.2 opening handshake over the wire", () => {
  function upgradeRequest(
    port: number,
    overrides: Record<string, string | undefined>,
    method = "GET",
  ): string {
    const fields: Record<string, string | undefined> = {
      host: `127.0.0.1:${port}`,
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
      ...overrides,
    };
    const lines = Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${v}`);
    return `${method} / HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`;
  }

  async function withServer(body: (server: TestServer) => Promise<void>): Promise<void> {
    const server = await startServer();
    try {
      await body(server);
    } finally {
      await server.close();
    }
  }

  test("the 101 for the RFC sample key carries Sec-WebSocket-Accept s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", async () => {
    await withServer(async (server) => {
      const client = await RawClient.connect(server.port, {
        headers: { "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" },
      });
      try {
        assert.equal(client.status, 101);
        assert.equal(client.headers.get("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert.equal(client.headers.get("upgrade")?.toLowerCase(), "websocket");
        assert.equal(client.headers.get("connection")?.toLowerCase(), "upgrade");
        assert.equal(client.headers.get("sec-websocket-protocol"), null);
        assert.equal(client.headers.get("sec-websocket-extensions"), null);
      } finally {
        client.destroy();
      }
    });
  });

  test("the 101 for a random key carries the SHA-1 accept of that key", async () => {
    await withServer(async (server) => {
      const client = await RawClient.connect(server.port);
      try {
        assert.equal(client.status, 101);
        assert.equal(client.headers.get("sec-websocket-accept"), await expectedAccept(client.key));
      } finally {
        client.destroy();
      }
    });
  });

  test("frames sent in the same TCP write as the request head are read after the handshake", async () => {
    await withServer(async (server) => {
      const after = concatBytes([frame(TEXT, "early"), frame(BINARY, hex("0e 0a"))]);
      const client = await RawClient.connect(server.port, { after });
      try {
        assert.equal(client.status, 101);
        assertFrame(await client.nextFrame(), TEXT, "early");
        assertFrame(await client.nextFrame(), BINARY, hex("0e 0a"));
      } finally {
        client.destroy();
      }
    });
  });

  test("the server picks the first of its subprotocols that the client offered (server order)", async () => {
    const server = await startServer({ upgrade: { protocols: ["b", "a"] } });
    const client = await RawClient.connect(server.port, { headers: { "sec-websocket-protocol": "a, b" } });
    try {
      assert.equal(client.status, 101);
      assert.equal(client.headers.get("sec-websocket-protocol"), "b");
      assert.equal((await server.nextUpgrade()).protocol, "b");
    } finally {
      client.destroy();
      await server.close();
    }
  });

  test("Connection: keep-alive, Upgrade and Upgrade: WebSocket (as Firefox sends them) are accepted", async () => {
    await withServer(async (server) => {
      const headers = { connection: "keep-alive, Upgrade", upgrade: "WebSocket" };
      const client = await RawClient.connect(server.port, { headers });
      try {
        assert.equal(client.status, 101);
        assert.equal(client.headers.get("sec-websocket-accept"), await expectedAccept(client.key));
      } finally {
        client.destroy();
      }
    });
  });

  // §4.2.1: the client's handshake is "1. An HTTP/1.1 or higher GET request"; one that does not match "the
  // server MUST stop processing the client's handshake and return an HTTP response with an appropriate
  // error code (such as 400 Bad Request)".
  test("RFC 6455 §4.2.1: an HTTP/1.0 upgrade request is refused with 400, not upgraded", async () => {
    await withServer(async (server) => {
      const request = upgradeRequest(server.port, {}).replace(" HTTP/1.1\r\n", " HTTP/1.0\r\n");
      assert.ok(request.startsWith("GET / HTTP/1.0\r\n"));
      const response = await httpExchange(server.port, request);
      assert.equal(response.status, 400);
      assert.equal(response.headers.get("sec-websocket-accept"), null);
    });
  });

  test("Sec-WebSocket-Version 8 is refused with 426 and Sec-WebSocket-Version: 13", async () => {
    await withServer(async (server) => {
      const response = await httpExchange(
        server.port,
        upgradeRequest(server.port, { "sec-websocket-version": "8" }),
      );
      assert.equal(response.status, 426);
      assert.equal(response.headers.get("sec-websocket-version"), "13");
      assert.equal(response.headers.get("sec-websocket-accept"), null);
    });
  });

  test("a missing Sec-WebSocket-Version is refused with 426 and Sec-WebSocket-Version: 13", async () => {
    await withServer(async (server) => {
      const response = await httpExchange(
        server.port,
        upgradeRequest(server.port, { "sec-websocket-version": undefined }),
      );
      assert.equal(response.status, 426);
      assert.equal(response.headers.get("sec-websocket-version"), "13");
    });
  });

  test("a missing Sec-WebSocket-Key is refused with 400", async () => {
    await withServer(async (server) => {
      const response = await httpExchange(
        server.port,
        upgradeRequest(server.port, { "sec-websocket-key": undefined }),
      );
      assert.equal(response.status, 400);
      assert.equal(response.headers.get("sec-websocket-accept"), null);
    });
  });

  test("a Sec-WebSocket-Key that is not 16 bytes of base64 is refused with 400", async () => {
    await withServer(async (server) => {
      const response = await httpExchange(
        server.port,
        upgradeRequest(server.port, { "sec-websocket-key": "c2hvcnQ=" }),
      );
      assert.equal(response.status, 400);
    });
  });

  test("a POST upgrade request is refused with 405 and Allow: GET", async () => {
    await withServer(async (server) => {
      const request = upgradeRequest(server.port, { "content-length": "0" }, "POST");
      const response = await httpExchange(server.port, request);
      assert.equal(response.status, 405);
      assert.equal(response.headers.get("allow"), "GET");
    });
  });

  test("a refused upgrade accepts no connection: the server's next accepted upgrade is the valid one", async () => {
    await withServer(async (server) => {
      const refused = await httpExchange(
        server.port,
        upgradeRequest(server.port, { "sec-websocket-version": "7" }),
      );
      assert.equal(refused.status, 426);
      const client = await RawClient.connect(server.port);
      try {
        assert.equal(client.status, 101);
        const upgrade = await server.nextUpgrade();
        assert.equal(upgrade.request.headers.get("sec-websocket-key"), client.key);
      } finally {
        client.destroy();
      }
    });
  });
});
