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
