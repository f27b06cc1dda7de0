/**
 * Interop with `ws` (npm), in-process: its client against our server and its server against our client,
 * with permessage-deflate off and on in several configurations (threshold 0, so that it compresses small
 * messages too). In each configuration the peer sets the parameter: as a client it offers it, as a server it
 * answers it; our end runs with its defaults (and threshold 0).
 */

import { describe } from "node:test";
import WsWebSocket from "ws";
import {
  BASE_SIZES,
  EchoRecorder,
  interopTest,
  messageSet,
  OUR_CLIENT,
  OUR_SERVER,
  ourClientCase,
  ourServerCase,
  PEER_REASON,
  runEchoClient,
  type StartedServer,
  variantLabel,
  VARIANTS,
  type WebSocketLike,
} from "./_interop.ts";
import { startWsPeerServer } from "./_ws_peer.ts";

const PEER = "ws";
const MAX_PAYLOAD = 16 * 1024 * 1024;
const messages = messageSet([...BASE_SIZES, 256 * 1024]);
const proves =
  "text and binary of 0 B..256 KiB intact both ways, negotiated as expected and used on the wire, close 1000";

/** Our client's offer, with its defaults. */
const OUR_OFFER = "permessage-deflate; client_max_window_bits";

interface Config {
  compression: string;
  /** `ws`'s `perMessageDeflate` option, for its client and its server alike. */
  perMessageDeflate: false | Record<string, unknown>;
  /** What `ws`'s client offers, and what our server must answer to it. */
  wsOffer: string | null;
  ourAnswer: string | null;
  /** What `ws`'s server must answer to our client's offer. */
  wsAnswer: string | null;
}

const CONFIGS: Config[] = [
  { compression: "off", perMessageDeflate: false, wsOffer: null, ourAnswer: null, wsAnswer: null },
  {
    compression: "on (default)",
    perMessageDeflate: { threshold: 0 },
    wsOffer: "permessage-deflate; client_max_window_bits",
    ourAnswer: "permessage-deflate",
    wsAnswer: "permessage-deflate",
  },
  ...[8, 9, 12, 15].map((bits): Config => ({
    compression: `on (server_max_window_bits=${bits})`,
    perMessageDeflate: { threshold: 0, serverMaxWindowBits: bits },
    wsOffer: `permessage-deflate; server_max_window_bits=${bits}; client_max_window_bits`,
    ourAnswer: `permessage-deflate; server_max_window_bits=${bits}`,
    // §7.1.2.1: a server may limit its own window though the client did not ask.
    wsAnswer: `permessage-deflate; server_max_window_bits=${bits}`,
  })),
  ...[8, 10].map((bits): Config => ({
    compression: `on (client_max_window_bits=${bits})`,
    perMessageDeflate: { threshold: 0, clientMaxWindowBits: bits },
    wsOffer: `permessage-deflate; client_max_window_bits=${bits}`,
    ourAnswer: `permessage-deflate; client_max_window_bits=${bits}`,
    wsAnswer: `permessage-deflate; client_max_window_bits=${bits}`,
  })),
  {
    compression: "on (server_no_context_takeover)",
    perMessageDeflate: { threshold: 0, serverNoContextTakeover: true },
    wsOffer: "permessage-deflate; server_no_context_takeover; client_max_window_bits",
    ourAnswer: "permessage-deflate; server_no_context_takeover",
    wsAnswer: "permessage-deflate; server_no_context_takeover",
  },
  {
    compression: "on (client_no_context_takeover)",
    perMessageDeflate: { threshold: 0, clientNoContextTakeover: true },
    wsOffer: "permessage-deflate; client_no_context_takeover; client_max_window_bits",
    ourAnswer: "permessage-deflate; client_no_context_takeover",
    wsAnswer: "permessage-deflate; client_no_context_takeover",
  },
];

function startWsServer(perMessageDeflate: Config["perMessageDeflate"]): Promise<StartedServer> {
  return startWsPeerServer({ perMessageDeflate, maxPayload: MAX_PAYLOAD }, () => {
    const recorder = new EchoRecorder();
    return (message) => recorder.reply(message) ?? { close: [1000, PEER_REASON] };
  });
}

function startWsClient(url: string, perMessageDeflate: Config["perMessageDeflate"]) {
  const socket = new WsWebSocket(url, { perMessageDeflate, maxPayload: MAX_PAYLOAD });
  socket.on("error", () => {}); // the close event says what happened
  // ws's `extensions` lists names only; the answer itself comes with the `upgrade` event.
  let answer = "";
  socket.on("upgrade", (response: { headers: Record<string, string | undefined> }) => {
    answer = response.headers["sec-websocket-extensions"] ?? "";
  });
  const view = runEchoClient(socket as WebSocketLike, () => answer);
  return Promise.resolve({ view, stop: () => Promise.resolve(socket.terminate()) });
}

describe("interop with ws", () => {
  for (const config of CONFIGS) {
    const on = config.perMessageDeflate !== false;
    interopTest(
      { peer: PEER, direction: OUR_SERVER, compression: config.compression, proves },
      () =>
        ourServerCase({
          deflate: { threshold: 0 },
          messages,
          startPeer: (url) => startWsClient(url, config.perMessageDeflate),
          expect: { offer: config.wsOffer, answer: config.ourAnswer, weCompress: on, peerCompresses: on },
        }),
    );
  }
  for (const config of CONFIGS) {
    const on = config.perMessageDeflate !== false;
    interopTest(
      { peer: PEER, direction: OUR_CLIENT, compression: config.compression, proves },
      () =>
        ourClientCase({
          deflate: { threshold: 0 },
          messages,
          startPeer: () => startWsServer(config.perMessageDeflate),
          expect: { offer: OUR_OFFER, answer: config.wsAnswer, weCompress: on, peerCompresses: on },
        }),
    );
  }
  for (const variant of VARIANTS) {
    const perMessageDeflate = { threshold: 0 };
    const compression = variantLabel("on (default)", variant);
    const expect = {
      answer: "permessage-deflate",
      weCompress: true,
      peerCompresses: true,
      sending: variant.sending,
      serverCloses: variant.serverCloses,
    };
    interopTest({ peer: PEER, direction: OUR_SERVER, compression, proves }, () =>
      ourServerCase({
        deflate: { threshold: 0 },
        messages,
        startPeer: (url) => startWsClient(url, perMessageDeflate),
        expect: { ...expect, offer: "permessage-deflate; client_max_window_bits" },
      }));
    interopTest({ peer: PEER, direction: OUR_CLIENT, compression, proves }, () =>
      ourClientCase({
        deflate: { threshold: 0 },
        messages,
        startPeer: () => startWsServer(perMessageDeflate),
        expect: { ...expect, offer: OUR_OFFER },
      }));
  }
});
