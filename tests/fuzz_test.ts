/**
 * Property-based tests with fast-check: random and mutated wire bytes, random messages through a whole
 * sender/receiver pair (with and without permessage-deflate), UTF-8 validation against the platform's
 * TextDecoder, and the header parsers on random strings. Every property runs with a fixed seed, so a
 * failure in CI reproduces locally; fast-check prints the shrunk counterexample.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import type { DeflateNegotiationOptions, DeflateParameters } from "../lib/deflate/negotiation.ts";
import { acceptDeflateOffer, deflateOffer, verifyDeflateResponse } from "../lib/deflate/negotiation.ts";
import { encodeFrame } from "../lib/core/encode_frame.ts";
import type { Extension } from "../lib/core/extension.ts";
import { type ExtensionOffer, formatExtensions, parseExtensions } from "../lib/handshake/extension_header.ts";
import type { Frame } from "../lib/core/frame.ts";
import { FrameParser } from "../lib/core/frame_parser.ts";
import { hasToken, isToken, parseTokenList } from "../lib/handshake/header_tokens.ts";
import { pakoCodec } from "../lib/deflate/pako_codec.ts";
import { PerMessageDeflate, type PerMessageDeflateOptions } from "../lib/deflate/permessage_deflate.ts";
import { Protocol, type ProtocolEvent } from "../lib/core/protocol.ts";
import { ProtocolError } from "../lib/core/protocol_error.ts";
import { concatBytes, hex, toHex } from "./_vectors.ts";

type Role = "server" | "client";

const other = (role: Role): Role => role === "server" ? "client" : "server";

// ---------------------------------------------------------------------------------------------------------
// Shared arbitraries and helpers

/** Cut points for splitting bytes: a few random ones, or (sometimes) every byte. */
const cutsArb = fc.oneof(
  { weight: 5, arbitrary: fc.array(fc.nat(), { maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constant("every byte" as const) },
);
type Cuts = number[] | "every byte";

/**
 * Copies of `bytes` cut at the given points (copies: receivers unmask in place). "every byte" cuts the
 * first and last KiB byte by byte and leaves the middle of a long input whole, to keep runs fast.
 */
function split(bytes: Uint8Array, cuts: Cuts): Uint8Array[] {
  if (cuts === "every byte") {
    if (bytes.length <= 2048) return Array.from(bytes, (b) => Uint8Array.of(b));
    const end = bytes.length - 1024;
    return [
      ...Array.from(bytes.subarray(0, 1024), (b) => Uint8Array.of(b)),
      bytes.slice(1024, end),
      ...Array.from(bytes.subarray(end), (b) => Uint8Array.of(b)),
    ];
  }
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    if (point > start) out.push(bytes.slice(start, point));
    start = Math.max(start, point);
  }
  out.push(bytes.slice(start));
  return out;
}

const deflateParametersArb: fc.Arbitrary<DeflateParameters> = fc.record({
  serverNoContextTakeover: fc.boolean(),
  clientNoContextTakeover: fc.boolean(),
  serverMaxWindowBits: fc.integer({ min: 8, max: 15 }),
  clientMaxWindowBits: fc.integer({ min: 8, max: 15 }),
});

const deflateSettingsArb: fc.Arbitrary<PerMessageDeflateOptions> = fc.record({
  level: fc.integer({ min: 0, max: 9 }),
  memLevel: fc.integer({ min: 1, max: 9 }),
  threshold: fc.integer({ min: 0, max: 64 }),
});

interface DeflateSetup {
  parameters: DeflateParameters;
  settings: PerMessageDeflateOptions;
}

/** permessage-deflate for one end, or none. */
function extensionsFor(role: Role, deflate: DeflateSetup | null): Extension[] {
  return deflate === null ? [] : [new PerMessageDeflate(role, deflate.parameters, deflate.settings)];
}

const deflateArb: fc.Arbitrary<DeflateSetup | null> = fc.option(
  fc.record({ parameters: deflateParametersArb, settings: deflateSettingsArb }),
  { freq: 2 },
);

/** Frames in a sequence of outgoing chunks, decoded as the peer of `sender` reads them. */
function framesSentBy(sender: Role, chunks: readonly Uint8Array[]): Frame[] {
  const parser = new FrameParser({
    role: other(sender),
    maxPayloadSize: Number.MAX_SAFE_INTEGER,
    allowedRsv: 0x40,
  });
  parser.push(concatBytes(chunks));
  const frames: Frame[] = [];
  for (let frame = parser.next(); frame !== undefined; frame = parser.next()) {
    frames.push({ ...frame, payload: frame.payload.slice() });
  }
  return frames;
}

/** Comparable form of an event (bytes as hex, so a failing assertion reads well). */
function describeEvent(event: ProtocolEvent): unknown {
  switch (event.type) {
    case "message":
      return typeof event.data === "string" ? { message: event.data } : { binary: toHex(event.data) };
    case "ping":
    case "pong":
      return { [event.type]: toHex(event.data) };
    case "close":
      return { close: event.code, reason: event.reason };
  }
}

/** Everything observable about a receiving Protocol after it was fed some bytes. */
interface Outcome {
  events: unknown[];
  failure: { name: string; code: number | undefined; message: string } | undefined;
  closeSent: unknown;
  closeReceived: unknown;
  state: number;
  outgoing: { opcode: number; fin: boolean; payload: string }[];
}

interface ReceiverSetup {
  role: Role;
  maxMessageSize: number | undefined;
  deflate: DeflateSetup | null;
}

/**
 * Feeds chunks to a fresh Protocol, through `receive` (events taken after each call) or through `feed` and
 * `nextEvent` one event at a time, as Connection drives it. Asserts neither ever throws.
 */
function runReceiver(
  setup: ReceiverSetup,
  chunks: readonly Uint8Array[],
  mode: "receive" | "nextEvent",
): Outcome {
  const protocol = new Protocol({
    role: setup.role,
    maxMessageSize: setup.maxMessageSize,
    extensions: extensionsFor(setup.role, setup.deflate),
  });
  const events: ProtocolEvent[] = [];
  const outgoing: Uint8Array[] = [];
  for (const chunk of chunks) {
    try {
      if (mode === "receive") {
        protocol.receive(chunk);
        events.push(...protocol.takeEvents());
      } else {
        protocol.feed(chunk);
        for (let event = protocol.nextEvent(); event !== undefined; event = protocol.nextEvent()) {
          events.push(event);
        }
      }
    } catch (error) {
      assert.fail(
        `Protocol.${mode === "receive" ? "receive" : "feed/nextEvent"} threw for peer input: ${error}`,
      );
    }
    outgoing.push(...protocol.takeOutgoing());
  }
  const failure = protocol.failure;
  return {
    events: events.map(describeEvent),
    failure: failure === undefined ? undefined : {
      name: failure.constructor.name,
      code: failure instanceof ProtocolError ? failure.code : undefined,
      message: failure.message,
    },
    closeSent: protocol.closeSent,
    closeReceived: protocol.closeReceived,
    state: protocol.state,
    outgoing: framesSentBy(setup.role, outgoing).map((f) => ({
      opcode: f.opcode,
      fin: f.fin,
      payload: toHex(f.payload),
    })),
  };
}

/** The failure rules: a ProtocolError with an allowed code, announced by the last frame sent. */
function assertFailureRules(outcome: Outcome, allowed: readonly number[]): void {
  const failure = outcome.failure;
  if (failure === undefined) return;
  assert.equal(
    failure.name,
    "ProtocolError",
    `the failure is a ProtocolError: ${failure.name}: ${failure.message}`,
  );
  assert.ok(
    allowed.includes(failure.code!),
    `close code ${failure.code} (${failure.message}) is one of ${allowed}`,
  );
  const last = outcome.outgoing.at(-1);
  assert.ok(last !== undefined && last.opcode === 0x8, "the last frame sent is a close frame");
  const payload = hex(last.payload);
  assert.equal((payload[0] << 8) | payload[1], failure.code, "the close frame carries the failure's code");
}

// ---------------------------------------------------------------------------------------------------------

describe("fuzz: FrameParser on random bytes (RFC 6455 §5.2)", () => {
  /** A frame header written field by field, so that many inputs get past the first two bytes. */
  const headerArb = fc.record({
    fin: fc.boolean(),
    rsv: fc.constantFrom(0, 0, 0, 0, 0x40, 0x20, 0x10, 0x70),
    opcode: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(0x0, 0x1, 0x2, 0x8, 0x9, 0xa) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) },
    ),
    masked: fc.boolean(),
    maskKey: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    payload: fc.uint8Array({ maxLength: 300 }),
    // The declared length: the payload's (minimal form), or any value in any form.
    length: fc.option(
      fc.record({ form: fc.constantFrom(7, 16, 64), value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
      { freq: 4 },
    ),
  });
  type Header = typeof headerArb extends fc.Arbitrary<infer T> ? T : never;

  function writeHeader(h: Header): Uint8Array {
    const length = h.payload.length;
    const form = h.length?.form ?? (length < 126 ? 7 : length < 65536 ? 16 : 64);
    const value = h.length === null ? BigInt(length) : h.length.value;
    const head = new Uint8Array(2 + (form === 16 ? 2 : form === 64 ? 8 : 0));
    head[0] = (h.fin ? 0x80 : 0) | h.rsv | h.opcode;
    const view = new DataView(head.buffer);
    if (form === 7) head[1] = Number(value % 128n);
    else if (form === 16) {
      head[1] = 126;
      view.setUint16(2, Number(value % 65536n));
    } else {
      head[1] = 127;
      view.setBigUint64(2, value);
    }
    if (h.masked) head[1] |= 0x80;
    return concatBytes([head, h.masked ? h.maskKey : new Uint8Array(0), h.payload]);
  }

  const inputArb = fc.oneof(
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }) },
    {
      weight: 3,
      arbitrary: fc.array(headerArb, { maxLength: 6 }).map((hs) => concatBytes(hs.map(writeHeader))),
    },
  );

  const parserArb = fc.record({
    role: fc.constantFrom<Role>("server", "client"),
    maxPayloadSize: fc.option(fc.nat({ max: 400 }), { freq: 2 }),
    allowedRsv: fc.constantFrom(0, 0x40, 0x70),
  });

  type Result = { frames: unknown[]; error: { code: number; message: string } | undefined };

  function parse(
    options: { role: Role; maxPayloadSize: number | null; allowedRsv: number },
    chunks: Uint8Array[],
  ): Result {
    const parser = new FrameParser({
      role: options.role,
      maxPayloadSize: options.maxPayloadSize ?? undefined,
      allowedRsv: options.allowedRsv,
    });
    const limit = options.maxPayloadSize ?? 16 * 1024 * 1024;
    const frames: unknown[] = [];
    let pushed = 0;
    for (const chunk of chunks) {
      parser.push(chunk);
      pushed += chunk.length;
      // Each frame takes at least 2 bytes: more calls than that means the parser is spinning.
      for (let calls = 0;; calls++) {
        assert.ok(calls <= pushed / 2 + 1, "next() keeps returning frames without consuming bytes");
        let frame: Frame | undefined;
        try {
          frame = parser.next();
        } catch (error) {
          assert.ok(error instanceof ProtocolError, `only ProtocolError is thrown, got ${error}`);
          assert.ok(
            error.code === 1002 || error.code === 1009,
            `code ${error.code} is 1002 or 1009: ${error.message}`,
          );
          return { frames, error: { code: error.code, message: error.message } };
        }
        if (frame === undefined) break;
        const control = (frame.opcode & 0x8) !== 0;
        assert.ok(
          control ? frame.payload.length <= 125 : frame.payload.length <= limit,
          "the payload is within its limit",
        );
        assert.ok(!control || frame.fin, "control frames are never fragmented");
        frames.push({ ...frame, payload: toHex(frame.payload) });
      }
    }
    return { frames, error: undefined };
  }

  test("random bytes in random splits: only ProtocolError 1002/1009, never a spin, and split-invariant", () => {
    fc.assert(
      fc.property(parserArb, inputArb, cutsArb, (options, bytes, cuts) => {
        const whole = parse(options, [bytes.slice()]);
        const pieces = parse(options, split(bytes, cuts));
        assert.deepEqual(pieces, whole, "the same frames and the same error, however the bytes are split");
      }),
      { seed: 0x5eed_0001, numRuns: 1500 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------

/** One thing a sender does. */
type Action =
  | { kind: "send"; data: string | Uint8Array; fragmentSize: number | null; compress: boolean }
  | { kind: "fragments"; pieces: (string | Uint8Array)[]; pingBetween: boolean }
  | { kind: "ping" | "pong"; data: Uint8Array }
  | { kind: "close"; code: number; reason: string };

/** Text with any code point, astral ones included (fast-check's "binary" unit never makes lone surrogates). */
const textArb = fc.string({ unit: "binary", maxLength: 200 });

/** A large, somewhat compressible message: it crosses the 16-bit and 64-bit length forms and codec chunks. */
const bigArb = fc.record({
  length: fc.integer({ min: 60_000, max: 140_000 }),
  seed: fc.nat(),
  text: fc.boolean(),
}).map(
  ({ length, seed, text }) => {
    const bytes = new Uint8Array(length);
    let state = seed;
    for (let i = 0; i < length; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      bytes[i] = text ? 0x61 + ((state >>> 24) % 8) : (i % 7 === 0 ? state >>> 24 : 0x55);
    }
    return text ? new TextDecoder().decode(bytes) : bytes;
  },
);

/** A short pattern repeated: compresses well, so the inflated size, not the wire size, meets the limits. */
const repetitiveArb = fc.tuple(
  fc.oneof(
    fc.string({ unit: "binary", minLength: 1, maxLength: 4 }),
    fc.uint8Array({ minLength: 1, maxLength: 8 }),
  ),
  fc.nat({ max: 600 }),
)
  .map(([unit, times]) =>
    typeof unit === "string" ? unit.repeat(times) : concatBytes(Array(times).fill(unit))
  );

const dataArb: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  { weight: 6, arbitrary: textArb },
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 400 }) },
  { weight: 3, arbitrary: repetitiveArb },
  { weight: 1, arbitrary: bigArb },
);

/** A string or bytes cut into pieces at random UTF-16 / byte offsets (surrogate pairs may be split). */
const piecesArb = fc.tuple(
  fc.oneof(textArb, fc.uint8Array({ maxLength: 300 })),
  fc.array(fc.nat(), { maxLength: 6 }),
).map(
  ([data, cuts]) => {
    const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
    const pieces: (string | Uint8Array)[] = [];
    let start = 0;
    for (const point of [...points, data.length]) {
      pieces.push(data.slice(start, point));
      start = point;
    }
    return pieces;
  },
);

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("send" as const),
      data: dataArb,
      fragmentSize: fc.option(fc.integer({ min: 1, max: 500 })),
      compress: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("fragments" as const),
      pieces: piecesArb,
      pingBetween: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constantFrom("ping" as const, "pong" as const),
      data: fc.uint8Array({ maxLength: 125 }),
    }),
  },
);

const closeArb = fc.record({
  kind: fc.constant("close" as const),
  code: fc.oneof(
    fc.constantFrom(1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011),
    fc.integer({ min: 3000, max: 4999 }),
  ),
  reason: fc.string({ unit: "binary", maxLength: 30 }),
});

/** Runs the actions on a sender; returns its wire bytes and the messages it sent, in order. */
function sendAll(role: Role, deflate: DeflateSetup | null, actions: readonly Action[]): {
  wire: Uint8Array;
  messages: (string | Uint8Array)[];
  pings: number;
} {
  const sender = new Protocol({ role, extensions: extensionsFor(role, deflate) });
  const messages: (string | Uint8Array)[] = [];
  let pings = 0;
  for (const action of actions) {
    switch (action.kind) {
      case "send":
        sender.send(action.data, {
          fragmentSize: action.fragmentSize ?? undefined,
          compress: action.compress,
        });
        messages.push(action.data);
        break;
      case "fragments": {
        const last = action.pieces.length - 1;
        action.pieces.forEach((piece, i) => {
          sender.sendFragment(piece, i === last);
          if (action.pingBetween && i < last) {
            sender.ping(Uint8Array.of(i));
            pings++;
          }
        });
        const first = action.pieces[0];
        messages.push(
          typeof first === "string"
            ? (action.pieces as string[]).join("")
            : concatBytes(action.pieces as Uint8Array[]),
        );
        break;
      }
      case "ping":
        sender.ping(action.data);
        pings++;
        break;
      case "pong":
        sender.pong(action.data);
        break;
      case "close":
        sender.close(action.code, action.reason);
        break;
    }
  }
  return { wire: concatBytes(sender.takeOutgoing()), messages, pings };
}

describe("fuzz: mutated valid frame sequences through Protocol (RFC 6455 §5, §7.1.7, RFC 7692)", () => {
  const mutationArb = fc.oneof(
    fc.record({ type: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ type: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({
      type: fc.constant("insert" as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }),
    }),
    fc.record({ type: fc.constant("delete" as const), at: fc.nat(), count: fc.integer({ min: 1, max: 12 }) }),
  );
  type Mutation = typeof mutationArb extends fc.Arbitrary<infer T> ? T : never;

  function mutate(bytes: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
    let out: Uint8Array = bytes.slice();
    for (const m of mutations) {
      const at = m.at % (out.length + 1);
      switch (m.type) {
        case "flip":
          if (at < out.length) out[at] ^= 1 << m.bit;
          break;
        case "set":
          if (at < out.length) out[at] = m.value;
          break;
        case "insert":
          out = concatBytes([out.subarray(0, at), m.bytes, out.subarray(at)]);
          break;
        case "delete":
          out = concatBytes([out.subarray(0, at), out.subarray(at + m.count)]);
          break;
      }
    }
    return out;
  }

  test("Protocol never throws; a failure is 1002/1007/1009, announced by the last frame; whole = split", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Role>("server", "client"),
        deflateArb,
        fc.array(actionArb, { minLength: 1, maxLength: 5 }),
        fc.option(closeArb, { freq: 4 }),
        fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
        fc.constantFrom(undefined, 100, 1000, 65536),
        cutsArb,
        (receiverRole, deflate, actions, close, mutations, maxMessageSize, cuts) => {
          const { wire } = sendAll(
            other(receiverRole),
            deflate,
            close === null ? actions : [...actions, close],
          );
          const bytes = mutate(wire, mutations);
          const setup: ReceiverSetup = { role: receiverRole, maxMessageSize, deflate };
          const whole = runReceiver(setup, [bytes.slice()], "receive");
          assertFailureRules(whole, [1002, 1007, 1009]);
          assert.deepEqual(
            runReceiver(setup, split(bytes, cuts), "receive"),
            whole,
            "receive() in pieces = whole",
          );
          assert.deepEqual(
            runReceiver(setup, split(bytes, cuts), "nextEvent"),
            whole,
            "feed()/nextEvent() = whole",
          );
        },
      ),
      { seed: 0x5eed_0002, numRuns: 400 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("fuzz: random messages round-trip between two Protocols (RFC 6455 §5.4, §5.6, RFC 7692 §6)", () => {
  test("messages, fragments and control frames arrive exactly, in order, however the wire is split", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Role>("server", "client"),
        deflateArb,
        fc.array(actionArb, { minLength: 1, maxLength: 6 }),
        fc.option(closeArb, { freq: 3 }),
        cutsArb,
        (senderRole, deflate, actions, close, cuts) => {
          const all = close === null ? actions : [...actions, close];
          const { wire, messages, pings } = sendAll(senderRole, deflate, all);
          const receiver = new Protocol({
            role: other(senderRole),
            maxMessageSize: 1 << 20,
            extensions: extensionsFor(other(senderRole), deflate),
          });
          const events: ProtocolEvent[] = [];
          for (const chunk of split(wire, cuts)) {
            receiver.receive(chunk);
            events.push(...receiver.takeEvents());
          }
          assert.equal(receiver.failure, undefined, `no failure: ${receiver.failure?.message}`);
          const received = events.filter((e) => e.type === "message").map((e) =>
            e.type === "message" ? e.data : ""
          );
          assert.equal(received.length, messages.length, "every message arrives");
          received.forEach((data, i) => {
            const sent = messages[i];
            assert.equal(typeof data, typeof sent, `message ${i} keeps its type`);
            if (typeof sent === "string") assert.ok(data === sent, `text message ${i} is exact`);
            else assert.deepEqual(data, sent, `binary message ${i} is exact`);
          });
          assert.equal(events.filter((e) => e.type === "ping").length, pings, "every ping arrives");
          const closeEvents = events.filter((e) => e.type === "close");
          if (close === null) assert.equal(closeEvents.length, 0);
          else assert.deepEqual(closeEvents, [{ type: "close", code: close.code, reason: close.reason }]);
        },
      ),
      { seed: 0x5eed_0003, numRuns: 300 },
    );
  });
});

describe("fuzz: maxMessageSize (RFC 6455 §10.4, RFC 7692 §8)", () => {
  const parameters: DeflateParameters = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
  };

  /** Deterministic incompressible bytes. */
  function noise(length: number, seed: number): Uint8Array {
    const bytes = new Uint8Array(length);
    let state = seed;
    for (let i = 0; i < length; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      bytes[i] = state >>> 24;
    }
    return bytes;
  }

  // Found by the property below (seed 0x5eed000b), fixed in cb21e67. maxMessageSize counts the message
  // "after decompression", but the per-frame limit used to be applied to the compressed payload: DEFLATE
  // grows incompressible data a little, so 1000 noise bytes (a 1006-byte frame) were refused at a limit
  // of 1000, and so was a 1000-byte message of 900 zeros then 100 noise bytes at its second frame (106
  // compressed bytes > 100 left).
  test("permessage-deflate: a message within maxMessageSize is delivered even when its compressed frames are larger", () => {
    const cases: [string, (client: Protocol) => void, Uint8Array][] = [
      ["1000 noise bytes in one frame", (c) => c.send(noise(1000, 1)), noise(1000, 1)],
      ["900 zeros, then 100 noise bytes", (c) => {
        c.sendFragment(new Uint8Array(900), false);
        c.sendFragment(noise(100, 2), true);
      }, concatBytes([new Uint8Array(900), noise(100, 2)])],
    ];
    for (const [what, send, message] of cases) {
      const client = new Protocol({
        role: "client",
        extensions: [new PerMessageDeflate("client", parameters, { threshold: 0 })],
      });
      const server = new Protocol({
        role: "server",
        maxMessageSize: 1000,
        extensions: [new PerMessageDeflate("server", parameters)],
      });
      send(client);
      for (const chunk of client.takeOutgoing()) server.receive(chunk);
      assert.equal(server.failure, undefined, `${what}: ${server.failure?.message}`);
      assert.deepEqual(server.takeEvents(), [{ type: "message", data: message, binary: typeof message !== "string" }], what);
    }
  });

  test("a message is delivered iff its size (inflated) is within maxMessageSize; the first larger one fails with 1009", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Role>("server", "client"),
        deflateArb,
        fc.array(actionArb.filter((a) => a.kind === "send" || a.kind === "fragments"), {
          minLength: 1,
          maxLength: 5,
        }),
        fc.integer({ min: 0, max: 2000 }),
        cutsArb,
        (senderRole, deflate, actions, limit, cuts) => {
          const { wire, messages } = sendAll(senderRole, deflate, actions);
          const size = (m: string | Uint8Array) =>
            typeof m === "string" ? new TextEncoder().encode(m).length : m.length;
          const firstTooBig = messages.findIndex((m) => size(m) > limit);
          const outcome = runReceiver(
            { role: other(senderRole), maxMessageSize: limit, deflate },
            split(wire, cuts),
            "receive",
          );
          const delivered = outcome.events.filter((e) =>
            typeof e === "object" && e !== null && !("ping" in e)
          );
          const count = delivered.length;
          assert.deepEqual(
            delivered,
            messages.slice(0, count).map((m) => describeEvent({ type: "message", data: m, binary: typeof m !== "string" })),
            "the messages delivered are the first ones sent, exact",
          );
          const expectedCount = firstTooBig === -1 ? messages.length : firstTooBig;
          assert.equal(count, expectedCount, "every message within the limit is delivered");
          if (firstTooBig === -1) assert.equal(outcome.failure, undefined);
          else {
            assert.equal(
              outcome.failure?.code,
              1009,
              `message ${count} of ${size(messages[count])} bytes > ${limit}`,
            );
            assertFailureRules(outcome, [1009]);
          }
        },
      ),
      { seed: 0x5eed_000b, numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("fuzz: frame sequences against a model of §5.4 and §5.5 (RFC 6455)", () => {
  /** Well-formed frames (masked as needed, minimal lengths, ASCII text) in any order: only the sequence is at stake. */
  const frameArb = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        opcode: fc.constantFrom(0x0, 0x1, 0x2),
        fin: fc.boolean(),
        payload: fc.string({ unit: "binary-ascii", maxLength: 20 }).map((t) => new TextEncoder().encode(t)),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        opcode: fc.constantFrom(0x9, 0xa),
        fin: fc.constant(true),
        payload: fc.uint8Array({ maxLength: 10 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        opcode: fc.constant(0x8),
        fin: fc.constant(true),
        payload: fc.constantFrom(Uint8Array.of(), Uint8Array.of(0x03, 0xe8, 0x6f, 0x6b)),
      }),
    },
  );

  /** What RFC 6455 makes of the sequence: the events up to the first violation, and that violation's code. */
  function model(
    frames: readonly { opcode: number; fin: boolean; payload: Uint8Array }[],
  ): Outcome["events"] | 1002 {
    const events: unknown[] = [];
    let message: { opcode: number; parts: Uint8Array[] } | undefined;
    for (const { opcode, fin, payload } of frames) {
      if (opcode === 0x8) {
        const code = payload.length === 0 ? 1005 : 1000;
        events.push({ close: code, reason: payload.length === 0 ? "" : "ok" });
        return events; // §1.4: nothing is read after the close frame
      }
      if (opcode === 0x9 || opcode === 0xa) {
        events.push({ [opcode === 0x9 ? "ping" : "pong"]: toHex(payload) });
        continue;
      }
      // §5.4: a continuation needs a message to continue; a new message cannot start inside another.
      if ((opcode === 0x0) !== (message !== undefined)) return 1002;
      message ??= { opcode, parts: [] };
      message.parts.push(payload);
      if (!fin) continue;
      const bytes = concatBytes(message.parts);
      events.push(
        describeEvent({
          type: "message",
          data: message.opcode === 0x1 ? new TextDecoder().decode(bytes) : bytes,
          binary: message.opcode !== 0x1,
        }),
      );
      message = undefined;
    }
    return events;
  }

  test("Protocol accepts exactly the sequences the model allows, with the same events", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Role>("server", "client"),
        fc.array(frameArb, { maxLength: 12 }),
        cutsArb,
        (role, frames, cuts) => {
          const wire = concatBytes(
            frames.flatMap((f) => encodeFrame(f.opcode, f.payload, { fin: f.fin, mask: role === "server" })),
          );
          const outcome = runReceiver(
            { role, maxMessageSize: undefined, deflate: null },
            split(wire, cuts),
            "receive",
          );
          const expected = model(frames);
          if (expected === 1002) {
            assert.equal(outcome.failure?.code, 1002, "the sequence violates §5.4");
            assertFailureRules(outcome, [1002]);
          } else {
            assert.equal(outcome.failure, undefined, `no failure: ${outcome.failure?.message}`);
            assert.deepEqual(outcome.events, expected);
          }
        },
      ),
      { seed: 0x5eed_000c, numRuns: 1500 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("fuzz: UTF-8 validation agrees with TextDecoder (RFC 6455 §8.1)", () => {
  /** Byte strings near the edges of UTF-8: overlongs, surrogates, out of range, truncations, valid runs. */
  const utf8ishArb = fc.oneof(
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 40 }) },
    {
      weight: 3,
      arbitrary: fc.array(
        fc.oneof(
          fc.string({ unit: "binary", maxLength: 6 }).map((s) => new TextEncoder().encode(s)),
          fc.constantFrom(
            [0xc0, 0x80], // overlong NUL
            [0xc1, 0xbf], // overlong
            [0xe0, 0x80, 0x80], // overlong
            [0xe0, 0x9f, 0xbf], // overlong
            [0xed, 0xa0, 0x80], // U+D800
            [0xed, 0xbf, 0xbf], // U+DFFF
            [0xf0, 0x80, 0x80, 0x80], // overlong
            [0xf4, 0x90, 0x80, 0x80], // U+110000
            [0xf5, 0x80, 0x80, 0x80],
            [0xff],
            [0xfe],
            [0x80],
            [0xbf],
            [0xe2, 0x82], // truncated €
            [0xf0, 0x9f, 0x98], // truncated emoji
            [0xef, 0xbb, 0xbf], // BOM
            [0xf4, 0x8f, 0xbf, 0xbf], // U+10FFFF
          ).map((b) => Uint8Array.from(b)),
        ),
        { maxLength: 8 },
      ).map(concatBytes),
    },
  );

  const fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

  test("a text message is accepted iff TextDecoder (fatal) accepts its bytes, and rejected with 1007", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Role>("server", "client"),
        utf8ishArb,
        fc.array(fc.nat(), { maxLength: 4 }), // where the message is cut into fragments
        fc.boolean(), // compressed (permessage-deflate)
        cutsArb, // where the wire is cut
        (receiverRole, bytes, fragmentCuts, compressed, cuts) => {
          let expected: string | undefined;
          try {
            expected = fatal.decode(bytes);
          } catch {
            expected = undefined;
          }
          const deflate: DeflateSetup | null = compressed
            ? {
              parameters: {
                serverNoContextTakeover: true,
                clientNoContextTakeover: true,
                serverMaxWindowBits: 15,
                clientMaxWindowBits: 15,
              },
              settings: {},
            }
            : null;
          const payload = compressed
            ? pakoCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 }).compress(bytes, true)
            : bytes;
          const fragments = split(payload, fragmentCuts);
          const mask = receiverRole === "server";
          const wire = concatBytes(
            fragments.flatMap((fragment, i) =>
              encodeFrame(i === 0 ? 0x1 : 0x0, fragment, {
                fin: i === fragments.length - 1,
                rsv1: compressed && i === 0,
                mask,
              })
            ),
          );
          const outcome = runReceiver(
            { role: receiverRole, maxMessageSize: undefined, deflate },
            split(wire, cuts),
            "receive",
          );
          if (expected === undefined) {
            assert.equal(outcome.failure?.code, 1007, `invalid UTF-8 ${toHex(bytes)} fails with 1007`);
            assertFailureRules(outcome, [1007]);
          } else {
            assert.equal(
              outcome.failure,
              undefined,
              `valid UTF-8 ${toHex(bytes)} is accepted: ${outcome.failure?.message}`,
            );
            assert.deepEqual(outcome.events, [{ message: expected }]);
          }
        },
      ),
      { seed: 0x5eed_0004, numRuns: 1500 },
    );
  });

  test("a close reason is accepted iff it is UTF-8, and rejected with 1007 (§5.5.1)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Role>("server", "client"),
        utf8ishArb.filter((b) => b.length <= 123),
        cutsArb,
        (role, reason, cuts) => {
          let expected: string | undefined;
          try {
            expected = fatal.decode(reason);
          } catch {
            expected = undefined;
          }
          const payload = concatBytes([Uint8Array.of(0x03, 0xe8), reason]);
          const wire = concatBytes(encodeFrame(0x8, payload, { mask: role === "server" }));
          const outcome = runReceiver(
            { role, maxMessageSize: undefined, deflate: null },
            split(wire, cuts),
            "receive",
          );
          if (expected === undefined) {
            assertFailureRules(outcome, [1007]);
            assert.equal(outcome.failure?.code, 1007);
          } else {
            assert.deepEqual(outcome.events, [{ close: 1000, reason: expected }]);
          }
        },
      ),
      { seed: 0x5eed_0005, numRuns: 500 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("fuzz: Sec-WebSocket-Extensions and token lists (RFC 6455 §9.1, RFC 7230 §3.2.6, RFC 7692 §7)", () => {
  const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const tokenArb = fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 12 });

  /** Strings made mostly of the grammar's own characters, so the parser gets deep before it fails. */
  const headerishArb = fc.oneof(
    fc.string({
      unit: fc.oneof(
        { weight: 8, arbitrary: fc.constantFrom(...'ab=;," \t\\9_-') },
        {
          weight: 1,
          arbitrary: fc.constantFrom("\u0000", "\r", "\n", "\u00a0", "é", "\u{1f600}", "\ud800", "\u000b"),
        },
      ),
      maxLength: 40,
    }),
    fc.string({ unit: "binary", maxLength: 40 }),
  );

  test("parseExtensions on random strings throws nothing but SyntaxError; what it returns is tokens and re-parses", () => {
    fc.assert(
      fc.property(headerishArb, (value) => {
        let offers: ExtensionOffer[];
        try {
          offers = parseExtensions(value);
        } catch (error) {
          assert.ok(error instanceof SyntaxError, `only SyntaxError, got ${error}`);
          return;
        }
        assert.ok(offers.length > 0, "an extension list has one element at least");
        for (const offer of offers) {
          assert.ok(isToken(offer.name), `name ${JSON.stringify(offer.name)} is a token`);
          for (const [name, param] of offer.params) {
            assert.ok(isToken(name), `parameter ${JSON.stringify(name)} is a token`);
            assert.ok(param === null || isToken(param), `value ${JSON.stringify(param)} is a token`);
          }
        }
        assert.deepEqual(
          parseExtensions(formatExtensions(offers)),
          offers,
          "format(parse(x)) parses to the same",
        );
      }),
      { seed: 0x5eed_0006, numRuns: 3000 },
    );
  });

  const offerArb: fc.Arbitrary<ExtensionOffer> = fc.record({
    name: tokenArb,
    params: fc.array(fc.tuple(tokenArb, fc.option(tokenArb, { freq: 2 })), { maxLength: 4 }),
  }, { noNullPrototype: true });

  /** Whitespace the grammar allows around separators (RFC 7230 OWS). */
  const owsArb = fc.string({ unit: fc.constantFrom(" ", "\t"), maxLength: 2 });

  test("generated valid lists round-trip: parse(format(x)) = x, and with random OWS, quoting and empty elements", () => {
    fc.assert(
      fc.property(
        fc.array(offerArb, { minLength: 1, maxLength: 4 }),
        fc.infiniteStream(fc.tuple(owsArb, fc.boolean(), fc.nat({ max: 2 }))),
        (offers, noise) => {
          assert.deepEqual(parseExtensions(formatExtensions(offers)), offers);
          // The same list written loosely: OWS around separators, quoted values (a backslash before any
          // character is an escape), and empty list elements, which recipients skip (RFC 7230 §7).
          const next = () => noise.next().value as [string, boolean, number];
          const ows = () => next()[0];
          const elements = offers.map((offer) => {
            let text = offer.name;
            for (const [name, value] of offer.params) {
              text += `${ows()};${ows()}${name}`;
              if (value === null) continue;
              const [space, quote] = next();
              const escaped = [...value].map((c) => next()[1] ? `\\${c}` : c).join("");
              text += `${space}=${ows()}${quote ? `"${escaped}"` : value}`;
            }
            return text;
          });
          const empties = () => `${ows()},`.repeat(next()[2]);
          const loose = empties() + elements.map((e) => `${ows()}${e}${ows()}`).join(`,${empties()}`) +
            empties();
          assert.deepEqual(parseExtensions(loose), offers, `parsing ${JSON.stringify(loose)}`);
        },
      ),
      { seed: 0x5eed_0007, numRuns: 1500 },
    );
  });

  /** Offers assembled from permessage-deflate's own vocabulary, valid and invalid values alike. */
  const deflateHeaderArb = fc.array(
    fc.tuple(
      fc.constantFrom("permessage-deflate", "PerMessage-Deflate", "x-webkit-deflate-frame", "foo"),
      fc.array(
        fc.tuple(
          fc.constantFrom(
            "server_no_context_takeover",
            "client_no_context_takeover",
            "server_max_window_bits",
            "client_max_window_bits",
            "Client_Max_Window_Bits",
            "mux",
          ),
          fc.option(
            fc.constantFrom("8", "9", "10", "15", "7", "16", "08", "0", "1e1", "abc", '"12"', '"1\\2"'),
          ),
        ),
        { maxLength: 4 },
      ),
    ).map(([name, params]) => name + params.map(([p, v]) => v === null ? `; ${p}` : `; ${p}=${v}`).join("")),
    { minLength: 1, maxLength: 3 },
  ).map((elements) => elements.join(", "));

  const negotiationOptionsArb: fc.Arbitrary<DeflateNegotiationOptions> = fc.record({
    serverNoContextTakeover: fc.boolean(),
    clientNoContextTakeover: fc.boolean(),
    serverMaxWindowBits: fc.integer({ min: 8, max: 15 }),
    clientMaxWindowBits: fc.integer({ min: 8, max: 15 }),
  }, { requiredKeys: [] });

  test("acceptDeflateOffer never throws for parsed offers; what it accepts is within 8..15 and formattable", () => {
    fc.assert(
      fc.property(fc.oneof(deflateHeaderArb, headerishArb), negotiationOptionsArb, (header, options) => {
        let offers: ExtensionOffer[];
        try {
          offers = parseExtensions(header);
        } catch {
          return; // not a header the handshake would get past
        }
        const accepted = acceptDeflateOffer(offers, options);
        if (accepted === undefined) return;
        const p = accepted.parameters;
        for (const bits of [p.serverMaxWindowBits, p.clientMaxWindowBits]) {
          assert.ok(Number.isInteger(bits) && bits >= 8 && bits <= 15);
        }
        assert.deepEqual(parseExtensions(formatExtensions([accepted.response])), [accepted.response]);
        assert.equal(accepted.response.name, "permessage-deflate");
      }),
      { seed: 0x5eed_0008, numRuns: 2000 },
    );
  });

  test("our client's offer is always accepted by our server, and both ends agree on the parameters", () => {
    fc.assert(
      fc.property(negotiationOptionsArb, negotiationOptionsArb, (clientOptions, serverOptions) => {
        const header = formatExtensions([deflateOffer(clientOptions)]);
        const accepted = acceptDeflateOffer(parseExtensions(header), serverOptions);
        assert.ok(accepted !== undefined, `the server accepts ${header}`);
        const [response] = parseExtensions(formatExtensions([accepted.response]));
        assert.deepEqual(verifyDeflateResponse(response, clientOptions), accepted.parameters);
      }),
      { seed: 0x5eed_0009, numRuns: 1000 },
    );
  });

  test("parseTokenList and hasToken never throw; the list holds tokens only", () => {
    fc.assert(
      fc.property(headerishArb, tokenArb, (value, token) => {
        const list = parseTokenList(value);
        if (list !== undefined) {
          for (const item of list) assert.ok(isToken(item), `${JSON.stringify(item)} is a token`);
          // RFC 7230 §7: the list is its elements, commas and OWS (SP / HTAB), nothing else.
          assert.equal(
            list.join(""),
            value.replace(/[ \t,]/g, ""),
            "nothing but elements, commas and OWS is dropped",
          );
        }
        const found = hasToken(value, token.toLowerCase());
        if (list !== undefined) {
          assert.equal(
            found,
            list.some((item) => item.toLowerCase() === token.toLowerCase()),
          );
        }
      }),
      { seed: 0x5eed_000a, numRuns: 3000 },
    );
  });
});
