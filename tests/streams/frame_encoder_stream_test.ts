import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FrameDecoderStream } from "../../lib/streams/frame_decoder_stream.ts";
import { FrameEncoderStream, type FrameEncoderStreamOptions } from "../../lib/streams/frame_encoder_stream.ts";
import type { Frame } from "../../lib/core/frame.ts";
import { concatBytes, hex, toHex } from "../_vectors.ts";
import { assertRejectsWith, frame, pump, utf8 } from "../_streams.ts";

/** Encodes the frames and returns the bytes as hex. */
async function encodeHex(frames: Frame[], options?: FrameEncoderStreamOptions): Promise<string> {
  return toHex(concatBytes(await pump(new FrameEncoderStream(options), frames)));
}

/** Reads one masked frame's header and unmasks its payload with the key the header carries. */
function readMasked(bytes: Uint8Array): { head: Uint8Array; key: Uint8Array; payload: Uint8Array } {
  assert.equal(bytes[1] & 0x80, 0x80, "MASK bit");
  const length7 = bytes[1] & 0x7f;
  const keyAt = length7 === 127 ? 10 : length7 === 126 ? 4 : 2;
  const key = bytes.slice(keyAt, keyAt + 4);
  const payload = bytes.slice(keyAt + 4).map((byte, i) => byte ^ key[i & 3]);
  return { head: bytes.slice(0, keyAt), key, payload };
}

describe("§5.7 examples: FrameEncoderStream writes RFC 6455's unmasked vectors", () => {
  test("a single-frame text message", async () => {
    assert.equal(await encodeHex([frame(0x1, utf8("Hello"))]), "81 05 48 65 6c 6c 6f");
  });

  test("a fragmented text message", async () => {
    const frames = [frame(0x1, utf8("Hel"), { fin: false }), frame(0x0, utf8("lo"))];
    assert.equal(await encodeHex(frames), "01 03 48 65 6c 80 02 6c 6f");
  });

  test("a ping and a pong", async () => {
    const frames = [frame(0x9, utf8("Hello")), frame(0xa, utf8("Hello"))];
    assert.equal(await encodeHex(frames), "89 05 48 65 6c 6c 6f 8a 05 48 65 6c 6c 6f");
  });

  test("256 bytes of binary with a 16-bit length", async () => {
    const chunks = await pump(new FrameEncoderStream(), [frame(0x2, new Uint8Array(256).fill(7))]);
    const bytes = concatBytes(chunks);
    assert.equal(toHex(bytes.subarray(0, 4)), "82 7e 01 00");
    assert.deepEqual(bytes.subarray(4), new Uint8Array(256).fill(7));
  });

  test("65536 bytes of binary with a 64-bit length", async () => {
    const chunks = await pump(new FrameEncoderStream(), [frame(0x2, new Uint8Array(65536).fill(9))]);
    const bytes = concatBytes(chunks);
    assert.equal(toHex(bytes.subarray(0, 10)), "82 7f 00 00 00 00 00 01 00 00");
    assert.deepEqual(bytes.subarray(10), new Uint8Array(65536).fill(9));
  });
});

describe("§5.2 base framing: FrameEncoderStream", () => {
  test("uses the minimal length form at 125, 126, 65535 and 65536 bytes", async () => {
    const cases: [number, string][] = [
      [0, "82 00"],
      [125, "82 7d"],
      [126, "82 7e 00 7e"],
      [65535, "82 7e ff ff"],
      [65536, "82 7f 00 00 00 00 00 01 00 00"],
    ];
    for (const [length, header] of cases) {
      const bytes = concatBytes(await pump(new FrameEncoderStream(), [frame(0x2, new Uint8Array(length))]));
      const headerSize = hex(header).length;
      assert.equal(toHex(bytes.subarray(0, headerSize)), header, `${length} bytes`);
      assert.equal(bytes.length, headerSize + length, `${length} bytes`);
    }
  });

  test("writes an empty close frame and RSV1", async () => {
    assert.equal(await encodeHex([frame(0x8, new Uint8Array(0))]), "88 00");
    assert.equal(await encodeHex([frame(0x1, utf8("Hi"), { rsv1: true })]), "c1 02 48 69");
  });

  test("passes a large unmasked payload through as its own chunk, without copying", async () => {
    const payload = new Uint8Array(100_000).fill(1);
    const chunks = await pump(new FrameEncoderStream(), [frame(0x2, payload)]);
    assert.equal(chunks.length, 2);
    assert.equal(toHex(chunks[0]), "82 7f 00 00 00 00 00 01 86 a0");
    assert.equal(chunks[1], payload);
  });

  test("outputs frames in the order written", async () => {
    const frames = [frame(0x1, utf8("a")), frame(0x9, utf8("b")), frame(0x2, utf8("c"))];
    assert.equal(await encodeHex(frames), "81 01 61 89 01 62 82 01 63");
  });
});

describe("§5.3 client-to-server masking: FrameEncoderStream with mask", () => {
  test("sets the MASK bit and masks the payload with the key it writes", async () => {
    const chunks = await pump(new FrameEncoderStream({ mask: true }), [frame(0x1, utf8("Hello"))]);
    assert.equal(chunks.length, 1);
    assert.equal(chunks[0].length, 11);
    const { head, payload } = readMasked(chunks[0]);
    assert.equal(toHex(head), "81 85");
    assert.deepEqual(payload, utf8("Hello"));
  });

  test("masks 126-byte and 65536-byte payloads into one chunk each", async () => {
    for (const [length, head] of [[126, "82 fe 00 7e"], [65536, "82 ff 00 00 00 00 00 01 00 00"]] as const) {
      const data = new Uint8Array(length).map((_, i) => i);
      const chunks = await pump(new FrameEncoderStream({ mask: true }), [frame(0x2, data)]);
      assert.equal(chunks.length, 1, `${length} bytes`);
      const masked = readMasked(chunks[0]);
      assert.equal(toHex(masked.head), head);
      assert.deepEqual(masked.payload, data);
    }
  });

  test("leaves the frame's payload untouched", async () => {
    const payload = utf8("Hello, world");
    await pump(new FrameEncoderStream({ mask: true }), [frame(0x1, payload)]);
    assert.deepEqual(payload, utf8("Hello, world"));
  });

  test("draws a fresh key for every frame", async () => {
    const frames = Array.from({ length: 8 }, () => frame(0x2, new Uint8Array(4)));
    const chunks = await pump(new FrameEncoderStream({ mask: true }), frames);
    const keys = new Set(chunks.map((chunk) => toHex(readMasked(chunk).key)));
    // Eight equal keys from a strong random source would be a 2^-224 event.
    assert.ok(keys.size > 1, `keys: ${[...keys].join(", ")}`);
  });

  test("does not mask by default or with mask false", async () => {
    for (const options of [undefined, {}, { mask: false }]) {
      assert.equal(await encodeHex([frame(0x1, utf8("Hello"))], options), "81 05 48 65 6c 6c 6f");
    }
  });

  test("round-trips through a server FrameDecoderStream", async () => {
    const frames = [
      frame(0x1, utf8("Hel"), { fin: false }),
      frame(0x9, utf8("ping")),
      frame(0x0, utf8("lo")),
      frame(0x2, new Uint8Array(70_000).fill(5), { rsv1: true }),
      frame(0x8, hex("03 e8")),
    ];
    const bytes = await pump(new FrameEncoderStream({ mask: true }), frames);
    const decoded = await pump(new FrameDecoderStream({ role: "server", allowedRsv: 0x40 }), bytes);
    assert.deepEqual(decoded, frames);
  });
});

describe("frames that cannot be written: FrameEncoderStream", () => {
  test("errors with a RangeError for RSV2 or RSV3", async () => {
    await assertRejectsWith(
      pump(new FrameEncoderStream(), [frame(0x1, utf8("a"), { rsv2: true })]),
      RangeError,
      /^Cannot encode frame: RSV2 is set and only RSV1 can be written$/,
    );
    await assertRejectsWith(
      pump(new FrameEncoderStream(), [frame(0x1, utf8("a"), { rsv3: true })]),
      RangeError,
      /^Cannot encode frame: RSV3 is set and only RSV1 can be written$/,
    );
  });

  test("errors with a RangeError for a fragmented control frame (§5.5)", async () => {
    await assertRejectsWith(
      pump(new FrameEncoderStream(), [frame(0x9, utf8("a"), { fin: false })]),
      RangeError,
      /^Cannot encode frame: control frame is fragmented$/,
    );
  });

  test("errors with a RangeError for a control frame over 125 bytes (§5.5), and writes one of 125", async () => {
    await assertRejectsWith(
      pump(new FrameEncoderStream(), [frame(0xa, new Uint8Array(126))]),
      RangeError,
      /^Cannot encode frame: control frame payload of 126 bytes exceeds 125$/,
    );
    const bytes = concatBytes(await pump(new FrameEncoderStream(), [frame(0xa, new Uint8Array(125))]));
    assert.equal(toHex(bytes.subarray(0, 2)), "8a 7d");
  });

  test("errors with a RangeError for an opcode outside 0x0-0xF", async () => {
    for (const opcode of [0x10, -1, 1.5, NaN]) {
      await assertRejectsWith(
        pump(new FrameEncoderStream(), [frame(opcode, utf8("a"))]),
        RangeError,
        /^Cannot encode frame: opcode .* is not in 0x0-0xF$/,
      );
    }
  });

  test("errors with a TypeError for a payload that is not a Uint8Array", async () => {
    const bad = { ...frame(0x1, utf8("a")), payload: "a" as unknown as Uint8Array };
    await assertRejectsWith(
      pump(new FrameEncoderStream(), [bad]),
      TypeError,
      /^Cannot encode frame: payload is not a Uint8Array$/,
    );
  });

  test("throws a TypeError for a mask option that is not a boolean", () => {
    const options = { mask: "yes" } as unknown as FrameEncoderStreamOptions;
    assert.throws(() => new FrameEncoderStream(options), {
      name: "TypeError",
      message: "Cannot create frame encoder: mask yes is not a boolean",
    });
  });
});
