/**
 * Load client for bench/fanout_bench.ts: Bun's built-in WebSocket holds every connection (subscribers,
 * the publisher, the chat clients), so one clock times publish-to-receive. It speaks plain WebSocket, or
 * for socket.io the engine.io v4 protocol over the websocket transport directly (`0{...}` open, `40`
 * connect, `42["msg",data]` events, `2` pings answered with `3`). It reads the server's CPU and RSS from
 * /proc, and the bytes its subscribers' sockets received from the kernel (`ss -ti`: bytes_received, so
 * frame headers and compression count and the HTTP head does not).
 *
 *   bun bench/fanout/load_client.ts URL PROTOCOL(ws|socketio) COMPRESS(0|1) SERVER_PID
 *
 * Then one JSON command a line on stdin, each answered by one JSON line on stdout (`{"error":...}` if it
 * failed):
 * - `{"cmd":"connect","subscribers":N}`: N subscribers and one publisher; a roll call (one message that
 *   every subscriber must receive) checks that all are subscribed.
 * - `{"cmd":"broadcast","size":B,"seconds":S,"warmup":W,"window":K,"queueMs":T,"quorum":Q,"slow":false}`:
 *   the publisher keeps at most K messages in flight and at most T ms of the server's work (K adapts to
 *   the interval at which messages are done), a message being done once a fraction Q of the subscribers
 *   received it; W seconds unmeasured first, then S seconds measured, then a drain until every subscriber
 *   has every message (or 2 s without one). `slow`: one more subscriber, a raw socket that reads nothing
 *   after the handshake (paused), for the measured part. `limit` (optional): the measured part ends after
 *   that many messages, or after S seconds if sooner.
 * - `{"cmd":"disconnect"}`: closes the subscribers and the publisher.
 * - `{"cmd":"chat","clients":C,"messages":M,"size":B,"maxSeconds":T}`: one round of the chat method (C
 *   clients, connected for the first round and kept; each sends its M messages at once; the round ends
 *   when every client has every other client's messages, or is cut after T s, leaving a backlog at the
 *   server: the bench then ends that server).
 * - `{"cmd":"exit"}`.
 *
 * Every message is JSON of exactly B bytes that begins `{"seq":<9 digits>,"ts":<13 digits>,` (ts:
 * 10^12 + performance.now() in microseconds at send time).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import process from "node:process";
import { createInterface } from "node:readline";

const [urlArg, protocol, compressArg, pidArg] = process.argv.slice(2);
const compress = compressArg === "1";
const serverPid = Number(pidArg);
const serverPort = Number(new URL(urlArg).port);
const url = protocol === "socketio"
  ? `${urlArg.replace(/^http/, "ws").replace(/\/$/, "")}/socket.io/?EIO=4&transport=websocket`
  : urlArg;

// ---- messages ----

const HEAD_LENGTH = 36; // {"seq":100000001,"ts":1000012345678,
const TYPES = ["trade", "quote", "chat", "update", "presence", "order"];
const NAMES = [
  "alice",
  "bob",
  "carol",
  "dave",
  "erin",
  "frank",
  "grace",
  "heidi",
  "ivan",
  "judy",
  "mallory",
  "oscar",
];
const WORDS = [
  "the",
  "price",
  "moved",
  "after",
  "news",
  "from",
  "market",
  "open",
  "buy",
  "sell",
  "order",
  "filled",
  "partial",
  "cancel",
  "room",
  "joined",
  "left",
  "hello",
  "world",
  "latency",
  "update",
  "ticket",
  "sent",
];
const SIDES = ["buy", "sell"];

/** The part after the head: realistic JSON (a user, items, a note), different for every seq, `size - 36` bytes. */
function body(size: number, seq: number): string {
  const target = size - HEAD_LENGTH;
  let x = (Math.imul(seq + 1, 2654435761) >>> 0) || 1;
  const next = (n: number) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % n;
  };
  const words = (count: number) => Array.from({ length: count }, () => WORDS[next(WORDS.length)]).join(" ");
  const padMin = 9; // "pad":""}
  let out = "";
  for (
    const piece of [
      `"type":"${TYPES[next(TYPES.length)]}",`,
      `"room":"room",`,
      `"user":{"id":${next(100000)},"name":"${NAMES[next(NAMES.length)]}"},`,
    ]
  ) {
    if (out.length + piece.length + padMin <= target) out += piece;
  }
  let items = "";
  for (;;) {
    const item =
      `{"id":${next(1000000)},"sku":"SKU-${next(10000)}","price":${(next(100000) / 100).toFixed(2)},` +
      `"qty":${next(20) + 1},"side":"${SIDES[next(2)]}","note":"${words(3 + next(5))}"}`;
    const sep = items === "" ? "" : ",";
    if (out.length + 9 + items.length + sep.length + item.length + 2 + padMin > target) break;
    items += sep + item;
  }
  if (items !== "") out += `"items":[${items}],`;
  let pad = "";
  while (out.length + padMin + pad.length < target) pad += WORDS[next(WORDS.length)] + " ";
  return `${out}"pad":"${pad.slice(0, target - out.length - padMin)}"}`;
}

const nowMicros = () => Math.round(performance.now() * 1000);
let nextSeq = 0;
/** The next message, stamped now. */
function message(size: number): string {
  const seq = nextSeq++;
  return `{"seq":${100000000 + seq},"ts":${1e12 + nowMicros()},${body(size, seq)}`;
}

// ---- latency histogram: 10 us buckets to 100 ms, then 1 ms buckets to 60 s ----

class Histogram {
  readonly #counts = new Uint32Array(10000 + 59900);
  #total = 0;
  add(us: number): void {
    const bucket = us < 100_000
      ? Math.floor(Math.max(0, us) / 10)
      : Math.min(this.#counts.length - 1, 10000 + Math.floor((us - 100_000) / 1000));
    this.#counts[bucket]++;
    this.#total++;
  }
  /** The q-quantile in microseconds (bucket middle). */
  at(q: number): number {
    if (this.#total === 0) return NaN;
    const rank = Math.min(this.#total - 1, Math.floor(q * this.#total));
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i];
      if (seen > rank) return i < 10000 ? i * 10 + 5 : 100_000 + (i - 10000) * 1000 + 500;
    }
    return NaN;
  }
}

// ---- one run of publishes: counts deliveries per message ----

interface Run {
  /** seq of its first message. */
  base: number;
  /** Deliveries per message of this run (index seq - base). */
  counts: Int32Array;
  sent: number;
  /** Deliveries a message completes with. */
  readers: number;
  /** Deliveries after which a message leaves the publisher's window. */
  quorum: number;
  delivered: number;
  lastDelivery: number;
  histogram: Histogram;
  onQuorum(): void;
  onDelivery(): void;
}
let run: Run | undefined;

function newRun(readers: number, quorum: number, onQuorum: () => void, onDelivery: () => void): Run {
  return {
    base: nextSeq,
    counts: new Int32Array(1 << 16),
    sent: 0,
    readers,
    quorum,
    delivered: 0,
    lastDelivery: performance.now(),
    histogram: new Histogram(),
    onQuorum,
    onDelivery,
  };
}

/** Notes one more message sent in the current run (grows the counts). */
function noteSent(r: Run): void {
  if (r.sent === r.counts.length) {
    const bigger = new Int32Array(r.counts.length * 2);
    bigger.set(r.counts);
    r.counts = bigger;
  }
  r.sent++;
}

/** A message arrived at a subscriber: its text (or its first bytes) holds seq and ts. */
function deliver(text: string): void {
  const r = run;
  if (r === undefined) return;
  const at = text.indexOf('"seq":');
  if (at === -1) return;
  let seq = 0, ts = 0;
  for (let k = at + 6; k < at + 15; k++) seq = seq * 10 + text.charCodeAt(k) - 48;
  for (let k = at + 21; k < at + 34; k++) ts = ts * 10 + text.charCodeAt(k) - 48;
  const index = seq - 100000000 - r.base;
  if (index < 0 || index >= r.sent) return; // a straggler of an earlier run
  const now = nowMicros();
  r.histogram.add(now - (ts - 1e12));
  r.delivered++;
  r.lastDelivery = now / 1000;
  if (++r.counts[index] === r.quorum) r.onQuorum();
  r.onDelivery();
}

function textOf(data: unknown): string {
  if (typeof data === "string") return data;
  const bytes = new Uint8Array(data as ArrayBuffer, 0, Math.min(64, (data as ArrayBuffer).byteLength));
  return String.fromCharCode(...bytes);
}

// ---- connections ----

interface Peer {
  ws: WebSocket;
  send(text: string): void;
}

/** Opens one connection (for socket.io: through the namespace connect); every message it gets is a delivery. */
function open(): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: compress } as unknown as string[]);
    ws.binaryType = "arraybuffer";
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error(`no connection to ${url} within 10 s`));
    }, 10_000);
    const ready = () => {
      clearTimeout(timer);
      resolve(peer);
    };
    const peer: Peer = protocol === "socketio"
      ? { ws, send: (text) => ws.send(`42["msg",${text}]`) }
      : { ws, send: (text) => ws.send(text) };
    ws.onerror = () => {
      clearTimeout(timer);
      reject(new Error(`cannot connect to ${url}`));
    };
    if (protocol === "socketio") {
      ws.onmessage = (event) => {
        const data = event.data as string;
        switch (data.charCodeAt(0)) {
          case 0x32: // "2": ping
            ws.send("3");
            break;
          case 0x30: // "0": open; connect to the default namespace
            ws.send("40");
            break;
          case 0x34: // "4": a message; "40" connected, "42" an event
            if (data.charCodeAt(1) === 0x32) deliver(data);
            else if (data.charCodeAt(1) === 0x30) ready();
            break;
        }
      };
    } else {
      ws.onopen = ready;
      ws.onmessage = (event) => deliver(textOf(event.data));
    }
  });
}

async function openMany(count: number): Promise<Peer[]> {
  const peers: Peer[] = [];
  try {
    for (let i = 0; i < count; i += 50) {
      peers.push(...await Promise.all(Array.from({ length: Math.min(50, count - i) }, open)));
    }
  } catch (error) {
    await closeAll(peers);
    throw error;
  }
  return peers;
}

/** Closes and waits for every close event (at most 5 s). */
async function closeAll(peers: Peer[]): Promise<void> {
  await Promise.race([
    Promise.all(peers.map((peer) =>
      new Promise<void>((resolve) => {
        if (peer.ws.readyState === WebSocket.CLOSED) return resolve();
        peer.ws.addEventListener("close", () => resolve());
        peer.ws.close();
      })
    )),
    new Promise((resolve) => setTimeout(resolve, 5000)),
  ]);
}

/** Bytes the slow subscriber read before it paused (the HTTP head, socket.io's open and connect). */
let slowHeadBytes = 0;

/** A subscriber that never reads: a raw socket paused right after the handshake (and socket.io's connect). */
function openSlow(): Promise<net.Socket> {
  slowHeadBytes = 0;
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: target.hostname, port: Number(target.port), noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("the slow subscriber did not connect within 5 s"));
    }, 5000);
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("connect", () =>
      socket.write(
        `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
          (compress ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" : "") +
          "\r\n",
      ));
    let buffer = Buffer.alloc(0), upgraded = false, frames = 0;
    const done = () => {
      clearTimeout(timer);
      socket.pause();
      socket.removeAllListeners("data");
      // Bun may hold what it read already; the kernel buffers fill, then the server's.
      resolve(socket);
    };
    socket.on("data", (chunk: Buffer) => {
      slowHeadBytes += chunk.length;
      buffer = Buffer.concat([buffer, chunk]);
      if (!upgraded) {
        const end = buffer.indexOf("\r\n\r\n");
        if (end === -1) return;
        const head = buffer.subarray(0, end).toString("latin1");
        if (!head.startsWith("HTTP/1.1 101")) {
          clearTimeout(timer);
          socket.destroy();
          return reject(new Error(`the slow subscriber was refused: ${head.split("\r\n")[0]}`));
        }
        upgraded = true;
        buffer = buffer.subarray(end + 4);
        if (protocol !== "socketio") return void setTimeout(done, 50);
        // "40", masked (key 0): the namespace connect; the server answers 40{"sid":...} and joins the room.
        socket.write(new Uint8Array([0x81, 0x82, 0, 0, 0, 0, 0x34, 0x30]));
      }
      if (protocol !== "socketio") return;
      // Whole frames (compressed or not): 0{...} (open), then 40{...} (connected).
      while (buffer.length >= 2) {
        const length7 = buffer[1] & 0x7f;
        const header = length7 === 126 ? 4 : length7 === 127 ? 10 : 2;
        if (buffer.length < header) break;
        const length = length7 === 126
          ? buffer.readUInt16BE(2)
          : length7 === 127
          ? Number(buffer.readBigUInt64BE(2))
          : length7;
        if (buffer.length < header + length) break;
        buffer = buffer.subarray(header + length);
        if (++frames === 2) return void setTimeout(done, 50);
      }
    });
  });
}

// ---- measurement ----

function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

function rssKiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) : NaN;
}

/** Bytes received by this process's sockets to the server (kernel counters), but those on `skipPorts`; how many. */
function wireBytes(skipPorts: number[] = []): { bytes: number; sockets: number } {
  const result = spawnSync("ss", ["-tinH", "state", "established", `( dport = :${serverPort} )`], {
    encoding: "utf8",
  });
  let total = 0, sockets = 0, skip = false;
  for (const line of result.stdout.split("\n")) {
    if (line === "") continue;
    if (!/^\s/.test(line)) {
      const local = line.trim().split(/\s+/)[2] ?? "";
      skip = skipPorts.includes(Number(local.slice(local.lastIndexOf(":") + 1)));
      continue;
    }
    const match = /bytes_received:(\d+)/.exec(line);
    if (!skip) sockets++;
    if (match && !skip) total += Number(match[1]);
  }
  return { bytes: total, sockets };
}

/**
 * Where the slow subscriber stands: its socket's state on both ends and the bytes the kernel holds for it
 * (received on its side, never read, plus the server socket's Send-Q). Its end stays ESTABLISHED when the
 * server closed: the server's FIN waits behind the data it never reads; the server's end shows it.
 */
function slowState(localPort: number): {
  slowState: string;
  slowServerState: string;
  slowKernelBytes: number;
  slowReceivedBytes: number;
  slowSendQBytes: number;
  slowHeadBytes: number;
} {
  const mine =
    spawnSync("ss", ["-tinH", "state", "all", `( sport = :${localPort} and dport = :${serverPort} )`], {
      encoding: "utf8",
    }).stdout;
  const theirs =
    spawnSync("ss", ["-tnH", "state", "all", `( sport = :${serverPort} and dport = :${localPort} )`], {
      encoding: "utf8",
    }).stdout;
  const state = mine.trim().split(/\s+/)[0] || "gone";
  const [serverState = "gone", , sendQ = "0"] = theirs.trim().split(/\s+/);
  const received = Number(/bytes_received:(\d+)/.exec(mine)?.[1] ?? 0);
  return {
    slowState: state,
    slowServerState: serverState || "gone",
    slowKernelBytes: received + (Number(sendQ) || 0),
    slowReceivedBytes: received,
    slowSendQBytes: Number(sendQ) || 0,
    slowHeadBytes,
  };
}

interface Measure {
  stop(end: number, r: Run): Record<string, number | null>;
}

/** Busy CPU time of the whole machine in microseconds (/proc/stat: all but idle and iowait). */
function machineMicros(): number {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1, 9).map(
    Number,
  );
  return (fields.reduce((a, b) => a + b, 0) - fields[3] - fields[4]) * 10_000;
}

function measure(skipPorts: number[] = []): Measure {
  const wire0 = wireBytes(skipPorts);
  const machine0 = machineMicros();
  const rss0 = rssKiB(serverPid);
  let rssPeak = rss0;
  const rssTimer = setInterval(() => {
    try {
      rssPeak = Math.max(rssPeak, rssKiB(serverPid));
    } catch { /* the server has gone */ }
  }, 20);
  const client0 = process.cpuUsage();
  const cpu0 = cpuMicros(serverPid);
  const start = performance.now();
  return {
    stop(end, r) {
      const wall = (performance.now() - start) / 1000;
      const cpu = cpuMicros(serverPid) - cpu0;
      const client = process.cpuUsage(client0);
      const machine = machineMicros() - machine0;
      clearInterval(rssTimer);
      const rssEnd = rssKiB(serverPid);
      rssPeak = Math.max(rssPeak, rssEnd);
      const wire1 = wireBytes(skipPorts);
      return {
        delivered: r.delivered,
        expected: r.sent * r.readers,
        published: r.sent,
        seconds: (end - start) / 1000,
        // From the start to now (the CPU figures' span; `seconds` ends at the last delivery).
        wallSeconds: wall,
        p50us: r.histogram.at(0.5),
        p99us: r.histogram.at(0.99),
        serverCpuMicros: cpu,
        clientCpuMicros: client.user + client.system,
        // What else ran meanwhile (this machine may be shared): all busy CPU but the server's and the client's.
        othersCpuMicros: Math.max(0, machine - cpu - (client.user + client.system)),
        // A socket the server closed meanwhile takes its count with it: then no figure.
        wireBytes: wire1.sockets < wire0.sockets ? null : wire1.bytes - wire0.bytes,
        socketsClosed: Math.max(0, wire0.sockets - wire1.sockets),
        rssBeforeKiB: rss0,
        rssPeakKiB: rssPeak,
        rssEndKiB: rssEnd,
      };
    },
  };
}

/**
 * Publishes for `seconds` (or `limit` messages), then waits until every reader has every message or none
 * arrived for 2 s. Resolves with the run. In flight: at most `window` messages, and at most `queueMs` of
 * the server's work: the window starts at 1 and is `queueMs` over the mean interval between messages
 * reaching the quorum (the server's time per publish once it is busy), between 1 and `window`.
 */
function publish(
  publisher: Peer,
  readers: number,
  size: number,
  seconds: number,
  window: number,
  quorum: number,
  queueMs: number,
  limit = Infinity,
): Promise<Run & { meanWindow: number }> {
  return new Promise((resolve) => {
    let running = true, inFlight = 0, lastQuorum = NaN, interval = NaN, windowSum = 0, sends = 0;
    const r: Run = newRun(readers, Math.max(1, Math.min(readers, Math.ceil(quorum * readers))), () => {
      const now = performance.now();
      if (!Number.isNaN(lastQuorum)) {
        interval = Number.isNaN(interval) ? now - lastQuorum : 0.8 * interval + 0.2 * (now - lastQuorum);
      }
      lastQuorum = now;
      inFlight--;
      fill();
    }, () => {
      if (!running && r.delivered === r.sent * r.readers) finish();
    });
    const fill = () => {
      const allowed = Number.isNaN(interval)
        ? 1
        : Math.max(1, Math.min(window, Math.floor(queueMs / Math.max(interval, 1e-3))));
      while (running && inFlight < allowed && r.sent < limit) {
        inFlight++;
        windowSum += allowed;
        sends++;
        noteSent(r);
        publisher.send(message(size));
      }
      if (r.sent >= limit) running = false;
    };
    let finished = false;
    const stopTimer = setTimeout(() => running = false, seconds * 1000);
    const watchdog = setInterval(() => {
      // Nothing for 2 s: a drain that will not complete (a dropping server), or a stalled server.
      if (performance.now() - r.lastDelivery > 2000) finish();
    }, 100);
    function finish(): void {
      if (finished) return;
      finished = true;
      running = false;
      clearTimeout(stopTimer);
      clearInterval(watchdog);
      run = undefined;
      resolve(Object.assign(r, { meanWindow: sends === 0 ? 0 : windowSum / sends }));
    }
    run = r;
    fill();
  });
}

// ---- commands ----

let subscribers: Peer[] = [], publisher: Peer | undefined, chatClients: Peer[] = [];

async function connect(count: number): Promise<object> {
  subscribers = await openMany(count);
  publisher = (await openMany(1))[0];
  await new Promise((resolve) => setTimeout(resolve, 100));
  const roll = await publish(publisher, count, 64, 60, 1, 1, Infinity, 1);
  if (roll.delivered !== count) {
    throw new Error(`${roll.delivered} of ${count} subscribers got the roll call`);
  }
  return { subscribers: count, extensions: subscribers[0].ws.extensions };
}

interface BroadcastCommand {
  size: number;
  seconds: number;
  warmup: number;
  window: number;
  queueMs: number;
  quorum: number;
  slow: boolean;
  /** At most this many messages in the measured part (the slow scenario: a share that fills the kernel). */
  limit?: number;
  /**
   * The slow scenario, ours: at the end of the measured part (the slow one still there), a SIGUSR2 to the
   * server, which then collects its garbage and keeps its memory for the next counters line.
   */
  gc?: boolean;
}

async function broadcast(command: BroadcastCommand): Promise<object> {
  if (publisher === undefined) throw new Error("not connected");
  const readers = subscribers.length;
  let slow: net.Socket | undefined;
  try {
    const { size, window, quorum, queueMs } = command;
    if (command.warmup > 0) await publish(publisher, readers, size, command.warmup, window, quorum, queueMs);
    if (command.slow) slow = await openSlow();
    const m = measure(slow === undefined ? [] : [slow.localPort!]);
    const r = await publish(
      publisher,
      readers,
      size,
      command.seconds,
      window,
      quorum,
      queueMs,
      command.limit ?? Infinity,
    );
    const result = { ...m.stop(r.lastDelivery, r), window: r.meanWindow };
    const state = slow === undefined ? {} : slowState(slow.localPort!);
    if (command.gc) {
      process.kill(serverPid, "SIGUSR2");
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
    return { ...result, ...state };
  } finally {
    slow?.destroy();
    if (slow !== undefined) await settle();
  }
}

/** Waits until the server uses less than 10% of a core over 250 ms (at most 20 s). */
async function settle(): Promise<void> {
  const until = performance.now() + 20_000;
  let before = cpuMicros(serverPid);
  while (performance.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = cpuMicros(serverPid);
    if (now - before < 25_000) return;
    before = now;
  }
}

async function chat(clients: number, messages: number, size: number, maxSeconds: number): Promise<object> {
  if (chatClients.length !== clients) {
    await closeAll(chatClients);
    chatClients = await openMany(clients);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const m = measure();
  const r = await new Promise<Run>((resolve) => {
    const r = newRun(clients - 1, Infinity, () => {}, () => {
      if (r.delivered === r.sent * r.readers) finish();
    });
    const watchdog = setInterval(() => {
      if (performance.now() - r.lastDelivery > 2000) finish();
    }, 100);
    const cut = setTimeout(finish, maxSeconds * 1000);
    let finished = false;
    function finish(): void {
      if (finished) return;
      finished = true;
      clearInterval(watchdog);
      clearTimeout(cut);
      run = undefined;
      resolve(r);
    }
    run = r;
    // Bun's chat client: every client sends its batch at once.
    for (const client of chatClients) {
      for (let i = 0; i < messages; i++) {
        noteSent(r);
        client.send(message(size));
      }
    }
  });
  return m.stop(r.lastDelivery, r);
}

async function execute(command: { cmd: string } & Record<string, unknown>): Promise<object> {
  switch (command.cmd) {
    case "connect":
      return await connect(command.subscribers as number);
    case "broadcast":
      return await broadcast(command as unknown as BroadcastCommand);
    case "disconnect":
      await closeAll([...subscribers, ...(publisher ? [publisher] : [])]);
      subscribers = [];
      publisher = undefined;
      return {};
    case "chat":
      return await chat(
        command.clients as number,
        command.messages as number,
        command.size as number,
        command.maxSeconds as number,
      );
    case "exit":
      await closeAll([...subscribers, ...(publisher ? [publisher] : []), ...chatClients]);
      process.stdout.write("{}\n");
      process.exit(0);
      break;
  }
  throw new Error(`unknown command ${command.cmd}`);
}

const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
// No more commands (or the bench went away): finish the one under way, close everything and go.
lines.on("close", () => void queue.then(() => execute({ cmd: "exit" })));
lines.on("line", (line) => {
  queue = queue.then(async () => {
    let answer: object;
    try {
      answer = await execute(JSON.parse(line));
    } catch (error) {
      answer = { error: (error as Error).message };
    }
    process.stdout.write(JSON.stringify(answer) + "\n");
  });
});
