// Node socket.io 4 server with the official socket.io-msgpack-parser, for
// the node-socketio-msgpack capture. Every Socket.IO packet is then one
// MessagePack map {type, data, nsp, id} in a binary Engine.IO message.
//
// Usage: node sio_msgpack_server.js PORT
'use strict';
const http = require('http');
const { Server } = require('socket.io');
const watchedParser = require('./msgpack_log');

const port = Number(process.argv[2]);
const log = (...a) => console.log('[server]', ...a);

const httpServer = http.createServer();
const io = new Server(httpServer, {
  parser: watchedParser('server'),
  pingInterval: 1000,
  pingTimeout: 5000,
});

io.on('connection', (socket) => {
  log('connect /', socket.id, 'auth', JSON.stringify(socket.handshake.auth));

  // Plain data both ways: a string in, an object with every JSON kind out.
  socket.on('chat', (text) => {
    log('chat', text);
    socket.emit('chat', { from: 'server', echo: text, n: 42, pi: 3.25, list: [1, -2, true, null] });
  });

  // An ack: the callback's value goes back in an ACK packet with the id.
  socket.on('ack-me', (data, callback) => {
    log('ack-me', data);
    callback({ ok: true, doubled: data.n * 2 });
  });

  // Binary: a Buffer is a MessagePack bin value inside the same packet (no
  // attachments, no placeholders); the ack answers with a Buffer too.
  socket.on('upload', (blob, callback) => {
    log('upload', blob.length, 'bytes');
    callback(Buffer.from([0xde, 0xad, 0xbe, 0xef, blob.length & 0xff]));
  });

  socket.on('disconnect', (reason) => log('disconnect /', socket.id, reason));
});

httpServer.listen(port, '127.0.0.1', () => log('listening on 127.0.0.1', port));
