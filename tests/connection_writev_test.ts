/**
 * What a `Connection` produces in one turn leaves in one `writev` when the transport's writer has one
 * (`TransportWriter.writev`): a fan-out that reaches a subscriber several large frames at a time costs one
 * system call per subscriber, not one per frame. Order is the order of the calls; runs of small frames are
 * still joined into one buffer; without `writev` each piece is its own write, as before.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Connection, type TransportWriter } from "../lib/connection.ts";
import { unmaskedTexts } from "./_unmasked_texts.ts";
import { masked, rawFrame } from "./_vectors.ts";

/** A transport with its own writer that records each call: `["write", [chunk]]` or `["writev", chunks]`. */
function recordingTransport(withWritev: boolean, joinsChunks = false) {
  const calls: ["write" | "writev", Uint8Array[]][] = [];
  let end!: () => void;
  const readable = new ReadableStream<Uint8Array>({ start: (controller) => void (end = () => controller.close()) });
  const writable = new WritableStream<Uint8Array>();
  const writer: TransportWriter = {
    desiredSize: 1 << 20,
    ready: Promise.resolve(),
    write: (chunk) => {
      calls.push(["write", [chunk!.slice()]]);
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
    abort: () => Promise.resolve(),
  };
  if (withWritev) {
    writer.writev = (chunks) => {
      calls.push(["writev", chunks.map((chunk) => chunk.slice())]);
      return Promise.resolve();
    };
  }
  const joining: TransportWriter = joinsChunks ? { ...writer, joinsChunks: true } : writer;
  return { transport: { readable, writable, getWriter: () => joining }, calls, end };
}

/** The text payloads written, without their padding dots. */
const texts = (chunks: Uint8Array[]) => unmaskedTexts(chunks).map((text) => text.replace(/\.+$/, ""));

const message = (name: string, size: number) => name + ".".repeat(size - name.length);
const turn = () => new Promise((resolve) => setTimeout(resolve, 0));

async function finish(connection: Connection, end: () => void): Promise<void> {
  connection.fail(1001);
  end();
  await connection.closed.catch(() => {});
}

describe("Connection: one writev per turn", () => {
  test("large frames published and sent in one turn go in one writev, in call order", async () => {
    const { transport, calls, end } = recordingTransport(true);
    const connection = new Connection(transport, { role: "server", heartbeat: false });
    assert.equal(connection.publish({ topic: "a", data: message("p1", 20_000), size: 20_000 }), true);
    const sent = connection.send(message("d1", 20_000));
    assert.equal(connection.publish({ topic: "b", data: message("p2", 20_000), size: 20_000 }), true);
    await sent;
    await turn();
    // One call: each frame's header and payload (a payload of 16 KiB or more is not copied behind its header).
    assert.deepEqual(calls.map(([kind]) => kind), ["writev"]);
    assert.deepEqual(texts(calls[0][1]), ["p1", "d1", "p2"]);
    assert.equal(connection.bufferedAmount, 0);
    await finish(connection, end);
  });

  test("a writer that joins chunks itself (joinsChunks) gets the small frames as they are, in one writev", async () => {
    const { transport, calls, end } = recordingTransport(true, true);
    const connection = new Connection(transport, { role: "server", heartbeat: false });
    for (let i = 0; i < 5; i++) connection.publish({ topic: "a", data: message(`s${i}`, 100), size: 100 });
    const sent = connection.send(message("d", 20_000));
    await sent;
    await turn();
    assert.deepEqual(calls.map(([kind]) => kind), ["writev"]);
    // Five one-buffer frames, then the large frame's header and payload: 7 chunks, none merged.
    assert.equal(calls[0][1].length, 7);
    assert.deepEqual(texts(calls[0][1]), ["s0", "s1", "s2", "s3", "s4", "d"]);
    assert.equal(connection.bufferedAmount, 0);
    await finish(connection, end);
  });

  test("small frames are joined into one buffer first; a single piece is a plain write", async () => {
    const { transport, calls, end } = recordingTransport(true);
    const connection = new Connection(transport, { role: "server", heartbeat: false });
    for (let i = 0; i < 5; i++) connection.publish({ topic: "a", data: message(`s${i}`, 100), size: 100 });
    await turn();
    assert.deepEqual(calls.map(([kind, chunks]) => [kind, chunks.length]), [["write", 1]]);
    assert.deepEqual(texts(calls[0][1]), ["s0", "s1", "s2", "s3", "s4"]);
    // Small, large, small: three pieces in one writev.
    connection.publish({ topic: "a", data: message("x", 100), size: 100 });
    connection.publish({ topic: "a", data: message("y", 20_000), size: 20_000 });
    connection.publish({ topic: "a", data: message("z", 100), size: 100 });
    await turn();
    assert.deepEqual(calls.slice(1).map(([kind]) => kind), ["writev"]);
    assert.deepEqual(texts(calls[1][1]), ["x", "y", "z"]);
    await finish(connection, end);
  });

  test("a writer without writev gets one write per piece, in order", async () => {
    const { transport, calls, end } = recordingTransport(false);
    const connection = new Connection(transport, { role: "server", heartbeat: false });
    connection.publish({ topic: "a", data: message("p1", 20_000), size: 20_000 });
    connection.publish({ topic: "a", data: message("p2", 20_000), size: 20_000 });
    await turn();
    assert.ok(calls.length >= 2);
    assert.ok(calls.every(([kind, chunks]) => kind === "write" && chunks.length === 1));
    assert.deepEqual(texts(calls.flatMap(([, chunks]) => chunks)), ["p1", "p2"]);
    await finish(connection, end);
  });

  test("a failed writev ends the connection: 1006, not clean, nothing more accepted", async () => {
    const { transport, end } = recordingTransport(true);
    const writer = transport.getWriter();
    writer.writev = () => Promise.reject(new Error("connection reset"));
    const connection = new Connection(transport, { role: "server", heartbeat: false });
    connection.publish({ topic: "a", data: message("p1", 20_000), size: 20_000 });
    connection.publish({ topic: "a", data: message("p2", 20_000), size: 20_000 });
    end(); // the peer's side ends too
    const result = await connection.closed;
    assert.deepEqual(result, { code: 1006, reason: "", wasClean: false });
    assert.equal(connection.bufferedAmount, 0);
    assert.equal(connection.publish({ topic: "a", data: "late", size: 4 }), false);
  });
});

describe("Connection: a writer's writtenNow", () => {
  /** A writer whose writes complete before they return (as Bun.listen's), or not (`later`). */
  function synchronousTransport() {
    const writes: Uint8Array[] = [];
    let later = false; // writes return a promise of their own, settled in a microtask
    let peer!: ReadableStreamDefaultController<Uint8Array>;
    const readable = new ReadableStream<Uint8Array>({ start: (controller) => void (peer = controller) });
    const writtenNow = Promise.resolve();
    const writer: TransportWriter = {
      desiredSize: 1 << 20,
      ready: writtenNow,
      writtenNow,
      write: (chunk) => {
        writes.push(chunk!.slice());
        return later ? Promise.resolve() : writtenNow;
      },
      // The socket is reset as the connection closes it (after everything above was written).
      close: () => Promise.reject(new Error("connection reset")),
      abort: () => Promise.resolve(),
    };
    const transport = { readable, writable: new WritableStream<Uint8Array>(), getWriter: () => writer };
    return { transport, writes, peer: () => peer, writeLater: () => later = true };
  }

  test("a write completed before it returned leaves bufferedAmount at once; another waits for its promise", () => {
    const { transport, writes, writeLater } = synchronousTransport();
    const connection = new Connection(transport, { role: "server", heartbeat: false });
    connection.send("now");
    assert.equal(connection.bufferedAmount, 5);
    void connection.drained; // writes the outbox now
    assert.equal(writes.length, 1);
    assert.equal(connection.bufferedAmount, 0, "counted as written in the call");
    writeLater();
    connection.send("later");
    void connection.drained;
    assert.equal(writes.length, 2);
    assert.equal(connection.bufferedAmount, 7, "a promise of its own: written once it settles");
    connection.fail(1001);
  });

  test("our close frame in such a write counts as sent: a reset after the reply still closes cleanly", async () => {
    const { transport, writes, peer } = synchronousTransport();
    const connection = new Connection(transport, { role: "server", heartbeat: false, closeTimeout: 2000 });
    const closed = connection.close(1000, "bye");
    void connection.drained;
    assert.equal(writes.at(-1)![0], 0x88, "our close frame was written");
    // The client's reply (§5.5.1), masked as a client's frames are.
    peer().enqueue(masked(rawFrame(0x88, Uint8Array.of(0x03, 0xe8)), Uint8Array.of(1, 2, 3, 4)));
    peer().close();
    // §7.1.4: once a close frame went each way, how TCP ends (the reset here) changes nothing.
    assert.deepEqual(await closed, { code: 1000, reason: "", wasClean: true }); // the reply's code and reason
  });
});
