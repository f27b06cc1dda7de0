// ws 8 on Node: fan-out server for bench/fanout_bench.ts. Args: PORT DEFLATE(0|1). Prints its URL.
// Each message goes to every other open client, ws's broadcast loop (text stays text). DEFLATE 1: ws's
// permessage-deflate, every message compressed (threshold 0, as bench/echo/ws_server.mjs), context
// takeover: each client's copy is compressed on its own.
import { WebSocket, WebSocketServer } from "ws";
const [port, deflate] = process.argv.slice(2);
const wss = new WebSocketServer({
  port: Number(port),
  host: "127.0.0.1",
  perMessageDeflate: deflate === "1" ? { threshold: 0 } : false,
});
wss.on("listening", () => console.log(`ws://127.0.0.1:${wss.address().port}/`));
wss.on("connection", (ws) =>
  ws.on("message", (data, binary) =>
    wss.clients.forEach((client) => {
      if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary });
    })));
