/**
 * Scale-out through Redis (issue 14), over loopback: this library's serve() with
 * `createPubSub({ backplane: redisBackplane(...) })` against socket.io 4 with `@socket.io/redis-adapter`
 * (classic: PUBLISH and one PSUBSCRIBE per node; optionally its sharded adapter with subscriptionMode
 * "dynamic") and `@socket.io/redis-streams-adapter`, all on one redis-server (Debian's, started on a free
 * port of 127.0.0.1 and stopped at the end). Every node is a process of its own (bench/crossnode/*); one load
 * client process (bench/crossnode/load_client.ts, Bun's WebSocket, engine.io v4 spoken directly to
 * socket.io) holds every connection, so publish-to-receive latency has one clock. Three scenarios:
 *
 * - crossnode: 2 nodes; `--rooms` rooms of `--members` subscribers, all connected to node 2, and one
 *   publisher per room connected to node 1: every delivery crosses Redis. Message i goes to room i mod R;
 *   realistic JSON of each of `--sizes` bytes (its send time inside). Flow control as in
 *   bench/fanout_bench.ts: at most `--window` messages in flight and `--queue-ms` of work, a message leaving
 *   once `--quorum` of its room's members have it; `--warmup` s unmeasured, `--seconds` s measured, then a
 *   drain. Every kind's nodes and load client run side by side (each on channels of its own) and the runs
 *   take turns (repeat r of a size runs every kind before repeat r + 1), so that a change in the machine's
 *   load falls on all alike. Reported, medians of `--repeats`: delivered msg/s, ratio to socket.io classic in the same run,
 *   p50/p99 publish-to-receive, CPU per delivered message (both nodes, and Redis), messages and bytes each
 *   node read from Redis per published message (ours: its backplane's `received`; socket.io: counted in its
 *   script; bytes: the kernel's bytes_received of the node's sockets to Redis, `ss -tip`).
 * - broadcast: the same with one room of `--broadcast-members` subscribers (one publisher), at most
 *   `--broadcast-window` messages in flight, a message leaving once `--broadcast-quorum` of them have it (as in
 *   the fan-out bench's broadcast): the fan-out after Redis, one Redis message per publish.
 * - fanin: `--fanin-nodes` nodes, `--fanin-rooms` rooms of `--fanin-members` members, room r homed on node
 *   r mod N (all its members there), its publisher on node r+1 mod N; `--fanin-per-room` messages per room.
 *   Per node: the messages (and bytes) it read from Redis against its own rooms' traffic (messages published
 *   to its rooms). Target for ours: at most 1.05x.
 * - faults: 2 nodes; `--fault-topics` topics subscribed on node 2 (`--fault-per-connection` topics per
 *   connection), one publisher on node 1 sending `--fault-rate` msg/s round the topics. After 1 s Redis is
 *   killed (SIGKILL), `--fault-down-ms` later started again on the same port. Reported: the time from Redis
 *   answering PING again until every topic's channel has a subscriber again (PUBSUB SHARDNUMSUB / NUMSUB for
 *   ours and socket.io's sharded adapter; CLIENT LIST for the classic adapter, a pattern on node 2's
 *   subscriber connection, and the streams adapter, node 2's reader in XREAD; polled by the bench every
 *   ~5 ms); messages lost; topics with traffic during the outage (a message sent
 *   between the kill and the resubscription) and how many of them got a `gap` event on node 2 (ours; socket.io
 *   has no such signal); topics that lost a message, and how many of those got a gap. One row per restart
 *   (`--fault-repeats` on the same nodes).
 *
 *   deno run -A bench/crossnode_bench.ts [--scenarios crossnode,broadcast,fanin,faults] [--servers ours-bun,...]
 *     [--sizes 64,1024] [--rooms 100] [--members 10] [--seconds 2] [--warmup 0.3] [--repeats 3]
 *     [--window 64] [--queue-ms 200] [--quorum 1] [--broadcast-members 1000] [--broadcast-window 16]
 *     [--broadcast-quorum 0.95] [--fanin-servers ...] [--fanin-nodes 4]
 *     [--fanin-rooms 1000] [--fanin-members 10] [--fanin-per-room 10] [--fault-servers ...]
 *     [--fault-topics 10000] [--fault-per-connection 1000] [--fault-rate 2000] [--fault-down-ms 500]
 *     [--fault-repeats 3]
 *     [--lib tree|head] [--out bench/results/crossnode-DATE.md]
 *
 * Servers (`--servers`, `--fanin-servers`, `--fault-servers`): ours-bun, ours-deno, ours-node (the build in
 * dist/: `npm run build` first) (serve() on each), ours-bun-listen (listenBun: Bun.listen's sockets),
 * ours-bun-classic (serve() on Bun, classic PUBLISH/SUBSCRIBE), sio-classic, sio-sharded,
 * sio-streams. Ours on Bun and Deno runs the TypeScript in lib/ as it is in the working tree (on Node the
 * build in dist/), or with `--lib head` lib/ as committed, exported to a temporary folder (on Node built
 * there with tsc -p tsconfig.json), which others' unfinished edits do not reach.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import process from "node:process";
import { bun } from "./echo/servers.ts";
import { children, type RunningServer, signal, staleBuild, startServer } from "./fanout/servers.ts";
import { redisCommand, redisCommands, RedisProcess } from "./crossnode/redis.ts";
import { type ChildProcess, spawn } from "node:child_process";

function arg(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index !== -1 && process.argv[index + 1] !== undefined ? process.argv[index + 1] : fallback;
}
const list = (value: string) => value.split(",").map((v) => v.trim()).filter(Boolean);

const scenarios = list(arg("scenarios", "crossnode,broadcast,fanin,faults"));
const servers = list(
  arg("servers", "ours-bun,ours-bun-listen,ours-deno,ours-node,sio-classic,sio-sharded,sio-streams"),
);
const sizes = list(arg("sizes", "64,1024")).map(Number);
const rooms = Number(arg("rooms", "100"));
const members = Number(arg("members", "10"));
const seconds = Number(arg("seconds", "2"));
const warmup = Number(arg("warmup", "0.3"));
const repeats = Number(arg("repeats", "3"));
const window = Number(arg("window", "64"));
const queueMs = Number(arg("queue-ms", "200"));
const quorum = Number(arg("quorum", "1"));
const broadcastMembers = Number(arg("broadcast-members", "1000"));
const broadcastWindow = Number(arg("broadcast-window", "16"));
const broadcastQuorum = Number(arg("broadcast-quorum", "0.95"));

/** A cross-node shape: rooms of members on node 2, a publisher per room on node 1, and its flow control. */
interface Shape {
  scenario: "crossnode" | "broadcast";
  title: string;
  rooms: number;
  members: number;
  window: number;
  quorum: number;
}
const SHAPES: Shape[] = [
  { scenario: "crossnode", title: `${rooms} rooms of ${members}`, rooms, members, window, quorum },
  {
    scenario: "broadcast",
    title: `broadcast: 1 room of ${broadcastMembers}`,
    rooms: 1,
    members: broadcastMembers,
    window: broadcastWindow,
    quorum: broadcastQuorum,
  },
];
const faninServers = list(arg("fanin-servers", "ours-bun,sio-classic,sio-sharded,sio-streams"));
const faninNodes = Number(arg("fanin-nodes", "4"));
const faninRooms = Number(arg("fanin-rooms", "1000"));
const faninMembers = Number(arg("fanin-members", "10"));
const faninPerRoom = Number(arg("fanin-per-room", "10"));
const faninSize = Number(arg("fanin-size", "64"));
const faultServers = list(arg("fault-servers", "ours-bun,sio-classic,sio-sharded,sio-streams"));
const faultTopics = Number(arg("fault-topics", "10000"));
const faultPerConnection = Number(arg("fault-per-connection", "1000"));
const faultRate = Number(arg("fault-rate", "2000"));
const faultDownMs = Number(arg("fault-down-ms", "500"));
const faultRepeats = Number(arg("fault-repeats", "3"));
const libSource = arg("lib", "tree");
const out = arg("out", `bench/results/crossnode-${new Date().toISOString().slice(0, 10)}.md`);
for (const size of sizes) if (!(size >= 64)) throw new Error(`sizes start at 64 B: ${size}`);

const deno = Deno.execPath();

/** A kind of node. */
interface Kind {
  key: string;
  name: string;
  protocol: "ws" | "socketio";
  /** How the node's channels are checked on Redis after a restart. */
  channels: "sharded" | "classic" | "pattern" | "stream";
  /** Its channels: `${prefix}${topic}` (ours), `${prefix}#/#${room}#` (socket.io's sharded adapter). */
  prefix: string;
  command(redisUrl: string, nodeId: string): [string, string[]];
}

/**
 * `--lib head`: Bun and Deno run lib/ as committed (HEAD), exported to a temporary folder (with a link to
 * node_modules), not the working tree (which others may be editing); removed at the end.
 */
let snapshot: string | undefined;
if (libSource === "head") {
  snapshot = mkdtempSync(`${os.tmpdir()}/wsengine-crossnode-`);
  execFileSync("sh", [
    "-c",
    `git archive HEAD lib mod.ts cli.ts cli tsconfig.json package.json | tar -x -C '${snapshot}'`,
  ]);
  symlinkSync(`${process.cwd()}/node_modules`, `${snapshot}/node_modules`);
  if ([...servers, ...faninServers, ...faultServers].includes("ours-node")) {
    // Node runs that snapshot's build (tsc, as `npm run build:lib`).
    execFileSync("node_modules/.bin/tsc", ["-p", `${snapshot}/tsconfig.json`], { stdio: "inherit" });
  }
} else if (libSource !== "tree") throw new Error(`--lib is tree or head: ${libSource}`);
const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();

/** Ours: channels `${prefix}${topic}`; each kind a prefix of its own (the cross-node kinds run side by side). */
const ours =
  (runtime: "bun" | "deno" | "node", prefix: string, sharded = true, adapter = "serve"): Kind["command"] =>
  (url, id) => {
    const args = ["bench/crossnode/ours_server.mjs", "0", url, id, sharded ? "1" : "0"];
    const source = snapshot ?? "src";
    return runtime === "bun"
      ? [bun, [...args, source, prefix, adapter]]
      : runtime === "deno"
      ? [deno, ["run", "-A", ...args, source, prefix]]
      : ["node", [...args, snapshot === undefined ? "dist" : `dist:${snapshot}`, prefix]];
  };
/** socket.io: the adapter's key (channel prefix, stream name) is `prefix`. */
const sio = (adapter: string, prefix: string): Kind["command"] => (url, id) => [
  "node",
  ["bench/crossnode/socketio_server.mjs", "0", url, adapter, id, prefix],
];

const KINDS: Kind[] = [
  {
    key: "ours-bun",
    name: "ours: serve() on Bun",
    protocol: "ws",
    channels: "sharded",
    prefix: "ob:",
    command: ours("bun", "ob:"),
  },
  {
    key: "ours-deno",
    name: "ours: serve() on Deno",
    protocol: "ws",
    channels: "sharded",
    prefix: "od:",
    command: ours("deno", "od:"),
  },
  {
    key: "ours-node",
    name: "ours: serve() on Node",
    protocol: "ws",
    channels: "sharded",
    prefix: "on:",
    command: ours("node", "on:"),
  },
  {
    key: "ours-bun-listen",
    name: "ours: listenBun (Bun.listen)",
    protocol: "ws",
    channels: "sharded",
    prefix: "ol:",
    command: ours("bun", "ol:", true, "listenBun"),
  },
  {
    key: "ours-bun-classic",
    name: "ours: serve() on Bun, classic pub/sub",
    protocol: "ws",
    channels: "classic",
    prefix: "oc:",
    command: ours("bun", "oc:", false),
  },
  {
    key: "sio-classic",
    name: "socket.io + redis-adapter (classic)",
    protocol: "socketio",
    channels: "pattern",
    prefix: "sio-classic",
    command: sio("classic", "sio-classic"),
  },
  {
    key: "sio-sharded",
    name: "socket.io + redis-adapter (sharded, dynamic)",
    protocol: "socketio",
    channels: "sharded",
    prefix: "sio-sharded",
    command: sio("sharded", "sio-sharded"),
  },
  {
    key: "sio-streams",
    name: "socket.io + redis-streams-adapter",
    protocol: "socketio",
    channels: "stream",
    prefix: "sio-streams",
    command: sio("streams", "sio-streams"),
  },
];
const kindOf = (key: string) => {
  const kind = KINDS.find((k) => k.key === key);
  if (kind === undefined) throw new Error(`unknown server ${key} (${KINDS.map((k) => k.key).join(", ")})`);
  return kind;
};
const BASELINE = "sio-classic";

// ---- the load client ----

class LoadClient {
  readonly #child: ChildProcess;
  #buffer = "";
  readonly #lines: string[] = [];
  #waiter: ((line: string | undefined) => void) | undefined;
  #ended = false;

  constructor(protocol: string) {
    this.#child = spawn(bun, ["bench/crossnode/load_client.ts", protocol], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    children.add(this.#child);
    this.#child.stdout!.on("data", (chunk) => {
      this.#buffer += chunk;
      let newline;
      while ((newline = this.#buffer.indexOf("\n")) !== -1) {
        this.#lines.push(this.#buffer.slice(0, newline));
        this.#buffer = this.#buffer.slice(newline + 1);
      }
      if (this.#lines.length > 0) this.#waiter?.(this.#lines.shift());
    });
    this.#child.on("exit", () => {
      this.#ended = true;
      children.delete(this.#child);
      this.#waiter?.(undefined);
    });
    this.#child.stdin!.on("error", () => {});
  }

  get pid(): number {
    return this.#child.pid!;
  }

  // deno-lint-ignore no-explicit-any
  async call(command: Record<string, unknown>, timeoutMs: number): Promise<any> {
    if (this.#ended) throw new Error("the load client has ended");
    this.#child.stdin!.write(JSON.stringify(command) + "\n");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const line = this.#lines.shift() ?? await new Promise<string | undefined>((resolve, reject) => {
      this.#waiter = resolve;
      timer = setTimeout(
        () => reject(new Error(`the load client did not answer ${command.cmd} within ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
    }).finally(() => {
      clearTimeout(timer);
      this.#waiter = undefined;
    });
    if (line === undefined) throw new Error(`the load client ended during ${command.cmd}`);
    const answer = JSON.parse(line);
    if (typeof answer.error === "string") throw new Error(answer.error);
    return answer;
  }

  async close(): Promise<void> {
    const ended = new Promise<void>((resolve) =>
      this.#ended ? resolve() : this.#child.on("exit", () => resolve())
    );
    try {
      await this.call({ cmd: "exit" }, 10_000);
    } catch { /* killed below */ }
    const timer = setTimeout(() => signal(this.#child, "SIGKILL"), 2000);
    await ended;
    clearTimeout(timer);
  }
}

// ---- measurements ----

/** Bytes each process has received on its sockets to Redis (kernel counters, `ss -tip`), by pid. */
function bytesFromRedis(redisPort: number): Map<number, number> {
  const text = execFileSync("ss", ["-tinpH", "state", "established", `( dport = :${redisPort} )`], {
    encoding: "utf8",
  });
  const byPid = new Map<number, number>();
  let pid = NaN;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (!/^\s/.test(line)) {
      pid = Number(/pid=(\d+)/.exec(line)?.[1] ?? NaN);
      continue;
    }
    const received = Number(/bytes_received:(\d+)/.exec(line)?.[1] ?? 0);
    if (!Number.isNaN(pid)) byPid.set(pid, (byPid.get(pid) ?? 0) + received);
  }
  return byPid;
}

/** Messages a node read from Redis, from its counters. */
const readsOf = (counters: Record<string, number> | undefined) =>
  counters === undefined ? NaN : counters.bp_received ?? counters.received ?? NaN;

function loadAverage(): string {
  return os.loadavg().map((v) => v.toFixed(2)).join(", ");
}

const median = (values: number[]) => {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor(sorted.length / 2)];
};
const fixed = (value: number, digits: number) => Number.isNaN(value) ? "-" : value.toFixed(digits);
const ratio = (value: number, base: number | undefined) =>
  base === undefined || Number.isNaN(base) || Number.isNaN(value) || base === 0
    ? "-"
    : `${(value / base).toFixed(2)}x`;

const started = performance.now();
const elapsed = () => {
  const s = Math.round((performance.now() - started) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};
const notes: string[] = [], failures: string[] = [];
const loads: string[] = [`start: ${loadAverage()}`];
const stale = staleBuild();
if (
  stale !== undefined && libSource === "tree" &&
  [...servers, ...faninServers, ...faultServers].includes("ours-node")
) {
  notes.push(stale);
}

let redis: RedisProcess | undefined;

/** Starts `count` nodes of a kind and a load client; runs `body`; stops them all (also on failure). */
/** Nodes of one kind and their load client. */
interface Session {
  kind: Kind;
  nodes: RunningServer[];
  client: LoadClient;
  ids: string[];
}

/** Starts `count` nodes of a kind and a load client (stops what it started if one fails to start). */
async function openSession(kind: Kind, count: number): Promise<Session> {
  const nodes: RunningServer[] = [];
  const ids = Array.from({ length: count }, (_, i) => `n${i + 1}-${Math.random().toString(16).slice(2, 8)}`);
  try {
    for (let i = 0; i < count; i++) {
      const [command, args] = kind.command(redis!.url, ids[i]);
      nodes.push(await startServer(`${kind.name} #${i + 1}`, command, args));
    }
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw error;
  }
  const config = `${kind.name}: ${nodes[0].config.join("; ")}`;
  if (nodes[0].config.length > 0 && !notes.includes(config)) notes.push(config);
  return { kind, nodes, client: new LoadClient(kind.protocol), ids };
}

async function closeSession(session: Session): Promise<void> {
  await session.client.close();
  await Promise.all(session.nodes.map((node) => node.stop()));
}

/** Runs `body` with a fresh session of `count` nodes on an emptied Redis; stops them all (also on failure). */
async function session(
  kind: Kind,
  count: number,
  body: (nodes: RunningServer[], client: LoadClient, ids: string[]) => Promise<void>,
): Promise<void> {
  await redisCommand(redis!.port, "FLUSHALL");
  let opened: Session | undefined;
  try {
    opened = await openSession(kind, count);
    await body(opened.nodes, opened.client, opened.ids);
  } catch (error) {
    failures.push(`${kind.name}: ${(error as Error).message}`);
    console.error(`[${elapsed()}] ${kind.name} failed: ${(error as Error).message}`);
  } finally {
    if (opened !== undefined) await closeSession(opened);
  }
}

// ---- crossnode ----

interface CrossSample {
  delivered: number;
  expected: number;
  published: number;
  seconds: number;
  wallSeconds: number;
  p50us: number;
  p99us: number;
  cpu: Record<string, number>;
  clientCpuMicros: number;
  othersCpuMicros: number;
  window: number;
  warmupPublished: number;
  reads: number[];
  bytes: number[];
}
const crossRows: { shape: Shape; kind: Kind; size: number; samples: CrossSample[] }[] = [];

/**
 * Every kind's two nodes and load client run side by side (each kind on channels of its own), and the runs
 * take turns: repeat r of a size runs every kind before repeat r + 1, so that a change in the machine's load
 * (it may be shared) falls on all of them alike.
 */
async function crossnode(kinds: Kind[], shape: Shape): Promise<void> {
  await redisCommand(redis!.port, "FLUSHALL");
  const sessions: Session[] = [];
  try {
    for (const kind of kinds) {
      let opened: Session | undefined;
      try {
        opened = await openSession(kind, 2);
        const [node1, node2] = opened.nodes;
        await opened.client.call({
          cmd: "connect",
          rooms: shape.rooms,
          members: shape.members,
          subUrls: [node2.url],
          pubUrls: [node1.url],
        }, 300_000);
        sessions.push(opened);
      } catch (error) {
        if (opened !== undefined) await closeSession(opened);
        failures.push(`${kind.name}: ${(error as Error).message}`);
        console.error(`[${elapsed()}] ${kind.name} failed: ${(error as Error).message}`);
      }
    }
    for (const size of sizes) {
      for (let i = 0; i < repeats; i++) {
        for (const { kind, nodes: [node1, node2], client } of sessions) {
          let row = crossRows.find((r) => r.shape === shape && r.kind === kind && r.size === size);
          if (row === undefined) crossRows.push(row = { shape, kind, size, samples: [] });
          try {
            const before = await Promise.all([node1.counters(), node2.counters()]);
            const bytes0 = bytesFromRedis(redis!.port);
            const sample = await client.call({
              cmd: "run",
              size,
              seconds,
              warmup,
              window: shape.window,
              queueMs,
              quorum: shape.quorum,
              pids: { node1: node1.pid, node2: node2.pid, redis: redis!.pid },
            }, (seconds + warmup) * 1000 + 120_000) as CrossSample;
            const after = await Promise.all([node1.counters(), node2.counters()]);
            const bytes1 = bytesFromRedis(redis!.port);
            // Includes the warmup's messages: reads and bytes are per published message of warmup + run.
            sample.reads = [0, 1].map((n) => readsOf(after[n]) - readsOf(before[n]));
            sample.bytes = [node1, node2].map((node) =>
              (bytes1.get(node.pid) ?? NaN) - (bytes0.get(node.pid) ?? NaN)
            );
            row.samples.push(sample);
            console.error(
              `[${elapsed()}] ${shape.scenario} ${kind.name} ${size} B: ${
                (sample.delivered / sample.seconds).toFixed(0)
              } delivered/s, ` +
                `p50 ${(sample.p50us / 1000).toFixed(2)} ms, p99 ${(sample.p99us / 1000).toFixed(2)} ms, ` +
                `${sample.delivered} of ${sample.expected}; reads ${
                  sample.reads.join("/")
                }; load ${loadAverage()}`,
            );
          } catch (error) {
            failures.push(`${kind.name}, ${size} B: ${(error as Error).message}`);
            console.error(`[${elapsed()}] ${kind.name} ${size} B failed: ${(error as Error).message}`);
          }
        }
      }
    }
  } finally {
    await Promise.all(sessions.map(closeSession));
  }
}

// ---- fanin ----

interface FaninRow {
  kind: Kind;
  delivered: number;
  expected: number;
  /** Per node: messages published to its rooms, messages it read from Redis, bytes it read. */
  own: number[];
  reads: number[];
  bytes: number[];
  payloadBytes: number;
}
const faninRows: FaninRow[] = [];

async function fanin(kind: Kind): Promise<void> {
  await session(kind, faninNodes, async (nodes, client) => {
    const urls = nodes.map((n) => n.url);
    await client.call({
      cmd: "connect",
      rooms: faninRooms,
      members: faninMembers,
      subUrls: urls,
      pubUrls: urls.map((_, i) => urls[(i + 1) % urls.length]),
    }, 600_000);
    const before = await Promise.all(nodes.map((n) => n.counters()));
    const bytes0 = bytesFromRedis(redis!.port);
    const sample = await client.call({
      cmd: "run",
      size: faninSize,
      seconds: 0,
      warmup: 0,
      window,
      queueMs,
      quorum,
      perRoom: faninPerRoom,
      pids: Object.fromEntries(nodes.map((n, i) => [`node${i + 1}`, n.pid])),
    }, 600_000);
    const after = await Promise.all(nodes.map((n) => n.counters()));
    const bytes1 = bytesFromRedis(redis!.port);
    const own = nodes.map(() => 0);
    (sample.perRoom as number[]).forEach((count, room) => own[room % nodes.length] += count);
    const row: FaninRow = {
      kind,
      delivered: sample.delivered,
      expected: sample.expected,
      own,
      reads: nodes.map((_, i) => readsOf(after[i]) - readsOf(before[i])),
      bytes: nodes.map((n) => (bytes1.get(n.pid) ?? NaN) - (bytes0.get(n.pid) ?? NaN)),
      payloadBytes: faninSize,
    };
    faninRows.push(row);
    console.error(
      `[${elapsed()}] fanin ${kind.name}: own ${own.join("/")}, read ${row.reads.join("/")}, ` +
        `${sample.delivered} of ${sample.expected} delivered; load ${loadAverage()}`,
    );
  });
}

// ---- faults ----

interface FaultRow {
  kind: Kind;
  repeat: number;
  channels: string;
  /** From Redis answering PING again until every channel is subscribed (ms). */
  resubscribedMs: number;
  /** From Redis answering PING again until node 2's subscribing connection is back (its name in CLIENT LIST). */
  reconnectedMs: number;
  downMs: number;
  sent: number;
  delivered: number;
  lost: number;
  /** The first and last lost message's send time, in ms after the kill. */
  lostFrom: number;
  lostTo: number;
  trafficTopics: number;
  trafficWithGap: number;
  lostTopics: number;
  lostWithGap: number;
  gapTopics: number;
  gapEvents: number;
  repairs: number;
  reconnects: number;
}
const faultRows: FaultRow[] = [];

/** The name node 2's subscribing connection has in CLIENT LIST. */
function subscriberName(kind: Kind, id: string): string {
  return kind.protocol === "ws" ? `wsengine:${id}:subscriber` : kind.channels === "stream" ? id : `${id}-sub`;
}

/**
 * A cheap check, polled: node `id`'s subscribing connection in CLIENT LIST has every topic's channel
 * (`ssub`/`sub` at least `topics`), its pattern (`psub`, the classic adapter) or runs XREAD (the streams
 * adapter). Returns "down" while the connection is not back, "partial" or "all".
 */
async function subscriptionState(
  kind: Kind,
  topics: number,
  id: string,
): Promise<"down" | "partial" | "all"> {
  const line = String(await redisCommand(redis!.port, "CLIENT", "LIST")).split("\n").find((line) =>
    line.includes(` name=${subscriberName(kind, id)} `) &&
    (kind.channels !== "stream" || line.includes(" cmd=xread"))
  );
  if (line === undefined) return "down";
  const field = (name: string) => Number(new RegExp(` ${name}=(\\d+)`).exec(line)?.[1] ?? 0);
  const all = kind.channels === "pattern"
    ? field("psub") >= 1
    : kind.channels === "stream"
    ? true
    : field(kind.channels === "sharded" ? "ssub" : "sub") >= topics;
  return all ? "all" : "partial";
}

/** Whether every topic's channel has a subscriber on Redis, asked with PUBSUB SHARDNUMSUB/NUMSUB. */
async function channelsSubscribed(kind: Kind, topics: number): Promise<boolean> {
  if (kind.channels === "pattern" || kind.channels === "stream") return true;
  const prefix = kind.protocol === "ws" ? kind.prefix : `${kind.prefix}#/#`;
  const suffix = kind.protocol === "ws" ? "" : "#";
  const command = kind.channels === "sharded" ? "SHARDNUMSUB" : "NUMSUB";
  const batch: (string | number)[][] = [];
  for (let first = 0; first < topics; first += 1000) {
    const words: string[] = ["PUBSUB", command];
    for (let i = first; i < Math.min(topics, first + 1000); i++) words.push(`${prefix}t${i}${suffix}`);
    batch.push(words);
  }
  const replies = await redisCommands(redis!.port, batch);
  return replies.every((reply) =>
    Array.isArray(reply) && reply.every((value, i) => i % 2 === 0 || Number(value) >= 1)
  );
}

const allSubscribed = async (kind: Kind, topics: number, id: string) =>
  await subscriptionState(kind, topics, id) === "all" && await channelsSubscribed(kind, topics);

async function faults(kind: Kind): Promise<void> {
  await session(kind, 2, async ([node1, node2], client, ids) => {
    await client.call({
      cmd: "faultConnect",
      topics: faultTopics,
      perConnection: faultPerConnection,
      subUrl: node2.url,
      pubUrl: node1.url,
    }, 300_000);
    for (let repeat = 0; repeat < faultRepeats; repeat++) {
      await fault(kind, node1, node2, client, ids[1], repeat + 1);
    }
  });
}

async function fault(
  kind: Kind,
  _node1: RunningServer,
  node2: RunningServer,
  client: LoadClient,
  id: string,
  repeat: number,
): Promise<void> {
  {
    for (
      const until = performance.now() + 10_000;
      !await allSubscribed(kind, faultTopics, id).catch(() => false);
    ) {
      if (performance.now() > until) {
        throw new Error("the topics are not all subscribed on Redis before the fault");
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const before = await node2.counters();
    const runSeconds = 1 + faultDownMs / 1000 + 4;
    const running = client.call(
      { cmd: "faultRun", size: 64, rate: faultRate, seconds: runSeconds },
      runSeconds * 1000 + 60_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const killedAt = Date.now();
    await redis!.kill();
    await new Promise((resolve) => setTimeout(resolve, faultDownMs));
    await redis!.start();
    const upAt = Date.now();
    let resubscribedAt = NaN, reconnectedAt = NaN;
    while (Date.now() - upAt < 15_000) {
      try {
        const state = await subscriptionState(kind, faultTopics, id);
        const now = Date.now();
        if (state !== "down" && Number.isNaN(reconnectedAt)) reconnectedAt = now;
        // Confirmed on every channel (PUBSUB SHARDNUMSUB/NUMSUB), timed at the cheap check.
        if (state === "all" && await channelsSubscribed(kind, faultTopics)) {
          resubscribedAt = now;
          break;
        }
      } catch { /* Redis busy: next poll */ }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const result = await running;
    const after = await node2.counters();
    const report = await client.call({
      cmd: "faultReport",
      from: killedAt,
      to: Number.isNaN(resubscribedAt) ? upAt + 15_000 : resubscribedAt,
    }, 60_000);
    // The node lists the topics with a gap event since its previous counters line (`before`).
    const gapSet = new Set<string>((after?.gapTopics as unknown as string[]) ?? []);
    const withGap = (topics: number[]) => topics.filter((t) => gapSet.has(`t${t}`)).length;
    const row: FaultRow = {
      kind,
      repeat,
      channels: kind.channels,
      resubscribedMs: resubscribedAt - upAt,
      reconnectedMs: reconnectedAt - upAt,
      downMs: upAt - killedAt,
      sent: result.sent,
      delivered: result.delivered,
      lost: report.lost,
      lostFrom: report.lostFirst === null ? NaN : report.lostFirst - killedAt,
      lostTo: report.lostLast === null ? NaN : report.lostLast - killedAt,
      trafficTopics: report.trafficTopics.length,
      trafficWithGap: withGap(report.trafficTopics),
      lostTopics: report.lostTopics.length,
      lostWithGap: withGap(report.lostTopics),
      gapTopics: gapSet.size,
      gapEvents: (after?.gapEvents ?? NaN) - (before?.gapEvents ?? NaN),
      repairs: (after?.bp_repairs ?? NaN) - (before?.bp_repairs ?? NaN),
      reconnects: (after?.bp_reconnects ?? NaN) - (before?.bp_reconnects ?? NaN),
    };
    faultRows.push(row);
    console.error(
      `[${elapsed()}] faults ${kind.name} #${repeat}: resubscribed ${
        fixed(row.resubscribedMs, 0)
      } ms after Redis was up; ` +
        `lost ${row.lost} of ${row.sent}; topics with traffic in the outage ${row.trafficTopics}, with a gap ${row.trafficWithGap}; ` +
        `load ${loadAverage()}`,
    );
  }
}

// ---- main ----

const killAll = () => {
  for (const child of children) signal(child, "SIGKILL");
};
for (const name of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(name, () => {
    killAll();
    if (snapshot !== undefined) rmSync(snapshot, { recursive: true, force: true });
    Deno.exit(130);
  });
}
try {
  redis = await RedisProcess.start();
  notes.push(
    `redis-server ${
      execFileSync("/usr/bin/redis-server", ["--version"], { encoding: "utf8" }).split(" ")[2]
    } on ${redis.url}, nothing saved`,
  );
  if (scenarios.includes("crossnode")) {
    await crossnode(servers.map(kindOf), SHAPES[0]);
    loads.push(`after crossnode: ${loadAverage()}`);
  }
  if (scenarios.includes("broadcast")) {
    await crossnode(servers.map(kindOf), SHAPES[1]);
    loads.push(`after broadcast: ${loadAverage()}`);
  }
  if (scenarios.includes("fanin")) {
    for (const key of faninServers) await fanin(kindOf(key));
    loads.push(`after fanin: ${loadAverage()}`);
  }
  if (scenarios.includes("faults")) {
    for (const key of faultServers) await faults(kindOf(key));
    loads.push(`after faults: ${loadAverage()}`);
  }
} finally {
  await redis?.kill().catch(() => {});
  killAll();
  if (snapshot !== undefined) rmSync(snapshot, { recursive: true, force: true });
}
notes.push(
  snapshot !== undefined
    ? `ours ran lib/ as committed at ${head} (--lib head; on Node its build, tsc -p tsconfig.json)`
    : `ours on Bun and Deno ran lib/ of the working tree (at ${head}${
      execFileSync("git", ["status", "--porcelain", "lib"], { encoding: "utf8" }).trim() === ""
        ? ""
        : ", with changes"
    })`,
);

// ---- report ----

const lines: string[] = [];
const print = (line = "") => {
  console.log(line);
  lines.push(line);
};
const nodeVersion = execFileSync("node", ["--version"], { encoding: "utf8" }).trim();
const bunVersion = execFileSync(bun, ["--version"], { encoding: "utf8" }).trim();
print(
  `# Cross-node pub/sub through Redis, over loopback: Deno ${Deno.version.deno}, Bun ${bunVersion}, Node ${nodeVersion}`,
);
print();
print(`Command: deno run -A bench/crossnode_bench.ts ${process.argv.slice(2).join(" ")}`.trim());
print(
  `Date: ${new Date().toISOString()}; ${os.cpus().length} CPUs (${
    os.cpus()[0]?.model.trim()
  }); the run took ${((performance.now() - started) / 60_000).toFixed(1)} min. Load average (1, 5, 15 min): ${
    loads.join("; ")
  }.`,
);
print();

for (const shape of SHAPES.filter((shape) => crossRows.some((r) => r.shape === shape))) {
  const { rooms, window, quorum } = shape;
  print(
    `## Cross-node${
      shape.scenario === "broadcast" ? " broadcast" : ""
    }: publishers on node 1, subscribers on node 2 (${shape.title})`,
  );
  print();
  print(
    `Each cell: median of ${repeats} runs of ${seconds} s after ${warmup} s; in flight at most ${window} messages and ${queueMs} ms ` +
      `of work, a message leaving once ${
        quorum * 100
      }% of its room has it. Message i goes to room i mod ${rooms}; every delivery crosses Redis. The kinds ran side ` +
      `by side, their runs taking turns. CPU us/delivered: of both nodes, and of Redis (/proc, user + system). CPU %: ` +
      `of one core (of ${os.cpus().length}) over a run; "others": every other process on the machine meanwhile (the ` +
      `idle kinds' included). Reads: messages (bytes) a node read from Redis per message published (warmup included).`,
  );
  print();
  print(
    "| server | payload | delivered msg/s | vs socket.io classic | p50 ms | p99 ms | p99 vs classic | nodes CPU us/delivered | " +
      "Redis CPU us/delivered | node 1 reads/publish | node 2 reads/publish | node 2 bytes from Redis/publish | " +
      "CPU % node 1 / node 2 / Redis / client | others' CPU % |",
  );
  print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const size of sizes) {
    const base = crossRows.find((r) => r.shape === shape && r.kind.key === BASELINE && r.size === size);
    const rate = (row: typeof crossRows[number]) => median(row.samples.map((s) => s.delivered / s.seconds));
    const p99 = (row: typeof crossRows[number]) => median(row.samples.map((s) => s.p99us / 1000));
    for (const row of crossRows.filter((r) => r.shape === shape && r.size === size)) {
      const of = (f: (s: CrossSample) => number) => median(row.samples.map(f));
      const complete = of((s) => s.delivered / s.expected);
      print(
        `| ${row.kind.name}${
          complete < 0.999 ? ` (incomplete: ${(complete * 100).toFixed(1)}%)` : ""
        } | ${size} B | ${fixed(rate(row), 0)} | ${ratio(rate(row), base && rate(base))} | ${
          fixed(of((s) => s.p50us / 1000), 2)
        } | ${fixed(p99(row), 2)} | ${ratio(p99(row), base && p99(base))} | ${
          fixed(of((s) => (s.cpu.node1 + s.cpu.node2) / s.delivered), 2)
        } | ${fixed(of((s) => s.cpu.redis / s.delivered), 2)} | ${
          fixed(of((s) => s.reads[0] / (s.published + s.warmupPublished)), 2)
        } | ${fixed(of((s) => s.reads[1] / (s.published + s.warmupPublished)), 2)} | ${
          fixed(of((s) => s.bytes[1] / (s.published + s.warmupPublished)), 0)
        } | ${
          ["node1", "node2", "redis"].map((p) => fixed(of((s) => s.cpu[p] / s.wallSeconds / 1e4), 0)).join(
            " / ",
          )
        } / ${fixed(of((s) => s.clientCpuMicros / s.wallSeconds / 1e4), 0)} | ${
          fixed(of((s) => s.othersCpuMicros / s.wallSeconds / 1e4), 0)
        } |`,
      );
    }
  }
  print();
}

if (faninRows.length > 0) {
  print(
    `## Fan-in: ${faninNodes} nodes, ${faninRooms} rooms of ${faninMembers}, each room homed on one node (its publisher on the next node), ${faninPerRoom} messages of ${faninSize} B per room`,
  );
  print();
  print(
    "Per node: messages published to its own rooms, messages it read from Redis, and their ratio; bytes: what its " +
      "sockets to Redis received (the kernel's count), per message published to its own rooms.",
  );
  print();
  print(
    "| server | node | own rooms' messages | read from Redis | reads / own | bytes from Redis per own message | delivered |",
  );
  print("|---|---:|---:|---:|---:|---:|---:|");
  for (const row of faninRows) {
    row.own.forEach((own, i) => {
      print(
        `| ${row.kind.name} | ${i + 1} | ${own} | ${row.reads[i]} | ${fixed(row.reads[i] / own, 2)}x | ${
          fixed(row.bytes[i] / own, 0)
        } B | ${i === 0 ? `${row.delivered} of ${row.expected}` : ""} |`,
      );
    });
  }
  print();
}

if (faultRows.length > 0) {
  print(
    `## Faults: ${faultTopics} topics subscribed on node 2, ${faultRate} msg/s published on node 1 round the topics; Redis killed after 1 s, started again ${faultDownMs} ms later`,
  );
  print();
  print(
    "Reconnected: from Redis answering PING again until node 2's subscribing connection is back (its name in " +
      "CLIENT LIST; the client's reconnect backoff). Resubscribed: from Redis answering PING again until every topic's channel has a subscriber (PUBSUB SHARDNUMSUB/" +
      "NUMSUB; socket.io classic: node 2's subscriber connection has its pattern again, CLIENT LIST; streams: node 2's " +
      "reader runs XREAD again), polled every ~5 ms. Topics with " +
      "traffic in the outage: a message sent between the kill and the resubscription.",
  );
  print();
  print(
    "| server | run | channels | reconnected ms | resubscribed ms | messages lost / sent | lost ones sent (ms after the kill) | topics with traffic in the outage | of them with a gap event | " +
      "topics that lost messages | of them with a gap event | topics with a gap event | resubscriptions repaired |",
  );
  print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const row of faultRows) {
    const ourKind = row.kind.protocol === "ws";
    print(
      `| ${row.kind.name} | ${row.repeat} | ${row.channels} | ${fixed(row.reconnectedMs, 0)} | ${
        fixed(row.resubscribedMs, 0)
      } | ${row.lost} / ${row.sent} | ${
        row.lost === 0 ? "-" : `${fixed(row.lostFrom, 0)} to ${fixed(row.lostTo, 0)}`
      } | ${row.trafficTopics} | ${ourKind ? row.trafficWithGap : "no gap signal"} | ${row.lostTopics} | ${
        ourKind ? row.lostWithGap : "-"
      } | ${ourKind ? row.gapTopics : "-"} | ${ourKind ? row.repairs : "-"} |`,
    );
  }
  print();
}

// ---- targets (issue 14), from the figures above ----

const verdict = (ok: boolean) => ok ? "met" : "missed";
const targets: string[] = [];
for (const [shape, size] of SHAPES.flatMap((shape) => sizes.map((size) => [shape, size] as const))) {
  const base = crossRows.find((r) => r.shape === shape && r.kind.key === BASELINE && r.size === size);
  if (base === undefined) continue;
  const rateOf = (row: typeof crossRows[number]) => median(row.samples.map((s) => s.delivered / s.seconds));
  const p99Of = (row: typeof crossRows[number]) => median(row.samples.map((s) => s.p99us));
  const mine = crossRows.filter((r) => r.shape === shape && r.size === size && r.kind.protocol === "ws");
  const fastest = [...mine].sort((a, b) => rateOf(b) - rateOf(a))[0];
  for (const row of mine) {
    const rate = rateOf(row) / rateOf(base), p99 = p99Of(row) / p99Of(base);
    targets.push(
      `Cross-node (${shape.title}), ${size} B, ${row.kind.name}${
        row === fastest ? " (the fastest of ours)" : ""
      }: ${rate.toFixed(2)}x socket.io classic's delivered rate (target at least 2x: ${
        verdict(rate >= 2)
      }), ${p99.toFixed(2)}x its p99 (target at most 0.5x: ${verdict(p99 <= 0.5)}).`,
    );
  }
}
for (const row of faninRows) {
  const worst = Math.max(...row.reads.map((reads, i) => reads / row.own[i]));
  targets.push(
    `Fan-in, ${row.kind.name}: a node read at most ${worst.toFixed(2)}x its own rooms' messages from Redis` +
      (row.kind.protocol === "ws" ? ` (target at most 1.05x: ${verdict(worst <= 1.05)}).` : "."),
  );
}
for (const kind of [...new Set(faultRows.map((r) => r.kind))]) {
  const rows = faultRows.filter((r) => r.kind === kind);
  const slowest = Math.max(...rows.map((r) => Number.isNaN(r.resubscribedMs) ? Infinity : r.resubscribedMs));
  const traffic = rows.reduce((sum, r) => sum + r.trafficTopics, 0);
  const gapped = rows.reduce((sum, r) => sum + r.trafficWithGap, 0);
  targets.push(
    `Faults, ${kind.name}: every topic resubscribed at most ${
      fixed(slowest, 0)
    } ms after Redis was back, over ${rows.length} restarts` +
      (kind.protocol === "ws"
        ? ` (target within 1000 ms: ${
          verdict(slowest <= 1000)
        }); a gap event on ${gapped} of the ${traffic} topics with traffic during the outages (target every one: ${
          verdict(gapped === traffic)
        }).`
        : "; no gap signal."),
  );
}
if (targets.length > 0) {
  print("## Targets (issue 14)");
  print();
  for (const target of targets) print(`- ${target}`);
  print();
}

if (notes.length + failures.length > 0) {
  print("## Notes");
  print();
  for (const note of notes) print(`- ${note}`);
  for (const failure of failures) print(`- failed: ${failure}`);
}
if (out !== "-") {
  writeFileSync(out, lines.join("\n") + "\n");
  console.error(`written to ${out}`);
}
