/**
 * permessage-deflate in the public stream pipeline (RFC 7692 §6, §7): the `extensions` option of
 * MessageFragmenterStream (compress whole, then split, RSV1 on the first frame), MessageAssemblerStream
 * (inflate with the limit enforced while inflating) and FrameDecoderStream (RSV1 allowed). Wire vectors are
 * RFC 7692's own (§7.2.3), fed whole and split at every byte; round trips cover every window size and both
 * context takeover settings, and the stream pipeline talks to `Protocol`, the core `Connection` drives.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Extension } from "../lib/core/extension.ts";
import type { Frame } from "../lib/core/frame.ts";
import { Protocol, type ProtocolEvent } from "../lib/core/protocol.ts";
import type { DeflateParameters } from "../lib/deflate/negotiation.ts";
import { PerMessageDeflate, type PerMessageDeflateOptions } from "../lib/deflate/permessage_deflate.ts";
import { FrameDecoderStream } from "../lib/streams/frame_decoder_stream.ts";
import { FrameEncoderStream } from "../lib/streams/frame_encoder_stream.ts";
import { MessageAssemblerStream } from "../lib/streams/message_assembler_stream.ts";
import { MessageFragmenterStream, type OutgoingMessage } from "../lib/streams/message_fragmenter_stream.ts";
import { concatBytes, hex, masked, pseudoRandomBytes, rawFrame, splits } from "./_vectors.ts";
import { assertProtocolError, assertRejectsWith, frame, pump, utf8 } from "./_streams.ts";

/** Everything a stream yields (Node 20 has no `Array.fromAsync`). */
async function collect<T>(stream: ReadableStream<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const chunk of stream) out.push(chunk);
  return out;
}

function parameters(bits: number, noContextTakeover: boolean): DeflateParameters {
  return {
    serverNoContextTakeover: noContextTakeover,
    clientNoContextTakeover: noContextTakeover,
    serverMaxWindowBits: bits,
    clientMaxWindowBits: bits,
  };
}

const TAKEOVER = parameters(15, false);

function deflate(role: "server" | "client", params = TAKEOVER, options: PerMessageDeflateOptions = {}): PerMessageDeflate {
  return new PerMessageDeflate(role, params, { releaseAfterIdle: Infinity, ...options });
}

/** Client side of a pipeline: messages to masked bytes. */
async function clientBytes(messages: (string | Uint8Array | OutgoingMessage)[], extensions: Extension[], fragmentSize = Infinity): Promise<Uint8Array> {
  const fragmenter = new MessageFragmenterStream({ fragmentSize, extensions });
  const chunks = await collect(ReadableStream.from(messages).pipeThrough(fragmenter).pipeThrough(new FrameEncoderStream({ mask: true })));
  return concatBytes(chunks);
}

/** Server side: bytes to messages. */
function serverMessages(chunks: Uint8Array[], extensions: Extension[], maxMessageSize?: number): Promise<(string | Uint8Array)[]> {
  return collect(
    ReadableStream.from(chunks)
      .pipeThrough(new FrameDecoderStream({ role: "server", extensions }))
      .pipeThrough(new MessageAssemblerStream({ extensions, maxMessageSize })),
  );
}

function fragments(messages: (string | Uint8Array | OutgoingMessage)[], extensions: Extension[], fragmentSize = Infinity): Promise<Frame[]> {
  return pump(new MessageFragmenterStream({ fragmentSize, extensions }), messages);
}

/** Text of exactly `bytes` UTF-8 bytes, mostly 3-byte code points, so that fragments split them. */
function text(bytes: number, seed: number): string {
  const threes = Math.floor(bytes / 3);
  let out = "";
  for (let i = 0; i < threes; i++) out += String.fromCharCode(0x4e00 + ((i * 7 + seed) % 64));
  return out + "a".repeat(bytes - threes * 3);
}

const HELLO_COMPRESSED = hex("f2 48 cd c9 c9 07 00");

describe("RFC 7692 §6.1 compressing: MessageFragmenterStream with extensions", () => {
  test("compresses a message whole and sets RSV1 on its only frame (§7.2.3.1)", async () => {
    const [only] = await fragments(["Hello"], [deflate("server", TAKEOVER, { threshold: 0 })]);
    assert.deepEqual(only, { fin: true, rsv1: true, rsv2: false, rsv3: false, opcode: 0x1, payload: HELLO_COMPRESSED });
  });

  test("compresses first, then splits, with RSV1 on the first fragment only (§7.2.3.1, fragmented)", async () => {
    const frames = await fragments(["Hello"], [deflate("server", TAKEOVER, { threshold: 0 })], 3);
    assert.deepEqual(frames.map((f) => [f.opcode, f.fin, f.rsv1]), [[0x1, false, true], [0x0, false, false], [0x0, true, false]]);
    assert.deepEqual(concatBytes(frames.map((f) => f.payload)), HELLO_COMPRESSED);
  });

  test("with context takeover, a second \"Hello\" refers to the first (§7.2.3.2)", async () => {
    const frames = await fragments(["Hello", "Hello"], [deflate("server", TAKEOVER, { threshold: 0 })]);
    assert.deepEqual(frames[1].payload, hex("f2 00 11 00 00"));
  });

  test("without context takeover, every message is compressed alone; one that would grow is sent as it is", async () => {
    const hellos = "Hello, ".repeat(8);
    const frames = await fragments([hellos, hellos, "Hello"], [deflate("server", parameters(15, true), { threshold: 0 })]);
    assert.deepEqual(frames.map((f) => f.rsv1), [true, true, false]);
    assert.deepEqual(frames[1].payload, frames[0].payload);
    assert.ok(frames[0].payload.length < 56);
    assert.deepEqual(frames[2].payload, utf8("Hello"));
  });

  test("sends a message written with compress: false uncompressed, RSV1 clear", async () => {
    const frames = await fragments([{ data: "Hello", compress: false }, { data: hex("01 02"), compress: true }], [deflate("server", TAKEOVER, { threshold: 0 })]);
    assert.deepEqual(frames[0], frame(0x1, utf8("Hello")));
    assert.equal(frames[1].rsv1, true);
    assert.equal(frames[1].opcode, 0x2);
  });

  test("sends a message shorter than the threshold uncompressed, and one at the threshold compressed", async () => {
    const frames = await fragments(["a".repeat(31), "a".repeat(32)], [deflate("server")]);
    assert.deepEqual(frames.map((f) => f.rsv1), [false, true]);
    assert.equal(frames[0].payload.length, 31);
  });

  test("an OutgoingMessage without compress is compressed as a plain message is", async () => {
    const [plain] = await fragments(["Hello"], [deflate("server", TAKEOVER, { threshold: 0 })]);
    const [wrapped] = await fragments([{ data: "Hello" }], [deflate("server", TAKEOVER, { threshold: 0 })]);
    assert.deepEqual(wrapped, plain);
  });

  test("without extensions, an OutgoingMessage is framed as its data", async () => {
    assert.deepEqual(await fragments([{ data: "Hi", compress: true }], []), [frame(0x1, utf8("Hi"))]);
  });

  test("rejects a compress option that is not a boolean with a TypeError", async () => {
    const bad = { data: "Hello", compress: "no" } as unknown as OutgoingMessage;
    await assertRejectsWith(fragments([bad], [deflate("server")]), TypeError, /^Cannot fragment message: compress no is not a boolean$/);
  });

  test("rejects an OutgoingMessage whose data is neither a string nor a Uint8Array with a TypeError", async () => {
    const bad = { data: 42 } as unknown as OutgoingMessage;
    await assertRejectsWith(fragments([bad], [deflate("server")]), TypeError, /neither a string nor a Uint8Array/);
  });
});

describe("RFC 7692 §6.2 decompressing: MessageAssemblerStream and FrameDecoderStream with extensions", () => {
  // §7.2.3.1 and §7.2.3.2: the same message as unfragmented and fragmented compressed frames, as a server
  // sends them (unmasked), read by a client.
  const vectors: { name: string; bytes: Uint8Array; expected: string[] }[] = [
    { name: "§7.2.3.1 unfragmented", bytes: hex("c1 07 f2 48 cd c9 c9 07 00"), expected: ["Hello"] },
    { name: "§7.2.3.1 fragmented", bytes: hex("41 03 f2 48 cd 80 04 c9 c9 07 00"), expected: ["Hello"] },
    { name: "§7.2.3.2 shared window", bytes: hex("c1 07 f2 48 cd c9 c9 07 00 c1 05 f2 00 11 00 00"), expected: ["Hello", "Hello"] },
    { name: "§7.2.3.3 no compression block", bytes: hex("c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00"), expected: ["Hello"] },
    { name: "§7.2.3.4 BFINAL set", bytes: hex("c1 08 f3 48 cd c9 c9 07 00 00"), expected: ["Hello"] },
    { name: "§7.2.3.5 two DEFLATE blocks", bytes: hex("c1 0d f2 48 05 00 00 00 ff ff ca c9 c9 07 00"), expected: ["Hello"] },
  ];
  for (const vector of vectors) {
    test(`inflates ${vector.name}, whole and split at every byte`, async () => {
      for (const split of splits(vector.bytes)) {
        const extensions = [deflate("client")];
        const messages = await collect(
          ReadableStream.from(split.chunks)
            .pipeThrough(new FrameDecoderStream({ role: "client", extensions }))
            .pipeThrough(new MessageAssemblerStream({ extensions })),
        );
        assert.deepEqual(messages, vector.expected, split.name);
      }
    });
  }

  test("passes a ping between the fragments of a compressed message to onControlFrame", async () => {
    const pings: string[] = [];
    const assembler = new MessageAssemblerStream({ extensions: [deflate("client")], onControlFrame: (f) => pings.push(new TextDecoder().decode(f.payload)) });
    const out = await pump(assembler, [
      frame(0x1, hex("f2 48 cd"), { fin: false, rsv1: true }),
      frame(0x9, utf8("ping")),
      frame(0x0, hex("c9 c9 07 00")),
    ]);
    assert.deepEqual(out, ["Hello"]);
    assert.deepEqual(pings, ["ping"]);
  });

  test("an uncompressed message passes through unchanged when deflate is negotiated", async () => {
    assert.deepEqual(await pump(new MessageAssemblerStream({ extensions: [deflate("client")] }), [frame(0x2, hex("01 02 03"))]), [hex("01 02 03")]);
  });

  test("rejects RSV1 on a continuation frame with 1002 (§6.1)", async () => {
    const assembler = new MessageAssemblerStream({ extensions: [deflate("client")] });
    await assertProtocolError(
      pump(assembler, [frame(0x1, hex("f2 48 cd"), { fin: false, rsv1: true }), frame(0x0, hex("c9 c9 07 00"), { rsv1: true })]),
      1002,
      /RSV1 is set on a continuation frame/,
    );
  });

  test("rejects RSV1 on a control frame with 1002 (§6.1)", async () => {
    const assembler = new MessageAssemblerStream({ extensions: [deflate("client")] });
    await assertProtocolError(pump(assembler, [frame(0x9, new Uint8Array(0), { rsv1: true })]), 1002, /^Cannot assemble message: RSV1 is set$/);
  });

  test("rejects RSV1 with no extension negotiated with 1002, in the decoder and in the assembler", async () => {
    await assertProtocolError(pump(new FrameDecoderStream({ role: "client" }), [hex("c1 07 f2 48 cd c9 c9 07 00")]), 1002, /RSV1/);
    await assertProtocolError(pump(new MessageAssemblerStream(), [frame(0x1, HELLO_COMPRESSED, { rsv1: true })]), 1002, /RSV1 is set/);
  });

  test("rejects RSV2 with deflate negotiated with 1002 (it defines RSV1 only)", async () => {
    await assertProtocolError(pump(new FrameDecoderStream({ role: "client", extensions: [deflate("client")] }), [hex("a1 00")]), 1002, /RSV2/);
    await assertProtocolError(pump(new MessageAssemblerStream({ extensions: [deflate("client")] }), [frame(0x1, utf8("x"), { rsv2: true })]), 1002, /RSV2 is set/);
  });

  test("rejects compressed data that does not inflate with 1007", async () => {
    const assembler = new MessageAssemblerStream({ extensions: [deflate("client")] });
    await assertProtocolError(pump(assembler, [frame(0x2, hex("ff ff ff ff"), { rsv1: true })]), 1007, /Cannot inflate message/);
  });

  test("rejects a compressed text message that inflates to invalid UTF-8 with 1007", async () => {
    const sender = deflate("server", TAKEOVER, { threshold: 0 });
    const [bad] = await fragments([hex("48 65 ff 6c")], [sender]);
    const assembler = new MessageAssemblerStream({ extensions: [deflate("client")] });
    await assertProtocolError(pump(assembler, [{ ...bad, opcode: 0x1 }]), 1007, /UTF-8/);
  });

  test("stops a message that inflates past maxMessageSize with 1009, whole or fragmented, takeover or not", async () => {
    // 16 MiB of zeros deflate to ~16 KiB: a bomb, stopped at 1 MiB of output.
    for (const takeover of [false, true]) {
      for (const fragmentSize of [Infinity, 1000]) {
        const sender = deflate("server", parameters(15, !takeover));
        const frames = await fragments([new Uint8Array(16 * 1024 * 1024)], [sender], fragmentSize);
        assert.ok(concatBytes(frames.map((f) => f.payload)).length < 64 * 1024);
        const assembler = new MessageAssemblerStream({ extensions: [deflate("client", parameters(15, !takeover))], maxMessageSize: 1024 * 1024 });
        await assertProtocolError(pump(assembler, frames), 1009, /more than the limit of \d+ bytes/);
      }
    }
  });

  test("accepts a message that inflates to exactly maxMessageSize", async () => {
    const sender = deflate("server");
    const frames = await fragments([new Uint8Array(100_000)], [sender], 777);
    const [message] = await pump(new MessageAssemblerStream({ extensions: [deflate("client")], maxMessageSize: 100_000 }), frames);
    assert.equal((message as Uint8Array).length, 100_000);
  });

  test("the decoder allows a compressed frame DEFLATE's overhead past maxPayloadSize", async () => {
    // Incompressible bytes: stored blocks make the compressed payload a few bytes longer than the message.
    const sender = deflate("server");
    const [compressed] = await fragments([pseudoRandomBytes(4096, 1)], [sender]);
    assert.ok(compressed.payload.length > 4096);
    const bytes = rawFrame(0xc2, compressed.payload);
    const extensions = [deflate("client")];
    const out = await collect(
      ReadableStream.from([bytes])
        .pipeThrough(new FrameDecoderStream({ role: "client", maxPayloadSize: 4096, extensions }))
        .pipeThrough(new MessageAssemblerStream({ extensions, maxMessageSize: 4096 })),
    );
    assert.deepEqual(out, [pseudoRandomBytes(4096, 1)]);
    // Without extensions the limit is exact.
    await assertProtocolError(pump(new FrameDecoderStream({ role: "client", maxPayloadSize: 4096 }), [rawFrame(0x82, new Uint8Array(4097))]), 1009, /./);
  });
});

describe("the extensions option: bad caller input", () => {
  const bad: [string, unknown][] = [
    ["not an array", { rsvBits: 0x40 }],
    ["an array with null", [null]],
    ["an object without decode", [{ rsvBits: 0x40, encode: () => {} }]],
    ["rsvBits outside 0x70", [{ rsvBits: 0x80, encode: () => {}, decode: () => {} }]],
  ];
  for (const [name, extensions] of bad) {
    test(`every stream rejects extensions that are ${name} with a TypeError`, () => {
      const options = { extensions } as unknown as { extensions: Extension[] };
      assert.throws(() => new MessageFragmenterStream(options), { name: "TypeError", message: /^Cannot create message fragmenter: extensions/ });
      assert.throws(() => new MessageAssemblerStream(options), { name: "TypeError", message: /^Cannot create message assembler: extensions/ });
      assert.throws(() => new FrameDecoderStream({ role: "server", ...options }), { name: "TypeError", message: /^Cannot create frame decoder: extensions/ });
    });
  }
});

describe("round trips through the compressed pipeline: every window size, both takeover settings", () => {
  const SIZES = [0, 1, 31, 32, 125, 126, 1000, 65535, 65536, 300_000];
  for (let bits = 8; bits <= 15; bits++) {
    for (const noContextTakeover of [false, true]) {
      test(`window ${bits}, ${noContextTakeover ? "no context takeover" : "context takeover"}: text and binary, whole and in 1000-byte fragments`, async () => {
        const messages: (string | Uint8Array)[] = [];
        for (const size of SIZES) messages.push(text(size, size + bits), pseudoRandomBytes(size, size).map((b) => b & 0x0f));
        for (const fragmentSize of [Infinity, 1000]) {
          const params = parameters(bits, noContextTakeover);
          const wire = await clientBytes(messages, [deflate("client", params)], fragmentSize);
          // Compression happened: the low-entropy binary messages shrank on the wire.
          const total = messages.reduce((sum, m) => sum + (typeof m === "string" ? utf8(m).length : m.length), 0);
          assert.ok(wire.length < total, `${wire.length} bytes on the wire for ${total} of messages`);
          const chunks: Uint8Array[] = [];
          for (let i = 0; i < wire.length; i += 4093) chunks.push(wire.slice(i, i + 4093));
          assert.deepEqual(await serverMessages(chunks, [deflate("server", params)]), messages);
        }
      });
    }
  }
});

/** Drives a `Protocol` (the core `Connection` drives) with the given extensions: bytes in, events out. */
function protocolPeer(role: "server" | "client", extensions: Extension[]): Protocol {
  return new Protocol({ role, extensions });
}

function messagesOf(events: ProtocolEvent[]): (string | Uint8Array)[] {
  const out: (string | Uint8Array)[] = [];
  for (const event of events) {
    if (event.type === "message") out.push(event.data);
  }
  return out;
}

describe("the stream pipeline and Protocol (the Connection's core) understand each other", () => {
  for (const noContextTakeover of [false, true]) {
    for (const bits of [8, 11, 15]) {
      const label = `window ${bits}, ${noContextTakeover ? "no " : ""}context takeover`;
      const params = parameters(bits, noContextTakeover);
      const messages: (string | Uint8Array)[] = [
        "Hello",
        text(5000, 3),
        pseudoRandomBytes(70_000, 9).map((b) => b & 7),
        "",
        pseudoRandomBytes(1000, 2),
        text(200_000, 4),
      ];

      test(`a stream client's compressed messages reach a Protocol server intact (${label})`, async () => {
        const wire = await clientBytes(messages, [deflate("client", params)], 4000);
        const server = protocolPeer("server", [deflate("server", params)]);
        server.receive(wire);
        const events = server.takeEvents();
        assert.deepEqual(messagesOf(events), messages);
        assert.ok(!events.some((e) => e.type === "close"), "no failure");
      });

      test(`a Protocol server's compressed messages reach a stream client intact (${label})`, async () => {
        const server = protocolPeer("server", [deflate("server", params)]);
        for (const message of messages) server.send(message, { fragmentSize: 3000 });
        const wire = server.takeOutgoing().map((chunk) => chunk.slice());
        const extensions = [deflate("client", params)];
        const received = await collect(
          ReadableStream.from(wire)
            .pipeThrough(new FrameDecoderStream({ role: "client", extensions }))
            .pipeThrough(new MessageAssemblerStream({ extensions })),
        );
        assert.deepEqual(received, messages);
      });
    }
  }

  test("a stream server reads compressed masked frames and rejects unmasked ones with 1002 (RFC 6455 §5.1)", async () => {
    const extensions = [deflate("server")];
    const unmasked = hex("c1 07 f2 48 cd c9 c9 07 00");
    const key = hex("37 fa 21 3d");
    assert.deepEqual(await serverMessages([masked(unmasked, key)], extensions), ["Hello"]);
    await assertProtocolError(serverMessages([unmasked], [deflate("server")]), 1002, /mask/i);
  });
});
