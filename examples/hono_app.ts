/**
 * A Hono app with WebSockets by this library: Hono routes every HTTP request (`fetch: app.fetch`) and also
 * decides upgrades, so its routing and middleware (here `bearerAuth`, path parameters) apply to the
 * WebSocket route as to any other: the `upgrade` hook asks the app, refuses with its response (401, 404)
 * or accepts with what the route returned. This library then carries the socket, with permessage-deflate,
 * on Deno, Bun and Node alike (Hono's own `upgradeWebSocket` uses each runtime's WebSocket instead).
 *
 *   GET  /ws/:room        WebSocket (Authorization: Bearer <token>): messages go to the room's other members
 *   GET  /api/rooms/:room how many are listening
 *   POST /api/rooms/:room (Authorization: Bearer <token>) the body goes to the room's members
 *
 *   deno run --allow-net --allow-env examples/hono_app.ts [--port 8080]
 *   bun examples/hono_app.ts [--port 8080]
 *
 * @module
 */

import process from "node:process";
import { Hono } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { serve } from "../lib/adapters/serve.ts";

const portIndex = process.argv.indexOf("--port");
const port = portIndex === -1 ? 8080 : Number(process.argv[portIndex + 1]);
const TOKEN = process.env.API_TOKEN ?? "let-me-in"; // a real app checks a per-user credential
const auth = bearerAuth({ token: TOKEN });

const app = new Hono();
app.get("/", (c) => c.text("Hono with wsengine: connect to /ws/<room>\n"));
app.get(
  "/api/rooms/:room",
  (c) =>
    c.json({ room: c.req.param("room"), listeners: server.subscriberCount(`room:${c.req.param("room")}`) }),
);
app.post("/api/rooms/:room", auth, async (c) => {
  const delivered = server.publish(`room:${c.req.param("room")}`, await c.req.text());
  return c.json({ delivered });
});
// The WebSocket route: what it returns for an upgrade request is what the socket carries (its `data`).
app.get("/ws/:room", auth, (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") return c.text("Upgrade Required\n", 426);
  return c.json({ room: c.req.param("room") });
});

const server = await serve<{ room: string }>({
  port,
  fetch: app.fetch,
  upgrade: async (request) => {
    const response = await app.fetch(request);
    return response.status === 200 ? { data: await response.json() } : response;
  },
  websocket: {
    open: (ws) => ws.subscribe(`room:${ws.data.room}`),
    message: (ws, data) => ws.publish(`room:${ws.data.room}`, data),
  },
});
console.log(`Hono app listening on ${server.url}`);
