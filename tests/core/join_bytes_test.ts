import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyChunks, joinBytes, joinSkew, skewFor } from "../../lib/core/join_bytes.ts";
import { concatBytes, pseudoRandomBytes } from "../_vectors.ts";

/** `length` bytes at `offset` into a buffer of their own. */
function at(offset: number, length: number, seed: number): Uint8Array {
  return pseudoRandomBytes(offset + length + 3, seed).subarray(offset, offset + length);
}

describe("joining chunks away from the C library's slow copy distances", () => {
  test("joinBytes returns the chunks' bytes in order, for chunks of 0 B to 20 KiB at offsets 0-17", () => {
    for (const lengths of [[2], [2, 0, 5], [4, 16_384], [10, 1_048_576], [2, 125, 4, 1024, 6, 20_000], [1024, 1024]]) {
      for (let offset = 0; offset <= 17; offset++) {
        const chunks = lengths.map((length, i) => at((offset + i * 5) % 18, length, length + offset * 31 + i));
        const total = lengths.reduce((sum, length) => sum + length, 0);
        const joined = joinBytes(chunks, 0, chunks.length, total);
        assert.equal(joined.length, total);
        assert.deepEqual(joined, concatBytes(chunks), `lengths ${lengths} offset ${offset}`);
      }
    }
  });

  /** How far past its source, modulo 4 KiB by offsets, each chunk of 2 KiB or more went in `joined`. */
  function distances(joined: Uint8Array, chunks: Uint8Array[]): number[] {
    const out: number[] = [];
    for (let i = 0, at = joined.byteOffset; i < chunks.length; at += chunks[i].length, i++) {
      if (chunks[i].length >= 2048) out.push((at - chunks[i].byteOffset) & 4095);
    }
    return out;
  }

  test("every chunk of 2 KiB or more goes 16 bytes or more past its source modulo 4 KiB; smaller ones leave the join at 0", () => {
    for (let offset = 0; offset <= 33; offset++) {
      for (const header of [2, 4, 10, 14]) {
        const chunks = [new Uint8Array(header), at(offset, 4096, offset)];
        const joined = joinBytes(chunks, 0, 2, header + 4096);
        const [distance] = distances(joined, chunks);
        assert(distance >= 16, `payload at ${offset} behind ${header} bytes: ${distance}`);
        assert(joined.byteOffset <= 16);
        const small = at(offset, 2047, offset);
        assert.equal(joinBytes([new Uint8Array(header), small], 0, 2, header + 2047).byteOffset, 0);
      }
    }
    // Runs of frames whose lengths drift by a few bytes modulo 4 KiB (16 KiB payloads behind 4-byte headers,
    // from buffers of their own at 0 or 12), up to 64 KiB as the Bun writer joins, and 256 KiB as Deno's.
    for (const [count, size] of [[3, 16_388], [15, 16_388], [3, 16_380], [31, 2054], [120, 2054], [60, 1030]]) {
      for (const offset of [0, 12]) {
        const chunks = Array.from({ length: count }, (_, i) => at(offset, size, i));
        const joined = joinBytes(chunks, 0, count, count * size);
        assert(distances(joined, chunks).every((distance) => distance >= 16), `${count} x ${size} at ${offset}`);
        assert(joined.byteOffset < 4096);
        assert.deepEqual(joined, concatBytes(chunks));
      }
    }
    assert.equal(joinSkew([new Uint8Array(4), at(0, 16_384, 1)], 0, 2), 12);
    assert.equal(joinSkew([new Uint8Array(4), at(0, 16_384, 1)], 1, 2), 16);
  });

  test("skewFor and copyChunks, as the Bun writer's shared buffer uses them", () => {
    assert.equal(skewFor(at(0, 4096, 1), 4), 12);
    assert.equal(skewFor(at(0, 4096, 1), 14), 2);
    assert.equal(skewFor(at(6, 4096, 1), 4), 0); // already 4,094 bytes past
    assert.equal(skewFor(at(6, 2000, 1), 4), 0);
    const target = new Uint8Array(8).fill(9);
    copyChunks(target, 2, [Uint8Array.of(1, 2), Uint8Array.of(), Uint8Array.of(3)], 0, 3);
    assert.deepEqual([...target], [9, 9, 1, 2, 3, 9, 9, 9]);
  });
});
