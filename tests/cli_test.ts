/**
 * The CLI, driven as other tools drive it: `serve` prints a line with ws://H:P when it listens; `connect`
 * sends stdin lines, prints `< ` lines, reports protocol and extensions on stderr, exits 0 at end of input.
 * Every flag is run here as a subprocess: usage errors (exit 2), help (exit 0, nothing started),
 * connection failures and abnormal closes (exit 1). Under Deno and Bun the source runs
 * (`deno run -A cli.ts`, `bun cli.ts`); under Node, the published build, `node dist/cli.js` (the
 * package's `bin`). Loopback only; every server started is stopped.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer as createTcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { COMPILED, repoPath, runtimeArgs } from "./_files.ts";

const CLI = repoPath(COMPILED ? "dist/cli.js" : "cli.ts");
const RUNTIME = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node";

function cliArgs(args: string[]): string[] {
  return runtimeArgs(CLI, args);
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A running `serve`: its URL, what it printed so far, and a way to wait for a line. */
interface Server {
  child: ChildProcess;
  url: string;
  port: number;
  output(): string;
  waitFor(pattern: RegExp, ms?: number): Promise<string>;
}

/** Starts `serve` and resolves once the listening line appears (bounded). */
function startServe(args: string[]): Promise<Server> {
  const child = spawn(process.execPath, cliArgs(["serve", "--port", "0", ...args]), { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const waiters = new Set<() => void>();
  child.stdout!.on("data", (chunk) => {
    out += chunk;
    for (const waiter of waiters) waiter();
  });
  child.stderr!.on("data", (chunk) => out += chunk);
  const waitFor = (pattern: RegExp, ms = 10_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(out);
        if (match === null) return false;
        waiters.delete(onData);
        clearTimeout(timer);
        resolve(match[0]);
        return true;
      };
      const onData = () => void check();
      const timer = setTimeout(() => {
        waiters.delete(onData);
        reject(new Error(`serve printed nothing matching ${pattern} within ${ms} ms: ${out}`));
      }, ms);
      if (!check()) waiters.add(onData);
    });
  return new Promise((resolve, reject) => {
    child.on("exit", (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
    waitFor(/wss?:\/\/[^\s/]+:(\d+)/).then((url) => {
      resolve({ child, url: url + "/", port: Number(/:(\d+)$/.exec(url)![1]), output: () => out, waitFor });
    }, (error) => {
      child.kill();
      reject(error);
    });
  });
}

/** Sends a signal to a child process, if it is still there. */
function signal(child: ChildProcess, name: "SIGTERM" | "SIGKILL"): void {
  try {
    // Not child.kill(): Deno's node:child_process then reports the signal as the cause of the exit even
    // when the child handled it and exited with a code of its own.
    process.kill(child.pid!, name);
  } catch {
    // Gone already.
  }
}

/** Stops a child process (SIGTERM, SIGKILL after 5 s) and waits for it to exit; resolves with its exit code. */
function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => signal(child, "SIGKILL"), 5_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    signal(child, "SIGTERM");
  });
}

/** Runs the CLI with `input` on stdin (ended); resolves with its exit code and output (bounded). */
function run(args: string[], input = ""): Promise<Result> {
  const child = spawn(process.execPath, cliArgs(args), { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "", stderr = "";
  child.stdout!.on("data", (chunk) => stdout += chunk);
  child.stderr!.on("data", (chunk) => stderr += chunk);
  child.stdin!.on("error", () => {}); // a CLI that exits without reading stdin
  child.stdin!.end(input);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal(child, "SIGKILL");
      reject(new Error(`${args.join(" ")} did not exit within 15 s\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, 15_000);
    // 'close', not 'exit': 'exit' may come before the child's output has been read from its pipes (Node
    // once resolved `help serve` here with an empty stdout and exit code 0).
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function runConnect(args: string[], input = ""): Promise<Result> {
  return run(["connect", ...args], input);
}

/** Runs several command lines, a few at a time (two shared cores must not time them out). */
async function runAll(commands: string[][], width = 4): Promise<Result[]> {
  const results: Result[] = new Array(commands.length);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < commands.length) {
      const index = next++;
      results[index] = await run(commands[index]);
    }
  }));
  return results;
}

/** The seconds a `closed:` line reports (from the opening of the connection). */
function closedAfter(stderr: string): number {
  const match = /closed: \d+.* after (\d+\.\d) s/.exec(stderr);
  assert.ok(match, `a closed line: ${stderr}`);
  return Number(match[1]);
}

test("serve + connect: lines echo back as '< ' lines; protocol and extensions on stderr; exit 0", { timeout: 40_000 }, async () => {
  const server = await startServe(["--protocols", "chat,superchat"]);
  try {
    const result = await runConnect([server.url + "any/path", "--protocol", "superchat", "--protocol", "chat"], "first line\nsecond line\n");
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split("\n"), ["< first line", "< second line"]);
    assert.match(result.stderr, /protocol: chat/);
    assert.match(result.stderr, /extensions: permessage-deflate/);
    assert.match(result.stderr, /closed: 1000 after [\d.]+ s; sent 2 messages \(21 B\), received 2 \(21 B\)/);

    const plain = await runConnect([server.url, "--no-deflate"], "no compression\n");
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout.trim(), "< no compression");
    assert.match(plain.stderr, /extensions: \(none\)/);

    const custom = await runConnect([server.url, "--deflate", "client_max_window_bits=10; server_no_context_takeover"], "custom\n");
    assert.equal(custom.code, 0, custom.stderr);
    assert.match(custom.stderr, /server_no_context_takeover/);
    assert.match(custom.stderr, /client_max_window_bits=10/);
  } finally {
    await stop(server.child);
  }
});

test("serve runs on the raw listener by default on Deno and Bun (node:http on Node); --engine picks either", { timeout: 40_000 }, async () => {
  const expected = { bun: "raw (listenBun)", deno: "raw (listenDeno)", node: "node-http" }[RUNTIME];
  const byDefault = await startServe([]);
  const chosen = await startServe(["--engine", "node-http"]);
  const raw = RUNTIME === "node" ? undefined : await startServe(["--engine", "raw", "--no-deflate"]);
  try {
    assert.equal(await byDefault.waitFor(/^engine: .*$/m), `engine: ${expected}`);
    assert.equal(await chosen.waitFor(/^engine: .*$/m), "engine: node-http");
    if (raw !== undefined) assert.equal(await raw.waitFor(/^engine: .*$/m), `engine: ${expected}`);
    for (const server of [byDefault, chosen, ...(raw === undefined ? [] : [raw])]) {
      const result = await runConnect([server.url + "a/b", "-x", "hello"]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "< hello\n");
      await server.waitFor(/^#1 close 1000 .*$/m);
      assert.match(server.output(), /^#1 open 127\.0\.0\.1:\d+ \/a\/b protocol=\(none\) extensions=\S+$/m);
      const page = await fetch(server.url.replace("ws:", "http:") + "echo");
      assert.equal(page.status, 200);
      assert.match(await page.text(), /the server sends it back/);
      const missing = await fetch(server.url.replace("ws:", "http:") + "nothing/here");
      assert.equal(missing.status, 404);
      assert.match(await missing.text(), /^Not found: \/nothing\/here/);
    }
  } finally {
    await Promise.all([byDefault, chosen, ...(raw === undefined ? [] : [raw])].map((server) => stop(server.child)));
  }
});

test("serve --no-deflate declines compression; connect to a closed port fails with exit 1", { timeout: 40_000 }, async () => {
  const server = await startServe(["--no-deflate"]);
  try {
    const result = await runConnect([server.url], "hi\n");
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /extensions: \(none\)/);
  } finally {
    await stop(server.child);
  }
  const refused = await runConnect(["ws://127.0.0.1:1/"]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /Cannot connect to ws:\/\/127\.0\.0\.1:1\//);
});

test("npm start's command takes its port from PORT (README: `PORT=9000 npm start` picks another port)", { timeout: 20_000 }, async () => {
  const { readFileSync } = await import("node:fs");
  const start: string = JSON.parse(readFileSync(repoPath("package.json"), "utf8")).scripts.start;
  assert.match(start, /cli\.ts serve$/, "the start script leaves the port to PORT (no --port)");
  // A free port: ask the OS, then hand it over through PORT.
  const port = await new Promise<number>((resolve) => {
    const probe = createTcpServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
  const child = spawn(process.execPath, cliArgs(["serve"]), { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PORT: String(port) } });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`serve printed no ws:// line within 10 s: ${out}`)), 10_000);
      child.stdout!.on("data", (chunk) => {
        out += chunk;
        if (/ws:\/\/\S+/.test(out)) {
          clearTimeout(timer);
          resolve(out);
        }
      });
    });
    assert.match(line, new RegExp(`ws://127\\.0\\.0\\.1:${port}/`));
  } finally {
    await stop(child);
  }
});

test("--help on every command: the usage, the flags and the exit codes on stdout, exit 0, no server started", { timeout: 40_000 }, async () => {
  const commands = [["--help"], ["-h"], ["help"], ["help", "serve"], ["help", "connect"], ["serve", "--help"], ["serve", "-h", "--port", "0"], [
    "connect",
    "--help",
  ], ["connect", "ws://127.0.0.1:1/", "-h"]];
  const results = await runAll(commands);
  results.forEach((result, i) => {
    const shown = commands[i].join(" ");
    assert.equal(result.code, 0, `${shown}: ${result.stderr}`);
    assert.match(result.stdout, /^usage: /, shown);
    assert.match(result.stdout, /exit codes:\n {2}0 .*\n {2}1 .*\n(?: .*\n)* {2}2 +usage error/, shown);
    assert.doesNotMatch(result.stdout, /^Echo server listening|^connected to/m, shown);
    assert.equal(result.stderr, "", shown);
  });
  const [top, , , serveHelp, connectHelp] = results;
  assert.match(top.stdout, /cli\.ts serve .*\n.*cli\.ts connect URL/);
  for (
    const flag of ["--tls-cert", "--tls-key", "--max-message-size", "--heartbeat", "--no-heartbeat", "--deflate", "--static", "--quiet", "--workers", "--redis", "--no-demo"]
  ) {
    assert.match(serveHelp.stdout, new RegExp(`${flag} `), `serve --help lists ${flag}`);
  }
  for (const flag of ["--header", "--origin", "--auth", "--ca", "--insecure", "--execute", "--wait", "--ping", "--binary", "--show-stats"]) {
    assert.match(connectHelp.stdout, new RegExp(`${flag}[ \\n]`), `connect --help lists ${flag}`);
  }
});

test("usage errors exit 2, name the flag or value, and print the usage (before any connection or listening)", { timeout: 60_000 }, async () => {
  // ws://127.0.0.1:1/ is refused: an exit code of 1 would mean the command line was accepted.
  const url = "ws://127.0.0.1:1/";
  const cases: [string[], RegExp][] = [
    [[], /no command/],
    [["nope"], /unknown command nope/],
    [["help", "nope"], /no help on nope/],
    [["serve", "--portt", "1"], /unknown flag --portt/],
    [["serve", "--verbose"], /unknown flag --verbose/],
    [["serve", "-Z"], /unknown flag -Z/],
    [["serve", "--quiet=yes"], /--quiet takes no value/],
    [["serve", "extra"], /unexpected argument extra/],
    [["serve", "--port", "70000"], /--port 70000 is not a port number/],
    [["serve", "--heartbeat", "5"], /--heartbeat 5 is not INTERVAL,TIMEOUT/],
    [["serve", "--heartbeat", "1,1", "--no-heartbeat"], /contradict/],
    [["serve", "--deflate", "server_max_window_bits=20"], /server_max_window_bits needs a value in 8\.\.15/],
    [["serve", "--deflate", "bogus"], /unknown parameter bogus/],
    [["serve", "--deflate", "broadcast", "--no-deflate"], /contradict/],
    [["serve", "--max-message-size", "lots"], /--max-message-size lots is not a size/],
    [["serve", "--tls-cert", "cert.pem"], /--tls-cert and --tls-key go together/],
    [["serve", "--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"], /--tls-cert: cannot read/],
    [["serve", "--static", "/nonexistent/dir"], /--static \/nonexistent\/dir/],
    [["serve", "--workers", "0"], /--workers 0 is not a number from 1 to 64/],
    [["serve", "--workers", "two"], /--workers two is not a number from 1 to 64/],
    [["serve", "--redis", "http://127.0.0.1:6379"], /--redis http:\/\/127\.0\.0\.1:6379 is not a redis:\/\/ or rediss:\/\/ URL/],
    [["serve", "--redis", "redis://127.0.0.1:1", "--no-demo"], /--redis is for the chat demo/],
    [["serve", "--engine", "fast"], /--engine fast is not raw or node-http/],
    // Bun's workers listen with SO_REUSEPORT; Deno's listener needs --unstable-net for it.
    ...(RUNTIME === "deno" ? [[["serve", "--engine", "raw", "--workers", "2"], /--engine raw serves one process on Deno/] as [string[], RegExp]] : []),
    ...(RUNTIME === "node" ? [[["serve", "--engine", "raw"], /--engine raw runs on Deno and Bun/] as [string[], RegExp]] : []),
    [["connect"], /connect needs a URL/],
    [["connect", "ftp://127.0.0.1/"], /ftp:/],
    [["connect", url, "-Z"], /unknown flag -Z/],
    [["connect", url, "--protocol"], /--protocol needs a value/],
    [["connect", url, "-H", "novalue"], /--header novalue is not NAME:VALUE/],
    [["connect", url, "--auth", "nocolon"], /--auth needs USER:PASSWORD/],
    [["connect", url, "--ca", "/nonexistent/ca.pem"], /--ca: cannot read/],
    [["connect", url, "--binary", "base32"], /--binary base32 is not hex or base64/],
    [["connect", url, "--binary", "hex", "-x", "zz"], /--execute zz is not hex/],
    [["connect", url, "-w", "soon"], /--wait soon is not a number of seconds/],
    [["connect", url, "--deflate", "broadcast"], /broadcast is a server option/],
    [["connect", url, "--max-message-size", "0"], /--max-message-size 0/],
  ];
  const results = await runAll(cases.map(([args]) => args));
  results.forEach((result, i) => {
    const [args, message] = cases[i];
    const shown = args.join(" ") || "(nothing)";
    assert.equal(result.code, 2, `${shown}: exit ${result.code}\n${result.stderr}`);
    assert.match(result.stderr, /^error: /, shown);
    assert.match(result.stderr, message, shown);
    assert.match(result.stderr, /\nusage: cli\.ts /, shown);
    assert.equal(result.stdout, "", shown);
  });
});

test("connect -H, --origin and --auth reach the server; a refused handshake prints the status and body, exit 1", { timeout: 30_000 }, async () => {
  let head = "";
  const refuser = createTcpServer((socket) => {
    socket.on("data", (chunk) => {
      head += chunk;
      if (head.includes("\r\n\r\n")) socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 20\r\nConnection: close\r\n\r\nForbidden: bad token");
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => refuser.listen(0, "127.0.0.1", resolve));
  const { port } = refuser.address() as { port: number };
  try {
    const result = await runConnect([
      `ws://127.0.0.1:${port}/private`,
      "-H",
      "X-One: 1",
      "--header=X-Two:two words",
      "-HX-Three:3",
      "--origin",
      "http://app.example",
      "--auth",
      "alice:s3cret:x",
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /^error: Cannot connect to ws:\/\/127\.0\.0\.1:\d+\/private: the server answered 403: Forbidden: bad token$/m);
    assert.match(head, /^GET \/private HTTP\/1\.1\r\n/);
    assert.match(head, /\r\nx-one: 1\r\n/i);
    assert.match(head, /\r\nx-two: two words\r\n/i);
    assert.match(head, /\r\nx-three: 3\r\n/i);
    assert.match(head, /\r\norigin: http:\/\/app\.example\r\n/i);
    assert.match(head, new RegExp(`\\r\\nauthorization: Basic ${btoa("alice:s3cret:x")}\\r\\n`, "i"));
  } finally {
    await new Promise((resolve) => refuser.close(resolve));
  }
});

test("connect -x sends and exits once answered, -w waits, -P /ping shows the round trip, --binary hex|base64", { timeout: 40_000 }, async () => {
  const server = await startServe([]);
  try {
    const [executed, waited, pinged, notSlash, hex, base64, hexLines] = await Promise.all([
      runConnect([server.url, "-x", "one", "--execute", "two"], "stdin is not read\n"),
      runConnect([server.url, "-x", "one", "-w", "1"]),
      runConnect([server.url, "-P", "-x", "/ping", "-x", "/ping abc", "-x", "after"]),
      runConnect([server.url, "-x", "/ping"]),
      runConnect([server.url, "--binary", "hex", "-x", "00ff 10"]),
      runConnect([server.url, "--binary", "base64", "-x", "AP8Q"]),
      runConnect([server.url, "--binary", "hex"], "0a0b\nzz\n41 42\n"),
    ]);
    assert.equal(executed.code, 0, executed.stderr);
    assert.deepEqual(executed.stdout.trim().split("\n"), ["< one", "< two"]);
    assert.ok(closedAfter(executed.stderr) < 1.5, `closed once answered, not at the 2 s bound: ${executed.stderr}`);

    assert.equal(waited.code, 0, waited.stderr);
    assert.equal(waited.stdout, "< one\n");
    assert.ok(closedAfter(waited.stderr) >= 1, `waited 1 s: ${waited.stderr}`);

    assert.equal(pinged.code, 0, pinged.stderr);
    assert.equal(pinged.stdout, "< after\n");
    assert.match(pinged.stderr, /^> ping$/m);
    assert.match(pinged.stderr, /^< pong \d+\.\d ms$/m);
    assert.match(pinged.stderr, /^< pong "abc" \d+\.\d ms$/m);

    assert.equal(notSlash.code, 0, notSlash.stderr);
    assert.equal(notSlash.stdout, "< /ping\n", "without -P or --slash, /ping is a message");

    assert.equal(hex.code, 0, hex.stderr);
    assert.equal(hex.stdout, "< 00ff10\n");
    assert.equal(base64.code, 0, base64.stderr);
    assert.equal(base64.stdout, "< AP8Q\n");
    assert.equal(hexLines.code, 0, hexLines.stderr);
    assert.equal(hexLines.stdout, "< 0a0b\n< 4142\n");
    assert.match(hexLines.stderr, /error: line 2 is not hex, not sent: zz/);
  } finally {
    await stop(server.child);
  }
});

test("connect --show-stats: per message, payload against bytes on the wire and the ratio; totals at the end", { timeout: 30_000 }, async () => {
  const server = await startServe([]);
  try {
    const message = "a".repeat(1000);
    const [plain, compressed] = await Promise.all([
      runConnect([server.url, "--show-stats", "--no-deflate", "-x", message]),
      runConnect([server.url, "--show-stats", "-x", message]),
    ]);
    assert.equal(plain.code, 0, plain.stderr);
    // 1000 bytes: a 4-byte header (2 + 2 for the length), and a 4-byte mask from the client.
    assert.match(plain.stderr, /^stats: > text 1000 B, 1008 B on the wire \(100\.8%\)$/m);
    assert.match(plain.stderr, /^stats: < text 1000 B, 1004 B on the wire \(100\.4%\)$/m);
    assert.match(plain.stderr, /^stats: sent 1 message, 1000 B of payload in 1008 B on the wire \(100\.8%\); received 1, 1000 B in 1004 B/m);
    assert.match(plain.stderr, /^stats: control frames 1 out \(8 B\), 1 in \(4 B\); handshake \d+ B out, \d+ B in$/m);

    assert.equal(compressed.code, 0, compressed.stderr);
    const sent = /^stats: > text 1000 B, (\d+) B on the wire \([\d.]+%, compressed\)$/m.exec(compressed.stderr);
    const received = /^stats: < text 1000 B, (\d+) B on the wire \([\d.]+%, compressed\)$/m.exec(compressed.stderr);
    assert.ok(sent && received, compressed.stderr);
    assert.ok(Number(sent[1]) < 50 && Number(received[1]) < 50, compressed.stderr);
  } finally {
    await stop(server.child);
  }
});

test("serve: a line per connection open and close with the code (-q: none); SIGTERM closes with 1001 and exits 0", { timeout: 40_000 }, async () => {
  const server = await startServe(["--protocols", "chat"]);
  const quiet = await startServe(["-q"]);
  let client: ChildProcess | undefined;
  try {
    const [result, quietResult] = await Promise.all([
      runConnect([server.url + "room", "-s", "chat", "-x", "hello"]),
      runConnect([quiet.url, "-x", "hello"]),
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(quietResult.code, 0, quietResult.stderr);
    await server.waitFor(/#1 close .*\n/);
    assert.match(server.output(), /^#1 open 127\.0\.0\.1:\d+ \/room protocol=chat extensions=permessage-deflate$/m);
    assert.match(server.output(), /^#1 close 1000 after \d+\.\d s: in 1 message \(5 B\), out 1 \(5 B\); socket \d+ B read, \d+ B written$/m);
    assert.match(
      quiet.output(),
      /^Echo server listening on ws:\/\/127\.0\.0\.1:\d+\/ \(chat demo: http:\/\/127\.0\.0\.1:\d+\/, test page: http:\/\/127\.0\.0\.1:\d+\/echo\)\n$/,
    );

    // A client that stays (stdin open) sees the server go away.
    client = spawn(process.execPath, cliArgs(["connect", server.url]), { stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    const connected = new Promise<void>((resolve) =>
      client!.stderr!.on("data", (chunk) => {
        stderr += chunk;
        if (stderr.includes("extensions:")) resolve();
      })
    );
    const clientExit = new Promise<number | null>((resolve) => client!.on("exit", resolve));
    await connected;
    await server.waitFor(/#2 open /);
    assert.equal(await stop(server.child), 0, "serve exits 0 on SIGTERM");
    assert.equal(await clientExit, 1, "a close with 1001 is not a normal end for the client");
    assert.match(stderr, /closed: 1001 "server shutting down"/);
  } finally {
    if (client !== undefined) await stop(client);
    await stop(server.child);
    await stop(quiet.child);
  }
});

test("serve --max-message-size closes with 1009 (connect exits 1); --heartbeat pings show with -P; --no-heartbeat; --deflate", { timeout: 40_000 }, async () => {
  const limited = await startServe(["--max-message-size", "16", "--heartbeat", "0.2,2", "--deflate", "server_max_window_bits=10; broadcast"]);
  const silent = await startServe(["--no-heartbeat", "--no-deflate"]);
  try {
    const [tooBig, beats, noBeats] = await Promise.all([
      runConnect([limited.url, "-x", "x".repeat(40)]),
      runConnect([limited.url, "-P", "-w", "0.8", "-x", "hi"]),
      runConnect([silent.url, "-P", "-w", "0.8", "-x", "hi"]),
    ]);
    assert.equal(tooBig.code, 1, tooBig.stderr);
    assert.match(tooBig.stderr, /closed: 1009 /);
    await limited.waitFor(/#\d close 1006 \(sent 1009 .*\n/);

    assert.equal(beats.code, 0, beats.stderr);
    assert.match(beats.stderr, /^< ping 00 00 00 01 \(answered with a pong\)$/m);
    // broadcast: no context takeover, the server's window fixed at 10.
    assert.match(beats.stderr, /extensions: permessage-deflate; server_no_context_takeover; server_max_window_bits=10/);

    assert.equal(noBeats.code, 0, noBeats.stderr);
    assert.doesNotMatch(noBeats.stderr, /< ping/);
    assert.match(noBeats.stderr, /extensions: \(none\)/);
  } finally {
    await stop(limited.child);
    await stop(silent.child);
  }
});

test("serve --static DIR serves its files to plain HTTP requests and refuses paths that leave it", { timeout: 30_000 }, async () => {
  const base = mkdtempSync(join(tmpdir(), "cli-static-"));
  const dir = join(base, "www");
  mkdirSync(join(dir, "sub"), { recursive: true });
  writeFileSync(join(dir, "index.html"), "<h1>index</h1>\n");
  writeFileSync(join(dir, "sub", "a.txt"), "sub text\n");
  writeFileSync(join(base, "secret.txt"), "secret\n");
  symlinkSync(join(base, "secret.txt"), join(dir, "link.txt"));
  const server = await startServe(["--static", dir]);
  try {
    assert.match(server.output(), /files from .*www: http:\/\//);
    const http = server.url.replace(/^ws/, "http");
    const get = async (path: string, method = "GET") => {
      const response = await fetch(http + path, { method, redirect: "manual" });
      return { status: response.status, type: response.headers.get("content-type"), body: await response.text(), location: response.headers.get("location") };
    };
    assert.deepEqual(await get(""), { status: 200, type: "text/html; charset=utf-8", body: "<h1>index</h1>\n", location: null });
    assert.deepEqual(await get("sub/a.txt"), { status: 200, type: "text/plain; charset=utf-8", body: "sub text\n", location: null });
    assert.equal((await get("sub")).location, "/sub/");
    assert.equal((await get("sub/a.txt", "HEAD")).status, 200);
    assert.equal((await get("sub/a.txt", "POST")).status, 405);
    assert.equal((await get("nope")).status, 404);
    for (const escape of ["..%2fsecret.txt", "%2e%2e%2fsecret.txt", "sub/..%2f..%2fsecret.txt", "link.txt"]) {
      const answer = await get(escape);
      assert.equal(answer.status, 403, escape);
      assert.doesNotMatch(answer.body, /secret/, escape);
    }
    // The WebSocket echo still answers on the same port.
    const echo = await runConnect([server.url, "-x", "still echoing"]);
    assert.equal(echo.stdout, "< still echoing\n");
    await server.waitFor(/http GET \/link\.txt 403/);
  } finally {
    await stop(server.child);
    rmSync(base, { recursive: true, force: true });
  }
});

const openssl = spawnSync("openssl", ["version"], { stdio: "ignore" }).status === 0;

test("wss: serve --tls-cert/--tls-key; connect trusts it with --ca, refuses it without (exit 1), or skips the check with --insecure", {
  timeout: 40_000,
  skip: openssl ? false : "openssl is not available to make a certificate",
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "cli-tls-"));
  const cert = join(dir, "cert.pem"), key = join(dir, "key.pem");
  try {
    const made = spawnSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
      "-days", "1", "-keyout", key, "-out", cert,
    ], { stdio: ["ignore", "ignore", "pipe"] });
    assert.equal(made.status, 0, String(made.stderr));
    const server = await startServe(["--tls-cert", cert, "--tls-key", key]);
    try {
      assert.match(server.url, /^wss:\/\/127\.0\.0\.1:\d+\/$/);
      assert.match(server.output(), /test page: https:\/\//);
      const [trusted, untrusted, insecure] = await Promise.all([
        runConnect([server.url, "--ca", cert, "-x", "over tls"]),
        runConnect([server.url, "-x", "over tls"]),
        runConnect([server.url, "--insecure", "-x", "over tls"]),
      ]);
      assert.equal(trusted.code, 0, trusted.stderr);
      assert.equal(trusted.stdout, "< over tls\n");
      assert.equal(untrusted.code, 1, untrusted.stderr);
      assert.match(untrusted.stderr, /^error: Cannot connect to wss:\/\/127\.0\.0\.1:\d+\/: .*(self.signed|certificate)/im);
      assert.equal(untrusted.stdout, "");
      assert.equal(insecure.code, 0, insecure.stderr);
      assert.equal(insecure.stdout, "< over tls\n");
      // The demo's name cookie is Secure over TLS.
      const { connect: connectTls } = await import("node:tls");
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connectTls({ host: "127.0.0.1", port: server.port, ca: readFileSync(cert, "utf8") });
        let text = "";
        socket.on("data", (chunk) => text += chunk);
        socket.on("error", reject);
        socket.on("close", () => resolve(text));
        const body = JSON.stringify({ name: "Ada" });
        // Written once the TLS handshake is done, and not ended: the server closes after its answer.
        socket.once("secureConnect", () =>
          socket.write(`POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`));
      });
      assert.match(answer, /^HTTP\/1\.1 200 /);
      assert.match(answer, /^set-cookie: wsdemo=[\w-]+\.[\w-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=86400; Secure\r$/im);
    } finally {
      await stop(server.child);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("serve on a port in use exits 1 (a failure, not a usage error)", { timeout: 30_000 }, async () => {
  const server = await startServe(["-q"]);
  try {
    const clash = await run(["serve", "--port", String(server.port)]);
    assert.equal(clash.code, 1, clash.stderr);
    assert.match(clash.stderr, /^error: cannot listen on 127\.0\.0\.1:\d+: .*(EADDRINUSE|in use)/);
    assert.doesNotMatch(clash.stderr, /usage:/);
  } finally {
    await stop(server.child);
  }
});
