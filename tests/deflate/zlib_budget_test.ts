import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Compressor } from "../../lib/deflate/codec.ts";
import {
  DEFAULT_COMPRESSOR_BUDGET,
  setZlibWasmCompressorBudget,
  zlibWasmCodec,
  zlibWasmMemory,
} from "../../lib/deflate/zlib_wasm_codec.ts";
import { PerMessageDeflate } from "../../lib/deflate/permessage_deflate.ts";
import { pakoCodec } from "../../lib/deflate/pako_codec.ts";

const encoder = new TextEncoder();
const NO_LIMIT = Number.MAX_SAFE_INTEGER;
/** zlib's state for one compressor at 15 bits / memLevel 8, as the budget counts it. */
const STATE_15_8 = 2 ** 17 + 2 ** 16;

/** JSON-like text of `length` bytes, varied by `seed`. */
function jsonText(length: number, seed: number): Uint8Array {
  let s = "";
  for (let i = seed; s.length < length; i++) s += JSON.stringify({ id: i, user: `user${i % 97}`, text: `message ${i * 7919 % 10007}` });
  return encoder.encode(s.slice(0, length));
}

/** Runs `body` with the budget set to `bytes`, then restores it. */
function withBudget(bytes: number, body: () => void): void {
  const previous = setZlibWasmCompressorBudget(bytes);
  try {
    body();
  } finally {
    setZlibWasmCompressorBudget(previous);
  }
}

describe("the compressor budget (zlibWasmCodec)", () => {
  test("setZlibWasmCompressorBudget returns the budget it replaces and refuses what is not a number of bytes", () => {
    const previous = setZlibWasmCompressorBudget(1024);
    assert.equal(previous, DEFAULT_COMPRESSOR_BUDGET);
    assert.equal(setZlibWasmCompressorBudget(previous), 1024);
    for (const bad of [-1, Number.NaN]) {
      assert.throws(() => setZlibWasmCompressorBudget(bad), (error: Error) => {
        assert.ok(error instanceof RangeError);
        assert.match(error.message, /^Cannot set compressor budget: /);
        return true;
      });
    }
    assert.equal(setZlibWasmCompressorBudget(previous), previous);
  });

  test("compressors taking turns beyond the budget are evicted and woken with their window: every stream stays valid", () => {
    withBudget(2 * STATE_15_8, () => {
      const compressors: Compressor[] = Array.from({ length: 6 }, () => zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 }));
      // Each connection's peer: pako, one window per connection (RFC 7692 §7.2.2).
      const peers = compressors.map(() => pakoCodec.createDecompressor(15));
      for (let round = 0; round < 5; round++) {
        for (const [i, c] of compressors.entries()) {
          const text = jsonText(1500, i * 10 + (round % 2)); // messages repeat every other round
          const bytes = c.compress(text, true);
          assert.deepEqual(peers[i].decompress(bytes, true, NO_LIMIT), text, `compressor ${i}, round ${round}`);
          // From the third round on, the message is the one of two rounds before: with its window (kept
          // across the eviction) the compressor refers back to it.
          if (round >= 2) assert.ok(bytes.length < 40, `compressor ${i}, round ${round}: ${bytes.length} bytes`);
        }
      }
      for (const codec of [...compressors, ...peers]) codec.release();
    });
  });

  test("a compressor evicted mid-message (pieces are sync-flushed) finishes it validly", () => {
    withBudget(STATE_15_8, () => {
      const a = zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 });
      const b = zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 });
      const text = jsonText(4000, 7);
      const first = a.compress(text.subarray(0, 2000), false);
      b.compress(jsonText(500, 1), true); // evicts a (the budget holds one)
      const last = a.compress(text.subarray(2000), true);
      const d = pakoCodec.createDecompressor(15);
      const head = d.decompress(first, false, NO_LIMIT);
      const tail = d.decompress(last, true, NO_LIMIT);
      assert.deepEqual([...head, ...tail], [...text]);
      for (const codec of [a, b, d]) codec.release();
    });
  });

  test("with the budget, 400 compressors that each sent a message hold less linear memory than 400 streams", () => {
    withBudget(8 * STATE_15_8, () => {
      const before = zlibWasmMemory().bytes;
      const compressors = Array.from({ length: 400 }, () => zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 }));
      for (const [i, c] of compressors.entries()) c.compress(jsonText(2000, i), true);
      const grown = zlibWasmMemory().bytes - before;
      // Without the budget: 400 streams of 192 KiB (75 MiB). With it: about 8 of them, where freed.
      assert.ok(grown < 100 * STATE_15_8, `grew by ${grown} bytes`);
      for (const c of compressors) c.release();
    });
  });
});

describe("PerMessageDeflate's memLevel default", () => {
  test("is 7: a message compresses as zlib's compressor at memLevel 7 does", () => {
    const parameters = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
    const server = new PerMessageDeflate("server", parameters, { threshold: 0 });
    // Letters of a pseudo-random sequence: ~30,000 literals, more than a block holds at memLevel 7
    // (2^(7+6) symbols) and fewer than at 8, so the two settings end blocks in different places.
    let x = 1;
    const text = Uint8Array.from({ length: 30_000 }, () => 97 + ((x = (x * 1103515245 + 12345) >>> 0) >>> 16) % 26);
    const frame = server.encode({ fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 0x1, payload: text });
    const at = (memLevel: number) => {
      const compressor = zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel });
      const bytes = compressor.compress(text, true);
      compressor.release();
      return bytes;
    };
    assert.notDeepEqual(at(7), at(8)); // else this test could not tell them apart
    assert.deepEqual(frame.payload, at(7));
    server.release();
  });
});
