/**
 * Client for bench/connections_memory.ts: opens CONNECTIONS WebSockets (Bun's built-in client) and then
 * obeys commands on stdin, one per line, printing `done <command>` after each:
 * - `message`: each connection sends one 2 KiB JSON text message and waits for its echo;
 * - `burst`: each connection sends 20 such messages at once and waits for the echoes;
 * - `exit`: closes everything.
 *
 *   bun bench/echo/memory_client.ts URL CONNECTIONS COMPRESS(0|1)
 *
 * @module
 */

import process from "node:process";
import { createInterface } from "node:readline";

const [url, connectionsArg, compressArg] = process.argv.slice(2);
const connections = Number(connectionsArg);

function json2k(i: number): string {
  const items = [];
  for (let j = 0; JSON.stringify(items).length < 2048; j++) items.push({ id: i * 100 + j, name: `user ${j}`, online: j % 3 === 0 });
  return JSON.stringify(items).slice(0, 2048);
}

interface Client {
  ws: WebSocket;
  waiting: number;
  resolve: (() => void) | undefined;
}

const clients: Client[] = [];
let extensions = "";
for (let start = 0; start < connections; start += 100) {
  const batch = Array.from({ length: Math.min(100, connections - start) }, (_, k) =>
    new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: compressArg === "1" } as unknown as string[]);
      const client: Client = { ws, waiting: 0, resolve: undefined };
      ws.onopen = () => {
        extensions = ws.extensions;
        clients.push(client);
        resolve();
      };
      ws.onerror = () => reject(new Error(`connection ${start + k} failed`));
      ws.onmessage = () => {
        if (--client.waiting === 0) client.resolve?.();
      };
    }));
  await Promise.all(batch);
}
console.log(`open ${clients.length} ${extensions || "-"}`);

function exchange(count: number): Promise<void[]> {
  return Promise.all(clients.map((client, i) =>
    new Promise<void>((resolve) => {
      client.waiting = count;
      client.resolve = resolve;
      for (let k = 0; k < count; k++) client.ws.send(json2k(i * 31 + k));
    })
  ));
}

for await (const line of createInterface({ input: process.stdin })) {
  const command = line.trim();
  if (command === "message") await exchange(1);
  else if (command === "burst") await exchange(20);
  else if (command === "exit") break;
  console.log(`done ${command}`);
}
for (const { ws } of clients) ws.close();
process.exit(0);
