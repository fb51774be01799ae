// Many small Socket.IO events for the benchmark capture: a real socket.io
// server and real socket.io-client sockets (WebSocket transport) in one
// process, over loopback.
//
// Usage: node sio_events.js PORT EVENTS [CLIENTS]
//
// Each client emits small "chat" events; every fourth asks for an ack, and
// the server broadcasts each event back to its sender, so both directions
// carry many tiny frames, the per-packet worst case for a dissector.
'use strict';
const http = require('http');
const { Server } = require('socket.io');
const { io } = require('socket.io-client');

const port = Number(process.argv[2]);
const total = Number(process.argv[3]);
const clients = Number(process.argv[4] || 4);

const httpServer = http.createServer();
const server = new Server(httpServer, { transports: ['websocket'] });
server.on('connection', (socket) => {
  socket.on('chat', (msg, ack) => {
    socket.emit('chat', msg);
    if (typeof ack === 'function') ack({ ok: true, n: msg.n });
  });
});

function run(id, count) {
  return new Promise((resolve) => {
    const s = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], forceNew: true });
    let got = 0;
    let n = 0;
    // A small window of events in flight: fast, but never an unbounded queue.
    const pump = () => {
      while (n < count && n - got < 32) {
        const msg = { n, from: id, text: `hello ${n}` };
        if (n % 4 === 0) s.emit('chat', msg, () => {});
        else s.emit('chat', msg);
        n++;
      }
    };
    s.on('connect', pump);
    s.on('chat', () => {
      got++;
      if (got === count) { s.disconnect(); resolve(); } else pump();
    });
  });
}

httpServer.listen(port, '127.0.0.1', async () => {
  const each = Math.ceil(total / clients);
  await Promise.all(Array.from({ length: clients }, (_, id) => run(id, each)));
  server.close();
  console.log(`[sio_events] ${clients} clients, ${each * clients} events`);
});
