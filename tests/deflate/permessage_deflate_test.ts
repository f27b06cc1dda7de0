import { describe, test } from "node:test";
import assert from "node:assert/strict";
import zlib from "node:zlib";
import type { DeflateCodec } from "../../lib/deflate/codec.ts";
import type { DeflateParameters } from "../../lib/deflate/negotiation.ts";
import type { Frame } from "../../lib/core/frame.ts";
import { Opcode } from "../../lib/core/opcode.ts";
import { pakoCodec } from "../../lib/deflate/pako_codec.ts";
import { PerMessageDeflate, type PerMessageDeflateOptions } from "../../lib/deflate/permessage_deflate.ts";
import { ProtocolError } from "../../lib/core/protocol_error.ts";
import { concatBytes, hex, pseudoRandomBytes, toHex } from "../_vectors.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (s: string) => encoder.encode(s);
const NO_LIMIT = Number.MAX_SAFE_INTEGER;
const TAIL = hex("00 00 ff ff");

function agreed(changes: Partial<DeflateParameters> = {}): DeflateParameters {
  return {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
    ...changes,
  };
}

function frame(opcode: number, payload: Uint8Array, fin = true, rsv1 = false): Frame {
  return { fin, rsv1, rsv2: false, rsv3: false, opcode, payload };
}

const textFrame = (s: string) => frame(Opcode.Text, text(s));

/** A compressible chat-sized message. */
const chat = (i: number) => `{"type":"chat","room":"general","user":"user${i % 7}","text":"message number ${i}"}`;

/** Inflates a payload alone, with node:zlib: what a peer with a fresh inflater sees. */
function inflateAlone(payload: Uint8Array): Uint8Array {
  return new Uint8Array(zlib.inflateRawSync(concatBytes([payload, TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }));
}

function assertProtocolError(fn: () => unknown, code: number, cause: RegExp): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof ProtocolError, `expected a ProtocolError, got ${error}`);
  assert.equal(error.code, code, "close code");
  assert.match(error.message, cause);
}

/** Both ends of a connection: what one encodes, the other decodes. */
function pair(parameters: DeflateParameters, options: PerMessageDeflateOptions = {}) {
  return {
    server: new PerMessageDeflate("server", parameters, { threshold: 0, ...options }),
    client: new PerMessageDeflate("client", parameters, { threshold: 0, ...options }),
  };
}

describe("RFC 7692 §6 framing: encode", () => {
  test("PerMessageDeflate encodes \"Hello\" as §7.2.3.1: RSV1 set, f2 48 cd c9 c9 07 00", () => {
    for (const role of ["server", "client"] as const) {
      const ext = new PerMessageDeflate(role, agreed(), { threshold: 0 });
      const out = ext.encode(textFrame("Hello"));
      assert.equal(out.rsv1, true, role);
      assert.equal(out.fin, true, role);
      assert.equal(out.opcode, Opcode.Text, `${role}: "PMCEs do not change the opcode field"`);
      assert.equal(toHex(out.payload), "f2 48 cd c9 c9 07 00", role);
    }
  });

  test("PerMessageDeflate takes over the window: the second \"Hello\" is f2 00 11 00 00 (§7.2.3.2)", () => {
    const ext = new PerMessageDeflate("server", agreed(), { threshold: 0 });
    assert.equal(toHex(ext.encode(textFrame("Hello")).payload), "f2 48 cd c9 c9 07 00");
    assert.equal(toHex(ext.encode(textFrame("Hello")).payload), "f2 00 11 00 00");
  });

  test("PerMessageDeflate leaves uncompressed messages out of the window (§7.2.3.2: \"they don't affect the LZ77 sliding window\")", () => {
    const ext = new PerMessageDeflate("server", agreed(), { threshold: 0 });
    ext.encode(textFrame("Hello"));
    const plain = ext.encode(textFrame("Hello, uncompressed"), { compress: false });
    assert.equal(plain.rsv1, false);
    assert.equal(decoder.decode(plain.payload), "Hello, uncompressed");
    assert.equal(toHex(ext.encode(textFrame("Hello")).payload), "f2 00 11 00 00");
  });

  test("PerMessageDeflate sets RSV1 on the first frame of a fragmented message only (§6.1)", () => {
    const ext = new PerMessageDeflate("client", agreed(), { threshold: 0 });
    const first = ext.encode(frame(Opcode.Binary, text("Hel"), false));
    const middle = ext.encode(frame(Opcode.Continuation, text("l"), false));
    const last = ext.encode(frame(Opcode.Continuation, text("o"), true));
    assert.deepEqual([first.rsv1, middle.rsv1, last.rsv1], [true, false, false]);
    assert.deepEqual([first.opcode, middle.opcode, last.opcode], [Opcode.Binary, Opcode.Continuation, Opcode.Continuation]);
    assert.deepEqual([first.fin, middle.fin, last.fin], [false, false, true]);
    const payload = concatBytes([first.payload, middle.payload, last.payload]);
    assert.equal(decoder.decode(inflateAlone(payload)), "Hello");
    // The next message takes over the window built by the fragments.
    const next = ext.encode(frame(Opcode.Binary, text("Hello")));
    const server = new PerMessageDeflate("server", agreed());
    assert.equal(decoder.decode(server.decode(frame(Opcode.Binary, payload, true, true), NO_LIMIT).payload), "Hello");
    assert.equal(decoder.decode(server.decode(next, NO_LIMIT).payload), "Hello");
  });

  test("PerMessageDeflate sends messages shorter than the threshold uncompressed", () => {
    const ext = new PerMessageDeflate("server", agreed());
    const short = textFrame("x".repeat(31));
    assert.equal(ext.encode(short), short, "below the default threshold of 32: the frame as it is");
    const at = ext.encode(textFrame("x".repeat(32)));
    assert.equal(at.rsv1, true);
    assert.equal(decoder.decode(inflateAlone(at.payload)), "x".repeat(32));
    const custom = new PerMessageDeflate("server", agreed(), { threshold: 1000 });
    const mid = textFrame(chat(1).repeat(10));
    assert.equal(custom.encode(mid), mid);
  });

  test("PerMessageDeflate compresses a fragmented message whatever its first frame's size", () => {
    const ext = new PerMessageDeflate("server", agreed());
    const first = ext.encode(frame(Opcode.Text, text("H"), false));
    const last = ext.encode(frame(Opcode.Continuation, text("ello"), true));
    assert.equal(first.rsv1, true);
    assert.equal(decoder.decode(inflateAlone(concatBytes([first.payload, last.payload]))), "Hello");
  });

  test("PerMessageDeflate sends a message uncompressed when told { compress: false }, fragments included", () => {
    const ext = new PerMessageDeflate("server", agreed(), { threshold: 0 });
    const whole = textFrame(chat(1));
    assert.equal(ext.encode(whole, { compress: false }), whole);
    const first = frame(Opcode.Text, text(chat(2)), false);
    const last = frame(Opcode.Continuation, text(chat(3)), true);
    assert.equal(ext.encode(first, { compress: false }), first);
    assert.equal(ext.encode(last), last, "continuation of an uncompressed message");
    // Compression resumes with the next message, and the window is untouched (§7.2.3.2).
    assert.equal(toHex(ext.encode(textFrame("Hello")).payload), "f2 48 cd c9 c9 07 00");
  });

  test("PerMessageDeflate compresses an empty message as 00 (§7.2.3.6), also after another message", () => {
    const ext = new PerMessageDeflate("server", agreed(), { threshold: 0 });
    assert.equal(toHex(ext.encode(textFrame("")).payload), "00");
    assert.equal(toHex(ext.encode(textFrame("Hello")).payload), "f2 48 cd c9 c9 07 00");
    const empty = ext.encode(textFrame(""));
    assert.equal(empty.rsv1, true);
    assert.equal(toHex(empty.payload), "00");
    const first = ext.encode(frame(Opcode.Text, text("Hello"), false));
    const last = ext.encode(frame(Opcode.Continuation, new Uint8Array(0), true));
    assert.equal(toHex(last.payload), "00", "an empty last fragment");
    const client = new PerMessageDeflate("client", agreed());
    const got = ["f2 48 cd c9 c9 07 00", "00"].map((p) => client.decode(frame(Opcode.Text, hex(p), true, true), NO_LIMIT));
    assert.deepEqual(got.map((f) => decoder.decode(f.payload)), ["Hello", ""]);
    assert.equal(decoder.decode(client.decode(first, NO_LIMIT).payload), "Hello");
    assert.equal(decoder.decode(client.decode(last, NO_LIMIT).payload), "");
  });
});

describe("RFC 7692 §6 framing: decode", () => {
  test("PerMessageDeflate inflates an RSV1 frame and clears RSV1", () => {
    const ext = new PerMessageDeflate("server", agreed());
    const out = ext.decode(frame(Opcode.Text, hex("f2 48 cd c9 c9 07 00"), true, true), NO_LIMIT);
    assert.deepEqual(out, frame(Opcode.Text, text("Hello")));
  });

  test("PerMessageDeflate passes a frame without RSV1 through as it is", () => {
    const ext = new PerMessageDeflate("server", agreed());
    const plain = textFrame("Hello");
    assert.equal(ext.decode(plain, NO_LIMIT), plain);
    const first = frame(Opcode.Text, hex("f2 48"), false);
    const last = frame(Opcode.Continuation, hex("cd"), true);
    assert.equal(ext.decode(first, NO_LIMIT), first);
    assert.equal(ext.decode(last, NO_LIMIT), last, "continuation of an uncompressed message");
  });

  test("PerMessageDeflate fails RSV1 on a continuation frame with 1002 (§6.1: \"MUST _Fail the WebSocket Connection_\")", () => {
    const ext = new PerMessageDeflate("server", agreed());
    ext.decode(frame(Opcode.Text, hex("f2 48 cd"), false, true), NO_LIMIT);
    assertProtocolError(
      () => ext.decode(frame(Opcode.Continuation, hex("c9 c9 07 00"), true, true), NO_LIMIT),
      1002,
      /^Cannot decode frame: RSV1 is set on a continuation frame$/,
    );
    const plain = new PerMessageDeflate("client", agreed());
    plain.decode(frame(Opcode.Text, text("Hel"), false), NO_LIMIT);
    assertProtocolError(
      () => plain.decode(frame(Opcode.Continuation, text("lo"), true, true), NO_LIMIT),
      1002,
      /RSV1 is set on a continuation frame/,
    );
  });

  test("PerMessageDeflate inflates a compressed message across its frames (§7.2.3.1 fragmented: 41 03 f2 48 cd, 80 04 c9 c9 07 00)", () => {
    for (const parameters of [agreed(), agreed({ clientNoContextTakeover: true, serverNoContextTakeover: true })]) {
      const ext = new PerMessageDeflate("server", parameters);
      const first = ext.decode(frame(Opcode.Text, hex("f2 48 cd"), false, true), NO_LIMIT);
      const last = ext.decode(frame(Opcode.Continuation, hex("c9 c9 07 00"), true), NO_LIMIT);
      assert.equal(first.rsv1, false);
      assert.equal(first.fin, false);
      assert.equal(decoder.decode(concatBytes([first.payload, last.payload])), "Hello");
      // The frames of every split inflate to the same message.
      const payload = hex("f2 48 cd c9 c9 07 00");
      for (let at = 0; at <= payload.length; at++) {
        const a = ext.decode(frame(Opcode.Text, payload.subarray(0, at), false, true), NO_LIMIT);
        const b = ext.decode(frame(Opcode.Continuation, payload.subarray(at), true), NO_LIMIT);
        // Empty frames included: an empty first or last fragment carries no bytes of the payload.
        assert.equal(decoder.decode(concatBytes([a.payload, b.payload])), "Hello", `split at ${at}`);
      }
    }
  });

  test("PerMessageDeflate takes over the receiving window unless the peer resets its own", () => {
    const client = new PerMessageDeflate("client", agreed());
    const m1 = client.decode(frame(Opcode.Text, hex("f2 48 cd c9 c9 07 00"), true, true), NO_LIMIT);
    const m2 = client.decode(frame(Opcode.Text, hex("f2 00 11 00 00"), true, true), NO_LIMIT);
    assert.deepEqual([decoder.decode(m1.payload), decoder.decode(m2.payload)], ["Hello", "Hello"]);
    // server_no_context_takeover: the client's inflater keeps nothing, so a reference back fails.
    const reset = new PerMessageDeflate("client", agreed({ serverNoContextTakeover: true }));
    reset.decode(frame(Opcode.Text, hex("f2 48 cd c9 c9 07 00"), true, true), NO_LIMIT);
    assertProtocolError(
      () => reset.decode(frame(Opcode.Text, hex("f2 00 11 00 00"), true, true), NO_LIMIT),
      1007,
      /invalid distance too far back/,
    );
  });

  test("PerMessageDeflate enforces maxSize while inflating, with 1009", () => {
    const big = text(chat(0).repeat(2000));
    for (const parameters of [agreed(), agreed({ serverNoContextTakeover: true, clientNoContextTakeover: true })]) {
      const { server, client } = pair(parameters);
      const wire = client.encode(frame(Opcode.Text, big));
      assert.equal(wire.rsv1, true);
      assertProtocolError(() => server.decode(wire, big.length - 1), 1009, /^Cannot inflate message: more than the limit of \d+ bytes$/);
      // Fragmented, each frame gets what remains (a failed connection is not used again: a fresh pair).
      const fresh = pair(parameters);
      const first = fresh.client.encode(frame(Opcode.Text, big, false));
      const last = fresh.client.encode(frame(Opcode.Continuation, big, true));
      const got = fresh.server.decode(first, big.length + 10).payload.length;
      assertProtocolError(() => fresh.server.decode(last, big.length + 10 - got), 1009, /limit/);
    }
  });

  test("PerMessageDeflate fails a corrupt compressed message with 1007", () => {
    for (const parameters of [agreed(), agreed({ clientNoContextTakeover: true })]) {
      const ext = new PerMessageDeflate("server", parameters);
      assertProtocolError(() => ext.decode(frame(Opcode.Binary, hex("ff ff ff"), true, true), NO_LIMIT), 1007, /invalid block type/);
    }
  });

  test("PerMessageDeflate inflates with the shared decompressor when the client resets, message after message", () => {
    // client_no_context_takeover: the server inflates each whole message afresh, with a decompressor shared
    // by all connections.
    const servers = Array.from({ length: 3 }, () => new PerMessageDeflate("server", agreed({ clientNoContextTakeover: true })));
    for (let i = 0; i < 30; i++) {
      const server = servers[i % 3];
      const payload = new Uint8Array(zlib.deflateRawSync(text(chat(i)), { finishFlush: zlib.constants.Z_SYNC_FLUSH }));
      const wire = frame(Opcode.Text, payload.subarray(0, payload.length - 4), true, true);
      assert.equal(decoder.decode(server.decode(wire, NO_LIMIT).payload), chat(i), `message ${i}`);
    }
    // A corrupt (truncated) message leaves the shared decompressor clean for the next connection.
    assertProtocolError(
      () => servers[0].decode(frame(Opcode.Text, hex("f2 48 cd c9"), true, true), NO_LIMIT),
      1007,
      /does not end at a DEFLATE block boundary/,
    );
    assert.equal(decoder.decode(servers[1].decode(frame(Opcode.Text, hex("f2 48 cd c9 c9 07 00"), true, true), NO_LIMIT).payload), "Hello");
  });
});

describe("RFC 7692 §7.1.1 context takeover", () => {
  const message = chat(42).repeat(3);

  test("PerMessageDeflate with server_no_context_takeover compresses the same message to the same bytes every time", () => {
    const ext = new PerMessageDeflate("server", agreed({ serverNoContextTakeover: true }));
    const a = ext.encode(textFrame(message));
    const b = ext.encode(textFrame(message));
    assert.equal(a.rsv1, true);
    assert.equal(b.rsv1, true);
    assert.equal(toHex(b.payload), toHex(a.payload));
    assert.equal(decoder.decode(inflateAlone(b.payload)), message, "the peer needs no window");
  });

  test("PerMessageDeflate with context takeover compresses the same message shorter the second time", () => {
    const ext = new PerMessageDeflate("server", agreed());
    const a = ext.encode(textFrame(message));
    const b = ext.encode(textFrame(message));
    assert.ok(b.payload.length < a.payload.length / 2, `${b.payload.length} vs ${a.payload.length}`);
    assert.throws(() => inflateAlone(b.payload), /invalid distance too far back/, "it needs the first message");
  });

  test("PerMessageDeflate picks the parameters of its own direction (client_ for the client's compressor)", () => {
    // The client resets; the server does not.
    const parameters = agreed({ clientNoContextTakeover: true });
    const client = new PerMessageDeflate("client", parameters);
    const server = new PerMessageDeflate("server", parameters);
    const c1 = client.encode(textFrame(message)), c2 = client.encode(textFrame(message));
    assert.equal(toHex(c2.payload), toHex(c1.payload), "client: no context takeover");
    const s1 = server.encode(textFrame(message)), s2 = server.encode(textFrame(message));
    assert.ok(s2.payload.length < s1.payload.length, "server: context takeover");
    // And each end inflates the other.
    assert.equal(decoder.decode(client.decode(s1, NO_LIMIT).payload), message);
    assert.equal(decoder.decode(client.decode(s2, NO_LIMIT).payload), message);
    assert.equal(decoder.decode(server.decode(c1, NO_LIMIT).payload), message);
    assert.equal(decoder.decode(server.decode(c2, NO_LIMIT).payload), message);
  });

  test("PerMessageDeflate's shared compressor gives output a fresh inflater reads, connection after connection", () => {
    const connections = Array.from({ length: 4 }, () => new PerMessageDeflate("server", agreed({ serverNoContextTakeover: true })));
    for (let i = 0; i < 40; i++) {
      const data = chat(i).repeat(1 + (i % 4));
      const out = connections[i % 4].encode(textFrame(data));
      assert.equal(out.rsv1, true, `message ${i}`);
      assert.equal(decoder.decode(inflateAlone(out.payload)), data, `message ${i}: node:zlib, fresh`);
      const fresh = pakoCodec.createDecompressor(15);
      assert.equal(decoder.decode(fresh.decompress(out.payload, true, NO_LIMIT)), data, `message ${i}: pako, fresh`);
    }
  });

  test("PerMessageDeflate with no context takeover resets between fragmented messages too", () => {
    const ext = new PerMessageDeflate("client", agreed({ clientNoContextTakeover: true }), { threshold: 0 });
    for (let i = 0; i < 3; i++) {
      const first = ext.encode(frame(Opcode.Text, text(message.slice(0, 50)), false));
      const last = ext.encode(frame(Opcode.Continuation, text(message.slice(50)), true));
      assert.equal(decoder.decode(inflateAlone(concatBytes([first.payload, last.payload]))), message, `message ${i}`);
      const whole = ext.encode(textFrame(message));
      assert.equal(decoder.decode(inflateAlone(whole.payload)), message, `whole message ${i}`);
    }
  });

  test("PerMessageDeflate sends incompressible data uncompressed when it keeps no context (a sender may always)", () => {
    // §6.1 defines sending "in the form of an uncompressed message" with RSV1 unset; with no context
    // takeover nothing later depends on this message, so §7.3's "figure out whether or not a certain message
    // will be shorter if compressed" is exact.
    const random = pseudoRandomBytes(1024, 1);
    const noContext = new PerMessageDeflate("server", agreed({ serverNoContextTakeover: true }));
    const out = noContext.encode(frame(Opcode.Binary, random));
    assert.equal(out.rsv1, false);
    assert.equal(out.payload, random);
    // The receiver takes it as it is.
    const client = new PerMessageDeflate("client", agreed({ serverNoContextTakeover: true }));
    assert.equal(client.decode(out, NO_LIMIT).payload, random);
    // With context takeover it is compressed anyway: the window must see it, and the peer's too.
    const takeover = new PerMessageDeflate("server", agreed());
    const compressed = takeover.encode(frame(Opcode.Binary, random));
    assert.equal(compressed.rsv1, true);
    assert.deepEqual(inflateAlone(compressed.payload), random);
  });
});

describe("RFC 7692 §7.1.2 window sizes", () => {
  for (const bits of [8, 9, 12]) {
    test(`PerMessageDeflate compresses and inflates with ${bits}-bit windows both ways`, () => {
      const { server, client } = pair(agreed({ serverMaxWindowBits: bits, clientMaxWindowBits: bits }));
      for (let i = 0; i < 200; i++) {
        const data = chat(i).repeat(1 + (i % 5));
        const down = server.encode(textFrame(data));
        assert.equal(decoder.decode(client.decode(down, NO_LIMIT).payload), data, `server to client ${i}`);
        const up = client.encode(textFrame(data));
        assert.equal(decoder.decode(server.decode(up, NO_LIMIT).payload), data, `client to server ${i}`);
      }
    });
  }
});

describe("codec option", () => {
  test("PerMessageDeflate uses the codec it is given, also for the shared no-context codecs", () => {
    const calls: string[] = [];
    const counting: DeflateCodec = {
      name: "counting",
      createCompressor(options) {
        const inner = pakoCodec.createCompressor(options);
        return {
          compress: (data, end) => (calls.push("compress"), inner.compress(data, end)),
          reset: () => inner.reset(),
          release: () => inner.release(),
        };
      },
      createDecompressor(windowBits) {
        const inner = pakoCodec.createDecompressor(windowBits);
        return {
          decompress: (data, end, maxSize) => (calls.push("decompress"), inner.decompress(data, end, maxSize)),
          reset: () => inner.reset(),
          release: () => inner.release(),
        };
      },
    };
    const parameters = agreed({ serverNoContextTakeover: true, clientNoContextTakeover: true });
    // The default codec's shared compressor and decompressor exist first.
    const { server, client } = pair(parameters);
    server.decode(client.encode(textFrame(chat(1))), NO_LIMIT);
    const own = new PerMessageDeflate("server", parameters, { codec: counting, threshold: 0 });
    const out = own.encode(textFrame(chat(2)));
    assert.equal(decoder.decode(own.decode(client.encode(textFrame(chat(3))), NO_LIMIT).payload), chat(3));
    assert.deepEqual(calls, ["compress", "decompress"]);
    assert.equal(decoder.decode(inflateAlone(out.payload)), chat(2));
  });

  test("PerMessageDeflate refuses settings out of range with a RangeError", () => {
    const bad: PerMessageDeflateOptions[] = [{ level: -1 }, { level: 10 }, { level: 1.5 }, { memLevel: 0 }, { memLevel: 10 }, {
      threshold: -1,
    }];
    for (const options of bad) {
      assert.throws(() => new PerMessageDeflate("server", agreed(), options), {
        name: "RangeError",
        message: /^Cannot configure permessage-deflate: /,
      }, JSON.stringify(options));
    }
  });
});

describe("releaseAfterIdle: codec state shrinks to the windows when a connection goes quiet", () => {
  /** pakoCodec, counting hibernate() and release() calls per direction. */
  function countingCodec() {
    const calls = { compressorHibernate: 0, decompressorHibernate: 0, compressorRelease: 0, decompressorRelease: 0 };
    const codec: DeflateCodec = {
      name: "counting pako",
      createCompressor(options) {
        const inner = pakoCodec.createCompressor(options);
        return {
          compress: (data, end) => inner.compress(data, end),
          reset: () => inner.reset(),
          release: () => (calls.compressorRelease++, inner.release()),
          hibernate: () => (calls.compressorHibernate++, inner.hibernate?.()),
        };
      },
      createDecompressor(windowBits) {
        const inner = pakoCodec.createDecompressor(windowBits);
        return {
          decompress: (data, end, max) => inner.decompress(data, end, max),
          reset: () => inner.reset(),
          release: () => (calls.decompressorRelease++, inner.release()),
          hibernate: () => (calls.decompressorHibernate++, inner.hibernate?.()),
        };
      },
    };
    return { codec, calls };
  }
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  test("after the idle period both codecs hibernate, and the next messages still refer to earlier ones", async () => {
    const { codec, calls } = countingCodec();
    const server = new PerMessageDeflate("server", agreed(), { threshold: 0, releaseAfterIdle: 30, codec });
    const client = new PerMessageDeflate("client", agreed(), { threshold: 0, releaseAfterIdle: 30, codec });
    const sendAndReceive = (s: string) => {
      const sent = server.encode(textFrame(s));
      return { wire: toHex(sent.payload), received: decoder.decode(client.decode(sent, NO_LIMIT).payload) };
    };
    assert.deepEqual(sendAndReceive("Hello"), { wire: "f2 48 cd c9 c9 07 00", received: "Hello" });
    await sleep(90);
    assert.equal(calls.compressorHibernate, 1, "the server's compressor hibernated");
    assert.equal(calls.decompressorHibernate, 1, "the client's decompressor hibernated");
    // §7.2.3.2: with context takeover the second "Hello" is a back reference: the window survived.
    assert.deepEqual(sendAndReceive("Hello"), { wire: "f2 00 11 00 00", received: "Hello" });
    for (let i = 0; i < 50; i++) {
      const message = chat(i);
      assert.equal(sendAndReceive(message).received, message);
      if (i % 10 === 0) await sleep(50);
    }
    assert.ok(calls.compressorHibernate >= 4, `${calls.compressorHibernate} hibernations`);
    server.release();
    client.release();
  });

  test("a message being sent or received in fragments is not cut short by hibernation", async () => {
    const { codec, calls } = countingCodec();
    const server = new PerMessageDeflate("server", agreed(), { threshold: 0, releaseAfterIdle: 20, codec });
    const client = new PerMessageDeflate("client", agreed(), { threshold: 0, releaseAfterIdle: 20, codec });
    // A first whole message arms the timer; then a fragmented one spans several idle periods.
    client.decode(server.encode(textFrame(chat(1))), NO_LIMIT);
    const parts = [chat(2), chat(3), chat(4)];
    const received: Uint8Array[] = [];
    for (const [i, part] of parts.entries()) {
      const last = i === parts.length - 1;
      const sent = server.encode(frame(i === 0 ? Opcode.Text : Opcode.Continuation, text(part), last));
      received.push(client.decode(sent, NO_LIMIT).payload);
      await sleep(60);
    }
    assert.equal(decoder.decode(concatBytes(received)), parts.join(""));
    assert.ok(calls.compressorHibernate >= 1, "hibernated after the message ended");
    server.release();
    client.release();
  });

  test("Infinity keeps the state (no hibernation); release() frees both codecs", async () => {
    const { codec, calls } = countingCodec();
    const server = new PerMessageDeflate("server", agreed(), { threshold: 0, releaseAfterIdle: Infinity, codec });
    server.decode(new PerMessageDeflate("client", agreed(), { threshold: 0 }).encode(textFrame("Hello")), NO_LIMIT);
    server.encode(textFrame("Hello"));
    await sleep(30);
    assert.equal(calls.compressorHibernate + calls.decompressorHibernate, 0);
    server.release();
    assert.deepEqual([calls.compressorRelease, calls.decompressorRelease], [1, 1]);
  });

  test("releaseAfterIdle must be a non-negative number of milliseconds", () => {
    for (const bad of [-1, NaN]) {
      assert.throws(() => new PerMessageDeflate("server", agreed(), { releaseAfterIdle: bad }), RangeError);
    }
  });
});
