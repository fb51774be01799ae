//! TLS: the NSS key log reader, the hello parser, and the whole pipeline
//! over a capture with a key log (the record layer, decryption attempts,
//! the plaintext hand-over). Input: two bytes of key log length, the key
//! log text, then a capture file.
//!
//! Invariants: no panic; every field span of every step lies within its
//! step's buffers.
#![no_main]

use std::sync::{Arc, RwLock};

use dispel::analyze::{self, Collect, Options};
use dispel::proto::tls::{keylog::KeyLog, wire};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let n = usize::from(u16::from_be_bytes(*len)).min(rest.len());
    let (log_text, capture) = rest.split_at(n);
    let mut log = KeyLog::default();
    log.add_text(log_text);
    let _ = wire::hello(capture, true);
    let _ = wire::hello(capture, false);
    let _ = wire::looks_like_tls(capture);
    let mut opts = Options::default();
    opts.layers.keylog = Arc::new(RwLock::new(log));
    let mut sink = Collect::default();
    let _ = analyze::run_reader(
        std::io::Cursor::new(capture.to_vec()),
        Some(capture.len() as u64),
        "fuzz",
        &opts,
        &mut sink,
    );
    for s in &sink.steps {
        for f in &s.fields {
            if let Some(span) = &f.span {
                assert!(s.span_bytes(span).is_some(), "{}: {} span outside", s.kind, f.name);
            }
        }
    }
});
