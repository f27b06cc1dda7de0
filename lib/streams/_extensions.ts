/**
 * Checks the `extensions` option the message streams take: the negotiated extensions as a handshake
 * returns them (`serverHandshake(...).negotiated`, `ClientHandshake.verify(...).negotiated`).
 *
 * @module
 */

import type { Extension } from "../core/extension.ts";

/**
 * Returns a copy of `extensions` (so that a later change to the caller's array cannot change the stream),
 * or throws a `TypeError` naming what is wrong.
 *
 * @param what The stream being created, for the message: `message fragmenter`.
 * @param extensions The option's value.
 * @returns The extensions, in negotiated order.
 */
export function checkExtensions(what: string, extensions: readonly Extension[] | undefined): readonly Extension[] {
  if (extensions === undefined) return [];
  if (!Array.isArray(extensions)) throw new TypeError(`Cannot create ${what}: extensions is not an array`);
  for (let i = 0; i < extensions.length; i++) {
    const extension = extensions[i];
    if (
      extension === null || typeof extension !== "object" || typeof extension.encode !== "function" ||
      typeof extension.decode !== "function" || !Number.isInteger(extension.rsvBits) || (extension.rsvBits & ~0x70) !== 0
    ) {
      throw new TypeError(`Cannot create ${what}: extensions[${i}] is not an Extension (encode, decode, rsvBits in 0x70)`);
    }
  }
  return [...extensions];
}

/**
 * The RSV bits the extensions define, as in the first header byte.
 *
 * @param extensions Checked extensions.
 * @returns Their `rsvBits` combined.
 */
export function rsvBitsOf(extensions: readonly Extension[]): number {
  let bits = 0;
  for (let i = 0; i < extensions.length; i++) bits |= extensions[i].rsvBits;
  return bits;
}
