/**
 * Presence in a large room, over a real redis-server (Debian's, started on a free port of 127.0.0.1 and
 * stopped at the end): two nodes in this process, each a PubSub over its own redisBackplane. `N` members
 * join the room on node B, spread evenly over `--ramp-ms`; node A has one member and follows the room. The
 * application's pattern is the demo's: on each `"presence"` event, send the member list to the room.
 *
 * Reported per N and interval: presence messages B put on Redis, presence events on A, the member-list
 * messages the application then sends to members (each event's list to every member there at that time),
 * against what one message per join to every member would cost (N(N+1)/2); the longest wait on A from a
 * join to the event carrying it; CPU of the process (both nodes) per join.
 *
 *   deno run -A bench/presence_bench.ts [--members 100,1000,10000] [--intervals 250,1000] [--ramp-ms 2000]
 *
 * @module
 */

import process from "node:process";
import { redisBackplane } from "../lib/backplane/redis_backplane.ts";
import { createPubSub, type PresenceEvent, type Subscriber } from "../lib/pubsub/pubsub.ts";
import { RedisServer } from "../tests/_redis.ts";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const MEMBERS = option("members", "100,1000,10000").split(",").map(Number);
const INTERVALS = option("intervals", "250,1000").split(",").map(Number);
const RAMP_MS = Number(option("ramp-ms", "2000"));

const subscriber = (): Subscriber => ({ deliver: () => true });

interface Row {
  members: number;
  interval: number;
  redisMessages: number;
  events: number;
  listMessages: number;
  perJoinMessages: number;
  maxWaitMs: number;
  cpuUsPerJoin: number;
}

async function run(server: RedisServer, members: number, interval: number): Promise<Row> {
  const [backplaneA, backplaneB] = await Promise.all([
    redisBackplane({ url: server.url }),
    redisBackplane({ url: server.url }),
  ]);
  const a = createPubSub({ backplane: backplaneA, presence: { interval } });
  const b = createPubSub({ backplane: backplaneB, presence: { interval } });
  const joinedAt = new Map<string, number>();
  let events = 0, listMessages = 0, maxWaitMs = 0, seen = 0, inRoom = 1;
  a.addEventListener("presence", (event) => {
    const { joins, leaves } = event as PresenceEvent;
    events++;
    inRoom += joins.length - leaves.length;
    // The demo's reply to an event: the member list, to every member in the room.
    listMessages += inRoom;
    const now = performance.now();
    for (const member of joins) {
      const at = joinedAt.get(member.id);
      if (at === undefined) continue;
      maxWaitMs = Math.max(maxWaitMs, now - at);
      seen++;
    }
  });
  try {
    a.subscribe(subscriber(), "room", { presence: { id: "watcher" } });
    await new Promise((resolve) => setTimeout(resolve, interval * 2));
    await backplaneB.flush();
    const published = backplaneB.stats.published;
    const eventsBefore = events, listBefore = listMessages;
    const cpu = process.cpuUsage();
    const started = performance.now();
    // N joins spread over the ramp, in steps of 10 ms.
    const steps = Math.max(1, Math.round(RAMP_MS / 10));
    let joined = 0;
    for (let step = 1; step <= steps; step++) {
      const target = Math.round((members * step) / steps);
      for (; joined < target; joined++) {
        const id = `user${joined}`;
        joinedAt.set(id, performance.now());
        b.subscribe(subscriber(), "room", { presence: { id } });
      }
      const wait = started + step * 10 - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    for (const deadline = Date.now() + 30_000; seen < members && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (seen < members) throw new Error(`Cannot see ${members} joins on A in 30 s: ${seen}`);
    const used = process.cpuUsage(cpu);
    await backplaneB.flush();
    return {
      members,
      interval,
      redisMessages: backplaneB.stats.published - published,
      events: events - eventsBefore,
      listMessages: listMessages - listBefore,
      perJoinMessages: (members * (members + 1)) / 2 + members, // each join to everyone there, A's member too
      maxWaitMs,
      cpuUsPerJoin: (used.user + used.system) / members,
    };
  } finally {
    a.close();
    b.close();
    await Promise.all([backplaneA.close(), backplaneB.close()]);
  }
}

const server = await RedisServer.start();
const rows: Row[] = [];
try {
  for (const members of MEMBERS) {
    for (const interval of INTERVALS) rows.push(await run(server, members, interval));
  }
} finally {
  await server.stop();
}

const runtime = "Deno" in globalThis ? "Deno" : "Bun" in globalThis ? "Bun" : "Node";
console.log(
  `presence_bench on ${runtime}: N joins on node B over ${RAMP_MS} ms, node A following the room\n`,
);
console.log(
  "| N | interval ms | presence msgs on Redis | events on A | member-list msgs (app) | one msg per join to all | max join→event ms | CPU µs/join |",
);
console.log("|---|---|---|---|---|---|---|---|");
for (const row of rows) {
  console.log(
    `| ${row.members} | ${row.interval} | ${row.redisMessages} | ${row.events} | ${row.listMessages} | ${row.perJoinMessages} | ${
      row.maxWaitMs.toFixed(0)
    } | ${row.cpuUsPerJoin.toFixed(1)} |`,
  );
}
process.exit(0);
