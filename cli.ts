#!/usr/bin/env node
/**
 * A wscat-like command line:
 *
 *   deno run -A cli.ts serve [--port P] [--host H] [--protocols a,b] [--tls-cert F --tls-key F] [...]
 *   deno run -A cli.ts connect URL [-s protocol]... [-H name:value]... [-x message]... [...]
 *   deno run -A cli.ts help [serve|connect]      (or --help after any command)
 *
 * (or `bun cli.ts ...`, or on Node the build: `node dist/cli.js ...`, the package's `wsengine` command; the
 * line above is for that build). `serve` starts an echo server on any path (and a small test page, or a
 * directory's files, for plain HTTP requests) and prints a line with `ws://H:P` once it listens, then a
 * line per connection. `connect` sends each line of standard input (or each `-x` message) as a message,
 * prints each message received on its own line after `< `, prints what was negotiated, pings and
 * statistics to standard error, and closes cleanly at the end of input.
 *
 * Exit codes: 0 success, 1 connection failure or abnormal close (or `serve` cannot listen), 2 usage
 * error. The commands live in cli/.
 *
 * @module
 */

import process from "node:process";
import { UsageError } from "./cli/args.ts";
import { connect, CONNECT_HELP, CONNECT_USAGE } from "./cli/connect.ts";
import { serve, SERVE_HELP, SERVE_USAGE } from "./cli/serve.ts";

const USAGE = `${SERVE_USAGE}
       ${CONNECT_USAGE}
       cli.ts help [serve|connect]`;

const HELP = `usage: ${USAGE}

A WebSocket echo server and client (RFC 6455, permessage-deflate). Run it with
\`deno run -A cli.ts ...\`, \`bun cli.ts ...\`, or on Node \`node dist/cli.js ...\` (the package's
\`wsengine\` command). \`cli.ts COMMAND --help\` describes a command's options.

exit codes:
  0  success (connect: closed with 1000 or 1005; serve: stopped by SIGINT or SIGTERM)
  1  connection failure (refused, TLS, handshake refused), abnormal close, or serve cannot listen
  2  usage error (unknown command or flag, missing or bad value)
`;

const COMMANDS = {
  serve: { run: serve, help: SERVE_HELP, usage: SERVE_USAGE },
  connect: { run: connect, help: CONNECT_HELP, usage: CONNECT_USAGE },
} as const;

function isCommand(name: string | undefined): name is keyof typeof COMMANDS {
  return name === "serve" || name === "connect";
}

function usageError(message: string, usage: string): never {
  process.stderr.write(`error: ${message}\nusage: ${usage}\n(--help for more)\n`);
  process.exit(2);
}

const [command, ...rest] = process.argv.slice(2);
if (command === "help" || command === "--help" || command === "-h") {
  const topic = rest[0];
  if (topic !== undefined && !isCommand(topic)) usageError(`no help on ${topic}: the commands are serve and connect`, USAGE);
  process.stdout.write(isCommand(topic) ? COMMANDS[topic].help : HELP);
  process.exit(0);
}
if (!isCommand(command)) {
  usageError(command === undefined ? "no command" : `unknown command ${command}`, USAGE);
}
const { run, usage } = COMMANDS[command];
let code: number | undefined;
try {
  code = await run(rest);
} catch (error) {
  if (error instanceof UsageError) usageError(error.message, usage);
  throw error;
}
// `serve` runs on once it listens (until a signal); anything else ends here.
if (code !== undefined) process.exit(code);
