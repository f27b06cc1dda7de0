/**
 * Chat rooms over topics: every connection has a name (`?name=ana`), joins and leaves rooms, and what it
 * says in a room goes to everyone in it (the room is a topic: `ws.subscribe`, `server.publish`).
 *
 * Messages are JSON, both ways:
 *   -> {"type":"join","room":"lobby"}  {"type":"leave","room":"lobby"}  {"type":"say","room":"lobby","text":"hi"}
 *   <- {"type":"welcome","name":"ana"}  {"type":"joined"|"left","room","name","members"}
 *      {"type":"message","room","name","text"}  {"type":"error","message"}
 *
 *   deno run --allow-net --allow-env examples/chat_rooms.ts [--port 8080]
 *   bun examples/chat_rooms.ts [--port 8080]
 *
 * @module
 */

import process from "node:process";
import { serve, type ServerSocket } from "../lib/adapters/serve.ts";

interface Member {
  name: string;
  rooms: Set<string>;
}

const portIndex = process.argv.indexOf("--port");
const port = portIndex === -1 ? 8080 : Number(process.argv[portIndex + 1]);
const ROOM_NAME = /^[\w-]{1,32}$/;

function leave(ws: ServerSocket<Member>, room: string): void {
  if (!ws.data.rooms.delete(room)) return;
  ws.unsubscribe(`room:${room}`);
  const members = server.subscriberCount(`room:${room}`);
  server.publish(`room:${room}`, JSON.stringify({ type: "left", room, name: ws.data.name, members }));
}

const server = await serve<Member>({
  port,
  upgrade: (request) => {
    const name = new URL(request.url).searchParams.get("name")?.trim() ?? "";
    if (!/^[\p{L}\p{N} _-]{1,32}$/u.test(name)) {
      return new Response("Cannot upgrade: ?name= must be 1 to 32 letters, digits, spaces, _ or -\n", {
        status: 400,
      });
    }
    return { data: { name, rooms: new Set<string>() } };
  },
  websocket: {
    open: (ws) => void ws.send(JSON.stringify({ type: "welcome", name: ws.data.name })),
    message: (ws, data) => {
      let request: { type?: unknown; room?: unknown; text?: unknown };
      try {
        request = JSON.parse(String(data));
      } catch {
        return ws.close(1007, "expected JSON");
      }
      const room = String(request.room);
      const reply = (message: object) => void ws.send(JSON.stringify(message)).catch(() => {});
      if (!ROOM_NAME.test(room)) return reply({ type: "error", message: `bad room name: ${room}` });
      const topic = `room:${room}`;
      if (request.type === "join") {
        if (!ws.subscribe(topic)) return reply({ type: "error", message: `already in ${room}` });
        ws.data.rooms.add(room);
        server.publish(
          topic,
          JSON.stringify({
            type: "joined",
            room,
            name: ws.data.name,
            members: server.subscriberCount(topic),
          }),
        );
      } else if (request.type === "leave") {
        if (!ws.data.rooms.has(room)) return reply({ type: "error", message: `not in ${room}` });
        leave(ws, room);
        reply({ type: "left", room, name: ws.data.name, members: server.subscriberCount(topic) });
      } else if (request.type === "say" && typeof request.text === "string") {
        if (!ws.isSubscribed(topic)) return reply({ type: "error", message: `join ${room} first` });
        server.publish(
          topic,
          JSON.stringify({ type: "message", room, name: ws.data.name, text: request.text.slice(0, 1000) }),
        );
      } else {
        reply({ type: "error", message: "unknown request" });
      }
    },
    // Everyone left in its rooms hears that it went.
    close: (ws) => {
      for (const room of [...ws.data.rooms]) leave(ws, room);
    },
  },
});
console.log(`Chat rooms listening on ${server.url}`);
