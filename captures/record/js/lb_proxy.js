// A TCP proxy in front of ending_server.js processes, for the ending-*
// captures that need one in between:
//
// Usage: node lb_proxy.js PORT round-robin BACKEND_PORT...
//        node lb_proxy.js PORT no-websocket BACKEND_PORT
//        node lb_proxy.js PORT close-upgraded BACKEND_PORT
//
// round-robin   each new TCP connection goes to the next backend, as a load
//               balancer without sticky sessions does
// no-websocket  a connection whose request asks for a WebSocket upgrade is
//               answered 400 and closed, as a proxy that does not pass
//               upgrades does; the others go to the backend
// close-upgraded  upgrades go through, but the proxy closes the connection
//               right after passing on the 101, as a proxy that does not
//               keep upgraded connections open does
'use strict';
const net = require('net');

const [port, mode, ...backends] = process.argv.slice(2);
const log = (...a) => console.log('[proxy]', ...a);
let next = 0;

const pipe = (client, backend, first) => {
  const upstream = net.connect(Number(backend), '127.0.0.1', () => {
    if (first) upstream.write(first);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
};

net.createServer((client) => {
  if (mode === 'round-robin') {
    const backend = backends[next++ % backends.length];
    log('connection to', backend);
    pipe(client, backend, null);
    return;
  }
  client.once('data', (first) => {
    const upgrade = /\r\nupgrade: *websocket/i.test(first.toString('latin1'));
    if (upgrade && mode === 'close-upgraded') {
      const upstream = net.connect(Number(backends[0]), '127.0.0.1', () => upstream.write(first));
      upstream.on('data', (d) => {
        client.write(d);
        if (d.toString('latin1').startsWith('HTTP/1.1 101')) {
          log('closing an upgraded connection after its 101');
          client.end();
          upstream.destroy();
        }
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      return;
    }
    if (upgrade) {
      log('refusing a WebSocket upgrade');
      client.end('HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 31\r\nConnection: close\r\n\r\nWebSocket upgrades not allowed\n');
      return;
    }
    pipe(client, backends[0], first);
  });
}).listen(Number(port), '127.0.0.1', () => log('listening on', port));
