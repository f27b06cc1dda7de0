import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FrameDecoderStream } from "../lib/streams/frame_decoder_stream.ts";
import { FrameEncoderStream } from "../lib/streams/frame_encoder_stream.ts";
import { MessageAssemblerStream } from "../lib/streams/message_assembler_stream.ts";
import { MessageFragmenterStream } from "../lib/streams/message_fragmenter_stream.ts";
import { concatBytes, toHex } from "./_vectors.ts";
import { assertProtocolError } from "./_streams.ts";

const FRAGMENT_SIZE = 1000;
const SIZES = [0, 1, 125, 126, 65535, 65536, 1024 * 1024];

/** Text of exactly `bytes` UTF-8 bytes, mostly 3-byte code points, so that fragments split them. */
function text(bytes: number): string {
  const threes = Math.floor(bytes / 3);
  return "€".repeat(threes) + "a".repeat(bytes - threes * 3);
}

/** Deterministic bytes. */
function binary(length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = length + 1;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

interface WireFrame {
  opcode: number;
  fin: boolean;
  key: string;
  payload: Uint8Array;
}

/**
 * Walks the bytes the client wrote, independently of the library's parser: asserts every frame is
 * masked and returns the frames with their payloads unmasked with the key each header carries.
 */
function readWire(bytes: Uint8Array): WireFrame[] {
  const frames: WireFrame[] = [];
  let at = 0;
  while (at < bytes.length) {
    const b0 = bytes[at], b1 = bytes[at + 1];
    assert.equal(b1 & 0x80, 0x80, `frame ${frames.length} at offset ${at} is not masked`);
    let length = b1 & 0x7f;
    at += 2;
    if (length === 126) {
      length = (bytes[at] << 8) | bytes[at + 1];
      at += 2;
    } else if (length === 127) {
      length = 0;
      for (let i = 0; i < 8; i++) length = length * 256 + bytes[at + i];
      at += 8;
    }
    const key = bytes.subarray(at, at + 4);
    at += 4;
    const payload = bytes.slice(at, at + length).map((byte, i) => byte ^ key[i & 3]);
    at += length;
    frames.push({ opcode: b0 & 0x0f, fin: (b0 & 0x80) !== 0, key: toHex(key), payload });
  }
  assert.equal(at, bytes.length, "the last frame is cut short");
  return frames;
}

/**
 * Client side (fragmenter, masking encoder) piped into server side (server decoder, assembler). Returns
 * the messages the server received and a copy of the bytes in between, taken before the server's decoder
 * unmasks them in place.
 */
async function roundTrip(
  messages: (string | Uint8Array)[],
  mask = true,
): Promise<{ received: (string | Uint8Array)[]; wire: Uint8Array }> {
  const client = new MessageFragmenterStream({ fragmentSize: FRAGMENT_SIZE });
  const copies: Uint8Array[] = [];
  const tap = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      copies.push(chunk.slice());
      controller.enqueue(chunk);
    },
  });
  const server = client.readable
    .pipeThrough(new FrameEncoderStream({ mask }))
    .pipeThrough(tap)
    .pipeThrough(new FrameDecoderStream({ role: "server" }))
    .pipeThrough(new MessageAssemblerStream());
  const write = async () => {
    const writer = client.writable.getWriter();
    for (const message of messages) await writer.write(message);
    await writer.close();
  };
  const read = async () => {
    const received: (string | Uint8Array)[] = [];
    const reader = server.getReader();
    for (;;) {
      const result = await reader.read();
      if (result.done) return received;
      received.push(result.value);
    }
  };
  const [, received] = await Promise.all([write(), read()]);
  return { received, wire: concatBytes(copies) };
}

/** The payload bytes the message should put on the wire. */
function bytesOf(message: string | Uint8Array): Uint8Array {
  return typeof message === "string" ? new TextEncoder().encode(message) : message;
}

function assertWire(wire: Uint8Array, message: string | Uint8Array): void {
  const frames = readWire(wire);
  const bytes = bytesOf(message);
  const expected = Math.max(1, Math.ceil(bytes.length / FRAGMENT_SIZE));
  assert.equal(frames.length, expected, "frame count");
  frames.forEach((item, i) => {
    const first = i === 0;
    assert.equal(
      item.opcode,
      first ? (typeof message === "string" ? 0x1 : 0x2) : 0x0,
      `opcode of frame ${i}`,
    );
    assert.equal(item.fin, i === frames.length - 1, `FIN of frame ${i}`);
    assert.ok(item.payload.length <= FRAGMENT_SIZE, `length of frame ${i}`);
  });
  assert.deepEqual(concatBytes(frames.map((item) => item.payload)), bytes, "unmasked payloads");
  if (frames.length > 2) {
    assert.ok(new Set(frames.map((item) => item.key)).size > 1, "every frame has the same masking key");
  }
}

describe("stream pipeline: client fragmenter and masking encoder into server decoder and assembler", () => {
  for (const size of SIZES) {
    test(`round-trips a text message of ${size} bytes, masked on the wire`, async () => {
      const message = text(size);
      const { received, wire } = await roundTrip([message]);
      assert.equal(received.length, 1);
      assert.equal(received[0], message);
      assertWire(wire, message);
    });

    test(`round-trips a binary message of ${size} bytes, masked on the wire`, async () => {
      const message = binary(size);
      const { received, wire } = await roundTrip([message]);
      assert.equal(received.length, 1);
      assert.ok(received[0] instanceof Uint8Array, "a binary message arrives as a Uint8Array");
      assert.deepEqual(received[0], binary(size));
      assertWire(wire, message);
    });
  }

  test("round-trips all the sizes, text and binary alternating, over one pipeline in order", async () => {
    const messages = SIZES.flatMap((size) => [text(size), binary(size)]);
    const { received, wire } = await roundTrip(messages);
    assert.deepEqual(received, SIZES.flatMap((size) => [text(size), binary(size)]));
    const frames = readWire(wire);
    const expected = messages.reduce(
      (n, message) => n + Math.max(1, Math.ceil(bytesOf(message).length / FRAGMENT_SIZE)),
      0,
    );
    assert.equal(frames.length, expected);
  });

  test("an unmasking client fails the server's decoder with 1002", async () => {
    await assertProtocolError(roundTrip(["Hello"], false), 1002, /frame from the client is not masked/);
  });

  test("a message over the server's limit fails it with 1009", async () => {
    const client = new MessageFragmenterStream({ fragmentSize: FRAGMENT_SIZE });
    const server = client.readable
      .pipeThrough(new FrameEncoderStream({ mask: true }))
      .pipeThrough(new FrameDecoderStream({ role: "server" }))
      .pipeThrough(new MessageAssemblerStream({ maxMessageSize: 2500 }));
    const writer = client.writable.getWriter();
    writer.write(binary(2501)).catch(() => {});
    await assertProtocolError(server.getReader().read(), 1009, /more than the limit of 2500 bytes/);
  });
});
