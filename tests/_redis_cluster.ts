/**
 * A real 3-node Redis Cluster for the backplane tests: Debian's redis-server started three times with
 * `--cluster-enabled yes` on free ports of 127.0.0.1 (each with its own directory for its `nodes.conf`, and
 * nothing else saved), joined by `redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes`, and
 * stopped (and the directories removed) in every test's `finally`. A node can be killed (SIGKILL) and started
 * again on its port: it comes back with its `nodes.conf`, so with its id and slots.
 *
 * @module
 */

import { test } from "node:test";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { REDIS_MISSING, REDIS_SERVER_PATH } from "./_redis.ts";

/** Debian's redis-cli (same package as redis-server). */
export const REDIS_CLI_PATH = "/usr/bin/redis-cli";

const REQUIRE_PEERS = process.env.REQUIRE_PEERS === "1";

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** @returns A port that was free a moment ago on 127.0.0.1 (and whose cluster bus port, +10000, too). */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await listenFree(0);
    if (port + 10000 < 65536 && await listenFree(port + 10000).then(() => true, () => false)) return port;
  }
  throw new Error("Cannot find a free port with a free cluster bus port");
}

function listenFree(port: number): Promise<number> {
  const server = createServer();
  return new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const { port: bound } = server.address() as { port: number };
      server.close(() => resolve(bound));
    });
  });
}

/** Sends one inline command and returns the raw reply (up to a short wait), or `""` if unreachable. */
function ask(port: number, command: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let reply = "";
    const done = () => {
      socket.destroy();
      resolve(reply);
    };
    socket.setTimeout(500, done);
    socket.on("error", done);
    socket.on("connect", () => socket.write(`${command}\r\n`));
    socket.on("data", (chunk: Uint8Array) => {
      reply += new TextDecoder().decode(chunk);
      // A bulk string reply: done once it is all there.
      const match = /^\$(\d+)\r\n/.exec(reply);
      if (match === null ? reply.endsWith("\r\n") : reply.length >= match[0].length + Number(match[1]) + 2) {
        done();
      }
    });
  });
}

/** Runs a program to its end; rejects with its output if it fails. */
function run(path: string, args: string[], ms = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Uint8Array) => output += new TextDecoder().decode(chunk));
    child.stderr.on("data", (chunk: Uint8Array) => output += new TextDecoder().decode(chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), ms);
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`${path} ${args.join(" ")} exited with ${code}: ${output.slice(-500)}`));
    });
  });
}

/** One node of the cluster. */
export class ClusterNode {
  readonly port: number;
  readonly #dir: string;
  #child: ChildProcess | undefined;

  constructor(port: number, dir: string) {
    this.port = port;
    this.#dir = dir;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the process (again), and waits for it to answer PING. */
  async start(): Promise<void> {
    const child = spawn(REDIS_SERVER_PATH, [
      "--port",
      String(this.port),
      "--bind",
      "127.0.0.1",
      "--cluster-enabled",
      "yes",
      "--cluster-config-file",
      `nodes-${this.port}.conf`,
      "--cluster-node-timeout",
      "2000",
      "--dir",
      this.#dir,
      "--save",
      "",
      "--appendonly",
      "no",
    ], { stdio: ["ignore", "ignore", "ignore"] });
    running.add(child);
    this.#child = child;
    for (const started = Date.now(); !(await ask(this.port, "PING")).startsWith("+PONG");) {
      if (child.exitCode !== null || Date.now() - started > 5000) {
        await this.kill();
        throw new Error(`Cannot start a cluster node on port ${this.port}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Kills the process (SIGKILL) and waits for it to exit. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGKILL");
      await exited;
    }
    running.delete(child);
  }

  /** @returns Whether the node says the cluster is ok. */
  async ok(): Promise<boolean> {
    return (await ask(this.port, "CLUSTER INFO")).includes("cluster_state:ok");
  }
}

/** Three masters, each with `replicas` replicas. */
export class RedisCluster {
  readonly nodes: ClusterNode[];
  readonly #dir: string;

  private constructor(nodes: ClusterNode[], dir: string) {
    this.nodes = nodes;
    this.#dir = dir;
  }

  /** The nodes' URLs, for `redisBackplane({ cluster })`. */
  get urls(): string[] {
    return this.nodes.map((node) => node.url);
  }

  /**
   * Starts 3 × (1 + `replicas`) nodes and makes them a cluster; resolves when every node says
   * `cluster_state:ok` (and, with replicas, each master has its replicas in sync).
   */
  static async start(replicas = 0): Promise<RedisCluster> {
    const dir = mkdtempSync(join(tmpdir(), "wsengine-redis-cluster-"));
    const nodes: ClusterNode[] = [];
    const cluster = new RedisCluster(nodes, dir);
    try {
      for (let i = 0; i < 3 * (1 + replicas); i++) {
        const node = new ClusterNode(await freePort(), dir);
        nodes.push(node);
        await node.start();
      }
      await run(REDIS_CLI_PATH, [
        "--cluster",
        "create",
        ...nodes.map((node) => `127.0.0.1:${node.port}`),
        "--cluster-replicas",
        String(replicas),
        "--cluster-yes",
      ]);
      await cluster.waitOk();
      if (replicas > 0) {
        for (
          const started = Date.now();
          (await cluster.roles()).filter((role) => role === "master").length !== 3;
        ) {
          if (Date.now() - started > 20_000) {
            throw new Error("The cluster's replicas are not in place after 20 s");
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /** Waits until every running node says `cluster_state:ok`. */
  async waitOk(ms = 20_000): Promise<void> {
    for (const started = Date.now();;) {
      const states = await Promise.all(this.nodes.map((node) => node.ok()));
      if (states.every(Boolean)) return;
      if (Date.now() - started > ms) throw new Error(`The cluster is not ok after ${ms} ms: ${states}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** @returns Each node's role, as it says (`ROLE`): `"master"`, `"slave"`, or `""` if it does not answer. */
  async roles(): Promise<string[]> {
    return await Promise.all(this.nodes.map(async (node) => {
      const reply = await ask(node.port, "ROLE");
      return /^\*\d+\r\n\$\d+\r\n(\w+)/.exec(reply)?.[1] ?? "";
    }));
  }

  /** Stops every node and removes the directory. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.kill()));
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/** Why a cluster cannot run here, or `undefined`. */
export const CLUSTER_MISSING: string | undefined = REDIS_MISSING ??
  (existsSync(REDIS_CLI_PATH) ? undefined : `${REDIS_CLI_PATH} is missing (apt-get install redis-tools)`);

/**
 * Registers a test that runs against a fresh 3-node cluster, stopped in its `finally`; skipped where
 * redis-server or redis-cli is missing, failed instead under `REQUIRE_PEERS=1`.
 */
export function redisClusterTest(
  name: string,
  fn: (cluster: RedisCluster) => Promise<void>,
  options: { timeout?: number; replicas?: number } = {},
): void {
  const missing = CLUSTER_MISSING;
  if (missing !== undefined) {
    if (REQUIRE_PEERS) {
      test(name, () => {
        throw new Error(`Cannot run the test: ${missing}, and REQUIRE_PEERS=1`);
      });
    } else test(name, { skip: missing }, () => {});
    return;
  }
  test(name, { timeout: options.timeout ?? 60_000 }, async () => {
    const cluster = await RedisCluster.start(options.replicas ?? 0);
    try {
      await fn(cluster);
    } finally {
      await cluster.stop();
    }
  });
}
