import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Extension } from "../../lib/core/extension.ts";
import type { Frame } from "../../lib/core/frame.ts";
import { FrameParser } from "../../lib/core/frame_parser.ts";
import {
  decodeClosePayload,
  encodeClosePayload,
  Protocol,
  type ProtocolEvent,
  type ProtocolOptions,
} from "../../lib/core/protocol.ts";
import { ProtocolError } from "../../lib/core/protocol_error.ts";
import { concatBytes, feeds, hex, INVALID_CLOSE_CODES, masked, pseudoRandomBytes, rawFrame, splits, toHex, VALID_CLOSE_CODES } from "../_vectors.ts";

type Role = "server" | "client";
const ROLES: Role[] = ["client", "server"];
const CONNECTING = 0, OPEN = 1, CLOSING = 2, CLOSED = 3;
const text = (s: string) => new TextEncoder().encode(s);
const KEY = hex("37 fa 21 3d");

/** An unmasked frame given as hex, as the peer of `role` sends it: masked when it goes to a server. */
function fromPeer(role: Role, frameHex: string | Uint8Array): Uint8Array {
  const frame = typeof frameHex === "string" ? hex(frameHex) : frameHex;
  return role === "server" ? masked(frame, KEY) : frame;
}

/** Several frames (unmasked, as hex or bytes) from the peer, in one byte array. */
function peerFrames(role: Role, ...frames: (string | Uint8Array)[]): Uint8Array {
  return concatBytes(frames.map((f) => fromPeer(role, f)));
}

/**
 * Decodes the bytes a protocol wrote: a server's frames are unmasked, so a client-role parser reads them;
 * a client's are masked, so a server-role parser reads them (and so checks that they are masked).
 */
function decodeSent(role: Role, chunks: Uint8Array[]): Frame[] {
  const parser = new FrameParser({ role: role === "server" ? "client" : "server" });
  const frames: Frame[] = [];
  for (const chunk of chunks) {
    parser.push(chunk.slice());
    for (let frame = parser.next(); frame !== undefined; frame = parser.next()) frames.push(frame);
  }
  assert.equal(parser.bufferedAmount, 0, "the protocol wrote whole frames");
  return frames;
}

function sentFrames(protocol: Protocol): Frame[] {
  return decodeSent(protocol.role, protocol.takeOutgoing());
}

function closeCodeOf(frame: Frame): number | undefined {
  return frame.payload.length >= 2 ? (frame.payload[0] << 8) | frame.payload[1] : undefined;
}

interface Run {
  name: string;
  protocol: Protocol;
  events: ProtocolEvent[];
  sent: Frame[];
}

/** Feeds the vector every way, each to a fresh protocol; returns what each did. */
function runs(role: Role, bytes: Uint8Array, options: Partial<ProtocolOptions> = {}): Run[] {
  return feeds(bytes).map(({ name, chunks }) => {
    const protocol = new Protocol({ ...options, role });
    for (const chunk of chunks) protocol.receive(chunk);
    return { name, protocol, events: protocol.takeEvents(), sent: sentFrames(protocol) };
  });
}

/**
 * Checks that the protocol failed the connection with `code`: the failure names the cause, the last frame
 * sent is the only close frame and carries the code, the state is CLOSED, and later input is ignored.
 */
function assertFailed(run: Run, code: number, cause: RegExp): void {
  const { name, protocol, sent } = run;
  assert.equal(protocol.state, CLOSED, `${name}: state`);
  const failure = protocol.failure;
  assert.ok(failure instanceof ProtocolError, `${name}: failure is a ProtocolError, got ${failure}`);
  assert.equal(failure.code, code, `${name}: failure code`);
  assert.match(failure.message, cause, `${name}: failure message`);
  const closes = sent.filter((f) => f.opcode === 0x8);
  assert.equal(closes.length, 1, `${name}: one close frame sent`);
  assert.equal(sent[sent.length - 1].opcode, 0x8, `${name}: the close frame is the last frame sent`);
  assert.equal(closeCodeOf(closes[0]), code, `${name}: close frame code`);
  assert.deepEqual(protocol.closeSent?.code, code, `${name}: closeSent`);
  assert.equal(protocol.shouldCloseTransport, true, `${name}: after a failure both ends close the transport`);
  // §7.1.7: "MUST NOT continue to attempt to process data (including a responding Close frame)".
  protocol.receive(peerFrames(protocol.role, "81 02 68 69", "89 01 70", "88 02 03 e8"));
  assert.deepEqual(protocol.takeEvents(), [], `${name}: later input yields no events`);
  assert.deepEqual(protocol.takeOutgoing(), [], `${name}: later input yields no frames`);
  assert.equal(protocol.state, CLOSED);
}

/** What a protocol fed by hand has done so far, for assertFailed. */
function snapshot(name: string, protocol: Protocol): Run {
  return { name, protocol, events: protocol.takeEvents(), sent: sentFrames(protocol) };
}

/** Feeds the vector every way and checks each run failed with `code`; returns the runs for more checks. */
function assertFailsWith(
  role: Role,
  bytes: Uint8Array,
  code: number,
  cause: RegExp,
  options: Partial<ProtocolOptions> = {},
): Run[] {
  const all = runs(role, bytes, options);
  for (const run of all) assertFailed(run, code, cause);
  return all;
}

function message(data: string | Uint8Array, binary = typeof data !== "string"): ProtocolEvent {
  return { type: "message", data, binary };
}

function isInvalidState(error: unknown): boolean {
  return error instanceof DOMException && error.name === "InvalidStateError";
}

describe("§5.2 base framing (Autobahn 1)", () => {
  const lengths = [0, 125, 126, 127, 128, 65535, 65536, 100_000, 1 << 20];
  for (const role of ROLES) {
    for (const length of lengths) {
      test(`Protocol (${role}) delivers a ${length}-byte text message`, () => {
        const payload = pseudoRandomBytes(length, length).map((b) => 0x20 + (b % 0x5f));
        const expected = new TextDecoder().decode(payload);
        for (const run of runs(role, fromPeer(role, rawFrame(0x81, payload)))) {
          assert.deepEqual(run.events, [message(expected)], run.name);
          assert.deepEqual(run.sent, [], run.name);
          assert.equal(run.protocol.state, OPEN, run.name);
        }
      });

      test(`Protocol (${role}) delivers a ${length}-byte binary message`, () => {
        const payload = pseudoRandomBytes(length, length + 1);
        for (const run of runs(role, fromPeer(role, rawFrame(0x82, payload)))) {
          assert.equal(run.events.length, 1, run.name);
          const event = run.events[0];
          assert.ok(event.type === "message" && event.data instanceof Uint8Array, run.name);
          assert.equal(event.data.length, length, run.name);
          assert.ok(event.data.every((b, i) => b === payload[i]), `${run.name}: payload`);
        }
      });
    }

    test(`Protocol (${role}) delivers a binary message declared with the 64-bit length form`, () => {
      const payload = pseudoRandomBytes(65536, 9);
      const bytes = fromPeer(role, concatBytes([hex("82 7f 00 00 00 00 00 01 00 00"), payload]));
      for (const run of runs(role, bytes)) assert.deepEqual(run.events, [message(payload)], run.name);
    });

    test(`Protocol (${role}) delivers several messages from one chunk, in order`, () => {
      const bytes = peerFrames(role, "81 05 48 65 6c 6c 6f", "82 02 00 ff", "81 00", "82 00");
      for (const run of runs(role, bytes)) {
        assert.deepEqual(run.events, [
          message("Hello"),
          message(hex("00 ff")),
          message(""),
          message(new Uint8Array(0)),
        ], run.name);
      }
    });
  }

  test('Protocol (server) delivers the §5.7 masked "Hello" and replies with the unmasked frame 81 05', () => {
    for (const run of runs("server", hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"))) {
      assert.deepEqual(run.events, [message("Hello")], run.name);
    }
    const server = new Protocol({ role: "server" });
    server.send("Hello");
    assert.equal(toHex(concatBytes(server.takeOutgoing())), "81 05 48 65 6c 6c 6f");
  });
});

describe("§5.1 masking", () => {
  test("Protocol (client) fails on a masked frame from the server with 1002", () => {
    assertFailsWith(
      "client",
      hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"),
      1002,
      /frame from the server is masked/,
    );
  });

  test("Protocol (server) fails on an unmasked frame from the client with 1002", () => {
    assertFailsWith("server", hex("81 05 48 65 6c 6c 6f"), 1002, /frame from the client is not masked/);
  });

  test("Protocol (server) fails on an unmasked frame after delivering the masked one before it", () => {
    const bytes = concatBytes([hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"), hex("89 00")]);
    for (const run of assertFailsWith("server", bytes, 1002, /not masked/)) {
      assert.deepEqual(run.events, [message("Hello")], run.name);
    }
  });

  test("Protocol (client) masks every frame it sends, with a different random key each time", () => {
    const client = new Protocol({ role: "client" });
    const keys = new Set<string>();
    for (let i = 0; i < 20; i++) {
      client.send(`message ${i}`);
      client.ping("p");
      client.pong(hex("01"));
    }
    client.close(1000, "done");
    const chunks = client.takeOutgoing();
    const all = concatBytes(chunks);
    // Walk the raw bytes: every frame has the mask bit and a key.
    let offset = 0, count = 0;
    while (offset < all.length) {
      assert.equal(all[offset + 1] & 0x80, 0x80, `frame ${count} has the mask bit`);
      const length = all[offset + 1] & 0x7f;
      assert.ok(length < 126);
      keys.add(toHex(all.subarray(offset + 2, offset + 6)));
      offset += 6 + length;
      count++;
    }
    assert.equal(count, 61);
    assert.ok(keys.size >= 60, `${keys.size} distinct keys of 61`);
    // A server-role parser (which requires masking) decodes them all.
    const frames = decodeSent("client", chunks);
    assert.equal(new TextDecoder().decode(frames[0].payload), "message 0");
    assert.equal(new TextDecoder().decode(frames[57].payload), "message 19");
    assert.deepEqual(decodeClosePayload(frames[60].payload), { code: 1000, reason: "done" });
  });

  test("Protocol (client) does not modify the caller's bytes when masking them", () => {
    const client = new Protocol({ role: "client" });
    const data = pseudoRandomBytes(100_000, 4);
    const copy = data.slice();
    client.send(data);
    client.ping(data.subarray(0, 125));
    assert.deepEqual(data, copy);
    const frames = sentFrames(client);
    assert.deepEqual(frames[0].payload, copy);
  });

  test("Protocol (server) never masks what it sends", () => {
    const server = new Protocol({ role: "server" });
    server.send("Hello");
    server.send(pseudoRandomBytes(70000, 1));
    server.ping("Hello");
    server.close(1000);
    const all = concatBytes(server.takeOutgoing());
    assert.equal(toHex(all.subarray(0, 7)), "81 05 48 65 6c 6c 6f");
    assert.equal(toHex(all.subarray(7, 17)), "82 7f 00 00 00 00 00 01 11 70");
    assert.equal(toHex(all.subarray(17 + 70000)), "89 05 48 65 6c 6c 6f 88 02 03 e8");
  });
});

describe("§5.5.2 ping and §5.5.3 pong (Autobahn 2)", () => {
  for (const role of ROLES) {
    test(`Protocol (${role}) answers pings with 0-125 byte payloads with identical pongs`, () => {
      // Autobahn 2.1-2.3, 2.4 (125 bytes). §5.5.2: "the Pong frame MUST have identical Application data".
      for (let length = 0; length <= 125; length++) {
        const payload = pseudoRandomBytes(length, length);
        const bytes = fromPeer(role, rawFrame(0x89, payload));
        for (const run of runs(role, bytes)) {
          const where = `length ${length}, ${run.name}`;
          assert.equal(run.events.length, 1, where);
          assert.equal(run.events[0].type, "ping", where);
          assert.deepEqual((run.events[0] as { data: Uint8Array }).data, payload, where);
          assert.equal(run.sent.length, 1, where);
          assert.equal(run.sent[0].opcode, 0xa, where);
          assert.equal(run.sent[0].fin, true, where);
          assert.deepEqual(run.sent[0].payload, payload, where);
        }
      }
    });

    test(`Protocol (${role}) answers a ping with a binary payload with an identical pong`, () => {
      // Autobahn 2.3.
      const payload = hex("00 ff fe fd fc fb 00 ff");
      for (const run of runs(role, fromPeer(role, rawFrame(0x89, payload)))) {
        assert.deepEqual(run.events, [{ type: "ping", data: payload }], run.name);
        assert.deepEqual(run.sent.map((f) => f.opcode), [0xa], run.name);
        assert.deepEqual(run.sent[0].payload, payload, run.name);
      }
    });

    test(`Protocol (${role}) fails on a ping with a 126-byte payload with 1002`, () => {
      // Autobahn 2.5.
      assertFailsWith(
        role,
        fromPeer(role, rawFrame(0x89, new Uint8Array(126))),
        1002,
        /control frame payload exceeds 125 bytes/,
      );
    });

    test(`Protocol (${role}) fails on a fragmented ping with 1002`, () => {
      // Autobahn 5.1: a ping in two fragments.
      const bytes = peerFrames(role, "09 09 66 72 61 67 6d 65 6e 74 31", "80 09 66 72 61 67 6d 65 6e 74 32");
      for (const run of assertFailsWith(role, bytes, 1002, /control frame is fragmented/)) {
        assert.deepEqual(run.events, [], run.name);
      }
    });

    test(`Protocol (${role}) reports an unsolicited pong as an event and sends nothing`, () => {
      // Autobahn 2.8 and 2.9. §5.5.3: "A response to an unsolicited Pong frame is not expected."
      const bytes = peerFrames(
        role,
        "8a 10 75 6e 73 6f 6c 69 63 69 74 65 64 20 70 6f 6e 67",
        "8a 00",
        "8a 04 00 ff fe fd",
      );
      for (const run of runs(role, bytes)) {
        assert.deepEqual(run.events, [
          { type: "pong", data: text("unsolicited pong") },
          { type: "pong", data: new Uint8Array(0) },
          { type: "pong", data: hex("00 ff fe fd") },
        ], run.name);
        assert.deepEqual(run.sent, [], run.name);
        assert.equal(run.protocol.state, OPEN, run.name);
      }
    });

    test(`Protocol (${role}) answers an unsolicited pong followed by a ping with one pong`, () => {
      // Autobahn 2.9.
      const bytes = peerFrames(role, "8a 03 61 62 63", "89 04 70 69 6e 67");
      for (const run of runs(role, bytes)) {
        assert.deepEqual(
          run.sent.map((f) => [f.opcode, toHex(f.payload)]),
          [[0xa, toHex(text("ping"))]],
          run.name,
        );
      }
    });

    test(`Protocol (${role}) answers a flood of 1,000 pings with 32 pongs, the last for the last ping (§5.5.3)`, () => {
      const payloads = Array.from({ length: 1000 }, (_, i) => text(`p${i}`));
      const protocol = new Protocol({ role });
      protocol.receive(peerFrames(role, ...payloads.map((p) => rawFrame(0x89, p))));
      assert.equal(protocol.takeEvents().length, 1000, "every ping is an event");
      const sent = sentFrames(protocol);
      assert.equal(sent.length, 32);
      sent.forEach((frame, i) => {
        assert.equal(frame.opcode, 0xa);
        assert.deepEqual(frame.payload, payloads[i === 31 ? 999 : i], `pong ${i}`);
      });
      // Once the bytes are taken, pings are answered one for one again.
      protocol.receive(peerFrames(role, rawFrame(0x89, text("again"))));
      assert.deepEqual(sentFrames(protocol).map((f) => f.payload), [text("again")]);
    });

    test(`Protocol (${role}) answers 10 pings in one chunk with 10 pongs, in order`, () => {
      // Autobahn 2.10 and 2.11.
      const payloads = Array.from({ length: 10 }, (_, i) => text(`payload-${i}`));
      const bytes = peerFrames(role, ...payloads.map((p) => rawFrame(0x89, p)));
      for (const run of runs(role, bytes)) {
        assert.deepEqual(run.events.map((e) => e.type), Array(10).fill("ping"), run.name);
        assert.equal(run.sent.length, 10, run.name);
        run.sent.forEach((frame, i) => {
          assert.equal(frame.opcode, 0xa, `${run.name}: pong ${i}`);
          assert.deepEqual(frame.payload, payloads[i], `${run.name}: pong ${i}`);
        });
      }
    });
  }

  test("Protocol answers a ping received in CLOSING, having sent but not received a close frame", () => {
    // §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response, unless it
    // already received a Close frame." Control frames may follow a close frame (only data frames may not).
    for (const role of ROLES) {
      for (const { name, chunks } of splits(fromPeer(role, "89 04 70 69 6e 67"))) {
        const protocol = new Protocol({ role });
        protocol.close(1000);
        sentFrames(protocol);
        for (const chunk of chunks) protocol.receive(chunk);
        assert.deepEqual(protocol.takeEvents(), [{ type: "ping", data: text("ping") }], name);
        assert.deepEqual(sentFrames(protocol).map((f) => [f.opcode, toHex(f.payload)]), [[
          0xa,
          toHex(text("ping")),
        ]], `${role} ${name}`);
        assert.equal(protocol.state, CLOSING);
      }
    }
  });

  test("Protocol sends pings and pongs with application data of up to 125 bytes", () => {
    const server = new Protocol({ role: "server" });
    server.ping();
    server.ping("Hello");
    server.pong(pseudoRandomBytes(125, 1));
    const frames = sentFrames(server);
    assert.deepEqual(frames.map((f) => [f.opcode, f.payload.length]), [[0x9, 0], [0x9, 5], [0xa, 125]]);
  });

  test("Protocol refuses to send a ping or pong over 125 bytes with RangeError", () => {
    const server = new Protocol({ role: "server" });
    assert.throws(
      () => server.ping(new Uint8Array(126)),
      (e) => e instanceof RangeError && /126 bytes exceeds 125/.test(e.message),
    );
    assert.throws(
      () => server.pong("x".repeat(126)),
      (e) => e instanceof RangeError && /pong/.test(e.message),
    );
    assert.deepEqual(server.takeOutgoing(), []);
  });
});

describe("§5.2 reserved bits (Autobahn 3)", () => {
  const kinds: [string, number, Uint8Array][] = [
    ["text", 0x81, text("Hello")],
    ["binary", 0x82, hex("00 ff fe fd")],
    ["ping", 0x89, text("Hello")],
    ["close", 0x88, hex("03 e8")],
  ];
  for (const role of ROLES) {
    for (const [kind, firstByte, payload] of kinds) {
      for (
        const [bits, value] of [["RSV1", 0x40], ["RSV2", 0x20], ["RSV3", 0x10], ["RSV1+RSV2", 0x60], [
          "RSV2+RSV3",
          0x30,
        ], ["all RSV", 0x70]] as const
      ) {
        test(`Protocol (${role}) fails on a ${kind} frame with ${bits} set with 1002, after the frame before it`, () => {
          // Autobahn 3.2-3.7: a valid text message, the frame with RSV bits, then a ping: the text message is
          // delivered, the ping is not answered.
          const bad = rawFrame(firstByte | value, payload);
          const bytes = peerFrames(role, "81 05 48 65 6c 6c 6f", bad, "89 00");
          for (const run of assertFailsWith(role, bytes, 1002, /RSV\d is set/)) {
            assert.deepEqual(run.events, [message("Hello")], run.name);
            assert.deepEqual(run.sent.map((f) => f.opcode), [0x8], `${run.name}: no pong`);
          }
        });
      }
    }
  }

  test("Protocol fails on RSV1 on a ping with 1002 even when an extension defines RSV1", () => {
    const passThrough: Extension = {
      name: "pass-through",
      rsvBits: 0x40,
      decode: (f) => f,
      encode: (f) => f,
    };
    assertFailsWith("client", hex("c9 00"), 1002, /RSV1 is set on a control frame/, {
      extensions: [passThrough],
    });
  });
});

describe("§5.2 opcodes (Autobahn 4)", () => {
  for (const role of ROLES) {
    for (const opcode of [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
      const name = `0x${opcode.toString(16)}`;
      test(`Protocol (${role}) fails on reserved opcode ${name} with 1002, after the frame before it`, () => {
        // Autobahn 4.1.x/4.2.x: the reserved opcode alone, with a payload, and between a text and a ping.
        assertFailsWith(
          role,
          fromPeer(role, rawFrame(0x80 | opcode, new Uint8Array(0))),
          1002,
          new RegExp(`opcode ${name} is reserved`),
        );
        const bytes = peerFrames(
          role,
          "81 05 48 65 6c 6c 6f",
          rawFrame(0x80 | opcode, text("reserved")),
          "89 00",
        );
        for (const run of assertFailsWith(role, bytes, 1002, /reserved/)) {
          assert.deepEqual(run.events, [message("Hello")], run.name);
          assert.deepEqual(run.sent.map((f) => f.opcode), [0x8], `${run.name}: no pong`);
        }
      });
    }
  }
});

describe("§5.4 fragmentation (Autobahn 5)", () => {
  for (const role of ROLES) {
    test(`Protocol (${role}) fails on a fragmented pong with 1002`, () => {
      // Autobahn 5.2.
      assertFailsWith(role, peerFrames(role, "0a 01 61", "80 01 62"), 1002, /control frame is fragmented/);
    });

    test(`Protocol (${role}) fails on a close frame with FIN clear with 1002`, () => {
      assertFailsWith(role, fromPeer(role, "08 02 03 e8"), 1002, /control frame is fragmented/);
    });

    test(`Protocol (${role}) delivers text and binary messages in two fragments`, () => {
      // Autobahn 5.3-5.5.
      const bytes = peerFrames(
        role,
        "01 09 66 72 61 67 6d 65 6e 74 31",
        "80 09 66 72 61 67 6d 65 6e 74 32",
        "02 02 00 01",
        "80 02 02 03",
      );
      for (const run of runs(role, bytes)) {
        assert.deepEqual(run.events, [message("fragment1fragment2"), message(hex("00 01 02 03"))], run.name);
      }
    });

    test(`Protocol (${role}) delivers a message in many fragments, each of one byte`, () => {
      const sentence = "one byte each";
      const bytes = peerFrames(
        role,
        ...Array.from(
          text(sentence),
          (b, i) =>
            rawFrame((i === 0 ? 0x01 : 0x00) | (i === sentence.length - 1 ? 0x80 : 0), Uint8Array.of(b)),
        ),
      );
      for (const run of runs(role, bytes)) assert.deepEqual(run.events, [message(sentence)], run.name);
      const binary = peerFrames(role, "02 01 00", "00 01 01", "00 00", "00 01 02", "80 01 03");
      for (const run of runs(role, binary)) {
        assert.deepEqual(run.events, [message(hex("00 01 02 03"))], run.name);
      }
    });

    test(`Protocol (${role}) answers a ping between fragments at once, before the message completes`, () => {
      // Autobahn 5.6-5.8: fragment1, ping, fragment2.
      const head = peerFrames(role, "01 09 66 72 61 67 6d 65 6e 74 31", "89 04 70 69 6e 67");
      for (const { name, chunks } of splits(head)) {
        const protocol = new Protocol({ role });
        for (const chunk of chunks) protocol.receive(chunk);
        assert.deepEqual(protocol.takeEvents(), [{ type: "ping", data: text("ping") }], name);
        assert.deepEqual(sentFrames(protocol).map((f) => [f.opcode, toHex(f.payload)]), [[
          0xa,
          toHex(text("ping")),
        ]], name);
        protocol.receive(fromPeer(role, "80 09 66 72 61 67 6d 65 6e 74 32"));
        assert.deepEqual(protocol.takeEvents(), [message("fragment1fragment2")], name);
      }
    });

    test(`Protocol (${role}) delivers a message in five fragments with pings and pongs between them`, () => {
      // Autobahn 5.19/5.20.
      const bytes = peerFrames(
        role,
        "01 01 61",
        "00 01 62",
        "89 05 70 69 6e 67 31",
        "00 01 63",
        "8a 00",
        "00 01 64",
        "89 05 70 69 6e 67 32",
        "80 01 65",
      );
      for (const run of runs(role, bytes)) {
        assert.deepEqual(run.events.map((e) => e.type), ["ping", "pong", "ping", "message"], run.name);
        assert.deepEqual(run.events[3], message("abcde"), run.name);
        assert.deepEqual(
          run.sent.map((f) => new TextDecoder().decode(f.payload)),
          ["ping1", "ping2"],
          run.name,
        );
      }
    });

    test(`Protocol (${role}) fails on a continuation with nothing to continue with 1002`, () => {
      // Autobahn 5.9-5.14: FIN set and clear; nothing after it is processed.
      for (const first of ["80 01 61", "00 01 61"]) {
        const bytes = peerFrames(role, first, "81 02 68 69", "89 00");
        for (
          const run of assertFailsWith(role, bytes, 1002, /continuation frame without a message to continue/)
        ) {
          assert.deepEqual(run.events, [], run.name);
        }
      }
    });

    test(`Protocol (${role}) fails on a continuation after a fragmented message ended with 1002`, () => {
      // Autobahn 5.15: text fin=0, continuation fin=1, continuation fin=0, text fin=1.
      const bytes = peerFrames(role, "01 01 61", "80 01 62", "00 01 63", "81 01 64");
      for (const run of assertFailsWith(role, bytes, 1002, /continuation frame without a message/)) {
        assert.deepEqual(run.events, [message("ab")], run.name);
      }
    });

    test(`Protocol (${role}) fails on a new data frame while a fragmented message is in progress with 1002`, () => {
      // Autobahn 5.18: text fin=0 then text fin=1; and the binary and FIN-clear variants.
      for (
        const [first, second] of [["01 01 61", "81 01 62"], ["01 01 61", "02 01 62"], [
          "02 01 61",
          "81 01 62",
        ], ["02 01 61", "01 00"]]
      ) {
        for (
          const run of assertFailsWith(
            role,
            peerFrames(role, first, second),
            1002,
            /new data frame while a fragmented message/,
          )
        ) {
          assert.deepEqual(run.events, [], run.name);
        }
      }
    });
  }
});

describe("§8.1 UTF-8 (Autobahn 6)", () => {
  const valid: [string, string, string][] = [
    [
      "Hello-µ@ßöäüàá-UTF-8!!",
      "48 65 6c 6c 6f 2d c2 b5 40 c3 9f c3 b6 c3 a4 c3 bc c3 a0 c3 a1 2d 55 54 46 2d 38 21 21",
      "Hello-µ@ßöäüàá-UTF-8!!",
    ],
    ["κόσμε", "ce ba e1 bd b9 cf 83 ce bc ce b5", "\u03ba\u1f79\u03c3\u03bc\u03b5"],
    ["U+FFFF", "ef bf bf", "\uffff"],
    ["U+10000 and U+10FFFF", "f0 90 80 80 f4 8f bf bf", "\u{10000}\u{10ffff}"],
    ["U+1F600 between ASCII", "61 f0 9f 98 80 62", "a\u{1f600}b"],
    ["a BOM, kept", "ef bb bf", "\ufeff"],
  ];
  const invalid: [string, string][] = [
    ["overlong /", "c0 af"],
    ["overlong 3-byte", "e0 80 af"],
    ["C1", "c1 bf"],
    ["surrogate U+D800", "ed a0 80"],
    ["surrogate pair", "ed a0 80 ed b0 80"],
    ["above U+10FFFF", "f4 90 80 80"],
    ["byte F5", "f5"],
    ["byte FE", "fe"],
    ["byte FF", "ff"],
    ["lone continuation", "80"],
    ["Autobahn 6.3.1", "ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64"],
    ["truncated 2-byte at the end", "61 c3"],
    ["truncated 4-byte at the end", "f0 9f 98"],
  ];

  for (const role of ROLES) {
    for (const [name, bytesHex, expected] of valid) {
      test(`Protocol (${role}) delivers ${name} in one frame fed at every chunk boundary`, () => {
        // One frame split at every offset: code points split across chunks are checked piece by piece.
        for (const run of runs(role, fromPeer(role, rawFrame(0x81, hex(bytesHex))))) {
          assert.deepEqual(run.events, [message(expected)], run.name);
          assert.equal(run.protocol.state, OPEN, run.name);
        }
      });

      test(`Protocol (${role}) delivers ${name} fragmented at every offset`, () => {
        // Autobahn 6.2.2-6.2.4: code points split across fragments are valid.
        const bytes = hex(bytesHex);
        for (let i = 0; i <= bytes.length; i++) {
          const vector = peerFrames(
            role,
            rawFrame(0x01, bytes.subarray(0, i)),
            rawFrame(0x80, bytes.subarray(i)),
          );
          for (const run of runs(role, vector)) {
            assert.deepEqual(run.events, [message(expected)], `cut ${i}, ${run.name}`);
          }
        }
        const perByte = Array.from(
          bytes,
          (b, i) => rawFrame((i === 0 ? 0x01 : 0) | (i === bytes.length - 1 ? 0x80 : 0), Uint8Array.of(b)),
        );
        for (const run of runs(role, peerFrames(role, ...perByte))) {
          assert.deepEqual(run.events, [message(expected)], `per byte, ${run.name}`);
        }
      });
    }

    for (const [name, bytesHex] of invalid) {
      test(`Protocol (${role}) fails on ${name} with 1007, whole and fragmented at every offset`, () => {
        const bytes = hex(bytesHex);
        assertFailsWith(role, fromPeer(role, rawFrame(0x81, bytes)), 1007, /invalid UTF-8/);
        for (let i = 0; i <= bytes.length; i++) {
          const vector = peerFrames(
            role,
            rawFrame(0x01, bytes.subarray(0, i)),
            rawFrame(0x80, bytes.subarray(i)),
          );
          for (const run of assertFailsWith(role, vector, 1007, /invalid UTF-8/)) {
            assert.deepEqual(run.events, [], run.name);
          }
        }
      });
    }

    test(`Protocol (${role}) fails a 3-fragment text message on the 2nd fragment when it holds invalid UTF-8`, () => {
      // Fail fast (Autobahn 6.4.1/6.4.2): 1007 right after the 2nd fragment, before the 3rd is received.
      const first = rawFrame(0x01, text("\u03ba\u1f79\u03c3\u03bc\u03b5"));
      const second = rawFrame(0x00, hex("f4 90 80 80"));
      const third = rawFrame(0x80, text("edited"));
      for (const run of runs(role, peerFrames(role, first, second))) {
        assertFailed(run, 1007, /invalid UTF-8/);
        assert.deepEqual(run.events, [], run.name);
      }
      // The same, fed frame by frame: fine after the 1st, failed after the 2nd, the 3rd ignored.
      const protocol = new Protocol({ role });
      protocol.receive(fromPeer(role, first));
      assert.equal(protocol.state, OPEN);
      protocol.receive(fromPeer(role, second));
      assert.equal(protocol.state, CLOSED);
      const run = snapshot("frame by frame", protocol);
      assert.deepEqual(run.sent.map((f) => [f.opcode, closeCodeOf(f)]), [[0x8, 1007]]);
      assertFailed(run, 1007, /invalid UTF-8/);
      protocol.receive(fromPeer(role, third));
      assert.deepEqual(protocol.takeEvents(), []);
      assert.deepEqual(protocol.takeOutgoing(), []);
    });

    test(`Protocol (${role}) fails one frame with 1007 on the 2nd of 3 chunks when it holds invalid UTF-8`, () => {
      // Fail fast within a frame (Autobahn 6.4.3/6.4.4): the frame's header declares the whole payload, the
      // payload arrives in 3 chunks, the invalid bytes in the 2nd: 1007 before the 3rd arrives.
      for (
        const [name, middleHex] of [["ED A0 80", "ed a0 80"], ["F4 90 80 80", "f4 90 80 80"], [
          "C0 AF",
          "c0 af",
        ], ["FF", "ff"]]
      ) {
        const start = text("\u03ba\u1f79\u03c3\u03bc\u03b5");
        const middle = hex(middleHex);
        const end = text("edited".repeat(20));
        const bytes = fromPeer(role, rawFrame(0x81, concatBytes([start, middle, end])));
        const headerSize = role === "server" ? 8 : 4; // 16-bit length form (> 125 bytes)
        const cut1 = headerSize + start.length, cut2 = cut1 + middle.length;
        const protocol = new Protocol({ role });
        protocol.receive(bytes.slice(0, cut1));
        assert.equal(protocol.state, OPEN, `${name}: after chunk 1`);
        protocol.receive(bytes.slice(cut1, cut2));
        assert.equal(protocol.state, CLOSED, `${name}: after chunk 2`);
        assertFailed(snapshot(name, protocol), 1007, /invalid UTF-8/);
        protocol.receive(bytes.slice(cut2));
        assert.deepEqual(protocol.takeEvents(), [], name);
        assert.deepEqual(protocol.takeOutgoing(), [], name);
      }
    });

    test(`Protocol (${role}) fails one frame with 1007 on the chunk that completes an invalid sequence`, () => {
      // The invalid sequence starts at the end of one chunk (ED) and is proven invalid in the next (A0).
      const payload = concatBytes([text("abc"), hex("ed a0 80"), text("def")]);
      const bytes = fromPeer(role, rawFrame(0x81, payload));
      const headerSize = role === "server" ? 6 : 2;
      const protocol = new Protocol({ role });
      protocol.receive(bytes.slice(0, headerSize + 4)); // up to and including ED
      assert.equal(protocol.state, OPEN);
      protocol.receive(bytes.slice(headerSize + 4, headerSize + 5)); // A0
      assertFailed(snapshot("ED | A0", protocol), 1007, /invalid UTF-8/);
    });

    test(`Protocol (${role}) fails a fragmented message on the 2nd fragment's invalid bytes before it ends`, () => {
      // Both at once: a fragmented message whose 2nd fragment is still arriving.
      const first = rawFrame(0x01, text("Hello"));
      const second = fromPeer(
        role,
        rawFrame(0x00, concatBytes([text("wor"), hex("ed a0 80"), text("ld and more")])),
      );
      const protocol = new Protocol({ role });
      protocol.receive(fromPeer(role, first));
      const headerSize = role === "server" ? 6 : 2;
      protocol.receive(second.slice(0, headerSize + 4));
      assert.equal(protocol.state, OPEN);
      protocol.receive(second.slice(headerSize + 4, headerSize + 6));
      const run = snapshot("2nd fragment partly received", protocol);
      assert.deepEqual(run.events, []);
      assertFailed(run, 1007, /invalid UTF-8/);
    });

    test(`Protocol (${role}) fails a message cut short in a code point with 1007 only when it ends`, () => {
      const payload = hex("61 f0 9f 98");
      const frames = [
        rawFrame(0x01, payload.subarray(0, 2)),
        rawFrame(0x00, payload.subarray(2)),
        rawFrame(0x80, new Uint8Array(0)),
      ];
      const protocol = new Protocol({ role });
      protocol.receive(peerFrames(role, frames[0], frames[1]));
      assert.equal(protocol.state, OPEN, "a code point may continue in the next fragment");
      protocol.receive(fromPeer(role, frames[2]));
      assertFailed(snapshot("final empty fragment", protocol), 1007, /invalid UTF-8/);
    });

    test(`Protocol (${role}) does not check binary messages or partial binary frames as UTF-8`, () => {
      const payload = hex("ed a0 80 ff c0 af f4 90 80 80");
      for (const run of runs(role, fromPeer(role, rawFrame(0x82, payload)))) {
        assert.deepEqual(run.events, [message(payload)], run.name);
      }
    });
  }
});

describe("§5.5.1 close and §7 closing the connection (Autobahn 7)", () => {
  function closeFrame(code: number | undefined, reason: Uint8Array = new Uint8Array(0)): Uint8Array {
    const payload = code === undefined
      ? reason
      : concatBytes([Uint8Array.of(code >>> 8, code & 0xff), reason]);
    return rawFrame(0x88, payload);
  }

  for (const role of ROLES) {
    test(`Protocol (${role}) replies to a close frame with no payload with an empty close, reporting 1005`, () => {
      // Autobahn 7.3.1. §7.1.5: a close frame with no status code is reported as 1005.
      for (const run of runs(role, fromPeer(role, "88 00"))) {
        assert.deepEqual(run.events, [{ type: "close", code: 1005, reason: "" }], run.name);
        assert.equal(run.sent.length, 1, run.name);
        assert.equal(run.sent[0].opcode, 0x8, run.name);
        assert.equal(run.sent[0].payload.length, 0, `${run.name}: no status code echoed`);
        assert.equal(run.protocol.state, CLOSED, run.name);
        assert.deepEqual(run.protocol.closeReceived, { code: 1005, reason: "" }, run.name);
        assert.equal(run.protocol.failure, undefined, run.name);
      }
    });

    test(`Protocol (${role}) echoes a close frame's status code and reports its reason`, () => {
      // Autobahn 7.1.1, 7.3.3, 7.3.4.
      const bytes = peerFrames(role, "81 05 48 65 6c 6c 6f", closeFrame(1000, text("Hello World!")));
      for (const run of runs(role, bytes)) {
        assert.deepEqual(run.events, [message("Hello"), {
          type: "close",
          code: 1000,
          reason: "Hello World!",
        }], run.name);
        assert.deepEqual(run.sent.map((f) => toHex(f.payload)), ["03 e8"], run.name);
        assert.equal(run.sent[0].opcode, 0x8, run.name);
        assert.equal(run.protocol.state, CLOSED, run.name);
      }
    });

    test(`Protocol (${role}) accepts a close reason of 123 bytes`, () => {
      // Autobahn 7.3.5: the largest close payload, 125 bytes.
      const reason = "*".repeat(123);
      for (const run of runs(role, fromPeer(role, closeFrame(1000, text(reason))))) {
        assert.deepEqual(run.events, [{ type: "close", code: 1000, reason }], run.name);
        assert.equal(closeCodeOf(run.sent[0]), 1000, run.name);
      }
    });

    test(`Protocol (${role}) fails on a close reason of 124 bytes with 1002`, () => {
      // Autobahn 7.3.6: a 126-byte control frame payload.
      assertFailsWith(
        role,
        fromPeer(role, closeFrame(1000, text("*".repeat(124)))),
        1002,
        /exceeds 125 bytes/,
      );
    });

    test(`Protocol (${role}) fails on a 1-byte close payload with 1002`, () => {
      // Autobahn 7.3.2. §5.5.1: the body starts with a 2-byte status code.
      for (const run of assertFailsWith(role, fromPeer(role, "88 01 03"), 1002, /payload of 1 byte/)) {
        assert.deepEqual(run.events, [], run.name);
      }
    });

    test(`Protocol (${role}) fails on a close reason that is not UTF-8 with 1007`, () => {
      // Autobahn 7.5.1.
      const reason = hex("ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64");
      assertFailsWith(role, fromPeer(role, closeFrame(1000, reason)), 1007, /reason is not valid UTF-8/);
      assertFailsWith(
        role,
        fromPeer(role, closeFrame(1000, hex("61 c3"))),
        1007,
        /reason is not valid UTF-8/,
      );
    });

    for (
      const code of VALID_CLOSE_CODES
    ) {
      test(`Protocol (${role}) echoes valid close code ${code}`, () => {
        // Autobahn 7.7.x.
        for (const run of runs(role, fromPeer(role, closeFrame(code)))) {
          assert.deepEqual(run.events, [{ type: "close", code, reason: "" }], run.name);
          assert.deepEqual(run.sent.map(closeCodeOf), [code], run.name);
          assert.equal(run.protocol.failure, undefined, run.name);
        }
      });
    }

    for (const code of INVALID_CLOSE_CODES) {
      test(`Protocol (${role}) fails on invalid close code ${code} with 1002`, () => {
        // Autobahn 7.9.x.
        for (
          const run of assertFailsWith(
            role,
            fromPeer(role, closeFrame(code)),
            1002,
            new RegExp(`status code ${code} is not valid`),
          )
        ) {
          assert.deepEqual(run.events, [], run.name);
        }
      });
    }

    test(`Protocol (${role}) processes nothing after a close frame, not even a text frame in the same chunk`, () => {
      // Autobahn 7.1.2-7.1.4: close then close; close then ping; close then text. §1.4: after the close
      // frame the endpoint "discards any further data received".
      for (const after of ["88 02 03 e8", "89 04 70 69 6e 67", "81 05 48 65 6c 6c 6f", "ff 00"]) {
        for (const run of runs(role, peerFrames(role, closeFrame(1000), after))) {
          assert.deepEqual(run.events, [{ type: "close", code: 1000, reason: "" }], `${after}: ${run.name}`);
          assert.deepEqual(run.sent.map((f) => f.opcode), [0x8], `${after}: ${run.name}`);
          assert.equal(run.protocol.failure, undefined, `${after}: ${run.name}`);
        }
      }
    });

    test(`Protocol (${role}) drops a fragmented message interrupted by a close frame`, () => {
      // Autobahn 7.1.5: fragment1, close, fragment2.
      const bytes = peerFrames(
        role,
        "01 09 66 72 61 67 6d 65 6e 74 31",
        closeFrame(1000),
        "80 09 66 72 61 67 6d 65 6e 74 32",
      );
      for (const run of runs(role, bytes)) {
        assert.deepEqual(run.events, [{ type: "close", code: 1000, reason: "" }], run.name);
      }
    });

    test(`Protocol (${role}) handles a large message, a ping and a close in one chunk`, () => {
      // Autobahn 7.1.6.
      const big = text("BAsd7&jh23".repeat(26214));
      const bytes = peerFrames(role, rawFrame(0x81, big), "89 04 70 69 6e 67", closeFrame(1000));
      for (const run of runs(role, bytes)) {
        assert.deepEqual(run.events.map((e) => e.type), ["message", "ping", "close"], run.name);
        assert.deepEqual(run.sent.map((f) => f.opcode), [0xa, 0x8], run.name);
      }
    });

    test(`Protocol (${role}) delivers data received in CLOSING; the peer's close then ends it without another close`, () => {
      // §5.5.1: after sending a close frame the endpoint may still receive data until the peer's close.
      const bytes = peerFrames(
        role,
        "81 05 48 65 6c 6c 6f",
        "02 01 01",
        "80 01 02",
        closeFrame(1000, text("bye")),
      );
      for (const { name, chunks } of splits(bytes)) {
        const protocol = new Protocol({ role });
        protocol.close(1001, "going");
        assert.equal(protocol.state, CLOSING, name);
        assert.deepEqual(protocol.closeSent, { code: 1001, reason: "going" }, name);
        const closing = sentFrames(protocol);
        assert.deepEqual(closing.map((f) => [f.opcode, decodeClosePayload(f.payload)]), [[0x8, {
          code: 1001,
          reason: "going",
        }]], name);
        for (const chunk of chunks) protocol.receive(chunk);
        assert.deepEqual(protocol.takeEvents(), [
          message("Hello"),
          message(hex("01 02")),
          { type: "close", code: 1000, reason: "bye" },
        ], name);
        assert.deepEqual(protocol.takeOutgoing(), [], `${name}: no second close frame`);
        assert.equal(protocol.state, CLOSED, name);
        assert.deepEqual(protocol.closeReceived, { code: 1000, reason: "bye" }, name);
        assert.equal(protocol.failure, undefined, name);
      }
    });

    test(`Protocol (${role}) fails on a violation in CLOSING without sending a second close frame`, () => {
      const protocol = new Protocol({ role });
      protocol.close(1000);
      sentFrames(protocol);
      protocol.receive(fromPeer(role, "83 00"));
      assert.equal(protocol.state, CLOSED);
      const failure = protocol.failure;
      assert.ok(failure instanceof ProtocolError);
      assert.equal(failure.code, 1002);
      assert.match(failure.message, /opcode 0x3 is reserved/);
      assert.deepEqual(protocol.takeOutgoing(), []);
      protocol.receive(fromPeer(role, "89 00"));
      assert.deepEqual(protocol.takeEvents(), []);
      assert.deepEqual(protocol.closeSent, { code: 1000, reason: "" });
    });
  }

  test("Protocol sends a close frame with code and reason, and moves to CLOSING", () => {
    const server = new Protocol({ role: "server" });
    server.close(1000, "Hello World!");
    assert.equal(server.state, CLOSING);
    assert.equal(
      toHex(concatBytes(server.takeOutgoing())),
      "88 0e 03 e8 48 65 6c 6c 6f 20 57 6f 72 6c 64 21",
    );
  });

  test("Protocol sends an empty close frame for close() with no code", () => {
    const server = new Protocol({ role: "server" });
    server.close();
    assert.equal(toHex(concatBytes(server.takeOutgoing())), "88 00");
    assert.deepEqual(server.closeSent, { code: 1005, reason: "" });
  });

  test("Protocol sends one close frame when close() is called twice", () => {
    const client = new Protocol({ role: "client" });
    client.close(1000);
    client.close(1001, "again");
    client.close();
    const frames = sentFrames(client);
    assert.deepEqual(frames.map((f) => [f.opcode, closeCodeOf(f)]), [[0x8, 1000]]);
    assert.deepEqual(client.closeSent, { code: 1000, reason: "" });
  });

  test("Protocol refuses send, sendFragment, ping and pong after close() with InvalidStateError", () => {
    const client = new Protocol({ role: "client" });
    client.close(1000);
    client.takeOutgoing();
    assert.throws(() => client.send("late"), isInvalidState);
    assert.throws(() => client.send(hex("01")), isInvalidState);
    assert.throws(() => client.sendFragment("late", true), isInvalidState);
    assert.throws(() => client.ping(), isInvalidState);
    assert.throws(() => client.pong(), isInvalidState);
    assert.deepEqual(client.takeOutgoing(), [], "nothing was sent");
  });

  test("Protocol refuses close codes not valid on the wire with RangeError, sending nothing", () => {
    for (const code of [1005, 999, 5000, 0, 1004, 1006, 1015, 1016, 2999, 1000.5, NaN]) {
      const server = new Protocol({ role: "server" });
      assert.throws(
        () => server.close(code),
        (e) => e instanceof RangeError && /not valid on the wire/.test(e.message),
        `code ${code}`,
      );
      assert.equal(server.state, OPEN, `code ${code}`);
      assert.deepEqual(server.takeOutgoing(), [], `code ${code}`);
    }
  });

  test("Protocol refuses a close reason over 123 bytes with SyntaxError", () => {
    const server = new Protocol({ role: "server" });
    assert.throws(
      () => server.close(1000, "x".repeat(124)),
      (e) => e instanceof SyntaxError && /124 bytes exceeds 123/.test(e.message),
    );
    assert.throws(
      () => server.close(1000, "\u00e9".repeat(62)),
      (e) => e instanceof SyntaxError && /124 bytes/.test(e.message),
    );
    assert.equal(server.state, OPEN);
    server.close(1000, "\u00e9".repeat(61) + "x");
    assert.equal(sentFrames(server)[0].payload.length, 125);
  });

  test("Protocol refuses a close reason without a code with TypeError", () => {
    const server = new Protocol({ role: "server" });
    assert.throws(
      () => server.close(undefined, "reason"),
      (e) => e instanceof TypeError && /reason needs a status code/.test(e.message),
    );
    assert.equal(server.state, OPEN);
  });

  test("Protocol's close after the close handshake does nothing", () => {
    const server = new Protocol({ role: "server" });
    server.receive(masked(hex("88 02 03 e8"), KEY));
    server.takeOutgoing();
    server.close(1000);
    assert.deepEqual(server.takeOutgoing(), []);
  });

  test("Protocol (server) asks to close the transport after the close handshake; a client waits for EOF", () => {
    // §7.1.1: "the server SHOULD close the underlying TCP connection first".
    const server = new Protocol({ role: "server" });
    assert.equal(server.shouldCloseTransport, false);
    server.receive(masked(hex("88 02 03 e8"), KEY));
    assert.equal(server.shouldCloseTransport, true);

    const client = new Protocol({ role: "client" });
    client.close(1000);
    assert.equal(client.shouldCloseTransport, false);
    client.receive(hex("88 02 03 e8"));
    assert.equal(client.state, CLOSED);
    assert.equal(client.shouldCloseTransport, false);
    client.receiveEof();
    assert.equal(client.shouldCloseTransport, true);
  });

  test("Protocol ignores input after the transport's EOF", () => {
    const client = new Protocol({ role: "client" });
    client.receiveEof();
    assert.equal(client.state, CLOSED);
    client.receive(hex("81 02 68 69"));
    assert.deepEqual(client.takeEvents(), []);
  });

  test("encodeClosePayload and decodeClosePayload round-trip codes and reasons", () => {
    for (
      const [code, reason] of [[1000, ""], [1001, "going away"], [4999, "\u{1f600}"], [
        3000,
        "*".repeat(123),
      ]] as const
    ) {
      assert.deepEqual(decodeClosePayload(encodeClosePayload(code, reason)), { code, reason });
    }
    assert.deepEqual(decodeClosePayload(encodeClosePayload(undefined, "")), { code: 1005, reason: "" });
    assert.equal(toHex(encodeClosePayload(1002, "x")), "03 ea 78");
  });
});

describe("§7.1.7 failing the connection", () => {
  test("Protocol.fail sends a close frame with the code and reason and moves to CLOSED", () => {
    const server = new Protocol({ role: "server" });
    server.fail(1008, "policy");
    assert.equal(server.state, CLOSED);
    assert.deepEqual(sentFrames(server).map((f) => decodeClosePayload(f.payload)), [{
      code: 1008,
      reason: "policy",
    }]);
    assert.equal(server.failure instanceof ProtocolError && server.failure.code, 1008);
  });

  test("Protocol.fail cuts a long reason to 123 bytes at a code point boundary", () => {
    const server = new Protocol({ role: "server" });
    server.fail(1011, "\u{1f600}".repeat(40)); // 160 bytes of 4-byte code points
    const [frame] = sentFrames(server);
    const { code, reason } = decodeClosePayload(frame.payload);
    assert.equal(code, 1011);
    assert.equal(reason, "\u{1f600}".repeat(30)); // 120 bytes: the 31st code point would cross 123
  });

  test("Protocol.fail with a code that must not be sent closes without a close frame", () => {
    const server = new Protocol({ role: "server" });
    server.fail(1006);
    assert.equal(server.state, CLOSED);
    assert.deepEqual(server.takeOutgoing(), []);
  });

  test("Protocol fails with 1011 and no detail when an extension throws an unexpected error", () => {
    // "Unexpected errors close with 1011 and no detail."
    const broken: Extension = {
      name: "broken",
      rsvBits: 0x40,
      decode: () => {
        throw new Error("secret internal detail");
      },
      encode: (f) => f,
    };
    const client = new Protocol({ role: "client", extensions: [broken] });
    client.receive(hex("81 02 68 69 89 00"));
    assert.equal(client.state, CLOSED);
    assert.ok(client.failure instanceof Error && !(client.failure instanceof ProtocolError));
    assert.equal(client.failure.message, "secret internal detail");
    assert.deepEqual(sentFrames(client).map((f) => decodeClosePayload(f.payload)), [{
      code: 1011,
      reason: "",
    }]);
    assert.deepEqual(client.takeEvents(), []);
  });

  test("Protocol keeps the events from before a failure", () => {
    const client = new Protocol({ role: "client" });
    client.receive(hex("81 02 68 69 89 01 70 83 00"));
    assert.deepEqual(client.takeEvents(), [message("hi"), { type: "ping", data: text("p") }]);
    assert.deepEqual(sentFrames(client).map((f) => f.opcode), [0xa, 0x8]);
  });
});

describe("§10.4 limits", () => {
  for (const role of ROLES) {
    test(`Protocol (${role}) fails with 1009 on the header of a frame over maxMessageSize, before its payload`, () => {
      // Only the header is fed (for a server, with its masking key): the failure comes from the length.
      const headers = role === "server"
        ? ["82 fe 04 01 01 02 03 04", "81 ff 00 00 00 00 00 01 00 00 01 02 03 04"]
        : ["82 7e 04 01", "81 7f 00 00 00 00 00 01 00 00"];
      for (const header of headers) {
        for (
          const run of assertFailsWith(role, hex(header), 1009, /exceeds the limit of 1024/, {
            maxMessageSize: 1024,
          })
        ) {
          assert.deepEqual(run.events, [], run.name);
        }
      }
    });

    test(`Protocol (${role}) accepts a message exactly at maxMessageSize, whole and fragmented`, () => {
      const payload = pseudoRandomBytes(1024, 7);
      for (const run of runs(role, fromPeer(role, rawFrame(0x82, payload)), { maxMessageSize: 1024 })) {
        assert.deepEqual(run.events, [message(payload)], run.name);
      }
      const fragmented = peerFrames(
        role,
        rawFrame(0x02, payload.subarray(0, 1000)),
        rawFrame(0x80, payload.subarray(1000)),
      );
      for (const run of runs(role, fragmented, { maxMessageSize: 1024 })) {
        assert.deepEqual(run.events, [message(payload)], run.name);
      }
    });

    test(`Protocol (${role}) fails with 1009 when fragments sum over maxMessageSize, from the crossing header`, () => {
      const first = rawFrame(0x01, text("a".repeat(1000)));
      const ping = rawFrame(0x89, text("ping"));
      // 25 more bytes declared: 1025 in all. Only the header of the crossing fragment is fed.
      const crossingHeader = role === "server" ? hex("80 99 01 02 03 04") : hex("80 19");
      const bytes = concatBytes([peerFrames(role, first, ping), crossingHeader]);
      for (
        const run of assertFailsWith(role, bytes, 1009, /25 bytes exceeds the limit of 24/, {
          maxMessageSize: 1024,
        })
      ) {
        assert.deepEqual(run.events, [{ type: "ping", data: text("ping") }], run.name);
        assert.deepEqual(run.sent.map((f) => f.opcode), [0xa, 0x8], run.name);
      }
    });

    test(`Protocol (${role}) fails with 1009 when many small fragments sum over maxMessageSize`, () => {
      const frames = Array.from(
        { length: 11 },
        (_, i) => rawFrame(i === 0 ? 0x02 : 0x00, new Uint8Array(10)),
      );
      assertFailsWith(role, peerFrames(role, ...frames), 1009, /exceeds the limit/, { maxMessageSize: 100 });
    });

    test(`Protocol (${role}) fails on a 64-bit length with its top bit set with 1002`, () => {
      const header = role === "server"
        ? "82 ff 80 00 00 00 00 00 00 01 01 02 03 04"
        : "82 7f 80 00 00 00 00 00 00 01";
      assertFailsWith(role, hex(header), 1002, /top bit/);
    });

    test(`Protocol (${role}) fails on a 64-bit length of 2^53 or more with 1009`, () => {
      // The length is legal on the wire (top bit clear), so the peer broke no framing rule: it is too big
      // for this implementation (maxMessageSize is at most 2^53 - 1), so 1009 Message Too Big.
      for (
        const length of ["00 20 00 00 00 00 00 00", "00 20 00 00 00 00 00 01", "7f ff ff ff ff ff ff ff"]
      ) {
        const header = role === "server" ? `82 ff ${length} 01 02 03 04` : `82 7f ${length}`;
        assertFailsWith(role, hex(header), 1009, /exceeds the limit/);
        assertFailsWith(role, hex(header), 1009, /exceeds the limit/, {
          maxMessageSize: Number.MAX_SAFE_INTEGER,
        });
      }
    });
  }

  test("Protocol refuses an out-of-range maxMessageSize or fragmentSize with RangeError", () => {
    assert.throws(() => new Protocol({ role: "server", maxMessageSize: -1 }), RangeError);
    assert.throws(() => new Protocol({ role: "server", maxMessageSize: 2 ** 53 }), RangeError);
    assert.throws(() => new Protocol({ role: "server", maxMessageSize: NaN }), RangeError);
    assert.throws(() => new Protocol({ role: "server", fragmentSize: 0 }), RangeError);
    assert.throws(() => new Protocol({ role: "server", fragmentSize: NaN }), RangeError);
  });
});

describe("§5.4 fragmentation when sending", () => {
  test("Protocol fragments a message longer than fragmentSize into continuation frames", () => {
    for (const role of ROLES) {
      const protocol = new Protocol({ role, fragmentSize: 4 });
      protocol.send("Hello world");
      protocol.send(hex("00 01 02 03 04"));
      protocol.send("four");
      const frames = sentFrames(protocol);
      assert.deepEqual(
        frames.map((f) => [f.fin, f.rsv1, f.rsv2, f.rsv3, f.opcode, new TextDecoder().decode(f.payload)]),
        [
          [false, false, false, false, 0x1, "Hell"],
          [false, false, false, false, 0x0, "o wo"],
          [true, false, false, false, 0x0, "rld"],
          [false, false, false, false, 0x2, "\x00\x01\x02\x03"],
          [true, false, false, false, 0x0, "\x04"],
          [true, false, false, false, 0x1, "four"],
        ],
        role,
      );
    }
  });

  test("Protocol's per-message fragmentSize overrides the protocol's", () => {
    const server = new Protocol({ role: "server", fragmentSize: 100 });
    server.send("abcdef", { fragmentSize: 2 });
    server.send("abcdef");
    assert.deepEqual(sentFrames(server).map((f) => [f.opcode, f.fin, f.payload.length]), [
      [0x1, false, 2],
      [0x0, false, 2],
      [0x0, true, 2],
      [0x1, true, 6],
    ]);
  });

  test("Protocol's fragmented messages are read back whole by a peer", () => {
    const client = new Protocol({ role: "client", fragmentSize: 7 });
    const server = new Protocol({ role: "server" });
    const binary = pseudoRandomBytes(100, 3);
    client.send("\u03ba\u1f79\u03c3\u03bc\u03b5 \u{1f600}\u{10ffff}"); // code points cut across fragments
    client.send(binary);
    for (const chunk of client.takeOutgoing()) server.receive(chunk);
    assert.deepEqual(server.takeEvents(), [
      message("\u03ba\u1f79\u03c3\u03bc\u03b5 \u{1f600}\u{10ffff}"),
      message(binary),
    ]);
    assert.equal(server.state, OPEN);
  });

  test("Protocol streams a message with sendFragment, with a ping between fragments", () => {
    for (const role of ROLES) {
      const protocol = new Protocol({ role });
      protocol.sendFragment("Hel", false);
      protocol.ping("p");
      protocol.sendFragment(hex("6c"), false); // later fragments may be bytes
      protocol.sendFragment("o", true);
      const frames = sentFrames(protocol);
      assert.deepEqual(
        frames.map((f) => [f.opcode, f.fin, f.rsv1, new TextDecoder().decode(f.payload)]),
        [[0x1, false, false, "Hel"], [0x9, true, false, "p"], [0x0, false, false, "l"], [
          0x0,
          true,
          false,
          "o",
        ]],
        role,
      );
      const peer = new Protocol({ role: role === "server" ? "client" : "server" });
      peer.receive(
        concatBytes(
          frames.map((f) => fromPeer(peer.role, rawFrame((f.fin ? 0x80 : 0) | f.opcode, f.payload))),
        ),
      );
      assert.deepEqual(peer.takeEvents(), [{ type: "ping", data: text("p") }, message("Hello")]);
    }
  });

  test("Protocol streams a binary message with sendFragment", () => {
    const server = new Protocol({ role: "server" });
    server.sendFragment(hex("01 02"), false);
    server.sendFragment(hex("03"), true);
    server.sendFragment(hex("04"), true); // a whole message of one fragment
    assert.deepEqual(sentFrames(server).map((f) => [f.opcode, f.fin, toHex(f.payload)]), [
      [0x2, false, "01 02"],
      [0x0, true, "03"],
      [0x2, true, "04"],
    ]);
  });

  test("Protocol refuses send() while a sendFragment message is in progress with InvalidStateError", () => {
    const client = new Protocol({ role: "client" });
    client.sendFragment("part", false);
    assert.throws(() => client.send("interleaved"), isInvalidState);
    assert.throws(() => client.send(hex("01")), isInvalidState);
    client.sendFragment("end", true);
    client.send("after");
    assert.deepEqual(sentFrames(client).map((f) => [f.opcode, f.fin]), [[0x1, false], [0x0, true], [
      0x1,
      true,
    ]]);
  });

  test("Protocol refuses data that is neither a string nor a Uint8Array with TypeError", () => {
    const server = new Protocol({ role: "server" });
    assert.throws(() => server.send(42 as unknown as string), TypeError);
    assert.throws(() => server.send([1, 2] as unknown as Uint8Array), TypeError);
  });
});

describe("§4 opening handshake states", () => {
  test("Protocol in CONNECTING refuses to send or receive until open()", () => {
    const client = new Protocol({ role: "client", state: CONNECTING });
    assert.equal(client.state, CONNECTING);
    assert.throws(() => client.send("early"), isInvalidState);
    assert.throws(() => client.receive(hex("81 00")), isInvalidState);
    assert.throws(() => client.close(1000), isInvalidState);
    client.open();
    assert.equal(client.state, OPEN);
    assert.throws(() => client.open(), isInvalidState);
    client.receive(hex("81 02 68 69"));
    assert.deepEqual(client.takeEvents(), [message("hi")]);
  });

  test("Protocol starts OPEN by default and reports its role", () => {
    assert.equal(new Protocol({ role: "server" }).state, OPEN);
    assert.equal(new Protocol({ role: "client" }).role, "client");
  });
});

describe("zero-copy delivery", () => {
  for (const role of ROLES) {
    test(`Protocol (${role}) delivers a binary message arriving in one chunk as a view on that chunk`, () => {
      const payload = pseudoRandomBytes(300, 5);
      const chunk = fromPeer(role, rawFrame(0x82, payload));
      const protocol = new Protocol({ role });
      protocol.receive(chunk);
      const [event] = protocol.takeEvents();
      assert.ok(event.type === "message" && event.data instanceof Uint8Array);
      assert.equal(event.data.buffer, chunk.buffer);
      assert.deepEqual(event.data, payload);
    });
  }
});

describe("feed and nextEvent: one event at a time, replies in input order", () => {
  for (const role of ROLES) {
    test(`${role}: a reply to a message goes out before the reply to a close frame in the same read`, () => {
      const protocol = new Protocol({ role });
      protocol.feed(peerFrames(role, "81 02 68 69", "89 01 70", "88 02 03 e8"));
      const first = protocol.nextEvent();
      assert.deepEqual(first, message("hi"));
      assert.deepEqual(protocol.takeOutgoing(), [], "nothing parsed past the message yet");
      protocol.send("echo: hi");
      assert.deepEqual(protocol.nextEvent(), { type: "ping", data: text("p") });
      assert.deepEqual(protocol.nextEvent(), { type: "close", code: 1000, reason: "" });
      assert.equal(protocol.nextEvent(), undefined);
      const sent = sentFrames(protocol);
      assert.deepEqual(sent.map((f) => f.opcode), [0x1, 0xa, 0x8], "echo, then pong, then close");
      assert.equal(new TextDecoder().decode(sent[0].payload), "echo: hi");
      assert.equal(closeCodeOf(sent[2]), 1000);
      assert.equal(protocol.state, CLOSED);
    });

    test(`${role}: nextEvent fails the connection with the right code instead of throwing`, () => {
      const protocol = new Protocol({ role });
      protocol.feed(peerFrames(role, "81 02 68 69", "83 00"));
      assert.deepEqual(protocol.nextEvent(), message("hi"));
      assert.equal(protocol.nextEvent(), undefined);
      assertFailed(snapshot("reserved opcode after a message", protocol), 1002, /opcode 0x3 is reserved/);
    });
  }
});

describe("caller errors and late failures", () => {
  test("send with fragmentSize 0, negative or NaN throws RangeError instead of looping", () => {
    for (const fragmentSize of [0, -1, NaN]) {
      const protocol = new Protocol({ role: "server" });
      assert.throws(() => protocol.send("hello", { fragmentSize }), RangeError);
      assert.deepEqual(protocol.takeOutgoing(), []);
    }
  });

  test("sendFragment keeps a surrogate pair split across string fragments intact", () => {
    const protocol = new Protocol({ role: "server" });
    const emoji = "\u{1F600}"; // two UTF-16 code units
    protocol.sendFragment("a" + emoji[0], false);
    protocol.sendFragment(emoji[1] + "b", true);
    const sent = sentFrames(protocol);
    const bytes = concatBytes(sent.map((f) => f.payload));
    assert.equal(new TextDecoder("utf-8", { fatal: true }).decode(bytes), "a" + emoji + "b");
  });

  test("fail() after the close handshake completed changes nothing", () => {
    const protocol = new Protocol({ role: "server" });
    protocol.close(1000, "bye");
    protocol.receive(peerFrames("server", "88 02 03 e8"));
    assert.equal(protocol.state, CLOSED);
    protocol.takeOutgoing();
    protocol.fail(1011, "late");
    assert.equal(protocol.failure, undefined);
    assert.deepEqual(protocol.takeOutgoing(), []);
    assert.deepEqual(protocol.closeSent, { code: 1000, reason: "bye" });
  });

  test("FrameParser rejects a NaN limit and ignores RSV bits outside 0x70", () => {
    assert.throws(() => new FrameParser({ role: "client", maxPayloadSize: NaN }), RangeError);
    const parser = new FrameParser({ role: "client", allowedRsv: 0x0f });
    parser.push(hex("c1 00"));
    assert.throws(() => parser.next(), (e: unknown) => e instanceof ProtocolError && e.code === 1002);
  });
});

describe("a text frame decoded as it arrives is not copied whole (FrameParser.releaseParts)", () => {
  const text = "héllo wörld, ".repeat(300); // multi-byte characters fall across chunk edges
  const bytes = new TextEncoder().encode(text);
  const key = hex("11 22 33 44");
  const feedInChunks = (protocol: Protocol, wire: Uint8Array, size: number) => {
    for (let i = 0; i < wire.length; i += size) protocol.receive(wire.slice(i, i + size));
  };

  for (const chunk of [1, 7, 100, 1000]) {
    test(`one text frame in ${chunk}-byte chunks: the message whole, and the limit counted on all of it`, () => {
      const wire = masked(rawFrame(0x81, bytes), key);
      const exact = new Protocol({ role: "server", maxMessageSize: bytes.length });
      feedInChunks(exact, wire, chunk);
      assert.deepEqual(exact.takeEvents(), [message(text)]);
      const under = new Protocol({ role: "server", maxMessageSize: bytes.length - 1 });
      feedInChunks(under, wire, chunk);
      assert.equal((under.failure as ProtocolError | undefined)?.code, 1009);
    });

    test(`a fragmented text message, each fragment in ${chunk}-byte chunks: the message whole, the limit on the sum`, () => {
      const cut = 1001; // inside a two-byte character's run
      const wire = concatBytes([masked(rawFrame(0x01, bytes.subarray(0, cut)), key), masked(rawFrame(0x80, bytes.subarray(cut)), key)]);
      const exact = new Protocol({ role: "server", maxMessageSize: bytes.length });
      feedInChunks(exact, wire, chunk);
      assert.deepEqual(exact.takeEvents(), [message(text)]);
      const under = new Protocol({ role: "server", maxMessageSize: bytes.length - 1 });
      feedInChunks(under, wire, chunk);
      assert.equal((under.failure as ProtocolError | undefined)?.code, 1009);
    });
  }
});

describe("textAsBytes and send's binary option: text passed on as bytes", () => {
  for (const role of ROLES) {
    test(`a ${role} with textAsBytes reports text as its bytes with binary false, binary with binary true, fed every way`, () => {
      // §5.6: a text frame's payload is UTF-8: "Hello" (§5.7), then a fragmented "κόσμε" cut inside a character.
      const wire = peerFrames(role, "81 05 48 65 6c 6c 6f", "01 03 ce ba e1", "80 08 bd b9 cf 83 ce bc ce b5", "82 02 ff 00");
      for (const run of runs(role, wire, { textAsBytes: true })) {
        assert.deepEqual(run.events, [
          message(text("Hello"), false),
          message(hex("ce ba e1 bd b9 cf 83 ce bc ce b5"), false),
          message(hex("ff 00"), true),
        ], run.name);
      }
    });

    test(`a ${role} with textAsBytes fails invalid UTF-8 with 1007, fed every way`, () => {
      assertFailsWith(role, peerFrames(role, "01 02 48 c3", "80 01 28"), 1007, /invalid UTF-8/, { textAsBytes: true });
    });

    test(`a ${role} sends bytes as text with binary: false, and a string as binary with binary: true`, () => {
      const protocol = new Protocol({ role });
      protocol.send(text("héllo"), { binary: false });
      protocol.send("héllo", { binary: true });
      const [asText, asBinary] = sentFrames(protocol);
      assert.equal(asText.opcode, 0x1);
      assert.deepEqual(asText.payload, text("héllo"));
      assert.equal(asBinary.opcode, 0x2);
      assert.deepEqual(asBinary.payload, text("héllo"));
    });

    test(`a ${role} refuses bytes sent as text that are not UTF-8 with a TypeError, and sends nothing`, () => {
      const protocol = new Protocol({ role });
      for (const bad of [hex("ff"), hex("48 c3"), hex("ed a0 80"), new Uint8Array(100).fill(0x80)]) {
        assert.throws(() => protocol.send(bad, { binary: false }), (error: unknown) =>
          error instanceof TypeError && /^Cannot send: bytes sent as text are not UTF-8$/.test(error.message));
      }
      assert.deepEqual(protocol.takeOutgoing(), []);
      assert.equal(protocol.state, OPEN);
    });
  }
});
