// The chat page: the door (a name, kept in a signed cookie by the server), then one reconnecting
// WebSocket to /chat?room=... over the browser's own WebSocket (which negotiates permessage-deflate
// itself), driven by lib/client/reconnecting_websocket.ts (bundled as /reconnecting_websocket.js).
import { ReconnectingWebSocket } from "/reconnecting_websocket.js";

const $ = (id) => document.getElementById(id);
const ROOMS = ["lobby", "random", "dev"];
const params = new URLSearchParams(location.search);

const demo = {
  name: undefined,
  room: params.get("room") ?? "lobby",
  socket: undefined,
  /** Ids of the messages shown, so that a replay after a reconnect shows each once. */
  seen: new Set(),
  /** Every message shown, in order: { id, from, text, missed }. */
  messages: [],
  /** Every stats message received: the chart's points. */
  stats: [],
  /** Every message received, as parsed (for tests and curiosity), and its size in bytes as it came. */
  received: [],
  receivedBytes: [],
  /** The position (epoch, offset) of the last message of the room seen: where a reconnect resumes. */
  position: undefined,
  members: [],
  state: "connecting",
  /** After a reconnect, until the server says that what was missed has been sent. */
  catchingUp: false,
  /** Between leaving a room and joining the next. */
  switching: false,
  shownBeforeDrop: 0,
  /** How many missed messages each reconnect brought. */
  missed: [],
};
globalThis.demo = demo;

// ----------------------------------------------------------------------------------------------------------
// The door

async function whoAmI() {
  const response = await fetch("/api/me", { cache: "no-store" });
  return response.ok ? (await response.json()).name : undefined;
}

function showDoor(message) {
  $("chat").hidden = true;
  $("who").hidden = true;
  $("door").hidden = false;
  $("door-error").hidden = message === undefined;
  $("door-error").textContent = message ?? "";
  $("name").focus();
}

$("door-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await fetch("/api/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: $("name").value }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) return showDoor(body.error ?? `refused (${response.status})`);
  enter(body.name);
});

// ----------------------------------------------------------------------------------------------------------
// The chat

function chatUrl() {
  const url = new URL("/chat", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("room", demo.room);
  // Called on every attempt: a reconnect asks for what came after the last message seen.
  if (demo.position !== undefined) {
    url.searchParams.set("since", `${demo.position.epoch}:${demo.position.offset}`);
  }
  return url.href;
}

function enter(name) {
  demo.name = name;
  $("door").hidden = true;
  $("chat").hidden = false;
  $("who").hidden = false;
  $("who").textContent = `You are ${name}`;
  renderRooms();
  const socket = new ReconnectingWebSocket(chatUrl, undefined, {
    WebSocket,
    // A dropped connection is retried within 3 s (a random point in [0, 3 s), so that every page of a
    // restarted server does not come back at once), then with backoff up to 10 s.
    firstDelay: 3000,
    minDelay: 1000,
    maxDelay: 10_000,
  });
  demo.socket = socket;
  socket.addEventListener("open", (event) => {
    setState("open");
    if (demo.switching) {
      demo.switching = false;
      banner();
    } else if (event.reconnected) {
      demo.catchingUp = true;
      banner(`Reconnected (attempt ${event.attempt}), catching up…`, "ok");
    } else banner();
  });
  socket.addEventListener("close", async (event) => {
    if (!event.willReconnect) {
      setState("closed");
      banner(`Connection closed (${event.code}${event.reason ? ` ${event.reason}` : ""}).`);
      return;
    }
    if (demo.switching) return setState("connecting");
    if (demo.state === "open") demo.shownBeforeDrop = demo.messages.length;
    setState("reconnecting");
    countdown(event.delay);
    // A refused handshake looks like any lost connection to a page: ask whether the name is still good.
    if (await whoAmI().catch(() => "unknown") === undefined) {
      socket.close();
      showDoor("Your name cookie is no longer valid: choose a name again.");
    }
  });
  socket.addEventListener("message", (event) => {
    demo.receivedBytes.push(new TextEncoder().encode(event.data).length);
    receive(JSON.parse(event.data));
  });
}

function setState(state) {
  demo.state = state;
  $("state").textContent = state;
  $("state").className = state;
}

let countdownTimer;
function countdown(delay) {
  clearInterval(countdownTimer);
  if (delay === undefined) {
    banner(navigator.onLine ? "Connection lost, reconnecting…" : "Connection lost, waiting for the network…");
    return;
  }
  const until = Date.now() + delay;
  const tick = () => {
    const left = Math.max(0, until - Date.now());
    banner(`Connection lost, reconnecting in ${Math.ceil(left / 1000)} s`);
    if (left === 0) clearInterval(countdownTimer);
  };
  tick();
  countdownTimer = setInterval(tick, 250);
}

let bannerTimer;
function banner(text, kind = "", hideAfter) {
  clearTimeout(bannerTimer);
  if (text === undefined) {
    clearInterval(countdownTimer);
    $("banner").hidden = true;
    return;
  }
  if (kind === "ok") clearInterval(countdownTimer);
  $("banner").hidden = false;
  $("banner").className = kind;
  $("banner").textContent = text;
  if (hideAfter !== undefined) bannerTimer = setTimeout(() => ($("banner").hidden = true), hideAfter);
}

function receive(message) {
  demo.received.push(message);
  switch (message.type) {
    case "welcome":
      // The figures are this connection's: a new one starts the chart again.
      demo.stats = [];
      $("worker").textContent = `${message.worker}`;
      $("extension").textContent = message.extensions || "none";
      break;
    case "message":
      show(message);
      break;
    case "presence":
      demo.members = message.members;
      renderMembers();
      break;
    case "stats":
      demo.stats.push(message);
      if (demo.stats.length > 300) demo.stats.shift();
      renderFigures(message);
      break;
    case "recovered": // a reconnect from a position: what was missed came just before this
    case "joined": // a join without one: the room's history came just before this
      if (demo.catchingUp) back(message);
      break;
    case "error":
      notice(`Server: ${message.error}`);
      break;
  }
}

/** After a reconnect, once the server has sent what the page missed: say how much, and go on live. */
function back(message) {
  demo.catchingUp = false;
  const missed = demo.messages.length - demo.shownBeforeDrop;
  demo.missed.push(missed);
  const how = message.type === "recovered" && message.recovered
    ? "recovered from where you were"
    : `the room's history reloaded${message.reason ? ` (${message.reason})` : ""}`;
  notice(`Back: ${missed} message${missed === 1 ? "" : "s"} sent while you were away, marked (${how})`);
  banner(`Reconnected: ${missed} missed message${missed === 1 ? "" : "s"} shown.`, "ok", 6000);
}

function show(message) {
  if (message.room !== demo.room) return;
  if (message.position !== undefined) demo.position = message.position;
  if (demo.seen.has(message.id)) return;
  demo.seen.add(message.id);
  // New to this page between a reconnect and the server's "recovered"/"joined": sent while it was away.
  const missed = demo.catchingUp;
  demo.messages.push({ id: message.id, from: message.from, text: message.text, missed });
  const item = document.createElement("li");
  if (missed) item.className = "missed";
  const from = document.createElement("span");
  from.className = "from";
  from.textContent = message.from;
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = new Date(message.at).toLocaleTimeString();
  item.append(from, message.text, time);
  $("messages").append(item);
  $("messages").scrollTop = $("messages").scrollHeight;
}

function notice(text) {
  const item = document.createElement("li");
  item.className = "notice";
  item.textContent = text;
  $("messages").append(item);
}

function renderMembers() {
  const list = $("members");
  list.replaceChildren(...demo.members.map((member) => {
    const item = document.createElement("li");
    item.textContent = member.id + (member.connections > 1 ? ` (${member.connections} tabs)` : "");
    return item;
  }));
  $("member-count").textContent = `(${demo.members.length})`;
}

function renderRooms() {
  const rooms = ROOMS.includes(demo.room) ? ROOMS : [...ROOMS, demo.room];
  $("room-list").replaceChildren(...rooms.map((room) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.textContent = `# ${room}`;
    if (room === demo.room) button.className = "current";
    button.addEventListener("click", () => switchRoom(room));
    item.append(button);
    return item;
  }));
}

function switchRoom(room) {
  if (room === demo.room) return;
  demo.room = room;
  demo.seen.clear();
  demo.messages = [];
  demo.position = undefined;
  demo.members = [];
  $("messages").replaceChildren();
  demo.shownBeforeDrop = 0;
  renderRooms();
  history.replaceState(null, "", `?room=${encodeURIComponent(room)}`);
  demo.switching = true;
  demo.socket.reconnect(1000, "changing rooms");
}

$("room-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const room = $("room-name").value.trim().toLowerCase();
  if (/^[a-z0-9][a-z0-9-]{0,31}$/.test(room)) switchRoom(room);
  $("room-name").value = "";
});

$("say-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value;
  if (text.trim() === "") return;
  // Sent at once when open, or queued by the reconnecting client (bounded) until it is.
  demo.socket.send(JSON.stringify({ type: "say", text }));
  $("text").value = "";
});

// ----------------------------------------------------------------------------------------------------------
// The figures

const kib = (bytes) =>
  bytes < 1024
    ? `${bytes} B`
    : bytes < 1024 * 1024
    ? `${(bytes / 1024).toFixed(1)} KiB`
    : `${(bytes / 1048576).toFixed(2)} MiB`;

function renderFigures(stats) {
  $("worker").textContent = stats.worker;
  $("extension").textContent = stats.extensions || "none";
  $("rtt").textContent = stats.rtt === null ? "waiting for a heartbeat" : `${stats.rtt.toFixed(1)} ms`;
  $("out").textContent = `${stats.messagesOut} messages: ${kib(stats.payloadOut)} payload, ${
    kib(stats.wireOut)
  } on the wire`;
  $("in").textContent = `${stats.messagesIn} messages: ${kib(stats.payloadIn)} payload, ${
    kib(stats.wireIn)
  } on the wire`;
  $("ratio").textContent = stats.payloadOut === 0
    ? "–"
    : `${(stats.wireOut / stats.payloadOut * 100).toFixed(0)}% of the payload went on the wire (${
      (stats.payloadOut / stats.wireOut).toFixed(2)
    }:1)`;
  drawChart();
}

function drawChart() {
  const canvas = $("chart");
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  const points = demo.stats.slice(-60);
  if (points.length < 2) return;
  const max = Math.max(1, ...points.map((p) => Math.max(p.payloadOut, p.wireOut)));
  const pad = 8;
  const x = (i) => pad + (i / (points.length - 1)) * (width - 2 * pad);
  const y = (v) => height - pad - (v / max) * (height - 2 * pad);
  context.strokeStyle = "#e1e5eb";
  context.beginPath();
  context.moveTo(pad, height - pad);
  context.lineTo(width - pad, height - pad);
  context.stroke();
  const style = getComputedStyle(document.documentElement);
  for (
    const [key, color] of [["payloadOut", style.getPropertyValue("--accent")], [
      "wireOut",
      style.getPropertyValue("--wire"),
    ]]
  ) {
    context.strokeStyle = color.trim();
    context.lineWidth = 2;
    context.beginPath();
    points.forEach((p, i) => (i === 0 ? context.moveTo(x(i), y(p[key])) : context.lineTo(x(i), y(p[key]))));
    context.stroke();
  }
  // The compression ratio over time (wire / payload, 0 to 100 %), dashed, on the right-hand scale.
  context.strokeStyle = style.getPropertyValue("--ok").trim();
  context.setLineDash([4, 3]);
  context.lineWidth = 1.5;
  context.beginPath();
  const ratioY = (p) =>
    height - pad - Math.min(1, p.payloadOut === 0 ? 1 : p.wireOut / p.payloadOut) * (height - 2 * pad);
  points.forEach((p, i) => (i === 0 ? context.moveTo(x(i), ratioY(p)) : context.lineTo(x(i), ratioY(p))));
  context.stroke();
  context.setLineDash([]);
  context.fillStyle = "#6b7585";
  context.font = "11px system-ui, sans-serif";
  context.fillText(kib(max), pad + 2, pad + 10);
  context.textAlign = "right";
  context.fillText("100%", width - pad - 2, pad + 10);
  context.textAlign = "left";
}

// ----------------------------------------------------------------------------------------------------------

const name = await whoAmI().catch(() => undefined);
if (name === undefined) showDoor();
else enter(name);
