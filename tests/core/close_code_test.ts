import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { INVALID_CLOSE_CODES, VALID_CLOSE_CODES } from "../_vectors.ts";
import { CloseCode, isValidCloseCode } from "../../lib/core/close_code.ts";

describe("§7.4.1 defined status codes", () => {
  test("CloseCode has the values RFC 6455 §7.4.1 and the IANA registry assign", () => {
    assert.deepEqual({ ...CloseCode }, {
      NormalClosure: 1000,
      GoingAway: 1001,
      ProtocolError: 1002,
      UnsupportedData: 1003,
      NoStatusReceived: 1005,
      AbnormalClosure: 1006,
      InvalidPayloadData: 1007,
      PolicyViolation: 1008,
      MessageTooBig: 1009,
      MandatoryExtension: 1010,
      InternalError: 1011,
      ServiceRestart: 1012,
      TryAgainLater: 1013,
      BadGateway: 1014,
      TlsHandshake: 1015,
    });
  });
});

describe("§7.4 status codes valid on the wire", () => {
  // Autobahn 7.7.x: codes an endpoint must accept (and echo).
  const valid = VALID_CLOSE_CODES;
  for (const code of valid) {
    test(`isValidCloseCode accepts ${code}`, () => {
      assert.equal(isValidCloseCode(code), true);
    });
  }

  // Autobahn 7.9.x: codes that fail the connection. 1004 is reserved, 1005/1006/1015 must not be sent
  // (§7.4.1: "MUST NOT be set as a status code in a Close control frame by an endpoint"), 0-999 are not
  // used (§7.4.2), 1016-2999 are for future revisions of the RFC and extensions, 5000+ are undefined.
  const invalid = INVALID_CLOSE_CODES;
  for (const code of invalid) {
    test(`isValidCloseCode rejects ${code}`, () => {
      assert.equal(isValidCloseCode(code), false);
    });
  }

  test("the valid codes among 0-65535 are exactly 1000-1003, 1007-1014 and 3000-4999", () => {
    const accepted: number[] = [];
    for (let code = 0; code <= 0xffff; code++) if (isValidCloseCode(code)) accepted.push(code);
    assert.equal(accepted.length, 4 + 8 + 2000);
    assert.deepEqual(accepted.slice(0, 12), [
      1000,
      1001,
      1002,
      1003,
      1007,
      1008,
      1009,
      1010,
      1011,
      1012,
      1013,
      1014,
    ]);
    assert.equal(accepted[12], 3000);
    assert.equal(accepted[accepted.length - 1], 4999);
  });

  test("isValidCloseCode rejects the reserved constants NoStatusReceived, AbnormalClosure and TlsHandshake", () => {
    assert.equal(isValidCloseCode(CloseCode.NoStatusReceived), false);
    assert.equal(isValidCloseCode(CloseCode.AbnormalClosure), false);
    assert.equal(isValidCloseCode(CloseCode.TlsHandshake), false);
  });
});
