// socket.io-client 4 scenarios for the ending-* captures.
//
// Usage: node ending_client.js URL MODE [--polling]
//
// Every mode says hello (an event with an ack), then ends the session one
// way, and logs the reason socket.io-client gives in its "disconnect" event:
//   client-silent   the client's event loop is blocked for 3.5 s (no pong)
//   server-silent   asks the server to block for 3.5 s (no ping), then
//                   lets socket.io-client reconnect and disconnects cleanly
//   server-kick     asks the server to disconnect it
//   server-killed   asks the server process to die
//   restart         as server-killed, but record.sh restarts the server and
//                   the client reconnects
//   too-large       sends an event larger than the server's maxHttpBufferSize
//   disconnect      waits a heartbeat, then socket.disconnect()
//   lb              gives up after three failed sessions (behind a load
//                   balancer without sticky sessions each one fails: its
//                   handshake reaches one server, its next request another)
// --polling: transports ['polling'] (the client never tries a WebSocket).
'use strict';
const { io } = require('socket.io-client');

const [url, mode] = process.argv.slice(2);
const polling = process.argv.includes('--polling');
const log = (...a) => console.log('[client]', ...a);
const once = (emitter, ev) => new Promise((resolve) => emitter.once(ev, resolve));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const reconnect = mode === 'server-silent' || mode === 'restart' || mode === 'lb';
  const socket = io(url, {
    transports: polling ? ['polling'] : ['polling', 'websocket'],
    reconnection: reconnect,
    reconnectionDelay: 1000,
    randomizationFactor: 0,
  });
  socket.on('disconnect', (reason) => log('disconnect:', reason));
  socket.io.on('reconnect_attempt', (n) => log('reconnect attempt', n));
  socket.on('connect_error', (err) => log('connect_error:', err.message));
  if (mode === 'lb') {
    let failed = 0;
    await new Promise((resolve) => socket.on('connect_error', () => { if (++failed === 3) resolve(); }));
    socket.close();
    log('gave up after', failed, 'failed sessions');
    await sleep(300);
    process.exit(0);
  }
  await once(socket, 'connect');
  const engine = socket.io.engine;
  const upgrades = engine.upgrades || [];
  if (!polling && engine.transport.name !== 'websocket' && upgrades.length > 0) {
    await once(engine, 'upgrade');
  }
  log('connected', socket.id, 'transport', engine.transport.name, 'upgrades', upgrades);
  log(await socket.timeout(5000).emitWithAck('hello', mode));

  switch (mode) {
    case 'client-silent': {
      const until = Date.now() + 3500;
      while (Date.now() < until) { /* blocked: pings stay unanswered */ }
      await sleep(500);
      break;
    }
    case 'server-silent':
      socket.emit('block', 3500);
      await once(socket, 'disconnect');
      await once(socket, 'connect');
      log('reconnected', socket.id);
      await sleep(1500);
      socket.disconnect();
      break;
    case 'server-kick':
      socket.emit('kick');
      await once(socket, 'disconnect');
      break;
    case 'server-killed':
      socket.emit('die');
      await once(socket, 'disconnect');
      break;
    case 'restart':
      socket.emit('die');
      await once(socket, 'disconnect');
      await once(socket, 'connect');
      log('reconnected', socket.id);
      await sleep(1500);
      socket.disconnect();
      break;
    case 'too-large':
      socket.emit('big', 'x'.repeat(3000));
      await once(socket, 'disconnect');
      break;
    case 'disconnect':
      await sleep(1500);
      socket.disconnect();
      break;
    default:
      throw new Error(`unknown mode ${mode}`);
  }
  await sleep(300);
  log('done');
  process.exit(0);
}

main().catch((err) => { console.error(err); process.exit(1); });
