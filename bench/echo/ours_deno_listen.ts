// This library on Deno.listen: echo server for bench/echo_bench.ts. Args: PORT DEFLATE(0|1) [strings].
// Text is passed on as validated UTF-8 bytes (textAsBytes), as ws's echo passes Buffers on; with
// `strings`, text is decoded to a string and encoded again, as a WebSocket-API application would.
import { listenDeno } from "../../lib/adapters/deno_listen.ts";
const strings = Deno.args[2] === "strings";
const server = await listenDeno({
  port: Number(Deno.args[0]),
  deflate: Deno.args[1] === "1" ? {} : false,
  textAsBytes: !strings,
  websocket: { message: (socket, data, binary) => void socket.send(data, { binary }).catch(() => {}) },
});
console.log(server.url);
