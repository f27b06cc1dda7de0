/**
 * Interop with python-websockets (Debian's python3-websockets, run by /usr/bin/python3): its client against
 * our server and its server against our client, with its default permessage-deflate and with it off. The
 * peer scripts are tests/peers/python_echo_{client,server}.py.
 */

import { describe } from "node:test";
import {
  BASE_SIZES,
  interopTest,
  messageSet,
  OUR_CLIENT,
  OUR_SERVER,
  ourClientCase,
  ourServerCase,
  type PeerView,
  pythonAvailability,
  type StartedClient,
  type StartedServer,
  startPython,
  variantLabel,
  VARIANTS,
} from "./_interop.ts";

const PEER = "python-websockets";
const availability = pythonAvailability();
const messages = messageSet([...BASE_SIZES, 1024 * 1024]);
const proves =
  "text and binary of 0 B..1 MiB intact both ways, negotiated as expected and used on the wire, close 1000";

// Its client offers "permessage-deflate; client_max_window_bits"; its server always answers with
// server_max_window_bits=12 and client_max_window_bits=12 (memLevel 5), whatever the offer.
const PYTHON_OFFER = "permessage-deflate; client_max_window_bits";
/** Our client's offer, with its defaults (the same words). */
const OUR_OFFER = "permessage-deflate; client_max_window_bits";
const PYTHON_ANSWER = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12";

function startPythonClient(url: string, args: string[]): Promise<StartedClient> {
  const peer = startPython("python_echo_client.py", [url, ...args]);
  const view = (async (): Promise<PeerView> => {
    const open = await peer.next("open");
    const closed = await peer.next("closed");
    return {
      code: closed.code as number,
      reason: closed.reason as string,
      extensions: (open.extensions as string | null) ?? "",
    };
  })();
  view.catch(() => {}); // awaited by the case; an early failure must not be unhandled
  return Promise.resolve({ view, stop: () => peer.stop() });
}

async function startPythonServer(args: string[]): Promise<StartedServer> {
  const peer = startPython("python_echo_server.py", args);
  try {
    const { port } = await peer.next("listening");
    let extensions: string | undefined;
    const closeSeen = (async () => {
      const open = await peer.next("open");
      extensions = (open.extensions as string | null) ?? "";
      const closed = await peer.next("closed");
      return { code: closed.code as number, reason: closed.reason as string };
    })();
    closeSeen.catch(() => {});
    return { port: port as number, closeSeen, extensions: () => extensions, stop: () => peer.stop() };
  } catch (error) {
    await peer.stop();
    throw error;
  }
}

describe("interop with python-websockets", () => {
  interopTest(
    { peer: PEER, direction: OUR_SERVER, compression: "off", proves, availability },
    () =>
      ourServerCase({
        deflate: { threshold: 0 },
        messages,
        startPeer: (url) => startPythonClient(url, ["--no-compression"]),
        expect: { offer: null, answer: null, weCompress: false, peerCompresses: false },
      }),
  );

  interopTest(
    { peer: PEER, direction: OUR_SERVER, compression: "on (python default)", proves, availability },
    () =>
      ourServerCase({
        deflate: { threshold: 0 },
        messages,
        startPeer: (url) => startPythonClient(url, []),
        expect: { offer: PYTHON_OFFER, answer: "permessage-deflate", weCompress: true, peerCompresses: true },
      }),
  );

  interopTest(
    { peer: PEER, direction: OUR_CLIENT, compression: "off", proves, availability },
    () =>
      ourClientCase({
        deflate: { threshold: 0 }, // offered, and declined by the peer
        messages,
        startPeer: () => startPythonServer(["--no-compression"]),
        expect: { offer: OUR_OFFER, answer: null, weCompress: false, peerCompresses: false },
      }),
  );

  interopTest(
    { peer: PEER, direction: OUR_CLIENT, compression: "on (python default)", proves, availability },
    () =>
      ourClientCase({
        deflate: { threshold: 0 },
        messages,
        startPeer: () => startPythonServer([]),
        expect: { offer: OUR_OFFER, answer: PYTHON_ANSWER, weCompress: true, peerCompresses: true },
      }),
  );

  for (const variant of VARIANTS) {
    const compression = variantLabel("on (python default)", variant);
    const expect = {
      weCompress: true,
      peerCompresses: true,
      sending: variant.sending,
      serverCloses: variant.serverCloses,
    };
    interopTest(
      { peer: PEER, direction: OUR_SERVER, compression, proves, availability },
      () =>
        ourServerCase({
          deflate: { threshold: 0 },
          messages,
          startPeer: (url) => startPythonClient(url, []),
          expect: { ...expect, offer: PYTHON_OFFER, answer: "permessage-deflate" },
        }),
    );
    interopTest(
      { peer: PEER, direction: OUR_CLIENT, compression, proves, availability },
      () =>
        ourClientCase({
          deflate: { threshold: 0 },
          messages,
          startPeer: () => startPythonServer([]),
          expect: { ...expect, offer: OUR_OFFER, answer: PYTHON_ANSWER },
        }),
    );
  }
});
