/**
 * The transports' own writers (`Transport.getWriter`), which a `Connection` takes instead of the writable's
 * stream writer: over `node:net` (lib/adapters/node_socket.ts) each chunk goes to the socket at once; over a
 * `Deno.Conn` (lib/adapters/deno_conn.ts) one write is in flight and what comes meanwhile is joined into the
 * next. Order, backpressure in bytes, partial writes and failures.
 *
 * Runs on Node, Deno and Bun: each gives a `node:net` socket, and the `Deno.Conn` writer is driven through a
 * stand-in connection whose writes complete when the test says.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { socketToTransport } from "../../lib/adapters/node_socket.ts";
import { denoConnTransport } from "../../lib/adapters/deno_conn.ts";
import { BunSocketPipe } from "../../lib/adapters/bun_socket.ts";

const MARK = 256 * 1024;

function bytes(length: number, fill: number): Uint8Array {
  return new Uint8Array(length).fill(fill);
}

/** A connected pair of `node:net` sockets on 127.0.0.1: [ours, the peer's]. */
async function socketPair(): Promise<{ ours: Socket; peer: Socket; close: () => Promise<void> }> {
  let accepted!: (socket: Socket) => void;
  const serverSide = new Promise<Socket>((resolve) => accepted = resolve);
  const server = createServer(accepted);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const peer = connect((server.address() as AddressInfo).port, "127.0.0.1");
  const ours = await serverSide;
  return {
    ours,
    peer,
    close: async () => {
      ours.destroy();
      peer.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Reads `count` bytes from a socket. */
function readBytes(socket: Socket, count: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let got = 0;
  return new Promise((resolve, reject) => {
    const onData = (chunk: Uint8Array) => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= count) {
        socket.off("data", onData);
        const all = new Uint8Array(got);
        let offset = 0;
        for (const c of chunks) {
          all.set(c, offset);
          offset += c.length;
        }
        resolve(all);
      }
    };
    socket.on("data", onData);
    socket.on("error", reject);
  });
}

describe("node:net transport writer", () => {
  test("chunks arrive in the order written, and write resolves once the socket wrote it", async () => {
    const { ours, peer, close } = await socketPair();
    try {
      const transport = socketToTransport(ours);
      const writer = transport.getWriter!();
      assert.equal(transport.writable.locked, true); // nothing else writes past it
      const reading = readBytes(peer, 3 * 20_000);
      await Promise.all([writer.write(bytes(20_000, 1)), writer.write(bytes(20_000, 2)), writer.write(bytes(20_000, 3))]);
      const received = await reading;
      for (let i = 0; i < 3; i++) assert.ok(received.subarray(i * 20_000, (i + 1) * 20_000).every((b) => b === i + 1));
    } finally {
      await close();
    }
  });

  test("writev: the chunks arrive in order, one corked write where the runtime has writev (not on Bun)", async () => {
    const { ours, peer, close } = await socketPair();
    try {
      const writer = socketToTransport(ours).getWriter!();
      if (typeof (globalThis as { Bun?: unknown }).Bun !== "undefined") {
        // Bun's emulation makes corked writes dearer than separate ones: the connection writes each piece.
        assert.equal(writer.writev, undefined);
        return;
      }
      const batches: number[] = [];
      const socket = ours as unknown as { _writev?: (chunks: unknown[], cb: () => void) => void };
      const original = socket._writev;
      if (original !== undefined) {
        socket._writev = function (chunks, cb) {
          batches.push(chunks.length);
          return original.call(this, chunks, cb);
        };
      }
      const reading = readBytes(peer, 3 * 20_000);
      await writer.writev!([bytes(20_000, 1), bytes(20_000, 2), bytes(20_000, 3)]);
      const received = await reading;
      for (let i = 0; i < 3; i++) assert.ok(received.subarray(i * 20_000, (i + 1) * 20_000).every((b) => b === i + 1));
      if (original !== undefined) assert.deepEqual(batches, [3]); // one writev for the three
      ours.destroy();
      await assert.rejects(writer.writev!([bytes(1, 1), bytes(1, 2)]), /Cannot write/);
    } finally {
      await close();
    }
  });

  test("a write the socket takes at once returns writtenNow; one it holds, a promise settled in order", async () => {
    const { ours, peer, close } = await socketPair();
    try {
      const writer = socketToTransport(ours).getWriter!();
      assert.notEqual(writer.writtenNow, undefined);
      await writer.write(bytes(100, 1)); // Deno's emulation may hold a socket's very first write a moment
      await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(writer.write(bytes(100, 1)), writer.writtenNow, "an idle socket takes 100 bytes at once");
      peer.pause();
      // Until the kernel's buffers are full and the socket holds what follows (bounded: 64 MiB).
      const held: Promise<void>[] = [];
      for (let written = 0; held.length < 3 && written < 64 * 1024 * 1024; written += 64 * 1024) {
        const write = writer.write(bytes(64 * 1024, 2));
        if (write !== writer.writtenNow) held.push(write);
      }
      assert.equal(held.length, 3, "writes the socket held got promises of their own");
      const settled: number[] = [];
      held.forEach((write, i) => void write.then(() => settled.push(i)));
      await new Promise((resolve) => setTimeout(resolve, 30));
      assert.deepEqual(settled, [], "not settled while the peer reads nothing");
      peer.resume();
      await Promise.all(held);
      assert.deepEqual(settled, [0, 1, 2]);
    } finally {
      await close();
    }
  });

  test("ready waits while the socket holds 256 KiB or more, until the peer reads", async () => {
    const { ours, peer, close } = await socketPair();
    try {
      peer.pause();
      const writer = socketToTransport(ours).getWriter!();
      assert.equal(writer.desiredSize, MARK);
      // Until the kernel's buffers (a few MiB on loopback) are full too and the socket still holds the
      // mark a while later (bounded: at most 64 MiB).
      let written = 0;
      for (let settled = false; !settled && written < 64 * 1024 * 1024;) {
        while ((writer.desiredSize ?? 0) > 0 && written < 64 * 1024 * 1024) {
          void writer.write(bytes(64 * 1024, 7)).catch(() => {});
          written += 64 * 1024;
        }
        await new Promise((resolve) => setTimeout(resolve, 30));
        settled = (writer.desiredSize ?? 1) <= 0;
      }
      assert.ok((writer.desiredSize ?? 1) <= 0, `desiredSize ${writer.desiredSize} after ${written} bytes`);
      let ready = false;
      const readyPromise = writer.ready.then(() => ready = true);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(ready, false);
      peer.resume(); // reads (and discards) everything
      await readyPromise;
      assert.ok((writer.desiredSize ?? 0) > 0);
    } finally {
      await close();
    }
  });

  test("after the socket is destroyed, write and ready reject and desiredSize is null", async () => {
    const { ours, close } = await socketPair();
    try {
      const writer = socketToTransport(ours).getWriter!();
      ours.destroy();
      await assert.rejects(writer.write(bytes(10, 1)), /Cannot write: the socket is closed/);
      await assert.rejects(writer.ready, /Cannot write: the socket is closed/);
      assert.equal(writer.desiredSize, null);
    } finally {
      await close();
    }
  });

  test("close resolves once everything was written and the peer sees the end", async () => {
    const { ours, peer, close } = await socketPair();
    try {
      const writer = socketToTransport(ours).getWriter!();
      const received: Uint8Array[] = [];
      const ended = new Promise<void>((resolve) => peer.on("end", resolve));
      peer.on("data", (chunk: Uint8Array) => received.push(chunk));
      void writer.write(bytes(300_000, 5));
      await writer.close();
      await ended;
      assert.equal(received.reduce((n, c) => n + c.length, 0), 300_000);
      await assert.rejects(writer.write(bytes(1, 1)), /Cannot write/);
    } finally {
      await close();
    }
  });
});

/** A stand-in `Deno.Conn` whose writes complete when the test resolves them, taking at most `take` bytes. */
function fakeConn(take = Infinity) {
  const writes: { data: Uint8Array; byteOffset: number; finish: (error?: Error) => void }[] = [];
  let closed = 0;
  const noDelay: (boolean | undefined)[] = [];
  const conn = {
    setNoDelay: (value?: boolean) => void noDelay.push(value),
    write(data: Uint8Array): Promise<number> {
      return new Promise((resolve, reject) => {
        const n = Math.min(data.length, take);
        writes.push({ data: data.slice(0, n), byteOffset: data.byteOffset, finish: (error) => error ? reject(error) : resolve(n) });
      });
    },
    read: () => new Promise<number | null>(() => {}),
    close: () => void closed++,
    writable: new WritableStream<Uint8Array>({ close: () => void closed++ }),
  };
  return { conn: conn as unknown as Deno.Conn, writes, closedCount: () => closed, noDelay };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("Deno.Conn transport writer", () => {
  test("Nagle's algorithm is turned off (small frames are not held for the peer's delayed ACK)", () => {
    const { conn, noDelay } = fakeConn();
    denoConnTransport(conn);
    assert.deepEqual(noDelay, [true]);
  });

  test("one write in flight; what comes meanwhile goes in one joined write, in order", async () => {
    const { conn, writes } = fakeConn();
    const writer = denoConnTransport(conn).getWriter!();
    const done: number[] = [];
    const first = writer.write(bytes(10, 1)).then(() => done.push(1));
    const second = writer.write(bytes(20, 2)).then(() => done.push(2));
    const third = writer.write(bytes(30, 3)).then(() => done.push(3));
    assert.equal(writes.length, 1); // the first went at once
    assert.equal(writer.desiredSize, MARK - 60);
    writes[0].finish();
    await first;
    await tick();
    assert.equal(writes.length, 2);
    assert.deepEqual([...writes[1].data], [...bytes(20, 2), ...bytes(30, 3)]);
    writes[1].finish();
    await Promise.all([second, third]);
    assert.deepEqual(done, [1, 2, 3]);
    assert.equal(writer.desiredSize, MARK);
  });

  test("writev: chunks go in one joined write, or join what waits behind the write in flight", async () => {
    const { conn, writes } = fakeConn();
    const writer = denoConnTransport(conn).getWriter!();
    const first = writer.writev!([bytes(10, 1), bytes(20, 2)]);
    assert.equal(writes.length, 1);
    assert.deepEqual([...writes[0].data], [...bytes(10, 1), ...bytes(20, 2)]);
    const second = writer.writev!([bytes(5, 3)]);
    const third = writer.write(bytes(5, 4));
    assert.equal(writer.desiredSize, MARK - 40);
    writes[0].finish();
    await first;
    await tick();
    assert.deepEqual([...writes[1].data], [...bytes(5, 3), ...bytes(5, 4)]);
    writes[1].finish();
    await Promise.all([second, third]);
    assert.equal(writer.desiredSize, MARK);
  });

  test("a joined write puts its payload 16 bytes or more past its source modulo 4 KiB", async () => {
    for (const offset of [0, 5, 14]) {
      const { conn, writes } = fakeConn();
      const payload = new Uint8Array(offset + 4096).fill(2).subarray(offset);
      const done = denoConnTransport(conn).getWriter!().writev!([bytes(10, 1), payload]);
      assert(((writes[0].byteOffset + 10 - offset) & 4095) >= 16);
      assert.deepEqual([...writes[0].data], [...bytes(10, 1), ...payload]);
      writes[0].finish();
      await done;
    }
  });

  test("a partial write is continued with the rest", async () => {
    const { conn, writes } = fakeConn(7);
    const writer = denoConnTransport(conn).getWriter!();
    const written = writer.write(bytes(20, 9));
    for (let i = 0; i < 3; i++) {
      await tick();
      writes[i].finish();
    }
    await written;
    assert.deepEqual(writes.map((w) => w.data.length), [7, 7, 6]);
  });

  test("ready waits at 256 KiB not yet written, and resolves when it is", async () => {
    const { conn, writes } = fakeConn();
    const writer = denoConnTransport(conn).getWriter!();
    void writer.write(bytes(MARK, 1));
    assert.equal(writer.desiredSize, 0);
    let ready = false;
    const readyPromise = writer.ready.then(() => ready = true);
    await tick();
    assert.equal(ready, false);
    writes[0].finish();
    await readyPromise;
    assert.equal(writer.desiredSize, MARK);
  });

  test("a failed write rejects it and what waited, and everything after", async () => {
    const { conn, writes } = fakeConn();
    const writer = denoConnTransport(conn).getWriter!();
    const first = writer.write(bytes(10, 1));
    const second = writer.write(bytes(10, 2));
    writes[0].finish(new Error("connection reset"));
    await assert.rejects(first, /connection reset/);
    await assert.rejects(second, /connection reset/);
    await assert.rejects(writer.write(bytes(1, 1)), /connection reset/);
    await assert.rejects(writer.ready, /connection reset/);
    assert.equal(writer.desiredSize, null);
  });

  test("close waits for what is not yet written, then closes the connection's writable", async () => {
    const { conn, writes, closedCount } = fakeConn();
    const writer = denoConnTransport(conn).getWriter!();
    void writer.write(bytes(10, 1));
    void writer.write(bytes(10, 2));
    const closing = writer.close();
    await assert.rejects(writer.write(bytes(1, 1)), /Cannot write: the connection's writing side is closed/);
    writes[0].finish();
    await tick();
    assert.equal(closedCount(), 0);
    writes[1].finish();
    await closing;
    assert.equal(closedCount(), 1);
  });
});

describe("Bun.listen socket transport writer", () => {
  /** A stand-in for Bun's socket: the kernel takes `room` bytes, then none until the test drains. */
  function standIn(room: number) {
    const taken: number[] = [];
    const writes: number[] = []; // the length of each write call
    const socket = {
      room,
      write(data: Uint8Array, byteOffset = 0, byteLength = data.length - byteOffset) {
        writes.push(byteLength);
        const n = Math.min(this.room, byteLength);
        this.room -= n;
        for (let i = 0; i < n; i++) taken.push(data[byteOffset + i]);
        return n;
      },
      shutdown() {},
      end() {},
      terminate() {},
      pause() {},
      resume() {},
      remoteAddress: "127.0.0.1",
    };
    return { socket, taken, writes };
  }

  test("writev: chunks in order; a partial write waits for drain, what follows behind it", async () => {
    const { socket, taken } = standIn(3);
    const pipe = new BunSocketPipe(socket);
    const writer = pipe.transport.getWriter!();
    const first = writer.writev!([bytes(2, 1), bytes(2, 2)]);
    const second = writer.write(bytes(2, 3));
    assert.deepEqual(taken, [1, 1, 2]);
    assert.equal(writer.desiredSize, MARK - 3);
    socket.room = 100;
    pipe.drain();
    await Promise.all([first, second]);
    assert.deepEqual(taken, [1, 1, 2, 2, 3, 3]);
    assert.equal(writer.desiredSize, MARK);
  });

  test("writev: chunks up to 64 KiB go as one socket.write (no writev on Bun), larger ones alone", async () => {
    const { socket, taken, writes } = standIn(Infinity);
    const writer = new BunSocketPipe(socket).transport.getWriter!();
    assert.equal(writer.joinsChunks, true); // so a Connection passes small frames unjoined
    const big = bytes(70_000, 9);
    await writer.writev!([bytes(4, 1), bytes(16_384, 2), bytes(4, 3), bytes(16_384, 4), bytes(10, 5), big, bytes(2, 6)]);
    assert.deepEqual(writes, [4 + 16_384 + 4 + 16_384 + 10, 70_000, 2]);
    assert.equal(taken.length, 4 + 16_384 + 4 + 16_384 + 10 + 70_000 + 2);
    assert.deepEqual([taken[0], taken[4], taken[16_388], taken[16_392], taken[32_776], taken[32_786], taken.at(-1)], [1, 2, 3, 4, 5, 9, 6]);
  });

  test("a joined write starts in the shared buffer where its payload goes 16 bytes or more past its source modulo 4 KiB", async () => {
    for (const offset of [0, 3, 8, 15]) {
      const offsets: number[] = [];
      const { socket, taken } = standIn(5);
      const write = socket.write.bind(socket);
      socket.write = (data: Uint8Array, byteOffset = 0, byteLength = data.length - byteOffset) => {
        offsets.push(byteOffset);
        return write(data, byteOffset, byteLength);
      };
      const pipe = new BunSocketPipe(socket);
      const payload = new Uint8Array(offset + 2048).fill(2).subarray(offset);
      const done = pipe.transport.getWriter!().writev!([bytes(4, 1), payload]);
      assert(((offsets[0] + 4 - offset) & 4095) >= 16);
      socket.room = Infinity;
      pipe.drain();
      await done;
      assert.deepEqual(taken, [...bytes(4, 1), ...payload]);
    }
  });

  test("a joined write the kernel took part of keeps its own copy of the rest (the join buffer is reused)", async () => {
    const slow = standIn(3), fast = standIn(Infinity);
    const pipe = new BunSocketPipe(slow.socket);
    const first = pipe.transport.getWriter!().writev!([bytes(2, 1), bytes(4, 2)]);
    // Another socket's joined write reuses the shared buffer before the first one's rest is written.
    await new BunSocketPipe(fast.socket).transport.getWriter!().writev!([bytes(3, 7), bytes(3, 8)]);
    slow.socket.room = 100;
    pipe.drain();
    await first;
    assert.deepEqual(slow.taken, [1, 1, 2, 2, 2, 2]);
    assert.deepEqual(fast.taken, [7, 7, 7, 8, 8, 8]);
  });

  test("ready waits at 256 KiB not taken, and a closed socket rejects what waited", async () => {
    const { socket } = standIn(0);
    const pipe = new BunSocketPipe(socket);
    const writer = pipe.transport.getWriter!();
    const pending = writer.write(bytes(MARK, 7));
    let ready = false;
    const waiting = writer.ready.then(() => ready = true, () => "rejected");
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(ready, false);
    pipe.closed();
    await assert.rejects(pending, /closed/);
    assert.equal(await waiting, "rejected");
    assert.equal(writer.desiredSize, null);
  });
});
