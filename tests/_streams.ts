/**
 * Helpers for testing `TransformStream`s: write chunks, collect what comes out, and assert how a stream
 * errored.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Frame } from "../lib/core/frame.ts";
import { ProtocolError } from "../lib/core/protocol_error.ts";

/**
 * Writes `chunks` to the stream one by one, closes it, and collects everything it outputs. Rejects with
 * the stream's error if it errors.
 */
export async function pump<I, O>(stream: TransformStream<I, O>, chunks: Iterable<I>): Promise<O[]> {
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const write = async () => {
    for (const chunk of chunks) await writer.write(chunk);
    await writer.close();
  };
  const read = async () => {
    const out: O[] = [];
    for (;;) {
      const result = await reader.read();
      if (result.done) return out;
      out.push(result.value);
    }
  };
  const [, out] = await Promise.all([write(), read()]);
  return out;
}

/** Asserts that `promise` rejects with a `ProtocolError` with this close code, and a matching message. */
export async function assertProtocolError(
  promise: Promise<unknown>,
  code: number,
  message: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ProtocolError, `expected a ProtocolError, got ${String(error)}`);
    assert.equal(error.code, code, `close code of "${error.message}"`);
    assert.match(error.message, message);
    return true;
  });
}

/** Asserts that `promise` rejects with an instance of `type` (and not a `ProtocolError`), with a matching message. */
export async function assertRejectsWith(
  promise: Promise<unknown>,
  type: new (message: string) => Error,
  message: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof type, `expected a ${type.name}, got ${String(error)}`);
    assert.ok(!(error instanceof ProtocolError), "expected a built-in error, got a ProtocolError");
    assert.match(error.message, message);
    return true;
  });
}

/** Builds a frame; FIN set and RSV bits clear unless given. */
export function frame(
  opcode: number,
  payload: Uint8Array,
  bits: { fin?: boolean; rsv1?: boolean; rsv2?: boolean; rsv3?: boolean } = {},
): Frame {
  return {
    fin: bits.fin ?? true,
    rsv1: bits.rsv1 ?? false,
    rsv2: bits.rsv2 ?? false,
    rsv3: bits.rsv3 ?? false,
    opcode,
    payload,
  };
}

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
