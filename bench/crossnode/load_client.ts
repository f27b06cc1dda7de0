/**
 * Load client for bench/crossnode_bench.ts: Bun's built-in WebSocket holds every connection (publishers on
 * one node, subscribers on another), so one clock times publish-to-receive across the nodes and Redis. It
 * speaks plain WebSocket to ours, or engine.io v4 over the websocket transport to socket.io (`0{...}` open,
 * `40` connect, `42["msg",data]` events, `2` pings answered with `3`), as bench/fanout/load_client.ts
 * does; the messages are the same (realistic JSON of exactly the payload size, its send time inside).
 *
 *   bun bench/crossnode/load_client.ts PROTOCOL(ws|socketio)
 *
 * A connection's role is in its URL's query, which the server scripts read: `role=sub&room=rK` (joins
 * room rK), `role=pub&room=rK` (what it sends is published to rK), `role=sub&topics=FIRST:COUNT` (joins
 * tFIRST..), `role=pub&rotate=N` (its k-th message goes to topic t(k mod N)).
 *
 * One JSON command a line on stdin, each answered by one JSON line on stdout (`{"error":...}` if it failed):
 * - `{"cmd":"connect","rooms":R,"members":M,"subUrls":[...],"pubUrls":[...]}`: room r gets M subscribers
 *   on subUrls[r % length] and one publisher on pubUrls[r % length]; a roll call (a message per room, sent
 *   again to the rooms not complete, up to 20 rounds) checks that every subscriber is reached.
 * - `{"cmd":"run","size":B,"seconds":S,"warmup":W,"window":K,"queueMs":T,"quorum":Q,"perRoom":N,"pids":{...}}`:
 *   message i goes to room i mod R; at most K messages in flight and T ms of work (K adapts, as in the
 *   fan-out bench), a message leaving once Q of its room's subscribers have it; W s unmeasured, then S s
 *   measured (or N messages per room when N > 0), then a drain. CPU of each pid in `pids` from /proc.
 * - `{"cmd":"faultConnect","topics":N,"perConnection":P,"subUrl":U,"pubUrl":V}`: N/P subscribers of P
 *   topics each, one rotating publisher; a roll call of one message per topic.
 * - `{"cmd":"faultRun","size":B,"rate":X,"seconds":S}`: X messages a second, round the topics, for S s, then
 *   a drain (until all arrived or 2 s without a delivery). `{"cmd":"faultReport","from":F,"to":T}` (epoch
 *   ms): what was lost, and which topics had a message sent within [F, T].
 * - `{"cmd":"exit"}`.
 *
 * @module
 */

import process from "node:process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

const protocol = process.argv[2] === "socketio" ? "socketio" : "ws";

// ---- messages (as bench/fanout/load_client.ts) ----

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
/** The next message, stamped now; its seq. */
function message(size: number): [string, number] {
  const seq = nextSeq++;
  return [`{"seq":${100000000 + seq},"ts":${1e12 + nowMicros()},${body(size, seq)}`, seq];
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

// ---- a run: deliveries per message ----

interface Run {
  base: number;
  counts: Int32Array;
  sent: number;
  readers: number;
  quorum: number;
  delivered: number;
  /** performance.now() of the last delivery. */
  lastDelivery: number;
  histogram: Histogram;
  onQuorum(index: number): void;
  onDelivery(): void;
}
let run: Run | undefined;

function newRun(
  readers: number,
  quorum: number,
  onQuorum: (index: number) => void,
  onDelivery: () => void,
): Run {
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

function noteSent(r: Run): void {
  if (r.sent === r.counts.length) {
    const bigger = new Int32Array(r.counts.length * 2);
    bigger.set(r.counts);
    r.counts = bigger;
  }
  r.sent++;
}

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
  if (++r.counts[index] === r.quorum) r.onQuorum(index);
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
  /** Messages sent on it (the server's rotation counts the same). */
  sent: number;
}

/** The WebSocket URL for a server's base URL and a query. */
function urlOf(base: string, query: string): string {
  return protocol === "socketio"
    ? `${base.replace(/^http/, "ws").replace(/\/$/, "")}/socket.io/?EIO=4&transport=websocket&${query}`
    : `${base.replace(/\/$/, "")}/?${query}`;
}

function open(url: string): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error(`no connection to ${url} within 20 s`));
    }, 20_000);
    const ready = () => {
      clearTimeout(timer);
      resolve(peer);
    };
    const peer: Peer = protocol === "socketio"
      ? {
        ws,
        sent: 0,
        send(text) {
          this.sent++;
          ws.send(`42["msg",${text}]`);
        },
      }
      : {
        ws,
        sent: 0,
        send(text) {
          this.sent++;
          ws.send(text);
        },
      };
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
          case 0x34: // "4": "40" connected, "42" an event
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

async function openMany(urls: string[]): Promise<Peer[]> {
  const peers: Peer[] = [];
  try {
    for (let i = 0; i < urls.length; i += 50) {
      peers.push(...await Promise.all(urls.slice(i, i + 50).map(open)));
    }
  } catch (error) {
    await closeAll(peers);
    throw error;
  }
  return peers;
}

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

// ---- measurement ----

function cpuMicros(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return NaN;
  }
}

function machineMicros(): number {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1, 9).map(
    Number,
  );
  return (fields.reduce((a, b) => a + b, 0) - fields[3] - fields[4]) * 10_000;
}

function measure(pids: Record<string, number>) {
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMicros(pid)]));
  const machine0 = machineMicros();
  const client0 = process.cpuUsage();
  const start = performance.now();
  return {
    stop(r: Run) {
      const wall = (performance.now() - start) / 1000;
      const cpu: Record<string, number> = {};
      let servers = 0;
      for (const [name, pid] of Object.entries(pids)) {
        cpu[name] = cpuMicros(pid) - before[name];
        servers += cpu[name];
      }
      const client = process.cpuUsage(client0);
      const machine = machineMicros() - machine0;
      return {
        delivered: r.delivered,
        expected: r.sent * r.readers,
        published: r.sent,
        seconds: (r.lastDelivery - start) / 1000,
        wallSeconds: wall,
        p50us: r.histogram.at(0.5),
        p99us: r.histogram.at(0.99),
        cpu,
        clientCpuMicros: client.user + client.system,
        othersCpuMicros: Math.max(0, machine - servers - client.user - client.system),
      };
    },
  };
}

// ---- rooms ----

let subscribers: Peer[][] = [], publishers: Peer[] = [];

/**
 * Publishes round the rooms for `seconds` (or `limit` messages), then waits until every subscriber has
 * every message or none arrived for 2 s. In flight: at most `window` messages and `queueMs` of work.
 */
function publish(
  readers: number,
  size: number,
  seconds: number,
  window: number,
  quorum: number,
  queueMs: number,
  limit = Infinity,
  rooms: number[] = publishers.map((_, i) => i),
): Promise<Run & { meanWindow: number; perRoom: number[] }> {
  return new Promise((resolve) => {
    let running = true, inFlight = 0, lastQuorum = NaN, interval = NaN, windowSum = 0, sends = 0, turn = 0;
    const perRoom = publishers.map(() => 0);
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
        ? Math.min(window, rooms.length)
        : Math.max(1, Math.min(window, Math.floor(queueMs / Math.max(interval, 1e-3))));
      while (running && inFlight < allowed && r.sent < limit) {
        inFlight++;
        windowSum += allowed;
        sends++;
        noteSent(r);
        const room = rooms[turn++ % rooms.length];
        perRoom[room]++;
        publishers[room].send(message(size)[0]);
      }
      if (r.sent >= limit) running = false;
    };
    let finished = false;
    const stopTimer = setTimeout(() => running = false, seconds * 1000);
    const watchdog = setInterval(() => {
      if (performance.now() - r.lastDelivery > 2000) finish();
    }, 100);
    function finish(): void {
      if (finished) return;
      finished = true;
      running = false;
      clearTimeout(stopTimer);
      clearInterval(watchdog);
      run = undefined;
      resolve(Object.assign(r, { meanWindow: sends === 0 ? 0 : windowSum / sends, perRoom }));
    }
    run = r;
    fill();
  });
}

async function connect(
  rooms: number,
  members: number,
  subUrls: string[],
  pubUrls: string[],
): Promise<object> {
  await closeAll([...subscribers.flat(), ...publishers]);
  const subUrlList: string[] = [];
  for (let r = 0; r < rooms; r++) {
    for (let m = 0; m < members; m++) {
      subUrlList.push(urlOf(subUrls[r % subUrls.length], `role=sub&room=r${r}`));
    }
  }
  const subs = await openMany(subUrlList);
  subscribers = Array.from({ length: rooms }, (_, r) => subs.slice(r * members, (r + 1) * members));
  publishers = await openMany(
    Array.from({ length: rooms }, (_, r) => urlOf(pubUrls[r % pubUrls.length], `role=pub&room=r${r}`)),
  );
  // Roll call: one message per room not yet complete; a room is complete when a message reached all of its
  // members (subscriptions reach Redis a moment after the connection opens).
  let missing = publishers.map((_, i) => i);
  for (let round = 0; round < 20 && missing.length > 0; round++) {
    if (round > 0) await new Promise((resolve) => setTimeout(resolve, 250));
    const done = new Set<number>();
    await new Promise<Run>((resolve) => {
      const rr = newRun(members, members, (index) => done.add(missing[index]), () => {
        if (rr.delivered === rr.sent * rr.readers) finish();
      });
      const timer = setTimeout(finish, 3000);
      function finish(): void {
        clearTimeout(timer);
        run = undefined;
        resolve(rr);
      }
      run = rr;
      for (const room of missing) {
        noteSent(rr);
        publishers[room].send(message(64)[0]);
      }
    });
    missing = missing.filter((room) => !done.has(room));
  }
  if (missing.length > 0) {
    throw new Error(`${missing.length} of ${rooms} rooms did not get a roll call through to every member`);
  }
  return { rooms, members, connections: rooms * members + rooms };
}

interface RunCommand {
  size: number;
  seconds: number;
  warmup: number;
  window: number;
  queueMs: number;
  quorum: number;
  perRoom?: number;
  pids: Record<string, number>;
}

async function runCommand(c: RunCommand): Promise<object> {
  if (publishers.length === 0) throw new Error("not connected");
  const readers = subscribers[0].length;
  const warm = c.warmup > 0
    ? await publish(readers, c.size, c.warmup, c.window, c.quorum, c.queueMs)
    : undefined;
  const m = measure(c.pids);
  const limit = c.perRoom ? c.perRoom * publishers.length : Infinity;
  const r = await publish(
    readers,
    c.size,
    c.perRoom ? 3600 : c.seconds,
    c.window,
    c.quorum,
    c.queueMs,
    limit,
  );
  return { ...m.stop(r), window: r.meanWindow, perRoom: r.perRoom, warmupPublished: warm?.sent ?? 0 };
}

// ---- faults: many topics, a rotating publisher ----

let faultSubs: Peer[] = [], faultPub: Peer | undefined, faultTopics = 0;
/** The last fault run: the topic and epoch send time of each message. */
let faultRun: { r: Run; topic: Int32Array; at: Float64Array } | undefined;

// The wall clock, as the bench reads it (Deno's and Bun's performance.timeOrigin + now() differ by seconds).
const epochMs = () => Date.now();

async function faultConnect(topics: number, perConnection: number, subUrl: string, pubUrl: string) {
  await closeAll([...faultSubs, ...(faultPub ? [faultPub] : [])]);
  const urls: string[] = [];
  for (let first = 0; first < topics; first += perConnection) {
    urls.push(urlOf(subUrl, `role=sub&topics=${first}:${Math.min(perConnection, topics - first)}`));
  }
  faultSubs = await openMany(urls);
  faultPub = (await openMany([urlOf(pubUrl, `role=pub&rotate=${topics}`)]))[0];
  faultTopics = topics;
  // Roll call: one message per topic, all must arrive (subscriptions reach Redis a moment after opening).
  await new Promise((resolve) => setTimeout(resolve, 500));
  for (let round = 0;; round++) {
    const r = await send(64, topics, Infinity);
    if (r.r.delivered === topics) break;
    if (round === 5) throw new Error(`roll call: ${r.r.delivered} of ${topics} topics reached`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return { topics, connections: faultSubs.length + 1 };
}

/** Sends `count` messages round the topics at `rate` a second; resolves after the drain. */
function send(size: number, count: number, rate: number): Promise<NonNullable<typeof faultRun>> {
  const pub = faultPub!;
  return new Promise((resolve) => {
    let running = true;
    const topic = new Int32Array(count), at = new Float64Array(count);
    const r = newRun(1, Infinity, () => {}, () => {
      if (!running && r.delivered === r.sent) finish();
    });
    const started = performance.now();
    const tick = () => {
      const due = rate === Infinity
        ? count
        : Math.min(count, Math.floor((performance.now() - started) / 1000 * rate));
      while (r.sent < due) {
        const index = r.sent;
        topic[index] = pub.sent % faultTopics;
        at[index] = epochMs();
        noteSent(r);
        pub.send(message(size)[0]);
      }
      if (r.sent >= count) {
        running = false;
        clearInterval(pacer);
        if (r.delivered === r.sent) finish();
      }
    };
    const pacer = setInterval(tick, 5);
    const watchdog = setInterval(() => {
      if (!running && performance.now() - r.lastDelivery > 2000) finish();
    }, 100);
    let finished = false;
    function finish(): void {
      if (finished) return;
      finished = true;
      clearInterval(pacer);
      clearInterval(watchdog);
      run = undefined;
      resolve(faultRun = { r, topic, at });
    }
    run = r;
    tick();
  });
}

function faultReport(from: number, to: number): object {
  if (faultRun === undefined) throw new Error("no fault run");
  const { r, topic, at } = faultRun;
  const lostTopics = new Set<number>(), trafficTopics = new Set<number>();
  let lost = 0, lostFirst = Infinity, lostLast = -Infinity;
  for (let i = 0; i < r.sent; i++) {
    if (at[i] >= from && at[i] <= to) trafficTopics.add(topic[i]);
    if (r.counts[i] === 0) {
      lost++;
      lostTopics.add(topic[i]);
      lostFirst = Math.min(lostFirst, at[i]);
      lostLast = Math.max(lostLast, at[i]);
    }
  }
  return {
    sent: r.sent,
    delivered: r.delivered,
    lost,
    lostFirst: lost ? lostFirst : null,
    lostLast: lost ? lostLast : null,
    lostTopics: [...lostTopics],
    trafficTopics: [...trafficTopics],
  };
}

async function execute(command: { cmd: string } & Record<string, unknown>): Promise<object> {
  switch (command.cmd) {
    case "connect":
      return await connect(
        command.rooms as number,
        command.members as number,
        command.subUrls as string[],
        command.pubUrls as string[],
      );
    case "run":
      return await runCommand(command as unknown as RunCommand);
    case "faultConnect":
      return await faultConnect(
        command.topics as number,
        command.perConnection as number,
        command.subUrl as string,
        command.pubUrl as string,
      );
    case "faultRun": {
      const { size, rate, seconds } = command as unknown as { size: number; rate: number; seconds: number };
      const f = await send(size, Math.round(rate * seconds), rate);
      return { sent: f.r.sent, delivered: f.r.delivered };
    }
    case "faultReport":
      return faultReport(command.from as number, command.to as number);
    case "now":
      return { epochMs: epochMs() };
    case "exit":
      await closeAll([...subscribers.flat(), ...publishers, ...faultSubs, ...(faultPub ? [faultPub] : [])]);
      process.stdout.write("{}\n");
      process.exit(0);
  }
  throw new Error(`unknown command ${command.cmd}`);
}

const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
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
