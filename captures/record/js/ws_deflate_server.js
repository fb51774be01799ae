// `ws` echo server with permessage-deflate, for ws-permessage-deflate.
//
// Usage: node ws_deflate_server.js PORT
//
// threshold 0: compress every message, however small (default is 1024
// bytes, which would leave the short messages of this scenario plain).
// Context takeover stays on (the default), so the server's deflate window
// carries over between messages and a repeated message shrinks.
'use strict';
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2]);
const log = (...a) => console.log('[server]', ...a);

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  perMessageDeflate: { threshold: 0 },
});

wss.on('connection', (ws, req) => {
  log('connection; client offered:', req.headers['sec-websocket-extensions']);
  // ws reassembles (and inflates) fragmented messages; echo the whole message.
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('close', (code, reason) => log('close', code, reason.toString()));
});
wss.on('listening', () => log('listening on 127.0.0.1', port));
