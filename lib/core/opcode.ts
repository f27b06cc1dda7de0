/**
 * Frame opcodes of RFC 6455 §5.2.
 *
 * @module
 */

/** The opcodes RFC 6455 §5.2 defines. 0x3-0x7 and 0xB-0xF are reserved. */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** One of the defined opcodes. */
export type Opcode = typeof Opcode[keyof typeof Opcode];

/**
 * Whether an opcode is a control opcode (§5.5: "Control frames are identified by opcodes where the most
 * significant bit of the opcode is 1").
 *
 * @param opcode The 4-bit opcode.
 * @returns `true` for 0x8-0xF.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isControlOpcode } from "./opcode.ts";
 * assert(isControlOpcode(0x9) && !isControlOpcode(0x1));
 * ```
 */
export function isControlOpcode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

/**
 * Whether RFC 6455 defines the opcode (everything else is reserved, §5.2: "If an unknown opcode is
 * received, the receiving endpoint MUST _Fail the WebSocket Connection_").
 *
 * @param opcode The 4-bit opcode.
 * @returns `true` for 0x0-0x2 and 0x8-0xA.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isKnownOpcode } from "./opcode.ts";
 * assert(isKnownOpcode(0xa) && !isKnownOpcode(0x3));
 * ```
 */
export function isKnownOpcode(opcode: number): boolean {
  return opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xa);
}
