// Node socket.io 4 server for the ending-* captures: sessions that end in
// each of the ways a "why did it disconnect?" question is about.
//
// Usage: node ending_server.js PORT [--polling-only] [--max-buffer BYTES]
//
// pingInterval and pingTimeout are 1 s (defaults 25 s and 20 s) so a ping
// timeout happens within seconds. --polling-only: transports ['polling'],
// so the open packet offers no upgrade. --max-buffer: maxHttpBufferSize.
//
// The client asks for the ending with an event:
//   block MS  the server's event loop is blocked (a synchronous loop) for MS
//   kick      the server calls socket.disconnect(true)
//   die       the server process kills itself with SIGKILL (no goodbye)
'use strict';
const http = require('http');
const { Server } = require('socket.io');

const port = Number(process.argv[2]);
const arg = (name) => process.argv.indexOf(name);
const log = (...a) => console.log('[server]', ...a);

const opts = { pingInterval: 1000, pingTimeout: 1000 };
if (arg('--polling-only') > 0) opts.transports = ['polling'];
if (arg('--max-buffer') > 0) opts.maxHttpBufferSize = Number(process.argv[arg('--max-buffer') + 1]);

const httpServer = http.createServer();
const io = new Server(httpServer, opts);

io.on('connection', (socket) => {
  log('connect /', socket.id, 'transport', socket.conn.transport.name);
  socket.conn.on('upgrade', (t) => log('upgraded', socket.id, t.name));
  socket.on('hello', (text, callback) => callback(`hello back: ${text}`));
  socket.on('block', (ms) => {
    log('blocking the event loop for', ms, 'ms');
    const until = Date.now() + ms;
    while (Date.now() < until) { /* a synchronous loop: no timers, no I/O */ }
    log('unblocked');
  });
  socket.on('kick', () => {
    log('disconnecting', socket.id);
    socket.disconnect(true);
  });
  socket.on('die', () => {
    log('dying');
    process.kill(process.pid, 'SIGKILL');
  });
  socket.on('big', (data) => log('big', data.length));
  socket.on('disconnect', (reason) => log('disconnect /', socket.id, reason));
});

httpServer.listen(port, '127.0.0.1', () => log('listening on', port));
