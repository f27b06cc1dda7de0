/**
 * Helpers for wire vectors: hex in and out, and feeding a vector whole and split at every offset.
 *
 * @module
 */

/** Parses hex with optional spaces: `"81 05 48"`. */
export function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  if (clean.length % 2 !== 0) throw new Error(`Odd hex length: ${text}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Formats bytes as spaced hex. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** Joins byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * The ways to deliver a vector: whole, split in two at every offset, and one byte at a time. Each split is
 * a fresh copy, because consumers may unmask in place.
 */
export function splits(bytes: Uint8Array): { name: string; chunks: Uint8Array[] }[] {
  const out = [{ name: "whole", chunks: [bytes.slice()] }];
  for (let i = 1; i < bytes.length; i++) {
    out.push({ name: `split at ${i}`, chunks: [bytes.slice(0, i), bytes.slice(i)] });
  }
  out.push({ name: "byte by byte", chunks: Array.from(bytes, (b) => Uint8Array.of(b)) });
  return out;
}

/** Deterministic bytes (a linear congruential sequence), so a failure is reproducible. */
export function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}

/**
 * An unmasked frame, written here by hand from RFC 6455 §5.2 (not with the library's encoder): first byte
 * as given, minimal length form.
 */
export function rawFrame(firstByte: number, payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const header = n < 126
    ? [firstByte, n]
    : n < 65536
    ? [firstByte, 126, n >>> 8, n & 0xff]
    : [firstByte, 127, 0, 0, 0, 0, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  return concatBytes([Uint8Array.from(header), payload]);
}

/** Masks an unmasked frame with `key` (§5.3): sets the mask bit, inserts the key, XORs the payload. */
export function masked(frame: Uint8Array, key: Uint8Array): Uint8Array {
  const length7 = frame[1] & 0x7f;
  const headerSize = 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0);
  const out = new Uint8Array(frame.length + 4);
  out.set(frame.subarray(0, headerSize));
  out[1] |= 0x80;
  out.set(key, headerSize);
  for (let i = headerSize; i < frame.length; i++) out[i + 4] = frame[i] ^ key[(i - headerSize) % 4];
  return out;
}

/** Close codes an endpoint must accept and echo (Autobahn 7.7.x). */
export const VALID_CLOSE_CODES: readonly number[] = [
  1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999,
];

/** Close codes that are not valid on the wire: receiving one fails with 1002 (Autobahn 7.9.x and more). */
export const INVALID_CLOSE_CODES: readonly number[] = [
  0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
];

/**
 * Ways to feed a vector: every split for small vectors (splits()); for large ones, splitting at every
 * offset is quadratic, so: whole, split at every offset within the first 20 bytes (header and payload
 * start) and the last 4, in 1000-byte chunks, and byte by byte up to 70000 bytes.
 */
export function feeds(bytes: Uint8Array): { name: string; chunks: Uint8Array[] }[] {
  if (bytes.length <= 2048) return splits(bytes);
  const out: { name: string; chunks: Uint8Array[] }[] = [{ name: "whole", chunks: [bytes.slice()] }];
  const offsets = [
    ...Array.from({ length: 20 }, (_, i) => i + 1),
    ...[4, 3, 2, 1].map((i) => bytes.length - i),
  ];
  for (const at of offsets) {
    out.push({ name: `split at ${at}`, chunks: [bytes.slice(0, at), bytes.slice(at)] });
  }
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += 1000) pieces.push(bytes.slice(i, i + 1000));
  out.push({ name: "1000-byte chunks", chunks: pieces });
  if (bytes.length <= 70000) {
    out.push({
      name: "byte by byte",
      chunks: Array.from(bytes, (b) => Uint8Array.of(b)),
    });
  }
  return out;
}
