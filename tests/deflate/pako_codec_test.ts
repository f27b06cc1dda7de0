import { test } from "node:test";
import assert from "node:assert/strict";
import { pakoCodec, PakoCompressor } from "../../lib/deflate/pako_codec.ts";
import { codecSuite } from "../_codec_suite.ts";

codecSuite(pakoCodec);

test("PakoCompressor hands its history over (takeWindow) and takes one back (setWindow): the next message refers to it", () => {
  const hello = new TextEncoder().encode("Hello");
  const first = new PakoCompressor({ windowBits: 15, level: 6, memLevel: 8 });
  const firstBytes = first.compress(hello, true);
  assert.deepEqual(first.takeWindow(), hello);
  const second = new PakoCompressor({ windowBits: 15, level: 6, memLevel: 8 });
  second.setWindow(hello);
  const secondBytes = second.compress(hello, true);
  // RFC 7692 §7.2.3.2: with "Hello" in the window, "Hello" is one back reference.
  assert.deepEqual([...secondBytes], [0xf2, 0x00, 0x11, 0x00, 0x00]);
  const d = pakoCodec.createDecompressor(15);
  assert.deepEqual(d.decompress(firstBytes, true, 1024), hello);
  assert.deepEqual(d.decompress(secondBytes, true, 1024), hello);
});
