import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import zlib from "node:zlib";
import { NATIVE_DEFLATE_MIN, nodeZlibCodec } from "../../lib/adapters/node_zlib_codec.ts";
import type { Compressor } from "../../lib/deflate/codec.ts";
import { pakoCodec } from "../../lib/deflate/pako_codec.ts";
import { PerMessageDeflate } from "../../lib/deflate/permessage_deflate.ts";
import { concatBytes, hex, pseudoRandomBytes, toHex } from "../_vectors.ts";

const TAIL = hex("00 00 ff ff");
const NO_LIMIT = Number.MAX_SAFE_INTEGER;
const compressor = (windowBits = 15): Compressor => nodeZlibCodec.createCompressor({ windowBits, level: 6, memLevel: 8 });

/** JSON-like text: similar records, so each message refers to earlier ones. */
function json(size: number, seed: number): Uint8Array {
  let text = "";
  for (let i = seed; text.length < size; i++) {
    text += JSON.stringify({ id: i, user: `user${i % 50}`, room: "general", text: `message ${i} in the room`, ok: i % 2 === 0 });
  }
  return new TextEncoder().encode(text.slice(0, size));
}

function equalBytes(actual: Uint8Array, expected: Uint8Array, message: string): void {
  const same = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength)
    .equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength));
  assert.ok(same, `${message}: ${actual.length} bytes, expected ${expected.length}`);
}

/** node:zlib inflates one stream; a 64-byte output chunk checks every distance against the window. */
function inflateStream(payloads: Uint8Array[], windowBits: number): Uint8Array {
  const stream = concatBytes(payloads.flatMap((p) => [p, TAIL]));
  return new Uint8Array(zlib.inflateRawSync(stream, { finishFlush: zlib.constants.Z_SYNC_FLUSH, windowBits, chunkSize: 64 }));
}

// Sizes on both sides of the switch between pako and node:zlib, in an order that switches both ways.
const SIZES = [0, 10, 100, 3000, NATIVE_DEFLATE_MIN - 1, NATIVE_DEFLATE_MIN, 5000, 200, 16 * 1024, 50, 40 * 1024, 1, 100 * 1024, 300];
const messages = SIZES.map((size, i) => (i % 4 === 3 ? pseudoRandomBytes(size, i) : json(size, i * 13)));

describe("nodeZlibCodec: native deflate for large messages, pako for small ones, one window", () => {
  for (const windowBits of [8, 9, 12, 15]) {
    test(`a mixed sequence with context takeover inflates as one stream in a ${windowBits}-bit window`, () => {
      const c = compressor(windowBits);
      const payloads = messages.map((m) => c.compress(m, true));
      equalBytes(inflateStream(payloads, windowBits), concatBytes(messages), "node:zlib, one stream");
      const d = pakoCodec.createDecompressor(windowBits);
      for (const [i, payload] of payloads.entries()) equalBytes(d.decompress(payload, true, NO_LIMIT), messages[i], `pako, message ${i}`);
    });
  }

  test("the history carries on after native deflate: small messages refer to a large one's bytes", () => {
    const big = json(20 * 1024, 1);
    const c = compressor();
    c.compress(big, true);
    // A small message that repeats a stretch near the end of the large one is a back reference (a few
    // bytes). (pako takes over the last 8 KiB of history: older bytes are not referred to.)
    const repeat = big.subarray(big.length - 3000, big.length - 2000);
    const afterBig = c.compress(repeat, true);
    const alone = compressor().compress(repeat, true);
    assert.ok(afterBig.length < 20, `${afterBig.length} bytes after the large message, ${alone.length} alone`);
  });

  test("whether the runtime honours a preset dictionary for raw deflate, the stream stays valid", () => {
    const big = json(20 * 1024, 1);
    const c = compressor();
    const first = c.compress(big, true);
    const second = c.compress(big, true);
    // Deno 2.9 and Bun 1.4 ignore it (the repeat costs as much as the first); Node honours it.
    equalBytes(inflateStream([first, second], 15), concatBytes([big, big]), "two large messages");
  });

  test("reset() between messages (no context takeover): each message inflates alone", () => {
    const c = compressor();
    for (const [i, message] of messages.entries()) {
      const payload = c.compress(message, true);
      c.reset();
      equalBytes(inflateStream([payload], 15), message, `message ${i}`);
    }
  });

  test("hibernate() between any messages keeps the stream valid", () => {
    for (let every = 1; every <= 3; every++) {
      const c = compressor(12);
      const payloads = messages.map((m, i) => {
        const payload = c.compress(m, true);
        if (i % every === 0) c.hibernate?.();
        return payload;
      });
      equalBytes(inflateStream(payloads, 12), concatBytes(messages), `every ${every}`);
    }
  });

  test("pieces of one message: non-final pieces keep 00 00 ff ff, the last drops it", () => {
    const c = compressor();
    const pieces = [json(10_000, 5), json(100, 6), json(8000, 7)];
    const out = pieces.map((p, i) => c.compress(p, i === pieces.length - 1));
    assert.equal(toHex(out[0].subarray(out[0].length - 4)), "00 00 ff ff");
    assert.equal(toHex(out[1].subarray(out[1].length - 4)), "00 00 ff ff");
    const d = pakoCodec.createDecompressor(15);
    equalBytes(concatBytes(out.map((p, i) => d.decompress(p, i === out.length - 1, NO_LIMIT))), concatBytes(pieces), "pieces");
  });

  test("through PerMessageDeflate: server compresses with nodeZlibCodec, a pako client inflates", () => {
    const parameters = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
    const server = new PerMessageDeflate("server", parameters, { codec: nodeZlibCodec, threshold: 0 });
    const client = new PerMessageDeflate("client", parameters, { threshold: 0 });
    for (const [i, payload] of messages.entries()) {
      const sent = server.encode({ fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 0x2, payload });
      assert.equal(sent.rsv1, true);
      equalBytes(client.decode(sent, NO_LIMIT).payload, payload, `message ${i}`);
    }
    server.release();
    client.release();
  });
});
