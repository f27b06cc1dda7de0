import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { computeAcceptKey, isValidKey, WEBSOCKET_GUID } from "../../lib/handshake/accept_key.ts";

/** The accept value computed independently of the module under test (node:crypto, not WebCrypto). */
function referenceAccept(key: string): string {
  return createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", "latin1").digest("base64");
}

/** base64 of bytes through node:buffer, independent of btoa. */
function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64");
}

describe("RFC 6455 §1.3, §4.2.2: computeAcceptKey", () => {
  test("the GUID is the one of RFC 6455 §1.3", () => {
    assert.equal(WEBSOCKET_GUID, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
  });

  const VECTORS: { name: string; key: string; accept: string }[] = [
    {
      name: "RFC 6455 §1.3 sample nonce",
      key: "dGhlIHNhbXBsZSBub25jZQ==",
      accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
    },
    // The handshake example that circulates in tutorials and the Wikipedia article.
    {
      name: "the widely quoted x3JJ... example",
      key: "x3JJHMbDL1EzLkh9GBhXDw==",
      accept: "HSmrc0sMlYUkAGmm5OPpG2HaGWk=",
    },
  ];
  for (const { name, key, accept } of VECTORS) {
    test(`computeAcceptKey answers the ${name} with its published accept value`, async () => {
      assert.equal(await computeAcceptKey(key), accept);
      assert.equal(referenceAccept(key), accept, "the reference implementation agrees");
    });
  }

  const REALISTIC_KEYS = [
    "cWIzHUHmBSQu8TnzpdVEYQ==",
    "MF9L6SHQHXf8dcr7m1tW5Q==",
    "ToD2iGw/QCUouy1WCmoNrQ==",
    "KFagcCyeNL3+73iiJnsalg==",
    "MLph/OcvJ1riMGD+WKT3mA==",
    "5JYd2POloLmw24mszy+aHQ==",
  ];
  test("computeAcceptKey agrees with node:crypto SHA-1 on keys as browsers send them", async () => {
    for (const key of REALISTIC_KEYS) assert.equal(await computeAcceptKey(key), referenceAccept(key), key);
  });

  test("computeAcceptKey agrees with node:crypto SHA-1 on 200 random 16-byte keys", async () => {
    for (let i = 0; i < 200; i++) {
      const key = base64(crypto.getRandomValues(new Uint8Array(16)));
      assert.equal(await computeAcceptKey(key), referenceAccept(key), key);
    }
  });

  test("computeAcceptKey hashes the key as a string, not base64-decoded, and byte for byte", async () => {
    // §4.2.2: "(as a string, not base64-decoded)": whitespace or a different spelling changes the value.
    const key = "dGhlIHNhbXBsZSBub25jZQ==";
    const accepts = new Set([
      await computeAcceptKey(key),
      await computeAcceptKey(` ${key}`),
      await computeAcceptKey(key.toLowerCase()),
      await computeAcceptKey(""),
    ]);
    assert.equal(accepts.size, 4);
    assert.equal(await computeAcceptKey(""), referenceAccept(""));
    assert.equal(await computeAcceptKey("not base64 at all"), referenceAccept("not base64 at all"));
  });

  test("computeAcceptKey returns 28 characters of padded base64 (a 20-byte SHA-1)", async () => {
    const accept = await computeAcceptKey("cWIzHUHmBSQu8TnzpdVEYQ==");
    assert.match(accept, /^[A-Za-z0-9+/]{27}=$/);
    assert.equal(Buffer.from(accept, "base64").length, 20);
  });
});

describe("RFC 6455 §4.1, §4.2.1 (5): isValidKey", () => {
  const VALID: { name: string; key: string }[] = [
    { name: "RFC 6455 §1.3 sample", key: "dGhlIHNhbXBsZSBub25jZQ==" },
    { name: "tutorial example", key: "x3JJHMbDL1EzLkh9GBhXDw==" },
    ...["cWIzHUHmBSQu8TnzpdVEYQ==", "MF9L6SHQHXf8dcr7m1tW5Q==", "ToD2iGw/QCUouy1WCmoNrQ=="].map((key) => ({
      name: `random key ${key}`,
      key,
    })),
    { name: "all zero bytes", key: "AAAAAAAAAAAAAAAAAAAAAA==" },
    { name: "all 0xff bytes", key: "/////////////////////w==" },
    { name: "last character A", key: "dGhlIHNhbXBsZSBub25jZA==" },
    { name: "last character Q", key: "dGhlIHNhbXBsZSBub25jZQ==" },
    { name: "last character g", key: "dGhlIHNhbXBsZSBub25jZg==" },
    { name: "last character w", key: "dGhlIHNhbXBsZSBub25jZw==" },
    { name: "+ and / in the body", key: "+/+/+/+/+/+/+/+/+/+/+w==" },
  ];
  for (const { name, key } of VALID) {
    test(`isValidKey accepts a 16-byte key: ${name}`, () => {
      assert.equal(Buffer.from(key, "base64").length, 16, "fixture: decodes to 16 bytes");
      assert.equal(isValidKey(key), true);
    });
  }

  const INVALID: { name: string; key: string }[] = [
    { name: "empty", key: "" },
    { name: "5 bytes (c2hvcnQ=)", key: "c2hvcnQ=" },
    { name: "15 bytes", key: "AAAAAAAAAAAAAAAAAAAA" },
    { name: "15 bytes, 20 chars with padding shape", key: "AAAAAAAAAAAAAAAAAAA=" },
    { name: "17 bytes", key: "AAAAAAAAAAAAAAAAAAAAAAA=" },
    { name: "18 bytes", key: "AAAAAAAAAAAAAAAAAAAAAAAA" },
    { name: "32 bytes", key: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" },
    { name: "16 bytes without padding", key: "dGhlIHNhbXBsZSBub25jZQ" },
    { name: "16 bytes with one = only", key: "dGhlIHNhbXBsZSBub25jZQ=" },
    { name: "16 bytes with three =", key: "dGhlIHNhbXBsZSBub25jZQ===" },
    { name: "non-zero padding bits (R)", key: "dGhlIHNhbXBsZSBub25jZR==" },
    { name: "non-zero padding bits (B)", key: "dGhlIHNhbXBsZSBub25jZB==" },
    { name: "non-zero padding bits (/)", key: "dGhlIHNhbXBsZSBub25jZ/==" },
    { name: "base64url '-'", key: "dGhlIHNhbXBsZSBub25-ZQ==" },
    { name: "base64url '_'", key: "dGhlIHNhbXBsZSBub25_ZQ==" },
    { name: "'!' inside", key: "dGhlIHNhbXBsZSBub25!ZQ==" },
    { name: "'=' inside", key: "dGhlIHNhbXBsZ=Bub25jZQ==" },
    { name: "non-ASCII letter", key: "dGhlIHNhbXBsZSBub25jéQ==" },
    { name: "leading space", key: " dGhlIHNhbXBsZSBub25jZQ==" },
    { name: "trailing space", key: "dGhlIHNhbXBsZSBub25jZQ== " },
    { name: "space inside", key: "dGhlIHNhbXBs ZSBub25jZQ==" },
    { name: "tab inside", key: "dGhlIHNhbXBs\tZSBub25jZQ==" },
    { name: "trailing newline", key: "dGhlIHNhbXBsZSBub25jZQ==\n" },
    { name: "two keys joined by Headers.get", key: "dGhlIHNhbXBsZSBub25jZQ==, x3JJHMbDL1EzLkh9GBhXDw==" },
    { name: "hex instead of base64", key: "000102030405060708090a0b0c0d0e0f" },
  ];
  for (const { name, key } of INVALID) {
    test(`isValidKey rejects a key that is not base64 of 16 bytes: ${name}`, () => {
      assert.equal(isValidKey(key), false);
    });
  }

  test("isValidKey accepts exactly the canonical encodings, for every possible 22nd character", () => {
    // Only 4 of the 64 base64 characters leave the 4 padding bits zero; node:buffer decodes the others too
    // (dropping the bits), so canonical = decodes to 16 bytes and re-encodes to the same text.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let accepted = 0;
    for (const c of alphabet) {
      const key = `dGhlIHNhbXBsZSBub25j${"Z"}${c}==`;
      const bytes = Buffer.from(key, "base64");
      const canonical = bytes.length === 16 && bytes.toString("base64") === key;
      assert.equal(isValidKey(key), canonical, key);
      if (canonical) accepted++;
    }
    assert.equal(accepted, 4);
  });

  test("isValidKey accepts 500 keys made as a client makes them (16 random bytes, base64)", () => {
    for (let i = 0; i < 500; i++) {
      const key = base64(crypto.getRandomValues(new Uint8Array(16)));
      assert.equal(isValidKey(key), true, key);
    }
  });
});
