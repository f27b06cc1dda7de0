/**
 * `cli.ts serve`: the chat demo (demo/) at `/` and `/chat`, and an echo server on every other WebSocket
 * path, over `ws:` or (with a certificate) `wss:`; or a directory of files for plain HTTP requests; a line
 * per connection; with `--workers N`, N processes on one port (node:cluster), sharing rooms over Redis
 * with `--redis URL`.
 *
 * @module
 */

import { readFileSync, realpathSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import process from "node:process";
import cluster from "node:cluster";
import { createServer as createTcpServer } from "node:net";
import type { Connection } from "../lib/connection.ts";
import {
  deflateOptions,
  type FlagSpec,
  formatFlags,
  HELP_FLAG,
  heartbeatOption,
  lastValue,
  parseArgs,
  parseSize,
  UsageError,
} from "./args.ts";
import { serveStatic } from "./static_files.ts";
import { formatBytes, messages } from "./wire_stats.ts";

/** The flags of `serve`. */
export const SERVE_FLAGS: readonly FlagSpec[] = [
  { name: "port", short: "p", value: "PORT", help: "port to listen on, 0 for any free one (default $PORT, else 8080)" },
  { name: "host", value: "HOST", help: "address to listen on (default $HOST, else 127.0.0.1)" },
  { name: "protocols", value: "A,B", repeat: true, help: "subprotocols to accept, the first preferred" },
  { name: "tls-cert", value: "FILE", help: "serve wss: and https: with this certificate chain (PEM)" },
  { name: "tls-key", value: "FILE", help: "the certificate's private key (PEM)" },
  { name: "max-message-size", value: "BYTES", help: "larger messages close the connection with 1009 (default 16m)" },
  { name: "heartbeat", value: "INTERVAL,TIMEOUT", help: "ping after INTERVAL s of silence, drop TIMEOUT s later (25,20)" },
  { name: "no-heartbeat", help: "no keepalive pings" },
  { name: "deflate", value: "PARAMS", help: 'permessage-deflate options, e.g. "broadcast" (below)' },
  { name: "no-deflate", help: "decline compression" },
  { name: "static", value: "DIR", help: "plain HTTP requests get the files of DIR, not the demo (no chat)" },
  { name: "no-demo", help: "no chat demo: every path echoes, / gets the echo test page" },
  { name: "workers", value: "N", help: "run N processes on the one port (node:cluster; default 1)" },
  { name: "engine", value: "raw|node-http", help: "the server under it (default raw on Deno and Bun, node-http on Node; below)" },
  { name: "redis", value: "URL", help: "share the chat's rooms over Redis, e.g. redis://127.0.0.1:6379" },
  { name: "quiet", short: "q", help: "no line per connection (or per HTTP request)" },
  HELP_FLAG,
];

/** The usage line of `serve`. */
export const SERVE_USAGE = "cli.ts serve [--port P] [--host H] [--protocols a,b] [--tls-cert FILE --tls-key FILE] [options]";

/** `serve --help`. */
export const SERVE_HELP = `usage: ${SERVE_USAGE}

Starts the chat demo at http://HOST:PORT/ (its WebSocket is /chat) and an echo server on every other
path: every message received is sent back as it came (text as text, binary as binary), with a test page
at /echo. Prints "Echo server listening on ws://HOST:PORT/ ..." once it listens, then a line per
connection (unless -q): "#N open ADDRESS PATH protocol=... extensions=..." and "#N close CODE after T s:
in M messages (B), out ...; socket B read, B written" (handshake included), and "#N refused" for a
handshake that was not accepted; "chat #N ..." lines for the demo. With --static, plain HTTP requests get
the files of a directory instead (no demo). SIGINT or SIGTERM closes every connection with 1001 and exits.

The demo's name cookie is signed with $WSENGINE_DEMO_SECRET (at least 16 characters), or a random key
made at each start. --workers N forks N processes that all listen on PORT (Node: the primary accepts and
hands connections round robin; Bun: SO_REUSEPORT, the kernel spreads them; Deno: its node:cluster), with
one secret; the primary restarts a worker that dies and stops them all on SIGINT or SIGTERM. Without
--redis each worker has rooms of its own; with it, the rooms (messages and presence) span the workers
and any other server on that Redis.

--engine: raw is the runtime's own TCP/TLS listener under the library's HTTP/1.1 reading (listenDeno on
Deno, listenBun on Bun; a plain request is answered, then its connection closed); node-http is node:http
(the runtime's emulation of it on Deno and Bun). The default is raw on Deno and Bun, node-http on Node
(which has no raw engine), and on Deno with --workers above 1 (Deno's listener shares a port only with
--unstable-net: the workers take node:cluster's node:http). Bun's workers each listen with SO_REUSEPORT.
Unless -q, a line "engine: raw (listenBun)" or "engine: node-http" follows the listening line.

options:
${formatFlags(SERVE_FLAGS)}

--deflate takes ";"-separated parameters: server_no_context_takeover, client_no_context_takeover,
server_max_window_bits=8..15, client_max_window_bits=8..15 (limits what clients may use), broadcast
(every connection compresses each message alone, from an empty window: one compressed copy can serve
every subscriber), and the codec's level=0..9, mem_level=1..9, threshold=BYTES (smaller messages are
sent uncompressed).
--static DIR: GET and HEAD; a directory gets its index.html; paths that leave DIR (.., %2f, symbolic
links pointing out) get 403.

exit codes:
  0  stopped by SIGINT or SIGTERM
  1  cannot listen (address in use, not permitted), or cannot reach --redis
  2  usage error: unknown flag, bad value, unreadable certificate, key or directory
`;

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

function readPem(flag: string, file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(error as Error).message}`);
  }
}

/**
 * Runs `serve`: resolves once the server listens (it then runs until a signal), or with an exit code.
 *
 * @param argv The arguments after `serve`.
 * @returns The exit code when it ends before listening (help, cannot listen); `undefined` once listening.
 * @throws {UsageError} For a wrong command line.
 */
export async function serve(argv: readonly string[]): Promise<number | undefined> {
  const args = parseArgs(argv, SERVE_FLAGS);
  if (args.flags.has("help")) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  if (args.positional.length > 0) throw new UsageError(`unexpected argument ${args.positional[0]}`);
  const portText = lastValue(args, "port") ?? process.env.PORT ?? "8080";
  const port = /^\d+$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new UsageError(`${lastValue(args, "port") === undefined ? "PORT" : "--port"} ${portText} is not a port number`);
  }
  const host = lastValue(args, "host") ?? process.env.HOST ?? "127.0.0.1";
  const protocols = (args.values.get("protocols") ?? []).flatMap((p) => p.split(",")).map((p) => p.trim()).filter(Boolean);
  const deflateValue = lastValue(args, "deflate");
  if (deflateValue !== undefined && args.flags.has("no-deflate")) throw new UsageError("--deflate and --no-deflate contradict each other");
  const deflate = args.flags.has("no-deflate") ? false as const : deflateOptions(deflateValue ?? "", "server");
  const heartbeat = heartbeatOption(args);
  const maxSize = lastValue(args, "max-message-size");
  const maxMessageSize = maxSize === undefined ? undefined : parseSize("--max-message-size", maxSize);
  const certFile = lastValue(args, "tls-cert"), keyFile = lastValue(args, "tls-key");
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError("--tls-cert and --tls-key go together");
  const tls = certFile === undefined ? undefined : { cert: readPem("--tls-cert", certFile), key: readPem("--tls-key", keyFile!) };
  const staticDir = lastValue(args, "static");
  let root: string | undefined;
  if (staticDir !== undefined) {
    try {
      root = realpathSync(staticDir);
      if (!statSync(root).isDirectory()) throw new Error("not a directory");
    } catch (error) {
      throw new UsageError(`--static ${staticDir}: ${(error as Error).message}`);
    }
  }
  const workersText = lastValue(args, "workers");
  const workers = workersText === undefined ? 1 : /^\d+$/.test(workersText) ? Number(workersText) : NaN;
  if (!(workers >= 1 && workers <= 64)) throw new UsageError(`--workers ${workersText} is not a number from 1 to 64`);
  const redisUrl = lastValue(args, "redis");
  if (redisUrl !== undefined && !/^rediss?:\/\/[^\s]+$/.test(redisUrl)) {
    throw new UsageError(`--redis ${redisUrl} is not a redis:// or rediss:// URL`);
  }
  const demoOn = root === undefined && !args.flags.has("no-demo");
  if (redisUrl !== undefined && !demoOn) throw new UsageError("--redis is for the chat demo: not with --static or --no-demo");
  const secret = process.env.WSENGINE_DEMO_SECRET ?? randomSecret();
  if (secret.length < 16) throw new UsageError("WSENGINE_DEMO_SECRET must be at least 16 characters");
  const quiet = args.flags.has("quiet");
  const runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node";
  const engineText = lastValue(args, "engine");
  if (engineText !== undefined && engineText !== "raw" && engineText !== "node-http") {
    throw new UsageError(`--engine ${engineText} is not raw or node-http`);
  }
  if (engineText === "raw" && runtime === "node") throw new UsageError("--engine raw runs on Deno and Bun; Node has node-http only");
  // Deno's listener shares a port (reusePort) only with --unstable-net: its workers take node:http's.
  if (engineText === "raw" && workers > 1 && runtime === "deno") {
    throw new UsageError("--engine raw serves one process on Deno: not with --workers above 1");
  }
  const engine = engineText ?? (runtime === "node" || (workers > 1 && runtime === "deno") ? "node-http" : "raw");
  const worker = cluster.isWorker ? `${cluster.worker!.id}` : "1";
  const prefix = cluster.isWorker ? `[worker ${worker}] ` : "";
  const log = (line: string) => {
    if (!quiet) console.log(prefix + line);
  };
  if (workers > 1 && cluster.isPrimary) {
    return await runPrimary({ workers, host, port, secret, redisUrl, tls: tls !== undefined, demoOn, root, quiet });
  }

  // The library is loaded once the command line is known to be right: help and usage errors stay quick.
  let demo: import("../demo/server.ts").Demo | undefined;
  let closeBackplane = () => Promise.resolve();
  if (demoOn) {
    const { createPubSub } = await import("../lib/pubsub/pubsub.ts");
    const { createDemo, DEMO_HISTORY } = await import("../demo/server.ts");
    let backplane;
    if (redisUrl !== undefined) {
      const { redisBackplane } = await import("../lib/backplane/redis_backplane.ts");
      try {
        backplane = await redisBackplane({ url: redisUrl });
      } catch (error) {
        console.error(`${prefix}error: cannot reach --redis ${redisUrl}: ${(error as Error).message}`);
        return 1;
      }
      closeBackplane = () => backplane!.close();
    }
    const pubsub = createPubSub({ backplane, history: (topic) => topic.startsWith("room:") ? DEMO_HISTORY : undefined });
    demo = createDemo({
      secret,
      pubsub,
      worker: cluster.isWorker ? `${worker} (pid ${process.pid})` : `pid ${process.pid}`,
      deflate,
      log,
    });
  }
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    if (root === undefined) {
      if (demo?.handleRequest(req, res) === true) return;
      const path = new URL(req.url ?? "/", "http://x").pathname;
      if (demo !== undefined && path !== "/echo") {
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
        res.end(`Not found: ${path} (the chat is at /, the echo test page at /echo)\n`);
        return;
      }
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(PAGE);
      return;
    }
    serveStatic(root, req, res).then(
      (status) => log(`http ${req.method} ${req.url} ${status}`),
      () => res.destroy(),
    );
  };
  const connections = new Set<Connection>();
  let count = 0;
  const echoOptions = {
    protocols,
    deflate,
    heartbeat,
    maxMessageSize,
    // An echo passes text on as it came (validated UTF-8 bytes): no decode and re-encode.
    textAsBytes: true,
  };
  /** An accepted echo connection: a line when it opens and when it closes, every message sent back. */
  const echo = async (
    id: number,
    peer: string,
    target: string,
    upgrade: { connection: Connection; protocol: string; extensions: string },
    wire: () => { read: number; written: number },
  ) => {
    const { connection, protocol, extensions } = upgrade;
    connections.add(connection);
    const opened = performance.now();
    const counts = { in: 0, inBytes: 0, out: 0, outBytes: 0 };
    log(`#${id} open ${peer} ${target} protocol=${protocol || "(none)"} extensions=${extensions || "(none)"}`);
    connection.onmessage = (data, binary) => {
      counts.in++;
      counts.inBytes += data.length;
      if (connection.readyState !== 1) return;
      connection.send(data, { binary }).then(() => {
        counts.out++;
        counts.outBytes += data.length;
      }, () => {});
    };
    connection.onerror = (error) => log(`#${id} error ${error.message}`);
    const { code, reason } = await connection.closed;
    connections.delete(connection);
    const seconds = ((performance.now() - opened) / 1000).toFixed(1);
    // When the server ended it (a failure, a heartbeat timeout), what it sent says why.
    const sent = connection.protocol.closeSent;
    const why = sent !== undefined && connection.protocol.closeReceived === undefined
      ? ` (sent ${sent.code}${sent.reason ? ` ${JSON.stringify(sent.reason)}` : ""})`
      : "";
    const { read, written } = wire();
    log(
      `#${id} close ${code}${reason ? ` ${JSON.stringify(reason)}` : ""}${why} after ${seconds} s: in ${messages(counts.in)} (${formatBytes(counts.inBytes)}),` +
        ` out ${counts.out} (${formatBytes(counts.outBytes)}); socket ${formatBytes(read)} read,` +
        ` ${formatBytes(written)} written`,
    );
  };

  const listenPort = cluster.isWorker ? Number(process.env.WSENGINE_PORT ?? port) : port;
  const s = tls === undefined ? "" : "s";
  let address: { address: string; port: number };
  let stopListening: () => void, closeServer: () => Promise<void>;
  if (engine === "raw") {
    const { upgradeRaw, answerRaw, countingTransport } = await import("./raw_http.ts");
    const handover = async (handed: import("../lib/adapters/_handover.ts").HandedOver) => {
      const { request } = handed;
      const target = request.url.replace(/^[a-z]+:\/\/[^/]*/i, "");
      // Bytes after the request head (node-http's counts include the head), the response's included.
      const wire = { read: handed.head.length, written: 0 };
      const transport = countingTransport(handed.transport, wire);
      if (!request.headers.has("upgrade")) {
        await answerRaw(handed, transport, onRequest);
        return;
      }
      const chatOn = demo?.handleChatUpgrade(target, async (options) => {
        const upgrade = await upgradeRaw(handed, transport, { ...options, logger: undefined });
        if (upgrade === undefined) return undefined;
        const written = wire.written; // the 101
        return { ...upgrade, wire: () => ({ read: wire.read, written: wire.written - written }) };
      }, () => void transport.writable.abort().catch(() => {}));
      if (chatOn === true) return;
      const id = ++count;
      const peer = `${handed.remoteAddress}:${handed.remotePort}`;
      const upgrade = await upgradeRaw(handed, transport, echoOptions);
      if (upgrade === undefined) {
        log(`#${id} refused ${peer} ${target} (not an acceptable WebSocket handshake)`);
        return;
      }
      await echo(id, peer, target, upgrade, () => wire);
    };
    // Bun's workers each listen on the port (SO_REUSEPORT): the kernel spreads the connections.
    const common = { hostname: host, port: listenPort, tls, websocket: {}, handover, reusePort: cluster.isWorker };
    let server: import("../lib/adapters/serve.ts").WebSocketServer;
    try {
      server = runtime === "bun"
        ? await (await import("../lib/adapters/bun_listen.ts")).listenBun(common)
        : await (await import("../lib/adapters/deno_listen.ts")).listenDeno(common);
    } catch (error) {
      const { code: errorCode } = error as { code?: unknown };
      const message = `${(error as Error).message}${typeof errorCode === "string" && !(error as Error).message.includes(errorCode) ? ` (${errorCode})` : ""}`;
      if (tls !== undefined && (/PEM|OSSL|certificate|private key|tls/i.test(message))) {
        throw new UsageError(`--tls-cert, --tls-key: ${message}`);
      }
      console.error(`${prefix}error: cannot listen on ${host}:${listenPort}: ${message}`);
      await closeBackplane().catch(() => {});
      return 1;
    }
    address = { address: server.hostname, port: server.port };
    // Stopped after the connections were closed: its close() cuts whatever is still open.
    closeServer = () => server.close();
    stopListening = () => {};
  } else {
    const { handleNodeUpgrade, NODE_HTTP_SERVER_OPTIONS } = await import("../lib/adapters/node_http.ts");
    let server: Server;
    try {
      server = tls === undefined
        ? createServer(NODE_HTTP_SERVER_OPTIONS, onRequest)
        : createTlsServer({ ...NODE_HTTP_SERVER_OPTIONS, ...tls }, onRequest);
    } catch (error) {
      throw new UsageError(`--tls-cert, --tls-key: ${(error as Error).message}`);
    }
    server.on("upgrade", async (req: IncomingMessage, duplex: Duplex, head: Uint8Array) => {
      if (demo?.handleUpgrade(req, duplex, head) === true) return;
      const id = ++count;
      const socket = duplex as Socket; // what node:http hands over is the connection's socket
      const peer = `${socket.remoteAddress}:${socket.remotePort}`;
      let upgrade;
      try {
        upgrade = await handleNodeUpgrade(req, socket, head, echoOptions);
      } catch (error) {
        console.error(`#${id} error ${(error as Error).message}`);
        socket.destroy();
        return;
      }
      if (upgrade === undefined) {
        log(`#${id} refused ${peer} ${req.url} (not an acceptable WebSocket handshake)`);
        return;
      }
      await echo(id, peer, req.url ?? "/", upgrade, () => ({ read: socket.bytesRead, written: socket.bytesWritten }));
    });
    const listening = await new Promise<Error | undefined>((resolve) => {
      server.once("error", resolve);
      server.listen(listenPort, host, () => {
        server.off("error", resolve);
        resolve(undefined);
      });
    });
    if (listening !== undefined) {
      console.error(`${prefix}error: cannot listen on ${host}:${listenPort}: ${listening.message}`);
      await closeBackplane().catch(() => {});
      return 1;
    }
    server.on("error", (error) => console.error(`error: ${error.message}`));
    // A client that gives up on the TLS handshake (it does not trust the certificate, say).
    server.on("tlsClientError", (error: Error, socket: Socket) => log(`tls error ${socket.remoteAddress}:${socket.remotePort} ${error.message}`));
    const bound = server.address() as AddressInfo;
    address = { address: bound.family === "IPv6" ? `[${bound.address}]` : bound.address, port: bound.port };
    stopListening = () => void server.close();
    closeServer = () => Promise.resolve();
  }
  const shown = address.address.includes(":") && !address.address.startsWith("[") ? `[${address.address}]` : address.address;
  const http = `http${s}://${shown}:${address.port}/`;
  if (cluster.isWorker) {
    log(`listening, pid ${process.pid}`);
    process.send?.("listening");
  } else {
    console.log(`Echo server listening on ws${s}://${shown}:${address.port}/ (${listeningNote(http, root, demoOn)})`);
  }
  log(engine === "raw" ? `engine: raw (${runtime === "bun" ? "listenBun" : "listenDeno"})` : "engine: node-http");

  let stopping = false;
  const stop = async () => {
    if (stopping) process.exit(0);
    stopping = true;
    stopListening();
    const closing = Promise.all([
      ...[...connections].map((connection) => connection.close(1001, "server shutting down")),
      demo?.close(),
    ]);
    await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 1000))]);
    await Promise.race([closeServer().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 500))]);
    await Promise.race([closeBackplane().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 500))]);
    process.exit(0);
  };
  // A worker leaves Ctrl-C (SIGINT to the whole process group) to its primary, which stops the workers with
  // SIGTERM and does not take their exits for crashes to restart from.
  process.on("SIGINT", cluster.isWorker ? () => {} : stop);
  process.on("SIGTERM", stop);
  // A worker whose primary is gone (killed with SIGKILL) stops too.
  if (cluster.isWorker) process.on("disconnect", stop);
  return undefined;
}

/** What the listening line says after the URL. */
function listeningNote(http: string, root: string | undefined, demoOn: boolean): string {
  if (root !== undefined) return `files from ${root}: ${http}`;
  return demoOn ? `chat demo: ${http}, test page: ${http}echo` : `test page: ${http}`;
}

/** A random key for the name cookie, made at each start (a restart then refuses the old cookies). */
function randomSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return btoa(String.fromCharCode(...bytes));
}

/** Binds port 0 for a moment to learn a free port (the workers must all be given the same one). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createTcpServer();
    probe.once("error", reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

interface PrimaryOptions {
  workers: number;
  host: string;
  port: number;
  secret: string;
  redisUrl: string | undefined;
  tls: boolean;
  demoOn: boolean;
  root: string | undefined;
  quiet: boolean;
}

/**
 * `--workers N`: forks N workers (each runs this command with the same flags, on the same port, with the
 * same cookie secret), prints the listening line once all listen, restarts a worker that dies after it
 * listened, and stops them all on SIGINT or SIGTERM. A worker that cannot start stops them all (exit 1).
 */
async function runPrimary(options: PrimaryOptions): Promise<number | undefined> {
  const { workers, host, secret, redisUrl, tls, demoOn, root, quiet } = options;
  const port = options.port === 0 ? await freePort(host) : options.port;
  const env = { WSENGINE_DEMO_SECRET: secret, WSENGINE_PORT: String(port) };
  let stopping = false;
  const listened = new Set<number>();
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    const exits = Object.values(cluster.workers ?? {}).map((worker) =>
      new Promise<void>((resolve) => {
        if (worker === undefined || worker.isDead()) return resolve();
        worker.once("exit", () => resolve());
        worker.process.kill("SIGTERM");
      })
    );
    await Promise.race([Promise.all(exits), new Promise((resolve) => setTimeout(resolve, 3000))]);
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGKILL");
    process.exit(code);
  };
  const started = new Promise<boolean>((resolve) => {
    cluster.on("message", (worker, message) => {
      if (message !== "listening" || listened.has(worker.id)) return;
      listened.add(worker.id);
      if (listened.size === workers) resolve(true);
    });
    cluster.on("exit", (worker, code, signal) => {
      if (stopping) return;
      if (!listened.has(worker.id)) {
        console.error(`error: worker ${worker.id} exited with ${signal ?? code} before it listened`);
        resolve(false);
        return;
      }
      if (!quiet) console.log(`worker ${worker.id} exited with ${signal ?? code}: starting another`);
      cluster.fork(env);
    });
  });
  for (let i = 0; i < workers; i++) cluster.fork(env);
  if (!await started) {
    await stopAll(1);
    return 1;
  }
  const s = tls ? "s" : "";
  const shown = host.includes(":") ? `[${host}]` : host;
  const http = `http${s}://${shown}:${port}/`;
  const pids = Object.values(cluster.workers ?? {}).map((worker) => worker?.process.pid).join(", ");
  console.log(
    `Echo server listening on ws${s}://${shown}:${port}/ (${listeningNote(http, root, demoOn)}; ${workers} workers, pids ${pids}${
      redisUrl !== undefined ? `, rooms over ${redisUrl}` : demoOn ? ", rooms per worker (no --redis)" : ""
    })`,
  );
  process.on("SIGINT", () => void stopAll(0));
  process.on("SIGTERM", () => void stopAll(0));
  return undefined;
}
