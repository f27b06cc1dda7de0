// This library's serve() with createPubSub({ backplane: redisBackplane(...) }): one node of
// bench/crossnode_bench.ts. The same file on Node (the build in dist/: `npm run build` first), Bun and Deno
// (the TypeScript source).
//
//   node bench/crossnode/ours_server.mjs PORT REDIS_URL NODE_ID SHARDED(1|0) dist [PREFIX]
//   bun bench/crossnode/ours_server.mjs PORT REDIS_URL NODE_ID SHARDED(1|0) src [PREFIX]
//   deno run -A bench/crossnode/ours_server.mjs PORT REDIS_URL NODE_ID SHARDED(1|0) src [PREFIX]
//
// PREFIX: the backplane's channel prefix (default "ws:"). ADAPTER: serve (default) or listenBun (Bun.listen's
// sockets, no node:net).
//
//   bun bench/crossnode/ours_server.mjs PORT REDIS_URL NODE_ID SHARDED(1|0) src PREFIX listenBun
//
// A socket's role is in its URL's query: `role=sub&room=rK` subscribes it to rK; `role=sub&topics=F:N` to
// tF..t(F+N-1); `role=pub&room=rK` publishes what it sends to rK (ws.publish: the sender left out, and it is
// no subscriber); `role=pub&rotate=N` publishes its k-th message to t(k mod N). Text stays its UTF-8 bytes
// (`textAsBytes`). Prints its URL once the backplane is connected, `counters {json}` on SIGUSR2 and when it
// ends (SIGTERM, SIGINT): the pub/sub stats, the backplane's stats (prefixed `bp_`), and the gap events
// (`gapEvents`; `gapTopics`: the topics with one since the previous counters line, when there are any).
import process from "node:process";

const [port, redisUrl, nodeId, shardedArg, source = "src", prefix = "ws:", adapter = "serve"] = process.argv
  .slice(2);
// SOURCE: dist (the build), src (lib/ of this checkout), the absolute path of a folder holding a lib/, or
// dist: and such a path (its build in dist/lib/).
const [base, ext] = source === "dist"
  ? ["../../dist/lib/", ".js"]
  : source === "src"
  ? ["../../lib/", ".ts"]
  : source.startsWith("dist:")
  ? [`file://${source.slice(5)}/dist/lib/`, ".js"]
  : [`file://${source}/lib/`, ".ts"];
const serve = adapter === "listenBun"
  ? (await import(`${base}adapters/bun_listen${ext}`)).listenBun
  : (await import(`${base}adapters/serve${ext}`)).serve;
const { createPubSub } = await import(`${base}pubsub/pubsub${ext}`);
const { redisBackplane } = await import(`${base}backplane/redis_backplane${ext}`);

const backplane = await redisBackplane({ url: redisUrl, nodeId, sharded: shardedArg !== "0", prefix });
const pubsub = createPubSub({ backplane });
let gapEvents = 0;
const gapTopics = new Set();
pubsub.addEventListener("gap", (event) => {
  gapEvents++;
  gapTopics.add(event.topic);
});

const server = await serve({
  port: Number(port),
  hostname: "127.0.0.1",
  deflate: false,
  textAsBytes: true,
  pubsub,
  websocket: {
    open(ws) {
      const query = new URL(ws.request.url, "http://localhost").searchParams;
      const data = { room: query.get("room") ?? "", rotate: Number(query.get("rotate") ?? 0), sent: 0 };
      ws.data = data;
      if (query.get("role") !== "sub") return;
      if (data.room !== "") ws.subscribe(data.room);
      const topics = query.get("topics");
      if (topics !== null) {
        const [first, count] = topics.split(":").map(Number);
        for (let i = first; i < first + count; i++) ws.subscribe(`t${i}`);
      }
    },
    message(ws, data, binary) {
      const d = ws.data;
      if (d.rotate > 0) ws.publish(`t${d.sent++ % d.rotate}`, data, { binary });
      else if (d.room !== "") ws.publish(d.room, data, { binary });
    },
  },
});

const counters = () => {
  const out = { ...pubsub.stats, gapEvents, gapTopicCount: gapTopics.size };
  for (const [key, value] of Object.entries(backplane.stats)) out[`bp_${key}`] = value;
  if (gapTopics.size > 0) out.gapTopics = [...gapTopics];
  gapTopics.clear();
  return out;
};
const printCounters = () => console.log(`counters ${JSON.stringify(counters())}`);
let ending = false;
const end = async () => {
  if (ending) return;
  ending = true;
  printCounters();
  setTimeout(() => process.exit(0), 1500);
  await Promise.allSettled([server.close(), backplane.close()]);
  process.exit(0);
};
const deno = globalThis.Deno;
if (deno !== undefined) {
  deno.addSignalListener("SIGUSR2", printCounters);
  deno.addSignalListener("SIGTERM", end);
  deno.addSignalListener("SIGINT", end);
} else {
  process.on("SIGUSR2", printCounters);
  process.on("SIGTERM", end);
  process.on("SIGINT", end);
}
console.log(
  `config ${adapter}, runtime ${
    deno
      ? `Deno ${deno.version.deno}`
      : globalThis.Bun
      ? `Bun ${globalThis.Bun.version}`
      : `Node ${process.version}`
  }, ${shardedArg !== "0" ? "sharded" : "classic"} pub/sub`,
);
console.log(server.url);
