import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import zlib from "node:zlib";
import type { Compressor, DeflateCodec, Decompressor } from "../lib/deflate/codec.ts";
import { ProtocolError } from "../lib/core/protocol_error.ts";
import { concatBytes, hex, pseudoRandomBytes, splits, toHex } from "./_vectors.ts";

/**
 * The behaviour every permessage-deflate codec must have (RFC 7692 §7.2), run by each codec's own test
 * file: RFC vectors, every split, corrupt data and limits, cross-checks with node:zlib, 8-bit windows,
 * hibernation.
 *
 * @param codec The codec under test.
 */
export function codecSuite(codec: DeflateCodec): void {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const text = (s: string) => encoder.encode(s);
  const EMPTY = new Uint8Array(0);
  /** RFC 7692 §7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff". */
  const TAIL = hex("00 00 ff ff");
  const NO_LIMIT = Number.MAX_SAFE_INTEGER;

  const compressor = (windowBits = 15, level = 6, memLevel = 8): Compressor =>
    codec.createCompressor({ windowBits, level, memLevel });

  const WORDS = (
    "the quick brown fox jumps over lazy dog websocket frame message deflate window context takeover " +
    "server client compress inflate sliding buffer octet payload extension negotiation header token"
  ).split(" ");

  /** Deterministic varied English-like text: repeats at many distances, near and far. */
  function variedText(length: number, seed: number): Uint8Array {
    let state = seed >>> 0;
    let s = "";
    while (s.length < length) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      const word = WORDS[(state >>> 16) % WORDS.length];
      s += (state & 0x700) === 0 ? `${word}${state % 1000}. ` : `${word} `;
    }
    return text(s.slice(0, length));
  }

  function equalBytes(actual: Uint8Array, expected: Uint8Array, message: string): void {
    const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
    const b = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
    if (a.equals(b)) return;
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    assert.fail(`${message}: ${actual.length} bytes, expected ${expected.length}; first difference at ${i}`);
  }

  /** Calls `fn` and checks it throws a ProtocolError with `code` and a message matching `cause`. */
  function assertProtocolError(fn: () => unknown, code: number, cause: RegExp, label = ""): void {
    let error: unknown;
    try {
      fn();
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof ProtocolError, `${label}: expected a ProtocolError, got ${error}`);
    assert.equal(error.code, code, `${label}: close code`);
    assert.match(error.message, cause, `${label}: message`);
  }

  /** Inflates one message delivered in pieces; the last piece ends it. */
  function inflatePieces(decompressor: Decompressor, pieces: Uint8Array[], maxSize = NO_LIMIT): Uint8Array {
    if (pieces.length === 0) return decompressor.decompress(EMPTY, true, maxSize);
    return concatBytes(pieces.map((piece, i) => decompressor.decompress(piece, i === pieces.length - 1, maxSize)));
  }

  const SYNC = { finishFlush: zlib.constants.Z_SYNC_FLUSH };

  /** node:zlib inflates a payload (the tail appended), with an output chunk of `chunkSize`. */
  function zlibInflate(payload: Uint8Array, windowBits: number, chunkSize = 16 * 1024): Uint8Array {
    return new Uint8Array(zlib.inflateRawSync(concatBytes([payload, TAIL]), { ...SYNC, windowBits, chunkSize }));
  }

  describe("RFC 7692 §7.2.3 examples: compression", () => {
    test(`${codec.name} compresses "Hello" to f2 48 cd c9 c9 07 00 (§7.2.3.1)`, () => {
      assert.equal(toHex(compressor().compress(text("Hello"), true)), "f2 48 cd c9 c9 07 00");
    });

    test(`${codec.name} compresses a second "Hello" with the same compressor to f2 00 11 00 00 (§7.2.3.2)`, () => {
      const c = compressor();
      assert.equal(toHex(c.compress(text("Hello"), true)), "f2 48 cd c9 c9 07 00");
      assert.equal(toHex(c.compress(text("Hello"), true)), "f2 00 11 00 00");
    });

    test(`${codec.name} compresses "Hello" afresh after reset() and release() (no context takeover)`, () => {
      const c = compressor();
      c.compress(text("Hello"), true);
      c.reset();
      assert.equal(toHex(c.compress(text("Hello"), true)), "f2 48 cd c9 c9 07 00");
      c.release();
      assert.equal(toHex(c.compress(text("Hello"), true)), "f2 48 cd c9 c9 07 00");
      assert.equal(toHex(c.compress(text("Hello"), true)), "f2 00 11 00 00");
    });

    test(`${codec.name} compresses an empty message to 00 (§7.2.3.6), also right after another message`, () => {
      const c = compressor();
      assert.equal(toHex(c.compress(EMPTY, true)), "00");
      assert.equal(toHex(c.compress(EMPTY, true)), "00");
      assert.equal(toHex(c.compress(text("Hello"), true)), "f2 48 cd c9 c9 07 00");
      // zlib refuses a flush right after a flush with no input: the codec must still end the message.
      assert.equal(toHex(c.compress(EMPTY, true)), "00");
      assert.equal(toHex(c.compress(text("Hello"), true)), "f2 00 11 00 00");
      const d = codec.createDecompressor(15);
      for (const payload of ["00", "00", "f2 48 cd c9 c9 07 00", "00", "f2 00 11 00 00"]) {
        d.decompress(hex(payload), true, NO_LIMIT);
      }
    });

    test(`${codec.name} keeps 00 00 ff ff on non-final pieces and ends a message with an empty last piece`, () => {
      const c = compressor();
      const first = c.compress(text("Hel"), false);
      assert.equal(toHex(first.subarray(first.length - 4)), "00 00 ff ff", "§7.2.1: the removal ... MUST NOT be done");
      const nothing = c.compress(EMPTY, false);
      const last = c.compress(EMPTY, true);
      assert.equal(toHex(last), "00", "§7.2.3.6: the last fragment carries an empty block");
      const message = concatBytes([first, nothing, last]);
      assert.equal(decoder.decode(codec.createDecompressor(15).decompress(message, true, NO_LIMIT)), "Hel");
      assert.equal(decoder.decode(zlibInflate(message, 15)), "Hel");
      // The window holds "Hel" for the next message.
      const next = c.compress(text("Hello"), true);
      const d = codec.createDecompressor(15);
      d.decompress(message, true, NO_LIMIT);
      assert.equal(decoder.decode(d.decompress(next, true, NO_LIMIT)), "Hello");
    });

    test(`${codec.name}'s pieces of one message concatenate to a valid message`, () => {
      const data = variedText(50_000, 7);
      const c = compressor();
      const pieces: Uint8Array[] = [];
      for (let i = 0; i < data.length; i += 7_000) {
        pieces.push(c.compress(data.subarray(i, i + 7_000), i + 7_000 >= data.length));
      }
      equalBytes(inflatePieces(codec.createDecompressor(15), pieces), data, "ours, piece by piece");
      equalBytes(zlibInflate(concatBytes(pieces), 15), data, "node:zlib, whole");
    });
  });

  /** The §7.2.3 payloads and what they inflate to. */
  const VECTORS: [string, string, string][] = [
    ["§7.2.3.1 one compressed block", "f2 48 cd c9 c9 07 00", "Hello"],
    ["§7.2.3.3 a block with no compression", "00 05 00 fa ff 48 65 6c 6c 6f 00", "Hello"],
    ["§7.2.3.4 a block with BFINAL set, as the RFC shows it", "f3 48 cd c9 c9 07 00 00", "Hello"],
    ["§7.2.3.4 a BFINAL block with nothing after it", "f3 48 cd c9 c9 07 00", "Hello"],
    ["§7.2.3.5 two blocks", "f2 48 05 00 00 00 ff ff ca c9 c9 07 00", "Hello"],
    ["§7.2.3.6 an empty block", "00", ""],
  ];

  describe("RFC 7692 §7.2.3 examples: decompression", () => {
    for (const [name, payload, expected] of VECTORS) {
      test(`${codec.name} inflates ${name} whole and split at every offset`, () => {
        for (const { name: how, chunks } of splits(hex(payload))) {
          const d = codec.createDecompressor(15);
          assert.equal(decoder.decode(inflatePieces(d, chunks)), expected, how);
          // The same decompressor goes on with the next message, taking over the window.
          assert.equal(decoder.decode(d.decompress(hex("f2 48 cd c9 c9 07 00"), true, NO_LIMIT)), "Hello", `${how}: next`);
        }
      });
    }

    test(`${codec.name} inflates §7.2.3.2: the second "Hello" references the first`, () => {
      const d = codec.createDecompressor(15);
      assert.equal(decoder.decode(d.decompress(hex("f2 48 cd c9 c9 07 00"), true, NO_LIMIT)), "Hello");
      assert.equal(decoder.decode(d.decompress(hex("f2 00 11 00 00"), true, NO_LIMIT)), "Hello");
      d.reset();
      assertProtocolError(
        () => d.decompress(hex("f2 00 11 00 00"), true, NO_LIMIT),
        1007,
        /^Cannot inflate message: invalid distance too far back$/,
        "after reset() the window is gone",
      );
    });

    for (const [name, payload] of VECTORS.slice(2, 4)) {
      test(`${codec.name} keeps the window after ${name} (§7.2.2: "MUST decompress each new message using the LZ77 sliding window used to process the last compressed message")`, () => {
        const d = codec.createDecompressor(15);
        assert.equal(decoder.decode(d.decompress(hex(payload), true, NO_LIMIT)), "Hello");
        assert.equal(decoder.decode(d.decompress(hex("f2 00 11 00 00"), true, NO_LIMIT)), "Hello");
        assert.equal(decoder.decode(d.decompress(hex(payload), true, NO_LIMIT)), "Hello");
        assert.equal(decoder.decode(d.decompress(hex("00"), true, NO_LIMIT)), "");
        assert.equal(decoder.decode(d.decompress(hex("f2 00 11 00 00"), true, NO_LIMIT)), "Hello");
      });
    }

    test(`${codec.name} inflates blocks after a BFINAL block in one message (§7.2.1: "The next DEFLATE block follows the padded data")`, () => {
      // "He" in a BFINAL block (node:zlib finishes the stream), then "llo" sync-flushed by a second stream.
      const he = zlib.deflateRawSync(text("He"));
      const llo = zlib.deflateRawSync(text("llo"), SYNC);
      assert.equal(he[0] & 1, 1, "BFINAL is set on the first block");
      assert.equal(toHex(llo.subarray(llo.length - 4)), "00 00 ff ff");
      const payload = concatBytes([he, llo.subarray(0, llo.length - 4)]);
      for (const { name, chunks } of splits(payload)) {
        const d = codec.createDecompressor(15);
        assert.equal(decoder.decode(inflatePieces(d, chunks)), "Hello", name);
        assert.equal(decoder.decode(d.decompress(hex("f2 00 11 00 00"), true, NO_LIMIT)), "Hello", `${name}: next`);
      }
    });

    test(`${codec.name} inflates messages each made by CompressionStream-like one-shot deflate (BFINAL, no context)`, () => {
      const d = codec.createDecompressor(15);
      for (let i = 0; i < 20; i++) {
        const data = variedText(100 + i * 50, i);
        equalBytes(d.decompress(zlib.deflateRawSync(data), true, NO_LIMIT), data, `message ${i}`);
      }
    });
  });

  describe("RFC 7692 §7.2.2 corrupt data and limits", () => {
    const CORRUPT: [string, string, RegExp][] = [
      ["a reserved block type (BTYPE 11)", "ff ff ff", /invalid block type/],
      ["stored block lengths that do not match", "00 05 00 00 00 48 65 6c 6c 6f", /invalid stored block lengths/],
      ["a distance before the start of the window", "f2 00 11 00 00", /invalid distance too far back/],
      ["too many length symbols in a dynamic block", "fc ff ff ff ff", /too many length or distance symbols/],
      ["random bytes", toHex(pseudoRandomBytes(64, 3)), /^Cannot inflate message: /],
      // §7.2.1: the appended 4 octets are the LEN and NLEN of the closing empty stored block; anything else
      // leaves the inflater inside a block and the next message misread.
      ["a message cut inside a block", "f2 48 cd c9", /^Cannot inflate message: it does not end at a DEFLATE block boundary$/],
      ["§7.2.3.1 without its last octet", "f2 48 cd c9 c9 07", /does not end at a DEFLATE block boundary/],
      ["a message cut after its first octet", "f2", /does not end at a DEFLATE block boundary/],
      ["a message that kept its 00 00 ff ff", "f2 48 cd c9 c9 07 00 00 00 ff ff", /does not end at a DEFLATE block boundary/],
    ];
    for (const [name, payload, cause] of CORRUPT) {
      test(`${codec.name} fails ${name} with 1007`, () => {
        for (const { name: how, chunks } of splits(hex(payload))) {
          assertProtocolError(() => inflatePieces(codec.createDecompressor(15), chunks), 1007, cause, how);
        }
      });
    }

    test(`${codec.name} starts afresh after a corrupt message`, () => {
      const d = codec.createDecompressor(15);
      assertProtocolError(() => d.decompress(hex("f2 48 cd c9"), true, NO_LIMIT), 1007, /block boundary/);
      assert.equal(decoder.decode(d.decompress(hex("f2 48 cd c9 c9 07 00"), true, NO_LIMIT)), "Hello");
    });

    test(`${codec.name} enforces maxSize with 1009 at exactly one byte past it`, () => {
      const data = variedText(10_000, 1);
      const payload = compressor().compress(data, true);
      equalBytes(codec.createDecompressor(15).decompress(payload, true, 10_000), data, "exactly maxSize");
      assertProtocolError(
        () => codec.createDecompressor(15).decompress(payload, true, 9_999),
        1009,
        /^Cannot inflate message: more than the limit of 9999 bytes$/,
      );
      assertProtocolError(() => codec.createDecompressor(15).decompress(payload, true, 0), 1009, /limit of 0 bytes/);
    });

    // DEFLATE cannot do better than about 1032:1 (258 bytes per 2-bit code), so 64 MiB takes 64 KiB at least;
    // ~1 KiB compressed inflates to ~1 MiB.
    const BOMB_SIZE = 64 * 1024 * 1024;
    const bomb = (() => {
      const sync = zlib.deflateRawSync(new Uint8Array(BOMB_SIZE), { ...SYNC, level: 9 });
      return sync.subarray(0, sync.length - 4);
    })();
    const smallBomb = (() => {
      const sync = zlib.deflateRawSync(new Uint8Array(1024 * 1024), { ...SYNC, level: 9 });
      return sync.subarray(0, sync.length - 4);
    })();

    /** Fastest of `runs` timings of `fn`, in milliseconds. */
    function fastest(runs: number, fn: () => void): number {
      let best = Infinity;
      for (let i = 0; i < runs; i++) {
        const start = performance.now();
        fn();
        best = Math.min(best, performance.now() - start);
      }
      return best;
    }

    const tooBig = (payload: Uint8Array, maxSize: number) => () =>
      assertProtocolError(() => codec.createDecompressor(15).decompress(payload, true, maxSize), 1009, /limit/);

    test(`${codec.name} stops a 64 MiB bomb at 1 MiB with 1009, long before inflating it all`, () => {
      assert.ok(bomb.length < 70 * 1024, `the bomb is ${bomb.length} bytes`);
      tooBig(smallBomb, 64 * 1024)();
      // Fed in pieces, the limit applies to each piece: the caller passes what remains of the message's.
      const d = codec.createDecompressor(15);
      let remaining = 1 << 20;
      assertProtocolError(() => {
        for (let i = 0; i < bomb.length; i += 1000) {
          remaining -= d.decompress(bomb.subarray(i, i + 1000), i + 1000 >= bomb.length, remaining).length;
        }
      }, 1009, /^Cannot inflate message: more than the limit of \d+ bytes$/);
      assert.ok(remaining < 1032 * 1000, `${remaining} bytes remained at the piece that went past the limit`);
      // Time stands in for bytes inflated: stopping at 1 MiB must cost a small part of inflating 64 MiB.
      const limited = fastest(3, tooBig(bomb, 1 << 20));
      const full = fastest(1, () => {
        assert.equal(codec.createDecompressor(15).decompress(bomb, true, BOMB_SIZE).length, BOMB_SIZE);
      });
      assert.ok(limited * 8 < full, `stopping took ${limited.toFixed(1)} ms, inflating it all ${full.toFixed(1)} ms`);
    });

    test(`${codec.name} inflates no more than maxSize plus 64 KiB, even after a large message grew its buffers`, () => {
      // Compressing 3 MiB of incompressible data grows the codec's shared output buffer to 4 MiB.
      compressor().compress(pseudoRandomBytes(3 * 1024 * 1024, 9), true);
      // Time stands in for bytes inflated: with maxSize 0 it may inflate up to 64 KiB, which costs less than
      // inflating a 512 KiB message; inflating 4 MiB would cost 8 times more.
      const reference = (() => {
        const sync = zlib.deflateRawSync(new Uint8Array(512 * 1024), { ...SYNC, level: 9 });
        return sync.subarray(0, sync.length - 4);
      })();
      const inflateReference = () => {
        assert.equal(codec.createDecompressor(15).decompress(reference, true, NO_LIMIT).length, 512 * 1024);
      };
      inflateReference();
      const limited = fastest(7, tooBig(bomb, 0));
      const full = fastest(7, inflateReference);
      assert.ok(limited < full, `maxSize 0 took ${limited.toFixed(2)} ms, inflating 512 KiB ${full.toFixed(2)} ms`);
    });
  });

  /** Compresses messages with one node:zlib stream, sync-flushing each: they share one window. */
  async function zlibStreamMessages(data: Uint8Array[], windowBits: number): Promise<Uint8Array[]> {
    const deflate = zlib.createDeflateRaw({ windowBits });
    const chunks: Uint8Array[] = [];
    deflate.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    const out: Uint8Array[] = [];
    for (const message of data) {
      deflate.write(message);
      await new Promise<void>((resolve) => deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
      out.push(concatBytes(chunks));
      chunks.length = 0;
    }
    deflate.close();
    return out;
  }

  describe("cross-check with node:zlib", () => {
    const SIZES = [0, 1, 100, 16 * 1024, 1024 * 1024];
    const messages = SIZES.flatMap((size) => [
      { name: `${size} B of text`, data: variedText(size, size + 1) },
      { name: `${size} random bytes`, data: pseudoRandomBytes(size, size + 2) },
    ]);
    const total = concatBytes(messages.map((m) => m.data));

    for (let windowBits = 8; windowBits <= 15; windowBits++) {
      test(`node:zlib inflates what codec compresses at windowBits ${windowBits}, with and without context takeover`, () => {
        // A 64-byte output chunk makes zlib check every distance against the window, not the output buffer.
        const chunkSize = 64;
        const takeover = compressor(windowBits);
        const payloads = messages.map((m) => takeover.compress(m.data, true));
        // Context takeover: one stream, each message sync-flushed; inflated in one go.
        const stream = concatBytes(payloads.flatMap((p) => [p, TAIL]));
        equalBytes(zlibInflate(stream.subarray(0, stream.length - 4), windowBits, chunkSize), total, "one stream");
        const reset = compressor(windowBits);
        for (const { name, data } of messages) {
          const payload = reset.compress(data, true);
          reset.reset();
          equalBytes(zlibInflate(payload, windowBits, chunkSize), data, `reset: ${name}`);
        }
      });
    }

    for (let windowBits = 9; windowBits <= 15; windowBits++) {
      test(`${codec.name} inflates what node:zlib compresses at windowBits ${windowBits}`, () => {
        const d = codec.createDecompressor(windowBits);
        for (const { name, data } of messages) {
          const sync = zlib.deflateRawSync(data, { ...SYNC, windowBits });
          assert.equal(toHex(sync.subarray(sync.length - 4)), "00 00 ff ff", name);
          equalBytes(d.decompress(sync.subarray(0, sync.length - 4), true, NO_LIMIT), data, name);
        }
      });
    }

    for (const windowBits of [9, 12, 15]) {
      test(`${codec.name} inflates, with one decompressor, messages sharing node:zlib's window at windowBits ${windowBits}`, async () => {
        // Similar messages, so that each references the ones before.
        const data = Array.from({ length: 30 }, (_, i) => variedText(i % 5 === 0 ? 0 : 200 + i * 10, i % 3));
        data.push(variedText(64 * 1024, 5), variedText(300, 5));
        const compressed = await zlibStreamMessages(data, windowBits);
        const d = codec.createDecompressor(windowBits);
        let referenced = 0;
        for (let i = 0; i < data.length; i++) {
          const payload = compressed[i];
          assert.equal(toHex(payload.subarray(payload.length - 4)), "00 00 ff ff", `message ${i}`);
          const body = payload.subarray(0, payload.length - 4);
          equalBytes(d.decompress(body, true, NO_LIMIT), data[i], `message ${i}`);
          // It really takes over the window: a fresh decompressor cannot read it alone.
          try {
            codec.createDecompressor(windowBits).decompress(body, true, NO_LIMIT);
          } catch (error) {
            assert.ok(error instanceof ProtocolError && error.code === 1007);
            referenced++;
          }
        }
        assert.ok(referenced > 10, `${referenced} messages referenced earlier ones`);
      });
    }
  });

  describe("8-bit windows", () => {
    // zlib cannot deflate with an 8-bit window; the codec runs it at 9 bits, claiming distances of at most
    // 512 - 262 = 250 bytes, within the 256 bytes the peer keeps.
    const data = variedText(100 * 1024, 42);

    test(`what ${codec.name} compresses at windowBits 8 inflates with node:zlib limited to an 8-bit window`, () => {
      const payload = compressor(8).compress(data, true);
      // A 64-byte output chunk makes zlib check every distance against the 256-byte window.
      equalBytes(zlibInflate(payload, 8, 64), data, "windowBits 8");
      // The check bites: the same text compressed with a 10-bit window does not inflate in 8 bits.
      assert.throws(() => zlibInflate(compressor(10).compress(data, true), 8, 64), /invalid distance too far back/);
    });

    test(`what ${codec.name} compresses at windowBits 8 inflates with ${codec.name}.createDecompressor(8), message by message`, () => {
      // Small messages with context takeover: every reference into an earlier message goes through the window.
      const sizes = [1, 37, 100, 200, 250, 255, 256, 257, 300, 1000];
      const pieces: Uint8Array[] = [];
      for (let offset = 0, i = 0; offset < data.length; i++) {
        pieces.push(data.subarray(offset, offset + sizes[i % sizes.length]));
        offset += sizes[i % sizes.length];
      }
      const inflateAll = (c: Compressor, windowBits: number) => {
        const d = codec.createDecompressor(windowBits);
        for (const [i, piece] of pieces.entries()) equalBytes(d.decompress(c.compress(piece, true), true, NO_LIMIT), piece, `${i}`);
      };
      inflateAll(compressor(8), 8);
      assertProtocolError(() => inflateAll(compressor(10), 8), 1007, /invalid distance too far back/, "10 bits into 8");
    });
  });

  describe("hibernate(): idle codecs keep only their window", () => {
    const hibernate = (codec: Compressor | Decompressor) => {
      assert.ok(codec.hibernate !== undefined, "codec implements hibernate()");
      codec.hibernate();
    };
    // Similar messages of mixed sizes, so each references earlier ones, some farther back than 32 KiB.
    const sizes = [0, 1, 50, 200, 2048, 40 * 1024, 300, 17, 5000, 70 * 1024, 120, 64];
    const data = sizes.map((size, i) => variedText(size, i % 3));

    for (const windowBits of [8, 9, 12, 15]) {
      test(`a compressor hibernated between any messages still makes a stream node:zlib inflates (windowBits ${windowBits})`, () => {
        for (let every = 1; every <= 3; every++) {
          const c = compressor(windowBits);
          const payloads = data.map((message, i) => {
            const payload = c.compress(message, true);
            if (i % every === 0) hibernate(c);
            return payload;
          });
          // One inflater over the whole stream, with a 64-byte output chunk: every distance is checked
          // against the negotiated window, so a reference the peer could not follow fails here.
          const stream = concatBytes(payloads.flatMap((p) => [p, TAIL]));
          equalBytes(zlibInflate(stream.subarray(0, stream.length - 4), windowBits, 64), concatBytes(data), `every ${every}`);
        }
      });
    }

    test("a hibernated compressor still refers to earlier messages (context kept, not reset)", () => {
      const hello = text("Hello");
      const c = compressor();
      c.compress(hello, true);
      hibernate(c);
      // RFC 7692 §7.2.3.2: the second "Hello" with context is f2 00 11 00 00 (a back reference), not the
      // 7 bytes of a fresh one.
      assert.equal(toHex(c.compress(hello, true)), "f2 00 11 00 00");
    });

    test("hibernate() on a compressor that compressed nothing, twice, or after reset() is harmless", () => {
      const c = compressor();
      hibernate(c);
      hibernate(c);
      assert.equal(toHex(c.compress(text("Hello"), true)), "f2 48 cd c9 c9 07 00");
      c.reset();
      hibernate(c);
      assert.equal(toHex(c.compress(text("Hello"), true)), "f2 48 cd c9 c9 07 00", "reset forgets the window");
    });

    for (const windowBits of [9, 12, 15]) {
      test(`a decompressor hibernated between any messages inflates node:zlib's shared-window stream (windowBits ${windowBits})`, async () => {
        const compressed = await zlibStreamMessages(data, windowBits);
        for (let every = 1; every <= 3; every++) {
          const d = codec.createDecompressor(windowBits);
          for (const [i, payload] of compressed.entries()) {
            equalBytes(d.decompress(payload.subarray(0, payload.length - 4), true, NO_LIMIT), data[i], `every ${every}, message ${i}`);
            if (i % every === 0) hibernate(d);
          }
        }
      });
    }

    test("a decompressor hibernated after a wrapped window (more than 2^windowBits inflated) restores it in order", () => {
      // 9-bit window: 512 bytes; messages that reference exactly the bytes around the ring's seam.
      const c = compressor(9);
      const d = codec.createDecompressor(9);
      for (let i = 0; i < 40; i++) {
        const message = variedText(100 + (i * 37) % 700, i % 2);
        equalBytes(d.decompress(c.compress(message, true), true, NO_LIMIT), message, `message ${i}`);
        hibernate(d);
      }
    });
  });
}
