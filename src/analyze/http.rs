//! HTTP/1.1 messages as steps: request and response heads with every header
//! as a field, bodies delimited by Content-Length, chunked coding or the
//! connection's end, and Content-Encoding undone (capped) for the layers
//! above.

use std::sync::Arc;

use crate::proto::http::{self, Head, HttpError, MessageReader, ReadMessage, Reading, StartLine};
use crate::sanitize::escape;
use crate::step::{ConnId, Dir, Field, Finding, Origin, Span, Step, Value};

use super::stream::{ByteMap, StreamBuf};

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
    /// The body after de-chunking and content decoding (capped), shared by
    /// the step's `body` buffer and Engine.IO (one copy of a 16 MiB body,
    /// not two).
    pub body: Arc<[u8]>,
    /// The body's span in `raw` when it is stored verbatim (not chunked, not
    /// encoded), so its field points at the wire bytes.
    pub body_span_in_raw: Option<std::ops::Range<usize>>,
    /// Which packets carried which bytes of a verbatim body (empty for a
    /// decoded one): Engine.IO packets in it name only their own packets.
    pub body_map: ByteMap,
    pub frames: crate::step::Frames,
    pub time: crate::step::Timestamp,
    pub problems: Vec<Finding>,
    /// The body was cut at the cap.
    pub truncated: bool,
}

/// What reading a direction's buffer produced.
pub enum Progress {
    /// A complete message, its bytes taken off the buffer.
    Message(Box<Message>),
    /// Not a whole message yet.
    NeedMore,
    /// The bytes are not HTTP (or break a limit): the direction stops. The
    /// first bytes, to show.
    Error(HttpError, Vec<u8>),
}

/// Reads the next message off `buf` ([`MessageReader::read`]) and takes its
/// bytes, with the packets that carried them. `request_method` is the
/// method of the request a response answers (HEAD responses have no body).
pub fn read(
    reader: &mut MessageReader,
    buf: &mut StreamBuf,
    dir: Dir,
    request_method: Option<&str>,
    limits: &http::Limits,
    at_end: bool,
) -> Progress {
    let read = reader.read(buf.bytes(), dir == Dir::C2s, request_method, limits, at_end);
    match read {
        Reading::NeedMore => Progress::NeedMore,
        Reading::Error(e) => Progress::Error(e, buf.bytes()[..buf.len().min(256)].to_vec()),
        Reading::Message(m) => {
            let ReadMessage {
                head,
                len,
                body,
                body_span_in_raw,
                problems,
                truncated,
            } = *m;
            let raw = buf.bytes()[..len].to_vec();
            let offset = buf.offset();
            let body_map = match &body_span_in_raw {
                Some(r) if !r.is_empty() => buf.byte_map(r.start, r.len()),
                _ => ByteMap::default(),
            };
            let (frames, time) = buf.provenance(len);
            buf.consume(len);
            Progress::Message(Box::new(Message {
                head,
                raw,
                offset,
                body: Arc::from(body),
                body_span_in_raw,
                body_map,
                frames,
                time,
                problems: problems
                    .iter()
                    .map(|p| Finding::new(p.rule(), p.message()))
                    .collect(),
                truncated,
            }))
        }
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
                let b = s.add_buffer("body", Origin::Derived, m.body.clone());
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
