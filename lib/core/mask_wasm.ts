/**
 * Masking (RFC 6455 §5.3) of large payloads with WebAssembly SIMD: 64 bytes per loop iteration, where
 * JavaScript XORs one 32-bit word at a time. The bytes are copied into the module's memory, XORed there and
 * copied back, in windows of 255 KiB. Measured per MiB on this project's 2-core machine
 * (2026-12-04): Deno 117 -> 63 us, Node 20 295-315 -> 62 us, Bun 81 -> 65 us; the two copies are most of
 * what is left. The bytes sit in the module's memory 32 bytes past their own offset modulo 16: a multiple of
 * 16 bytes from where they are, away from the C library's slow copy distances (lib/core/join_bytes.ts) where
 * the payload's buffer starts on a page (Bun's large buffers); elsewhere its address modulo 4 KiB is unknown,
 * and this start measured best of five on each runtime (200 KiB at offsets 0-4090, copied in and out: Bun
 * 45 us in all, Deno 41, Node 62; at offset 0 of the module's memory 791, 514 and 1,176). At offset 0 a
 * payload behind a 14-byte header was unmasked at 210 us per MiB on Bun, 89 on Deno (two 512 KiB reads).
 * Where WebAssembly cannot be compiled at run time (workerd) or has no SIMD, there is no masker and
 * {@linkcode applyMask} stays in JavaScript.
 *
 * The module, hand-assembled (no toolchain needed to rebuild it):
 *
 * ```wat
 * (module
 *   (memory (export "m") 4)                          ;; 256 KiB, never grown
 *   (func (export "x") (param $at i32) (param $length i32) (param $key i32)
 *     (local $k v128) (local $end i32)
 *     (local.set $k (i32x4.splat (local.get $key)))
 *     (local.set $end (i32.add (local.get $at) (local.get $length)))
 *     (block (loop
 *       (br_if 1 (i32.ge_u (local.get $at) (local.get $end)))
 *       (v128.store offset=0 (local.get $at) (v128.xor (v128.load offset=0 (local.get $at)) (local.get $k)))
 *       ;; ... the same at offsets 16, 32 and 48
 *       (local.set $at (i32.add (local.get $at) (i32.const 64)))
 *       (br 0)))))
 * ```
 *
 * It XORs whole 64-byte blocks, so up to 63 bytes past `length` in its memory change: they are never copied
 * back.
 *
 * @module
 */

/**
 * Bytes XORed per call: the module's memory (256 KiB) less room for the start offset (up to 47) and the
 * last block's overrun (up to 63); a multiple of 4, so every window starts at the same key rotation.
 */
const WINDOW = 255 * 1024;

/** One load, XOR and store of 16 bytes at `offset` from $at (memarg: alignment 2^4, then the offset). */
const block = (offset: number) => [
  0x20, 0x00, 0x20, 0x00, 0xfd, 0x00, 0x04, offset, // local.get $at, local.get $at, v128.load
  0x20, 0x03, 0xfd, 0x51, // local.get $k, v128.xor
  0xfd, 0x0b, 0x04, offset, // v128.store
];

const body = [
  0x02, 0x01, 0x7b, 0x01, 0x7f, // locals: one v128 ($k, index 3), one i32 ($end, index 4)
  0x20, 0x02, 0xfd, 0x11, 0x21, 0x03, // $k = i32x4.splat($key)
  0x20, 0x00, 0x20, 0x01, 0x6a, 0x21, 0x04, // $end = $at + $length
  0x02, 0x40, 0x03, 0x40, // block, loop
  0x20, 0x00, 0x20, 0x04, 0x4f, 0x0d, 0x01, // br_if 1 ($at >= $end)
  ...block(0x00),
  ...block(0x10),
  ...block(0x20),
  ...block(0x30),
  0x20, 0x00, 0x41, 0xc0, 0x00, 0x6a, 0x21, 0x00, // $at += 64
  0x0c, 0x00, 0x0b, 0x0b, 0x0b, // br 0, end loop, end block, end function
];

const MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
  0x01, 0x07, 0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00, // types: (i32, i32, i32) -> ()
  0x03, 0x02, 0x01, 0x00, // functions: one, of type 0
  0x05, 0x03, 0x01, 0x00, 0x04, // memory: 4 pages, no maximum
  0x07, 0x09, 0x02, 0x01, 0x78, 0x00, 0x00, 0x01, 0x6d, 0x02, 0x00, // exports: "x" function 0, "m" memory 0
  0x0a, body.length + 2, 0x01, body.length, ...body, // code
]);

/** XORs `data` in place with the key, from payload index `position`; as `applyMask`. */
export type Masker = (data: Uint8Array, key: Uint8Array, position: number) => void;

let masker: Masker | null | undefined;

/**
 * The WebAssembly masker, compiled on first use; `undefined` where WebAssembly (or its SIMD) is not
 * available.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wasmMasker } from "./mask_wasm.ts";
 * const mask = wasmMasker();
 * if (mask !== undefined) {
 *   const data = new Uint8Array([0x7f, 0x9f, 0x4d, 0x51, 0x58]);
 *   mask(data, new Uint8Array([0x37, 0xfa, 0x21, 0x3d]), 0);
 *   assert.equal(new TextDecoder().decode(data), "Hello");
 * }
 * ```
 */
export function wasmMasker(): Masker | undefined {
  if (masker === undefined) masker = compile();
  return masker ?? undefined;
}

function compile(): Masker | null {
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(new WebAssembly.Module(MODULE));
  } catch {
    return null; // no WebAssembly, no SIMD, or code generation disallowed (workerd)
  }
  const xor = instance.exports.x as (at: number, length: number, key: number) => void;
  const memory = new Uint8Array((instance.exports.m as WebAssembly.Memory).buffer);
  return (data, key, position) => {
    // The key as the little-endian word WebAssembly loads, rotated to `position` (a window is a multiple of 4
    // bytes long, so every window starts at the same rotation).
    const word = key[position & 3] | key[(position + 1) & 3] << 8 | key[(position + 2) & 3] << 16 |
      key[(position + 3) & 3] << 24;
    for (let start = 0; start < data.length; start += WINDOW) {
      const part = data.subarray(start, Math.min(start + WINDOW, data.length));
      // 32 bytes past the bytes' own offset modulo 16 (see the module doc).
      const at = 32 + (part.byteOffset & 15);
      memory.set(part, at);
      xor(at, part.length, word);
      part.set(memory.subarray(at, at + part.length));
    }
  };
}
