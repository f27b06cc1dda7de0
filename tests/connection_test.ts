import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type CloseResult, Connection, type ConnectionOptions, DEFAULT_HEARTBEAT, type Transport } from "../lib/connection.ts";
import type { Frame } from "../lib/core/frame.ts";
import { FrameParser } from "../lib/core/frame_parser.ts";
import { Protocol, type ProtocolEvent } from "../lib/core/protocol.ts";

/**
 * A connection (client role) wired to an in-memory peer: a sans-I/O server `Protocol` that sees every
 * frame the connection writes, and answers only when the test tells it to.
 */
class Harness {
  readonly connection: Connection;
  readonly peer = new Protocol({ role: "server" });
  readonly frames: Frame[] = [];
  readonly events: ProtocolEvent[] = [];
  readonly #toConnection: WritableStreamDefaultWriter<Uint8Array>;
  readonly #parser = new FrameParser({ role: "server", allowedRsv: 0x40 });
  #waiters: (() => void)[] = [];
  peerClosed = false;

  constructor(options: Partial<ConnectionOptions> = {}, writableHighWaterMark = 64) {
    const inbound = new TransformStream<Uint8Array, Uint8Array>();
    this.#toConnection = inbound.writable.getWriter();
    const outbound = new WritableStream<Uint8Array>({
      write: (chunk) => {
        this.#parser.push(chunk.slice());
        for (let f = this.#parser.next(); f !== undefined; f = this.#parser.next()) this.frames.push(f);
        this.peer.receive(chunk.slice());
        this.events.push(...this.peer.takeEvents());
        for (const wake of this.#waiters.splice(0)) wake();
      },
      close: () => {
        this.peerClosed = true;
        for (const wake of this.#waiters.splice(0)) wake();
      },
    }, { highWaterMark: writableHighWaterMark });
    const transport: Transport = { readable: inbound.readable, writable: outbound };
    this.connection = new Connection(transport, { role: "client", ...options });
  }

  /** Writes what the peer protocol produced to the connection. */
  async flushPeer(): Promise<void> {
    for (const chunk of this.peer.takeOutgoing()) await this.writeRaw(chunk);
  }

  /** Writes raw bytes to the connection, as a misbehaving peer would. */
  async writeRaw(chunk: Uint8Array): Promise<void> {
    // Once the connection has cut the transport, a write fails as it would on a reset socket.
    await this.#toConnection.write(chunk).catch(() => {});
  }

  /** Ends the peer's side of the transport (TCP FIN). */
  async endPeer(): Promise<void> {
    await this.#toConnection.close().catch(() => {});
  }

  /** Waits (bounded) until `check` holds. */
  async until(check: () => boolean, what: string, ms = 2000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
      await Promise.race([
        new Promise<void>((resolve) => this.#waiters.push(resolve)),
        new Promise((resolve) => setTimeout(resolve, 20)),
      ]);
    }
  }
}

function streamOf<T>(chunks: T[], errorAfter?: Error): ReadableStream<T> {
  let i = 0;
  return new ReadableStream<T>({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]);
      else if (errorAfter !== undefined) controller.error(errorAfter);
      else controller.close();
    },
  });
}

const messages = (h: Harness) => h.events.filter((e) => e.type === "message").map((e) => (e as { data: unknown }).data);

describe("Connection.sendStream: a message of unknown length (§5.4)", () => {
  test("string chunks go out as one fragmented text message; the last frame carries FIN", async () => {
    const h = new Harness();
    await h.connection.sendStream(streamOf(["Hel", "lo, ", "world"]));
    await h.until(() => messages(h).length === 1, "the message");
    assert.deepEqual(messages(h), ["Hello, world"]);
    assert.deepEqual(h.frames.map((f) => [f.opcode, f.fin]), [[0x1, false], [0x0, false], [0x0, true]]);
  });

  test("byte chunks make a binary message; an empty stream sends an empty binary message", async () => {
    const h = new Harness();
    await h.connection.sendStream(streamOf([new Uint8Array([1, 2]), new Uint8Array([3])]));
    await h.connection.sendStream(streamOf<Uint8Array>([]));
    await h.until(() => messages(h).length === 2, "two messages");
    assert.deepEqual(messages(h), [new Uint8Array([1, 2, 3]), new Uint8Array(0)]);
  });

  test("a message sent while a stream is in flight waits for it, and a ping goes between fragments", async () => {
    const h = new Harness();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    const stream = new ReadableStream<string>({
      async start(controller) {
        controller.enqueue("part one, ");
        controller.enqueue("part two, ");
        await gate;
        controller.enqueue("part three");
        controller.close();
      },
    });
    const streaming = h.connection.sendStream(stream);
    const after = h.connection.send("after the stream");
    await h.until(() => h.frames.length >= 1, "the first fragment");
    h.connection.ping("between");
    release();
    await streaming;
    await after;
    await h.until(() => messages(h).length === 2, "both messages");
    assert.deepEqual(messages(h), ["part one, part two, part three", "after the stream"]);
    const opcodes = h.frames.map((f) => f.opcode);
    assert.ok(opcodes.indexOf(0x9) > 0 && opcodes.indexOf(0x9) < opcodes.lastIndexOf(0x0), `ping between fragments: ${opcodes}`);
  });

  test("a stream that errors mid-message fails the connection with 1011 instead of ending the message", async () => {
    const h = new Harness();
    const failure = new Error("source broke");
    await assert.rejects(h.connection.sendStream(streamOf(["a", "b", "c"], failure)), (e) => e === failure);
    await h.until(() => h.events.some((e) => e.type === "close"), "the close frame");
    const close = h.events.find((e) => e.type === "close") as { code: number };
    assert.equal(close.code, 1011);
    assert.deepEqual(messages(h), [], "no truncated message was delivered");
  });
});

describe("Connection closing (§7.1)", () => {
  test("a close the peer never answers is cut after closeTimeout: 1006, not clean", async () => {
    const h = new Harness({ closeTimeout: 100 });
    const started = Date.now();
    const result: CloseResult = await h.connection.close(1000, "bye");
    assert.deepEqual(result, { code: 1006, reason: "", wasClean: false });
    assert.ok(Date.now() - started < 1500, "cut within the timeout");
    assert.equal(h.connection.readyState, 3);
  });

  test("a completed closing handshake is clean; the client waits for the server's EOF", async () => {
    const h = new Harness({ closeTimeout: 2000 });
    const closed = h.connection.close(1000, "bye");
    await h.until(() => h.events.some((e) => e.type === "close"), "our close frame at the peer");
    await h.flushPeer(); // the peer's reply close
    await h.until(() => h.connection.protocol.closeReceived !== undefined, "the reply to arrive");
    assert.equal(h.connection.readyState, 2, "CLOSING until the transport closes");
    await h.endPeer(); // the server closes TCP first (§7.1.1)
    assert.deepEqual(await closed, { code: 1000, reason: "", wasClean: true });
  });

  test("the client cuts the transport itself when the server never closes TCP after the handshake", async () => {
    const h = new Harness({ closeTimeout: 100 });
    const closed = h.connection.close(1000);
    await h.until(() => h.events.some((e) => e.type === "close"), "our close frame at the peer");
    await h.flushPeer();
    const result = await closed;
    assert.equal(result.code, 1000);
    assert.equal(result.wasClean, true, "both close frames were exchanged");
  });

  test("EOF without a close frame reports 1006", async () => {
    const h = new Harness();
    await h.endPeer();
    assert.deepEqual(await h.connection.closed, { code: 1006, reason: "", wasClean: false });
  });
});

describe("Connection message delivery", () => {
  test("messages that arrive before onmessage is set are held, in order, and reading pauses until it is", async () => {
    const h = new Harness();
    h.peer.send("first");
    h.peer.send("second");
    h.peer.send("third");
    // The first message pauses reading, so later writes wait on backpressure: not awaited yet.
    const flushing = h.flushPeer();
    await new Promise((resolve) => setTimeout(resolve, 30)); // "first" was read and parsed by now
    const got: unknown[] = [];
    h.connection.onmessage = (data) => got.push(data);
    await flushing;
    await h.until(() => got.length === 3, "all three messages");
    assert.deepEqual(got, ["first", "second", "third"]);
  });
});

describe("Connection errors", () => {
  test("a message handler that throws fails the connection with 1011 and no detail; onerror fires once", async () => {
    const h = new Harness();
    const errors: Error[] = [];
    h.connection.onerror = (error) => errors.push(error);
    h.connection.onmessage = () => {
      throw new Error("application bug");
    };
    h.peer.send("one");
    h.peer.send("two");
    await h.flushPeer();
    await h.until(() => h.events.some((e) => e.type === "close"), "the close frame");
    const close = h.events.find((e) => e.type === "close") as { code: number; reason: string };
    assert.equal(close.code, 1011);
    assert.equal(close.reason, "");
    assert.equal(errors.length, 1);
    assert.equal(errors[0].message, "application bug");
  });

  test("a protocol violation by the peer fails with its code and is reported to onerror", async () => {
    const h = new Harness();
    const errors: Error[] = [];
    h.connection.onerror = (error) => errors.push(error);
    // A masked frame sent to a client: 1002 (§5.1). A client-role protocol writes masked frames.
    const misbehaving = new Protocol({ role: "client" });
    misbehaving.send("masked");
    for (const chunk of misbehaving.takeOutgoing()) await h.writeRaw(chunk);
    await h.until(() => h.events.some((e) => e.type === "close"), "the close frame");
    const close = h.events.find((e) => e.type === "close") as { code: number };
    assert.equal(close.code, 1002);
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as { code?: number }).code, 1002);
  });
});

describe("Connection backpressure", () => {
  test("send() resolves only when the transport can take more", async () => {
    let releaseWrite!: () => void;
    const inbound = new TransformStream<Uint8Array, Uint8Array>();
    const writable = new WritableStream<Uint8Array>({
      write: () => new Promise<void>((resolve) => releaseWrite = resolve),
    }, { highWaterMark: 1 });
    const connection = new Connection({ readable: inbound.readable, writable }, { role: "client" });
    let resolved = false;
    const first = connection.send("one").then(() => resolved = true);
    const second = connection.send("two").then(() => resolved = true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(resolved, false, "a stalled transport holds send()");
    assert.ok(connection.bufferedAmount > 0);
    releaseWrite();
    await new Promise((resolve) => setTimeout(resolve, 10));
    releaseWrite();
    await Promise.all([first, second]);
    assert.equal(resolved, true);
    connection.fail(1001);
  });
});

describe("Connection heartbeat", () => {
  test("a peer that never answers is pinged, then sent 1001 and cut; closed reports 1006", async () => {
    const h = new Harness({ heartbeat: { interval: 40, timeout: 80 } });
    const errors: Error[] = [];
    h.connection.onerror = (error) => errors.push(error);
    const started = Date.now();
    const result = await withTimeoutMs(h.connection.closed, 2000);
    assert.deepEqual(result, { code: 1006, reason: "", wasClean: false });
    assert.ok(Date.now() - started < 1000, "noticed within interval + timeout (and a tick)");
    assert.ok(h.events.some((e) => e.type === "ping"), "a ping went out first");
    const close = h.events.find((e) => e.type === "close") as { code: number; reason: string };
    assert.equal(close.code, 1001);
    assert.equal(close.reason, "heartbeat timeout");
    assert.match(errors[0]?.message ?? "", /Heartbeat/);
  });

  test("a peer that answers pings stays connected", async () => {
    const h = new Harness({ heartbeat: { interval: 30, timeout: 60 } });
    const answering = setInterval(() => h.flushPeer(), 10); // the peer protocol queues a pong per ping
    try {
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.equal(h.connection.readyState, 1, "still OPEN");
      assert.ok(h.events.filter((e) => e.type === "ping").length >= 3, "pings went out");
    } finally {
      clearInterval(answering);
    }
    h.connection.close(1000);
    await h.until(() => h.events.some((e) => e.type === "close"), "our close frame");
    await h.flushPeer();
    await h.endPeer();
    assert.equal((await h.connection.closed).code, 1000);
  });

  test("the round trip is measured from the heartbeat's ping and its pong (latency)", async () => {
    const h = new Harness({ heartbeat: { interval: 30, timeout: 200 } });
    assert.ok(Number.isNaN(h.connection.latency), "NaN before a pong");
    await h.until(() => h.events.some((e) => e.type === "ping"), "a heartbeat ping");
    await new Promise((resolve) => setTimeout(resolve, 20));
    await h.flushPeer(); // the pong, 20 ms later
    await h.until(() => h.connection.latency >= 0, "a latency");
    assert.ok(h.connection.latency >= 15 && h.connection.latency < 1000, `latency ${h.connection.latency}`);
    // An unsolicited pong (not the heartbeat's payload) measures nothing.
    const before = h.connection.latency;
    h.peer.pong(new Uint8Array([9, 9]));
    await h.flushPeer();
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(h.connection.latency, before);
    h.connection.fail(1000);
    await h.endPeer();
    await h.connection.closed;
  });

  test("on by default (25 s / 20 s), false turns it off; one timer serves every connection", async () => {
    assert.deepEqual(DEFAULT_HEARTBEAT, { interval: 25_000, timeout: 20_000 });
    // Count the intervals the connections start: one shared timer, however many connections.
    const realSetInterval = globalThis.setInterval;
    let intervals = 0;
    globalThis.setInterval = ((handler: () => void, ms?: number) => {
      intervals++;
      return realSetInterval(handler, ms);
    }) as typeof setInterval;
    let harnesses: Harness[] = [];
    try {
      harnesses = Array.from({ length: 50 }, () => new Harness());
      assert.ok(intervals <= 1, `${intervals} timers for 50 connections`);
      const off = new Harness({ heartbeat: false });
      harnesses.push(off);
    } finally {
      globalThis.setInterval = realSetInterval;
    }
    for (const h of harnesses) h.connection.fail(1000);
    await Promise.all(harnesses.map((h) => h.endPeer()));
    await Promise.all(harnesses.map((h) => h.connection.closed));
    // With the heartbeat off nothing pings, however long the silence (here: a short interval elsewhere).
    const quiet = new Harness({ heartbeat: false });
    const busy = new Harness({ heartbeat: { interval: 20, timeout: 500 } });
    await busy.until(() => busy.events.some((e) => e.type === "ping"), "the other connection's ping");
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(quiet.events.filter((e) => e.type === "ping").length, 0);
    for (const h of [quiet, busy]) h.connection.fail(1000);
    await Promise.all([quiet.endPeer(), busy.endPeer()]);
    await Promise.all([quiet.connection.closed, busy.connection.closed]);
  });

  test("heartbeat settings must be positive", () => {
    const inbound = new TransformStream<Uint8Array, Uint8Array>();
    const outbound = new WritableStream<Uint8Array>();
    assert.throws(
      () => new Connection({ readable: inbound.readable, writable: outbound }, { role: "client", heartbeat: { interval: 0, timeout: 10 } }),
      RangeError,
    );
  });
});

function withTimeoutMs<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms`)), ms)),
  ]).finally(() => clearTimeout(timer));
}
