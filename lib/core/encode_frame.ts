/**
 * Frame encoding (RFC 6455 §5.2): minimal length form, optional masking.
 *
 * @module
 */

import { skewFor } from "./join_bytes.ts";
import { applyMask, writeMaskKey } from "./mask.ts";

/**
 * Payloads shorter than this are copied behind their header into one buffer; longer ones are not copied:
 * the transport writes the pair without a new buffer for the frame (node:net as one `writev`; Deno.Conn and
 * Bun's raw socket, which have no writev, join what one turn wrote into a buffer of their own).
 */
const COALESCE_LIMIT = 8 * 1024;

/**
 * Masked payloads shorter than this are masked byte by byte while copied into the frame: no padding, no
 * views. (On Bun the first `subarray` or `.buffer` of a new small array costs ~170 ns; a word view pays
 * off only above ~100 bytes.)
 */
const SMALL_MASKED = 256;

/** Options for {@linkcode encodeFrame}. */
export interface EncodeFrameOptions {
  /** FIN bit. @default {true} */
  fin?: boolean;
  /** RSV1 bit (permessage-deflate). @default {false} */
  rsv1?: boolean;
  /** Mask the payload (client to server). @default {false} */
  mask?: boolean;
  /** A fixed masking key, for test vectors only. @default a fresh random key */
  maskKey?: Uint8Array;
}

/**
 * Encodes one frame. Returns one buffer (header and payload together), or, for a large unmasked payload,
 * the header and the caller's payload untouched, so that nothing is copied. A masked frame is always one
 * new buffer: the caller's payload is never modified.
 *
 * @param opcode The opcode (0x0-0xF).
 * @param payload The payload bytes.
 * @param options FIN, RSV1 and masking.
 * @returns The frame's bytes, in order.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeFrame } from "./encode_frame.ts";
 * const [bytes] = encodeFrame(0x1, new TextEncoder().encode("Hello"));
 * assert(bytes.length === 7 && bytes[0] === 0x81 && bytes[1] === 0x05);
 * ```
 */
export function encodeFrame(opcode: number, payload: Uint8Array, options: EncodeFrameOptions = {}): Uint8Array[] {
  const length = payload.length;
  const masked = options.mask === true;
  // §5.2: "the minimal number of bytes MUST be used to encode the length".
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const headerSize = 2 + lengthBytes + (masked ? 4 : 0);
  if (masked && length < SMALL_MASKED) return [encodeSmallMasked(opcode, payload, options)];
  const coalesce = masked || length < COALESCE_LIMIT;
  // A masked payload starts 4-aligned, as applyMask's words want; a payload copied behind its header then
  // goes 16 bytes or more past its source modulo 4 KiB (lib/core/join_bytes.ts: the C library's slow copy
  // distances; a start that moves it to exactly 16 keeps a 4-aligned one 4-aligned).
  const align = masked ? (4 - (headerSize & 3)) & 3 : 0;
  const pad = coalesce ? align + skewFor(payload, align + headerSize) : 0;
  const buffer = new Uint8Array(pad + headerSize + (coalesce ? length : 0));
  const frame = pad === 0 ? buffer : buffer.subarray(pad);
  frame[0] = (options.fin === false ? 0 : 0x80) | (options.rsv1 === true ? 0x40 : 0) | (opcode & 0x0f);
  const maskBit = masked ? 0x80 : 0;
  if (lengthBytes === 0) {
    frame[1] = maskBit | length;
  } else if (lengthBytes === 2) {
    frame[1] = maskBit | 126;
    frame[2] = length >>> 8;
    frame[3] = length & 0xff;
  } else {
    frame[1] = maskBit | 127;
    const high = Math.floor(length / 0x1_0000_0000);
    frame[2] = (high >>> 24) & 0xff;
    frame[3] = (high >>> 16) & 0xff;
    frame[4] = (high >>> 8) & 0xff;
    frame[5] = high & 0xff;
    frame[6] = (length >>> 24) & 0xff;
    frame[7] = (length >>> 16) & 0xff;
    frame[8] = (length >>> 8) & 0xff;
    frame[9] = length & 0xff;
  }
  if (!coalesce) return [frame, payload];
  frame.set(payload, headerSize);
  if (masked) {
    const keyOffset = headerSize - 4;
    if (options.maskKey !== undefined) frame.set(options.maskKey, keyOffset);
    else writeMaskKey(frame, keyOffset);
    applyMask(frame.subarray(headerSize), frame.subarray(keyOffset, headerSize));
  }
  return [frame];
}

/** A masked frame with a payload under {@linkcode SMALL_MASKED} bytes (so a 7- or 16-bit length). */
function encodeSmallMasked(opcode: number, payload: Uint8Array, options: EncodeFrameOptions): Uint8Array {
  const length = payload.length;
  const keyOffset = length < 126 ? 2 : 4;
  const headerSize = keyOffset + 4;
  const frame = new Uint8Array(headerSize + length);
  frame[0] = (options.fin === false ? 0 : 0x80) | (options.rsv1 === true ? 0x40 : 0) | (opcode & 0x0f);
  if (length < 126) {
    frame[1] = 0x80 | length;
  } else {
    frame[1] = 0x80 | 126;
    frame[2] = length >>> 8;
    frame[3] = length & 0xff;
  }
  if (options.maskKey !== undefined) frame.set(options.maskKey, keyOffset);
  else writeMaskKey(frame, keyOffset);
  const k0 = frame[keyOffset], k1 = frame[keyOffset + 1], k2 = frame[keyOffset + 2], k3 = frame[keyOffset + 3];
  let i = 0;
  for (; i + 3 < length; i += 4) {
    frame[headerSize + i] = payload[i] ^ k0;
    frame[headerSize + i + 1] = payload[i + 1] ^ k1;
    frame[headerSize + i + 2] = payload[i + 2] ^ k2;
    frame[headerSize + i + 3] = payload[i + 3] ^ k3;
  }
  for (; i < length; i++) frame[headerSize + i] = payload[i] ^ frame[keyOffset + (i & 3)];
  return frame;
}
