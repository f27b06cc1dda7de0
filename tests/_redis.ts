/**
 * A real redis-server for the backplane tests: started on a free port of 127.0.0.1 with nothing saved
 * (`--save "" --appendonly no`), killed and started again on the same port to simulate a restart, and
 * stopped in every test's `finally`. Debian's `redis-server` package (CI installs it in .ci/run); where it
 * is missing the tests are skipped, except that under `REQUIRE_PEERS=1` they fail, like the interop tests.
 *
 * @module
 */

import { test } from "node:test";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { connect, createServer } from "node:net";
import process from "node:process";

/** Debian's redis-server. */
export const REDIS_SERVER_PATH = "/usr/bin/redis-server";

/** CI sets `REQUIRE_PEERS=1`: a missing redis-server then fails the tests that need it. */
const REQUIRE_PEERS = process.env.REQUIRE_PEERS === "1";

/** Why redis-server cannot run here, or `undefined` if it can. */
export const REDIS_MISSING: string | undefined = existsSync(REDIS_SERVER_PATH)
  ? undefined
  : `${REDIS_SERVER_PATH} is missing (apt-get install redis-server)`;

/** Servers started and not stopped: killed if the test process exits first. */
const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** @returns A port that was free a moment ago on 127.0.0.1. */
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

/** @returns Whether a PING on the port is answered with PONG. */
function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let reply = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk: Uint8Array) => {
      reply += new TextDecoder().decode(chunk);
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"));
    });
  });
}

/** One redis-server process, on a port it keeps across restarts. */
export class RedisServer {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  #child: ChildProcess | undefined;
  #log = "";

  private constructor(port: number) {
    this.port = port;
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Whether the process is running. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /**
   * Starts a server on a free port.
   *
   * @returns The server, once it answers PING.
   */
  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort());
    await server.#spawn();
    return server;
  }

  /** Kills the process (SIGKILL: no goodbye to the clients, as a crash) and waits for it to exit. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    else return void running.delete(child);
    await exited;
    running.delete(child);
  }

  /** Starts the process again on the same port. */
  async restart(): Promise<void> {
    await this.kill();
    await this.#spawn();
  }

  /** Stops the server (for a test's `finally`: safe to call twice). */
  stop(): Promise<void> {
    return this.kill();
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
    running.add(child);
    this.#child = child;
    this.#log = "";
    const keep = (chunk: Uint8Array) =>
      this.#log = (this.#log + new TextDecoder().decode(chunk)).slice(-4000);
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    for (const started = Date.now(); !(await pings(this.port));) {
      if (child.exitCode !== null || Date.now() - started > 5000) {
        await this.kill();
        throw new Error(
          `Cannot start redis-server on port ${this.port}: ${
            this.#log.trim().split("\n").slice(-3).join(" / ")
          }`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** Options for {@linkcode redisTest}. */
export interface RedisTestOptions {
  /** Milliseconds for the whole test. @default {20000} */
  timeout?: number;
}

/**
 * Registers a test that runs against a fresh redis-server, stopped in its `finally`. Skipped where
 * redis-server is missing, failed instead under `REQUIRE_PEERS=1`.
 *
 * @param name The test's name.
 * @param fn The body, given the running server.
 * @param options The timeout.
 */
export function redisTest(
  name: string,
  fn: (server: RedisServer) => Promise<void>,
  options: RedisTestOptions = {},
): void {
  const missing = REDIS_MISSING;
  if (missing !== undefined) {
    if (REQUIRE_PEERS) {
      test(name, () => {
        throw new Error(`Cannot run the test: ${missing}, and REQUIRE_PEERS=1`);
      });
    } else test(name, { skip: missing }, () => {});
    return;
  }
  test(name, { timeout: options.timeout ?? 20_000 }, async () => {
    const server = await RedisServer.start();
    try {
      await fn(server);
    } finally {
      await server.stop();
    }
  });
}
