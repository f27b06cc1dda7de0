import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  acceptDeflateOffer,
  type DeflateNegotiationOptions,
  deflateOffer,
  type DeflateParameters,
  verifyDeflateResponse,
} from "../../lib/deflate/negotiation.ts";
import { formatExtensions, parseExtensions } from "../../lib/handshake/extension_header.ts";
import { ClientHandshake } from "../../lib/handshake/client_handshake.ts";
import { serverHandshake } from "../../lib/handshake/server_handshake.ts";
import { PerMessageDeflate } from "../../lib/deflate/permessage_deflate.ts";
import { Opcode } from "../../lib/core/opcode.ts";

/** Agreed parameters, from the defaults (no restriction) with some changed. */
function agreed(changes: Partial<DeflateParameters> = {}): DeflateParameters {
  return {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
    ...changes,
  };
}

interface ServerRow {
  /** The client's Sec-WebSocket-Extensions. */
  offer: string;
  options?: DeflateNegotiationOptions;
  /** The response element, or `undefined` when every offer is declined. */
  response: string | undefined;
  parameters?: Partial<DeflateParameters>;
}

/** Runs the server role on an offer string and formats what it answers. */
function answer(offer: string, options: DeflateNegotiationOptions = {}) {
  const accepted = acceptDeflateOffer(parseExtensions(offer), options);
  return accepted === undefined
    ? { response: undefined, parameters: undefined }
    : { response: formatExtensions([accepted.response]), parameters: accepted.parameters };
}

function checkRows(rows: ServerRow[]): void {
  for (const row of rows) {
    const { offer, options = {}, response, parameters } = row;
    const label = `${offer} with ${JSON.stringify(options)}`;
    test(`acceptDeflateOffer: ${label} -> ${response ?? "declined"}`, () => {
      const got = answer(offer, options);
      assert.equal(got.response, response, `${label}: response`);
      if (response === undefined) assert.equal(got.parameters, undefined);
      else assert.deepEqual(got.parameters, agreed(parameters), `${label}: parameters`);
    });
  }
}

const PMD = "permessage-deflate";

describe("RFC 7692 §7.1.1.1 server_no_context_takeover (server role)", () => {
  checkRows([
    // o=yes, c=any: answered; "A server accepts ... by including the server_no_context_takeover".
    {
      offer: `${PMD}; server_no_context_takeover`,
      response: `${PMD}; server_no_context_takeover`,
      parameters: { serverNoContextTakeover: true },
    },
    {
      offer: `${PMD}; server_no_context_takeover`,
      options: { serverNoContextTakeover: false },
      response: `${PMD}; server_no_context_takeover`,
      parameters: { serverNoContextTakeover: true },
    },
    {
      offer: `${PMD}; server_no_context_takeover`,
      options: { serverNoContextTakeover: true },
      response: `${PMD}; server_no_context_takeover`,
      parameters: { serverNoContextTakeover: true },
    },
    // o=no, c=true: "A server MAY include ... even if the ... offer ... didn't include".
    {
      offer: PMD,
      options: { serverNoContextTakeover: true },
      response: `${PMD}; server_no_context_takeover`,
      parameters: { serverNoContextTakeover: true },
    },
    // o=no, c=false.
    { offer: PMD, options: { serverNoContextTakeover: false }, response: PMD },
    // A value where none belongs: "This extension parameter has no value".
    { offer: `${PMD}; server_no_context_takeover=1`, response: undefined },
    { offer: `${PMD}; server_no_context_takeover="true"`, response: undefined },
  ]);
});

describe("RFC 7692 §7.1.1.2 client_no_context_takeover (server role)", () => {
  checkRows([
    // any, c=true.
    {
      offer: PMD,
      options: { clientNoContextTakeover: true },
      response: `${PMD}; client_no_context_takeover`,
      parameters: { clientNoContextTakeover: true },
    },
    {
      offer: `${PMD}; client_no_context_takeover`,
      options: { clientNoContextTakeover: true },
      response: `${PMD}; client_no_context_takeover`,
      parameters: { clientNoContextTakeover: true },
    },
    // yes, c=false: echoed.
    {
      offer: `${PMD}; client_no_context_takeover`,
      response: `${PMD}; client_no_context_takeover`,
      parameters: { clientNoContextTakeover: true },
    },
    // no, c=false.
    { offer: PMD, options: { clientNoContextTakeover: false }, response: PMD },
    { offer: `${PMD}; client_no_context_takeover=1`, response: undefined },
  ]);
});

describe("RFC 7692 §7.1.2.1 server_max_window_bits (server role)", () => {
  checkRows([
    // absent, c=15: absent.
    { offer: PMD, response: PMD },
    { offer: PMD, options: { serverMaxWindowBits: 15 }, response: PMD },
    // absent, c<15: "A server MAY include ... even if the ... offer ... didn't include".
    {
      offer: PMD,
      options: { serverMaxWindowBits: 10 },
      response: `${PMD}; server_max_window_bits=10`,
      parameters: { serverMaxWindowBits: 10 },
    },
    {
      offer: PMD,
      options: { serverMaxWindowBits: 8 },
      response: `${PMD}; server_max_window_bits=8`,
      parameters: { serverMaxWindowBits: 8 },
    },
    // N, c: min(N, c): "with the same or smaller value as the offer".
    {
      offer: `${PMD}; server_max_window_bits=12`,
      options: { serverMaxWindowBits: 10 },
      response: `${PMD}; server_max_window_bits=10`,
      parameters: { serverMaxWindowBits: 10 },
    },
    {
      // Never answered larger than asked (Bun answered a request for 8 with 9).
      offer: `${PMD}; server_max_window_bits=8`,
      options: { serverMaxWindowBits: 10 },
      response: `${PMD}; server_max_window_bits=8`,
      parameters: { serverMaxWindowBits: 8 },
    },
    {
      offer: `${PMD}; server_max_window_bits=10`,
      response: `${PMD}; server_max_window_bits=10`,
      parameters: { serverMaxWindowBits: 10 },
    },
    {
      // Offered, so answered, even at 15.
      offer: `${PMD}; server_max_window_bits=15`,
      response: `${PMD}; server_max_window_bits=15`,
    },
    {
      offer: `${PMD}; server_max_window_bits="9"`,
      response: `${PMD}; server_max_window_bits=9`,
      parameters: { serverMaxWindowBits: 9 },
    },
    // "a decimal integer value without leading zeroes between 8 to 15": anything else is declined.
    { offer: `${PMD}; server_max_window_bits`, response: undefined },
    { offer: `${PMD}; server_max_window_bits=7`, response: undefined },
    { offer: `${PMD}; server_max_window_bits=16`, response: undefined },
    { offer: `${PMD}; server_max_window_bits=08`, response: undefined },
    { offer: `${PMD}; server_max_window_bits=010`, response: undefined },
    { offer: `${PMD}; server_max_window_bits=abc`, response: undefined },
    { offer: `${PMD}; server_max_window_bits=+9`, response: undefined },
    { offer: `${PMD}; server_max_window_bits=9.0`, response: undefined },
    { offer: `${PMD}; server_max_window_bits=0x9`, response: undefined },
  ]);

  for (let n = 8; n <= 15; n++) {
    test(`acceptDeflateOffer grants server_max_window_bits=${n} for every server limit`, () => {
      for (let limit = 8; limit <= 15; limit++) {
        const got = answer(`${PMD}; server_max_window_bits=${n}`, { serverMaxWindowBits: limit });
        const expected = Math.min(n, limit);
        assert.equal(got.response, `${PMD}; server_max_window_bits=${expected}`, `limit ${limit}`);
        assert.equal(got.parameters?.serverMaxWindowBits, expected, `limit ${limit}`);
      }
    });
  }
});

describe("RFC 7692 §7.1.2.2 client_max_window_bits (server role)", () => {
  checkRows([
    // absent, any: "MUST NOT include the client_max_window_bits extension parameter".
    { offer: PMD, response: PMD },
    { offer: PMD, options: { clientMaxWindowBits: 10 }, response: PMD },
    { offer: PMD, options: { clientMaxWindowBits: 8 }, response: PMD },
    // bare, c=15: absent.
    { offer: `${PMD}; client_max_window_bits`, response: PMD },
    // bare, c<15: c.
    {
      offer: `${PMD}; client_max_window_bits`,
      options: { clientMaxWindowBits: 10 },
      response: `${PMD}; client_max_window_bits=10`,
      parameters: { clientMaxWindowBits: 10 },
    },
    // =M, c: min(M, c) if < 15, else absent.
    {
      offer: `${PMD}; client_max_window_bits=12`,
      options: { clientMaxWindowBits: 10 },
      response: `${PMD}; client_max_window_bits=10`,
      parameters: { clientMaxWindowBits: 10 },
    },
    {
      offer: `${PMD}; client_max_window_bits=9`,
      options: { clientMaxWindowBits: 10 },
      response: `${PMD}; client_max_window_bits=9`,
      parameters: { clientMaxWindowBits: 9 },
    },
    { offer: `${PMD}; client_max_window_bits=15`, response: PMD },
    {
      offer: `${PMD}; client_max_window_bits="11"`,
      response: `${PMD}; client_max_window_bits=11`,
      parameters: { clientMaxWindowBits: 11 },
    },
    { offer: `${PMD}; client_max_window_bits=7`, response: undefined },
    { offer: `${PMD}; client_max_window_bits=16`, response: undefined },
    { offer: `${PMD}; client_max_window_bits=08`, response: undefined },
    { offer: `${PMD}; client_max_window_bits=abc`, response: undefined },
  ]);

  for (let m = 8; m <= 15; m++) {
    test(`acceptDeflateOffer answers client_max_window_bits=${m} with the smaller of it and the server's`, () => {
      for (let limit = 8; limit <= 15; limit++) {
        const got = answer(`${PMD}; client_max_window_bits=${m}`, { clientMaxWindowBits: limit });
        const expected = Math.min(m, limit);
        assert.equal(got.response, expected < 15 ? `${PMD}; client_max_window_bits=${expected}` : PMD, `limit ${limit}`);
        assert.equal(got.parameters?.clientMaxWindowBits, expected, `limit ${limit}`);
      }
    });
  }
});

describe("RFC 7692 §7 declining and choosing among offers (server role)", () => {
  checkRows([
    // "The order of elements is important ... An element preceding another element has higher preference."
    {
      offer: `${PMD}; server_max_window_bits=10, ${PMD}`,
      response: `${PMD}; server_max_window_bits=10`,
      parameters: { serverMaxWindowBits: 10 },
    },
    {
      offer: `${PMD}, ${PMD}; server_max_window_bits=10`,
      response: PMD,
    },
    // The first offer invalid: the second is taken.
    { offer: `${PMD}; server_max_window_bits=16, ${PMD}; client_max_window_bits`, response: PMD },
    // autobahn: a bare comma, client_no_context_takeover in both.
    {
      offer: `${PMD}; client_no_context_takeover; client_max_window_bits; server_max_window_bits=16,` +
        `${PMD}; client_no_context_takeover; client_max_window_bits`,
      response: `${PMD}; client_no_context_takeover`,
      parameters: { clientNoContextTakeover: true },
    },
    // "contains an extension parameter not defined for use in an offer": declined (ws answers 400).
    { offer: `${PMD}; foo`, response: undefined },
    { offer: `${PMD}; foo=1`, response: undefined },
    { offer: `${PMD}; client_max_window_bits; x-unknown`, response: undefined },
    { offer: `${PMD}; foo, ${PMD}; client_max_window_bits`, response: PMD },
    // "contains multiple extension parameters with the same name": declined.
    { offer: `${PMD}; client_max_window_bits; client_max_window_bits`, response: undefined },
    { offer: `${PMD}; client_max_window_bits=10; client_max_window_bits=10`, response: undefined },
    { offer: `${PMD}; server_no_context_takeover; server_no_context_takeover`, response: undefined },
    { offer: `${PMD}; client_no_context_takeover; client_no_context_takeover`, response: undefined },
    { offer: `${PMD}; server_max_window_bits=10; server_max_window_bits=10`, response: undefined },
    { offer: `${PMD}; server_max_window_bits=10; Server_Max_Window_Bits=10`, response: undefined },
    { offer: `${PMD}; server_max_window_bits=10; server_max_window_bits=12, ${PMD}`, response: PMD },
    // Other extensions are skipped; the name is compared case-insensitively.
    { offer: `x-webkit-deflate-frame, ${PMD}`, response: PMD },
    { offer: "PerMessage-Deflate; Client_Max_Window_Bits", options: { clientMaxWindowBits: 9 }, response: `${PMD}; client_max_window_bits=9`, parameters: { clientMaxWindowBits: 9 } },
    { offer: "x-webkit-deflate-frame", response: undefined },
    { offer: "permessage-deflate-x, deflate-frame", response: undefined },
    // Everything at once, answered in a fixed order.
    {
      offer: `${PMD}; client_max_window_bits=10; server_max_window_bits=12; client_no_context_takeover; ` +
        "server_no_context_takeover",
      options: { serverMaxWindowBits: 11, clientMaxWindowBits: 9 },
      response: `${PMD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; ` +
        "client_max_window_bits=9",
      parameters: { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 11, clientMaxWindowBits: 9 },
    },
  ]);

  test("acceptDeflateOffer declines when there is no offer at all", () => {
    assert.equal(acceptDeflateOffer([], {}), undefined);
  });
});

describe("RFC 7692 §7 the client role", () => {
  test("deflateOffer by default is exactly what browsers send", () => {
    assert.equal(formatExtensions([deflateOffer({})]), "permessage-deflate; client_max_window_bits");
    assert.equal(
      formatExtensions([deflateOffer({ serverMaxWindowBits: 15, clientMaxWindowBits: 15 })]),
      "permessage-deflate; client_max_window_bits",
    );
  });

  const offers: [DeflateNegotiationOptions, string][] = [
    [{ serverNoContextTakeover: true }, `${PMD}; server_no_context_takeover; client_max_window_bits`],
    [{ clientNoContextTakeover: true }, `${PMD}; client_no_context_takeover; client_max_window_bits`],
    [{ serverMaxWindowBits: 10 }, `${PMD}; server_max_window_bits=10; client_max_window_bits`],
    [{ clientMaxWindowBits: 8 }, `${PMD}; client_max_window_bits=8`],
    [
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 12 },
      `${PMD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=12`,
    ],
  ];
  for (const [options, expected] of offers) {
    test(`deflateOffer(${JSON.stringify(options)}) is "${expected}"`, () => {
      assert.equal(formatExtensions([deflateOffer(options)]), expected);
    });
  }

  const valid: [DeflateNegotiationOptions, string, Partial<DeflateParameters>][] = [
    [{}, PMD, {}],
    [{}, `${PMD}; server_no_context_takeover`, { serverNoContextTakeover: true }],
    [{}, `${PMD}; client_no_context_takeover`, { clientNoContextTakeover: true }],
    [{}, `${PMD}; server_max_window_bits=10`, { serverMaxWindowBits: 10 }],
    [{}, `${PMD}; client_max_window_bits=9`, { clientMaxWindowBits: 9 }],
    [{}, `${PMD}; client_max_window_bits=15`, {}],
    [{}, `${PMD}; client_max_window_bits="8"`, { clientMaxWindowBits: 8 }],
    // Our own hint holds when the server says nothing, or allows more.
    [{ clientMaxWindowBits: 10 }, PMD, { clientMaxWindowBits: 10 }],
    [{ clientMaxWindowBits: 10 }, `${PMD}; client_max_window_bits=12`, { clientMaxWindowBits: 10 }],
    [{ clientMaxWindowBits: 10 }, `${PMD}; client_max_window_bits=9`, { clientMaxWindowBits: 9 }],
    // We said we would not take over context: we don't, whatever the answer.
    [{ clientNoContextTakeover: true }, PMD, { clientNoContextTakeover: true }],
    [{ serverNoContextTakeover: true }, `${PMD}; server_no_context_takeover`, { serverNoContextTakeover: true }],
    [{ serverMaxWindowBits: 10 }, `${PMD}; server_max_window_bits=10`, { serverMaxWindowBits: 10 }],
    [{ serverMaxWindowBits: 10 }, `${PMD}; server_max_window_bits=8`, { serverMaxWindowBits: 8 }],
    [{}, "permessage-deflate; Server_No_Context_Takeover", { serverNoContextTakeover: true }],
    // Bun's answer and python-websockets'.
    [
      {},
      `${PMD}; client_no_context_takeover; server_no_context_takeover`,
      { serverNoContextTakeover: true, clientNoContextTakeover: true },
    ],
    [
      {},
      `${PMD}; server_max_window_bits=12; client_max_window_bits=12`,
      { serverMaxWindowBits: 12, clientMaxWindowBits: 12 },
    ],
    [
      { serverNoContextTakeover: true, serverMaxWindowBits: 12, clientMaxWindowBits: 11 },
      `${PMD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=8`,
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 8 },
    ],
  ];
  for (const [options, response, expected] of valid) {
    test(`verifyDeflateResponse accepts "${response}" to ${JSON.stringify(options)}`, () => {
      assert.deepEqual(verifyDeflateResponse(parseExtensions(response)[0], options), agreed(expected));
    });
  }

  const invalid: [string, DeflateNegotiationOptions, string, RegExp][] = [
    ["an unknown parameter", {}, `${PMD}; foo`, /parameter foo is not defined for permessage-deflate/],
    ["an unknown parameter with a value", {}, `${PMD}; foo=1`, /parameter foo is not defined/],
    ["a duplicate", {}, `${PMD}; server_no_context_takeover; server_no_context_takeover`, /appears twice/],
    ["a duplicate window", {}, `${PMD}; client_max_window_bits=10; client_max_window_bits=10`, /appears twice/],
    ["client_max_window_bits without a value", {}, `${PMD}; client_max_window_bits`, /client_max_window_bits/],
    ["server_max_window_bits without a value", {}, `${PMD}; server_max_window_bits`, /server_max_window_bits/],
    ["server_max_window_bits=7", {}, `${PMD}; server_max_window_bits=7`, /not 8..15/],
    ["server_max_window_bits=16", {}, `${PMD}; server_max_window_bits=16`, /not 8..15/],
    ["server_max_window_bits=08", {}, `${PMD}; server_max_window_bits=08`, /not 8..15/],
    ["client_max_window_bits=16", {}, `${PMD}; client_max_window_bits=16`, /not 8..15/],
    ["client_max_window_bits=abc", {}, `${PMD}; client_max_window_bits=abc`, /not 8..15/],
    [
      "server_max_window_bits larger than requested",
      { serverMaxWindowBits: 10 },
      `${PMD}; server_max_window_bits=11`,
      /server_max_window_bits=11 exceeds the 10 requested/,
    ],
    [
      "server_no_context_takeover requested but absent",
      { serverNoContextTakeover: true },
      PMD,
      /server_no_context_takeover was requested and not granted/,
    ],
    [
      "server_max_window_bits requested but absent",
      { serverMaxWindowBits: 10 },
      PMD,
      /server_max_window_bits=10 was requested and not granted/,
    ],
    ["a value on server_no_context_takeover", {}, `${PMD}; server_no_context_takeover=1`, /has a value/],
    ["a value on client_no_context_takeover", {}, `${PMD}; client_no_context_takeover=1`, /has a value/],
  ];
  for (const [name, options, response, message] of invalid) {
    test(`verifyDeflateResponse fails the connection for ${name}`, () => {
      assert.throws(() => verifyDeflateResponse(parseExtensions(response)[0], options), {
        name: "Error",
        message: new RegExp(`^Cannot accept permessage-deflate response: .*${message.source}`),
      });
    });
  }
});

describe("window options outside 8..15", () => {
  const BAD = [7, 16, 0, -1, 8.5, Number.NaN, Infinity];
  const offer = parseExtensions(PMD);
  for (const key of ["serverMaxWindowBits", "clientMaxWindowBits"] as const) {
    for (const value of BAD) {
      test(`${key} ${value} is a RangeError in every function`, () => {
        const options = { [key]: value };
        const expected = { name: "RangeError", message: new RegExp(`^Cannot negotiate permessage-deflate: ${key} `) };
        assert.throws(() => acceptDeflateOffer(offer, options), expected);
        assert.throws(() => acceptDeflateOffer([], options), expected);
        assert.throws(() => deflateOffer(options), expected);
        assert.throws(() => verifyDeflateResponse(offer[0], options), expected);
      });
    }
  }
});

describe("both roles together", () => {
  test("every offer deflateOffer builds is accepted by acceptDeflateOffer, and the answer verifies", () => {
    const flags = [false, true];
    const bits = [8, 9, 12, 15];
    const everyOption: DeflateNegotiationOptions[] = [];
    for (const serverNoContextTakeover of flags) {
      for (const clientNoContextTakeover of flags) {
        for (const serverMaxWindowBits of bits) {
          for (const clientMaxWindowBits of bits) {
            everyOption.push({ serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits });
          }
        }
      }
    }
    for (const client of everyOption) {
      const wire = formatExtensions([deflateOffer(client)]);
      for (const server of everyOption) {
        const label = `${wire} to ${JSON.stringify(server)}`;
        const accepted = acceptDeflateOffer(parseExtensions(wire), server);
        assert.ok(accepted !== undefined, label);
        const s = accepted.parameters;
        const c = verifyDeflateResponse(parseExtensions(formatExtensions([accepted.response]))[0], client);
        // The server compresses no wider than the client inflates, and both agree on resetting.
        assert.equal(c.serverNoContextTakeover, s.serverNoContextTakeover, label);
        assert.equal(c.serverMaxWindowBits, s.serverMaxWindowBits, label);
        assert.ok(s.serverMaxWindowBits <= (client.serverMaxWindowBits ?? 15), label);
        assert.ok(s.serverMaxWindowBits <= (server.serverMaxWindowBits ?? 15), label);
        // The client compresses no wider than the server inflates; if the server resets, so does the client.
        assert.ok(c.clientMaxWindowBits <= s.clientMaxWindowBits, label);
        assert.ok(c.clientMaxWindowBits <= (client.clientMaxWindowBits ?? 15), label);
        assert.ok(!s.clientNoContextTakeover || c.clientNoContextTakeover, label);
        if (client.serverNoContextTakeover || server.serverNoContextTakeover) assert.ok(s.serverNoContextTakeover, label);
      }
    }
  });
});

describe("the broadcast profile (server role): server_no_context_takeover and a fixed window for every offer", () => {
  const NCT = "server_no_context_takeover";
  const BROADCAST: DeflateNegotiationOptions = { broadcast: true };
  checkRows([
    // Nothing about the server in the offer, c=15: §7.1.1.1 "A server MAY include the
    // server_no_context_takeover extension parameter ... even if the ... offer ... didn't include" it;
    // server_max_window_bits=15 is the default and left out.
    { offer: PMD, options: BROADCAST, response: `${PMD}; ${NCT}`, parameters: { serverNoContextTakeover: true } },
    {
      offer: `${PMD}; client_max_window_bits`, // what browsers, ws, Bun and python-websockets offer
      options: BROADCAST,
      response: `${PMD}; ${NCT}`,
      parameters: { serverNoContextTakeover: true },
    },
    {
      offer: PMD,
      options: { broadcast: true, serverMaxWindowBits: 15 },
      response: `${PMD}; ${NCT}`,
      parameters: { serverNoContextTakeover: true },
    },
    // Nothing about the server, c<15: §7.1.2.1 "A server MAY include the server_max_window_bits ... even if
    // the ... offer ... didn't include" it.
    {
      offer: PMD,
      options: { broadcast: true, serverMaxWindowBits: 12 },
      response: `${PMD}; ${NCT}; server_max_window_bits=12`,
      parameters: { serverNoContextTakeover: true, serverMaxWindowBits: 12 },
    },
    {
      offer: `${PMD}; client_max_window_bits`,
      options: { broadcast: true, serverMaxWindowBits: 9 },
      response: `${PMD}; ${NCT}; server_max_window_bits=9`,
      parameters: { serverNoContextTakeover: true, serverMaxWindowBits: 9 },
    },
    // server_max_window_bits=N offered: min(N, c), "the same or smaller value as the offer".
    {
      offer: `${PMD}; server_max_window_bits=10`,
      options: BROADCAST,
      response: `${PMD}; ${NCT}; server_max_window_bits=10`,
      parameters: { serverNoContextTakeover: true, serverMaxWindowBits: 10 },
    },
    {
      offer: `${PMD}; server_max_window_bits=10`,
      options: { broadcast: true, serverMaxWindowBits: 12 },
      response: `${PMD}; ${NCT}; server_max_window_bits=10`,
      parameters: { serverNoContextTakeover: true, serverMaxWindowBits: 10 },
    },
    {
      offer: `${PMD}; server_max_window_bits=13`,
      options: { broadcast: true, serverMaxWindowBits: 12 },
      response: `${PMD}; ${NCT}; server_max_window_bits=12`,
      parameters: { serverNoContextTakeover: true, serverMaxWindowBits: 12 },
    },
    {
      // Offered, so answered, even at 15.
      offer: `${PMD}; server_max_window_bits=15`,
      options: BROADCAST,
      response: `${PMD}; ${NCT}; server_max_window_bits=15`,
      parameters: { serverNoContextTakeover: true },
    },
    // 8 is answered 8, never 9 (more than offered): the codecs compress it with zlib's 9-bit window.
    {
      offer: `${PMD}; server_max_window_bits=8`,
      options: BROADCAST,
      response: `${PMD}; ${NCT}; server_max_window_bits=8`,
      parameters: { serverNoContextTakeover: true, serverMaxWindowBits: 8 },
    },
    {
      offer: `${PMD}; server_max_window_bits=8; client_max_window_bits`,
      options: { broadcast: true, serverMaxWindowBits: 12 },
      response: `${PMD}; ${NCT}; server_max_window_bits=8`,
      parameters: { serverNoContextTakeover: true, serverMaxWindowBits: 8 },
    },
    {
      offer: PMD,
      options: { broadcast: true, serverMaxWindowBits: 8 },
      response: `${PMD}; ${NCT}; server_max_window_bits=8`,
      parameters: { serverNoContextTakeover: true, serverMaxWindowBits: 8 },
    },
    // server_no_context_takeover already offered: the same answer as without it.
    {
      offer: `${PMD}; ${NCT}`,
      options: BROADCAST,
      response: `${PMD}; ${NCT}`,
      parameters: { serverNoContextTakeover: true },
    },
    {
      offer: `${PMD}; ${NCT}; server_max_window_bits=9`,
      options: { broadcast: true, serverMaxWindowBits: 12 },
      response: `${PMD}; ${NCT}; server_max_window_bits=9`,
      parameters: { serverNoContextTakeover: true, serverMaxWindowBits: 9 },
    },
    // broadcast with serverNoContextTakeover: false (the default: "not required") is still broadcast.
    {
      offer: PMD,
      options: { broadcast: true, serverNoContextTakeover: false },
      response: `${PMD}; ${NCT}`,
      parameters: { serverNoContextTakeover: true },
    },
    // broadcast: false is the default.
    { offer: PMD, options: { broadcast: false }, response: PMD },
    // The client_* parameters keep their rows.
    {
      offer: `${PMD}; client_no_context_takeover`,
      options: BROADCAST,
      response: `${PMD}; ${NCT}; client_no_context_takeover`,
      parameters: { serverNoContextTakeover: true, clientNoContextTakeover: true },
    },
    {
      offer: PMD,
      options: { broadcast: true, clientNoContextTakeover: true },
      response: `${PMD}; ${NCT}; client_no_context_takeover`,
      parameters: { serverNoContextTakeover: true, clientNoContextTakeover: true },
    },
    {
      // client_max_window_bits not offered: "MUST NOT include" it, whatever the server's option.
      offer: PMD,
      options: { broadcast: true, clientMaxWindowBits: 10 },
      response: `${PMD}; ${NCT}`,
      parameters: { serverNoContextTakeover: true },
    },
    {
      offer: `${PMD}; client_max_window_bits`,
      options: { broadcast: true, clientMaxWindowBits: 10 },
      response: `${PMD}; ${NCT}; client_max_window_bits=10`,
      parameters: { serverNoContextTakeover: true, clientMaxWindowBits: 10 },
    },
    {
      offer: `${PMD}; client_max_window_bits=9`,
      options: { broadcast: true, clientMaxWindowBits: 10 },
      response: `${PMD}; ${NCT}; client_max_window_bits=9`,
      parameters: { serverNoContextTakeover: true, clientMaxWindowBits: 9 },
    },
    // Several offers in one header: the first acceptable one is answered, with the profile applied.
    {
      offer: `${PMD}; server_max_window_bits=10, ${PMD}`,
      options: BROADCAST,
      response: `${PMD}; ${NCT}; server_max_window_bits=10`,
      parameters: { serverNoContextTakeover: true, serverMaxWindowBits: 10 },
    },
    {
      offer: `${PMD}, ${PMD}; server_max_window_bits=10`,
      options: { broadcast: true, serverMaxWindowBits: 12 },
      response: `${PMD}; ${NCT}; server_max_window_bits=12`,
      parameters: { serverNoContextTakeover: true, serverMaxWindowBits: 12 },
    },
    {
      offer: `${PMD}; server_max_window_bits=16, ${PMD}; server_max_window_bits=11; client_max_window_bits`,
      options: { broadcast: true, serverMaxWindowBits: 12, clientMaxWindowBits: 10 },
      response: `${PMD}; ${NCT}; server_max_window_bits=11; client_max_window_bits=10`,
      parameters: { serverNoContextTakeover: true, serverMaxWindowBits: 11, clientMaxWindowBits: 10 },
    },
    {
      offer: `x-webkit-deflate-frame, ${PMD}; foo, ${PMD}; client_no_context_takeover; client_max_window_bits`,
      options: BROADCAST,
      response: `${PMD}; ${NCT}; client_no_context_takeover`,
      parameters: { serverNoContextTakeover: true, clientNoContextTakeover: true },
    },
    {
      // autobahn's offer set.
      offer: `${PMD}; client_no_context_takeover; client_max_window_bits; server_max_window_bits=16,` +
        `${PMD}; client_no_context_takeover; client_max_window_bits`,
      options: BROADCAST,
      response: `${PMD}; ${NCT}; client_no_context_takeover`,
      parameters: { serverNoContextTakeover: true, clientNoContextTakeover: true },
    },
    // Offers the RFC says to decline are still declined.
    { offer: `${PMD}; foo`, options: BROADCAST, response: undefined },
    { offer: `${PMD}; server_max_window_bits=7`, options: BROADCAST, response: undefined },
    { offer: `${PMD}; ${NCT}; ${NCT}`, options: BROADCAST, response: undefined },
    { offer: "x-webkit-deflate-frame", options: BROADCAST, response: undefined },
  ]);

  test("broadcast answers server_no_context_takeover and min(N, c) for every offered N and server limit c", () => {
    for (let limit = 8; limit <= 15; limit++) {
      const options = { broadcast: true, serverMaxWindowBits: limit };
      const unoffered = answer(PMD, options);
      assert.equal(unoffered.response, limit < 15 ? `${PMD}; ${NCT}; server_max_window_bits=${limit}` : `${PMD}; ${NCT}`);
      assert.deepEqual(unoffered.parameters, agreed({ serverNoContextTakeover: true, serverMaxWindowBits: limit }));
      for (let n = 8; n <= 15; n++) {
        const expected = Math.min(n, limit);
        const got = answer(`${PMD}; server_max_window_bits=${n}`, options);
        assert.equal(got.response, `${PMD}; ${NCT}; server_max_window_bits=${expected}`, `N ${n}, limit ${limit}`);
        assert.deepEqual(got.parameters, agreed({ serverNoContextTakeover: true, serverMaxWindowBits: expected }));
      }
    }
  });

  test("broadcast in the client role is a TypeError from deflateOffer, verifyDeflateResponse and ClientHandshake", () => {
    const expected = { name: "TypeError", message: /^Cannot negotiate permessage-deflate: broadcast is a server option/ };
    assert.throws(() => deflateOffer({ broadcast: true }), expected);
    assert.throws(() => verifyDeflateResponse(parseExtensions(`${PMD}; ${NCT}`)[0], { broadcast: true }), expected);
    assert.throws(() => new ClientHandshake("ws://127.0.0.1:8080/", { deflate: { broadcast: true } }), expected);
    // false is the default, in either role.
    assert.equal(formatExtensions([deflateOffer({ broadcast: false })]), `${PMD}; client_max_window_bits`);
  });

  test("verifyDeflateResponse accepts what a broadcast server answers to every offer deflateOffer builds", () => {
    const flags = [false, true];
    const bits = [8, 9, 12, 15];
    for (const serverNoContextTakeover of flags) {
      for (const clientNoContextTakeover of flags) {
        for (const serverMaxWindowBits of bits) {
          for (const clientMaxWindowBits of bits) {
            const client = { serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits };
            const wire = formatExtensions([deflateOffer(client)]);
            for (const limit of bits) {
              const label = `${wire} to broadcast at ${limit}`;
              const accepted = acceptDeflateOffer(parseExtensions(wire), { broadcast: true, serverMaxWindowBits: limit });
              assert.ok(accepted !== undefined, label);
              const s = accepted.parameters;
              const c = verifyDeflateResponse(parseExtensions(formatExtensions([accepted.response]))[0], client);
              assert.equal(s.serverNoContextTakeover, true, label);
              assert.equal(c.serverNoContextTakeover, true, label);
              assert.equal(s.serverMaxWindowBits, Math.min(serverMaxWindowBits, limit), label);
              assert.equal(c.serverMaxWindowBits, s.serverMaxWindowBits, label);
              assert.ok(c.clientMaxWindowBits <= s.clientMaxWindowBits, label);
              assert.ok(!s.clientNoContextTakeover || c.clientNoContextTakeover, label);
            }
          }
        }
      }
    }
    // And the offers of other clients, verified as a client with no preferences would.
    const others = [PMD, `${PMD}; client_max_window_bits`, `${PMD}; server_max_window_bits=10; client_max_window_bits=10`];
    for (const wire of others) {
      const accepted = acceptDeflateOffer(parseExtensions(wire), { broadcast: true });
      assert.ok(accepted !== undefined, wire);
      const c = verifyDeflateResponse(parseExtensions(formatExtensions([accepted.response]))[0], {});
      assert.equal(c.serverNoContextTakeover, true, wire);
      assert.equal(c.serverMaxWindowBits, accepted.parameters.serverMaxWindowBits, wire);
    }
  });

  test("one compressed payload per window size serves every client of a broadcast server (8 and 9 alike)", () => {
    const message = new TextEncoder().encode(JSON.stringify(
      Array.from({ length: 40 }, (_, i) => ({ id: i, user: `user${i % 7}`, text: `update number ${i}`, ok: i % 3 === 0 })),
    ));
    const offers = [
      PMD,
      `${PMD}; client_max_window_bits`,
      `${PMD}; client_no_context_takeover`,
      `${PMD}; server_no_context_takeover`,
      `${PMD}; server_max_window_bits=12`,
      `${PMD}; server_max_window_bits=12; client_max_window_bits=10`,
      `${PMD}; server_max_window_bits=9`,
      `${PMD}; server_max_window_bits=8`,
      `${PMD}; server_max_window_bits=8; server_no_context_takeover`,
    ];
    const payloads = new Map<number, string>();
    const frame = { fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: Opcode.Text, payload: message };
    for (const offer of offers) {
      const accepted = acceptDeflateOffer(parseExtensions(offer), { broadcast: true });
      assert.ok(accepted !== undefined, offer);
      const server = new PerMessageDeflate("server", accepted.parameters, { releaseAfterIdle: Infinity });
      const verified = verifyDeflateResponse(accepted.response, {});
      const client = new PerMessageDeflate("client", verified, { releaseAfterIdle: Infinity });
      // Twice: the second message does not refer to the first.
      for (let i = 0; i < 2; i++) {
        const sent = server.encode(frame);
        assert.equal(sent.rsv1, true, offer);
        const bytes = sent.payload.join();
        const windowBits: number = accepted.parameters.serverMaxWindowBits;
        const label = `${offer}: the same bytes as the others at ${windowBits} bits`;
        assert.equal(payloads.get(windowBits) ?? bytes, bytes, label);
        payloads.set(windowBits, bytes);
        assert.deepEqual(client.decode(sent, Number.MAX_SAFE_INTEGER).payload, message, offer);
      }
      server.release();
      client.release();
    }
    assert.deepEqual([...payloads.keys()].sort((a, b) => a - b), [8, 9, 12, 15]);
    assert.equal(payloads.get(8), payloads.get(9), "8 is compressed with zlib's 9-bit window");
  });

  test("serverHandshake with deflate { broadcast: true } answers Sec-WebSocket-Extensions with the profile", async () => {
    const base = {
      host: "example.com",
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
    };
    const rows: [string, DeflateNegotiationOptions, string][] = [
      [`${PMD}; client_max_window_bits`, {}, `${PMD}; ${NCT}`],
      [PMD, { serverMaxWindowBits: 12 }, `${PMD}; ${NCT}; server_max_window_bits=12`],
      [
        `${PMD}; server_max_window_bits=10; client_max_window_bits`,
        { serverMaxWindowBits: 12, clientMaxWindowBits: 11 },
        `${PMD}; ${NCT}; server_max_window_bits=10; client_max_window_bits=11`,
      ],
      [`${PMD}; server_max_window_bits=8, ${PMD}`, {}, `${PMD}; ${NCT}; server_max_window_bits=8`],
    ];
    for (const [offer, options, expected] of rows) {
      const headers = { ...base, "sec-websocket-extensions": offer };
      const request = new Request("http://example.com/live", { headers });
      const result = await serverHandshake(request, { deflate: { broadcast: true, ...options } });
      assert.ok(result.ok, offer);
      assert.equal(result.response.headers.get("sec-websocket-extensions"), expected, offer);
      assert.equal(result.extensions, expected, offer);
      assert.equal(result.negotiated.length, 1, offer);
      (result.negotiated[0] as PerMessageDeflate).release();
    }
  });
});
