//! HTTP/1.1 (src/proto/http.rs): heads, body framing, the chunked decoder
//! fed in pieces, and content decoding. The first byte picks limits and a
//! split point; the rest is the message.
//!
//! Invariants: a complete head used no more than the input, its spans lie
//! within it and within the head; chunked progress consumed no more than
//! given and its data ranges lie within the input; decoded bodies are at
//! most the cap.
#![no_main]

use std::ops::Range;

use dispel::proto::http::{
    self, ChunkedDecoder, Head, Limits, Parse, StartLine, decode_content,
};
use libfuzzer_sys::fuzz_target;

fn within(r: &Range<usize>, len: usize) {
    assert!(r.start <= r.end && r.end <= len, "span {r:?} outside 0..{len}");
}

fn check_head(head: &Head, input: &[u8]) {
    assert!(head.len <= input.len(), "head longer than the input");
    within(&head.start_line_span, head.len);
    for h in &head.headers {
        within(&h.line_span, head.len);
        within(&h.name_span, head.len);
        within(&h.value_span, head.len);
        assert_eq!(&input[h.value_span.clone()], &h.raw_value[..]);
    }
    if let StartLine::Response { reason_span, .. } = &head.start {
        within(reason_span, head.len);
    }
    let _ = http::request_body_framing(head);
    let _ = http::response_body_framing(head, Some("GET"));
    let _ = http::response_body_framing(head, Some("HEAD"));
    let _ = head.list("connection");
    let _ = head.has_token("upgrade", "websocket");
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, input)) = data.split_first() else {
        return;
    };
    let limits = if ctl & 1 == 0 {
        Limits::default()
    } else {
        Limits {
            max_head_bytes: 256,
            max_headers: 4,
            max_chunk_line: 16,
            max_decoded_body: 1024,
        }
    };
    for parsed in [
        http::parse_request_head(input, &limits),
        http::parse_response_head(input, &limits),
    ] {
        match parsed {
            Parse::Complete(head) => {
                assert!(head.len <= limits.max_head_bytes, "head over the limit");
                assert!(head.headers.len() <= limits.max_headers, "too many headers");
                check_head(&head, input)
            }
            Parse::Partial => assert!(input.len() <= limits.max_head_bytes, "partial past the limit"),
            Parse::Invalid(e) => {
                let _ = e.to_string();
            }
        }
    }

    // The chunked decoder, fed in two pieces split where `ctl` says.
    let split = if input.is_empty() { 0 } else { usize::from(ctl >> 1) % (input.len() + 1) };
    let mut dec = ChunkedDecoder::new(&limits);
    let mut body = 0u64;
    for piece in [&input[..split], &input[split..]] {
        match dec.feed(piece) {
            Ok(p) => {
                assert!(p.consumed <= piece.len());
                for r in &p.data {
                    within(r, p.consumed);
                    body += r.len() as u64;
                }
                if p.done {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    assert!(body <= input.len() as u64);
    assert_eq!(dec.body_len(), body);

    for coding in ["gzip", "deflate", "identity"] {
        if let Ok(d) = decode_content(coding, input, limits.max_decoded_body) {
            assert!(d.data.len() <= limits.max_decoded_body, "decoded past the cap");
        }
    }
});
