/**
 * The conformance cases, after the public case descriptions of the Autobahn TestSuite (groups 1-7, 9, 10,
 * 12 and 13): what the fuzzing side sends, with its timing, and what it expects back. Cases are data; the
 * few helpers here only build payloads. The same definitions drive both the fuzzing client (against a
 * server) and the fuzzing server (against a client): frames are masked or not by the role that sends them.
 *
 * Timings are Autobahn's (milliseconds here); the runners can scale them. Sizes and message counts of the
 * performance groups (9, 12, 13) are cut down to fit a CI run: see {@linkcode compressionMessageCount},
 * {@linkcode ROUND_TRIP_COUNT} and the `README.md` of this folder.
 *
 * @module
 */

/** Opcodes, by name. */
export const Op = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** One frame to send. */
export interface FrameSpec {
  /** Any 4-bit opcode, reserved ones included. */
  opcode: number;
  /** The payload. @default empty */
  payload?: Uint8Array;
  /** FIN bit. @default {true} */
  fin?: boolean;
  /** RSV bits as Autobahn numbers them: RSV1 = 4, RSV2 = 2, RSV3 = 1. @default {0} */
  rsv?: number;
}

/** A message of a round-trip series. */
export interface RoundTripMessage {
  /** `Op.Text` or `Op.Binary`. */
  opcode: number;
  /** The payload (UTF-8 for text). */
  payload: Uint8Array;
}

/** What the fuzzing side does, in order. */
export type Step =
  /** One frame, written whole, or in chops of `chop` bytes, or (`sync`) in a write of its own. */
  | { do: "frame"; frame: FrameSpec; chop?: number; sync?: boolean }
  /**
   * Part of one frame: the bytes from payload offset `from` (0 includes the header) to `to` (default: the
   * end). Several steps naming the same `FrameSpec` object send the pieces of one encoded frame.
   */
  | { do: "frameBytes"; frame: FrameSpec; from: number; to?: number }
  /**
   * A whole message: compressed when permessage-deflate is in force, then cut into frames of
   * `fragmentSize` payload bytes (0: one frame).
   */
  | { do: "message"; opcode: number; payload: Uint8Array; fragmentSize?: number }
  /** Starts the closing handshake with this close payload (built with {@linkcode closePayload}). */
  | { do: "close"; payload: Uint8Array }
  /**
   * Waits. If the connection is still open afterwards, records a `timeout` event with the tag (when given)
   * and goes on; otherwise the script ends (Autobahn's `continueLater`).
   */
  | { do: "wait"; ms: number; tag?: string }
  /** Drops the TCP connection after `ms` unless it has closed by then (Autobahn's `killAfter`). */
  | { do: "killAfter"; ms: number }
  /** Starts the closing handshake (1000) after `ms` if the connection is still open (`closeAfter`). */
  | { do: "closeAfter"; ms: number }
  /**
   * Sends `count` messages one after the other, each after the echo of the previous one arrived and
   * matched; then starts the closing handshake. The case is judged on the echoes.
   */
  | { do: "roundTrips"; count: number; message: (index: number) => RoundTripMessage; fragmentSize?: number };

/** Something the fuzzing side observed, in order. */
export type Event =
  | { type: "message"; opcode: number; payload: Uint8Array }
  | { type: "ping"; payload: Uint8Array }
  | { type: "pong"; payload: Uint8Array }
  | { type: "timeout"; tag: string };

/** How the connection must end. */
export interface CloseExpectation {
  /** Who must start the closing handshake (or fail the connection): the fuzzing side or the peer tested. */
  by: "fuzzer" | "peer";
  /** Close codes accepted from the peer (a close frame without a code, or none at all, is accepted too). */
  codes: number[];
  /** Whether the closing handshake must complete and the server must close TCP. */
  requireClean: boolean;
  /** UTF-8 cases: a peer that never fails the connection fails the case, not just its close behaviour. */
  wrongEndpointFatal?: boolean;
  /** Close cases (group 7): a wrong close code fails the case. */
  wrongCodeFatal?: boolean;
  /**
   * Start the closing handshake as soon as the events match the OK outcome (Autobahn's `finishWhenDone`).
   * @default {true}
   */
  autoClose?: boolean;
}

/**
 * One server-side acceptance rule of Autobahn's 13.x cases: (ask the client for no context takeover, ask the
 * client for this `client_max_window_bits`; 0 asks nothing). A rule applies only when the offer allows it.
 */
export type AcceptRule = readonly [requestNoContextTakeover: boolean, requestMaxWindowBits: number];

/** permessage-deflate set-up of a case (groups 12 and 13). */
export interface DeflateSpec {
  /** The fuzzing client's `Sec-WebSocket-Extensions` offer. */
  offer: string;
  /** How the fuzzing server answers the offer of the client tested: the first rule that applies wins. */
  accept: readonly AcceptRule[];
  /** The permessage-deflate options our client offers with, when it is the peer tested. */
  clientOptions: {
    serverNoContextTakeover?: boolean;
    clientNoContextTakeover?: boolean;
    serverMaxWindowBits?: number;
    clientMaxWindowBits?: number;
  };
}

/** One conformance case. */
export interface ConformanceCase {
  /** The case number, e.g. `"6.4.1"`. */
  id: string;
  /** What the fuzzing side does. */
  description: string;
  /** What should happen. */
  expectation: string;
  /** The script. */
  steps: Step[];
  /**
   * The events that pass (`ok`) and pass non-strictly (`nonStrict`), compared in order, byte for byte; or
   * `"roundTrips"` when the `roundTrips` step judges.
   */
  expect: { ok: Event[]; nonStrict?: Event[][] } | "roundTrips";
  /** How the connection must end. */
  close: CloseExpectation;
  /** permessage-deflate set-up; without it nothing is offered and nothing is accepted. */
  deflate?: DeflateSpec;
  /** Bound on the whole case, in unscaled milliseconds. @default {10000} */
  timeoutMs?: number;
  /** A performance case: runs with no other case beside it. @default {false} */
  exclusive?: boolean;
}

const encoder = new TextEncoder();

/** UTF-8 bytes of a string. */
export function text(value: string): Uint8Array {
  return encoder.encode(value);
}

/** Bytes from hex digits (spaces ignored). */
export function hex(digits: string): Uint8Array {
  const clean = digits.replaceAll(" ", "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** `unit` (a string's UTF-8 or bytes) repeated and cut to `length` bytes. */
export function repeat(unit: string | Uint8Array, length: number): Uint8Array {
  const bytes = typeof unit === "string" ? text(unit) : unit;
  const out = new Uint8Array(length);
  if (length === 0) return out;
  out.set(bytes.subarray(0, Math.min(bytes.length, length)));
  for (let filled = bytes.length; filled < length; filled *= 2) {
    out.copyWithin(filled, 0, Math.min(filled, length - filled));
  }
  return out;
}

/** A close frame's payload: the code (if any) and the reason bytes. */
export function closePayload(code?: number, reason: Uint8Array | string = new Uint8Array(0)): Uint8Array {
  const reasonBytes = typeof reason === "string" ? text(reason) : reason;
  if (code === undefined) return reasonBytes;
  const out = new Uint8Array(2 + reasonBytes.length);
  out[0] = code >>> 8;
  out[1] = code & 0xff;
  out.set(reasonBytes, 2);
  return out;
}

/**
 * Messages per compression case (groups 12 and 13) of `length` bytes. Autobahn sends 1000 of every size; a
 * CI run sends 8, and fewer of the largest (at least 2, so that context takeover is always exercised), which
 * keeps each case near 128 KiB each way.
 *
 * @param length The message size.
 * @returns How many messages.
 */
export function compressionMessageCount(length: number): number {
  return Math.min(8, Math.max(2, Math.ceil((128 * 1024) / length)));
}

/** Messages per round-trip case of 9.7 and 9.8 (Autobahn: 1000). */
export const ROUND_TRIP_COUNT = 100;

// ---------------------------------------------------------------------------------------------------------
// Shorthands for the tables below.

const KiB = 1024;
const MiB = 1024 * 1024;

function frame(
  opcode: number,
  payload?: Uint8Array,
  options: Omit<FrameSpec, "opcode" | "payload"> = {},
): FrameSpec {
  return { opcode, payload, ...options };
}

function send(spec: FrameSpec, options: { chop?: number; sync?: boolean } = {}): Step {
  return { do: "frame", frame: spec, ...options };
}

function message(payload: Uint8Array, binary = false): Event {
  return { type: "message", opcode: binary ? Op.Binary : Op.Text, payload };
}

function pong(payload: Uint8Array = new Uint8Array(0)): Event {
  return { type: "pong", payload };
}

function timeout(tag: string): Event {
  return { type: "timeout", tag };
}

const NORMAL = 1000, PROTOCOL_ERROR = 1002, INVALID_PAYLOAD = 1007;

/** The fuzzing side closes after the echo; the closing handshake must complete cleanly with 1000. */
const cleanClose: CloseExpectation = { by: "fuzzer", codes: [NORMAL], requireClean: true };
/** The peer must fail the connection (close frame with one of `codes`, or a TCP close). */
function peerFails(
  codes: number[] = [PROTOCOL_ERROR],
  extra: Partial<CloseExpectation> = {},
): CloseExpectation {
  return { by: "peer", codes, requireClean: false, ...extra };
}

const cases: ConformanceCase[] = [];

function add(testCase: ConformanceCase): void {
  cases.push(testCase);
}

// ---------------------------------------------------------------------------------------------------------
// 1 Framing: text and binary messages of every length boundary.

const lengths: [number, number?][] = [[0], [125], [126], [127], [128], [65535], [65536], [65536, 997]];
for (const [group, binary] of [[1, false], [2, true]] as const) {
  lengths.forEach(([length, chop], index) => {
    const payload = binary ? repeat(hex("fe"), length) : repeat("*", length);
    const kind = binary ? "binary" : "text";
    add({
      id: `1.${group}.${index + 1}`,
      description: `Send ${kind} message with payload of length ${length}` +
        (chop ? `. Sent out data in chops of ${chop} octets.` : "."),
      expectation: `Receive echo'ed ${kind} message (with payload as sent). Clean close with normal code.`,
      steps: [send(frame(binary ? Op.Binary : Op.Text, payload), { chop }), {
        do: "killAfter",
        ms: chop ? 10_000 : 1000,
      }],
      expect: { ok: [message(payload, binary)] },
      close: cleanClose,
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// 2 Pings and pongs.

const pingPayloads: [string, Uint8Array, number?][] = [
  ["Send ping without payload.", new Uint8Array(0)],
  ["Send ping with small text payload.", text("Hello, world!")],
  ["Send ping with small binary (non UTF-8) payload.", hex("00ff fefd fcfb 00ff")],
  ["Send ping with binary payload of 125 octets.", repeat(hex("fe"), 125)],
];
pingPayloads.forEach(([description, payload], index) => {
  add({
    id: `2.${index + 1}`,
    description,
    expectation: "Pong (with payload echo'ed) is sent in reply to Ping. Clean close with normal code.",
    steps: [send(frame(Op.Ping, payload)), { do: "closeAfter", ms: 1000 }],
    expect: { ok: [pong(payload)] },
    close: cleanClose,
  });
});
add({
  id: "2.5",
  description: "Send ping with binary payload of 126 octets.",
  expectation:
    "Connection is failed immediately (1002/Protocol Error), since control frames are only allowed " +
    "to have payload up to and including 125 octets.",
  steps: [send(frame(Op.Ping, repeat(hex("fe"), 126))), { do: "killAfter", ms: 1000 }],
  expect: { ok: [] },
  close: peerFails(),
});
add({
  id: "2.6",
  description: "Send ping with binary payload of 125 octets, send in octet-wise chops.",
  expectation: "Pong with payload echo'ed is sent in reply to Ping. Implementations must be TCP clean. " +
    "Clean close with normal code.",
  steps: [send(frame(Op.Ping, repeat(hex("fe"), 125)), { chop: 1 }), { do: "closeAfter", ms: 2000 }],
  expect: { ok: [pong(repeat(hex("fe"), 125))] },
  close: cleanClose,
});
add({
  id: "2.7",
  description:
    "Send unsolicited pong without payload. Verify nothing is received. Clean close with normal code.",
  expectation: "Nothing.",
  steps: [send(frame(Op.Pong)), { do: "close", payload: closePayload(NORMAL) }, {
    do: "closeAfter",
    ms: 1000,
  }],
  expect: { ok: [] },
  close: cleanClose,
});
add({
  id: "2.8",
  description:
    "Send unsolicited pong with payload. Verify nothing is received. Clean close with normal code.",
  expectation: "Nothing.",
  steps: [
    send(frame(Op.Pong, text("unsolicited pong payload"))),
    { do: "close", payload: closePayload(NORMAL) },
    { do: "closeAfter", ms: 1000 },
  ],
  expect: { ok: [] },
  close: cleanClose,
});
add({
  id: "2.9",
  description:
    "Send unsolicited pong with payload. Send ping with payload. Verify pong for ping is received.",
  expectation:
    "Nothing in reply to own Pong, but Pong with payload echo'ed in reply to Ping. Clean close with " +
    "normal code.",
  steps: [
    send(frame(Op.Pong, text("unsolicited pong payload"))),
    send(frame(Op.Ping, text("ping payload"))),
    { do: "closeAfter", ms: 1000 },
  ],
  expect: { ok: [pong(text("ping payload"))] },
  close: cleanClose,
});
for (const [id, chop] of [["2.10", undefined], ["2.11", 1]] as const) {
  const pings = Array.from({ length: 10 }, (_, i) => text(`payload-${i}`));
  add({
    id,
    description: "Send 10 Pings with payload." + (chop ? " Send out octets in octet-wise chops." : ""),
    expectation:
      "Pongs for our Pings with all the payloads. Note: This is not required by the Spec .. but we " +
      "check for this behaviour anyway. Clean close with normal code.",
    steps: [...pings.map((p) => send(frame(Op.Ping, p), { chop })), { do: "closeAfter", ms: 3000 }],
    expect: { ok: pings.map((p) => pong(p)) },
    close: cleanClose,
  });
}

// ---------------------------------------------------------------------------------------------------------
// 3 Reserved bits: no extension is negotiated, so any RSV bit fails the connection.

const hello = text("Hello, world!");
const rsvFollowUp = (rsv: number, options: { chop?: number; sync?: boolean }): Step[] => [
  send(frame(Op.Text, hello), options),
  send(frame(Op.Text, hello, { rsv }), options),
  send(frame(Op.Ping), options),
  { do: "killAfter", ms: 1000 },
];
const rsvFollowUpExpectation =
  "Echo for first message is received, but then connection is failed immediately, " +
  "since RSV must be 0, when no extension defining RSV meaning has been negotiated. The Pong is not received.";
add({
  id: "3.1",
  description: "Send small text message with RSV = 1.",
  expectation:
    "The connection is failed immediately (1002/protocol error), since RSV must be 0, when no extension " +
    "defining RSV meaning has been negotiated.",
  steps: [send(frame(Op.Text, hello, { rsv: 1 })), { do: "killAfter", ms: 1000 }],
  expect: { ok: [] },
  close: peerFails(),
});
for (
  const [id, rsv, options, how] of [
    ["3.2", 2, {}, ""],
    ["3.3", 3, { sync: true }, " Octets are sent in frame-wise chops."],
    ["3.4", 4, { chop: 1 }, " Octets are sent in octet-wise chops."],
  ] as const
) {
  add({
    id,
    description: `Send small text message, then send again with RSV = ${rsv}, then send Ping.${how}`,
    expectation: rsvFollowUpExpectation,
    steps: rsvFollowUp(rsv, options),
    expect: { ok: [message(hello)], nonStrict: [[]] },
    close: peerFails(),
  });
}
add({
  id: "3.5",
  description: "Send small binary message with RSV = 5.",
  expectation: "The connection is failed immediately, since RSV must be 0.",
  steps: [send(frame(Op.Binary, hex("00ff fefd fcfb 00ff"), { rsv: 5 })), { do: "killAfter", ms: 1000 }],
  expect: { ok: [] },
  close: peerFails(),
});
add({
  id: "3.6",
  description: "Send Ping with RSV = 6.",
  expectation: "The connection is failed immediately, since RSV must be 0.",
  steps: [send(frame(Op.Ping, hello, { rsv: 6 })), { do: "killAfter", ms: 1000 }],
  expect: { ok: [] },
  close: peerFails(),
});
add({
  id: "3.7",
  description: "Send Close with RSV = 7.",
  expectation: "The connection is failed immediately, since RSV must be 0.",
  steps: [send(frame(Op.Close, undefined, { rsv: 7 })), { do: "killAfter", ms: 1000 }],
  expect: { ok: [] },
  close: peerFails(),
});

// ---------------------------------------------------------------------------------------------------------
// 4 Opcodes: reserved non-control (3-7) and control (11-15) opcodes fail the connection.

for (const [group, base, kind] of [[1, 3, "non-control"], [2, 11, "control"]] as const) {
  for (let i = 0; i < 5; i++) {
    const opcode = base + i;
    const withPayload = i === 1 || i >= 3;
    const followUp = i >= 2;
    const chop = i === 4 ? 1 : undefined;
    const reserved = frame(opcode, withPayload ? hello : undefined);
    const steps: Step[] = followUp
      ? [send(frame(Op.Text, hello), { chop }), send(reserved, { chop }), send(frame(Op.Ping), { chop })]
      : [send(reserved)];
    steps.push({ do: "killAfter", ms: 1000 });
    const what = `frame with reserved ${kind} Opcode = ${opcode}${
      withPayload ? " and non-empty payload" : ""
    }`;
    add({
      id: `4.${group}.${i + 1}`,
      description: followUp ? `Send small text message, then send ${what}, then send Ping.` : `Send ${what}.`,
      expectation: followUp
        ? "Echo for first message is received, but then connection is failed immediately, since reserved opcode " +
          "frame is used. A Pong is not received."
        : "The connection is failed immediately.",
      steps,
      expect: followUp ? { ok: [message(hello)], nonStrict: [[]] } : { ok: [] },
      close: peerFails(),
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// 5 Fragmentation.

const fragment = (n: number) => text(`fragment${n}`);
for (const [id, opcode, name] of [["5.1", Op.Ping, "Ping"], ["5.2", Op.Pong, "Pong"]] as const) {
  add({
    id,
    description: `Send ${name} fragmented into 2 fragments.`,
    expectation: "Connection is failed immediately, since control message MUST NOT be fragmented.",
    steps: [
      send(frame(opcode, fragment(1), { fin: false })),
      send(frame(Op.Continuation, fragment(2))),
      { do: "killAfter", ms: 1000 },
    ],
    expect: { ok: [] },
    close: peerFails(),
  });
}
const chopModes = [
  [{}, ""],
  [{ sync: true }, ", octets are sent in frame-wise chops"],
  [{ chop: 1 }, ", octets are sent in octet-wise chops"],
] as const;
chopModes.forEach(([options, how], index) => {
  add({
    id: `5.${3 + index}`,
    description: `Send text Message fragmented into 2 fragments${how}.`,
    expectation: "Message is processed and echo'ed back to us.",
    steps: [
      send(frame(Op.Text, fragment(1), { fin: false }), options),
      send(frame(Op.Continuation, fragment(2)), options),
      { do: "closeAfter", ms: 1000 },
    ],
    expect: { ok: [message(text("fragment1fragment2"))] },
    close: cleanClose,
  });
});
chopModes.forEach(([options, how], index) => {
  add({
    id: `5.${6 + index}`,
    description: `Send text Message fragmented into 2 fragments, one ping with payload in-between${how}.`,
    expectation: "A pong is received, then the message is echo'ed back to us.",
    steps: [
      send(frame(Op.Text, fragment(1), { fin: false }), options),
      send(frame(Op.Ping, text("ping payload")), options),
      send(frame(Op.Continuation, fragment(2)), options),
      { do: "closeAfter", ms: 1000 },
    ],
    expect: { ok: [pong(text("ping payload")), message(text("fragment1fragment2"))] },
    close: cleanClose,
  });
});
for (const [first, fin] of [[9, true], [12, false]] as const) {
  chopModes.forEach(([options, how], index) => {
    add({
      id: `5.${first + index}`,
      description:
        `Send unfragmented Text Message after Continuation Frame with FIN = ${fin}, where there is ` +
        `nothing to continue${
          how ? `, sent in ${how.includes("frame") ? "per-frame" : "octet-wise"} chops` : ""
        }.`,
      expectation: "The connection is failed immediately, since there is no message to continue.",
      steps: [
        send(frame(Op.Continuation, text("non-continuation payload"), { fin }), options),
        send(frame(Op.Text, hello), options),
        { do: "killAfter", ms: 1000 },
      ],
      expect: { ok: [] },
      close: peerFails(),
    });
  });
}
add({
  id: "5.15",
  description:
    "Send text Message fragmented into 2 fragments, then Continuation Frame with FIN = false where " +
    "there is nothing to continue, then unfragmented Text Message, all sent in one chop.",
  expectation: "The connection is failed immediately, since there is no message to continue.",
  steps: [
    send(frame(Op.Text, fragment(1), { fin: false })),
    send(frame(Op.Continuation, fragment(2))),
    send(frame(Op.Continuation, fragment(3), { fin: false })),
    send(frame(Op.Text, fragment(4))),
    { do: "killAfter", ms: 1000 },
  ],
  expect: { ok: [message(text("fragment1fragment2"))], nonStrict: [[]] },
  close: peerFails(),
});
for (const [id, fin] of [["5.16", false], ["5.17", true]] as const) {
  const round: Step[] = [
    send(frame(Op.Continuation, fragment(1), { fin })),
    send(frame(Op.Text, fragment(2), { fin: false })),
    send(frame(Op.Continuation, fragment(3))),
  ];
  add({
    id,
    description:
      `Repeated 2x: Continuation Frame with FIN = ${fin} (where there is nothing to continue), then ` +
      "text Message fragmented into 2 fragments.",
    expectation: "The connection is failed immediately, since there is no message to continue.",
    steps: [...round, ...round, { do: "killAfter", ms: 1000 }],
    expect: { ok: [] },
    close: peerFails(),
  });
}
add({
  id: "5.18",
  description:
    "Send text Message fragmented into 2 fragments, with both frame opcodes set to text, sent in one chop.",
  expectation:
    "The connection is failed immediately, since all data frames after the initial data frame must " +
    "have opcode 0.",
  steps: [
    send(frame(Op.Text, fragment(1), { fin: false })),
    send(frame(Op.Text, fragment(2))),
    { do: "killAfter", ms: 1000 },
  ],
  expect: { ok: [] },
  close: peerFails(),
});
for (const [id, sync] of [["5.19", false], ["5.20", true]] as const) {
  const pings = [text("pongme 1!"), text("pongme 2!")];
  add({
    id,
    description:
      "A fragmented text message is sent in multiple frames. After sending the first 2 frames of the " +
      "text message, a Ping is sent. Then we wait 1s, then we send 2 more text fragments, another Ping and then " +
      "the final text fragment. Everything is legal." + (sync ? " Frames are sent in frame-wise chops." : ""),
    expectation: "The peer immediately answers the first Ping before it has received the last text message " +
      "fragment. The peer pong's back the Ping's payload exactly, and echo's the payload of the fragmented message " +
      "back to us.",
    steps: [
      send(frame(Op.Text, fragment(1), { fin: false }), { sync }),
      send(frame(Op.Continuation, fragment(2), { fin: false }), { sync }),
      send(frame(Op.Ping, pings[0]), { sync }),
      { do: "wait", ms: 1000 },
      send(frame(Op.Continuation, fragment(3), { fin: false }), { sync }),
      send(frame(Op.Continuation, fragment(4), { fin: false }), { sync }),
      send(frame(Op.Ping, pings[1]), { sync }),
      send(frame(Op.Continuation, fragment(5)), { sync }),
      { do: "closeAfter", ms: 1000 },
    ],
    expect: {
      ok: [pong(pings[0]), pong(pings[1]), message(text("fragment1fragment2fragment3fragment4fragment5"))],
    },
    close: cleanClose,
  });
}

// ---------------------------------------------------------------------------------------------------------
// 6 UTF-8 handling.

add({
  id: "6.1.1",
  description: "Send text message of length 0.",
  expectation: "A message is echo'ed back to us (with empty payload).",
  steps: [send(frame(Op.Text)), { do: "closeAfter", ms: 1000 }],
  expect: { ok: [message(new Uint8Array(0))] },
  close: cleanClose,
});
add({
  id: "6.1.2",
  description: "Send fragmented text message, 3 fragments each of length 0.",
  expectation: "A message is echo'ed back to us (with empty payload).",
  steps: [
    send(frame(Op.Text, undefined, { fin: false })),
    send(frame(Op.Continuation, undefined, { fin: false })),
    send(frame(Op.Continuation)),
    { do: "closeAfter", ms: 1000 },
  ],
  expect: { ok: [message(new Uint8Array(0))] },
  close: cleanClose,
});
add({
  id: "6.1.3",
  description: "Send fragmented text message, 3 fragments, first and last of length 0, middle non-empty.",
  expectation: "A message is echo'ed back to us (with payload = payload of middle fragment).",
  steps: [
    send(frame(Op.Text, undefined, { fin: false })),
    send(frame(Op.Continuation, text("middle frame payload"), { fin: false })),
    send(frame(Op.Continuation)),
    { do: "closeAfter", ms: 1000 },
  ],
  expect: { ok: [message(text("middle frame payload"))] },
  close: cleanClose,
});

const helloUtf8 = text("Hello-µ@ßöäüàá-UTF-8!!");
const kosme = hex("cebae1bdb9cf83cebcceb5"); // κόσμε
add({
  id: "6.2.1",
  description: "Send a valid UTF-8 text message in one fragment. MESSAGE: Hello-µ@ßöäüàá-UTF-8!!",
  expectation: "The message is echo'ed back to us.",
  steps: [send(frame(Op.Text, helloUtf8)), { do: "closeAfter", ms: 1000 }],
  expect: { ok: [message(helloUtf8)] },
  close: cleanClose,
});
add({
  id: "6.2.2",
  description: "Send a valid UTF-8 text message in two fragments, fragmented on UTF-8 code point boundary.",
  expectation: "The message is echo'ed back to us.",
  steps: [
    send(frame(Op.Text, text("Hello-µ@ßöä"), { fin: false })),
    send(frame(Op.Continuation, text("üàá-UTF-8!!"))),
    { do: "closeAfter", ms: 1000 },
  ],
  expect: { ok: [message(helloUtf8)] },
  close: cleanClose,
});
for (const [id, payload] of [["6.2.3", helloUtf8], ["6.2.4", kosme]] as const) {
  add({
    id,
    description: "Send a valid UTF-8 text message in fragments of 1 octet, resulting in frames ending on " +
      "positions which are not code point ends.",
    expectation: "The message is echo'ed back to us.",
    steps: [{ do: "message", opcode: Op.Text, payload, fragmentSize: 1 }, { do: "closeAfter", ms: 1000 }],
    expect: { ok: [message(payload)] },
    close: cleanClose,
  });
}
// κόσμε, then a UTF-16 surrogate (ED A0 80), then "edited": invalid exactly at the 13th octet.
const invalidKosme = hex("cebae1bdb9cf83cebcceb5 eda080 656469746564");
add({
  id: "6.3.1",
  description: "Send invalid UTF-8 text message unfragmented.",
  expectation: "The connection is failed immediately, since the payload is not valid UTF-8.",
  steps: [send(frame(Op.Text, invalidKosme)), { do: "killAfter", ms: 1000 }],
  expect: { ok: [] },
  close: peerFails([INVALID_PAYLOAD]),
});
add({
  id: "6.3.2",
  description:
    "Send invalid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions " +
    "which are not code point ends.",
  expectation: "The connection is failed immediately, since the payload is not valid UTF-8.",
  steps: [{ do: "message", opcode: Op.Text, payload: invalidKosme, fragmentSize: 1 }, {
    do: "killAfter",
    ms: 1000,
  }],
  expect: { ok: [] },
  close: peerFails([INVALID_PAYLOAD], { wrongEndpointFatal: true }),
});

// 6.4: fail fast. κόσμε, then F4 90 80 80 (U+110000: out of range, invalid at its second octet), then "edited".
const failFastPayload = hex("cebae1bdb9cf83cebcceb5 f4908080 656469746564");
const failFastExpectation = (unit: string) =>
  `The first ${unit} is accepted, we expect to timeout on the first wait. The 2nd ${unit} should be rejected ` +
  `immediately (fail fast on UTF-8). If we timeout, we expect the connection is failed at least then, since the ` +
  "complete message payload is not valid UTF-8.";
for (
  const [id, cut, chops] of [["6.4.1", 11, false], ["6.4.2", 12, false], ["6.4.3", 11, true], [
    "6.4.4",
    12,
    true,
  ]] as const
) {
  // Parts: [0, cut), [cut, second), [second, end): 6.4.1/6.4.3 cut around F4 90 80 80, 6.4.2/6.4.4 isolate 90.
  const second = cut === 11 ? 15 : 13;
  let sends: Step[];
  if (chops) {
    const whole = frame(Op.Text, failFastPayload);
    sends = [
      { do: "frameBytes", frame: whole, from: 0, to: cut },
      { do: "frameBytes", frame: whole, from: cut, to: second },
      { do: "frameBytes", frame: whole, from: second },
    ];
  } else {
    sends = [
      send(frame(Op.Text, failFastPayload.subarray(0, cut), { fin: false })),
      send(frame(Op.Continuation, failFastPayload.subarray(cut, second), { fin: false })),
      send(frame(Op.Continuation, failFastPayload.subarray(second))),
    ];
  }
  add({
    id,
    description: (chops
      ? "Send invalid UTF-8 text message in 3 chops of one frame"
      : "Send invalid UTF-8 text message in 3 fragments (frames)") +
      (cut === 11
        ? ": the 1st part is valid, the 2nd is F4 90 80 80 (0x110000, out of range), the 3rd the rest"
        : ": the 2nd part holds only the octet making the payload invalid") +
      ", with a wait of 1s after the 1st and after the 2nd part.",
    expectation: failFastExpectation(chops ? "chop" : "frame"),
    steps: [
      sends[0],
      { do: "wait", ms: 1000, tag: "A" },
      sends[1],
      { do: "wait", ms: 1000, tag: "B" },
      sends[2],
      {
        do: "killAfter",
        ms: 1000,
      },
    ],
    expect: { ok: [timeout("A")], nonStrict: [[timeout("A"), timeout("B")]] },
    close: peerFails([INVALID_PAYLOAD], { wrongEndpointFatal: true }),
  });
}

/** Autobahn's UTF-8 sequences (after Markus Kuhn's UTF-8-test.txt), as cases 6.5 to 6.23. */
function utf8Sequences(): [string, [boolean, Uint8Array][]][] {
  const bytes = (...values: number[]) => Uint8Array.from(values);
  const valid = (payload: Uint8Array) => {
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(payload);
      return true;
    } catch {
      return false;
    }
  };
  const groups: [string, [boolean, Uint8Array][]][] = [];
  groups.push(["Some valid UTF-8 sequences", [
    [true, text("hello$world")],
    [true, hex("68656c6c6f c2a2 776f726c64")],
    [true, hex("68656c6c6f e282ac 776f726c64")],
    [true, hex("68656c6c6f f0a4ada2 776f726c64")],
    [true, kosme],
  ]]);
  groups.push([
    "All prefixes of a valid UTF-8 string that contains multi-byte code points",
    Array.from({ length: kosme.length }, (_, i) => [valid(kosme.subarray(0, i + 1)), kosme.slice(0, i + 1)]),
  ]);
  groups.push(["First possible sequence of a certain length", [
    [true, hex("00")],
    [true, hex("c280")],
    [true, hex("e0a080")],
    [true, hex("f0908080")],
  ]]);
  groups.push(["First possible sequence length 5/6 (invalid codepoints)", [
    [false, hex("f888808080")],
    [false, hex("fc8480808080")],
  ]]);
  groups.push(["Last possible sequence of a certain length", [
    [true, hex("7f")],
    [true, hex("dfbf")],
    [true, hex("efbfbf")],
    [true, hex("f48fbfbf")],
  ]]);
  groups.push(["Last possible sequence length 4/5/6 (invalid codepoints)", [
    [false, hex("f7bfbfbf")],
    [false, hex("fbbfbfbfbf")],
    [false, hex("fdbfbfbfbfbf")],
  ]]);
  groups.push(["Other boundary conditions", [
    [true, hex("ed9fbf")],
    [true, hex("ee8080")],
    [true, hex("efbfbd")],
    [true, hex("f48fbfbf")],
    [false, hex("f4908080")],
  ]]);
  const continuation = Array.from({ length: 0xbf - 0x80 }, (_, i) => 0x80 + i);
  groups.push(["Unexpected continuation bytes", [
    [false, hex("80")],
    [false, hex("bf")],
    [false, hex("80bf")],
    [false, hex("80bf80")],
    [false, hex("80bf80bf")],
    [false, hex("80bf80bf80")],
    [false, hex("80bf80bf80bf")],
    [false, bytes(...continuation)],
  ]]);
  const lonely = ([from, to]: [number, number]) =>
    bytes(...Array.from({ length: to - from }, (_, i) => [from + i, 0x20]).flat());
  groups.push([
    "Lonely start characters",
    ([[0xc0, 0xdf], [0xe0, 0xef], [0xf0, 0xf7], [0xf8, 0xfb], [0xfc, 0xfd]] as [number, number][])
      .map((range) => [false, lonely(range)]),
  ]);
  const missing = [
    "c0",
    "e080",
    "f08080",
    "f8808080",
    "fc80808080",
    "df",
    "efbf",
    "f7bfbf",
    "fbbfbfbf",
    "fdbfbfbfbf",
  ]
    .map(hex);
  groups.push(["Sequences with last continuation byte missing", missing.map((m) => [false, m])]);
  groups.push(["Concatenation of incomplete sequences", [[
    false,
    hex(missing.map((m) => toHex(m)).join("")),
  ]]]);
  groups.push(["Impossible bytes", [[false, hex("fe")], [false, hex("ff")], [false, hex("fefeffff")]]]);
  groups.push(["Examples of an overlong ASCII character", [
    [false, hex("c0af")],
    [false, hex("e080af")],
    [false, hex("f08080af")],
    [false, hex("f8808080af")],
    [false, hex("fc80808080af")],
  ]]);
  groups.push(["Maximum overlong sequences", [
    [false, hex("c1bf")],
    [false, hex("e09fbf")],
    [false, hex("f08fbfbf")],
    [false, hex("f887bfbfbf")],
    [false, hex("fc83bfbfbfbf")],
  ]]);
  groups.push(["Overlong representation of the NUL character", [
    [false, hex("c080")],
    [false, hex("e08080")],
    [false, hex("f0808080")],
    [false, hex("f880808080")],
    [false, hex("fc8080808080")],
  ]]);
  groups.push([
    "Single UTF-16 surrogates",
    ["eda080", "edadbf", "edae80", "edafbf", "edb080", "edbe80", "edbfbf"]
      .map((h) => [false, hex(h)]),
  ]);
  groups.push([
    "Paired UTF-16 surrogates",
    [
      "eda080 edb080",
      "eda080 edbfbf",
      "edadbf edb080",
      "edadbf edbfbf",
      "edae80 edb080",
      "edae80 edbfbf",
      "edafbf edb080",
      "edafbf edbfbf",
    ]
      .map((h) => [false, hex(h)]),
  ]);
  const nonCharacters: [boolean, Uint8Array][] = [[true, hex("efbfbe")], [true, hex("efbfbf")]];
  for (const z1 of [0xf0, 0xf1, 0xf2, 0xf3, 0xf4]) {
    for (const z2 of [0x8f, 0x9f, 0xaf, 0xbf]) {
      if (z1 === 0xf4 && z2 !== 0x8f) continue; // above U+10FFFF
      for (const z3 of [0xbe, 0xbf]) {
        if (z1 === 0xf0 && z2 === 0x8f) continue; // overlong
        nonCharacters.push([true, bytes(z1, z2, 0xbf, z3)]);
      }
    }
  }
  groups.push(["Non-character code points (valid UTF-8)", nonCharacters]);
  groups.push([
    "Unicode specials (i.e. replacement char)",
    ["efbfb9", "efbfba", "efbfbb", "efbfbc", "efbfbd", "efbfbe", "efbfbf"]
      .map((h) => [true, hex(h)]),
  ]);
  return groups;
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

utf8Sequences().forEach(([group, sequences], groupIndex) => {
  sequences.forEach(([isValid, payload], index) => {
    add({
      id: `6.${5 + groupIndex}.${index + 1}`,
      description:
        `${group}: send a text message with payload which is ${isValid ? "" : "not "}valid UTF-8 in one ` +
        `fragment. Payload: 0x${toHex(payload)}`,
      expectation: isValid
        ? "The message is echo'ed back to us."
        : "The connection is failed immediately, since the payload is not valid UTF-8.",
      steps: [send(frame(Op.Text, payload)), { do: "killAfter", ms: 500 }],
      expect: { ok: isValid ? [message(payload)] : [] },
      close: isValid ? cleanClose : peerFails([INVALID_PAYLOAD], { wrongEndpointFatal: true }),
    });
  });
});

// ---------------------------------------------------------------------------------------------------------
// 7 Close handling (fuzzer initiated).

const closeCase = (
  id: string,
  description: string,
  expectation: string,
  steps: Step[],
  close: Partial<CloseExpectation> = {},
  ok: Event[] = [],
) =>
  add({
    id,
    description,
    expectation,
    steps: [...steps, { do: "killAfter", ms: 1000 }],
    expect: { ok },
    close: { ...cleanClose, autoClose: false, wrongCodeFatal: true, ...close },
  });
const helloWorld = text("Hello World!");
closeCase(
  "7.1.1",
  "Send a message followed by a close frame.",
  "Echoed message followed by clean close with normal code.",
  [send(frame(Op.Text, helloWorld))],
  { autoClose: true },
  [message(helloWorld)],
);
closeCase("7.1.2", "Send two close frames.", "Clean close with normal code. Second close frame ignored.", [
  { do: "close", payload: closePayload(NORMAL) },
  send(frame(Op.Close)),
]);
closeCase("7.1.3", "Send a ping after close message.", "Clean close with normal code, no pong.", [
  { do: "close", payload: closePayload(NORMAL) },
  send(frame(Op.Ping)),
]);
closeCase(
  "7.1.4",
  "Send text message after sending a close frame.",
  "Clean close with normal code. Text message ignored.",
  [
    { do: "close", payload: closePayload(NORMAL) },
    send(frame(Op.Text, helloWorld)),
  ],
);
closeCase(
  "7.1.5",
  "Send message fragment1 followed by close then fragment.",
  "Clean close with normal code.",
  [
    send(frame(Op.Text, fragment(1), { fin: false })),
    { do: "close", payload: closePayload(NORMAL) },
    send(frame(Op.Continuation, fragment(2))),
  ],
);
{
  const big = repeat("BAsd7&jh23", 256 * KiB);
  add({
    id: "7.1.6",
    description: "Send 256K message followed by close then a ping.",
    expectation:
      "Case outcome depends on implementation defined close behavior. Message and close frame are sent " +
      "back to back. If the close frame is processed before the text message write is complete (as can happen in " +
      "asynchronous processing models) the close frame is processed first and the text message may not be " +
      "received or may only be partially received.",
    steps: [
      send(frame(Op.Text, big)),
      send(frame(Op.Text, helloWorld)),
      { do: "close", payload: closePayload(NORMAL) },
      send(frame(Op.Ping)),
      { do: "killAfter", ms: 1000 },
    ],
    expect: { ok: [message(big), message(helloWorld)], nonStrict: [[message(big)], []] },
    close: { ...cleanClose, autoClose: false },
  });
}
closeCase(
  "7.3.1",
  "Send a close frame with payload length 0 (no close code, no close reason).",
  "Clean close with normal code.",
  [{ do: "close", payload: new Uint8Array(0) }],
);
closeCase(
  "7.3.2",
  "Send a close frame with payload length 1.",
  "Clean close with protocol error or drop TCP.",
  [{ do: "close", payload: text("a") }],
  { codes: [PROTOCOL_ERROR], requireClean: false },
);
closeCase(
  "7.3.3",
  "Send a close frame with payload length 2 (regular close with a code).",
  "Clean close with normal code.",
  [{ do: "close", payload: closePayload(NORMAL) }],
);
closeCase(
  "7.3.4",
  "Send a close frame with close code and close reason.",
  "Clean close with normal code.",
  [{ do: "close", payload: closePayload(NORMAL, "Hello World!") }],
);
closeCase(
  "7.3.5",
  "Send a close frame with close code and close reason of maximum length (123).",
  "Clean close with normal code.",
  [{ do: "close", payload: closePayload(NORMAL, "*".repeat(123)) }],
);
closeCase(
  "7.3.6",
  "Send a close frame with close code and close reason which is too long (124) - total frame payload 126 octets.",
  "Clean close with protocol error code or dropped TCP connection.",
  [{ do: "close", payload: closePayload(NORMAL, "*".repeat(124)) }],
  { codes: [PROTOCOL_ERROR], requireClean: false },
);
closeCase(
  "7.5.1",
  "Send a close frame with invalid UTF8 payload.",
  "Clean close with protocol error or invalid utf8 code or dropped TCP.",
  [{ do: "close", payload: closePayload(NORMAL, invalidKosme) }],
  { codes: [PROTOCOL_ERROR, INVALID_PAYLOAD], requireClean: false },
);
[1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999].forEach((code, index) => {
  closeCase(
    `7.7.${index + 1}`,
    `Send close with valid close code ${code}.`,
    "Clean close with normal or echoed code.",
    [{ do: "close", payload: closePayload(code) }],
    { codes: [NORMAL, code] },
  );
});
[0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999].forEach((code, index) => {
  closeCase(
    `7.9.${index + 1}`,
    `Send close with invalid close code ${code}.`,
    "Clean close with protocol error code or drop TCP.",
    [{ do: "close", payload: closePayload(code) }],
    { codes: [PROTOCOL_ERROR], requireClean: false },
  );
});

// ---------------------------------------------------------------------------------------------------------
// 9 Limits and performance (sizes cut down for CI: see the README).

const perfText = (length: number) => repeat("BAsd7&jh23", length);
const perfBinary = (length: number) => repeat(hex("fe"), length);
const sizeName = (length: number) => length >= MiB ? `${length / MiB}M` : `${length / KiB}K`;
const perf = (id: string, description: string, steps: Step[], payload: Uint8Array, binary: boolean) =>
  add({
    id,
    description,
    expectation: `Receive echo'ed ${binary ? "binary" : "text"} message (with payload as sent).`,
    steps: [...steps, { do: "closeAfter", ms: 30_000 }],
    expect: { ok: [message(payload, binary)] },
    close: cleanClose,
    timeoutMs: 40_000,
    exclusive: true,
  });
for (const [group, binary] of [[1, false], [2, true]] as const) {
  [64 * KiB, 256 * KiB, MiB, 4 * MiB].forEach((length, index) => {
    const payload = binary ? perfBinary(length) : perfText(length);
    perf(
      `9.${group}.${index + 1}`,
      `Send ${binary ? "binary" : "text"} message with payload of length ${sizeName(length)}.`,
      [send(frame(binary ? Op.Binary : Op.Text, payload))],
      payload,
      binary,
    );
  });
}
for (const [group, binary] of [[3, false], [4, true]] as const) {
  const payload = binary ? perfBinary(4 * MiB) : perfText(4 * MiB);
  [64, 256, KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB, 4 * MiB].forEach((fragmentSize, index) => {
    perf(
      `9.${group}.${index + 1}`,
      `Send fragmented ${binary ? "binary" : "text"} message with message payload of length 4M. Sent out ` +
        `in fragments of ${fragmentSize}.`,
      [{ do: "message", opcode: binary ? Op.Binary : Op.Text, payload, fragmentSize }],
      payload,
      binary,
    );
  });
}
for (const [group, binary] of [[5, false], [6, true]] as const) {
  const length = MiB;
  const payload = binary ? perfBinary(length) : perfText(length);
  [64, 128, 256, 512, 1024, 2048].forEach((chop, index) => {
    perf(
      `9.${group}.${index + 1}`,
      `Send ${binary ? "binary" : "text"} message with payload of length ${sizeName(length)}. Sent out ` +
        `data in chops of ${chop} octets.`,
      [send(frame(binary ? Op.Binary : Op.Text, payload), { chop })],
      payload,
      binary,
    );
  });
}
for (const [group, binary] of [[7, false], [8, true]] as const) {
  [0, 16, 64, 256, 1024, 4096].forEach((length, index) => {
    const count = ROUND_TRIP_COUNT;
    const payload = binary ? perfBinary(length) : repeat("*", length);
    add({
      id: `9.${group}.${index + 1}`,
      description:
        `Send ${count} ${binary ? "binary" : "text"} messages of payload size ${length} to measure ` +
        "implementation/network RTT (round trip time) / latency.",
      expectation: `Receive echo'ed ${binary ? "binary" : "text"} messages (with payload as sent).`,
      steps: [{
        do: "roundTrips",
        count,
        message: () => ({ opcode: binary ? Op.Binary : Op.Text, payload }),
      }, { do: "closeAfter", ms: 30_000 }],
      expect: "roundTrips",
      close: cleanClose,
      timeoutMs: 40_000,
      exclusive: true,
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// 10 Auto-fragmentation.

add({
  id: "10.1.1",
  description: "Send text message with payload of length 65536 auto-fragmented with autoFragmentSize = 1300.",
  expectation:
    "Receive echo'ed text message (with payload as sent and transmitted frame counts as expected). " +
    "Clean close with normal code.",
  steps: [{ do: "message", opcode: Op.Text, payload: repeat("*", 65536), fragmentSize: 1300 }, {
    do: "killAfter",
    ms: 10_000,
  }],
  expect: { ok: [message(repeat("*", 65536))] },
  close: cleanClose,
});

// ---------------------------------------------------------------------------------------------------------
// 12 and 13 WebSocket compression (permessage-deflate, RFC 7692).

/** Message sizes and auto-fragment sizes of groups 12 and 13: (payload length, fragment size; 0 = one frame). */
const COMPRESSION_SIZES: [number, number][] = [
  [16, 0],
  [64, 0],
  [256, 0],
  [1024, 0],
  [4096, 0],
  [8192, 0],
  [16384, 0],
  [32768, 0],
  [65536, 0],
  [131072, 0],
  [8192, 256],
  [16384, 256],
  [32768, 256],
  [65536, 256],
  [131072, 256],
  [131072, 1024],
  [131072, 4096],
  [131072, 32768],
];

/** A deterministic pseudo-random sequence (xorshift32), so that a failure is reproducible. */
function prng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

const WORDS =
  ("der und die das ist nicht ein zu ich es mit sich des auf so als dem wie was doch mir aus ihr " +
    "noch Faust Mephistopheles Gretchen Wagner über schön Geist Natur Welt Himmel Erde Herz Zeit lässt müssen " +
    "Würde Träume Öffnung Fräulein the of and to in that is was he for it with as his on be at by").split(
      " ",
    );

/** The five test corpora of group 12, synthesized (Autobahn ships files; these have the same kinds of content). */
const CORPORA: { name: string; binary: boolean; make: () => Uint8Array }[] = [
  {
    name: "Large JSON data (utf8)",
    binary: false,
    make() {
      const next = prng(1);
      const records: string[] = [];
      for (let i = 0, length = 0; length < 256 * KiB; i++, length += records[records.length - 1].length + 2) {
        records.push(JSON.stringify({
          id: i,
          guid: (next() >>> 0).toString(16) + "-" + (next() >>> 0).toString(16),
          isActive: next() % 2 === 0,
          balance: `$${(next() % 400000) / 100}`,
          age: 20 + next() % 50,
          name: `${WORDS[next() % WORDS.length]} ${WORDS[next() % WORDS.length]}`,
          tags: Array.from({ length: 1 + next() % 6 }, () => WORDS[next() % WORDS.length]),
          latitude: ((next() % 18000000) / 100000 - 90).toFixed(6),
        }));
      }
      return text(`[${records.join(",\n")}]`);
    },
  },
  {
    name: "Bitmap picture 512x512 grey (binary)",
    binary: true,
    make() {
      const next = prng(2);
      const out = new Uint8Array(512 * 512);
      for (let y = 0; y < 512; y++) {
        for (let x = 0; x < 512; x++) {
          const shade = 128 + 60 * Math.sin(x / 37) * Math.cos(y / 23) + 40 * Math.sin((x + y) / 91);
          out[y * 512 + x] = (shade + (next() % 9) - 4) & 0xff;
        }
      }
      return out;
    },
  },
  {
    name: "Human readable text, German (sent as binary)",
    binary: true,
    make() {
      const next = prng(3);
      const lines: string[] = [];
      let length = 0;
      while (length < 256 * KiB) {
        const line = Array.from({ length: 4 + next() % 9 }, () => WORDS[next() % WORDS.length]).join(" ") +
          (next() % 3 === 0 ? "!" : ".");
        lines.push(line);
        length += line.length + 1;
      }
      return text(lines.join("\n"));
    },
  },
  {
    name: "Large HTML file (utf8)",
    binary: false,
    make() {
      const next = prng(4);
      let html = '<!doctype html><html><head><meta charset="utf-8"><title>Daten</title></head><body>\n';
      while (html.length < 256 * KiB) {
        const id = next() % 10000;
        html += `<div class="row r${id % 7}" id="item-${id}"><a href="/items/${id}?ref=list">` +
          `${WORDS[next() % WORDS.length]} ${WORDS[next() % WORDS.length]}</a><span class="price">` +
          `${(next() % 10000) / 100} €</span><p>${WORDS[next() % WORDS.length]} ${
            WORDS[next() % WORDS.length]
          }` +
          "</p></div>\n";
      }
      return text(html + "</body></html>\n");
    },
  },
  {
    name: "A larger PDF-like document: text streams and compressed blobs (binary)",
    binary: true,
    make() {
      const next = prng(5);
      const parts: Uint8Array[] = [];
      let length = 0;
      while (length < 256 * KiB) {
        const textPart = text(
          `${next() % 500} 0 obj << /Type /Page /Length ${next() % 9000} >> stream\nBT /F1 12 Tf ` +
            `${next() % 600} ${next() % 800} Td (${WORDS[next() % WORDS.length]}) Tj ET\nendstream endobj\n`,
        );
        const blob = Uint8Array.from({ length: 200 + next() % 1800 }, () => next() & 0xff);
        parts.push(textPart, blob);
        length += textPart.length + blob.length;
      }
      const out = new Uint8Array(length);
      let offset = 0;
      for (const part of parts) {
        out.set(part, offset);
        offset += part.length;
      }
      return out;
    },
  },
];

const corpusCache = new Map<number, Uint8Array>();
function corpus(index: number): Uint8Array {
  let data = corpusCache.get(index);
  if (data === undefined) {
    data = CORPORA[index].make();
    corpusCache.set(index, data);
  }
  return data;
}

/**
 * The `index`-th message of `length` bytes cut from a corpus, wrapping around (Autobahn's sliding slices).
 * A text corpus is cut back to a code point boundary so that each message is valid UTF-8.
 */
function corpusMessage(corpusIndex: number, length: number, index: number): RoundTripMessage {
  const data = corpus(corpusIndex);
  const binary = CORPORA[corpusIndex].binary;
  const start = (index * length) % data.length;
  let slice = new Uint8Array(length);
  for (let filled = 0; filled < length;) {
    const from = (start + filled) % data.length;
    const piece = data.subarray(from, Math.min(data.length, from + length - filled));
    slice.set(piece, filled);
    filled += piece.length;
  }
  if (!binary) {
    let begin = 0, end = slice.length;
    while (begin < end && (slice[begin] & 0xc0) === 0x80) begin++;
    while (end > begin) {
      // Drop a trailing code point that is cut short.
      let lead = end - 1;
      while (lead > begin && (slice[lead] & 0xc0) === 0x80) lead--;
      const need = slice[lead] >= 0xf0 ? 4 : slice[lead] >= 0xe0 ? 3 : slice[lead] >= 0xc0 ? 2 : 1;
      if (end - lead >= need) break;
      end = lead;
    }
    slice = slice.subarray(begin, end);
  }
  return { opcode: binary ? Op.Binary : Op.Text, payload: slice };
}

const compressionCase = (
  id: string,
  corpusIndex: number,
  [length, fragmentSize]: [number, number],
  deflate: DeflateSpec,
  offerDescription: string,
) =>
  add({
    id,
    description:
      `Send ${compressionMessageCount(length)} compressed messages each of payload size ${length}, ` +
      `auto-fragment to ${fragmentSize} octets. ${CORPORA[corpusIndex].name}. ${offerDescription}`,
    expectation: "Receive echo'ed messages (with payload as sent).",
    steps: [{
      do: "roundTrips",
      count: compressionMessageCount(length),
      message: (index) => corpusMessage(corpusIndex, length, index),
      fragmentSize,
    }, { do: "closeAfter", ms: 30_000 }],
    expect: "roundTrips",
    close: cleanClose,
    deflate,
    timeoutMs: 30_000,
  });

// 12: the browsers' offer (context takeover both ways, so that the client-to-server window is exercised; the
// Autobahn default offer adds client_no_context_takeover), accepted as offered.
const browserOffer: DeflateSpec = {
  offer: "permessage-deflate; client_max_window_bits",
  accept: [[false, 0]],
  clientOptions: {},
};
CORPORA.forEach((_, corpusIndex) => {
  COMPRESSION_SIZES.forEach((size, index) => {
    compressionCase(
      `12.${corpusIndex + 1}.${index + 1}`,
      corpusIndex,
      size,
      browserOffer,
      `Offer: ${browserOffer.offer}.`,
    );
  });
});

/** Autobahn's client offer element for (requestNoContextTakeover, requestMaxWindowBits). */
function autobahnOffer(requestNoContextTakeover: boolean, requestMaxWindowBits: number): string {
  return "permessage-deflate; client_no_context_takeover; client_max_window_bits" +
    (requestNoContextTakeover ? "; server_no_context_takeover" : "") +
    (requestMaxWindowBits !== 0 ? `; server_max_window_bits=${requestMaxWindowBits}` : "");
}

/** 13.x: (client offers, server accepts), each as (requestNoContextTakeover, requestMaxWindowBits). */
const DEFLATE_PARAMETERS: [AcceptRule[], AcceptRule[]][] = [
  [[[false, 0]], [[false, 0]]],
  [[[true, 0]], [[true, 0]]],
  [[[false, 8]], [[false, 8]]],
  [[[false, 15]], [[false, 15]]],
  [[[true, 8]], [[true, 8]]],
  [[[true, 15]], [[true, 15]]],
  [[[true, 8], [true, 0], [false, 0]], [[true, 8], [true, 0], [false, 0]]],
];
DEFLATE_PARAMETERS.forEach(([offers, accept], group) => {
  const [first] = offers;
  const deflate: DeflateSpec = {
    offer: offers.map(([noContext, bits]) => autobahnOffer(noContext, bits)).join(", "),
    accept,
    // Our client offers the first of these: what it asks of the server, plus client_no_context_takeover when
    // the server's rules need it (ours cannot send server_max_window_bits=15: 15 is what it asks by default).
    clientOptions: {
      serverNoContextTakeover: first[0],
      serverMaxWindowBits: first[1] === 0 ? 15 : first[1],
      clientNoContextTakeover: accept.some(([noContext]) => noContext),
    },
  };
  const offerText = `Client offers (requestNoContextTakeover, requestMaxWindowBits): ` +
    `${offers.map(([n, b]) => `(${n}, ${b})`).join(", ")} / server accepts ${
      accept.map(([n, b]) => `(${n}, ${b})`).join(", ")
    }.`;
  COMPRESSION_SIZES.forEach((size, index) => {
    compressionCase(`13.${group + 1}.${index + 1}`, 0, size, deflate, offerText);
  });
});

/** Every case, in case-number order. */
export const CASES: readonly ConformanceCase[] = cases;

/** Orders case ids numerically, part by part ("6.10.1" after "6.9.2"). */
export function compareIds(a: string, b: string): number {
  const pa = a.split(".").map(Number), pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? -1) - (pb[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The cases whose ids match any of the patterns (`*` matches anything: `"1.*"`, `"6.4.1"`, `"12.1.*"`).
 *
 * @param patterns Case id patterns; none selects every case.
 * @returns The matching cases, in order.
 * @throws {RangeError} When a pattern matches no case.
 */
export function selectCases(patterns: readonly string[] = []): ConformanceCase[] {
  if (patterns.length === 0) return [...CASES];
  const selected = new Set<ConformanceCase>();
  for (const pattern of patterns) {
    const regex = new RegExp(`^${pattern.trim().replaceAll(".", "\\.").replaceAll("*", ".*")}$`);
    const matching = CASES.filter((c) => regex.test(c.id));
    if (matching.length === 0) throw new RangeError(`No conformance case matches ${pattern}`);
    for (const c of matching) selected.add(c);
  }
  return [...selected].sort((a, b) => compareIds(a.id, b.id));
}
