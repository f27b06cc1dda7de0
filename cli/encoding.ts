/**
 * `connect --binary hex|base64`: lines in, binary messages out, and back; and how other bytes are shown.
 *
 * @module
 */

import { Buffer } from "node:buffer";

/** An encoding of `--binary`. */
export type Encoding = "hex" | "base64";

/**
 * @param line A line of input, or an `-x` message.
 * @param encoding The encoding.
 * @returns Its bytes, or `undefined` when it is not in the encoding.
 */
export function decodeLine(line: string, encoding: Encoding): Uint8Array | undefined {
  const compact = line.replace(/\s+/g, "");
  if (encoding === "hex") return /^(?:[0-9a-f]{2})*$/i.test(compact) ? new Uint8Array(Buffer.from(compact, "hex")) : undefined;
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(compact) || compact.replace(/=+$/, "").length % 4 === 1) return undefined;
  return new Uint8Array(Buffer.from(compact.replace(/-/g, "+").replace(/_/g, "/"), "base64"));
}

/**
 * @param bytes A binary message.
 * @param encoding The encoding.
 * @returns It encoded, for a line of output.
 */
export function encodeBytes(bytes: Uint8Array, encoding: Encoding): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString(encoding);
}

/**
 * @param bytes Bytes.
 * @returns The first 32 in hex, `...` after them if there are more.
 */
export function hexPreview(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 32), (b) => b.toString(16).padStart(2, "0")).join(" ") + (bytes.length > 32 ? " ..." : "");
}

/** A ping's or pong's payload, for a line: nothing, `"text"`, or hex. */
export function describePayload(data: Uint8Array): string {
  if (data.length === 0) return "";
  const text = new TextDecoder("utf-8", { fatal: false }).decode(data);
  return /^[\x20-\x7e]*$/.test(text) ? ` "${text}"` : ` ${hexPreview(data)}`;
}

