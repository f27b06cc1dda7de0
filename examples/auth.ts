/**
 * Who may connect, decided before the 101: a signed session cookie (browsers) or a signed token (in the
 * query string, or as a subprotocol so it stays out of URLs and logs). A missing or forged credential gets
 * 401, a banned user 403, and a socket whose credential expires is closed with 4401 ("token expired").
 *
 *   POST /login {"user":"ana","ttl":60}  ->  Set-Cookie: session=...;  {"token":"..."}
 *   ws://host/?token=...   or   new WebSocket(url, ["chat", "token." + token])   or the cookie
 *
 *   deno run --allow-net --allow-env examples/auth.ts [--port 8080]
 *   bun examples/auth.ts [--port 8080]
 *
 * @module
 */

import process from "node:process";
import { serve } from "../lib/adapters/serve.ts";

const portIndex = process.argv.indexOf("--port");
const port = portIndex === -1 ? 8080 : Number(process.argv[portIndex + 1]);
const BANNED = new Set(["mallory"]);

// One key per process here; a real deployment keeps it in a secret store (and rotates it).
const key = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
const base64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const unbase64url = (text: string) =>
  Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

/** base64url(`<user>.<expiresAt>`) `.` base64url(HMAC): a valid HTTP token, so it can travel as a subprotocol. */
async function sign(user: string, expiresAt: number): Promise<string> {
  const payload = base64url(new TextEncoder().encode(`${user}.${expiresAt}`));
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(payload)));
  return `${payload}.${base64url(mac)}`;
}

/** The user and expiry of a genuine, unexpired credential, or `undefined`. */
async function verify(
  credential: string | undefined,
): Promise<{ user: string; expiresAt: number } | undefined> {
  const [payload, mac] = credential?.split(".") ?? [];
  if (!payload || !mac) return undefined;
  try {
    const genuine = await crypto.subtle.verify(
      "HMAC",
      key,
      unbase64url(mac),
      new TextEncoder().encode(payload),
    );
    const [user, expires] = new TextDecoder().decode(unbase64url(payload)).split(".");
    const expiresAt = Number(expires);
    return genuine && expiresAt > Date.now() ? { user, expiresAt } : undefined;
  } catch {
    return undefined; // not base64url
  }
}

/** Where a credential can come from, most specific first. */
function credentialOf(request: Request): string | undefined {
  const offered = request.headers.get("sec-websocket-protocol")?.split(",").map((p) => p.trim()) ?? [];
  const fromProtocol = offered.find((p) => p.startsWith("token."))?.slice("token.".length);
  const cookie = /(?:^|;\s*)session=([^;]+)/.exec(request.headers.get("cookie") ?? "")?.[1];
  return fromProtocol ?? new URL(request.url).searchParams.get("token") ?? cookie;
}

const server = await serve<{ user: string }>({
  port,
  protocols: ["chat"], // chosen when offered next to a token: the token itself is never echoed back
  // A page from another origin must not ride on the user's cookie (cross-site WebSocket hijacking).
  origins: (origin, request) => origin === null || new URL(origin).host === request.headers.get("host"),
  fetch: async (request) => {
    if (new URL(request.url).pathname !== "/login" || request.method !== "POST") {
      return new Response("Not found\n", { status: 404 });
    }
    const { user, ttl = 3600 } = await request.json().catch(() => ({}));
    if (typeof user !== "string" || !/^\w{1,32}$/.test(user)) {
      return new Response("Bad user\n", { status: 400 });
    }
    const expiresAt = Date.now() + Math.min(Math.max(Number(ttl) || 1, 1), 86_400) * 1000;
    const token = await sign(user, expiresAt);
    const cookie = `session=${token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${
      Math.ceil((expiresAt - Date.now()) / 1000)
    }`;
    return Response.json({ token, expiresAt }, { headers: { "set-cookie": cookie } });
  },
  upgrade: async (request) => {
    const session = await verify(credentialOf(request));
    if (session === undefined) {
      return new Response("Cannot upgrade: sign in first\n", {
        status: 401,
        headers: { "www-authenticate": "Bearer" },
      });
    }
    if (BANNED.has(session.user)) return new Response("Cannot upgrade: forbidden\n", { status: 403 });
    // expiresAt: closed with 4401 "token expired" then; a reconnecting client comes back with a fresh token.
    return { user: session.user, data: { user: session.user }, expiresAt: session.expiresAt };
  },
  websocket: {
    open: (ws) => void ws.send(`hello ${ws.data.user}`),
    message: (ws, data) => void ws.send(data).catch(() => {}),
  },
});
console.log(`Auth example listening on ${server.url}`);
