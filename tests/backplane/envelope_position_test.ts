/**
 * The position of a message of a topic with history, after the envelope's header (FLAG_POSITIONED): built
 * here byte for byte as the Lua script of lib/backplane/redis_history.ts builds it, and its malformed forms.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeEnvelope,
  encodeEnvelope,
  encodeOrigin,
  FLAG_POSITIONED,
} from "../../lib/backplane/_envelope.ts";

const encoder = new TextEncoder();

/** header .. char(#epoch) .. epoch .. char(#offset) .. offset .. payload, as the script concatenates. */
function positioned(epoch: string, digits: string, payload: Uint8Array, binary = false): Uint8Array {
  const header = encodeEnvelope(encodeOrigin("n1"), 7, binary, new Uint8Array(0));
  header[1] |= FLAG_POSITIONED;
  const e = encoder.encode(epoch), d = encoder.encode(digits);
  return Uint8Array.from([...header, e.length, ...e, d.length, ...d, ...payload]);
}

test("a positioned envelope gives its epoch, its offset and the payload after them", () => {
  const decoded = decodeEnvelope(positioned("a1b2c3d4", "9007199254740991", Uint8Array.of(0, 255), true));
  assert.ok(typeof decoded !== "string");
  assert.deepEqual(decoded.position, { epoch: "a1b2c3d4", offset: 9007199254740991 });
  assert.deepEqual([decoded.origin, decoded.sequence, decoded.binary, decoded.presence], [
    "n1",
    7,
    true,
    false,
  ]);
  assert.deepEqual([...decoded.payload], [0, 255]);
  const empty = decodeEnvelope(positioned("e", "1", new Uint8Array(0)));
  assert.ok(typeof empty !== "string");
  assert.deepEqual([empty.position, empty.payload.length], [{ epoch: "e", offset: 1 }, 0]);
});

test("an envelope without the flag has no position", () => {
  const decoded = decodeEnvelope(encodeEnvelope(encodeOrigin("n1"), 1, false, encoder.encode("hi")));
  assert.ok(typeof decoded !== "string");
  assert.equal(decoded.position, undefined);
});

test("malformed positions are refused with their reason", () => {
  const cases: [Uint8Array, string][] = [
    [positioned("", "1", new Uint8Array(0)), "Cannot decode the envelope: its position is truncated"],
    [positioned("e", "", new Uint8Array(0)), "Cannot decode the envelope: its position is truncated"],
    [
      positioned("e", "12345678901234567", new Uint8Array(0)),
      "Cannot decode the envelope: its position is truncated",
    ],
    [
      positioned("e", "1x", new Uint8Array(0)),
      "Cannot decode the envelope: its offset is not decimal digits",
    ],
    [
      positioned("e", "0", new Uint8Array(0)),
      "Cannot decode the envelope: its offset is not a positive safe integer",
    ],
    [
      positioned("e", "9007199254740992", new Uint8Array(0)),
      "Cannot decode the envelope: its offset is not a positive safe integer",
    ],
  ];
  for (const [bytes, reason] of cases) assert.equal(decodeEnvelope(bytes), reason);
  const whole = positioned("epoch", "42", encoder.encode("x"));
  for (let cut = whole.length - 2; cut > whole.length - 10; cut--) {
    assert.equal(
      decodeEnvelope(whole.subarray(0, cut)),
      "Cannot decode the envelope: its position is truncated",
    );
  }
});
