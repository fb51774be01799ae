//! Typed errors of the library. The binary adds the `dispel: FILE:` prefix.
//!
//! Errors are for input dispel cannot read at all (not a capture, a truncated
//! record). Protocol violations are never errors: they are findings.

use std::io;

/// Why a capture file could not be read (further).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),

    #[error("empty file: not a pcap or pcapng capture")]
    Empty,

    #[error("not a pcap or pcapng capture (the file starts with {magic})")]
    NotACapture { magic: String },

    #[error("truncated {what} at byte {offset}: {needed} bytes needed, {present} present")]
    TruncatedHeader {
        what: &'static str,
        offset: u64,
        needed: u64,
        present: u64,
    },

    #[error(
        "truncated {what} at byte {offset} (packet {packet}): {announced} bytes announced, {present} present"
    )]
    TruncatedRecord {
        what: &'static str,
        offset: u64,
        packet: u64,
        announced: u64,
        present: u64,
    },

    #[error(
        "{what} at byte {offset} (packet {packet}) claims {announced} bytes, over the {limit}-byte record limit"
    )]
    RecordTooLarge {
        what: &'static str,
        offset: u64,
        packet: u64,
        announced: u64,
        limit: u64,
    },

    #[error("malformed {what} at byte {offset}: {why}")]
    Malformed {
        what: &'static str,
        offset: u64,
        why: String,
    },
}

impl CaptureError {
    /// The byte offset in the file the error points at, when it has one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            CaptureError::TruncatedHeader { offset, .. }
            | CaptureError::TruncatedRecord { offset, .. }
            | CaptureError::RecordTooLarge { offset, .. }
            | CaptureError::Malformed { offset, .. } => Some(*offset),
            _ => None,
        }
    }
}
