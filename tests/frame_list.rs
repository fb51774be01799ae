//! The frame-list rule (issue 24 §3, and `docs/output-formats.md`
//! "frames"): a `websocket.message` or `websocket.inflate` step lists the
//! packets of the message's own data frames — never a packet that carried
//! only control frames (a ping, a pong, a Close) before or between them.
//!
//! Checked over every real capture in `captures/` (a TLS one decrypted with
//! the key log beside it), and on a SYNTHETIC conversation where pings sit
//! before and inside a fragmented message in packets of their own.

mod support;
mod tools;

use std::collections::BTreeMap;

use dispel::analyze::{Collect, Options};
use dispel::step::{Step, Value};

fn uint(s: &Step, name: &str) -> Option<u64> {
    match s.field(name).map(|f| &f.value) {
        Some(Value::UInt(v)) => Some(*v),
        _ => None,
    }
}

fn analyse_capture(path: &std::path::Path) -> Collect {
    let mut opts = Options::default();
    if let Ok(keys) = std::fs::read(path.with_extension("keys")) {
        let mut log = dispel::proto::tls::keylog::KeyLog::default();
        log.add_text(&keys);
        opts.layers.keylog = std::sync::Arc::new(std::sync::RwLock::new(log));
    }
    support::analyse_with(std::fs::read(path).unwrap(), &opts)
}

/// Checks the rule on one trace; returns how many messages it checked.
/// Walking each direction of each connection in order: the data frames
/// (opcode 0, 1, 2) since the last message are the message's frames; its
/// `frames` must be exactly their packets, and its inflate step's the same.
fn check_rule(name: &str, c: &Collect) -> usize {
    // (conn, dir) → packets of the data frames of the message being built.
    let mut pending: BTreeMap<(u32, usize), Vec<u64>> = BTreeMap::new();
    // (conn, dir) → the frames of the last message (for its inflate step).
    let mut last: BTreeMap<(u32, usize), Vec<u64>> = BTreeMap::new();
    // (conn, dir) → packets that carried control frames.
    let mut control: BTreeMap<(u32, usize), Vec<u64>> = BTreeMap::new();
    let mut checked = 0;
    for (i, s) in c.steps.iter().enumerate() {
        let number = i + 1;
        let key = (s.conn, s.dir.index());
        let frames: Vec<u64> = s.frames.iter().copied().collect();
        match s.kind {
            "websocket.frame" => {
                let op = uint(s, "websocket.opcode")
                    .unwrap_or_else(|| panic!("{name}: step {} has no opcode", number));
                if op >= 8 {
                    control.entry(key).or_default().extend(&frames);
                } else {
                    pending.entry(key).or_default().extend(&frames);
                }
            }
            "websocket.message" => {
                let mut want = pending.remove(&key).unwrap_or_default();
                want.sort_unstable();
                want.dedup();
                assert_eq!(
                    frames, want,
                    "{name}: message step {} lists packets {frames:?}, its data frames were in {want:?}",
                    number
                );
                // The symptom, said directly: a packet that carried
                // only control frames is never a message's.
                for f in &frames {
                    if control.get(&key).is_some_and(|c| c.contains(f)) {
                        assert!(
                            want.contains(f),
                            "{name}: message step {} lists packet {f}, which carried only control frames",
                            number
                        );
                    }
                }
                last.insert(key, frames);
                checked += 1;
            }
            "websocket.inflate" => {
                let want = last.get(&key).cloned().unwrap_or_default();
                assert_eq!(
                    frames, want,
                    "{name}: inflate step {} lists packets {frames:?}, its message's were {want:?}",
                    number
                );
            }
            _ => {}
        }
    }
    checked
}

#[test]
fn every_capture_keeps_the_frame_list_rule() {
    let mut total = 0;
    for path in tools::captures() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let c = analyse_capture(&path);
        total += check_rule(&name, &c);
    }
    // The rule was really applied: the captures hold hundreds of messages.
    assert!(total > 100, "only {total} messages checked");
}

/// SYNTHETIC: a ping in a packet of its own before a message, and another
/// between the two fragments of the next message. Neither ping's packet is
/// the message's.
#[test]
fn pings_before_and_between_fragments_are_not_the_messages_packets() {
    use support::{cframe, ctext, ws_conv, ws_frame};
    let exchange = ws_conv(&[
        (true, cframe(0x9, b"p1")),
        (true, ctext("hello")),
        (true, ws_frame(false, 0, 0x1, Some([1, 2, 3, 4]), b"frag")),
        (true, cframe(0x9, b"p2")),
        (true, ws_frame(true, 0, 0x0, Some([1, 2, 3, 4]), b"ment")),
    ]);
    let c = support::run_conv(&exchange);
    assert_eq!(check_rule("synthetic", &c), 2);
    let msgs = support::steps_of(&c, "websocket.message");
    // One packet for "hello", two for the fragmented message.
    assert_eq!(msgs[0].frames.len(), 1);
    assert_eq!(msgs[1].frames.len(), 2);
}
