//! The layers that read one direction of a connection, and how they hand
//! over to each other.
//!
//! Each direction of a connection (a *channel*: today a TCP connection;
//! an HTTP/2 stream would be one too) has a stack of layers over the bytes
//! TCP reassembly delivers. The top layer reads the bytes buffered for it
//! and answers with a [`Next`]:
//!
//! - **need more**: it took what it could; wait for more bytes;
//! - **up**: here is a unit for the layer above (an HTTP message, which the
//!   connection pairs with its request; WebSocket messages go up to
//!   Engine.IO through the run's emit interface as they complete);
//! - **switch**: replace me with this layer, which reads on from the same
//!   byte (detection → HTTP; HTTP → WebSocket after a `101`, decided by
//!   [`super::handshake`]);
//! - **stop**: this direction cannot be decoded further (a gap, bytes that
//!   are not the protocol); the reason has been shown as a step.
//!
//! Below them all may sit **TLS** ([`super::tls`]): detection that sees a
//! handshake record answers [`Next::Tls`], the connection hands the
//! direction's bytes to its TLS layer (which keeps the record buffer), and
//! the decrypted application data becomes the buffer this stack reads
//! (detection, then HTTP or WebSocket, exactly as for cleartext).
//! **HTTP/2**
//! would sit where HTTP/1.1 sits, and answer "up" with per-stream bytes for
//! the layers of each stream's channel (extended CONNECT carrying a
//! WebSocket, RFC 8441).

use crate::proto::http;
use crate::proto::tls::wire as tls;
use crate::step::{Channel, Dir};

use super::http::{self as httpstep, Progress};
use super::stream::StreamBuf;
use super::up::Up;
use super::ws::{self, Pings, WsDir};

/// A layer reading one direction's bytes.
#[derive(Debug, Clone)]
pub(super) enum Layer {
    /// Too few bytes yet to tell what protocol this is.
    Detect,
    /// Not decoded by a higher layer: shown as TCP data.
    Raw,
    /// HTTP/1.1 messages.
    Http(Box<http::MessageReader>),
    /// The client asked to upgrade; its next bytes wait for the answer.
    AwaitUpgrade,
    /// RFC 6455 frames and messages.
    WebSocket(Box<WsDir>),
    /// A gap or an unparseable message ended decoding of this direction.
    Stopped,
}

/// What a layer answers after reading the bytes buffered for it.
pub(super) enum Next {
    /// It took what it could; wait for more bytes.
    NeedMore,
    /// An HTTP message for the connection, which pairs requests with
    /// responses; then read on.
    Up(Box<httpstep::Message>),
    /// Replace the layer with this one, which reads on from the same byte.
    Switch(Layer),
    /// Nothing more can be decoded in this direction.
    Stop,
    /// The bytes are TLS records: the connection puts a TLS layer below
    /// this one (see [`super::tls`]), and this one reads the plaintext.
    Tls,
}

/// What a layer may use besides its bytes.
pub(super) struct Cx<'a, 'u> {
    /// The channel the stack reads.
    pub channel: Channel,
    pub dir: Dir,
    /// No more bytes will come in this direction.
    pub at_end: bool,
    /// The method of the request the next response answers.
    pub request_method: Option<&'a str>,
    pub limits: &'a super::conn::Limits,
    /// Pings waiting for their pongs (both directions' WebSocket layers).
    pub pings: &'a mut Pings,
    /// The WebSocket's messages go up to Engine.IO.
    pub deliver: bool,
    pub up: &'a mut Up<'u>,
}

impl Layer {
    /// The name of a layer that decodes something (for a gap's step).
    pub fn name(&self) -> Option<&'static str> {
        match self {
            Layer::Http(_) | Layer::AwaitUpgrade => Some("HTTP"),
            Layer::WebSocket(w) if !w.stopped() => Some("WebSocket"),
            _ => None,
        }
    }

    /// A gap: the layer cannot continue. Raw bytes stay raw; a WebSocket
    /// layer stays (it reports what reaches it after the gap); any other
    /// layer stops.
    pub fn stop(&mut self) {
        match self {
            Layer::Raw => {}
            Layer::WebSocket(w) => w.stop(),
            _ => *self = Layer::Stopped,
        }
    }

    /// Reads what it can of `buf`.
    pub fn read(&mut self, buf: &mut StreamBuf, cx: &mut Cx<'_, '_>) -> Next {
        match self {
            // One look at the first byte: a record header starts 0x16.
            Layer::Detect if buf.bytes().first() == Some(&tls::HANDSHAKE) => {
                match tls::looks_like_tls(buf.bytes()) {
                    Some(true) => Next::Tls,
                    None if !cx.at_end => Next::NeedMore,
                    _ => Next::Switch(Layer::Raw),
                }
            }
            Layer::Detect => match http::looks_like_http(cx.dir == Dir::C2s, buf.bytes()) {
                Some(true) => Next::Switch(Layer::Http(Box::default())),
                Some(false) => Next::Switch(Layer::Raw),
                None if cx.at_end => Next::Switch(Layer::Raw),
                None => Next::NeedMore,
            },
            Layer::Raw => {
                super::conn::flush_raw(cx.channel.conn, cx.dir, buf, cx.limits.max_raw_step, cx.up);
                Next::NeedMore
            }
            Layer::Stopped => {
                buf.clear();
                Next::NeedMore
            }
            Layer::AwaitUpgrade => Next::NeedMore,
            Layer::WebSocket(w) => {
                let mut out = ws::Deliveries::new();
                w.pump(buf, cx.pings, cx.up, &mut out);
                if cx.at_end {
                    w.end(buf, cx.up);
                }
                if cx.deliver {
                    for m in out {
                        cx.up.ws_message(cx.channel, cx.dir, m);
                    }
                }
                Next::NeedMore
            }
            Layer::Http(reader) => {
                if buf.is_empty() {
                    return Next::NeedMore;
                }
                let progress = httpstep::read(
                    reader,
                    buf,
                    cx.dir,
                    cx.request_method,
                    &cx.limits.http,
                    cx.at_end,
                );
                match progress {
                    Progress::NeedMore => Next::NeedMore,
                    Progress::Error(e, sample) => {
                        cx.up.step(httpstep::error_step(
                            cx.channel.conn,
                            cx.dir,
                            &e,
                            buf,
                            &sample,
                        ));
                        Next::Stop
                    }
                    Progress::Message(m) => Next::Up(m),
                }
            }
        }
    }
}
