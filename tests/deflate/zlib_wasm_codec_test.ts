import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import zlib from "node:zlib";
import type { Compressor } from "../../lib/deflate/codec.ts";
import { pakoCodec } from "../../lib/deflate/pako_codec.ts";
import {
  defaultCodec,
  INSTANCE_SOFT_LIMIT,
  zlibWasmAvailable,
  zlibWasmCodec,
  zlibWasmMemory,
} from "../../lib/deflate/zlib_wasm_codec.ts";
import { codecSuite } from "../_codec_suite.ts";
import { concatBytes, hex, pseudoRandomBytes } from "../_vectors.ts";

codecSuite(zlibWasmCodec);

const NO_LIMIT = Number.MAX_SAFE_INTEGER;
const TAIL = hex("00 00 ff ff");
const encoder = new TextEncoder();

/** JSON-like text of `length` bytes (realistic for chat and API traffic), varied by `seed`. */
function jsonText(length: number, seed: number): Uint8Array {
  let s = "";
  let i = seed;
  while (s.length < length) {
    s += JSON.stringify({ id: i, user: `user${i % 97}`, text: `message number ${i * 7919 % 10007}`, tags: ["a", "b"] });
    i++;
  }
  return encoder.encode(s.slice(0, length));
}

describe("zlibWasmCodec on this runtime", () => {
  test("WebAssembly can be compiled here, and the default codec is zlib's", () => {
    assert.equal(zlibWasmAvailable(), true);
    assert.equal(defaultCodec.name, zlibWasmCodec.name);
  });

  test("pako inflates what zlibWasmCodec compresses and the other way round, one window across 40 messages", () => {
    // Sizes cross the 64 KiB input staging and the 256 KiB output area of the WebAssembly side.
    const sizes = [0, 1, 100, 2048, 70_000, 16, 300_000, 5, 1 << 20, 64];
    const messages = Array.from({ length: 40 }, (_, i) =>
      i % 3 === 2 ? pseudoRandomBytes(sizes[i % sizes.length], i) : jsonText(sizes[i % sizes.length], i));
    for (const [from, to] of [[zlibWasmCodec, pakoCodec], [pakoCodec, zlibWasmCodec]]) {
      const c = from.createCompressor({ windowBits: 15, level: 6, memLevel: 8 });
      const d = to.createDecompressor(15);
      messages.forEach((message, i) => {
        const payload = c.compress(message, true);
        assert.deepEqual(d.decompress(payload, true, NO_LIMIT), message, `${from.name} -> ${to.name}: message ${i}`);
      });
      c.release();
      d.release();
    }
  });

  test("compressors sharing zlib's pending buffer, used in turn piece by piece (small, 200 KiB, random), each make their own valid stream", () => {
    const sizes = [10, 200_000, 3000, 70_000, 1];
    const streams = [0, 1, 2].map((k) => ({
      c: zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 }),
      d: pakoCodec.createDecompressor(15),
      pending: [] as Uint8Array[],
      message: new Uint8Array(0) as Uint8Array,
      k,
    }));
    for (let round = 0; round < 10; round++) {
      for (const s of streams) s.message = (round + s.k) % 3 === 0 ? pseudoRandomBytes(sizes[round % 5], round) : jsonText(sizes[(round + s.k) % 5], round);
      // Each message in 3 pieces; the pieces of the three streams interleave.
      for (let piece = 0; piece < 3; piece++) {
        for (const s of streams) {
          const third = Math.ceil(s.message.length / 3);
          s.pending.push(s.c.compress(s.message.subarray(piece * third, (piece + 1) * third), piece === 2));
        }
      }
      for (const s of streams) {
        const inflated = concatBytes(s.pending.map((p, i) => s.d.decompress(p, i === 2, NO_LIMIT)));
        assert.deepEqual(inflated, s.message, `round ${round}, stream ${s.k}`);
        s.pending = [];
      }
    }
    for (const s of streams) s.c.release();
  });

  test("node:zlib inflates a 3 MiB incompressible message compressed in 7 pieces (output larger than the output area)", () => {
    const data = pseudoRandomBytes(3 << 20, 5);
    const c = zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 });
    const pieces: Uint8Array[] = [];
    for (let i = 0; i < 7; i++) pieces.push(c.compress(data.subarray(i * (data.length / 7 | 0), i === 6 ? data.length : (i + 1) * (data.length / 7 | 0)), i === 6));
    const inflated = zlib.inflateRawSync(concatBytes([...pieces, TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    assert.equal(inflated.length, data.length);
    assert.ok(inflated.equals(data), "inflated bytes differ");
    c.release();
  });

  test("every compressor still works after the streams outgrow one instance (a new instance takes new streams)", () => {
    // Each compressor at 15 bits / memLevel 8 holds ~256 KiB: enough of them fill INSTANCE_SOFT_LIMIT.
    const count = Math.ceil(INSTANCE_SOFT_LIMIT / (256 * 1024)) + 50;
    const before = zlibWasmMemory().instances;
    const compressors: Compressor[] = [];
    const firsts: Uint8Array[] = [];
    const message = jsonText(300, 1);
    for (let i = 0; i < count; i++) {
      const c = zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 });
      compressors.push(c);
      firsts.push(c.compress(message, true)); // allocates the stream
    }
    const during = zlibWasmMemory();
    assert.ok(during.instances >= before + 1, `${during.instances} instances (before: ${before})`);
    assert.ok(during.bytes >= INSTANCE_SOFT_LIMIT, `${during.bytes} bytes of linear memory`);
    // Each stream kept its own window: its second message is a back reference to its first, and both
    // inflate in order with the peer's one window.
    for (const [i, c] of compressors.entries()) {
      const second = c.compress(message, true);
      assert.ok(second.length < 10, `compressor ${i}: a repeated message takes ${second.length} bytes`);
      const d = pakoCodec.createDecompressor(15);
      assert.deepEqual(d.decompress(firsts[i], true, NO_LIMIT), message, `compressor ${i}: first`);
      assert.deepEqual(d.decompress(second, true, NO_LIMIT), message, `compressor ${i}: second`);
      d.release();
    }
    for (const c of compressors) c.release();
  });

  test("its output is plain zlib 1.2.13's, byte for byte (the build's UNALIGNED_OK match loop finds the same matches)", () => {
    // The digest was taken from a build of Debian's zlib 1.2.13 without UNALIGNED_OK (and an 8-byte match
    // loop, tried and dropped for no measurable gain, gave it too): 300 messages up to 70 KB, one window per
    // setting, at five settings of windowBits, memLevel and level.
    const hash = createHash("sha256");
    let total = 0;
    for (const [windowBits, memLevel, level] of [[15, 8, 6], [9, 1, 9], [12, 5, 1], [15, 9, 4], [10, 4, 6]]) {
      const c = zlibWasmCodec.createCompressor({ windowBits, level, memLevel });
      for (let i = 0; i < 60; i++) {
        let text = "";
        for (let j = 0; text.length < (i * 997) % 70000; j++) {
          text += JSON.stringify({ i, j, s: "abc".repeat(j % 7), r: (i * j * 7919) % 1013 });
        }
        const out = c.compress(encoder.encode(text), true);
        total += out.length;
        hash.update(out);
      }
      c.release();
    }
    assert.equal(total, 1375536);
    assert.equal(hash.digest("hex"), "fe9c637882509294a888b1e9a5824b920471cbfdd28ae483b25d2b5a02dff79f");
  });

  test("a corrupt message fails with 1007 and zlib's reason, and the decompressor starts afresh", () => {
    const d = zlibWasmCodec.createDecompressor(15);
    assert.throws(() => d.decompress(hex("ff ff ff"), true, NO_LIMIT), (error: Error & { code?: number }) => {
      assert.equal(error.code, 1007);
      assert.match(error.message, /^Cannot inflate message: invalid block type$/);
      return true;
    });
    assert.deepEqual([...d.decompress(hex("f2 48 cd c9 c9 07 00"), true, NO_LIMIT)], [...encoder.encode("Hello")]);
    d.release();
  });
});

describe("zlibWasmCodec's instances", () => {
  test("an instance left with no stream is let go: the next stream starts a fresh instance, and the old one can be collected", () => {
    // 30 compressors at 15 bits / memLevel 8 grow an instance past the size a quiet server keeps (4 MiB).
    const compressors = Array.from({ length: 30 }, () => zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 }));
    for (const c of compressors) c.compress(jsonText(200, 3), true);
    const before = zlibWasmMemory().instances;
    for (const c of compressors) c.release();
    const next = zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 });
    const payload = next.compress(jsonText(200, 4), true);
    assert.deepEqual(pakoCodec.createDecompressor(15).decompress(payload, true, NO_LIMIT), jsonText(200, 4));
    // The emptied instance is not collected yet (no GC here), and a new one took the new stream.
    assert.equal(zlibWasmMemory().instances, before + 1);
    next.release();
  });

  test("hibernating every stream lets the instance go too, and each codec wakes in a new one with its window", () => {
    const message = jsonText(3000, 5);
    const pairs = Array.from({ length: 30 }, () => ({
      c: zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 }),
      d: zlibWasmCodec.createDecompressor(15),
    }));
    for (const { c, d } of pairs) assert.deepEqual(d.decompress(c.compress(message, true), true, NO_LIMIT), message);
    const before = zlibWasmMemory().instances;
    for (const { c, d } of pairs) {
      c.hibernate!();
      d.hibernate!();
    }
    for (const { c, d } of pairs) {
      const again = c.compress(message, true);
      assert.ok(again.length < 40, `the second message refers to the first: ${again.length} bytes`);
      assert.deepEqual(d.decompress(again, true, NO_LIMIT), message);
      c.release();
      d.release();
    }
    assert.equal(zlibWasmMemory().instances, before + 1);
  });
});
