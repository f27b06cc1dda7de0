// Deno.serve's own WebSocket (no compression exists there): echo server for bench/echo_bench.ts.
// Args: PORT. Prints its URL.
Deno.serve({
  port: Number(Deno.args[0]),
  hostname: "127.0.0.1",
  onListen: ({ port }) => console.log(`ws://127.0.0.1:${port}/`),
}, (request) => {
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.onmessage = (event) => socket.send(event.data);
  return response;
});
