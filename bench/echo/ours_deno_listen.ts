// This library on Deno.listen: echo server for bench/echo_bench.ts. Args: PORT DEFLATE(0|1). Prints its URL.
import { listenDeno } from "../../lib/adapters/deno_listen.ts";
const server = await listenDeno({
  port: Number(Deno.args[0]),
  deflate: Deno.args[1] === "1" ? {} : false,
  websocket: { message: (socket, data) => void socket.send(data).catch(() => {}) },
});
console.log(server.url);
