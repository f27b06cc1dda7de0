// socket.io 4 on Node (in-memory adapter, WebSocket transport only): fan-out server for
// bench/fanout_bench.ts. Args: PORT DEFLATE(0|1). Prints its http base URL. Every client joins "room" on
// connect; a "msg" event goes to the others with socket.to("room").emit (encoded once, written to each).
// DEFLATE 1: perMessageDeflate with threshold 0 (as for ws; socket.io's default threshold is 1024 B).
import { createServer } from "node:http";
import { Server } from "socket.io";
const [port, deflate] = process.argv.slice(2);
const http = createServer();
const io = new Server(http, {
  transports: ["websocket"],
  serveClient: false,
  perMessageDeflate: deflate === "1" ? { threshold: 0 } : false,
});
io.on("connection", (socket) => {
  socket.join("room");
  socket.on("msg", (data) => socket.to("room").emit("msg", data));
});
http.listen(Number(port), "127.0.0.1", () => console.log(`http://127.0.0.1:${http.address().port}/`));
