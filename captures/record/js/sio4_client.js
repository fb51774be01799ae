// socket.io-client 4 scenario for node-socketio-v4.
//
// Usage: node sio4_client.js URL
//
// Two namespaces over one Engine.IO connection (the Manager multiplexes
// them), acks in both directions, a binary event and a binary ack.
'use strict';
const { io } = require('socket.io-client');

const url = process.argv[2];
const log = (...a) => console.log('[client]', ...a);
const once = (emitter, ev) => new Promise((resolve) => emitter.once(ev, resolve));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const socket = io(url);                 // namespace "/"
  const admin = io(url + '/admin');       // same Manager, same connection

  socket.on('server-ask', (question, callback) => {
    log('server asked', question);
    callback(42);                         // ack back to the server
  });

  await Promise.all([once(socket, 'connect'), once(admin, 'connect')]);
  // Upgrade from long-polling to WebSocket happens in the background; wait
  // for it so every event below travels on the WebSocket.
  const engine = socket.io.engine;
  if (engine.transport.name !== 'websocket') await once(engine, 'upgrade');
  log('connected', socket.id, admin.id, 'transport', engine.transport.name);

  socket.emit('chat', 'hello from node');
  log('chat reply', await once(socket, 'chat'));

  log('ack', await socket.timeout(5000).emitWithAck('ack-me', { n: 21 }));

  socket.emit('ask-me');
  log('ask-done', await once(socket, 'ask-done'));

  const reply = await socket.timeout(5000).emitWithAck('upload', Buffer.from('binary from node \x00\x01\x02'));
  log('binary ack', reply);

  log('admin stats', await admin.timeout(5000).emitWithAck('stats'));

  await sleep(1500);                      // at least one heartbeat (pingInterval 1 s)
  admin.disconnect();
  socket.disconnect();                    // last namespace gone -> Manager closes the connection
  log('disconnected');
}

main().catch((err) => { console.error(err); process.exit(1); });
