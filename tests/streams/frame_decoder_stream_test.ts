import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FrameDecoderStream, type FrameDecoderStreamOptions } from "../../lib/streams/frame_decoder_stream.ts";
import type { Frame } from "../../lib/core/frame.ts";
import { concatBytes, hex, splits } from "../_vectors.ts";
import { assertProtocolError, assertRejectsWith, frame, pump, utf8 } from "../_streams.ts";

const CLIENT: FrameDecoderStreamOptions = { role: "client" };
const SERVER: FrameDecoderStreamOptions = { role: "server" };

/** Decodes the vector delivered every way `splits` gives, and checks the frames each time. */
async function assertDecodes(
  options: FrameDecoderStreamOptions,
  vector: string,
  expected: Frame[],
): Promise<void> {
  for (const { name, chunks } of splits(hex(vector))) {
    assert.deepEqual(await pump(new FrameDecoderStream(options), chunks), expected, name);
  }
}

/** Feeds the vector every way `splits` gives, and checks the stream errors with this code each time. */
async function assertFails(
  options: FrameDecoderStreamOptions,
  vector: string,
  code: number,
  message: RegExp,
): Promise<void> {
  for (const { name, chunks } of splits(hex(vector))) {
    await assertProtocolError(pump(new FrameDecoderStream(options), chunks), code, message).catch((error) => {
      throw new Error(`${name}: ${error.message}`);
    });
  }
}

/** A deterministic byte pattern. */
function pattern(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function mask(payload: Uint8Array, key: Uint8Array): Uint8Array {
  return payload.map((byte, i) => byte ^ key[i & 3]);
}

describe("§5.7 examples: FrameDecoderStream reads RFC 6455's vectors at any chunk boundary", () => {
  test("a client decodes a single-frame unmasked text message", async () => {
    await assertDecodes(CLIENT, "81 05 48 65 6c 6c 6f", [frame(0x1, utf8("Hello"))]);
  });

  test("a server decodes and unmasks a single-frame masked text message", async () => {
    await assertDecodes(SERVER, "81 85 37 fa 21 3d 7f 9f 4d 51 58", [frame(0x1, utf8("Hello"))]);
  });

  test("a client decodes a fragmented unmasked text message as two frames", async () => {
    await assertDecodes(CLIENT, "01 03 48 65 6c 80 02 6c 6f", [
      frame(0x1, utf8("Hel"), { fin: false }),
      frame(0x0, utf8("lo")),
    ]);
  });

  test("a client decodes an unmasked ping", async () => {
    await assertDecodes(CLIENT, "89 05 48 65 6c 6c 6f", [frame(0x9, utf8("Hello"))]);
  });

  test("a server decodes a masked pong", async () => {
    await assertDecodes(SERVER, "8a 85 37 fa 21 3d 7f 9f 4d 51 58", [frame(0xa, utf8("Hello"))]);
  });

  test("a client decodes 256 bytes of binary with a 16-bit length", async () => {
    const payload = pattern(256);
    const vector = "82 7e 01 00" + Array.from(payload, (b) => b.toString(16).padStart(2, "0")).join("");
    await assertDecodes(CLIENT, vector, [frame(0x2, payload)]);
  });

  test("a client decodes 65536 bytes of binary with a 64-bit length", async () => {
    const payload = pattern(65536);
    const bytes = concatBytes([hex("82 7f 00 00 00 00 00 01 00 00"), payload]);
    // Whole, split inside and just after the header and in the payload, 1000 bytes at a time, byte by byte.
    const deliveries = [[bytes.slice()]];
    for (const at of [1, 2, 5, 9, 10, 11, 4096, bytes.length - 1]) {
      deliveries.push([bytes.slice(0, at), bytes.slice(at)]);
    }
    deliveries.push(
      Array.from(
        { length: Math.ceil(bytes.length / 1000) },
        (_, i) => bytes.slice(i * 1000, i * 1000 + 1000),
      ),
    );
    deliveries.push(Array.from(bytes, (b) => Uint8Array.of(b)));
    for (const chunks of deliveries) {
      assert.deepEqual(
        await pump(new FrameDecoderStream(CLIENT), chunks),
        [frame(0x2, payload)],
        `${chunks.length} chunks`,
      );
    }
  });

  test("a server decodes and unmasks 65536 bytes of masked binary", async () => {
    const payload = pattern(65536, 7);
    const key = hex("01 02 03 04");
    const bytes = concatBytes([hex("82 ff 00 00 00 00 00 01 00 00"), key, mask(payload, key)]);
    for (const at of [0, 3, 12, 14, 15, 30000]) {
      const chunks = at === 0 ? [bytes.slice()] : [bytes.slice(0, at), bytes.slice(at)];
      assert.deepEqual(
        await pump(new FrameDecoderStream(SERVER), chunks),
        [frame(0x2, payload)],
        `split at ${at}`,
      );
    }
  });
});

describe("§5.2 base framing: FrameDecoderStream", () => {
  test("decodes several frames from one chunk, in order", async () => {
    await assertDecodes(CLIENT, "81 05 48 65 6c 6c 6f 89 00 01 03 48 65 6c 80 02 6c 6f", [
      frame(0x1, utf8("Hello")),
      frame(0x9, new Uint8Array(0)),
      frame(0x1, utf8("Hel"), { fin: false }),
      frame(0x0, utf8("lo")),
    ]);
  });

  test("decodes empty frames, masked and unmasked", async () => {
    await assertDecodes(CLIENT, "82 00", [frame(0x2, new Uint8Array(0))]);
    await assertDecodes(SERVER, "81 80 11 22 33 44 88 80 55 66 77 88", [
      frame(0x1, new Uint8Array(0)),
      frame(0x8, new Uint8Array(0)),
    ]);
  });

  test("ignores empty chunks", async () => {
    const chunks = [
      new Uint8Array(0),
      hex("81 05 48"),
      new Uint8Array(0),
      hex("65 6c 6c 6f"),
      new Uint8Array(0),
    ];
    assert.deepEqual(await pump(new FrameDecoderStream(CLIENT), chunks), [frame(0x1, utf8("Hello"))]);
  });

  test("outputs nothing for no input", async () => {
    assert.deepEqual(await pump(new FrameDecoderStream(CLIENT), []), []);
  });

  test("rejects RSV1 with 1002 when no extension defines it", async () => {
    await assertFails(CLIENT, "c1 05 48 65 6c 6c 6f", 1002, /^Cannot decode frame: RSV1 is set$/);
  });

  test("accepts RSV1 on a data frame when allowedRsv has 0x40", async () => {
    await assertDecodes({ role: "client", allowedRsv: 0x40 }, "c1 05 48 65 6c 6c 6f", [
      frame(0x1, utf8("Hello"), { rsv1: true }),
    ]);
  });

  test("rejects RSV2 and RSV3 with 1002 when only RSV1 is allowed", async () => {
    await assertFails({ role: "client", allowedRsv: 0x40 }, "a1 00", 1002, /RSV2 is set/);
    await assertFails({ role: "client", allowedRsv: 0x40 }, "91 00", 1002, /RSV3 is set/);
  });

  test("rejects the reserved opcodes 0x3 and 0xB with 1002", async () => {
    await assertFails(CLIENT, "83 00", 1002, /^Cannot decode frame: opcode 0x3 is reserved$/);
    await assertFails(CLIENT, "8b 00", 1002, /^Cannot decode frame: opcode 0xb is reserved$/);
  });

  test("rejects a 64-bit length with its most significant bit set with 1002", async () => {
    await assertFails(
      CLIENT,
      "82 7f 80 00 00 00 00 00 00 01",
      1002,
      /64-bit payload length has its top bit set/,
    );
  });
});

describe("§5.5 control frames: FrameDecoderStream", () => {
  test("rejects a fragmented ping with 1002", async () => {
    await assertFails(CLIENT, "09 00", 1002, /^Cannot decode frame: control frame is fragmented$/);
  });

  test("rejects a ping with a 126-byte payload with 1002", async () => {
    await assertFails(
      CLIENT,
      "89 7e 00 7e" + "00".repeat(126),
      1002,
      /control frame payload exceeds 125 bytes/,
    );
  });

  test("accepts a ping with a 125-byte payload", async () => {
    await assertDecodes(CLIENT, "89 7d" + "2a".repeat(125), [frame(0x9, new Uint8Array(125).fill(0x2a))]);
  });

  test("rejects RSV1 on a control frame with 1002 even when allowedRsv has it", async () => {
    await assertFails({ role: "client", allowedRsv: 0x40 }, "c9 00", 1002, /RSV1 is set on a control frame/);
  });
});

describe("§5.1 masking: FrameDecoderStream", () => {
  test("a server rejects an unmasked frame with 1002", async () => {
    await assertFails(
      SERVER,
      "81 05 48 65 6c 6c 6f",
      1002,
      /^Cannot decode frame: frame from the client is not masked$/,
    );
  });

  test("a client rejects a masked frame with 1002", async () => {
    await assertFails(
      CLIENT,
      "81 85 37 fa 21 3d 7f 9f 4d 51 58",
      1002,
      /^Cannot decode frame: frame from the server is masked$/,
    );
  });
});

describe("§10.4 size limits: FrameDecoderStream", () => {
  test("rejects a payload over maxPayloadSize with 1009", async () => {
    await assertFails(
      { role: "client", maxPayloadSize: 4 },
      "81 05 48 65 6c 6c 6f",
      1009,
      /^Cannot decode frame: payload of 5 bytes exceeds the limit of 4$/,
    );
  });

  test("accepts a payload of exactly maxPayloadSize", async () => {
    await assertDecodes({ role: "client", maxPayloadSize: 5 }, "81 05 48 65 6c 6c 6f", [
      frame(0x1, utf8("Hello")),
    ]);
  });

  test("rejects a length over the 16 MiB default with 1009 from the header alone", async () => {
    // 16 MiB + 1, with none of the payload sent.
    await assertFails(
      CLIENT,
      "82 7f 00 00 00 00 01 00 00 01",
      1009,
      /payload of 16777217 bytes exceeds the limit of 16777216/,
    );
  });

  test("accepts a header declaring exactly the 16 MiB default, then ends inside the frame with 1006", async () => {
    await assertProtocolError(
      pump(new FrameDecoderStream(CLIENT), [hex("82 7f 00 00 00 00 01 00 00 00")]),
      1006,
      /input ended inside a frame/,
    );
  });

  test("does not apply maxPayloadSize to control frames", async () => {
    await assertDecodes({ role: "client", maxPayloadSize: 0 }, "89 05 48 65 6c 6c 6f", [
      frame(0x9, utf8("Hello")),
    ]);
  });
});

describe("end of input: FrameDecoderStream", () => {
  test("errors with 1006 when the input ends inside or right after a header", async () => {
    for (const vector of ["81", "81 7e 00", "81 85 37 fa", "81 05", "82 7e 01 00", "81 85 37 fa 21 3d"]) {
      await assertProtocolError(
        pump(new FrameDecoderStream(vector.startsWith("81 85") ? SERVER : CLIENT), [hex(vector)]),
        1006,
        /^Cannot decode frame: input ended inside a frame$/,
      );
    }
  });

  test("errors with 1006 when the input ends inside a payload, after the frames before it", async () => {
    const stream = new FrameDecoderStream(CLIENT);
    const reader = stream.readable.getReader();
    const writer = stream.writable.getWriter();
    const writing = writer.write(hex("89 00 81 05 48 65 6c"));
    assert.deepEqual((await reader.read()).value, frame(0x9, new Uint8Array(0)));
    await writing;
    const closing = writer.close();
    await assertProtocolError(reader.read(), 1006, /^Cannot decode frame: input ended inside a frame$/);
    await assertProtocolError(closing, 1006, /input ended inside a frame/);
  });
});

describe("errors: FrameDecoderStream", () => {
  test("stays errored after a violation: later writes reject with the same error", async () => {
    const stream = new FrameDecoderStream(SERVER);
    const writer = stream.writable.getWriter();
    const reader = stream.readable.getReader();
    const reading = reader.read();
    await assertProtocolError(writer.write(hex("81 00")), 1002, /not masked/);
    await assertProtocolError(reading, 1002, /not masked/);
    await assertProtocolError(writer.write(hex("81 80 00 00 00 00")), 1002, /not masked/);
  });

  test("errors with a TypeError for a chunk that is not a Uint8Array", async () => {
    const chunk = new ArrayBuffer(2) as unknown as Uint8Array;
    await assertRejectsWith(
      pump(new FrameDecoderStream(CLIENT), [chunk]),
      TypeError,
      /^Cannot decode frames: chunk is not a Uint8Array$/,
    );
  });
});

describe("options: FrameDecoderStream", () => {
  test("throws a TypeError for a role other than server or client", () => {
    const options = { role: "Server" } as unknown as FrameDecoderStreamOptions;
    assert.throws(() => new FrameDecoderStream(options), {
      name: "TypeError",
      message: 'Cannot create frame decoder: role "Server" is neither "server" nor "client"',
    });
  });

  test("throws a RangeError for a maxPayloadSize that is negative, NaN or over 2^53 - 1", () => {
    for (const maxPayloadSize of [-1, NaN, 2 ** 53, Infinity]) {
      assert.throws(() => new FrameDecoderStream({ role: "client", maxPayloadSize }), {
        name: "RangeError",
        message: `Cannot create frame decoder: maxPayloadSize ${maxPayloadSize} is out of range`,
      });
    }
  });

  test("throws a RangeError for allowedRsv bits outside 0x70", () => {
    for (const allowedRsv of [1, 0x80, -1, 0.5, 0x140]) {
      assert.throws(() => new FrameDecoderStream({ role: "client", allowedRsv }), {
        name: "RangeError",
        message: `Cannot create frame decoder: allowedRsv ${allowedRsv} has bits other than RSV1-RSV3 (0x70)`,
      });
    }
  });

  test("accepts maxPayloadSize 0 and 2^53 - 1, and allowedRsv 0x70", async () => {
    for (const maxPayloadSize of [0, Number.MAX_SAFE_INTEGER]) {
      assert.ok(new FrameDecoderStream({ role: "client", maxPayloadSize }) instanceof TransformStream);
    }
    await assertDecodes({ role: "client", allowedRsv: 0x70 }, "f2 00", [
      frame(0x2, new Uint8Array(0), { rsv1: true, rsv2: true, rsv3: true }),
    ]);
  });
});
