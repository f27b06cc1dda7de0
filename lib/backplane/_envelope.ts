/**
 * The bytes a backplane puts on the broker for one publish: a small binary header, then the payload as it
 * is (no base64, no JSON). Layout, version 1:
 *
 * | offset     | size | field                                                          |
 * |------------|------|----------------------------------------------------------------|
 * | 0          | 1    | version: 1                                                     |
 * | 1          | 1    | flags: bit 0 binary (else text, UTF-8); bit 1 presence; others 0|
 * | 2          | 1    | L, the origin node id's length in bytes (1..255)               |
 * | 3          | L    | the origin node id, UTF-8                                      |
 * | 3 + L      | 4    | sequence, high 32 bits (big-endian; below 2^21: a safe integer)|
 * | 7 + L      | 4    | sequence, low 32 bits (big-endian)                             |
 * | 11 + L     | rest | the payload                                                    |
 *
 * The sequence counts one origin's publishes to one topic from 1 (a publisher that forgot an idle topic's
 * counter starts it again at 1).
 *
 * @module
 */

/** The envelope's version byte. */
export const ENVELOPE_VERSION = 1;
/** Flag bit: the payload is binary. */
const FLAG_BINARY = 0x01;
/**
 * Flag bit: the payload is a presence change (JSON, see `redis_presence.ts`), not a message; its sequence is
 * 1 and counts nothing.
 */
const FLAG_PRESENCE = 0x02;
/**
 * Flag bit: a message of a topic with history. Its position follows the sequence (put there by the Lua
 * script that gave it, see `redis_history.ts`): E, 1 byte; the epoch, E bytes of ASCII; D, 1 byte; the
 * offset, D decimal digits; then the payload. Its sequence counts nothing (the offset does).
 */
export const FLAG_POSITIONED = 0x04;
/** Bytes of the header besides the origin id. */
const FIXED_HEADER = 11;
/** The highest high word of a sequence that is a safe integer (2^53 - 1). */
const MAX_HIGH = 0x1fffff;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** One decoded envelope. */
export interface Envelope {
  /** The publishing node's id. */
  origin: string;
  /** The origin's count of publishes to this topic, from 1. */
  sequence: number;
  /** Whether the payload is binary. */
  binary: boolean;
  /** The payload: a view into the envelope's bytes. */
  payload: Uint8Array;
  /** Whether the payload is a presence change rather than a message. */
  presence: boolean;
  /** The message's position in its topic's history ({@linkcode FLAG_POSITIONED}). */
  position?: { epoch: string; offset: number };
}

/**
 * @param nodeId A node id.
 * @returns Its UTF-8 bytes, as they go into every envelope the node sends.
 * @throws {TypeError} For an empty id or one over 255 bytes.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeOrigin } from "./_envelope.ts";
 * assert.deepEqual([...encodeOrigin("n1")], [0x6e, 0x31]);
 * assert.throws(() => encodeOrigin(""), TypeError);
 * ```
 */
export function encodeOrigin(nodeId: string): Uint8Array {
  const bytes = encoder.encode(nodeId);
  if (bytes.length === 0 || bytes.length > 255) {
    throw new TypeError(`Cannot use the node id: it is ${bytes.length} bytes of UTF-8, not 1 to 255`);
  }
  return bytes;
}

/**
 * Builds an envelope (the payload copied once, after the header).
 *
 * @param origin The node id's bytes ({@linkcode encodeOrigin}).
 * @param sequence The sequence number, a positive safe integer.
 * @param binary Whether the payload is binary.
 * @param payload The payload.
 * @param presence Whether the payload is a presence change.
 * @returns The envelope's bytes.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeEnvelope, encodeOrigin } from "./_envelope.ts";
 * const envelope = encodeEnvelope(encodeOrigin("n1"), 3, true, new Uint8Array([0xff]));
 * assert.deepEqual([...envelope], [1, 1, 2, 0x6e, 0x31, 0, 0, 0, 0, 0, 0, 0, 3, 0xff]);
 * ```
 */
export function encodeEnvelope(
  origin: Uint8Array,
  sequence: number,
  binary: boolean,
  payload: Uint8Array,
  presence = false,
): Uint8Array {
  const start = FIXED_HEADER + origin.length;
  const out = new Uint8Array(start + payload.length);
  out[0] = ENVELOPE_VERSION;
  out[1] = (binary ? FLAG_BINARY : 0) | (presence ? FLAG_PRESENCE : 0);
  out[2] = origin.length;
  out.set(origin, 3);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(3 + origin.length, Math.floor(sequence / 0x1_0000_0000));
  view.setUint32(7 + origin.length, sequence >>> 0);
  out.set(payload, start);
  return out;
}

/**
 * Reads an envelope.
 *
 * @param bytes The bytes read from the broker.
 * @returns The envelope, or why the bytes are not one (a string: sentence case, detail after a colon).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeEnvelope, encodeEnvelope, encodeOrigin } from "./_envelope.ts";
 * const decoded = decodeEnvelope(encodeEnvelope(encodeOrigin("n1"), 3, false, new TextEncoder().encode("hi")));
 * assert.ok(typeof decoded !== "string");
 * assert.deepEqual([decoded.origin, decoded.sequence, decoded.binary], ["n1", 3, false]);
 * assert.equal(decodeEnvelope(new TextEncoder().encode("hi")), "Cannot decode the envelope: 2 bytes, under the 3-byte header");
 * ```
 */
export function decodeEnvelope(bytes: Uint8Array): Envelope | string {
  if (bytes.length < 3) return `Cannot decode the envelope: ${bytes.length} bytes, under the 3-byte header`;
  if (bytes[0] !== ENVELOPE_VERSION) {
    return `Cannot decode the envelope: version ${bytes[0]}, not ${ENVELOPE_VERSION}`;
  }
  const flags = bytes[1];
  if ((flags & ~(FLAG_BINARY | FLAG_PRESENCE | FLAG_POSITIONED)) !== 0) {
    return `Cannot decode the envelope: unknown flags 0x${flags.toString(16)}`;
  }
  const length = bytes[2];
  if (length === 0) return "Cannot decode the envelope: the origin id is empty";
  const start = FIXED_HEADER + length;
  if (bytes.length < start) {
    return `Cannot decode the envelope: ${bytes.length} bytes, under its ${start}-byte header`;
  }
  let origin: string;
  try {
    origin = decoder.decode(bytes.subarray(3, 3 + length));
  } catch {
    return "Cannot decode the envelope: the origin id is not UTF-8";
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const high = view.getUint32(3 + length), low = view.getUint32(7 + length);
  if (high > MAX_HIGH) return "Cannot decode the envelope: the sequence is over 2^53 - 1";
  const sequence = high * 0x1_0000_0000 + low;
  if (sequence === 0) return "Cannot decode the envelope: the sequence is 0";
  if ((flags & FLAG_POSITIONED) !== 0) {
    const epochLength = bytes[start] ?? 0, digitsAt = start + 1 + epochLength, digits = bytes[digitsAt] ?? 0;
    const end = digitsAt + 1 + digits;
    if (epochLength === 0 || digits === 0 || digits > 16 || bytes.length < end) {
      return "Cannot decode the envelope: its position is truncated";
    }
    let offset = 0;
    for (let i = digitsAt + 1; i < end; i++) {
      const digit = bytes[i] - 0x30;
      if (digit < 0 || digit > 9) return "Cannot decode the envelope: its offset is not decimal digits";
      offset = offset * 10 + digit;
    }
    if (!Number.isSafeInteger(offset) || offset === 0) {
      return "Cannot decode the envelope: its offset is not a positive safe integer";
    }
    return {
      origin,
      sequence,
      binary: (flags & FLAG_BINARY) !== 0,
      payload: bytes.subarray(end),
      presence: false,
      position: { epoch: String.fromCharCode(...bytes.subarray(start + 1, digitsAt)), offset },
    };
  }
  return {
    origin,
    sequence,
    binary: (flags & FLAG_BINARY) !== 0,
    payload: bytes.subarray(start),
    presence: (flags & FLAG_PRESENCE) !== 0,
  };
}
