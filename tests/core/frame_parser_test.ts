import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Frame } from "../../lib/core/frame.ts";
import { DEFAULT_MAX_MESSAGE_SIZE, FrameParser, type FrameParserOptions } from "../../lib/core/frame_parser.ts";
import { ProtocolError } from "../../lib/core/protocol_error.ts";
import { concatBytes, feeds, hex, masked, pseudoRandomBytes, rawFrame } from "../_vectors.ts";

const text = (s: string) => new TextEncoder().encode(s);
const CLIENT: FrameParserOptions = { role: "client" };
const SERVER: FrameParserOptions = { role: "server" };

/** Pushes the chunks one at a time, reading every frame available after each; frames go to `into`. */
function parseInto(parser: FrameParser, chunks: Uint8Array[], into: Frame[]): void {
  for (const chunk of chunks) {
    parser.push(chunk);
    for (let frame = parser.next(); frame !== undefined; frame = parser.next()) into.push(frame);
  }
}

interface Expected {
  fin?: boolean;
  opcode: number;
  payload: Uint8Array;
  rsv1?: boolean;
}

/** Feeds the vector every way and checks the frames that come out. */
function assertFrames(bytes: Uint8Array, options: FrameParserOptions, expected: Expected[]): void {
  for (const { name, chunks } of feeds(bytes)) {
    const parser = new FrameParser(options);
    const frames: Frame[] = [];
    parseInto(parser, chunks, frames);
    assert.equal(frames.length, expected.length, `${name}: number of frames`);
    for (let i = 0; i < expected.length; i++) {
      const frame = frames[i], want = expected[i];
      assert.equal(frame.opcode, want.opcode, `${name}: frame ${i} opcode`);
      assert.equal(frame.fin, want.fin ?? true, `${name}: frame ${i} FIN`);
      assert.equal(frame.rsv1, want.rsv1 ?? false, `${name}: frame ${i} RSV1`);
      assert.equal(frame.rsv2, false, `${name}: frame ${i} RSV2`);
      assert.equal(frame.rsv3, false, `${name}: frame ${i} RSV3`);
      assert.equal(frame.payload.length, want.payload.length, `${name}: frame ${i} length`);
      assert.ok(frame.payload.every((b, j) => b === want.payload[j]), `${name}: frame ${i} payload`);
    }
    assert.equal(parser.bufferedAmount, 0, `${name}: nothing left over`);
    assert.equal(parser.partial, undefined, `${name}: no partial frame`);
  }
}

/**
 * Feeds the vector every way and checks that it fails with `code` and a message matching `cause`, after
 * exactly `framesBefore` frames were returned.
 */
function assertViolation(
  bytes: Uint8Array,
  options: FrameParserOptions,
  code: number,
  cause: RegExp,
  framesBefore = 0,
): void {
  for (const { name, chunks } of feeds(bytes)) {
    const parser = new FrameParser(options);
    const frames: Frame[] = [];
    let error: unknown;
    try {
      parseInto(parser, chunks, frames);
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof ProtocolError, `${name}: expected a ProtocolError, got ${error}`);
    assert.equal(error.code, code, `${name}: close code`);
    assert.match(error.message, cause, `${name}: message`);
    assert.equal(frames.length, framesBefore, `${name}: frames returned before the violation`);
  }
}

describe("§5.7 examples", () => {
  test('FrameParser reads a single-frame unmasked text message 81 05 "Hello"', () => {
    assertFrames(hex("81 05 48 65 6c 6c 6f"), CLIENT, [{ opcode: 0x1, payload: text("Hello") }]);
  });

  test('FrameParser reads a single-frame masked text message "Hello" with key 37 fa 21 3d', () => {
    assertFrames(hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"), SERVER, [{ opcode: 0x1, payload: text("Hello") }]);
  });

  test('FrameParser reads a fragmented unmasked text message 01 03 "Hel", 80 02 "lo"', () => {
    assertFrames(hex("01 03 48 65 6c 80 02 6c 6f"), CLIENT, [
      { opcode: 0x1, fin: false, payload: text("Hel") },
      { opcode: 0x0, payload: text("lo") },
    ]);
  });

  test('FrameParser reads an unmasked ping 89 05 "Hello" and a masked pong 8a 85 "Hello"', () => {
    assertFrames(hex("89 05 48 65 6c 6c 6f"), CLIENT, [{ opcode: 0x9, payload: text("Hello") }]);
    assertFrames(hex("8a 85 37 fa 21 3d 7f 9f 4d 51 58"), SERVER, [{ opcode: 0xa, payload: text("Hello") }]);
  });

  test("FrameParser reads a 256-byte binary message in one unmasked frame 82 7e 01 00", () => {
    const payload = pseudoRandomBytes(256, 256);
    assertFrames(concatBytes([hex("82 7e 01 00"), payload]), CLIENT, [{ opcode: 0x2, payload }]);
  });

  test("FrameParser reads a 64 KiB binary message in one unmasked frame 82 7f 00 00 00 00 00 01 00 00", () => {
    const payload = pseudoRandomBytes(65536, 65536);
    assertFrames(concatBytes([hex("82 7f 00 00 00 00 00 01 00 00"), payload]), CLIENT, [{
      opcode: 0x2,
      payload,
    }]);
  });
});

describe("§5.2 base framing: payload lengths", () => {
  // Autobahn 1.1.x (text) and 1.2.x (binary): 0, 125, 126, 127, 128, 65535, 65536 and larger.
  const cases: [number, string][] = [
    [0, "00"],
    [1, "01"],
    [125, "7d"],
    [126, "7e 00 7e"],
    [127, "7e 00 7f"],
    [128, "7e 00 80"],
    [65535, "7e ff ff"],
    [65536, "7f 00 00 00 00 00 01 00 00"],
    [100_000, "7f 00 00 00 00 00 01 86 a0"],
    [1 << 20, "7f 00 00 00 00 00 10 00 00"],
  ];
  for (const [length, lengthHex] of cases) {
    test(`FrameParser reads a ${length}-byte text frame (length ${lengthHex}) sent to a client`, () => {
      const payload = pseudoRandomBytes(length, length).map((b) => 0x20 + (b % 0x5f));
      const bytes = concatBytes([hex("81"), hex(lengthHex), payload]);
      assert.deepEqual(bytes, rawFrame(0x81, payload), "the test's header matches §5.2");
      assertFrames(bytes, CLIENT, [{ opcode: 0x1, payload }]);
    });

    test(`FrameParser reads a ${length}-byte masked binary frame (length ${lengthHex}) sent to a server`, () => {
      const payload = pseudoRandomBytes(length, length + 1);
      const bytes = masked(concatBytes([hex("82"), hex(lengthHex), payload]), hex("a5 5a 0f f0"));
      assertFrames(bytes, SERVER, [{ opcode: 0x2, payload }]);
    });
  }

  test("FrameParser reads the 64-bit length form for a payload that fits the 16-bit form", () => {
    // Senders MUST use the minimal form, but nothing in §5.2 tells the receiver to fail the connection.
    const bytes = hex("82 7f 00 00 00 00 00 00 00 03 01 02 03");
    assertFrames(bytes, CLIENT, [{ opcode: 0x2, payload: hex("01 02 03") }]);
  });

  test("FrameParser reads a text, a binary, a ping, a pong and a close frame from one chunk, in order", () => {
    const bytes = hex("81 02 68 69  82 03 01 02 03  89 01 70  8a 01 71  88 02 03 e8");
    assertFrames(bytes, CLIENT, [
      { opcode: 0x1, payload: text("hi") },
      { opcode: 0x2, payload: hex("01 02 03") },
      { opcode: 0x9, payload: text("p") },
      { opcode: 0xa, payload: text("q") },
      { opcode: 0x8, payload: hex("03 e8") },
    ]);
  });

  test("FrameParser reads data frames with empty payloads, FIN set and clear", () => {
    assertFrames(hex("01 00 00 00 80 00 82 00"), CLIENT, [
      { opcode: 0x1, fin: false, payload: new Uint8Array(0) },
      { opcode: 0x0, fin: false, payload: new Uint8Array(0) },
      { opcode: 0x0, payload: new Uint8Array(0) },
      { opcode: 0x2, payload: new Uint8Array(0) },
    ]);
  });

  test("FrameParser returns nothing until the last byte of a frame has arrived", () => {
    const bytes = hex("82 7e 00 80").slice();
    const payload = pseudoRandomBytes(128, 3);
    const frame = concatBytes([bytes, payload]);
    const parser = new FrameParser(CLIENT);
    for (let i = 0; i < frame.length - 1; i++) {
      parser.push(frame.slice(i, i + 1));
      assert.equal(parser.next(), undefined, `after ${i + 1} bytes`);
    }
    parser.push(frame.slice(frame.length - 1));
    assert.deepEqual(parser.next()?.payload, payload);
    assert.equal(parser.next(), undefined);
  });

  test("FrameParser ignores an empty chunk", () => {
    const parser = new FrameParser(CLIENT);
    parser.push(new Uint8Array(0));
    assert.equal(parser.next(), undefined);
    parser.push(hex("81"));
    parser.push(new Uint8Array(0));
    parser.push(hex("01 41"));
    assert.deepEqual(parser.next()?.payload, text("A"));
  });

  test("FrameParser bufferedAmount counts the bytes pushed and not yet returned in a frame", () => {
    const parser = new FrameParser(CLIENT);
    parser.push(hex("82 05 01 02"));
    assert.equal(parser.bufferedAmount, 4);
    assert.equal(parser.next(), undefined);
    assert.equal(parser.bufferedAmount, 2, "the header was consumed, two payload bytes are held");
    parser.push(hex("03 04 05 81"));
    assert.deepEqual(parser.next()?.payload, hex("01 02 03 04 05"));
    assert.equal(parser.bufferedAmount, 1);
  });
});

describe("§5.1 and §5.3 masking", () => {
  test("FrameParser rejects an unmasked client frame with 1002", () => {
    // §5.1: "The server MUST close the connection upon receiving a frame that is not masked."
    assertViolation(hex("81 05 48 65 6c 6c 6f"), SERVER, 1002, /not masked/);
  });

  test("FrameParser rejects an unmasked client frame from its first two bytes", () => {
    assertViolation(hex("82 7e"), SERVER, 1002, /not masked/);
  });

  test("FrameParser rejects a masked server frame with 1002", () => {
    // §5.1: "A client MUST close a connection if it detects a masked frame."
    assertViolation(hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"), CLIENT, 1002, /masked/);
  });

  test("FrameParser rejects an unmasked control frame sent to a server and a masked one sent to a client", () => {
    assertViolation(hex("89 00"), SERVER, 1002, /not masked/);
    assertViolation(hex("88 80 00 00 00 00"), CLIENT, 1002, /masked/);
  });

  test("FrameParser delivers the valid masked frame before an unmasked one", () => {
    const good = hex("81 85 37 fa 21 3d 7f 9f 4d 51 58");
    assertViolation(concatBytes([good, hex("81 01 41")]), SERVER, 1002, /not masked/, 1);
  });

  test("FrameParser unmasks payloads with any key at any chunk boundary", () => {
    const keys = [hex("00 00 00 00"), hex("ff ff ff ff"), hex("37 fa 21 3d"), hex("01 80 7f fe")];
    for (const key of keys) {
      for (const length of [1, 3, 4, 5, 33, 130]) {
        const payload = pseudoRandomBytes(length, length * 5);
        assertFrames(masked(rawFrame(0x82, payload), key), SERVER, [{ opcode: 0x2, payload }]);
      }
    }
  });

  test("FrameParser unmasks consecutive frames with their own keys", () => {
    const first = masked(rawFrame(0x01, text("abcde")), hex("11 22 33 44"));
    const ping = masked(rawFrame(0x89, text("ping!")), hex("55 66 77 88"));
    const last = masked(rawFrame(0x80, text("fghij")), hex("99 aa bb cc"));
    assertFrames(concatBytes([first, ping, last]), SERVER, [
      { opcode: 0x1, fin: false, payload: text("abcde") },
      { opcode: 0x9, payload: text("ping!") },
      { opcode: 0x0, payload: text("fghij") },
    ]);
  });
});

describe("§5.2 base framing: reserved bits", () => {
  // Autobahn 3.x: "If a nonzero value is received and none of the negotiated extensions defines the meaning
  // of such a nonzero value, the receiving endpoint MUST _Fail the WebSocket Connection_."
  const kinds: [string, number, Uint8Array][] = [
    ["text", 0x81, text("Hello")],
    ["binary", 0x82, hex("00 ff fe")],
    ["continuation", 0x80, text("x")],
    ["ping", 0x89, text("ping")],
    ["pong", 0x8a, text("pong")],
    ["close", 0x88, hex("03 e8")],
  ];
  for (const [kind, firstByte, payload] of kinds) {
    for (const [bit, value] of [[1, 0x40], [2, 0x20], [3, 0x10]]) {
      test(`FrameParser rejects a ${kind} frame with RSV${bit} set with 1002`, () => {
        assertViolation(rawFrame(firstByte | value, payload), CLIENT, 1002, new RegExp(`RSV${bit} is set`));
        assertViolation(
          masked(rawFrame(firstByte | value, payload), hex("01 02 03 04")),
          SERVER,
          1002,
          /RSV/,
        );
      });
    }
  }

  test("FrameParser rejects a frame with all three RSV bits set with 1002", () => {
    assertViolation(hex("f1 00"), CLIENT, 1002, /RSV1 is set/);
  });

  test("FrameParser delivers a valid frame before one with RSV2 set, and nothing after it", () => {
    // Autobahn 3.2: a small text message, the same with RSV2, then a ping.
    const bytes = hex("81 05 48 65 6c 6c 6f  a1 05 48 65 6c 6c 6f  89 00");
    assertViolation(bytes, CLIENT, 1002, /RSV2 is set/, 1);
  });

  test("FrameParser rejects RSV bits from the first byte, before the length is complete", () => {
    assertViolation(hex("c2 7f 00"), CLIENT, 1002, /RSV1 is set/);
  });

  test("FrameParser accepts RSV1 on data frames when an extension defines it", () => {
    const options: FrameParserOptions = { role: "client", allowedRsv: 0x40 };
    assertFrames(hex("c1 01 41 40 01 42 80 00"), options, [
      { opcode: 0x1, fin: true, rsv1: true, payload: text("A") },
      { opcode: 0x0, fin: false, rsv1: true, payload: text("B") },
      { opcode: 0x0, payload: new Uint8Array(0) },
    ]);
  });

  test("FrameParser rejects RSV1 on a control frame even when an extension defines RSV1", () => {
    const options: FrameParserOptions = { role: "client", allowedRsv: 0x40 };
    assertViolation(hex("c9 00"), options, 1002, /RSV1 is set on a control frame/);
    assertViolation(hex("c8 02 03 e8"), options, 1002, /RSV1 is set on a control frame/);
  });

  test("FrameParser rejects RSV2 and RSV3 when an extension defines only RSV1", () => {
    const options: FrameParserOptions = { role: "client", allowedRsv: 0x40 };
    assertViolation(hex("e1 00"), options, 1002, /RSV2 is set/);
    assertViolation(hex("d2 00"), options, 1002, /RSV3 is set/);
  });

  test("FrameParser applies allowedRsv set after construction", () => {
    const parser = new FrameParser(CLIENT);
    parser.allowedRsv = 0x40;
    parser.push(hex("c1 01 41"));
    assert.equal(parser.next()?.rsv1, true);
    parser.allowedRsv = 0;
    parser.push(hex("c1 01 41"));
    assert.throws(
      () => parser.next(),
      (e) => e instanceof ProtocolError && e.code === 1002 && /RSV1/.test(e.message),
    );
  });
});

describe("§5.2 base framing: opcodes", () => {
  // Autobahn 4.x: "If an unknown opcode is received, the receiving endpoint MUST _Fail the WebSocket
  // Connection_."
  for (const opcode of [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
    const name = `0x${opcode.toString(16)}`;
    test(`FrameParser rejects reserved opcode ${name} with 1002`, () => {
      assertViolation(
        rawFrame(0x80 | opcode, new Uint8Array(0)),
        CLIENT,
        1002,
        new RegExp(`opcode ${name} is reserved`),
      );
      assertViolation(rawFrame(0x80 | opcode, text("reserved")), CLIENT, 1002, new RegExp(`opcode ${name}`));
      assertViolation(
        masked(rawFrame(0x80 | opcode, text("x")), hex("0a 0b 0c 0d")),
        SERVER,
        1002,
        /reserved/,
      );
    });

    test(`FrameParser delivers a valid frame before reserved opcode ${name}, and nothing after it`, () => {
      // Autobahn 4.1.3 and 4.2.3: text, reserved opcode, ping.
      const bytes = concatBytes([
        hex("81 05 48 65 6c 6c 6f"),
        rawFrame(0x80 | opcode, text("x")),
        hex("89 00"),
      ]);
      assertViolation(bytes, CLIENT, 1002, /reserved/, 1);
    });
  }
});

describe("§5.5 control frames", () => {
  // §5.5: "All control frames MUST have a payload length of 125 bytes or less and MUST NOT be fragmented."
  test("FrameParser reads ping, pong and close frames with 125-byte payloads", () => {
    for (const firstByte of [0x88, 0x89, 0x8a]) {
      const payload = firstByte === 0x88
        ? concatBytes([hex("03 e8"), text("r".repeat(123))])
        : pseudoRandomBytes(125, 1);
      assertFrames(rawFrame(firstByte, payload), CLIENT, [{ opcode: firstByte & 0x0f, payload }]);
    }
  });

  for (const [kind, firstByte] of [["ping", 0x89], ["pong", 0x8a], ["close", 0x88]] as const) {
    test(`FrameParser rejects a ${kind} frame with a 126-byte payload with 1002`, () => {
      const payload = concatBytes([hex("03 e8"), pseudoRandomBytes(124, 4)]);
      assertViolation(rawFrame(firstByte, payload), CLIENT, 1002, /control frame payload exceeds 125 bytes/);
    });

    test(`FrameParser rejects a ${kind} frame with a 126-byte payload from its first two bytes`, () => {
      assertViolation(hex(`${firstByte.toString(16)} 7e`), CLIENT, 1002, /exceeds 125/);
      assertViolation(hex(`${firstByte.toString(16)} ff`), SERVER, 1002, /exceeds 125/);
    });

    test(`FrameParser rejects a fragmented ${kind} frame (FIN clear) with 1002`, () => {
      // Autobahn 5.1 and 5.2.
      assertViolation(rawFrame(firstByte & 0x0f, text("")), CLIENT, 1002, /control frame is fragmented/);
      assertViolation(rawFrame(firstByte & 0x0f, hex("03 e8")), CLIENT, 1002, /fragmented/);
    });
  }

  test("FrameParser rejects a ping declaring a 64-bit length with 1002", () => {
    assertViolation(hex("89 7f 00 00 00 00 00 00 00 05 01 02 03 04 05"), CLIENT, 1002, /exceeds 125/);
  });

  test("FrameParser returns control frames between the fragments of a message, in order", () => {
    assertFrames(hex("01 01 61  89 01 70  00 01 62  8a 00  80 01 63"), CLIENT, [
      { opcode: 0x1, fin: false, payload: text("a") },
      { opcode: 0x9, payload: text("p") },
      { opcode: 0x0, fin: false, payload: text("b") },
      { opcode: 0xa, payload: new Uint8Array(0) },
      { opcode: 0x0, payload: text("c") },
    ]);
  });
});

describe("§10.4 implementation-specific limits", () => {
  test("FrameParser uses a 16 MiB limit by default", () => {
    assert.equal(DEFAULT_MAX_MESSAGE_SIZE, 16 * 1024 * 1024);
    assert.equal(new FrameParser(CLIENT).maxPayloadSize, DEFAULT_MAX_MESSAGE_SIZE);
    assertViolation(
      hex("82 7f 00 00 00 00 01 00 00 01"),
      CLIENT,
      1009,
      /16777217 bytes exceeds the limit of 16777216/,
    );
  });

  test("FrameParser rejects a frame over maxPayloadSize with 1009 from its header alone", () => {
    // Only the header bytes are pushed: the violation is known before any payload is buffered.
    const client: FrameParserOptions = { role: "client", maxPayloadSize: 1000 };
    assertViolation(hex("82 7e 03 e9"), client, 1009, /1001 bytes exceeds the limit of 1000/);
    assertViolation(
      hex("81 7f 00 00 00 00 00 01 00 00"),
      client,
      1009,
      /65536 bytes exceeds the limit of 1000/,
    );
    const server: FrameParserOptions = { role: "server", maxPayloadSize: 100 };
    assertViolation(hex("82 e5 01 02 03 04"), server, 1009, /101 bytes exceeds the limit of 100/);
    assertViolation(hex("80 fe 10 00 01 02 03 04"), server, 1009, /4096 bytes/);
  });

  test("FrameParser accepts a frame exactly at maxPayloadSize", () => {
    const payload = pseudoRandomBytes(1000, 1);
    assertFrames(rawFrame(0x82, payload), { role: "client", maxPayloadSize: 1000 }, [{
      opcode: 0x2,
      payload,
    }]);
    assertFrames(rawFrame(0x81, new Uint8Array(0)), { role: "client", maxPayloadSize: 0 }, [
      { opcode: 0x1, payload: new Uint8Array(0) },
    ]);
  });

  test("FrameParser delivers the frames before one over the limit", () => {
    const bytes = concatBytes([rawFrame(0x82, new Uint8Array(10)), hex("82 0b")]);
    assertViolation(bytes, { role: "client", maxPayloadSize: 10 }, 1009, /11 bytes/, 1);
  });

  test("FrameParser does not apply maxPayloadSize to control frames, which §5.5 bounds at 125 bytes", () => {
    const payload = pseudoRandomBytes(125, 2);
    assertFrames(rawFrame(0x89, payload), { role: "client", maxPayloadSize: 10 }, [{ opcode: 0x9, payload }]);
  });

  test("FrameParser applies a maxPayloadSize changed between frames to the next header", () => {
    const parser = new FrameParser({ role: "client", maxPayloadSize: 5 });
    parser.push(hex("82 05 01 02 03 04 05"));
    assert.equal(parser.next()?.payload.length, 5);
    parser.maxPayloadSize = 4;
    parser.push(hex("82 05"));
    assert.throws(
      () => parser.next(),
      (e) =>
        e instanceof ProtocolError && e.code === 1009 && /5 bytes exceeds the limit of 4/.test(e.message),
    );
  });

  test("FrameParser rejects a 64-bit length with its most significant bit set with 1002", () => {
    // §5.2: "the most significant bit MUST be 0". A protocol error, not a size limit: 1002 even when no
    // limit would reject the length.
    for (const length of ["80 00 00 00 00 00 00 00", "80 00 00 00 00 00 00 01", "ff ff ff ff ff ff ff ff"]) {
      assertViolation(hex(`82 7f ${length}`), CLIENT, 1002, /top bit/);
      assertViolation(hex(`82 7f ${length}`), { role: "client", maxPayloadSize: Infinity }, 1002, /top bit/);
      assertViolation(hex(`82 ff ${length} 01 02 03 04`), SERVER, 1002, /top bit/);
    }
  });

  test("FrameParser rejects a 64-bit length of 2^53 or more with 1009, even with no limit", () => {
    // The length is legal on the wire (top bit clear) but not representable exactly as a JS number:
    // 2^53 + 1 reads as 2^53, and framing would silently go wrong. Such a frame is too big for this
    // implementation, so it is 1009 (Message Too Big), not 1002 (the peer broke no rule of §5.2).
    const lengths = ["00 20 00 00 00 00 00 00", "00 20 00 00 00 00 00 01", "7f ff ff ff ff ff ff ff"];
    for (const length of lengths) {
      assertViolation(hex(`82 7f ${length}`), CLIENT, 1009, /exceeds the limit/);
      assertViolation(hex(`82 7f ${length}`), { role: "client", maxPayloadSize: Infinity }, 1009, /exceeds/);
      assertViolation(hex(`82 7f ${length}`), { role: "client", maxPayloadSize: 2 ** 60 }, 1009, /exceeds/);
    }
  });

  test("FrameParser accepts the header of a 2^53 - 1 byte frame when no limit applies", () => {
    const parser = new FrameParser({ role: "client", maxPayloadSize: Infinity });
    parser.push(hex("82 7f 00 1f ff ff ff ff ff ff 01 02"));
    assert.equal(parser.next(), undefined);
    assert.equal(parser.partial?.length, Number.MAX_SAFE_INTEGER);
  });
});

describe("zero-copy payloads", () => {
  test("FrameParser returns a view on the pushed chunk for an unmasked frame in one chunk", () => {
    const chunk = hex("81 05 48 65 6c 6c 6f  82 7e 01 00").slice();
    const more = pseudoRandomBytes(256, 1);
    const bytes = concatBytes([chunk, more]);
    const parser = new FrameParser(CLIENT);
    parser.push(bytes);
    const first = parser.next();
    const second = parser.next();
    assert.ok(first !== undefined && second !== undefined);
    assert.equal(first.payload.buffer, bytes.buffer);
    assert.equal(first.payload.byteOffset, bytes.byteOffset + 2);
    assert.equal(second.payload.buffer, bytes.buffer);
    assert.equal(second.payload.byteOffset, bytes.byteOffset + 11);
    assert.deepEqual(second.payload, more);
  });

  test("FrameParser unmasks in place: a masked frame in one chunk yields a view on that chunk", () => {
    const payload = pseudoRandomBytes(1000, 8);
    const chunk = masked(rawFrame(0x82, payload), hex("37 fa 21 3d"));
    const parser = new FrameParser(SERVER);
    parser.push(chunk);
    const frame = parser.next();
    assert.ok(frame !== undefined);
    assert.equal(frame.payload.buffer, chunk.buffer);
    assert.deepEqual(frame.payload, payload);
    assert.deepEqual(chunk.subarray(8), payload, "the chunk itself now holds the unmasked payload");
  });

  test("FrameParser returns a view on the payload's chunk when the header came in an earlier chunk", () => {
    const parser = new FrameParser(CLIENT);
    parser.push(hex("82 03"));
    assert.equal(parser.next(), undefined);
    const chunk = hex("01 02 03 81");
    parser.push(chunk);
    const frame = parser.next();
    assert.equal(frame?.payload.buffer, chunk.buffer);
  });

  test("FrameParser copies a payload spread over chunks into one array", () => {
    const parser = new FrameParser(CLIENT);
    const a = hex("82 04 01 02"), b = hex("03 04");
    parser.push(a);
    parser.push(b);
    const frame = parser.next();
    assert.deepEqual(frame?.payload, hex("01 02 03 04"));
  });
});

describe("partial frames (fail fast)", () => {
  test("FrameParser.partial is undefined before a header is complete and between frames", () => {
    const parser = new FrameParser(CLIENT);
    assert.equal(parser.partial, undefined);
    parser.push(hex("81 7e 00"));
    assert.equal(parser.next(), undefined);
    assert.equal(parser.partial, undefined);
    parser.push(hex("03 61 62 63"));
    assert.ok(parser.next() !== undefined);
    assert.equal(parser.partial, undefined);
  });

  test("FrameParser.partial describes the frame whose payload is arriving, with its parts unmasked", () => {
    const payload = text("Hello, partial world");
    const bytes = masked(rawFrame(0x01, payload), hex("37 fa 21 3d"));
    const parser = new FrameParser(SERVER);
    parser.push(bytes.slice(0, 9)); // 6-byte header, 3 payload bytes
    assert.equal(parser.next(), undefined);
    let partial = parser.partial;
    assert.ok(partial !== undefined);
    assert.equal(partial.opcode, 0x1);
    assert.equal(partial.fin, false);
    assert.equal(partial.rsv1, false);
    assert.equal(partial.length, payload.length);
    assert.deepEqual(concatBytes(partial.parts), payload.subarray(0, 3));
    parser.push(bytes.slice(9, 15));
    assert.equal(parser.next(), undefined);
    partial = parser.partial;
    assert.ok(partial !== undefined);
    assert.deepEqual(concatBytes(partial.parts), payload.subarray(0, 9));
    parser.push(bytes.slice(15));
    assert.deepEqual(parser.next()?.payload, payload);
    assert.equal(parser.partial, undefined);
  });

  test("FrameParser.partial has no parts after a header that arrived alone", () => {
    const parser = new FrameParser(CLIENT);
    parser.push(hex("82 05"));
    assert.equal(parser.next(), undefined);
    assert.deepEqual(parser.partial?.parts, []);
    assert.equal(parser.partial?.length, 5);
  });
});
