//! Pure protocol parsers. They take bytes and return typed values; they know
//! nothing of steps, lessons or screens.
//!
//! - [`http`]: HTTP/1.1 heads, body framing, chunked coding, content coding;
//! - [`ws`]: RFC 6455 (handshake, frames, masking, Close, assembly) and
//!   RFC 7692 permessage-deflate;
//! - [`engineio`]: Engine.IO v3 and v4 packets over polling and WebSocket;
//! - [`socketio`]: Socket.IO protocol 4 and 5 packets and binary attachments.

pub mod engineio;
pub mod http;
pub mod socketio;
pub mod tls;
pub mod ws;
