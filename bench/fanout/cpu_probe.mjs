// One fan-out server's CPU per delivered message, user and system apart, over one longer broadcast (for
// A/B comparisons of a change and for profiles: put `--cpu-prof` in the server command). Starts the
// server command (which prints its URL: bench/fanout/*), connects 1,000 subscribers with the load client
// (bench/fanout/load_client.ts on Bun), runs one broadcast of SIZE bytes for SECONDS s, and prints one JSON
// line: delivered, rate, user and system us per delivered (/proc/PID/stat over the broadcast), p99 us.
// STRACE=file also counts the server's system calls over the broadcast (strace -c). COMPRESS=1: the
// subscribers offer permessage-deflate (start the server with compression too).
//
//   node bench/fanout/cpu_probe.mjs SIZE SECONDS -- node --experimental-websocket bench/fanout/ours_node.mjs 0 0
//   node bench/fanout/cpu_probe.mjs 16384 3 -- ./node_modules/.bin/deno run -A bench/fanout/ours.ts 0 0 listenDeno
//   node bench/fanout/cpu_probe.mjs 16384 3 -- node bench/fanout/ws_server.mjs 0 0
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

const [size, seconds, dash, ...command] = process.argv.slice(2);
if (dash !== "--" || command.length === 0) {
  console.error("usage: node bench/fanout/cpu_probe.mjs SIZE SECONDS -- SERVER COMMAND...");
  process.exit(2);
}
const server = spawn(command[0], command.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
const url = await new Promise((resolve, reject) => {
  server.on("exit", (code) => reject(new Error(`the server exited (${code}) before printing its URL`)));
  createInterface({ input: server.stdout }).on("line", (line) => {
    if (/^(wss?|https?):/.test(line)) resolve(line.trim());
    else console.error(`[server] ${line}`);
  });
});
const client = spawn("./node_modules/.bin/bun", ["bench/fanout/load_client.ts", url, "ws", process.env.COMPRESS === "1" ? "1" : "0", String(server.pid)], {
  stdio: ["pipe", "pipe", "inherit"],
});
const answers = [];
let waiter;
createInterface({ input: client.stdout }).on("line", (line) => {
  if (waiter === undefined) answers.push(line);
  else {
    const w = waiter;
    waiter = undefined;
    w(line);
  }
});
const call = (command) => {
  client.stdin.write(JSON.stringify(command) + "\n");
  return answers.length > 0 ? Promise.resolve(answers.shift()) : new Promise((resolve) => waiter = resolve);
};
/** User and system CPU of a process, in microseconds (clock ticks of 10 ms). */
const cpu = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return [Number(fields[11]) * 10_000, Number(fields[12]) * 10_000];
};

await call({ cmd: "connect", subscribers: 1000 });
let strace;
if (process.env.STRACE) {
  strace = spawn("strace", ["-c", "-f", "-p", String(server.pid), "-o", process.env.STRACE], { stdio: "inherit" });
  await new Promise((resolve) => setTimeout(resolve, 500));
}
const before = cpu(server.pid);
const run = JSON.parse(
  await call({
    cmd: "broadcast",
    size: Number(size),
    seconds: Number(seconds),
    warmup: 0.2,
    window: 16,
    queueMs: 200,
    quorum: 0.95,
    slow: false,
  }),
);
const after = cpu(server.pid);
if (strace !== undefined) {
  strace.kill("SIGINT");
  await new Promise((resolve) => strace.on("exit", resolve));
}
console.log(JSON.stringify({
  delivered: run.delivered,
  rate: Math.round(run.delivered / run.seconds),
  userUsPerDelivered: +((after[0] - before[0]) / run.delivered).toFixed(2),
  systemUsPerDelivered: +((after[1] - before[1]) / run.delivered).toFixed(2),
  p99us: run.p99us,
  window: run.window === undefined ? undefined : +run.window.toFixed(2),
}));
await call({ cmd: "disconnect" });
await call({ cmd: "exit" });
server.kill("SIGTERM");
await new Promise((resolve) => server.on("exit", resolve));
