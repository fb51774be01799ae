//! The capture container reader (src/capture.rs): arbitrary bytes as a pcap
//! or pcapng file. Invariants: no panic; no record larger than the record
//! limit is handed out; the reader's offset never passes the input's end
//! and never goes backwards; packet numbers count up from 1.
#![no_main]

use dispel::capture::CaptureReader;
use libfuzzer_sys::fuzz_target;

const MAX_RECORD: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    // Both with and without a known length: truncation reports differ.
    for known in [Some(len), None] {
        let Ok(mut r) = CaptureReader::new(std::io::Cursor::new(data.to_vec()), known, MAX_RECORD)
        else {
            continue;
        };
        let mut last_offset = 0;
        let mut expected_number = 1;
        loop {
            match r.next_packet() {
                Ok(Some(p)) => {
                    assert!(p.data.len() <= MAX_RECORD, "record over the limit");
                    assert_eq!(p.number, expected_number);
                    expected_number += 1;
                }
                Ok(None) => break,
                Err(e) => {
                    // An error names an offset inside (or at the end of) the input.
                    if let Some(off) = e.offset() {
                        assert!(off <= len, "error offset {off} past the input ({len})");
                    }
                    let _ = e.to_string();
                    break;
                }
            }
            let off = r.offset();
            assert!(off >= last_offset, "offset went backwards");
            assert!(off <= len, "offset {off} past the input ({len})");
            last_offset = off;
        }
    }
});
