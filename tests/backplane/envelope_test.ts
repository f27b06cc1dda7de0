import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeEnvelope,
  encodeEnvelope,
  encodeOrigin,
  ENVELOPE_VERSION,
} from "../../lib/backplane/_envelope.ts";

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");
}

describe("the backplane's envelope", () => {
  test("layout: version, flags, origin length and bytes, sequence as two big-endian uint32, payload", () => {
    const envelope = encodeEnvelope(encodeOrigin("ab"), 0x1_0000_0002, true, new Uint8Array([0xff, 0x00]));
    assert.equal(ENVELOPE_VERSION, 1);
    assert.equal(hex(envelope), "01 01 02 61 62 00 00 00 01 00 00 00 02 ff 00");
    const text = encodeEnvelope(encodeOrigin("é"), 7, false, new TextEncoder().encode("hi"));
    assert.equal(hex(text), "01 00 02 c3 a9 00 00 00 00 00 00 00 07 68 69");
  });

  test("the presence flag (bit 1) round-trips, alone and with binary", () => {
    const envelope = encodeEnvelope(encodeOrigin("ab"), 1, false, new TextEncoder().encode("{}"), true);
    assert.equal(hex(envelope), "01 02 02 61 62 00 00 00 00 00 00 00 01 7b 7d");
    const decoded = decodeEnvelope(envelope);
    assert.ok(typeof decoded !== "string");
    assert.deepEqual([decoded.presence, decoded.binary], [true, false]);
    const both = decodeEnvelope(encodeEnvelope(encodeOrigin("ab"), 1, true, new Uint8Array(0), true));
    assert.ok(typeof both !== "string");
    assert.deepEqual([both.presence, both.binary], [true, true]);
    const plain = decodeEnvelope(encodeEnvelope(encodeOrigin("ab"), 1, true, new Uint8Array(0)));
    assert.ok(typeof plain !== "string");
    assert.equal(plain.presence, false);
  });

  test("round trip: text and binary, every byte value, the largest safe sequence, an empty payload", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    for (
      const [sequence, binary, payload] of [[1, true, all], [2 ** 53 - 1, false, new Uint8Array(0)], [
        4294967296,
        true,
        all,
      ]] as const
    ) {
      const decoded = decodeEnvelope(encodeEnvelope(encodeOrigin("node-1"), sequence, binary, payload));
      assert.ok(typeof decoded !== "string", String(decoded));
      assert.deepEqual(decoded.origin, "node-1");
      assert.equal(decoded.sequence, sequence);
      assert.equal(decoded.binary, binary);
      assert.deepEqual([...decoded.payload], [...payload]);
    }
  });

  test("the payload is a view into the envelope (no copy on the way in)", () => {
    const envelope = encodeEnvelope(encodeOrigin("n"), 1, true, new Uint8Array([1, 2, 3]));
    const decoded = decodeEnvelope(envelope);
    assert.ok(typeof decoded !== "string");
    assert.equal(decoded.payload.buffer, envelope.buffer);
    assert.equal(decoded.payload.byteOffset, 12);
  });

  test("anything else is refused with its reason", () => {
    const good = encodeEnvelope(encodeOrigin("ab"), 1, false, new Uint8Array([0x61]));
    const cases: [string, Uint8Array, string][] = [
      ["empty", new Uint8Array(0), "Cannot decode the envelope: 0 bytes, under the 3-byte header"],
      ["version 2", Uint8Array.of(2, ...good.subarray(1)), "Cannot decode the envelope: version 2, not 1"],
      [
        "unknown flag",
        Uint8Array.of(1, 0x81, ...good.subarray(2)),
        "Cannot decode the envelope: unknown flags 0x81",
      ],
      [
        "empty origin",
        Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
        "Cannot decode the envelope: the origin id is empty",
      ],
      [
        "cut in the sequence",
        good.subarray(0, 10),
        "Cannot decode the envelope: 10 bytes, under its 13-byte header",
      ],
      [
        "origin not UTF-8",
        Uint8Array.of(1, 0, 1, 0xff, 0, 0, 0, 0, 0, 0, 0, 1),
        "Cannot decode the envelope: the origin id is not UTF-8",
      ],
      [
        "sequence 0",
        Uint8Array.of(1, 0, 1, 0x61, 0, 0, 0, 0, 0, 0, 0, 0),
        "Cannot decode the envelope: the sequence is 0",
      ],
      [
        "sequence 2^53",
        Uint8Array.of(1, 0, 1, 0x61, 0, 0x20, 0, 0, 0, 0, 0, 0),
        "Cannot decode the envelope: the sequence is over 2^53 - 1",
      ],
      ["a plain string", new TextEncoder().encode("hello"), "Cannot decode the envelope: version 104, not 1"],
    ];
    for (const [name, bytes, reason] of cases) assert.equal(decodeEnvelope(bytes), reason, name);
  });

  test("a node id is 1 to 255 bytes of UTF-8", () => {
    assert.equal(encodeOrigin("x".repeat(255)).length, 255);
    assert.throws(() => encodeOrigin(""), {
      name: "TypeError",
      message: "Cannot use the node id: it is 0 bytes of UTF-8, not 1 to 255",
    });
    assert.throws(() => encodeOrigin("é".repeat(128)), {
      name: "TypeError",
      message: "Cannot use the node id: it is 256 bytes of UTF-8, not 1 to 255",
    });
  });
});
