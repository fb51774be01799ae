// `ws` client with permessage-deflate, for ws-permessage-deflate.
//
// Usage: node ws_deflate_client.js URL
//
// Sends small messages, several of them repeated: with context takeover the
// second "Hello" deflates to a back-reference (RFC 7692 §7.2.3.2's
// f2 00 11 00 00 example). Then one compressed message split over three
// frames: ws.send(chunk, { fin: false }) starts/continues a message and the
// last chunk has fin: true; only the first frame carries RSV1.
'use strict';
const WebSocket = require('ws');

const url = process.argv[2];
const log = (...a) => console.log('[client]', ...a);

const ws = new WebSocket(url, { perMessageDeflate: { threshold: 0 } });
const replies = [];
let waiting = null;
ws.on('message', (data) => {
  replies.push(data.toString());
  if (waiting) waiting();
});
const nextReply = () => new Promise((resolve) => {
  if (replies.length) return resolve(replies.shift());
  waiting = () => { waiting = null; resolve(replies.shift()); };
});

ws.on('open', async () => {
  log('negotiated extensions:', ws.extensions);
  const messages = [
    'Hello', 'Hello', 'Hello',
    '{"type":"chat","text":"the same JSON again"}',
    '{"type":"chat","text":"the same JSON again"}',
    'a completely different sentence, compressed from scratch?',
  ];
  for (const m of messages) {
    ws.send(m);
    log('echo', await nextReply());
  }
  // One message, three frames: text(FIN=0, RSV1=1), continuation, continuation(FIN=1).
  ws.send('fragmented and ', { fin: false });
  ws.send('compressed, ', { fin: false });
  ws.send('all in one message', { fin: true });
  log('echo of fragmented message', await nextReply());
  ws.close(1000, 'bye');
});
ws.on('close', (code, reason) => log('closed', code, reason.toString()));
ws.on('error', (err) => { console.error(err); process.exit(1); });
