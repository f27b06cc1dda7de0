/**
 * What refused upgrades leave behind: 10,000 upgrade requests refused by the `upgrade` hook (401) and by the
 * origin allow-list (403), 50 at a time over loopback, against `serve()` in this process. Prints the heap
 * (after GC) before and after, per refused request: a refusal allocates no WebSocket state, so it should
 * stay near zero.
 *
 *   deno run --v8-flags=--expose-gc -A bench/refused_heap_bench.ts [--requests 10000]
 *   bun bench/refused_heap_bench.ts
 *
 * @module
 */

import net from "node:net";
import process from "node:process";
import { serve } from "../lib/adapters/serve.ts";

const index = process.argv.indexOf("--requests");
const REQUESTS = index === -1 ? 10_000 : Number(process.argv[index + 1]);

function heap(): number {
  const g = globalThis as { gc?: () => void; Bun?: { gc: (force: boolean) => void } };
  for (let i = 0; i < 3; i++) {
    if (g.Bun) g.Bun.gc(true);
    else if (g.gc) g.gc();
    else throw new Error("Run with --v8-flags=--expose-gc (Deno) or under Bun: GC is needed for honest numbers");
  }
  const m = process.memoryUsage();
  return "Deno" in globalThis ? m.heapUsed + m.external : m.heapUsed + m.arrayBuffers;
}

/** One upgrade request; resolves with the response's status once the server has closed the socket. */
function refusedOnce(port: number, origin: string, withToken: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let head = "";
    socket.on("error", reject);
    socket.on("connect", () =>
      socket.write(
        `GET /${withToken ? "?token=yes" : ""} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: ${origin}\r\n\r\n`,
      ));
    socket.on("data", (chunk: Uint8Array) => head += new TextDecoder().decode(chunk));
    socket.on("end", () => socket.end());
    socket.on("close", () => resolve(Number(head.split(" ")[1])));
  });
}

const server = await serve({
  port: 0,
  origins: ["https://app.example"],
  upgrade: (request) => new URL(request.url).searchParams.has("token") ? undefined : new Response("no token\n", { status: 401 }),
  websocket: {},
});
const port = Number(new URL(server.url).port);
const rows: string[] = [];
for (const [what, origin, token] of [["hook 401", "https://app.example", false], ["origin 403", "https://evil.example", true]] as const) {
  // A warm-up round, so that what the runtime allocates once is not counted.
  await Promise.all(Array.from({ length: 200 }, () => refusedOnce(port, origin, token)));
  const before = heap();
  const statuses = new Map<number, number>();
  for (let done = 0; done < REQUESTS; done += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, REQUESTS - done) }, () => refusedOnce(port, origin, token)));
    for (const status of batch) statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  const after = heap();
  rows.push(`| ${what} | ${[...statuses].map(([s, n]) => `${n} x ${s}`).join(", ")} | ${((after - before) / 1024).toFixed(0)} KiB | ${((after - before) / REQUESTS).toFixed(1)} B | ${server.sockets.size} |`);
}
await server.close();
const runtime = "Bun" in globalThis ? "Bun" : "Deno";
console.log(`\n${REQUESTS} refused upgrades each, serve() on ${runtime}, heap after GC\n`);
console.log("| refusal | responses | heap growth | per request | WebSockets open |");
console.log("|---|---|---:|---:|---:|");
for (const row of rows) console.log(row);
