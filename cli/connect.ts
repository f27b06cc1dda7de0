/**
 * `cli.ts connect URL`: a WebSocket client for the terminal and for scripts (what wscat does): standard
 * input's lines out as messages (or `-x` messages), messages in as `< ` lines on standard output; what was
 * negotiated, pings, statistics and errors on standard error.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import process from "node:process";
import { createInterface } from "node:readline";
import type { ConnectionOptions as TlsOptions } from "node:tls";
import type { ClientConnection, ConnectOptions } from "../lib/client/connect_transport.ts";
import {
  deflateOptions,
  type FlagSpec,
  formatFlags,
  HELP_FLAG,
  heartbeatOption,
  lastValue,
  parseArgs,
  parseSeconds,
  parseSize,
  UsageError,
} from "./args.ts";
import { decodeLine, describePayload, type Encoding, encodeBytes, hexPreview } from "./encoding.ts";
import { formatBytes, formatRatio, FrameScanner, messages, type WireMessage } from "./wire_stats.ts";

/** The flags of `connect`. */
export const CONNECT_FLAGS: readonly FlagSpec[] = [
  { name: "protocol", short: "s", value: "NAME", repeat: true, help: "offer a subprotocol, the first preferred" },
  { name: "header", short: "H", value: "NAME:VALUE", repeat: true, help: "add a request header" },
  { name: "origin", short: "o", value: "ORIGIN", help: "send this Origin header" },
  { name: "auth", value: "USER:PASS", help: "HTTP Basic authorization (replaces an Authorization -H)" },
  { name: "ca", value: "FILE", help: "trust the CA certificate(s) in this PEM file (wss:)" },
  { name: "insecure", short: "k", help: "do not verify the server's certificate (wss:)" },
  { name: "execute", short: "x", value: "MESSAGE", repeat: true, help: "send MESSAGE instead of reading stdin, print the answers, close" },
  { name: "wait", short: "w", value: "SECONDS", help: "after the last message, wait this long for answers, then close" },
  { name: "ping", short: "P", help: "show pings and pongs (with the round trip); /ping, /pong, /close lines" },
  { name: "slash", help: "/ping [TEXT], /pong [TEXT], /close [CODE [REASON]] lines are commands" },
  { name: "binary", value: "hex|base64", help: "lines are decoded and sent as binary messages (below)" },
  { name: "show-stats", help: "per message: payload and bytes on the wire (below); totals at the end" },
  { name: "deflate", value: "PARAMS", help: 'the permessage-deflate offer, e.g. "client_max_window_bits=10" (below)' },
  { name: "no-deflate", help: "offer no compression" },
  { name: "max-message-size", value: "BYTES", help: "largest message accepted (k, m, g suffixes; default 16m)" },
  { name: "heartbeat", value: "INTERVAL,TIMEOUT", help: "ping after INTERVAL s of silence, give up TIMEOUT s later (25,20)" },
  { name: "no-heartbeat", help: "no keepalive pings" },
  HELP_FLAG,
];

/** The usage lines of `connect`. */
export const CONNECT_USAGE = "cli.ts connect URL [-s PROTOCOL]... [-H NAME:VALUE]... [-x MESSAGE]... [options]";

/** `connect --help`. */
export const CONNECT_HELP = `usage: ${CONNECT_USAGE}

Connects to a ws: or wss: URL. Each line of standard input is sent as a text message (or, with
--binary, decoded and sent as a binary message); each message received is printed on standard output
as "< message". What was negotiated, pings, statistics and errors go to standard error. At the end of
input (Ctrl-D) the connection is closed with 1000 once the answers are in (see --wait); Ctrl-C closes
it at once (twice: exits).

options:
${formatFlags(CONNECT_FLAGS)}

--wait: without it, the client waits until as many answers (messages, and pongs to /ping) came as
messages were sent, at most 2 s; -w 0 closes at once.
--deflate takes ";"-separated parameters: server_no_context_takeover, client_no_context_takeover,
server_max_window_bits=8..15, client_max_window_bits[=8..15], and the codec's level=0..9,
mem_level=1..9, threshold=BYTES (smaller messages are sent uncompressed).
--binary: hex takes pairs of hex digits (spaces allowed); base64 takes standard or URL-safe base64.
Received binary messages are printed in the same encoding; without --binary, as "<binary N bytes>" and
the first 32 bytes in hex.
--show-stats: "bytes on the wire" are the WebSocket frames' bytes (headers, masks, compressed
payloads), before TLS; the percentage is wire / payload.

exit codes:
  0  the connection closed with 1000 (Normal Closure) or 1005 (no code)
  1  the connection failed (refused, TLS, handshake refused: the server's status and body are
     printed) or closed with any other code (1006 abnormal, 1009 too big, 1011 ...)
  2  usage error: unknown flag, bad value, missing URL
`;

/** How long the client waits for answers after the last message, without --wait. */
const DEFAULT_ANSWER_WAIT = 2000;

const encoder = new TextEncoder();

function sizeOf(data: string | Uint8Array): number {
  return typeof data === "string" ? Buffer.byteLength(data, "utf8") : data.length;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `connect`.
 *
 * @param argv The arguments after `connect`.
 * @returns The exit code.
 * @throws {UsageError} For a wrong command line.
 */
export async function connect(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, CONNECT_FLAGS);
  if (args.flags.has("help")) {
    process.stdout.write(CONNECT_HELP);
    return 0;
  }
  if (args.positional.length === 0) throw new UsageError("connect needs a URL");
  if (args.positional.length > 1) throw new UsageError(`unexpected argument ${args.positional[1]}`);

  // Everything is checked before connecting: a usage error never costs a connection.
  const headers = new Headers();
  for (const header of args.values.get("header") ?? []) {
    const colon = header.indexOf(":");
    const name = header.slice(0, colon).trim();
    if (colon === -1 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new UsageError(`--header ${header} is not NAME:VALUE`);
    try {
      headers.append(name, header.slice(colon + 1).trim());
    } catch {
      throw new UsageError(`--header ${header}: the value is not a valid header value`);
    }
  }
  const origin = lastValue(args, "origin");
  if (origin !== undefined) headers.set("origin", origin);
  const auth = lastValue(args, "auth");
  if (auth !== undefined) {
    if (!auth.includes(":")) throw new UsageError(`--auth needs USER:PASSWORD`);
    headers.set("authorization", `Basic ${Buffer.from(auth, "utf8").toString("base64")}`);
  }
  const tls: TlsOptions = {};
  const caFile = lastValue(args, "ca");
  if (caFile !== undefined) {
    try {
      tls.ca = readFileSync(caFile, "utf8");
    } catch (error) {
      throw new UsageError(`--ca: cannot read ${caFile}: ${(error as Error).message}`);
    }
  }
  if (args.flags.has("insecure")) tls.rejectUnauthorized = false;
  const deflateValue = lastValue(args, "deflate");
  if (deflateValue !== undefined && args.flags.has("no-deflate")) throw new UsageError("--deflate and --no-deflate contradict each other");
  const deflate = args.flags.has("no-deflate") ? false as const : deflateOptions(deflateValue ?? "", "client");
  const maxSize = lastValue(args, "max-message-size");
  const options: ConnectOptions & { tls: TlsOptions } = {
    protocols: args.values.get("protocol") ?? [],
    headers,
    deflate,
    tls,
    heartbeat: heartbeatOption(args),
    ...(maxSize === undefined ? {} : { maxMessageSize: parseSize("--max-message-size", maxSize) }),
  };
  const encodingValue = lastValue(args, "binary");
  if (encodingValue !== undefined && encodingValue !== "hex" && encodingValue !== "base64") {
    throw new UsageError(`--binary ${encodingValue} is not hex or base64`);
  }
  const encoding = encodingValue as Encoding | undefined;
  const showPings = args.flags.has("ping");
  const slash = showPings || args.flags.has("slash");
  const showStats = args.flags.has("show-stats");
  const waitValue = lastValue(args, "wait");
  const wait = waitValue === undefined ? undefined : parseSeconds("--wait", waitValue);
  const execute = args.values.get("execute");
  if (execute !== undefined && encoding !== undefined) {
    for (const message of execute) {
      if (!(slash && message.startsWith("/")) && decodeLine(message, encoding) === undefined) {
        throw new UsageError(`--execute ${message} is not ${encoding}`);
      }
    }
  }

  // The library is loaded once the command line is known to be right: help and usage errors stay quick.
  let url: URL;
  try {
    url = (await import("../lib/handshake/client_handshake.ts")).parseWebSocketUrl(args.positional[0]);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }

  // Lines typed before the connection opens are queued, not lost.
  const queued: string[] = [];
  const input: { handle?: (line: string) => void } = {};
  let inputEnded = execute !== undefined;
  let onInputEnd: (() => void) | undefined;
  const lines = execute === undefined ? createInterface({ input: process.stdin, terminal: false }) : undefined;
  lines?.on("line", (line) => input.handle ? input.handle(line) : queued.push(line));
  lines?.on("close", () => {
    inputEnded = true;
    onInputEnd?.();
  });

  // --show-stats: the frames on the wire, matched in order with the messages sent and received.
  const totals = { sent: 0, sentPayload: 0, sentWire: 0, received: 0, receivedPayload: 0, receivedWire: 0 };
  const sentSizes: number[] = [];
  const receivedWire: WireMessage[] = [];
  const stat = (direction: string, payload: number, wire: WireMessage) =>
    console.error(
      `stats: ${direction} ${wire.binary ? "binary" : "text"} ${payload} B, ${wire.wire} B on the wire` +
        ` (${formatRatio(wire.wire, payload)}${wire.compressed ? ", compressed" : ""})`,
    );
  const out = new FrameScanner((wire) => {
    const payload = sentSizes.shift() ?? 0;
    totals.sentWire += wire.wire;
    stat(">", payload, wire);
  });
  const into = new FrameScanner((wire) => receivedWire.push(wire));

  let client: ClientConnection;
  try {
    client = showStats
      ? await (await import("./tapped_client.ts")).openTapped(url, options, (chunk) => into.push(chunk), (chunk) => out.push(chunk))
      : await (await import("../lib/adapters/node_client.ts")).connectNode(url, options);
  } catch (error) {
    lines?.close();
    console.error(`error: ${(error as Error).message}`);
    return 1;
  }
  const { connection, protocol, extensions } = client;
  const opened = performance.now();
  console.error(`connected to ${client.url.href}`);
  console.error(`protocol: ${protocol || "(none)"}`);
  console.error(`extensions: ${extensions || "(none)"}`);

  // Answers: messages received, and pongs to our pings, since the first thing sent.
  let expected = 0;
  let answered = 0;
  let onAnswer: (() => void) | undefined;
  const answer = () => {
    if (expected === 0) return;
    answered++;
    onAnswer?.();
  };

  connection.onmessage = (data, binary) => {
    const payload = sizeOf(data);
    totals.received++;
    totals.receivedPayload += payload;
    let text: string;
    if (typeof data === "string") text = data;
    else if (encoding !== undefined) text = encodeBytes(data, encoding);
    else text = `<binary ${data.length} bytes> ${hexPreview(data)}`;
    process.stdout.write(`< ${text}\n`);
    if (showStats) {
      const wire = receivedWire.shift();
      if (wire !== undefined) {
        totals.receivedWire += wire.wire;
        stat("<", payload, { ...wire, binary });
      }
    }
    answer();
  };
  connection.onerror = (error) => console.error(`error: ${error.message}`);

  // Pings: ours are recognised by their payload (the round trip); the heartbeat's by a new latency.
  const pingsSent = new Map<string, number[]>();
  let lastLatency = connection.latency;
  connection.onping = (data) => {
    if (showPings) console.error(`< ping${describePayload(data)} (answered with a pong)`);
  };
  connection.onpong = (data) => {
    const key = Buffer.from(data).toString("hex");
    const sentAt = pingsSent.get(key)?.shift();
    const latency = connection.latency;
    if (sentAt !== undefined) {
      if (showPings) console.error(`< pong${describePayload(data)} ${(performance.now() - sentAt).toFixed(1)} ms`);
      answer();
    } else if (showPings && !Object.is(latency, lastLatency)) {
      console.error(`< pong (heartbeat) ${latency.toFixed(1)} ms`);
    } else if (showPings) {
      console.error(`< pong${describePayload(data)} (unsolicited)`);
    }
    lastLatency = latency;
  };

  // What is sent goes out in order, each send waiting for the transport to take more (backpressure).
  let pending = Promise.resolve();
  const enqueue = (step: () => unknown) => {
    pending = pending.then(() => connection.readyState === 1 ? step() : undefined).then(
      () => {},
      (error) => console.error(`error: ${(error as Error).message}`),
    );
  };
  const send = (data: string | Uint8Array) => {
    expected++;
    totals.sent++;
    const size = sizeOf(data);
    totals.sentPayload += size;
    if (showStats) sentSizes.push(size);
    enqueue(() => connection.send(data));
  };
  const command = (line: string): void => {
    const [name, ...rest] = line.split(" ");
    const text = rest.join(" ");
    if (name === "/ping") {
      const payload = encoder.encode(text);
      if (payload.length > 125) {
        console.error("error: a ping carries at most 125 bytes");
        return;
      }
      const key = Buffer.from(payload).toString("hex");
      expected++;
      // Timed when it leaves, after the messages before it.
      enqueue(() => {
        pingsSent.set(key, [...(pingsSent.get(key) ?? []), performance.now()]);
        connection.ping(payload);
        if (showPings) console.error(`> ping${describePayload(payload)}`);
      });
    } else if (name === "/pong") {
      enqueue(() => connection.pong(text));
    } else if (name === "/close") {
      const code = rest[0] === undefined ? 1000 : Number(rest[0]);
      enqueue(() => connection.close(code, rest.slice(1).join(" ")));
    } else {
      console.error(`error: unknown command ${name} (/ping [TEXT], /pong [TEXT], /close [CODE [REASON]])`);
    }
  };
  let lineNumber = 0;
  input.handle = (line) => {
    lineNumber++;
    if (slash && line.startsWith("/")) return command(line);
    if (encoding === undefined) return send(line);
    const bytes = decodeLine(line, encoding);
    if (bytes === undefined) console.error(`error: line ${lineNumber} is not ${encoding}, not sent: ${line}`);
    else send(bytes);
  };
  for (const line of execute ?? queued.splice(0)) input.handle(line);

  const finish = async () => {
    await pending;
    if (wait !== undefined) {
      await sleep(wait);
    } else if (answered < expected) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, DEFAULT_ANSWER_WAIT);
        onAnswer = () => {
          if (answered < expected) return;
          clearTimeout(timer);
          resolve();
        };
      });
    }
    if (connection.readyState === 1) connection.close(1000);
  };
  if (inputEnded) finish();
  else onInputEnd = () => void finish();

  let interrupted = false;
  const onInterrupt = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    if (connection.readyState === 1) connection.close(1000);
  };
  process.on("SIGINT", onInterrupt);

  const { code, reason } = await connection.closed;
  process.off("SIGINT", onInterrupt);
  lines?.close();
  const seconds = ((performance.now() - opened) / 1000).toFixed(1);
  console.error(
    `closed: ${code}${reason ? ` ${JSON.stringify(reason)}` : ""} after ${seconds} s; sent ${messages(totals.sent)} (${formatBytes(totals.sentPayload)}),` +
      ` received ${totals.received} (${formatBytes(totals.receivedPayload)})`,
  );
  if (showStats) {
    console.error(
      `stats: sent ${messages(totals.sent)}, ${totals.sentPayload} B of payload in ${totals.sentWire} B on the wire` +
        ` (${formatRatio(totals.sentWire, totals.sentPayload)}); received ${totals.received}, ${totals.receivedPayload} B in` +
        ` ${totals.receivedWire} B (${formatRatio(totals.receivedWire, totals.receivedPayload)})`,
    );
    console.error(
      `stats: control frames ${out.controlFrames} out (${out.controlBytes} B), ${into.controlFrames} in` +
        ` (${into.controlBytes} B); handshake ${out.headBytes} B out, ${into.headBytes} B in`,
    );
  }
  return code === 1000 || code === 1005 ? 0 : 1;
}
