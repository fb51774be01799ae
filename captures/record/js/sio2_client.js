// socket.io-client 2.x scenario for node-socketio-eio3: an Engine.IO 3 /
// Socket.IO protocol 4 client talking to a socket.io 4 server that has
// allowEIO3 enabled.
//
// Usage: node sio2_client.js URL
//
// Differences a student should see on the wire versus EIO 4: polling
// payloads framed as "<len>:<packet>", the server sending "40" by itself
// (no client CONNECT needed for "/"), and the CLIENT sending the pings.
'use strict';
const io = require('socket.io-client-v2'); // npm alias of socket.io-client@2.5.0

const url = process.argv[2];
const log = (...a) => console.log('[client]', ...a);
const once = (emitter, ev) => new Promise((resolve) => emitter.once(ev, resolve));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const socket = io(url);
  await once(socket, 'connect');
  const engine = socket.io.engine;
  if (engine.transport.name !== 'websocket') await once(engine, 'upgrade');
  log('connected', socket.id, 'transport', engine.transport.name);

  socket.emit('chat', 'hello from socket.io-client 2');
  log('chat reply', await once(socket, 'chat'));

  // 2.x has no emitWithAck: the callback style is the only one.
  const ack = await new Promise((resolve) => socket.emit('ack-me', { n: 21 }, resolve));
  log('ack', ack);

  // Binary event without an ack: the server echoes it as a binary event.
  socket.emit('upload', Buffer.from([0x00, 0x01, 0x02, 0xfe, 0xff]));
  log('upload-echo', await once(socket, 'upload-echo'));

  await sleep(1500);                      // client-initiated heartbeat (EIO 3)
  socket.close();
  log('disconnected');
}

main().catch((err) => { console.error(err); process.exit(1); });
