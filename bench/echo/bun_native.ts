// Bun.serve's own WebSocket: echo server for bench/echo_bench.ts. Args: PORT DEFLATE(0|1|dedicated). Prints its
// URL. 1: perMessageDeflate true (Bun's shared compressor); dedicated: a compressor per connection.
import process from "node:process";

interface BunWebSocket {
  send(message: string | Uint8Array, compress?: boolean): number;
}
const Bun = (globalThis as unknown as {
  Bun: {
    serve(options: {
      port: number;
      hostname: string;
      fetch(request: Request, server: { upgrade(request: Request): boolean }): Response | undefined;
      websocket: { perMessageDeflate: boolean | { compress: string; decompress: string }; message(ws: BunWebSocket, message: string | Uint8Array): void };
    }): { port: number };
  };
}).Bun;
const [port, deflate] = process.argv.slice(2);
const compress = deflate === "1" || deflate === "dedicated";
const perMessageDeflate = deflate === "dedicated" ? { compress: "dedicated", decompress: "dedicated" } : compress;
const server = Bun.serve({
  port: Number(port),
  hostname: "127.0.0.1",
  fetch: (request, server) => server.upgrade(request) ? undefined : new Response("upgrade only", { status: 426 }),
  // Bun compresses only messages sent with send(msg, true).
  websocket: { perMessageDeflate, message: (ws, message) => void ws.send(message, compress) },
});
console.log(`ws://127.0.0.1:${server.port}/`);
