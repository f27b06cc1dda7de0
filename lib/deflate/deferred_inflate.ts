/**
 * The driver's side of large messages inflated on workers (`PerMessageDeflate.deferLargeInflates`): finding
 * the extension that defers, and turning the inflated bytes into the message the protocol would have
 * delivered (text decoded and checked as `core/message_assembler.ts` does).
 *
 * @module
 */

import { CloseCode } from "../core/close_code.ts";
import type { Extension } from "../core/extension.ts";
import { ProtocolError } from "../core/protocol_error.ts";
import { ASCII_CHECK_MIN, decodeAscii, isAscii, isUtf8 } from "../core/utf8.ts";

/** An extension that can inflate large messages elsewhere (permessage-deflate). */
interface DeferringExtension extends Extension {
  deferLargeInflates(): void;
  takeDeferredInflate(): Promise<Uint8Array> | undefined;
}

/**
 * Asks the negotiated extensions to inflate large messages on workers (see
 * `PerMessageDeflate.deferLargeInflates`), for a driver that waits for them and parses nothing further
 * meanwhile.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deferLargeInflates } from "./deferred_inflate.ts";
 * assert.equal(deferLargeInflates([]), undefined); // no extension: nothing is ever deferred
 * ```
 *
 * @param extensions The connection's negotiated extensions.
 * @returns What to call after each message event: the promise of the message's real payload when its
 * decode was deferred; `undefined` when no extension defers.
 */
export function deferLargeInflates(
  extensions: readonly Extension[],
): (() => Promise<Uint8Array> | undefined) | undefined {
  // One deferring extension at most (only the last decode's deferral can be taken).
  const deferring = extensions.filter((extension): extension is DeferringExtension =>
    typeof (extension as Partial<DeferringExtension>).deferLargeInflates === "function" &&
    typeof (extension as Partial<DeferringExtension>).takeDeferredInflate === "function"
  );
  if (deferring.length !== 1 || extensions.length !== 1) return undefined;
  const extension = deferring[0];
  extension.deferLargeInflates();
  return () => extension.takeDeferredInflate();
}

/**
 * The message the protocol would have delivered for inflated bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inflatedMessage } from "./deferred_inflate.ts";
 * assert.equal(inflatedMessage(new TextEncoder().encode("héllo"), "string"), "héllo");
 * assert.throws(() => inflatedMessage(Uint8Array.of(0xff), "string"), { code: 1007 });
 * ```
 *
 * @param bytes The message's inflated payload.
 * @param as `"string"` for text delivered as a string, `"utf8"` for text delivered as its bytes
 * (`textAsBytes`), `"binary"` for binary.
 * @returns The message's data.
 * @throws {ProtocolError} 1007 for text that is not UTF-8.
 */
export function inflatedMessage(bytes: Uint8Array, as: "string" | "utf8" | "binary"): string | Uint8Array {
  if (as === "binary") return bytes;
  // RFC 6455 §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that the byte stream
  // is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket Connection_."
  if (as === "utf8") {
    if (!isUtf8(bytes)) throw invalidUtf8();
    return bytes;
  }
  if (bytes.length >= ASCII_CHECK_MIN && isAscii(bytes)) return decodeAscii(bytes);
  try {
    return decoder.decode(bytes);
  } catch {
    throw invalidUtf8();
  }
}

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function invalidUtf8(): ProtocolError {
  return new ProtocolError(CloseCode.InvalidPayloadData, "Cannot decode message: invalid UTF-8 in text");
}
