// What became of the messages published toward each subscriber, for the slow scenario of
// bench/fanout_bench.ts: shared by bench/fanout/ours.ts (Deno, Bun) and ours_node.mjs (Node, the build).
// The server's handler calls these from its callbacks; `counters()` adds the figures to its `counters {json}`
// line. Cumulative counters (the bench takes the difference over a run), but for `heldPeakKiB`, the largest
// queued + buffered bytes of one socket since the last `counters()` (it starts over at each call):
// - published: each ws.publish of the handler (one publish toward every subscriber but the publisher);
// - closedPublished: at each close, the publishes made while that socket was open (toward it);
// - closedDropped: at each close, the socket's `dropped` (what its drop callback reported);
// - refusedClosing: publishes made while a socket that had dropped or reported an error was closing (after
//   its 1013 or its heartbeat timeout, before its end): refused by it, and reported by no drop callback
//   (pubsub.stats.refused counts them, with others);
// - unwrittenBytes: bytes a socket had handed to its transport, not written when the close timeout cut it
//   (from the error callback's "Cannot close: N bytes were not written within T ms");
// - closesSent1013: closes of sockets to which the server sent 1013 (the peer may never answer it: then
//   the close callback's code is 1006);
// - closedBufferedBytes: at each close, the socket's bufferedAmount at the last sample (every 100 ms)
//   before it: bytes handed to the transport and not written, lost when the peer reset the connection
//   (what was still queued is counted into `dropped` by then);
// - with FANOUT_GC=1 (the slow scenario), each counters() first collects the garbage (node:v8's
//   --expose-gc, or Bun.gc) and reports gcRssKiB and gcHeapKiB (the heap with the ArrayBuffers' bytes: heap
//   used + external on Deno and Node; heap used alone on Bun, whose heapUsed is JSC's heapSize, which
//   already counts the ArrayBuffers' bytes that external reports again) after it, and
//   prevGcRssKiB, prevGcHeapKiB of the call before (the load client asks for one, by SIGUSR2, at the end
//   of a run's measured part, before the slow subscriber goes: the next counters() reports it as prev).

import process from "node:process";
import v8 from "node:v8";
import vm from "node:vm";

const OPEN = 1;

/** A full GC, where the slow scenario asks for it (FANOUT_GC=1), else undefined. */
function collector() {
  if (process.env.FANOUT_GC !== "1") return undefined;
  const bun = globalThis.Bun;
  if (bun !== undefined) return () => bun.gc(true);
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc");
}

/**
 * The heap after a GC, ArrayBuffers' bytes counted once. Deno and Node keep ArrayBuffers outside the V8
 * heap: heapUsed + external. Bun's heapUsed is JSC's heapSize, which includes its extraMemorySize (the
 * ArrayBuffers), and its external reports the same bytes again: 640 Uint8Arrays of 16 KiB held after
 * Bun.gc(true) raised heapUsed by 10.08 MiB and external by 10.01 (bench/results/slow-subscriber-bun-2026-12-03.md).
 */
function heapBytes(m) {
  return globalThis.Bun !== undefined ? m.heapUsed : m.heapUsed + m.external;
}

/** The accounting of one server process. */
export function slowAccounting() {
  const openedAt = new WeakMap();
  const watched = new Set(); // sockets that dropped and have not closed
  const sockets = new Set();
  const lastBuffered = new WeakMap();
  const gc = collector();
  let gcLast = { rss: NaN, heap: NaN };
  const totals = {
    published: 0,
    closedPublished: 0,
    closedDropped: 0,
    refusedClosing: 0,
    unwrittenBytes: 0,
    closesSent1013: 0,
    closedBufferedBytes: 0,
  };
  let heldPeak = 0;
  const sample = () => {
    for (const ws of sockets) {
      const c = ws.connection;
      if (c === undefined) continue;
      heldPeak = Math.max(heldPeak, c.queuedAmount + c.bufferedAmount);
      lastBuffered.set(ws, c.bufferedAmount);
    }
  };
  const timer = setInterval(sample, 100);
  // Deno and Node: the timer does not keep the process alive (Bun's has unref too).
  timer.unref?.();
  return {
    open(ws) {
      openedAt.set(ws, totals.published);
      sockets.add(ws);
    },
    published() {
      totals.published++;
      for (const ws of watched) {
        if (ws.connection !== undefined && ws.connection.readyState !== OPEN) totals.refusedClosing++;
      }
    },
    drop(ws) {
      watched.add(ws);
    },
    error(ws, error) {
      // A heartbeat timeout reports an error, then closes: what is published to it meanwhile is refused.
      watched.add(ws);
      const match = /Cannot close: (\d+) bytes were not written/.exec(String(error?.message));
      if (match) totals.unwrittenBytes += Number(match[1]);
    },
    close(ws) {
      totals.closedPublished += totals.published - (openedAt.get(ws) ?? totals.published);
      totals.closedDropped += ws.dropped ?? 0;
      if (ws.connection?.protocol.closeSent?.code === 1013) totals.closesSent1013++;
      totals.closedBufferedBytes += lastBuffered.get(ws) ?? 0;
      watched.delete(ws);
      sockets.delete(ws);
    },
    counters() {
      sample();
      const out = { ...totals, heldPeakKiB: Math.round(heldPeak / 1024) };
      heldPeak = 0;
      if (gc === undefined) return out;
      gc();
      const m = process.memoryUsage();
      const now = { rss: Math.round(m.rss / 1024), heap: Math.round(heapBytes(m) / 1024) };
      const prev = gcLast;
      gcLast = now;
      return { ...out, gcRssKiB: now.rss, gcHeapKiB: now.heap, prevGcRssKiB: prev.rss, prevGcHeapKiB: prev.heap };
    },
  };
}
