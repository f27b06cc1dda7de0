import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { encodeFrame } from "../../lib/core/encode_frame.ts";
import { FrameParser } from "../../lib/core/frame_parser.ts";
import { concatBytes, hex, pseudoRandomBytes, splits, toHex } from "../_vectors.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** The frame as one byte array, whether encodeFrame returned one buffer or header and payload. */
function encoded(...args: Parameters<typeof encodeFrame>): Uint8Array {
  return concatBytes(encodeFrame(...args));
}

describe("§5.7 examples", () => {
  test('encodeFrame writes a single-frame unmasked text message "Hello" as 81 05 48 65 6c 6c 6f', () => {
    assert.equal(toHex(encoded(0x1, text("Hello"))), "81 05 48 65 6c 6c 6f");
  });

  test('encodeFrame writes a single-frame masked "Hello" with key 37 fa 21 3d byte for byte', () => {
    const frame = encoded(0x1, text("Hello"), { mask: true, maskKey: hex("37 fa 21 3d") });
    assert.equal(toHex(frame), "81 85 37 fa 21 3d 7f 9f 4d 51 58");
  });

  test('encodeFrame writes a fragmented unmasked "Hello" as 01 03 48 65 6c and 80 02 6c 6f', () => {
    assert.equal(toHex(encoded(0x1, text("Hel"), { fin: false })), "01 03 48 65 6c");
    assert.equal(toHex(encoded(0x0, text("lo"))), "80 02 6c 6f");
  });

  test('encodeFrame writes an unmasked ping "Hello" as 89 05 48 65 6c 6c 6f', () => {
    assert.equal(toHex(encoded(0x9, text("Hello"))), "89 05 48 65 6c 6c 6f");
  });

  test('encodeFrame writes a masked pong "Hello" as 8a 85 followed by the key and masked bytes', () => {
    const frame = encoded(0xa, text("Hello"), { mask: true, maskKey: hex("37 fa 21 3d") });
    assert.equal(toHex(frame), "8a 85 37 fa 21 3d 7f 9f 4d 51 58");
  });

  test("encodeFrame writes a 256-byte unmasked binary message with header 82 7e 01 00", () => {
    const payload = pseudoRandomBytes(256, 1);
    const frame = encoded(0x2, payload);
    assert.equal(frame.length, 4 + 256);
    assert.equal(toHex(frame.subarray(0, 4)), "82 7e 01 00");
    assert.deepEqual(frame.subarray(4), payload);
  });

  test("encodeFrame writes a 64 KiB unmasked binary message with header 82 7f 00 00 00 00 00 01 00 00", () => {
    const payload = pseudoRandomBytes(65536, 2);
    const frame = encoded(0x2, payload);
    assert.equal(frame.length, 10 + 65536);
    assert.equal(toHex(frame.subarray(0, 10)), "82 7f 00 00 00 00 00 01 00 00");
    assert.deepEqual(frame.subarray(10), payload);
  });
});

describe("§5.2 base framing: header bits", () => {
  test("encodeFrame sets FIN by default and clears it for fin: false", () => {
    assert.equal(encoded(0x2, new Uint8Array(0))[0], 0x82);
    assert.equal(encoded(0x2, new Uint8Array(0), { fin: false })[0], 0x02);
  });

  test("encodeFrame sets RSV1 for rsv1: true and never sets RSV2 or RSV3", () => {
    assert.equal(encoded(0x1, text("x"), { rsv1: true })[0], 0xc1);
    assert.equal(encoded(0x1, text("x"), { rsv1: true, fin: false })[0], 0x41);
    assert.equal(encoded(0x1, text("x"))[0] & 0x70, 0);
  });

  test("encodeFrame writes each opcode in the low four bits of the first byte", () => {
    for (const opcode of [0x0, 0x1, 0x2, 0x8, 0x9, 0xa]) {
      assert.equal(encoded(opcode, new Uint8Array(0))[0], 0x80 | opcode);
    }
  });

  test("encodeFrame writes an empty payload as a two-byte header", () => {
    assert.equal(toHex(encoded(0x1, new Uint8Array(0))), "81 00");
    assert.equal(toHex(encoded(0x8, new Uint8Array(0))), "88 00");
  });

  test("encodeFrame writes an empty masked payload as a header with the key and nothing else", () => {
    assert.equal(
      toHex(encoded(0x9, new Uint8Array(0), { mask: true, maskKey: hex("01 02 03 04") })),
      "89 80 01 02 03 04",
    );
  });
});

describe("§5.2 base framing: minimal payload length encoding", () => {
  // §5.2: "the minimal number of bytes MUST be used to encode the length".
  const cases: [number, string][] = [
    [0, "82 00"],
    [1, "82 01"],
    [125, "82 7d"],
    [126, "82 7e 00 7e"],
    [127, "82 7e 00 7f"],
    [128, "82 7e 00 80"],
    [65535, "82 7e ff ff"],
    [65536, "82 7f 00 00 00 00 00 01 00 00"],
    [65537, "82 7f 00 00 00 00 00 01 00 01"],
    [1_000_000, "82 7f 00 00 00 00 00 0f 42 40"],
    [16 * 1024 * 1024, "82 7f 00 00 00 00 01 00 00 00"],
  ];
  for (const [length, header] of cases) {
    test(`encodeFrame encodes a ${length}-byte payload with header ${header}`, () => {
      const payload = pseudoRandomBytes(length, length);
      const frame = encoded(0x2, payload);
      const headerSize = header.split(" ").length;
      assert.equal(toHex(frame.subarray(0, headerSize)), header);
      assert.equal(frame.length, headerSize + length);
      assert.ok(frame.subarray(headerSize).every((b, i) => b === payload[i]), "payload follows the header");
    });

    test(`encodeFrame encodes a masked ${length}-byte payload with the mask bit in the length byte`, () => {
      const frame = encoded(0x2, new Uint8Array(length), { mask: true, maskKey: hex("00 00 00 00") });
      const unmaskedHeader = hex(header);
      const expected = unmaskedHeader.slice();
      expected[1] |= 0x80;
      assert.equal(toHex(frame.subarray(0, unmaskedHeader.length)), toHex(expected));
      assert.equal(toHex(frame.subarray(unmaskedHeader.length, unmaskedHeader.length + 4)), "00 00 00 00");
      assert.equal(frame.length, unmaskedHeader.length + 4 + length);
    });
  }
});

describe("§5.3 client-to-server masking", () => {
  test("encodeFrame XORs the payload with the key, octet i with key[i mod 4]", () => {
    for (const length of [1, 2, 3, 4, 5, 7, 31, 32, 33, 125, 126, 1000, 16385, 70000]) {
      const payload = pseudoRandomBytes(length, length + 3);
      const key = hex("9a 0b 7c 3d");
      const frame = encoded(0x2, payload, { mask: true, maskKey: key });
      const headerSize = length < 126 ? 6 : length < 65536 ? 8 : 14;
      assert.deepEqual(frame.subarray(headerSize - 4, headerSize), key, `length ${length}: key`);
      const body = frame.subarray(headerSize);
      assert.equal(body.length, length);
      let mismatches = 0;
      for (let i = 0; i < length; i++) if (body[i] !== (payload[i] ^ key[i % 4])) mismatches++;
      assert.equal(mismatches, 0, `length ${length}`);
    }
  });

  test("encodeFrame does not modify the caller's payload when masking", () => {
    for (const length of [5, 200, 20000, 70000]) {
      const payload = pseudoRandomBytes(length, 7);
      const copy = payload.slice();
      encodeFrame(0x2, payload, { mask: true, maskKey: hex("ff ff ff ff") });
      encodeFrame(0x2, payload, { mask: true });
      assert.deepEqual(payload, copy, `length ${length}`);
    }
  });

  test("encodeFrame does not modify the caller's key", () => {
    const key = hex("37 fa 21 3d");
    encodeFrame(0x1, text("Hello"), { mask: true, maskKey: key });
    assert.equal(toHex(key), "37 fa 21 3d");
  });

  test("encodeFrame draws a fresh random key for each masked frame when none is given", () => {
    const keys = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const frame = encoded(0x1, text("Hello"), { mask: true });
      assert.equal(frame[1], 0x85, "mask bit and length");
      keys.add(toHex(frame.subarray(2, 6)));
    }
    assert.ok(keys.size >= 99, `${keys.size} distinct keys of 100`);
  });

  test("encodeFrame never masks unless asked: the mask bit is clear by default", () => {
    for (const length of [0, 5, 126, 70000]) {
      assert.equal(encoded(0x2, new Uint8Array(length))[1] & 0x80, 0);
    }
  });
});

describe("encodeFrame buffers", () => {
  test("encodeFrame returns one buffer holding header and payload for a small payload", () => {
    const chunks = encodeFrame(0x2, new Uint8Array(100));
    assert.equal(chunks.length, 1);
    assert.equal(chunks[0].length, 102);
  });

  test("encodeFrame returns the header and the caller's own payload, uncopied, for a large unmasked payload", () => {
    const payload = pseudoRandomBytes(100_000, 5);
    const chunks = encodeFrame(0x2, payload);
    assert.equal(chunks.length, 2);
    assert.equal(toHex(chunks[0]), "82 7f 00 00 00 00 00 01 86 a0");
    assert.equal(chunks[1], payload);
  });

  test("a payload of 2 KiB or more copied behind its header goes 16 bytes or more past its source modulo 4 KiB (masked and not)", () => {
    for (const length of [2048, 4096, 8191, 70_000]) {
      for (const mask of length < 8192 ? [false, true] : [true]) {
        for (let offset = 0; offset <= 17; offset++) {
          const payload = pseudoRandomBytes(offset + length, length + offset).subarray(offset);
          const [frame, ...rest] = encodeFrame(0x2, payload, { mask });
          assert.equal(rest.length, 0);
          const headerSize = frame.length - length;
          const distance = (frame.byteOffset + headerSize - payload.byteOffset) & 4095;
          assert(distance >= 16, `length ${length} mask ${mask} offset ${offset}: ${distance}`);
          const parser = new FrameParser({ role: mask ? "server" : "client" });
          parser.push(frame.slice());
          assert.deepEqual(parser.next()!.payload, payload);
        }
      }
    }
  });

  test("encodeFrame returns one new buffer for a large masked payload", () => {
    const payload = new Uint8Array(100_000);
    const chunks = encodeFrame(0x2, payload, { mask: true });
    assert.equal(chunks.length, 1);
    assert.equal(chunks[0].length, 14 + 100_000);
    assert.notEqual(chunks[0].buffer, payload.buffer);
  });
});

describe("§5.2 round trip: encodeFrame then FrameParser", () => {
  const sizes = [
    0,
    1,
    2,
    3,
    4,
    5,
    31,
    32,
    33,
    124,
    125,
    126,
    127,
    128,
    1000,
    16384,
    16385,
    65535,
    65536,
    65537,
    200_000,
  ];

  function parseOne(bytes: Uint8Array, role: "server" | "client", chunks: Uint8Array[]) {
    const parser = new FrameParser({ role });
    const frames = [];
    for (const chunk of chunks) {
      parser.push(chunk);
      for (let frame = parser.next(); frame !== undefined; frame = parser.next()) frames.push(frame);
    }
    assert.equal(frames.length, 1, `one frame from ${bytes.length} bytes`);
    assert.equal(parser.bufferedAmount, 0);
    return frames[0];
  }

  function feeds(bytes: Uint8Array): { name: string; chunks: Uint8Array[] }[] {
    if (bytes.length <= 300) return splits(bytes);
    // Splitting a large frame at every offset is quadratic: split inside the header and around the
    // payload's ends, and in 4096-byte chunks.
    const out: { name: string; chunks: Uint8Array[] }[] = [{ name: "whole", chunks: [bytes.slice()] }];
    for (const at of [1, 2, 3, 5, 9, 10, 13, 14, 15, bytes.length - 1]) {
      out.push({ name: `split at ${at}`, chunks: [bytes.slice(0, at), bytes.slice(at)] });
    }
    const pieces: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += 4096) pieces.push(bytes.slice(i, i + 4096));
    out.push({ name: "4096-byte chunks", chunks: pieces });
    return out;
  }

  for (const size of sizes) {
    test(`a ${size}-byte unmasked binary frame survives encode and parse by a client`, () => {
      const payload = pseudoRandomBytes(size, size + 11);
      const bytes = encoded(0x2, payload, { fin: size % 2 === 0 });
      for (const { name, chunks } of feeds(bytes)) {
        const frame = parseOne(bytes, "client", chunks);
        assert.equal(frame.opcode, 0x2, name);
        assert.equal(frame.fin, size % 2 === 0, name);
        assert.equal(frame.rsv1 || frame.rsv2 || frame.rsv3, false, name);
        assert.deepEqual(frame.payload, payload, name);
      }
    });

    test(`a ${size}-byte masked text frame with a random key survives encode and parse by a server`, () => {
      const payload = pseudoRandomBytes(size, size + 13).map((b) => b & 0x7f); // ASCII
      for (let round = 0; round < 3; round++) {
        const bytes = encoded(0x1, payload, { mask: true });
        assert.equal(bytes[1] & 0x80, 0x80);
        for (const { name, chunks } of feeds(bytes)) {
          const frame = parseOne(bytes, "server", chunks);
          assert.equal(frame.opcode, 0x1, name);
          assert.equal(frame.fin, true, name);
          assert.deepEqual(frame.payload, payload, name);
        }
      }
    });
  }

  test("control frames with 0-125 byte payloads survive encode and parse, masked and unmasked", () => {
    for (const opcode of [0x8, 0x9, 0xa]) {
      for (let size = 0; size <= 125; size++) {
        const payload = pseudoRandomBytes(size, size);
        const client = parseOne(new Uint8Array(0), "client", [encoded(opcode, payload)]);
        assert.deepEqual(client.payload, payload);
        assert.equal(client.opcode, opcode);
        const server = parseOne(new Uint8Array(0), "server", [encoded(opcode, payload, { mask: true })]);
        assert.deepEqual(server.payload, payload);
        assert.equal(server.opcode, opcode);
      }
    }
  });

  test("RSV1 and FIN survive encode and parse when the parser allows RSV1", () => {
    const bytes = encoded(0x1, text("abc"), { rsv1: true, fin: false, mask: true });
    const parser = new FrameParser({ role: "server", allowedRsv: 0x40 });
    parser.push(bytes);
    const frame = parser.next();
    assert.ok(frame !== undefined);
    assert.equal(frame.rsv1, true);
    assert.equal(frame.fin, false);
    assert.deepEqual(frame.payload, text("abc"));
  });
});
