#!/usr/bin/env node
/**
 * A wscat-like command line:
 *
 *   deno run -A cli.ts serve --port P [--host H] [--protocols a,b] [--no-deflate]
 *   deno run -A cli.ts connect URL [--protocol p]... [--no-deflate] [--deflate "<offer params>"]
 *
 * (or `bun cli.ts ...`, or on Node the build: `node dist/cli.js ...`, the package's `wsengine` command; the
 * line above is for that build). `serve` starts an echo server on any path (and a small test page at `/` for a
 * browser) and prints a line with `ws://H:P` once it listens. `connect` sends each line of standard input
 * as a text message, prints each message received on its own line after `< `, prints the negotiated
 * protocol and extensions to standard error, and closes cleanly at the end of input.
 *
 * @module
 */

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import process from "node:process";
import { createInterface } from "node:readline";
import { connectNode } from "./lib/adapters/node_client.ts";
import { handleNodeUpgrade, NODE_HTTP_SERVER_OPTIONS } from "./lib/adapters/node_http.ts";
import type { DeflateNegotiationOptions } from "./lib/deflate/negotiation.ts";
import { parseExtensions } from "./lib/handshake/extension_header.ts";

const USAGE = `usage:
  cli.ts serve --port P [--host H] [--protocols a,b] [--no-deflate]
  cli.ts connect URL [--protocol p]... [--no-deflate] [--deflate "<offer params>"]`;

interface Args {
  positional: string[];
  values: Map<string, string[]>;
  flags: Set<string>;
}

function parseArgs(argv: string[], withValue: string[]): Args {
  const args: Args = { positional: [], values: new Map(), flags: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) {
      args.positional.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
    if (withValue.includes(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) fail(`--${name} needs a value`);
      args.values.set(name, [...(args.values.get(name) ?? []), value]);
    } else {
      args.flags.add(name);
    }
  }
  return args;
}

function fail(message: string): never {
  console.error(`error: ${message}\n${USAGE}`);
  process.exit(2);
}

/** Reads `--deflate "client_max_window_bits=10; server_no_context_takeover"` into negotiation options. */
function deflateOptions(params: string): DeflateNegotiationOptions {
  let offer;
  try {
    [offer] = parseExtensions(params.trim() === "" ? "permessage-deflate" : `permessage-deflate; ${params}`);
  } catch (error) {
    fail(`--deflate: ${(error as Error).message}`);
  }
  const options: DeflateNegotiationOptions = {};
  for (const [name, value] of offer.params) {
    const bits = value === null ? undefined : Number(value);
    switch (name.toLowerCase()) {
      case "server_no_context_takeover":
        options.serverNoContextTakeover = true;
        break;
      case "client_no_context_takeover":
        options.clientNoContextTakeover = true;
        break;
      case "server_max_window_bits":
        options.serverMaxWindowBits = bits ?? fail("--deflate: server_max_window_bits needs a value");
        break;
      case "client_max_window_bits":
        if (bits !== undefined) options.clientMaxWindowBits = bits;
        break;
      default:
        fail(`--deflate: unknown parameter ${name}`);
    }
  }
  return options;
}

const PAGE = `<!doctype html>
<meta charset="utf-8"><title>Echo</title>
<p>Type a message; the server sends it back.</p>
<form><input id="text" autofocus> <button>Send</button></form>
<pre id="log"></pre>
<script>
const log = (line) => document.getElementById("log").textContent += line + "\\n";
const socket = new WebSocket(location.href.replace(/^http/, "ws"));
socket.onopen = () => log("open: " + (socket.extensions || "no extensions"));
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

function serve(argv: string[]): void {
  const args = parseArgs(argv, ["port", "host", "protocols"]);
  const port = Number(args.values.get("port")?.at(-1) ?? process.env.PORT ?? "8080");
  const host = args.values.get("host")?.at(-1) ?? process.env.HOST ?? "127.0.0.1";
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port ${port} is not a port number`);
  const protocols = (args.values.get("protocols") ?? []).flatMap((p) => p.split(",")).map((p) => p.trim()).filter(Boolean);
  const deflate = args.flags.has("no-deflate") ? false as const : {};
  const server = createServer(NODE_HTTP_SERVER_OPTIONS, (_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(PAGE);
  });
  server.on("upgrade", async (req, socket, head) => {
    // An echo passes text on as it came (validated UTF-8 bytes): no decode and re-encode.
    const upgrade = await handleNodeUpgrade(req, socket, head, { protocols, deflate, textAsBytes: true });
    if (upgrade === undefined) return;
    const { connection } = upgrade;
    connection.onmessage = (data, binary) => {
      if (connection.readyState === 1) connection.send(data, { binary }).catch(() => {});
    };
  });
  server.on("error", (error) => fail(`cannot listen on ${host}:${port}: ${error.message}`));
  server.listen(port, host, () => {
    const address = server.address() as AddressInfo;
    const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
    console.log(`Echo server listening on ws://${shown}:${address.port}/ (test page: http://${shown}:${address.port}/)`);
  });
}

async function connect(argv: string[]): Promise<void> {
  const args = parseArgs(argv, ["protocol", "deflate"]);
  const url = args.positional[0] ?? fail("connect needs a URL");
  const protocols = args.values.get("protocol") ?? [];
  const deflate = args.flags.has("no-deflate") ? false as const : deflateOptions(args.values.get("deflate")?.at(-1) ?? "");
  // Lines typed before the connection opens are queued, not lost.
  const queued: string[] = [];
  const sink: { send?: (line: string) => void } = {};
  let inputEnded = false;
  let onInputEnd: (() => void) | undefined;
  const lines = createInterface({ input: process.stdin, terminal: false });
  lines.on("line", (line) => sink.send ? sink.send(line) : queued.push(line));
  lines.on("close", () => {
    inputEnded = true;
    onInputEnd?.();
  });
  let client;
  try {
    client = await connectNode(url, { protocols, deflate });
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    process.exit(1);
  }
  const { connection, protocol, extensions } = client;
  console.error(`connected to ${client.url.href}`);
  console.error(`protocol: ${protocol || "(none)"}`);
  console.error(`extensions: ${extensions || "(none)"}`);
  connection.onmessage = (data) => {
    const text = typeof data === "string" ? data : `<binary ${data.length} bytes> ${Array.from(data.subarray(0, 32), (b) => b.toString(16).padStart(2, "0")).join(" ")}`;
    process.stdout.write(`< ${text}\n`);
  };
  connection.onerror = (error) => console.error(`error: ${error.message}`);
  let pending = Promise.resolve();
  sink.send = (line) => {
    pending = pending.then(() => connection.readyState === 1 ? connection.send(line) : undefined).catch(() => {});
  };
  for (const line of queued.splice(0)) sink.send(line);
  const finish = async () => {
    await pending;
    // Give the echoes of the last lines a moment to arrive before closing.
    await new Promise((resolve) => setTimeout(resolve, 200));
    if (connection.readyState === 1) connection.close(1000);
  };
  if (inputEnded) finish();
  else onInputEnd = () => void finish();
  const { code, reason } = await connection.closed;
  console.error(`closed: ${code}${reason ? ` ${reason}` : ""}`);
  lines.close();
  process.exit(code === 1000 || code === 1005 ? 0 : 1);
}

const [command, ...rest] = process.argv.slice(2);
if (command === "serve") serve(rest);
else if (command === "connect") await connect(rest);
else fail(command === undefined ? "no command" : `unknown command ${command}`);
