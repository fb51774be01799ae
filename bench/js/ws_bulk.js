// Bulk WebSocket traffic for the benchmark capture: a real `ws` server and
// real `ws` clients in one process, talking over loopback.
//
// Usage: node ws_bulk.js PORT MEGABYTES [CONNECTIONS]
//
// Each client sends a repeating mix of message sizes (text and binary, from
// 20 bytes to 70 KB, so every length form — 7-bit, 16-bit, 64-bit — occurs)
// and the server echoes each one, until the bytes sent reach MEGABYTES in
// all (both directions counted). One message in flight per connection keeps
// the traffic paced by real round trips, as an application's would be.
'use strict';
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2]);
const budget = Number(process.argv[3]) * 1e6;
const conns = Number(process.argv[4] || 4);
const sizes = [20, 120, 1000, 4000, 16000, 70000, 300, 65536, 125, 126];

const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary })));

let sent = 0;
function client(id) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/bulk/${id}`, { perMessageDeflate: false });
    let i = 0;
    const next = () => {
      if (sent >= budget) return ws.close(1000, 'done');
      const n = sizes[(i + id) % sizes.length];
      const binary = i % 3 === 0;
      const body = binary ? Buffer.alloc(n, i & 0xff) : 'x'.repeat(n - 1) + String(i % 10);
      sent += 2 * n;
      i++;
      ws.send(body, { binary });
    };
    ws.on('open', next);
    ws.on('message', next);
    ws.on('close', resolve);
  });
}

wss.on('listening', async () => {
  await Promise.all(Array.from({ length: conns }, (_, id) => client(id)));
  wss.close();
  console.log(`[ws_bulk] ${conns} connections, ${(sent / 1e6).toFixed(1)} MB of messages`);
});
