// Bun.serve's own WebSocket and topics: fan-out server for bench/fanout_bench.ts. Args: PORT
// DEFLATE(0|1|dedicated). Prints its URL. Every socket subscribes to "room" on open; a message is
// published with ws.publish (which leaves the sender out). 1: perMessageDeflate true (Bun's shared
// compressor); dedicated: a compressor per connection. Bun compresses a publish only with publish(t, m, true).
import process from "node:process";

interface BunWebSocket {
  subscribe(topic: string): void;
  publish(topic: string, message: string | Uint8Array, compress?: boolean): number;
}
const Bun = (globalThis as unknown as {
  Bun: {
    serve(options: {
      port: number;
      hostname: string;
      fetch(request: Request, server: { upgrade(request: Request): boolean }): Response | undefined;
      websocket: {
        perMessageDeflate: boolean | { compress: string; decompress: string };
        open(ws: BunWebSocket): void;
        message(ws: BunWebSocket, message: string | Uint8Array): void;
      };
    }): { port: number };
  };
}).Bun;
const [port, deflate] = process.argv.slice(2);
const compress = deflate === "1" || deflate === "dedicated";
const perMessageDeflate = deflate === "dedicated"
  ? { compress: "dedicated", decompress: "dedicated" }
  : compress;
const server = Bun.serve({
  port: Number(port),
  hostname: "127.0.0.1",
  fetch: (request, server) =>
    server.upgrade(request) ? undefined : new Response("upgrade only", { status: 426 }),
  websocket: {
    perMessageDeflate,
    open: (ws) => ws.subscribe("room"),
    message: (ws, message) => void ws.publish("room", message, compress),
  },
});
console.log(`ws://127.0.0.1:${server.port}/`);
