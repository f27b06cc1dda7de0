// Deno.serve's own WebSocket (no compression exists there): fan-out server for bench/fanout_bench.ts.
// Args: PORT. Prints its URL. A message goes to every other open socket, a loop over a Set.
const sockets = new Set<WebSocket>();
Deno.serve({
  port: Number(Deno.args[0]),
  hostname: "127.0.0.1",
  onListen: ({ port }) => console.log(`ws://127.0.0.1:${port}/`),
}, (request) => {
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.onopen = () => sockets.add(socket);
  socket.onclose = () => sockets.delete(socket);
  socket.onmessage = (event) => {
    for (const other of sockets) {
      if (other !== socket && other.readyState === WebSocket.OPEN) other.send(event.data);
    }
  };
  return response;
});
