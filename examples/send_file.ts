/**
 * Streaming a file over a WebSocket with `sendStream`: the file is read 64 KiB at a time only as fast as
 * the socket drains (the stream is pulled when the connection can take more: backpressure), and goes out
 * as one fragmented binary message. A text message before it names the file and its size; one after it
 * carries its SHA-256, which the receiving side checks.
 *
 *   deno run --allow-net --allow-env --allow-read examples/send_file.ts serve --dir ./public [--port 8080]
 *   deno run --allow-net --allow-env --allow-write examples/send_file.ts get ws://127.0.0.1:8080/a.bin [--out a.bin]
 *   (or `bun examples/send_file.ts ...`)
 *
 * @module
 */

import { createHash } from "node:crypto";
import { open, stat, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import process from "node:process";
import { serve } from "../lib/adapters/serve.ts";
import { connectNode } from "../lib/adapters/node_client.ts";

const CHUNK = 64 * 1024;
const MAX_SIZE = 256 * 1024 * 1024; // the receiver holds the message in memory: its maxMessageSize
const option = (name: string) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? undefined : process.argv[index + 1];
};

if (process.argv.includes("get")) {
  // The receiving side: the header, the file, then the trailer with the hash to check against.
  const url = process.argv[process.argv.indexOf("get") + 1];
  const { connection } = await connectNode(url, { maxMessageSize: MAX_SIZE });
  const messages: (string | Uint8Array)[] = [];
  connection.onmessage = (data) => void messages.push(data);
  const { code, reason } = await connection.closed;
  const [header, file, trailer] = messages;
  if (
    code !== 1000 || typeof file === "string" || typeof header !== "string" || typeof trailer !== "string"
  ) {
    console.log(`failed: closed with ${code} ${reason}`);
    process.exit(1);
  }
  const { name, size } = JSON.parse(header), { sha256 } = JSON.parse(trailer);
  const actual = createHash("sha256").update(file).digest("hex");
  if (file.length !== size || actual !== sha256) {
    console.log(`failed: ${name}: ${file.length} of ${size} bytes, sha256 ${actual}, expected ${sha256}`);
    process.exit(1);
  }
  if (option("out") !== undefined) await writeFile(option("out")!, file);
  console.log(`received ${name}: ${size} bytes, sha256 ${sha256} ok`);
} else {
  const dir = resolve(option("dir") ?? ".");
  const server = await serve<{ path: string; name: string; size: number }>({
    port: Number(option("port") ?? 8080),
    upgrade: async (request) => {
      // The last path segment only: no way out of the directory.
      const name = basename(decodeURIComponent(new URL(request.url).pathname));
      const path = join(dir, name);
      const info = await stat(path).catch(() => undefined);
      if (name === "" || info === undefined || !info.isFile()) {
        return new Response(`Not found: ${name}\n`, { status: 404 });
      }
      if (info.size > MAX_SIZE) return new Response(`Too large: ${name}\n`, { status: 413 });
      return { data: { path, name, size: info.size } };
    },
    websocket: {
      open: async (ws) => {
        const file = await open(ws.data.path);
        const hash = createHash("sha256");
        const buffer = new Uint8Array(CHUNK);
        try {
          await ws.send(JSON.stringify({ name: ws.data.name, size: ws.data.size }));
          // pull() is called only when the connection wants more: the file is never read ahead of the socket.
          await ws.connection!.sendStream(
            new ReadableStream<Uint8Array>({
              async pull(controller) {
                const { bytesRead } = await file.read(buffer, 0, CHUNK, null);
                if (bytesRead === 0) return controller.close();
                const chunk = buffer.slice(0, bytesRead); // a copy: the buffer is reused for the next read
                hash.update(chunk);
                controller.enqueue(chunk);
              },
            }, { highWaterMark: 0 }),
          );
          await ws.send(JSON.stringify({ sha256: hash.digest("hex") }));
          ws.close(1000, "sent");
        } catch {
          // The client went away: nothing to send it.
        } finally {
          await file.close();
        }
      },
    },
  });
  console.log(`Serving ${dir} file by file, listening on ${server.url}`);
}
