//! One connection's decoders: which layer reads each direction's bytes, and
//! the hand-over between layers (HTTP until an upgrade succeeds, then
//! WebSocket frames from the exact byte after the `101` response).

use crate::step::{Dir, Step};
use crate::tcp::{ConnMeta, Event};

use super::stream::StreamBuf;
use super::tcpsteps;

/// Caps of the protocol layers, so a hostile capture cannot make a run
/// allocate without bound.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest raw data step (bytes); longer deliveries are split.
    pub max_raw_step: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_raw_step: 64 * 1024,
        }
    }
}

/// How one direction's bytes are being decoded.
#[derive(Debug)]
enum Decoder {
    /// Not decoded by a higher layer: shown as TCP data.
    Raw,
}

#[derive(Debug)]
struct DirState {
    buf: StreamBuf,
    decoder: Decoder,
}

/// A connection being decoded.
#[derive(Debug)]
pub struct ConnState {
    meta: ConnMeta,
    limits: Limits,
    dirs: [DirState; 2],
}

impl ConnState {
    pub fn new(meta: ConnMeta, limits: Limits) -> ConnState {
        let dir = || DirState {
            buf: StreamBuf::default(),
            decoder: Decoder::Raw,
        };
        ConnState {
            meta,
            limits,
            dirs: [dir(), dir()],
        }
    }

    /// Handles one reassembler event, emitting the steps it completes.
    pub fn event(&mut self, ev: Event<'_>, emit: &mut dyn FnMut(Step)) {
        let id = self.meta.id;
        match ev {
            Event::Open(_) => {}
            Event::Control {
                dir,
                control,
                at,
                segment,
                rel_seq,
                rel_ack,
            } => emit(tcpsteps::control(
                id, dir, control, at, segment, rel_seq, rel_ack,
            )),
            Event::Anomaly {
                dir,
                at,
                rule,
                message,
            } => emit(tcpsteps::anomaly(id, dir, at, rule, message)),
            Event::Gap {
                dir,
                offset,
                len,
                at,
                why,
            } => {
                let stops = self.stop_decoder(dir);
                emit(tcpsteps::gap(id, dir, offset, len, at, why, stops));
            }
            Event::Data {
                dir,
                offset,
                data,
                at,
            } => {
                let max = self.limits.max_raw_step.max(1);
                let state = &mut self.dirs[dir.index()];
                match state.decoder {
                    Decoder::Raw => {
                        for (i, chunk) in data.chunks(max).enumerate() {
                            emit(tcpsteps::data(
                                id,
                                dir,
                                offset + (i * max) as u64,
                                chunk,
                                vec![at.frame],
                                at.time,
                                "no higher layer recognised",
                            ));
                        }
                        let _ = &state.buf;
                    }
                }
            }
        }
    }

    /// A gap: the higher layer of that direction cannot continue. Returns the
    /// layer's name when one was stopped.
    fn stop_decoder(&mut self, dir: Dir) -> Option<&'static str> {
        let state = &mut self.dirs[dir.index()];
        match state.decoder {
            Decoder::Raw => None,
        }
    }

    /// The capture ended: report what was left undecoded.
    pub fn end_of_capture(&mut self, _emit: &mut dyn FnMut(Step)) {}
}
