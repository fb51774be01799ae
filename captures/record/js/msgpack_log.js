// The official socket.io-msgpack-parser, with its Encoder watched: every
// packet a side encodes is logged as one line `SENT <json>` before the
// official encoder writes it, so a test can compare dispel's decode of the
// capture with what each side really sent. The bytes on the wire are the
// official encoder's own; nothing about the encoding changes.
//
// Buffers are logged as {"$bin": "<hex>"}, the form dispel shows
// MessagePack bin values in.
'use strict';
const parser = require('socket.io-msgpack-parser');

function toLoggable(key, value) {
  if (value && value.type === 'Buffer' && Array.isArray(value.data)) {
    return { $bin: Buffer.from(value.data).toString('hex') };
  }
  return value;
}

module.exports = function watchedParser(side) {
  class Encoder extends parser.Encoder {
    encode(packet) {
      // (The packet as encoded: keys whose value is undefined are left out
      // by the encoder, and by JSON.stringify alike.)
      console.log('SENT', JSON.stringify({ from: side, packet }, toLoggable));
      return super.encode(packet);
    }
  }
  return { ...parser, Encoder };
};
