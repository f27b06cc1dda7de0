// This library on Bun.listen (raw TCP, no node:net emulation): echo server for bench/echo_bench.ts.
// Args: PORT DEFLATE(0|1). Text is passed on as validated UTF-8 bytes (textAsBytes), as ws's echo passes
// Buffers on.
import { listenBun } from "../../lib/adapters/bun_listen.ts";
import process from "node:process";
const server = await listenBun({
  port: Number(process.argv[2]),
  deflate: process.argv[3] === "1" ? {} : false,
  textAsBytes: true,
  websocket: { message: (socket, data, binary) => void socket.send(data, { binary }).catch(() => {}) },
});
console.log(server.url);
