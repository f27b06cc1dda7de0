/**
 * A minimal echo server on 127.0.0.1: every message comes back as it was sent, with permessage-deflate
 * negotiated when the client offers it. (`cli.ts serve` is the same with flags and a test page.)
 *
 *   deno run --allow-net --allow-env examples/echo_server.ts [--port 8080] [--host 127.0.0.1]
 *   bun examples/echo_server.ts [--port 8080]
 *
 * @module
 */

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import process from "node:process";
import { handleNodeUpgrade, NODE_HTTP_SERVER_OPTIONS } from "../lib/adapters/node_http.ts";

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index !== -1 && process.argv[index + 1] !== undefined ? process.argv[index + 1] : fallback;
}

const server = createServer(NODE_HTTP_SERVER_OPTIONS, (_req, res) => res.end("A WebSocket echo server\n"));
server.on("upgrade", async (req, socket, head) => {
  const upgrade = await handleNodeUpgrade(req, socket, head);
  if (upgrade === undefined) return;
  const { connection } = upgrade;
  connection.onmessage = (data) => {
    if (connection.readyState === 1) connection.send(data).catch(() => {});
  };
});
server.listen(Number(option("port", "8080")), option("host", "127.0.0.1"), () => {
  const { address, port } = server.address() as AddressInfo;
  console.log(`Echo server listening on ws://${address}:${port}/`);
});
