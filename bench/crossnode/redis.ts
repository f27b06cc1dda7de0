/**
 * The redis-server of bench/crossnode_bench.ts (Debian's, on a free port of 127.0.0.1, nothing saved), and a
 * minimal RESP client for the bench's own questions (PUBSUB, INFO, FLUSHALL): a fresh connection per call,
 * so that it needs no reconnect logic across a restart.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { connect, createServer } from "node:net";
import { Buffer } from "node:buffer";
import process from "node:process";
import { children } from "../fanout/servers.ts";

export const REDIS_SERVER_PATH = "/usr/bin/redis-server";

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

type Reply = string | number | null | Error | Reply[];

/** Parses one RESP reply from `buffer` at `offset`: [reply, next offset], or undefined if incomplete. */
function parse(buffer: Buffer, offset: number): [Reply, number] | undefined {
  const end = buffer.indexOf("\r\n", offset);
  if (end === -1) return undefined;
  const line = buffer.toString("latin1", offset + 1, end);
  switch (buffer[offset]) {
    case 0x2b: // +
      return [line, end + 2];
    case 0x2d: // -
      return [new Error(line), end + 2];
    case 0x3a: // :
      return [Number(line), end + 2];
    case 0x24: { // $
      const length = Number(line);
      if (length === -1) return [null, end + 2];
      if (buffer.length < end + 2 + length + 2) return undefined;
      return [buffer.toString("utf8", end + 2, end + 2 + length), end + 2 + length + 2];
    }
    case 0x2a: { // *
      const count = Number(line);
      if (count === -1) return [null, end + 2];
      const items: Reply[] = [];
      let at = end + 2;
      for (let i = 0; i < count; i++) {
        const item = parse(buffer, at);
        if (item === undefined) return undefined;
        items.push(item[0]);
        at = item[1];
      }
      return [items, at];
    }
  }
  throw new Error(`unexpected RESP type ${String.fromCharCode(buffer[offset])}`);
}

/** Sends commands on a fresh connection; resolves with their replies (rejects if the connection fails). */
export function redisCommands(
  port: number,
  commands: (string | number)[][],
  timeoutMs = 5000,
): Promise<Reply[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let buffer = Buffer.alloc(0), offset = 0;
    const replies: Reply[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`Redis did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("connect", () => {
      let out = "";
      for (const words of commands) {
        out += `*${words.length}\r\n`;
        for (const word of words) out += `$${Buffer.byteLength(String(word))}\r\n${word}\r\n`;
      }
      socket.write(out);
    });
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer.subarray(offset), chunk]);
      offset = 0;
      for (;;) {
        const reply = parse(buffer, offset);
        if (reply === undefined) break;
        replies.push(reply[0]);
        offset = reply[1];
        if (replies.length === commands.length) {
          clearTimeout(timer);
          socket.destroy();
          return resolve(replies);
        }
      }
    });
  });
}

/** One command's reply. */
export async function redisCommand(port: number, ...words: (string | number)[]): Promise<Reply> {
  return (await redisCommands(port, [words]))[0];
}

/** One redis-server process, on a port it keeps across restarts. */
export class RedisProcess {
  readonly port: number;
  #child: ChildProcess | undefined;
  #log = "";

  private constructor(port: number) {
    this.port = port;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.#child?.pid ?? NaN;
  }

  static async start(): Promise<RedisProcess> {
    const redis = new RedisProcess(await freePort());
    await redis.#spawn();
    return redis;
  }

  /** SIGKILL (a crash: no goodbye to the clients); resolves once it has exited. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return void children.delete(child);
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    process.kill(child.pid!, "SIGKILL");
    await exited;
    children.delete(child);
  }

  /** Starts it on the same port; resolves once it answers PING. */
  start(): Promise<void> {
    return this.#spawn();
  }

  async #spawn(): Promise<void> {
    const child = spawn(REDIS_SERVER_PATH, [
      "--port",
      String(this.port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
    ], { stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    this.#child = child;
    this.#log = "";
    const keep = (chunk: Uint8Array) =>
      this.#log = (this.#log + new TextDecoder().decode(chunk)).slice(-4000);
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    for (const started = Date.now();;) {
      try {
        if (await redisCommand(this.port, "PING") === "PONG") return;
      } catch { /* not yet */ }
      if (child.exitCode !== null || Date.now() - started > 5000) {
        await this.kill();
        throw new Error(
          `Cannot start redis-server on port ${this.port}: ${
            this.#log.trim().split("\n").slice(-3).join(" / ")
          }`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}
