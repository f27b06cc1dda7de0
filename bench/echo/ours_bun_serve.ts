// This library's bunServe() on Bun.serve (Bun's own WebSocket engine carries the messages): echo server for
// bench/echo_bench.ts. Args: PORT DEFLATE(0|1). 1: Bun's dedicated compressor (context takeover). Prints its URL.
import process from "node:process";
import { bunServe } from "../../lib/adapters/bun_serve.ts";

const Bun = (globalThis as unknown as { Bun: { serve(options: object): { port: number } } }).Bun;
const [port, deflate] = process.argv.slice(2);
const server = Bun.serve({
  port: Number(port),
  hostname: "127.0.0.1",
  ...bunServe({
    perMessageDeflate: deflate === "1" ? { compress: "dedicated", decompress: "dedicated" } : false,
    websocket: { message: (socket, data) => void socket.send(data).catch(() => {}) },
  }),
});
console.log(`ws://127.0.0.1:${server.port}/`);
