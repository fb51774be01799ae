// Node socket.io 4 server for the node-socketio-v4 and node-socketio-eio3
// captures.
//
// Usage: node sio_server.js PORT [--allow-eio3] [--tls CERT KEY]
//
// --allow-eio3 lets socket.io-client 2.x (Engine.IO 3 / Socket.IO protocol 4)
// connect to this v4 server; without it such a handshake is refused.
// pingInterval is 1 s (default 25 s) so a short run shows heartbeats.
'use strict';
const http = require('http');
const { Server } = require('socket.io');

const port = Number(process.argv[2]);
const allowEIO3 = process.argv.includes('--allow-eio3');
const log = (...a) => console.log('[server]', ...a);

// --tls CERT KEY: HTTPS (node-socketio-https), a throwaway certificate.
const tlsAt = process.argv.indexOf('--tls');
const httpServer = tlsAt > 0
  ? require('https').createServer({
    cert: require('fs').readFileSync(process.argv[tlsAt + 1]),
    key: require('fs').readFileSync(process.argv[tlsAt + 2]),
  })
  : http.createServer();
const io = new Server(httpServer, { allowEIO3, pingInterval: 1000, pingTimeout: 5000 });

io.on('connection', (socket) => {
  log('connect /', socket.id, 'protocol', socket.conn.protocol);

  socket.on('chat', (text) => {
    log('chat', text);
    socket.emit('chat', { from: 'server', echo: text });
  });

  // Client->server ack: calling the callback sends ACK "43<id>[...]".
  socket.on('ack-me', (data, callback) => {
    log('ack-me', data);
    callback({ ok: true, doubled: data.n * 2 });
  });

  // Server->client ack: the server emits with a callback, the client answers.
  socket.on('ask-me', () => {
    socket.emit('server-ask', 'what is 6 x 7?', (answer) => {
      log('client answered', answer);
      socket.emit('ask-done', answer);
    });
  });

  // A Buffer in the event -> BINARY_EVENT; a Buffer in the ack -> BINARY_ACK
  // ("6<n>-<id>[...placeholder...]" followed by the attachment).
  socket.on('upload', (blob, callback) => {
    log('upload', blob.length, 'bytes');
    if (typeof callback === 'function') {
      callback(Buffer.from([0xde, 0xad, 0xbe, 0xef, blob.length & 0xff]));
    } else {
      socket.emit('upload-echo', blob);
    }
  });

  socket.on('disconnect', (reason) => log('disconnect /', socket.id, reason));
});

// A custom namespace multiplexed over the same Engine.IO connection: its
// packets carry "/admin," after the type (and attachment count) digits.
io.of('/admin').on('connection', (socket) => {
  log('connect /admin', socket.id);
  socket.on('stats', (callback) => callback({ clients: io.engine.clientsCount }));
  socket.on('disconnect', (reason) => log('disconnect /admin', socket.id, reason));
});

httpServer.listen(port, '127.0.0.1', () => log('listening on 127.0.0.1', port, 'allowEIO3', allowEIO3));
