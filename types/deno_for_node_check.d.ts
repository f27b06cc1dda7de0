// For `npm run check:node` only (tsconfig.check.json: tsc with Node's types). cli/serve.ts imports
// lib/adapters/deno_listen.ts on Deno, and tsc follows that import; Deno's global types exist only in
// `deno check`, which checks those adapters for real. Here they are opaque, so the rest can be checked.
declare namespace Deno {
  // deno-lint-ignore no-explicit-any
  type Conn = any;
  // deno-lint-ignore no-explicit-any
  type NetAddr = any;
  // deno-lint-ignore no-explicit-any
  function listen(options: unknown): any;
  // deno-lint-ignore no-explicit-any
  function listenTls(options: unknown): any;
}
