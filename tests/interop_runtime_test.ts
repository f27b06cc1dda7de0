/**
 * Interop with the runtimes' own WebSocket: Bun's client and Bun.serve (only under bun test), Deno's client
 * and Deno.serve (only under deno test). Under the other runtime these tests are skipped and their matrix
 * cells read "n/a".
 *
 * Bun offers `permessage-deflate; client_max_window_bits` as a client; Bun.serve with perMessageDeflate
 * answers `server_no_context_takeover; client_no_context_takeover` and compresses only what is sent with
 * `send(message, true)`. Deno never negotiates permessage-deflate: the Deno rows show that an offer or a
 * deflate-enabled server falls back cleanly to uncompressed messages.
 */

import { describe } from "node:test";
import {
  BASE_SIZES,
  EchoRecorder,
  type Expectation,
  interopTest,
  messageSet,
  OUR_CLIENT,
  OUR_SERVER,
  ourClientCase,
  ourServerCase,
  PEER_REASON,
  runEchoClient,
  runtimeAvailability,
  type StartedClient,
  type StartedServer,
  variantLabel,
  VARIANTS,
  type WebSocketLike,
  withTimeout,
} from "./_interop.ts";

const messages = messageSet([...BASE_SIZES, 1024 * 1024]);
const proves =
  "text and binary of 0 B..1 MiB intact both ways, negotiated as expected and used on the wire, close 1000";
const OUR_OFFER = "permessage-deflate; client_max_window_bits";

// ---------------------------------------------------------------------------------------------------------
// Bun

/** The parts of Bun's API used here (no bun-types in this project). */
interface BunServerSocket {
  send(data: string | Uint8Array, compress?: boolean): number;
  close(code?: number, reason?: string): void;
}
interface BunApi {
  serve(options: {
    hostname: string;
    port: number;
    fetch(request: Request, server: { upgrade(request: Request): boolean }): Response | undefined;
    websocket: {
      perMessageDeflate: boolean;
      maxPayloadLength: number;
      message(socket: BunServerSocket, message: string | Uint8Array): void;
      close(socket: BunServerSocket, code: number, reason: string): void;
    };
  }): { port: number; stop(closeActiveConnections?: boolean): Promise<void> | void };
}

const bun = runtimeAvailability("Bun");

function startBunClient(url: string): Promise<StartedClient> {
  const socket = new WebSocket(url);
  const view = runEchoClient(socket as unknown as WebSocketLike);
  return Promise.resolve({ view, stop: () => Promise.resolve(socket.close()) });
}

function startBunServer(perMessageDeflate: boolean): Promise<StartedServer> {
  const { Bun } = globalThis as unknown as { Bun: BunApi };
  let resolveClose!: (seen: { code: number; reason: string }) => void;
  const closeSeen = new Promise<{ code: number; reason: string }>((resolve) => resolveClose = resolve);
  const recorder = new EchoRecorder();
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (request, server) =>
      server.upgrade(request) ? undefined : new Response("Not a WebSocket request\n", { status: 400 }),
    websocket: {
      perMessageDeflate,
      maxPayloadLength: 16 * 1024 * 1024,
      // Bun compresses only what is sent with compress = true.
      message: (socket, message) => {
        const reply = recorder.reply(typeof message === "string" ? message : new Uint8Array(message));
        if (reply === undefined) socket.close(1000, PEER_REASON);
        else socket.send(reply, perMessageDeflate);
      },
      close: (_socket, code, reason) => resolveClose({ code, reason }),
    },
  });
  return Promise.resolve({
    port: server.port,
    closeSeen,
    extensions: () => undefined, // Bun.serve does not say what it answered
    stop: async () => {
      await withTimeout(Promise.resolve(server.stop(true)), 5000, "Bun.serve to stop");
    },
  });
}

// ---------------------------------------------------------------------------------------------------------
// Deno

const deno = runtimeAvailability("Deno");

function startDenoClient(url: string): Promise<StartedClient> {
  const socket = new WebSocket(url);
  const view = runEchoClient(socket as unknown as WebSocketLike);
  return Promise.resolve({ view, stop: () => Promise.resolve(socket.close()) });
}

function startDenoServer(): Promise<StartedServer> {
  let resolveClose!: (seen: { code: number; reason: string }) => void;
  const closeSeen = new Promise<{ code: number; reason: string }>((resolve) => resolveClose = resolve);
  let extensions: string | undefined;
  const recorder = new EchoRecorder();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => extensions = socket.extensions;
    socket.onmessage = (event) => {
      const data = event.data;
      const reply = recorder.reply(typeof data === "string" ? data : new Uint8Array(data as ArrayBuffer));
      if (reply === undefined) socket.close(1000, PEER_REASON);
      else socket.send(reply as string | Uint8Array<ArrayBuffer>);
    };
    socket.onclose = (event) => resolveClose({ code: event.code, reason: event.reason });
    return response;
  });
  return Promise.resolve({
    port: server.addr.port,
    closeSeen,
    extensions: () => extensions,
    stop: () => withTimeout(server.shutdown(), 5000, "Deno.serve to shut down"),
  });
}

/** A peer's configurations in one direction: the first is "off", the last the main one the variants build on. */
interface Side {
  peer: "Bun" | "Deno";
  configs: { compression: string; deflate: false | { threshold: number }; expect: Expectation }[];
}

const BUN_CLIENT: Side = {
  peer: "Bun",
  configs: [
    {
      compression: "off",
      deflate: false,
      expect: { offer: OUR_OFFER, answer: null, weCompress: false, peerCompresses: false },
    },
    {
      compression: "on (default)",
      deflate: { threshold: 0 },
      // Bun's client sends messages under 1 KiB uncompressed (measured: 1000 B binary and 141 B text as
      // they are, 1112 B text compressed); a sender may always choose not to compress (RFC 7692 §6).
      expect: {
        offer: OUR_OFFER,
        answer: "permessage-deflate",
        weCompress: true,
        peerCompresses: true,
        peerCompressesFrom: 1024,
      },
    },
  ],
};

const BUN_SERVER: Side = {
  peer: "Bun",
  configs: [
    // Our client offers; Bun.serve without perMessageDeflate declines.
    {
      compression: "off",
      deflate: { threshold: 0 },
      expect: { offer: OUR_OFFER, answer: null, weCompress: false, peerCompresses: false },
    },
    {
      compression: "on (Bun: both no_context_takeover)",
      deflate: { threshold: 0 },
      expect: {
        offer: OUR_OFFER,
        answer: "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
        weCompress: true,
        peerCompresses: true,
      },
    },
  ],
};

const DENO_CLIENT: Side = {
  peer: "Deno",
  configs: [
    {
      compression: "off",
      deflate: false,
      expect: { offer: null, answer: null, weCompress: false, peerCompresses: false },
    },
    // Our server would compress, but Deno's client offers nothing.
    {
      compression: "on (Deno offers none)",
      deflate: { threshold: 0 },
      expect: { offer: null, answer: null, weCompress: false, peerCompresses: false },
    },
  ],
};

const DENO_SERVER: Side = {
  peer: "Deno",
  configs: [
    {
      compression: "off",
      deflate: false,
      expect: { offer: null, answer: null, weCompress: false, peerCompresses: false },
    },
    // Our client offers; Deno.serve never answers it.
    {
      compression: "on (Deno declines)",
      deflate: { threshold: 0 },
      expect: { offer: OUR_OFFER, answer: null, weCompress: false, peerCompresses: false },
    },
  ],
};

/** Each configuration, then the variants of the main one. */
function cases(side: Side): Side["configs"] {
  const main = side.configs[side.configs.length - 1];
  return [
    ...side.configs,
    ...VARIANTS.map((variant) => ({
      compression: variantLabel(main.compression, variant),
      deflate: main.deflate,
      expect: { ...main.expect, sending: variant.sending, serverCloses: variant.serverCloses },
    })),
  ];
}

describe("interop with the runtimes' own WebSocket", () => {
  for (
    const [side, startClient, availability] of [[BUN_CLIENT, startBunClient, bun], [
      DENO_CLIENT,
      startDenoClient,
      deno,
    ]] as const
  ) {
    for (const { compression, deflate, expect } of cases(side)) {
      interopTest(
        { peer: side.peer, direction: OUR_SERVER, compression, proves, availability },
        () => ourServerCase({ deflate, messages, startPeer: startClient, expect }),
      );
    }
  }
  for (const { compression, deflate, expect } of cases(BUN_SERVER)) {
    interopTest(
      { peer: "Bun", direction: OUR_CLIENT, compression, proves, availability: bun },
      () =>
        ourClientCase({ deflate, messages, startPeer: () => startBunServer(expect.answer !== null), expect }),
    );
  }
  for (const { compression, deflate, expect } of cases(DENO_SERVER)) {
    interopTest(
      { peer: "Deno", direction: OUR_CLIENT, compression, proves, availability: deno },
      () => ourClientCase({ deflate, messages, startPeer: startDenoServer, expect }),
    );
  }
});
