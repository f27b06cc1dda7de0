/**
 * An echo server on 127.0.0.1: every message comes back as it was sent. Open http://127.0.0.1:8080/ in a
 * browser for a small page that talks to it, or connect any WebSocket client to ws://127.0.0.1:8080/.
 *
 * Runs on Deno (`deno run --allow-net --allow-env examples/echo_server.ts`), Bun
 * (`bun examples/echo_server.ts`) and Node 22.6+ (`node --experimental-strip-types ...`).
 * Options: `--port P` (0 picks a free port), `--host H`; or the PORT and HOST environment variables.
 *
 * @module
 */

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import process from "node:process";
import { handleNodeUpgrade, NODE_HTTP_SERVER_OPTIONS } from "../lib/adapters/node_http.ts";

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  if (index !== -1 && process.argv[index + 1] !== undefined) return process.argv[index + 1];
  return process.env[name.toUpperCase()] ?? fallback;
}

const host = option("host", "127.0.0.1");
const port = Number(option("port", "8080"));

const page = `<!doctype html>
<meta charset="utf-8"><title>Echo</title>
<p>Type a message; the server sends it back.</p>
<form><input id="text" autofocus> <button>Send</button></form>
<pre id="log"></pre>
<script>
const log = (line) => document.getElementById("log").textContent += line + "\\n";
const socket = new WebSocket(location.href.replace(/^http/, "ws"));
socket.onopen = () => log("open");
socket.onmessage = (event) => log("< " + event.data);
socket.onclose = (event) => log("closed " + event.code);
document.querySelector("form").onsubmit = (event) => {
  event.preventDefault();
  const input = document.getElementById("text");
  socket.send(input.value);
  log("> " + input.value);
  input.value = "";
};
</script>
`;

const server = createServer(NODE_HTTP_SERVER_OPTIONS, (_req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(page);
});

server.on("upgrade", async (req, socket, head) => {
  const upgrade = await handleNodeUpgrade(req, socket, head);
  if (upgrade === undefined) return;
  const { connection } = upgrade;
  connection.onmessage = (data) => {
    connection.send(data).catch(() => {});
  };
});

server.listen(port, host, () => {
  const address = server.address() as AddressInfo;
  const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
  console.log(`Echo server listening on ws://${shown}:${address.port}/ (page: http://${shown}:${address.port}/)`);
});
