//! HTTP/1.1 messages as steps: request and response heads with every header
//! as a field, bodies delimited by Content-Length, chunked coding or the
//! connection's end, and Content-Encoding undone (capped) for the layers
//! above.

use std::sync::Arc;

use crate::proto::http::{self, BodyFraming, ChunkedDecoder, Head, HttpError, Parse, StartLine};
use crate::rules;
use crate::sanitize::escape;
use crate::step::{ConnId, Dir, Field, Finding, Origin, Span, Step, Value};

use super::stream::StreamBuf;

/// Wireshark's field for a header, where it has one.
fn header_field(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "host" => "http.host",
        "user-agent" => "http.user_agent",
        "connection" => "http.connection",
        "upgrade" => "http.upgrade",
        "sec-websocket-key" => "http.sec_websocket_key",
        "sec-websocket-version" => "http.sec_websocket_version",
        "sec-websocket-extensions" => "http.sec_websocket_extensions",
        "sec-websocket-protocol" => "http.sec_websocket_protocol",
        "sec-websocket-accept" => "http.sec_websocket_accept",
        "content-length" => "http.content_length_header",
        "content-type" => "http.content_type",
        "content-encoding" => "http.content_encoding",
        "transfer-encoding" => "http.transfer_encoding",
        "server" => "http.server",
        "cookie" => "http.cookie",
        "set-cookie" => "http.set_cookie",
        "date" => "http.date",
        "accept" => "http.accept",
        "accept-encoding" => "http.accept_encoding",
        "accept-language" => "http.accept_language",
        "location" => "http.location",
        "cache-control" => "http.cache_control",
        "referer" => "http.referer",
        _ => return None,
    })
}

/// A complete HTTP message, ready to become a step.
#[derive(Debug, Clone)]
pub struct Message {
    pub head: Head,
    /// The raw bytes (head and body as sent), at most head + body cap.
    pub raw: Vec<u8>,
    /// Stream offset of the first byte.
    pub offset: u64,
    /// The body after de-chunking and content decoding (capped).
    pub body: Vec<u8>,
    /// The body's span in `raw` when it is stored verbatim (not chunked, not
    /// encoded), so its field points at the wire bytes.
    pub body_span_in_raw: Option<std::ops::Range<usize>>,
    pub frames: crate::step::Frames,
    pub time: crate::step::Timestamp,
    pub problems: Vec<Finding>,
    /// The body was cut at the cap.
    pub truncated: bool,
}

/// One direction's HTTP parser state.
#[derive(Debug, Clone, Default)]
pub enum HttpState {
    #[default]
    Head,
    /// Waiting for a body of known length: head parsed.
    Length {
        head: Head,
        len: u64,
        problems: Vec<Finding>,
    },
    Chunked {
        head: Head,
        problems: Vec<Finding>,
        decoder: ChunkedDecoder,
        /// Bytes of the buffer (after the head) fed to the decoder.
        fed: usize,
        body: Vec<u8>,
    },
    /// The body runs to the end of the connection.
    UntilClose { head: Head, problems: Vec<Finding> },
}

/// What parsing the buffer produced.
pub enum Progress {
    /// A complete message.
    Message(Box<Message>),
    /// A head was parsed that is not a message by itself yet (nothing to do).
    NeedMore,
    /// The bytes are not HTTP (or break a limit): the direction stops.
    Error(HttpError, Vec<u8>),
}

/// Parses what it can from `buf`. `request_method` is the method of the
/// request a response answers (HEAD responses have no body).
pub fn parse(
    state: &mut HttpState,
    buf: &mut StreamBuf,
    dir: Dir,
    request_method: Option<&str>,
    limits: &http::Limits,
    at_end: bool,
) -> Progress {
    loop {
        match std::mem::take(state) {
            HttpState::Head => {
                let parsed = match dir {
                    Dir::C2s => http::parse_request_head(buf.bytes(), limits),
                    Dir::S2c => http::parse_response_head(buf.bytes(), limits),
                };
                let head = match parsed {
                    Parse::Partial => {
                        *state = HttpState::Head;
                        return Progress::NeedMore;
                    }
                    Parse::Invalid(e) => {
                        let bytes = buf.bytes()[..buf.len().min(256)].to_vec();
                        return Progress::Error(e, bytes);
                    }
                    Parse::Complete(h) => h,
                };
                let framing = match dir {
                    Dir::C2s => http::request_body_framing(&head),
                    Dir::S2c => http::response_body_framing(&head, request_method),
                };
                let mut problems = Vec::new();
                for a in &framing.anomalies {
                    problems.push(Finding::new(a.rule(), a.message()));
                }
                *state = match framing.framing {
                    BodyFraming::None | BodyFraming::Length(0) => {
                        let len = head.len;
                        return Progress::Message(Box::new(finish(
                            buf,
                            head,
                            len,
                            Vec::new(),
                            problems,
                            limits,
                            false,
                        )));
                    }
                    BodyFraming::Length(len) => HttpState::Length {
                        head,
                        len,
                        problems,
                    },
                    BodyFraming::Chunked => HttpState::Chunked {
                        head,
                        problems,
                        decoder: ChunkedDecoder::new(limits),
                        fed: 0,
                        body: Vec::new(),
                    },
                    BodyFraming::UntilClose => HttpState::UntilClose { head, problems },
                };
            }
            HttpState::Length {
                head,
                len,
                problems,
            } => {
                let total = (head.len as u64).saturating_add(len);
                let cap = (head.len + limits.max_decoded_body) as u64;
                if (buf.len() as u64) < total.min(cap) && !at_end {
                    *state = HttpState::Length {
                        head,
                        len,
                        problems,
                    };
                    return Progress::NeedMore;
                }
                let take = (buf.len() as u64).min(total).min(cap) as usize;
                let truncated = (take as u64) < total;
                let body = buf.bytes()[head.len.min(take)..take].to_vec();
                let mut m = finish(buf, head, take, body, problems, limits, truncated);
                if truncated {
                    m.problems.push(Finding::new(
                        &rules::HTTP_BODY_TOO_LARGE,
                        format!(
                            "the body announces {len} bytes; dispel keeps the first {} (the body cap)",
                            take - m.head.len
                        ),
                    ));
                }
                return Progress::Message(Box::new(m));
            }
            HttpState::Chunked {
                head,
                problems,
                mut decoder,
                mut fed,
                mut body,
            } => {
                let avail = &buf.bytes()[head.len + fed..];
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
                            return Progress::Message(Box::new(finish(
                                buf, head, len, body, problems, limits, false,
                            )));
                        }
                        if at_end || (p.consumed == 0 && avail.len() > limits.max_chunk_line) {
                            let len = head.len + fed;
                            let mut m = finish(buf, head, len, body, problems, limits, true);
                            m.problems.push(Finding::new(
                                &rules::HTTP_MALFORMED,
                                "the chunked body ended before its last chunk",
                            ));
                            return Progress::Message(Box::new(m));
                        }
                        *state = HttpState::Chunked {
                            head,
                            problems,
                            decoder,
                            fed,
                            body,
                        };
                        return Progress::NeedMore;
                    }
                    Err(e) => {
                        let len = head.len + fed;
                        let mut m = finish(buf, head, len, body, problems, limits, true);
                        m.problems.push(Finding::new(e.rule(), e.to_string()));
                        return Progress::Message(Box::new(m));
                    }
                }
            }
            HttpState::UntilClose { head, problems } => {
                let cap = head.len + limits.max_decoded_body;
                if !at_end && buf.len() < cap {
                    *state = HttpState::UntilClose { head, problems };
                    return Progress::NeedMore;
                }
                let take = buf.len().min(cap);
                let body = buf.bytes()[head.len.min(take)..take].to_vec();
                let truncated = !at_end;
                return Progress::Message(Box::new(finish(
                    buf, head, take, body, problems, limits, truncated,
                )));
            }
        }
    }
}

/// Takes `len` bytes off the buffer as one message, undoing the content
/// coding of its body.
fn finish(
    buf: &mut StreamBuf,
    head: Head,
    len: usize,
    body: Vec<u8>,
    mut problems: Vec<Finding>,
    limits: &http::Limits,
    truncated: bool,
) -> Message {
    let len = len.min(buf.len());
    let raw = buf.bytes()[..len].to_vec();
    let offset = buf.offset();
    let (frames, time) = buf.provenance(len);
    buf.consume(len);
    let chunked = head
        .header("transfer-encoding")
        .is_some_and(|h| h.value.to_ascii_lowercase().contains("chunked"));
    let mut body_span_in_raw = (!chunked && head.len <= raw.len())
        .then(|| head.len..head.len + body.len().min(raw.len() - head.len));
    let mut body = body;
    let codings: Vec<String> = head
        .list("content-encoding")
        .iter()
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .collect();
    // Codings apply in the order listed; undo them last first.
    for coding in codings.iter().rev() {
        match http::decode_content(coding, &body, limits.max_decoded_body) {
            Ok(d) => {
                if d.truncated {
                    problems.push(Finding::new(
                        &rules::HTTP_BODY_TOO_LARGE,
                        format!(
                            "the {coding} body inflates past the {}-byte cap; dispel keeps the first bytes",
                            limits.max_decoded_body
                        ),
                    ));
                }
                body = d.data;
                body_span_in_raw = None;
            }
            Err(e) => {
                problems.push(Finding::new(e.rule(), e.to_string()));
                break;
            }
        }
    }
    Message {
        head,
        raw,
        offset,
        body,
        body_span_in_raw,
        frames,
        time,
        problems,
        truncated,
    }
}

/// Turns a parsed message into its step.
pub fn step(conn: ConnId, dir: Dir, m: &Message) -> Step {
    let kind = match m.head.start {
        StartLine::Request { .. } => "http.request",
        StartLine::Response { .. } => "http.response",
    };
    let mut s = Step::new(conn, dir, kind, m.time);
    s.frames = m.frames.clone();
    let raw = s.add_buffer(
        "stream",
        Origin::Stream { offset: m.offset },
        Arc::from(m.raw.as_slice()),
    );
    let sp = |r: &std::ops::Range<usize>| Span::bytes(raw, r.start, r.len());
    match &m.head.start {
        StartLine::Request {
            method,
            target,
            version,
            method_span,
            target_span,
            version_span,
        } => {
            s.summary = format!("{method} {target} HTTP/1.{version}");
            s.fields
                .push(Field::new("http.request.method", method.as_str()).span(sp(method_span)));
            s.fields
                .push(Field::new("http.request.uri", target.as_str()).span(sp(target_span)));
            s.fields.push(
                Field::new("http.request.version", format!("HTTP/1.{version}"))
                    .span(sp(version_span)),
            );
        }
        StartLine::Response {
            version,
            status,
            reason,
            version_span,
            status_span,
            reason_span,
        } => {
            s.summary = format!("{status} {reason}");
            s.fields.push(
                Field::new("http.response.version", format!("HTTP/1.{version}"))
                    .span(sp(version_span)),
            );
            s.fields
                .push(Field::new("http.response.code", *status).span(sp(status_span)));
            s.fields
                .push(Field::new("http.response.phrase", reason.as_str()).span(sp(reason_span)));
        }
    }
    let line_field = match m.head.start {
        StartLine::Request { .. } => "http.request.line",
        StartLine::Response { .. } => "http.response.line",
    };
    for h in &m.head.headers {
        s.fields.push(
            Field::new(line_field, format!("{}: {}", h.name, h.value)).span(sp(&h.line_span)),
        );
        if let Some(name) = header_field(&h.name) {
            let f = if name == "http.content_length_header" {
                match h.value.trim().parse::<u64>() {
                    Ok(n) => Field::new("http.content_length", n),
                    Err(_) => Field::new(name, h.value.as_str()),
                }
            } else {
                Field::new(name, h.value.as_str())
            };
            s.fields.push(f.span(sp(&h.value_span)).depth(1));
        }
    }
    if !m.body.is_empty() || m.body_span_in_raw.as_ref().is_some_and(|r| !r.is_empty()) {
        match &m.body_span_in_raw {
            Some(r) => s.fields.push(
                Field::new("http.file_data", Value::SpanBytes)
                    .span(sp(r))
                    .show(body_preview(&m.body)),
            ),
            None => {
                let b = s.add_buffer("body", Origin::Derived, Arc::from(m.body.as_slice()));
                s.fields.push(
                    Field::new("http.file_data", Value::SpanBytes)
                        .span(Span::bytes(b, 0, m.body.len()))
                        .show(body_preview(&m.body)),
                );
            }
        }
        s.fields.push(Field::new("http.body.length", m.body.len()));
        if m.truncated {
            s.fields.push(Field::new("http.body.truncated", true));
        }
    }
    s.findings.extend(m.problems.iter().cloned());
    s
}

/// A short text preview of a body, for the field's `show`.
fn body_preview(b: &[u8]) -> String {
    crate::sanitize::preview(b, 80)
}

/// A step for bytes that are not HTTP, with the parser's reason.
pub fn error_step(conn: ConnId, dir: Dir, err: &HttpError, buf: &StreamBuf, sample: &[u8]) -> Step {
    let (frames, time) = buf.provenance(sample.len());
    let mut s = Step::new(conn, dir, "http.error", time);
    s.frames = frames;
    let b = s.add_buffer(
        "stream",
        Origin::Stream {
            offset: buf.offset(),
        },
        Arc::from(sample),
    );
    s.summary = format!("not parseable as HTTP: {}", escape(&err.to_string()));
    s.fields
        .push(Field::new("http.data", Value::SpanBytes).span(Span::bytes(b, 0, sample.len())));
    let rule = err.rule();
    s.findings.push(Finding::new(
        rule,
        format!("{}; HTTP decoding of this direction stops here", err),
    ));
    s
}

/// Whether the first bytes of a direction look like HTTP/1.x: a request
/// line's method and a space, or `HTTP/`. `None`: too few bytes to tell.
pub fn looks_like_http(dir: Dir, b: &[u8]) -> Option<bool> {
    match dir {
        Dir::S2c => {
            let want = b"HTTP/";
            let n = b.len().min(want.len());
            if b[..n] != want[..n] {
                Some(false)
            } else if n < want.len() {
                None
            } else {
                Some(true)
            }
        }
        Dir::C2s => {
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
    }
}
