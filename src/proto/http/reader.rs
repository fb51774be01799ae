//! The HTTP/1.1 message reader: a push parser over one direction's bytes.
//!
//! It owns the message state machine — a head, then a body delimited by
//! `Content-Length`, the chunked coding or the connection's end (RFC 9112
//! §6.3) — and undoes the body's content coding, capped. As in httparse,
//! incomplete input is not an error: [`Reading::NeedMore`] asks for more bytes
//! and nothing is consumed until a whole message is there. What it notices
//! on the way is typed ([`MessageProblem`]); the analysis turns that into
//! findings and the consumed bytes into packets.

use std::ops::Range;

use super::{
    BodyFraming, ChunkedDecoder, FramingAnomaly, Head, HttpError, Limits, Parse, decode_content,
    parse_request_head, parse_response_head, request_body_framing, response_body_framing,
};
use crate::rules::{self, Rule};

/// One direction's reader: where it is in the current message.
#[derive(Debug, Clone, Default)]
pub struct MessageReader(State);

#[derive(Debug, Clone, Default)]
enum State {
    /// Waiting for a complete head.
    #[default]
    Head,
    /// Waiting for a body of known length: head parsed.
    Length {
        head: Head,
        len: u64,
        problems: Vec<MessageProblem>,
    },
    /// Reading a chunked body.
    Chunked {
        head: Head,
        problems: Vec<MessageProblem>,
        decoder: ChunkedDecoder,
        /// Bytes of the input (after the head) fed to the decoder.
        fed: usize,
        body: Vec<u8>,
    },
    /// The body runs to the end of the connection.
    UntilClose {
        head: Head,
        problems: Vec<MessageProblem>,
    },
}

/// A complete message, as read from the start of the input.
#[derive(Debug, Clone)]
pub struct ReadMessage {
    /// The parsed head.
    pub head: Head,
    /// How many input bytes the message took (head and body as sent, at
    /// most head + body cap).
    pub len: usize,
    /// The body after de-chunking and content decoding (capped).
    pub body: Vec<u8>,
    /// The body's span in the message's bytes when it is stored verbatim
    /// (not chunked, not encoded), so its field points at the wire bytes.
    pub body_span_in_raw: Option<Range<usize>>,
    /// What was odd about it, in the order it was noticed.
    pub problems: Vec<MessageProblem>,
    /// The body was cut at the cap, or ended early.
    pub truncated: bool,
}

/// What reading produced.
#[derive(Debug)]
pub enum Reading {
    /// A complete message; its `len` bytes are to be consumed.
    Message(Box<ReadMessage>),
    /// Not a whole message yet: call again with more bytes.
    NeedMore,
    /// The bytes are not an HTTP head (or break a limit): decoding of this
    /// direction cannot go on.
    Error(HttpError),
}

/// Something odd about a message that does not stop the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageProblem {
    /// How the message declares its length.
    Framing(FramingAnomaly),
    /// The body announces more bytes than the body cap keeps.
    BodyCapped {
        /// The announced length.
        announced: u64,
        /// The bytes kept.
        kept: usize,
    },
    /// The connection ended (or the chunk lines stopped) before the chunked
    /// body's last chunk.
    ChunkedUnfinished,
    /// The content coding inflates past the cap.
    InflatedCapped {
        /// The coding.
        coding: String,
        /// The cap, in bytes.
        cap: usize,
    },
    /// A chunked body that breaks the chunk syntax, or a content coding that
    /// could not be undone.
    Error(HttpError),
}

impl MessageProblem {
    /// The finding rule this problem is reported under.
    pub fn rule(&self) -> &'static Rule {
        match self {
            MessageProblem::Framing(a) => a.rule(),
            MessageProblem::BodyCapped { .. } | MessageProblem::InflatedCapped { .. } => {
                &rules::HTTP_BODY_TOO_LARGE
            }
            MessageProblem::ChunkedUnfinished => &rules::HTTP_MALFORMED,
            MessageProblem::Error(e) => e.rule(),
        }
    }

    /// One sentence that says what was seen.
    pub fn message(&self) -> String {
        match self {
            MessageProblem::Framing(a) => a.message(),
            MessageProblem::BodyCapped { announced, kept } => format!(
                "the body announces {announced} bytes; dispel keeps the first {kept} (the body cap)"
            ),
            MessageProblem::ChunkedUnfinished => {
                "the chunked body ended before its last chunk".into()
            }
            MessageProblem::InflatedCapped { coding, cap } => {
                format!(
                    "the {coding} body inflates past the {cap}-byte cap; dispel keeps the first bytes"
                )
            }
            MessageProblem::Error(e) => e.to_string(),
        }
    }
}

impl MessageReader {
    /// Reads what it can of the message at the start of `bytes` (a request
    /// when `request`, else a response to a request of `request_method`:
    /// `HEAD` responses have no body). `at_end`: no more bytes will come.
    pub fn read(
        &mut self,
        bytes: &[u8],
        request: bool,
        request_method: Option<&str>,
        limits: &Limits,
        at_end: bool,
    ) -> Reading {
        loop {
            let (next, out) = match std::mem::take(&mut self.0) {
                State::Head => head(bytes, request, request_method, limits),
                State::Length {
                    head,
                    len,
                    problems,
                } => length(bytes, head, len, problems, limits, at_end),
                State::Chunked {
                    head,
                    problems,
                    decoder,
                    fed,
                    body,
                } => chunked(bytes, head, problems, decoder, fed, body, limits, at_end),
                State::UntilClose { head, problems } => {
                    until_close(bytes, head, problems, limits, at_end)
                }
            };
            self.0 = next;
            if let Some(out) = out {
                return out;
            }
        }
    }
}

/// What one state makes of the input: the next state, and what to answer
/// (`None`: read on in the next state).
type Step = (State, Option<Reading>);

/// A message read whole: back to waiting for a head.
fn done(m: ReadMessage) -> Step {
    (State::Head, Some(Reading::Message(Box::new(m))))
}

/// The head, then how the body is delimited (RFC 9112 §6.3).
fn head(bytes: &[u8], request: bool, request_method: Option<&str>, limits: &Limits) -> Step {
    let parsed = if request {
        parse_request_head(bytes, limits)
    } else {
        parse_response_head(bytes, limits)
    };
    let head = match parsed {
        Parse::Partial => return (State::Head, Some(Reading::NeedMore)),
        Parse::Invalid(e) => return (State::Head, Some(Reading::Error(e))),
        Parse::Complete(h) => h,
    };
    let framing = if request {
        request_body_framing(&head)
    } else {
        response_body_framing(&head, request_method)
    };
    let problems: Vec<MessageProblem> = framing
        .anomalies
        .into_iter()
        .map(MessageProblem::Framing)
        .collect();
    let next = match framing.framing {
        BodyFraming::None | BodyFraming::Length(0) => {
            let len = head.len;
            return done(finish(
                bytes,
                head,
                len,
                Vec::new(),
                problems,
                limits,
                false,
            ));
        }
        BodyFraming::Length(len) => State::Length {
            head,
            len,
            problems,
        },
        BodyFraming::Chunked => State::Chunked {
            head,
            problems,
            decoder: ChunkedDecoder::new(limits),
            fed: 0,
            body: Vec::new(),
        },
        BodyFraming::UntilClose => State::UntilClose { head, problems },
    };
    (next, None)
}

/// A body of `len` bytes (`Content-Length`), kept up to the cap.
fn length(
    bytes: &[u8],
    head: Head,
    len: u64,
    problems: Vec<MessageProblem>,
    limits: &Limits,
    at_end: bool,
) -> Step {
    let total = (head.len as u64).saturating_add(len);
    let cap = (head.len + limits.max_decoded_body) as u64;
    if (bytes.len() as u64) < total.min(cap) && !at_end {
        let wait = State::Length {
            head,
            len,
            problems,
        };
        return (wait, Some(Reading::NeedMore));
    }
    let take = (bytes.len() as u64).min(total).min(cap) as usize;
    let truncated = (take as u64) < total;
    let body = bytes[head.len.min(take)..take].to_vec();
    let kept = take - head.len;
    let mut m = finish(bytes, head, take, body, problems, limits, truncated);
    if truncated {
        m.problems.push(MessageProblem::BodyCapped {
            announced: len,
            kept,
        });
    }
    done(m)
}

/// A chunked body, de-chunked as its chunks arrive (kept up to the cap).
#[allow(clippy::too_many_arguments)]
fn chunked(
    bytes: &[u8],
    head: Head,
    problems: Vec<MessageProblem>,
    mut decoder: ChunkedDecoder,
    mut fed: usize,
    mut body: Vec<u8>,
    limits: &Limits,
    at_end: bool,
) -> Step {
    let avail = &bytes[head.len + fed..];
    match decoder.feed(avail) {
        Ok(p) => {
            for r in &p.data {
                let room = limits.max_decoded_body.saturating_sub(body.len());
                let piece = &avail[r.clone()];
                body.extend_from_slice(&piece[..piece.len().min(room)]);
            }
            fed += p.consumed;
            if p.done {
                let len = head.len + fed;
                return done(finish(bytes, head, len, body, problems, limits, false));
            }
            if at_end || (p.consumed == 0 && avail.len() > limits.max_chunk_line) {
                let len = head.len + fed;
                let mut m = finish(bytes, head, len, body, problems, limits, true);
                m.problems.push(MessageProblem::ChunkedUnfinished);
                return done(m);
            }
            let wait = State::Chunked {
                head,
                problems,
                decoder,
                fed,
                body,
            };
            (wait, Some(Reading::NeedMore))
        }
        Err(e) => {
            let len = head.len + fed;
            let mut m = finish(bytes, head, len, body, problems, limits, true);
            m.problems.push(MessageProblem::Error(e));
            done(m)
        }
    }
}

/// A body that runs to the connection's end (kept up to the cap).
fn until_close(
    bytes: &[u8],
    head: Head,
    problems: Vec<MessageProblem>,
    limits: &Limits,
    at_end: bool,
) -> Step {
    let cap = head.len + limits.max_decoded_body;
    if !at_end && bytes.len() < cap {
        return (
            State::UntilClose { head, problems },
            Some(Reading::NeedMore),
        );
    }
    let take = bytes.len().min(cap);
    let body = bytes[head.len.min(take)..take].to_vec();
    let truncated = !at_end;
    done(finish(bytes, head, take, body, problems, limits, truncated))
}

/// The message of the first `len` bytes, its body's content coding undone.
fn finish(
    bytes: &[u8],
    head: Head,
    len: usize,
    body: Vec<u8>,
    mut problems: Vec<MessageProblem>,
    limits: &Limits,
    truncated: bool,
) -> ReadMessage {
    let len = len.min(bytes.len());
    let chunked = head
        .header("transfer-encoding")
        .is_some_and(|h| h.value.to_ascii_lowercase().contains("chunked"));
    let mut body_span_in_raw =
        (!chunked && head.len <= len).then(|| head.len..head.len + body.len().min(len - head.len));
    let mut body = body;
    let codings: Vec<String> = head
        .list("content-encoding")
        .iter()
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .collect();
    // Codings apply in the order listed; undo them last first.
    for coding in codings.iter().rev() {
        match decode_content(coding, &body, limits.max_decoded_body) {
            Ok(d) => {
                if d.truncated {
                    problems.push(MessageProblem::InflatedCapped {
                        coding: coding.clone(),
                        cap: limits.max_decoded_body,
                    });
                }
                body = d.data;
                body_span_in_raw = None;
            }
            Err(e) => {
                problems.push(MessageProblem::Error(e));
                break;
            }
        }
    }
    ReadMessage {
        head,
        len,
        body,
        body_span_in_raw,
        problems,
        truncated,
    }
}

/// Whether the first bytes of a direction look like HTTP/1.x: a request
/// line's method and a space (`request`), or `HTTP/`. `None`: too few bytes
/// to tell.
pub fn looks_like_http(request: bool, b: &[u8]) -> Option<bool> {
    if !request {
        let want = b"HTTP/";
        let n = b.len().min(want.len());
        return if b[..n] != want[..n] {
            Some(false)
        } else if n < want.len() {
            None
        } else {
            Some(true)
        };
    }
    // A method token (RFC 9110 §9: tchar), then one space.
    for (i, &c) in b.iter().enumerate().take(24) {
        if c == b' ' {
            return Some(i > 0 && b[..i].iter().all(u8::is_ascii_uppercase));
        }
        if !c.is_ascii_uppercase() {
            return Some(false);
        }
    }
    if b.len() >= 24 { Some(false) } else { None }
}

#[cfg(test)]
mod tests {
    //! Synthetic messages (hand-written bytes), fed whole and cut anywhere.
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Feeds `bytes` growing one byte at a time, as a stream arrives.
    fn read_growing(bytes: &[u8], request: bool, at_end: bool) -> ReadMessage {
        let limits = Limits::default();
        let mut r = MessageReader::default();
        for n in 0..=bytes.len() {
            let end = at_end && n == bytes.len();
            match r.read(&bytes[..n], request, None, &limits, end) {
                Reading::Message(m) => return *m,
                Reading::NeedMore => {}
                Reading::Error(e) => panic!("{e}"),
            }
        }
        panic!("no message");
    }

    #[test]
    fn length_delimited_body_points_at_the_wire() {
        let msg = b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET";
        let m = read_growing(msg, true, false);
        assert_eq!(m.len, msg.len() - 3);
        assert_eq!(m.body, b"hello");
        assert_eq!(m.body_span_in_raw, Some(m.head.len..m.head.len + 5));
        assert!(m.problems.is_empty() && !m.truncated);
    }

    #[test]
    fn chunked_gzip_is_dechunked_then_inflated() {
        let z = gzip(b"{\"sid\":\"abc\"}");
        let mut msg =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
                .to_vec();
        let (a, b) = z.split_at(z.len() / 2);
        for part in [a, b] {
            msg.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            msg.extend_from_slice(part);
            msg.extend_from_slice(b"\r\n");
        }
        msg.extend_from_slice(b"0\r\n\r\n");
        let m = read_growing(&msg, false, false);
        assert_eq!(m.len, msg.len());
        assert_eq!(m.body, b"{\"sid\":\"abc\"}");
        // Decoded bodies are not wire bytes.
        assert_eq!(m.body_span_in_raw, None);
        assert!(m.problems.is_empty(), "{:?}", m.problems);
    }

    #[test]
    fn an_unfinished_chunked_body_ends_with_the_connection() {
        let msg = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n";
        let m = read_growing(msg, false, true);
        assert_eq!(m.body, b"abc");
        assert!(m.truncated);
        assert_eq!(m.problems, vec![MessageProblem::ChunkedUnfinished]);
        assert_eq!(m.problems[0].rule().id, "http.malformed");
    }

    #[test]
    fn problems_keep_the_order_they_were_noticed_in() {
        // Framing anomaly (at the head), then the body cap (at the end).
        let limits = Limits {
            max_decoded_body: 4,
            ..Limits::default()
        };
        let msg = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nContent-Length: 9\r\n\r\n123456789";
        let mut r = MessageReader::default();
        let Reading::Message(m) = r.read(msg, false, None, &limits, false) else {
            panic!("a capped body is a message");
        };
        let kinds: Vec<&str> = m.problems.iter().map(|p| p.rule().id).collect();
        assert_eq!(kinds, ["http.length-and-chunked", "http.body-too-large"]);
        assert_eq!(
            m.problems[1].message(),
            "the body announces 9 bytes; dispel keeps the first 4 (the body cap)"
        );
        assert!(m.truncated);
    }

    #[test]
    fn not_http_is_an_error_and_partial_input_is_not() {
        let limits = Limits::default();
        let mut r = MessageReader::default();
        assert!(matches!(
            r.read(b"HTTP/1.1 2", false, None, &limits, false),
            Reading::NeedMore
        ));
        let mut r = MessageReader::default();
        assert!(matches!(
            r.read(
                b"\x16\x03\x01\x02\x00 hello\r\n\r\n",
                true,
                None,
                &limits,
                false
            ),
            Reading::Error(_)
        ));
        assert_eq!(looks_like_http(true, b"GET "), Some(true));
        assert_eq!(looks_like_http(true, b"GE"), None);
        assert_eq!(looks_like_http(false, b"HTTP/1.1"), Some(true));
        assert_eq!(looks_like_http(false, b"\x16\x03"), Some(false));
    }
}
