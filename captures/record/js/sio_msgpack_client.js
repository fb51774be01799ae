// socket.io-client 4 with the official socket.io-msgpack-parser, for the
// node-socketio-msgpack capture: CONNECT with auth data, plain events both
// ways, an ack, a binary upload answered by a binary ack, disconnect.
//
// Usage: node sio_msgpack_client.js URL
'use strict';
const { io } = require('socket.io-client');
const watchedParser = require('./msgpack_log');

const url = process.argv[2];
const log = (...a) => console.log('[client]', ...a);
const once = (emitter, ev) => new Promise((resolve) => emitter.once(ev, resolve));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const socket = io(url, { parser: watchedParser('client'), auth: { token: 'msgpack-demo' } });
  await once(socket, 'connect');
  // The CONNECT went by long-polling (base64, "b…"); wait for the upgrade so
  // the events below travel as binary WebSocket messages.
  const engine = socket.io.engine;
  if (engine.transport.name !== 'websocket') await once(engine, 'upgrade');
  log('connected', socket.id, 'transport', engine.transport.name);

  socket.emit('chat', 'hello msgpack');
  log('chat reply', JSON.stringify(await once(socket, 'chat')));

  log('ack', JSON.stringify(await socket.timeout(5000).emitWithAck('ack-me', { n: 21 })));

  const reply = await socket.timeout(5000).emitWithAck('upload', Buffer.from('binary via msgpack \x00\x01\x02'));
  log('binary ack', reply.toString('hex'));

  await sleep(1500);                      // at least one heartbeat (pingInterval 1 s)
  socket.disconnect();
  log('disconnected');
}

main().catch((err) => { console.error(err); process.exit(1); });
