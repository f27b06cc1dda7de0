// ws 8 on Node: echo server for bench/echo_bench.ts. Args: PORT DEFLATE(0|1). Prints its URL.
import { WebSocketServer } from "ws";
const [port, deflate] = process.argv.slice(2);
const wss = new WebSocketServer({
  port: Number(port),
  host: "127.0.0.1",
  // ws's best compressing setup for echo: compress every message, context takeover, level 6 (its default).
  perMessageDeflate: deflate === "1" ? { threshold: 0 } : false,
});
wss.on("listening", () => console.log(`ws://127.0.0.1:${wss.address().port}/`));
wss.on("connection", (ws) => ws.on("message", (data, binary) => ws.send(data, { binary })));
