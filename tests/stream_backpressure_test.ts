/**
 * Backpressure through the whole stream pipeline: a consumer that stops reading messages at the end of the
 * stream server (examples/stream_server.ts) stops the reads from its socket, so the stream client
 * (examples/stream_client.ts), writing twice what may be in flight (64 MiB or more), cannot get ahead of
 * it by more than what the pipeline's queues, the two sockets' buffers and the kernel hold.
 *
 * No timing assertion: the consumer stalls until the sender has made no progress for a while (it is
 * blocked), and the test asserts on byte counts taken at those points. Were any hop to read without being
 * asked, the sender would never block before everything was written, and the bounds would fail.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connectStreamClient } from "../examples/stream_client.ts";
import { serveStreams } from "../examples/stream_server.ts";
import type { StreamSession } from "../examples/stream_session.ts";
import type { Frame } from "../lib/core/frame.ts";
import { pseudoRandomBytes } from "./_vectors.ts";

const MESSAGE = 1024 * 1024;

/**
 * The most one loopback connection's kernel buffers may hold, from the autotuning limits in
 * /proc/sys/net/ipv4/tcp_rmem and tcp_wmem (their third field): Linux grows a receive buffer up to the
 * first as the reader drains it in bursts, as this test's consumer does. 4 MiB and 6 MiB (Linux's
 * defaults) where they cannot be read. This machine allows 32 MiB for receiving: 24 MiB were seen held by
 * the kernel on Bun (client's bytesWritten minus server's bytesRead), which a fixed 32 MiB bound over 64
 * MiB could not tell from a hop reading ahead.
 */
function kernelBuffers(): number {
  const limit = (name: string, fallback: number) => {
    try {
      const fields = readFileSync(`/proc/sys/net/ipv4/${name}`, "utf8").trim().split(/\s+/).map(Number);
      return Number.isFinite(fields[2]) && fields[2] > 0 ? fields[2] : fallback;
    } catch {
      return fallback;
    }
  };
  return limit("tcp_rmem", 6 * 1024 * 1024) + limit("tcp_wmem", 4 * 1024 * 1024);
}

/**
 * Written but not yet consumed, at most: the pipeline's queues (a message or two per hop), the socket
 * transport's 256 KiB write queue and four read chunks (8 MiB allowed for all of these) and the kernel's
 * buffers for the connection.
 */
const MAX_IN_FLIGHT = kernelBuffers() + 8 * 1024 * 1024;
/** Messages sent: twice what may be in flight, so that a sender that never blocks is caught. */
const COUNT = Math.max(64, Math.ceil((2 * MAX_IN_FLIGHT) / MESSAGE));
/** Messages read between two stalls. */
const READ_BETWEEN_STALLS = 8;
/** Decoded from the server's socket but not yet consumed: the server pipeline's own queues. */
const MAX_DECODED_AHEAD = 8 * 1024 * 1024;

/** Resolves once `progress()` has not changed for `quietMs` (checked every 25 ms), or after `maxMs`. */
async function untilStalled(progress: () => number, quietMs: number, maxMs: number): Promise<void> {
  const start = Date.now();
  let last = progress();
  let since = Date.now();
  while (Date.now() - start < maxMs) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    const now = progress();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return;
    }
  }
}

for (const compressed of [true, false]) {
  const label = compressed ? "permessage-deflate (context takeover, incompressible data: RSV1 frames of stored blocks)" : "no compression";
  describe(`backpressure through the stream pipeline, ${label}`, () => {
    test(`${COUNT} MiB to a consumer that stalls: the sender blocks, at most ${MAX_IN_FLIGHT >> 20} MiB in flight`, { timeout: 120_000 }, async () => {
      let decoded = 0; // payload bytes of data frames the server's decoder produced from its socket
      let compressedFrames = 0;
      const onFrame = (frame: Frame, direction: "in" | "out") => {
        if (direction !== "in") return;
        decoded += frame.payload.length;
        if (frame.rsv1) compressedFrames++;
      };
      let resolveSession!: (session: StreamSession) => void;
      const sessionReady = new Promise<StreamSession>((resolve) => resolveSession = resolve);
      const deflate = compressed ? {} : false;
      const server = await serveStreams({ port: 0, deflate, onFrame, onSession: (session) => resolveSession(session) });
      const client = await connectStreamClient(`ws://127.0.0.1:${server.port}/`, { deflate });
      try {
        assert.equal(client.extensions === "", !compressed, `extensions: ${client.extensions}`);
        const session = await sessionReady;
        const base = pseudoRandomBytes(MESSAGE, 7);
        let written = 0; // bytes of messages the client's writable accepted
        const writer = client.writable.getWriter();
        const sending = (async () => {
          for (let i = 0; i < COUNT; i++) {
            const message = base.slice();
            message[0] = i;
            await writer.write(message);
            written += MESSAGE;
          }
          writer.releaseLock();
        })();
        sending.catch(() => {});

        const reader = session.readable.getReader();
        let consumed = 0;
        let maxInFlight = 0;
        let maxDecodedAhead = 0;
        let stalls = 0;
        let blockedStalls = 0;
        for (let i = 0; i < COUNT; i++) {
          if (i % READ_BETWEEN_STALLS === 0) {
            // The consumer stalls until the sender is blocked (or has written everything).
            await untilStalled(() => written, 300, 20_000);
            stalls++;
            if (written < COUNT * MESSAGE) blockedStalls++;
            maxInFlight = Math.max(maxInFlight, written - consumed);
            maxDecodedAhead = Math.max(maxDecodedAhead, decoded - consumed);
          }
          const { value, done } = await reader.read();
          assert.ok(!done && value instanceof Uint8Array, `message ${i} arrived`);
          assert.equal(value.length, MESSAGE);
          assert.equal(value[0], i, `message ${i} in order`);
          assert.equal(value[MESSAGE - 1], base[MESSAGE - 1]);
          consumed += value.length;
        }
        reader.releaseLock();
        await sending;
        console.log(
          `${label}: ${stalls} stalls, sender blocked in ${blockedStalls}; at most ${(maxInFlight / 2 ** 20).toFixed(1)} MiB written ` +
            `and not consumed, ${(maxDecodedAhead / 2 ** 20).toFixed(1)} MiB decoded and not consumed`,
        );
        // The first stalls come before much is read: the sender must have blocked there (the rest of what
        // is sent may fit once the consumer is near the end).
        assert.ok(blockedStalls >= stalls / 2, `the sender blocked in ${blockedStalls} of ${stalls} stalls`);
        assert.ok(maxInFlight <= MAX_IN_FLIGHT, `${maxInFlight} bytes written and not consumed`);
        assert.ok(maxDecodedAhead <= MAX_DECODED_AHEAD, `${maxDecodedAhead} bytes decoded and not consumed`);
        assert.equal(compressedFrames > 0, compressed, `${compressedFrames} frames with RSV1`);

        const closing = client.close(1000);
        for await (const _ of session.readable) { /* the Close ends it */ }
        for await (const _ of client.readable) { /* likewise */ }
        assert.equal((await closing).code, 1000);
      } finally {
        await client.close(1000).catch(() => {});
        await server.close();
      }
    });
  });
}
