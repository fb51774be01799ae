//! HTTP/1.1 message heads, body framing, chunked transfer coding and content
//! codings, as an observer reads them from one direction of a TCP stream.
//!
//! Sources: RFC 9112 (HTTP/1.1 message syntax: §2 message format, §3 request
//! line, §4 status line, §6.3 message body length, §7.1 chunked transfer
//! coding), RFC 9110 (§8.4 content codings, §5.6.1 comma-separated lists) and
//! RFC 1950/1951/1952 (zlib, DEFLATE, gzip).
//!
//! Tokenising is httparse's job; this module adds what a teaching observer
//! needs on top: a byte span for every field (relative to the slice the
//! function was given, so the caller can map it to stream offsets), limits on
//! everything that grows, and framing anomalies reported as data instead of a
//! refusal to go on.
//!
//! Results follow httparse's model: incomplete input is [`Parse::Partial`],
//! not an error.

#![warn(missing_docs)]

use std::io::Read;
use std::ops::Range;

mod reader;

pub use reader::{MessageProblem, MessageReader, ReadMessage, Reading, looks_like_http};

use flate2::{Decompress, FlushDecompress, Status};

use crate::rules::{self, Rule};

/// Caps on everything the HTTP layer buffers or produces, so hostile input
/// costs bounded memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest head (start line, header lines and the empty line) accepted.
    /// A head still unterminated at this size is rejected at once rather
    /// than buffered.
    pub max_head_bytes: usize,
    /// Most header fields accepted in one head (and trailer lines in one
    /// chunked body).
    pub max_headers: usize,
    /// Longest chunk-size line (with extensions) and trailer line accepted.
    pub max_chunk_line: usize,
    /// Largest body a content decoder may produce; callers pass it as `cap`
    /// to [`decode_content`].
    pub max_decoded_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 64 * 1024,
            max_headers: 100,
            max_chunk_line: 4096,
            max_decoded_body: 16 * 1024 * 1024,
        }
    }
}

/// The outcome of a push parse, after httparse's `Status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse<T> {
    /// The value is complete; it records how many input bytes it used.
    Complete(T),
    /// No error so far, but more bytes are needed.
    Partial,
    /// The bytes cannot be this kind of message.
    Invalid(HttpError),
}

impl<T> Parse<T> {
    /// The completed value, if any.
    pub fn complete(self) -> Option<T> {
        match self {
            Parse::Complete(t) => Some(t),
            _ => None,
        }
    }
}

/// Which syntax rule of a head was broken (httparse's classification).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyntaxKind {
    /// A byte not allowed in a field name.
    HeaderName,
    /// A byte not allowed in a field value.
    HeaderValue,
    /// A line ending that is neither CRLF nor LF.
    NewLine,
    /// The status code is not three digits.
    Status,
    /// A byte not allowed in the method or request target.
    Token,
    /// The version is not `HTTP/1.0` or `HTTP/1.1`.
    Version,
}

impl SyntaxKind {
    fn from_httparse(e: httparse::Error) -> Self {
        match e {
            httparse::Error::HeaderName => SyntaxKind::HeaderName,
            httparse::Error::HeaderValue => SyntaxKind::HeaderValue,
            httparse::Error::NewLine => SyntaxKind::NewLine,
            httparse::Error::Status => SyntaxKind::Status,
            httparse::Error::Token => SyntaxKind::Token,
            // TooManyHeaders is mapped before we get here.
            httparse::Error::Version | httparse::Error::TooManyHeaders => SyntaxKind::Version,
        }
    }

    fn explain(self) -> &'static str {
        match self {
            SyntaxKind::HeaderName => {
                "a field name must be a token (letters, digits and !#$%&'*+-.^_`|~) followed directly by ':'"
            }
            SyntaxKind::HeaderValue => {
                "a field value may hold visible characters, spaces and tabs, but no control bytes"
            }
            SyntaxKind::NewLine => "every line must end with CRLF",
            SyntaxKind::Status => "the status line must be 'HTTP/1.x SP 3DIGIT SP reason CRLF'",
            SyntaxKind::Token => {
                "the request line must be 'METHOD SP target SP HTTP/1.x CRLF' with a token method and no spaces in the target"
            }
            SyntaxKind::Version => "the version must be exactly 'HTTP/1.0' or 'HTTP/1.1'",
        }
    }
}

/// Why bytes could not be read as HTTP. The texts teach: they say what the
/// rule is and what was found instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The bytes do not start like an HTTP/1.x message at all.
    #[error(
        "not an HTTP/1.x {expected}: it must begin with {shape}, but the stream begins with \"{found}\""
    )]
    NotHttp {
        /// "request" or "response".
        expected: &'static str,
        /// The shape an HTTP message of that kind starts with.
        shape: &'static str,
        /// The first bytes seen, escaped.
        found: String,
    },
    /// No empty line ended the head within the limit.
    #[error(
        "the head is not finished after {seen} bytes, over the {limit}-byte limit; an HTTP head ends with an empty line (CRLF CRLF)"
    )]
    HeadTooLarge {
        /// The configured limit.
        limit: usize,
        /// Bytes available when the limit was hit.
        seen: usize,
    },
    /// More header fields than the limit allows.
    #[error("the head has more than {limit} header fields, the most this reader accepts")]
    TooManyHeaders {
        /// The configured limit.
        limit: usize,
    },
    /// A syntax error in the start line or a header line.
    #[error("malformed HTTP head: {}", kind.explain())]
    Malformed {
        /// Which rule was broken.
        kind: SyntaxKind,
        /// The offending line (with its line ending), when it could be found.
        line_span: Option<Range<usize>>,
    },
    /// A chunk-size line that is not hex digits with optional extensions.
    #[error(
        "a chunk-size line must be hex digits (at most 15), optional ';extensions', then CRLF; found \"{line}\""
    )]
    ChunkSize {
        /// The line, escaped.
        line: String,
    },
    /// A chunk-size or trailer line longer than the limit.
    #[error("a chunk-size or trailer line runs past {limit} bytes without a line ending")]
    ChunkLineTooLong {
        /// The configured limit.
        limit: usize,
    },
    /// Chunk data not followed by CRLF.
    #[error("chunk data must be followed by CRLF, found \"{found}\"")]
    ChunkDataEnd {
        /// The bytes found instead, escaped.
        found: String,
    },
    /// More trailer fields than the limit allows.
    #[error("the chunked body has more than {limit} trailer lines")]
    TooManyTrailers {
        /// The configured limit.
        limit: usize,
    },
    /// A content coding this reader does not decode.
    #[error(
        "content coding \"{coding}\" is not decoded here (supported: gzip, x-gzip, deflate, identity)"
    )]
    UnsupportedCoding {
        /// The coding name as given.
        coding: String,
    },
    /// Compressed data that stopped making sense; `partial` holds what was
    /// decoded before the fault.
    #[error("the {coding} body is corrupt after {} decoded bytes: {message}", partial.len())]
    CorruptContent {
        /// The content coding.
        coding: String,
        /// The decompressor's explanation.
        message: String,
        /// Output decoded before the fault (at most the cap).
        partial: Vec<u8>,
    },
}

impl HttpError {
    /// The finding rule this error is reported under: the one place an
    /// HTTP error meets the rule registry ([`crate::rules`]).
    pub fn rule(&self) -> &'static Rule {
        match self {
            HttpError::HeadTooLarge { .. } | HttpError::TooManyHeaders { .. } => {
                &rules::HTTP_HEAD_TOO_LARGE
            }
            HttpError::UnsupportedCoding { .. } | HttpError::CorruptContent { .. } => {
                &rules::HTTP_BODY_DECODE
            }
            HttpError::NotHttp { .. }
            | HttpError::Malformed { .. }
            | HttpError::ChunkSize { .. }
            | HttpError::ChunkLineTooLong { .. }
            | HttpError::ChunkDataEnd { .. }
            | HttpError::TooManyTrailers { .. } => &rules::HTTP_MALFORMED,
        }
    }
}

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `METHOD SP request-target SP HTTP-version` (RFC 9112 §3).
    Request {
        /// The method, e.g. `GET`.
        method: String,
        /// The request target, e.g. `/socket.io/?EIO=4&transport=websocket`.
        target: String,
        /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
        version: u8,
        /// Bytes of the method.
        method_span: Range<usize>,
        /// Bytes of the target.
        target_span: Range<usize>,
        /// Bytes of `HTTP/1.x`.
        version_span: Range<usize>,
    },
    /// `HTTP-version SP status-code SP [reason-phrase]` (RFC 9112 §4).
    Response {
        /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
        version: u8,
        /// The status code.
        status: u16,
        /// The reason phrase (may be empty).
        reason: String,
        /// Bytes of `HTTP/1.x`.
        version_span: Range<usize>,
        /// Bytes of the three status digits.
        status_span: Range<usize>,
        /// Bytes of the reason phrase (empty range if absent).
        reason_span: Range<usize>,
    },
}

/// One header field line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The field name as sent (compare case-insensitively).
    pub name: String,
    /// The value with surrounding whitespace removed, decoded lossily.
    pub value: String,
    /// The value's exact bytes (field values may carry obs-text).
    pub raw_value: Vec<u8>,
    /// The whole line, including its line ending.
    pub line_span: Range<usize>,
    /// Bytes of the name.
    pub name_span: Range<usize>,
    /// Bytes of the trimmed value.
    pub value_span: Range<usize>,
}

/// A parsed message head: start line plus header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The request or status line.
    pub start: StartLine,
    /// The header fields in wire order.
    pub headers: Vec<Header>,
    /// Bytes of the head, including the final empty line; the body starts here.
    pub len: usize,
    /// The start line, including its line ending.
    pub start_line_span: Range<usize>,
}

impl Head {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&Header> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
    }

    /// Every header with this name (case-insensitive), in wire order.
    pub fn headers_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Header> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
    }

    /// The elements of a comma-separated list header (RFC 9110 §5.6.1),
    /// across all its lines, trimmed, empty elements dropped.
    pub fn list(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .flat_map(|h| h.value.split(','))
            .map(|t| t.trim_matches([' ', '\t']))
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// Whether a comma-separated list header holds `token`
    /// (case-insensitive), e.g. `Connection: keep-alive, Upgrade` holds `upgrade`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.list(name)
            .iter()
            .any(|t| t.eq_ignore_ascii_case(token))
    }

    /// The HTTP minor version from the start line.
    pub fn version(&self) -> u8 {
        match self.start {
            StartLine::Request { version, .. } | StartLine::Response { version, .. } => version,
        }
    }

    /// The method, for a request head.
    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code, for a response head.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { status, .. } => Some(status),
            StartLine::Request { .. } => None,
        }
    }
}

/// Where `part` (a sub-slice of `buf`) lies in `buf`, if it does.
fn span_of(buf: &[u8], part: &[u8]) -> Option<Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(buf.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= buf.len()).then_some(start..end)
}

/// Index just past the next `\n` at or after `from`, or `buf.len()`.
fn line_end(buf: &[u8], from: usize) -> usize {
    buf.get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        .map_or(buf.len(), |i| from + i + 1)
}

/// Bytes escaped for an error text, at most `max` input bytes.
pub(crate) fn escape_preview(bytes: &[u8], max: usize) -> String {
    let shown = bytes.get(..max).unwrap_or(bytes);
    let mut s: String = shown.escape_ascii().to_string();
    if shown.len() < bytes.len() {
        s.push('…');
    }
    s
}

#[derive(Clone, Copy)]
enum Kind {
    Request,
    Response,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Response => "response",
        }
    }
    fn shape(self) -> &'static str {
        match self {
            Kind::Request => "a request line 'METHOD SP target SP HTTP/1.x CRLF'",
            Kind::Response => "a status line 'HTTP/1.x SP status SP reason CRLF'",
        }
    }
    /// Whether a start line (possibly incomplete) looks like this kind of
    /// HTTP message, to tell "malformed HTTP" from "not HTTP".
    fn looks_like(self, line: &[u8]) -> bool {
        match self {
            Kind::Request => {
                let method_ok = line
                    .iter()
                    .take_while(|&&b| b != b' ')
                    .all(|b| b.is_ascii_alphabetic());
                method_ok && line.windows(6).any(|w| w == b" HTTP/")
            }
            Kind::Response => line.starts_with(b"HTTP/"),
        }
    }
}

/// Parses a request head (RFC 9112 §2.1, §3, §5).
pub fn parse_request_head(buf: &[u8], limits: &Limits) -> Parse<Head> {
    parse_head(buf, limits, Kind::Request)
}

/// Parses a response head (RFC 9112 §2.1, §4, §5).
pub fn parse_response_head(buf: &[u8], limits: &Limits) -> Parse<Head> {
    parse_head(buf, limits, Kind::Response)
}

fn parse_head(full: &[u8], limits: &Limits, kind: Kind) -> Parse<Head> {
    // Only the first `max_head_bytes` can ever form a head, so httparse never
    // looks further and a 10 MB header line costs one bounded scan.
    let buf = full.get(..limits.max_head_bytes).unwrap_or(full);
    let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let parsed = match kind {
        Kind::Request => {
            let mut req = httparse::Request::new(&mut slots);
            match req.parse(buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let method = req.method.unwrap_or_default();
                    let target = req.path.unwrap_or_default();
                    let version = req.version.unwrap_or_default();
                    let method_span = span_of(buf, method.as_bytes()).unwrap_or(0..0);
                    let target_span = span_of(buf, target.as_bytes()).unwrap_or(0..0);
                    // httparse demands exactly one SP before the 8-byte version.
                    let v0 = target_span.end.saturating_add(1).min(buf.len());
                    let version_span = v0..v0.saturating_add(8).min(buf.len());
                    let line = method_span.start..line_end(buf, target_span.end);
                    let start = StartLine::Request {
                        method: method.to_owned(),
                        target: target.to_owned(),
                        version,
                        method_span,
                        target_span,
                        version_span,
                    };
                    Ok((start, line, len, collect_headers(buf, req.headers)))
                }
                Ok(httparse::Status::Partial) => Err(None),
                Err(e) => Err(Some(e)),
            }
        }
        Kind::Response => {
            let mut resp = httparse::Response::new(&mut slots);
            match resp.parse(buf) {
                Ok(httparse::Status::Complete(len)) => {
                    // httparse skips leading empty lines before the status line.
                    let begin = buf
                        .iter()
                        .position(|&b| b != b'\r' && b != b'\n')
                        .unwrap_or(0);
                    let end = line_end(buf, begin);
                    let content_end = trim_eol(buf, begin, end);
                    let version_span = begin..begin.saturating_add(8).min(content_end);
                    let s0 = begin.saturating_add(9).min(content_end);
                    let status_span = s0..s0.saturating_add(3).min(content_end);
                    let reason = resp.reason.unwrap_or_default();
                    let reason_span = span_of(buf, reason.as_bytes())
                        .filter(|_| !reason.is_empty())
                        .unwrap_or(content_end..content_end);
                    let start = StartLine::Response {
                        version: resp.version.unwrap_or_default(),
                        status: resp.code.unwrap_or_default(),
                        reason: reason.to_owned(),
                        version_span,
                        status_span,
                        reason_span,
                    };
                    Ok((start, begin..end, len, collect_headers(buf, resp.headers)))
                }
                Ok(httparse::Status::Partial) => Err(None),
                Err(e) => Err(Some(e)),
            }
        }
    };
    match parsed {
        Ok((start, start_line_span, len, headers)) => Parse::Complete(Head {
            start,
            headers,
            len,
            start_line_span,
        }),
        Err(None) => {
            let first = first_line(buf);
            if !kind.looks_like(first) && !could_become(kind, first) {
                return Parse::Invalid(not_http(kind, buf));
            }
            if buf.len() >= limits.max_head_bytes {
                Parse::Invalid(HttpError::HeadTooLarge {
                    limit: limits.max_head_bytes,
                    seen: full.len(),
                })
            } else {
                Parse::Partial
            }
        }
        Err(Some(httparse::Error::TooManyHeaders)) => Parse::Invalid(HttpError::TooManyHeaders {
            limit: limits.max_headers,
        }),
        Err(Some(e)) => Parse::Invalid(classify_error(buf, kind, e)),
    }
}

/// Whether an incomplete first line could still grow into this kind's start
/// line (so `Partial` is the honest answer).
fn could_become(kind: Kind, line: &[u8]) -> bool {
    match kind {
        Kind::Request => true, // httparse already rejects non-token methods
        Kind::Response => b"HTTP/".starts_with(line.get(..5).unwrap_or(line)),
    }
}

fn first_line(buf: &[u8]) -> &[u8] {
    let begin = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let end = line_end(buf, begin);
    buf.get(begin..end).unwrap_or_default()
}

fn trim_eol(buf: &[u8], begin: usize, mut end: usize) -> usize {
    while end > begin && matches!(buf.get(end - 1), Some(b'\r' | b'\n')) {
        end -= 1;
    }
    end
}

fn not_http(kind: Kind, buf: &[u8]) -> HttpError {
    HttpError::NotHttp {
        expected: kind.noun(),
        shape: kind.shape(),
        found: escape_preview(buf, 24),
    }
}

/// Turns an httparse error into NotHttp or Malformed with the offending line.
fn classify_error(buf: &[u8], kind: Kind, e: httparse::Error) -> HttpError {
    let begin = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(0);
    let first_end = line_end(buf, begin);
    let first = buf.get(begin..first_end).unwrap_or_default();
    let start_line_bad = matches!(
        e,
        httparse::Error::Token | httparse::Error::Version | httparse::Error::Status
    ) || !first.ends_with(b"\n");
    if start_line_bad {
        if !kind.looks_like(first) {
            return not_http(kind, buf);
        }
        return HttpError::Malformed {
            kind: SyntaxKind::from_httparse(e),
            line_span: Some(begin..first_end),
        };
    }
    // A header line is at fault: find the first line httparse rejects alone.
    let mut at = first_end;
    let mut line_span = None;
    while at < buf.len() {
        let end = line_end(buf, at);
        let line = buf.get(at..end).unwrap_or_default();
        let mut probe = line.to_vec();
        if !probe.ends_with(b"\n") {
            probe.extend_from_slice(b"\r\n");
        }
        probe.extend_from_slice(b"\r\n");
        let mut one = [httparse::EMPTY_HEADER; 1];
        if httparse::parse_headers(&probe, &mut one).is_err() {
            line_span = Some(at..end);
            break;
        }
        at = end;
    }
    HttpError::Malformed {
        kind: SyntaxKind::from_httparse(e),
        line_span,
    }
}

fn collect_headers(buf: &[u8], raw: &[httparse::Header<'_>]) -> Vec<Header> {
    raw.iter()
        .map(|h| {
            let name_span = span_of(buf, h.name.as_bytes()).unwrap_or(0..0);
            let value_span = span_of(buf, h.value).unwrap_or(name_span.end..name_span.end);
            let line_span = name_span.start..line_end(buf, value_span.end.max(name_span.end));
            Header {
                name: h.name.to_owned(),
                value: String::from_utf8_lossy(h.value).into_owned(),
                raw_value: h.value.to_vec(),
                line_span,
                name_span,
                value_span,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Body framing (RFC 9112 §6)

/// How the body of a message is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body: the next message starts right after the head.
    None,
    /// Exactly this many bytes (`Content-Length`).
    Length(u64),
    /// The chunked transfer coding; see [`ChunkedDecoder`].
    Chunked,
    /// Everything until the connection closes.
    UntilClose,
}

/// Something odd about how a message declares its length; each is worth a
/// finding even though a length could still be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramingAnomaly {
    /// Both `Transfer-Encoding` and `Content-Length`: the former wins.
    TransferEncodingWithContentLength,
    /// `Content-Length` is not a decimal number, or has conflicting values.
    ContentLengthInvalid {
        /// The values as sent, joined.
        value: String,
    },
    /// `Content-Length` repeated with the same value (`42, 42`).
    ContentLengthRepeated {
        /// The values as sent, joined.
        value: String,
    },
    /// `Transfer-Encoding` whose final coding is not `chunked`.
    ChunkedNotFinal {
        /// The codings as sent.
        codings: String,
    },
    /// `Transfer-Encoding` in an HTTP/1.0 message.
    TransferEncodingInHttp10,
}

impl FramingAnomaly {
    /// The finding rule an anomaly is reported under. Every framing
    /// anomaly shares one published rule id, `http.length-and-chunked`
    /// (ids are never renamed); the message says which anomaly it is.
    pub fn rule(&self) -> &'static Rule {
        match self {
            FramingAnomaly::TransferEncodingWithContentLength
            | FramingAnomaly::ContentLengthInvalid { .. }
            | FramingAnomaly::ContentLengthRepeated { .. }
            | FramingAnomaly::ChunkedNotFinal { .. }
            | FramingAnomaly::TransferEncodingInHttp10 => &rules::HTTP_LENGTH_AND_CHUNKED,
        }
    }

    /// One sentence that teaches the rule and what was seen.
    pub fn message(&self) -> String {
        match self {
            FramingAnomaly::TransferEncodingWithContentLength => "the message has both Transfer-Encoding and Content-Length; Transfer-Encoding overrides, and a sender MUST NOT send both (a classic request-smuggling sign)".into(),
            FramingAnomaly::ContentLengthInvalid { value } => format!("Content-Length must be one decimal number, but is \"{value}\"; the recipient cannot know where the body ends"),
            FramingAnomaly::ContentLengthRepeated { value } => format!("Content-Length is repeated (\"{value}\"); the values agree, so a recipient may accept it, but one field is the rule"),
            FramingAnomaly::ChunkedNotFinal { codings } => format!("Transfer-Encoding \"{codings}\" does not end with chunked, so the body runs until the connection closes (a request like this MUST be refused)"),
            FramingAnomaly::TransferEncodingInHttp10 => "an HTTP/1.0 message carries Transfer-Encoding, which HTTP/1.0 lacks; the recipient MUST treat the framing as faulty and close after this message".into(),
        }
    }
}

/// The framing chosen for a message plus anything odd about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framing {
    /// How the body is delimited.
    pub framing: BodyFraming,
    /// Anomalies seen while deciding.
    pub anomalies: Vec<FramingAnomaly>,
}

/// The framing of a request body (RFC 9112 §6.3 items 3–7).
pub fn request_body_framing(head: &Head) -> Framing {
    body_framing(head, true)
}

/// The framing of a response body (RFC 9112 §6.3), given the method of the
/// request it answers (`HEAD` and `CONNECT` change the answer).
pub fn response_body_framing(head: &Head, request_method: Option<&str>) -> Framing {
    let status = head.status().unwrap_or(0);
    // §6.3 item 1: HEAD responses, 1xx (including 101), 204 and 304 end at
    // the empty line after the header section.
    let head_req = request_method.is_some_and(|m| m.eq_ignore_ascii_case("HEAD"));
    // §6.3 item 2: a 2xx answer to CONNECT turns the connection into a tunnel.
    let connect_ok = request_method.is_some_and(|m| m.eq_ignore_ascii_case("CONNECT"))
        && (200..300).contains(&status);
    if head_req || (100..200).contains(&status) || status == 204 || status == 304 || connect_ok {
        return Framing {
            framing: BodyFraming::None,
            anomalies: Vec::new(),
        };
    }
    body_framing(head, false)
}

fn body_framing(head: &Head, is_request: bool) -> Framing {
    let mut anomalies = Vec::new();
    let te = head.list("transfer-encoding");
    let cl_fields: Vec<&Header> = head.headers_all("content-length").collect();
    if !te.is_empty() {
        if !cl_fields.is_empty() {
            anomalies.push(FramingAnomaly::TransferEncodingWithContentLength);
        }
        if head.version() == 0 {
            anomalies.push(FramingAnomaly::TransferEncodingInHttp10);
        }
        let chunked_last = te.last().is_some_and(|c| c.eq_ignore_ascii_case("chunked"));
        if chunked_last {
            return Framing {
                framing: BodyFraming::Chunked,
                anomalies,
            };
        }
        anomalies.push(FramingAnomaly::ChunkedNotFinal {
            codings: te.join(", "),
        });
        return Framing {
            framing: BodyFraming::UntilClose,
            anomalies,
        };
    }
    if !cl_fields.is_empty() {
        let joined = cl_fields
            .iter()
            .map(|h| h.value.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let values: Vec<Option<u64>> = head
            .list("content-length")
            .iter()
            .map(|v| {
                // RFC 9110 §8.6: Content-Length = 1*DIGIT (no sign, no spaces).
                if v.bytes().all(|b| b.is_ascii_digit()) {
                    v.parse::<u64>().ok()
                } else {
                    None
                }
            })
            .collect();
        let first = values.first().copied().flatten();
        let all_same = values.iter().all(|v| v.is_some() && *v == first);
        return match first {
            Some(n) if all_same => {
                if values.len() > 1 {
                    anomalies.push(FramingAnomaly::ContentLengthRepeated { value: joined });
                }
                Framing {
                    framing: BodyFraming::Length(n),
                    anomalies,
                }
            }
            _ => {
                anomalies.push(FramingAnomaly::ContentLengthInvalid { value: joined });
                Framing {
                    framing: BodyFraming::UntilClose,
                    anomalies,
                }
            }
        };
    }
    Framing {
        // §6.3 item 6: a request without either has no body; item 8: a
        // response without either runs until close.
        framing: if is_request {
            BodyFraming::None
        } else {
            BodyFraming::UntilClose
        },
        anomalies,
    }
}

// ---------------------------------------------------------------------------
// Chunked transfer coding (RFC 9112 §7.1)

/// One chunk-size line seen by the decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkLine {
    /// The chunk size (0 for the last chunk).
    pub size: u64,
    /// Where the line ends in this `feed`'s input (exclusive, after the LF).
    pub end: usize,
    /// The line's full length, which may start in an earlier feed.
    pub len: usize,
    /// Whether the line carried `;extensions`.
    pub has_extensions: bool,
    /// Whether the line ended in a bare LF instead of CRLF (tolerated).
    pub bare_lf: bool,
}

/// What one [`ChunkedDecoder::feed`] call found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkedProgress {
    /// Input bytes used. Less than the input only when `done` (the rest
    /// belongs to the next message).
    pub consumed: usize,
    /// Sub-ranges of the input that are body bytes, in order.
    pub data: Vec<Range<usize>>,
    /// Chunk-size lines completed in this input.
    pub lines: Vec<ChunkLine>,
    /// The last chunk and the trailer section are complete.
    pub done: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ChunkState {
    SizeLine,
    Data { remaining: u64 },
    DataCr,
    DataLf,
    Trailer,
    Done,
    Failed(HttpError),
}

/// A push decoder for the chunked transfer coding that keeps its place across
/// TCP deliveries and never buffers chunk data (it reports where it lies).
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: ChunkState,
    line: Vec<u8>,
    max_line: usize,
    max_trailers: usize,
    trailers: Vec<Vec<u8>>,
    body_len: u64,
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    pub fn new(limits: &Limits) -> Self {
        ChunkedDecoder {
            state: ChunkState::SizeLine,
            line: Vec::new(),
            max_line: limits.max_chunk_line,
            max_trailers: limits.max_headers,
            trailers: Vec::new(),
            body_len: 0,
        }
    }

    /// Whether the body is complete.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Body bytes reported so far.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// Raw trailer lines (without line endings) seen so far.
    pub fn trailers(&self) -> &[Vec<u8>] {
        &self.trailers
    }

    /// Consumes as much of `input` as belongs to the chunked body.
    ///
    /// On a fault, the bytes decoded before it in the same input are still
    /// reported (`Ok`, with `consumed` stopping near the fault) and the next
    /// call returns the error; a call that decodes nothing before the fault
    /// returns the error at once. After an error every call returns it.
    pub fn feed(&mut self, input: &[u8]) -> Result<ChunkedProgress, HttpError> {
        if let ChunkState::Failed(e) = &self.state {
            return Err(e.clone());
        }
        let mut p = ChunkedProgress::default();
        let mut at = 0usize;
        let result = self.run(input, &mut p, &mut at);
        p.consumed = at;
        p.done = self.state == ChunkState::Done;
        match result {
            Ok(()) => Ok(p),
            Err(e) => {
                self.state = ChunkState::Failed(e.clone());
                if p.data.is_empty() && p.lines.is_empty() {
                    Err(e)
                } else {
                    Ok(p)
                }
            }
        }
    }

    fn run(
        &mut self,
        input: &[u8],
        p: &mut ChunkedProgress,
        at: &mut usize,
    ) -> Result<(), HttpError> {
        while *at < input.len() {
            let rest = input.get(*at..).unwrap_or_default();
            match &mut self.state {
                ChunkState::Failed(e) => return Err(e.clone()),
                ChunkState::Done => break,
                ChunkState::Data { remaining } => {
                    let take = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(rest.len());
                    p.data.push(*at..*at + take);
                    *at += take;
                    *remaining -= take as u64;
                    self.body_len = self.body_len.saturating_add(take as u64);
                    if *remaining == 0 {
                        self.state = ChunkState::DataCr;
                    }
                }
                ChunkState::DataCr | ChunkState::DataLf => {
                    let b = rest.first().copied().unwrap_or_default();
                    let expect_cr = self.state == ChunkState::DataCr;
                    match (expect_cr, b) {
                        (true, b'\r') => self.state = ChunkState::DataLf,
                        // A bare LF is tolerated, as most implementations do.
                        (_, b'\n') => self.state = ChunkState::SizeLine,
                        _ => {
                            return Err(HttpError::ChunkDataEnd {
                                found: escape_preview(rest, 8),
                            });
                        }
                    }
                    *at += 1;
                }
                ChunkState::SizeLine | ChunkState::Trailer => {
                    let nl = rest.iter().position(|&b| b == b'\n');
                    let piece = match nl {
                        Some(i) => rest.get(..=i).unwrap_or(rest),
                        None => rest,
                    };
                    if self.line.len().saturating_add(piece.len()) > self.max_line {
                        return Err(HttpError::ChunkLineTooLong {
                            limit: self.max_line,
                        });
                    }
                    self.line.extend_from_slice(piece);
                    *at += piece.len();
                    if nl.is_none() {
                        continue;
                    }
                    let line = std::mem::take(&mut self.line);
                    if self.state == ChunkState::SizeLine {
                        match parse_size_line(&line) {
                            Ok((size, has_extensions, bare_lf)) => {
                                p.lines.push(ChunkLine {
                                    size,
                                    end: *at,
                                    len: line.len(),
                                    has_extensions,
                                    bare_lf,
                                });
                                self.state = if size == 0 {
                                    ChunkState::Trailer
                                } else {
                                    ChunkState::Data { remaining: size }
                                };
                            }
                            Err(e) => return Err(e),
                        }
                    } else {
                        let content = line
                            .strip_suffix(b"\n")
                            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                            .unwrap_or(&line);
                        if content.is_empty() {
                            self.state = ChunkState::Done;
                        } else if self.trailers.len() >= self.max_trailers {
                            return Err(HttpError::TooManyTrailers {
                                limit: self.max_trailers,
                            });
                        } else {
                            self.trailers.push(content.to_vec());
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Parses one complete chunk-size line (ending in LF) with httparse.
fn parse_size_line(line: &[u8]) -> Result<(u64, bool, bool), HttpError> {
    let bad = || HttpError::ChunkSize {
        line: escape_preview(line, 40),
    };
    // httparse accepts a line with no digits as size 0; RFC 9112 §7.1 needs
    // 1*HEXDIG.
    if !line.first().is_some_and(u8::is_ascii_hexdigit) {
        return Err(bad());
    }
    let bare_lf = !line.ends_with(b"\r\n");
    let mut normalised;
    let text = if bare_lf {
        normalised = line.strip_suffix(b"\n").unwrap_or(line).to_vec();
        normalised.extend_from_slice(b"\r\n");
        &normalised[..]
    } else {
        line
    };
    match httparse::parse_chunk_size(text) {
        Ok(httparse::Status::Complete((_, size))) => Ok((size, line.contains(&b';'), bare_lf)),
        _ => Err(bad()),
    }
}

// ---------------------------------------------------------------------------
// Content codings (RFC 9110 §8.4.1)

/// A decoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The decoded bytes, at most `cap` of them.
    pub data: Vec<u8>,
    /// Output stopped at `cap` while more would have followed.
    pub truncated: bool,
    /// `deflate` was raw DEFLATE without the zlib wrapper RFC 9110 asks for
    /// (decoded anyway, as browsers do).
    pub raw_deflate: bool,
}

/// Decodes a body with one content coding (`gzip`, `x-gzip`, `deflate`,
/// `identity`), producing at most `cap` bytes however large the input
/// would inflate. For a list like `Content-Encoding: deflate, gzip`, undo
/// the codings last to first.
pub fn decode_content(coding: &str, body: &[u8], cap: usize) -> Result<Decoded, HttpError> {
    let name = coding.trim_matches([' ', '\t']).to_ascii_lowercase();
    match name.as_str() {
        "identity" => {
            let data = body.get(..cap).unwrap_or(body).to_vec();
            Ok(Decoded {
                truncated: data.len() < body.len(),
                data,
                raw_deflate: false,
            })
        }
        "gzip" | "x-gzip" => {
            let mut data = Vec::new();
            // Reading one byte past the cap tells "exactly cap" from "more".
            let limit = (cap as u64).saturating_add(1);
            let mut reader = flate2::read::GzDecoder::new(body).take(limit);
            match reader.read_to_end(&mut data) {
                Ok(_) => {
                    let truncated = data.len() > cap;
                    data.truncate(cap);
                    Ok(Decoded {
                        data,
                        truncated,
                        raw_deflate: false,
                    })
                }
                Err(e) => {
                    data.truncate(cap);
                    Err(HttpError::CorruptContent {
                        coding: name,
                        message: e.to_string(),
                        partial: data,
                    })
                }
            }
        }
        "deflate" => {
            // RFC 9110 §8.4.1.2: "deflate" is a zlib stream (RFC 1950). Some
            // servers send raw DEFLATE; browsers sniff the 2-byte zlib header
            // (CM = 8, header checksum divisible by 31) and fall back.
            let zlib = match body {
                [cmf, flg, ..] => {
                    (cmf & 0x0f) == 8 && ((u16::from(*cmf) << 8) | u16::from(*flg)) % 31 == 0
                }
                _ => false,
            };
            let mut d = Decompress::new(zlib);
            let mut data = Vec::new();
            match inflate_capped(&mut d, body, &mut data, cap) {
                Ok(out) => Ok(Decoded {
                    data,
                    truncated: out.truncated,
                    raw_deflate: !zlib,
                }),
                Err(message) => Err(HttpError::CorruptContent {
                    coding: name,
                    message,
                    partial: data,
                }),
            }
        }
        _ => Err(HttpError::UnsupportedCoding {
            coding: coding.to_owned(),
        }),
    }
}

/// How a capped inflate call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CappedInflate {
    /// More output was pending when `cap` was reached.
    pub truncated: bool,
    /// The DEFLATE stream signalled its end (final block done).
    pub stream_end: bool,
}

/// Inflates `input` into `out` (appending) until the input is used up, the
/// stream ends, or `out` holds `cap` bytes. Memory is bounded by `cap` plus
/// one fixed scratch buffer, whatever the compression ratio.
pub(crate) fn inflate_capped(
    d: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    cap: usize,
) -> Result<CappedInflate, String> {
    let mut scratch = [0u8; 16 * 1024];
    let in_base = d.total_in();
    loop {
        let used = usize::try_from(d.total_in().saturating_sub(in_base)).unwrap_or(usize::MAX);
        let rest = input.get(used..).unwrap_or_default();
        let room = cap.saturating_sub(out.len());
        if room == 0 {
            // Probe one more byte to tell "exactly cap" from "more pending".
            let mut probe = [0u8; 1];
            let before = d.total_out();
            let status = d.decompress(rest, &mut probe, FlushDecompress::Sync);
            let more = d.total_out() > before;
            return Ok(CappedInflate {
                truncated: more,
                stream_end: !more && matches!(status, Ok(Status::StreamEnd)),
            });
        }
        let window = scratch.len().min(room);
        let buf = scratch.get_mut(..window).unwrap_or_default();
        let (before_in, before_out) = (d.total_in(), d.total_out());
        let status = d
            .decompress(rest, buf, FlushDecompress::Sync)
            .map_err(|e| e.to_string())?;
        let produced = usize::try_from(d.total_out().saturating_sub(before_out)).unwrap_or(0);
        out.extend_from_slice(buf.get(..produced).unwrap_or_default());
        match status {
            Status::StreamEnd => {
                return Ok(CappedInflate {
                    truncated: false,
                    stream_end: true,
                });
            }
            Status::Ok | Status::BufError => {
                let progressed = d.total_in() != before_in || produced != 0;
                let input_done = d.total_in().saturating_sub(in_base) >= input.len() as u64;
                // Stop when nothing moves, or the input is used up and the
                // output window was not filled (nothing more is buffered).
                if !progressed || (input_done && produced < window) {
                    return Ok(CappedInflate {
                        truncated: false,
                        stream_end: false,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn req(text: &str) -> Head {
        match parse_request_head(text.as_bytes(), &Limits::default()) {
            Parse::Complete(h) => h,
            other => panic!("expected a complete head, got {other:?}"),
        }
    }

    fn resp(text: &str) -> Head {
        match parse_response_head(text.as_bytes(), &Limits::default()) {
            Parse::Complete(h) => h,
            other => panic!("expected a complete head, got {other:?}"),
        }
    }

    // RFC 6455 §1.2 handshake request.
    const RFC_REQ: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn request_head_fields_and_spans() {
        let buf = RFC_REQ.as_bytes();
        let h = req(RFC_REQ);
        assert_eq!(h.len, buf.len());
        let StartLine::Request {
            method,
            target,
            version,
            method_span,
            target_span,
            version_span,
        } = &h.start
        else {
            panic!("not a request");
        };
        assert_eq!(
            (method.as_str(), target.as_str(), *version),
            ("GET", "/chat", 1)
        );
        assert_eq!(&buf[method_span.clone()], b"GET");
        assert_eq!(&buf[target_span.clone()], b"/chat");
        assert_eq!(&buf[version_span.clone()], b"HTTP/1.1");
        assert_eq!(&buf[h.start_line_span.clone()], b"GET /chat HTTP/1.1\r\n");
        assert_eq!(h.headers.len(), 7);
        let host = h.header("HOST").unwrap();
        assert_eq!(&buf[host.name_span.clone()], b"Host");
        assert_eq!(&buf[host.value_span.clone()], b"server.example.com");
        assert_eq!(
            &buf[host.line_span.clone()],
            b"Host: server.example.com\r\n"
        );
        assert!(h.has_token("connection", "UPGRADE"));
        assert_eq!(h.list("sec-websocket-protocol"), vec!["chat", "superchat"]);
    }

    #[test]
    fn response_head_fields_and_spans() {
        let text = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x01\x05Hello";
        let buf = text.as_bytes();
        let h = resp(text);
        assert_eq!(
            h.len,
            buf.len() - 7,
            "frames after the head are not part of it"
        );
        let StartLine::Response {
            version,
            status,
            reason,
            version_span,
            status_span,
            reason_span,
        } = &h.start
        else {
            panic!("not a response");
        };
        assert_eq!(
            (*version, *status, reason.as_str()),
            (1, 101, "Switching Protocols")
        );
        assert_eq!(&buf[version_span.clone()], b"HTTP/1.1");
        assert_eq!(&buf[status_span.clone()], b"101");
        assert_eq!(&buf[reason_span.clone()], b"Switching Protocols");
        assert_eq!(
            &buf[h.start_line_span.clone()],
            b"HTTP/1.1 101 Switching Protocols\r\n"
        );
    }

    #[test]
    fn response_without_reason_and_empty_value() {
        let text = "HTTP/1.0 204\r\nX-Empty:\r\n\r\n";
        let buf = text.as_bytes();
        let h = resp(text);
        let StartLine::Response {
            reason,
            reason_span,
            ..
        } = &h.start
        else {
            panic!()
        };
        assert_eq!(reason, "");
        assert!(reason_span.is_empty());
        let e = h.header("x-empty").unwrap();
        assert_eq!(e.value, "");
        assert_eq!(&buf[e.line_span.clone()], b"X-Empty:\r\n");
    }

    #[test]
    fn partial_until_terminated() {
        let l = Limits::default();
        for cut in 0..RFC_REQ.len() {
            assert_eq!(
                parse_request_head(&RFC_REQ.as_bytes()[..cut], &l),
                Parse::Partial,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn head_too_large_is_rejected_at_the_limit() {
        let l = Limits {
            max_head_bytes: 1024,
            ..Limits::default()
        };
        let mut big = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
        big.resize(10 * 1024 * 1024, b'a');
        assert!(matches!(
            parse_request_head(&big, &l),
            Parse::Invalid(HttpError::HeadTooLarge { limit: 1024, .. })
        ));
        // Below the limit it is still only Partial.
        assert_eq!(parse_request_head(&big[..1000], &l), Parse::Partial);
    }

    #[test]
    fn too_many_headers() {
        let l = Limits {
            max_headers: 2,
            ..Limits::default()
        };
        let text = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        match parse_request_head(text, &l) {
            Parse::Invalid(e @ HttpError::TooManyHeaders { limit: 2 }) => {
                assert!(e.to_string().contains("more than 2 header fields"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn not_http() {
        let l = Limits::default();
        // A TLS ClientHello (synthetic prefix).
        let tls = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01];
        assert!(matches!(
            parse_request_head(&tls, &l),
            Parse::Invalid(HttpError::NotHttp {
                expected: "request",
                ..
            })
        ));
        assert!(matches!(
            parse_response_head(b"SSH-2.0-OpenSSH\r\n", &l),
            Parse::Invalid(HttpError::NotHttp {
                expected: "response",
                ..
            })
        ));
        assert!(matches!(
            parse_response_head(b"XTTP", &l),
            Parse::Invalid(HttpError::NotHttp { .. })
        ));
        assert_eq!(parse_response_head(b"HTT", &l), Parse::Partial);
    }

    #[test]
    fn malformed_header_line_is_located() {
        let text = b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n";
        match parse_request_head(text, &Limits::default()) {
            Parse::Invalid(HttpError::Malformed {
                kind: SyntaxKind::HeaderName,
                line_span: Some(span),
            }) => assert_eq!(&text[span], b"Bad Name: x\r\n"),
            other => panic!("{other:?}"),
        }
        let text = b"GET / HTTP/2.0\r\n\r\n";
        match parse_request_head(text, &Limits::default()) {
            Parse::Invalid(HttpError::Malformed {
                kind: SyntaxKind::Version,
                line_span: Some(span),
            }) => assert_eq!(&text[span], b"GET / HTTP/2.0\r\n"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn syntax_kinds() {
        let cases: [(&[u8], SyntaxKind, &[u8]); 4] = [
            (
                b"GET /a\x7fb HTTP/1.1\r\n\r\n",
                SyntaxKind::Token,
                b"GET /a\x7fb HTTP/1.1\r\n",
            ),
            (
                b"GET / HTTP/1.1\r\nA: b\x01c\r\n\r\n",
                SyntaxKind::HeaderValue,
                b"A: b\x01c\r\n",
            ),
            (
                b"GET / HTTP/1.1\r\nA: b\r\n\rX",
                SyntaxKind::NewLine,
                b"\rX",
            ),
            (
                b"GET / HTTP/1.1\r\nA: b\r\nC\r\n\r\n",
                SyntaxKind::HeaderName,
                b"C\r\n",
            ),
        ];
        for (text, kind, line) in cases {
            match parse_request_head(text, &Limits::default()) {
                Parse::Invalid(e @ HttpError::Malformed { .. }) => {
                    let HttpError::Malformed { kind: k, line_span } = &e else {
                        unreachable!()
                    };
                    assert_eq!(*k, kind, "{}", text.escape_ascii());
                    assert_eq!(&text[line_span.clone().unwrap()], line);
                    assert!(e.to_string().starts_with("malformed HTTP head: "));
                }
                other => panic!("{}: {other:?}", text.escape_ascii()),
            }
        }
        match parse_response_head(b"HTTP/1.1 2x0 OK\r\n\r\n", &Limits::default()) {
            Parse::Invalid(HttpError::Malformed {
                kind: SyntaxKind::Status,
                line_span,
            }) => {
                assert_eq!(line_span, Some(0..17));
            }
            other => panic!("{other:?}"),
        }
    }

    fn framing_of(text: &str, method: Option<&str>) -> Framing {
        response_body_framing(&resp(text), method)
    }

    #[test]
    fn response_framing_rules() {
        use BodyFraming::*;
        let f = |t: &str| framing_of(t, Some("GET")).framing;
        assert_eq!(f("HTTP/1.1 101 Switching Protocols\r\n\r\n"), None);
        assert_eq!(
            f("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"),
            None
        );
        assert_eq!(f("HTTP/1.1 304 Not Modified\r\n\r\n"), None);
        assert_eq!(f("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), Length(5));
        assert_eq!(f("HTTP/1.1 200 OK\r\n\r\n"), UntilClose);
        assert_eq!(
            f("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Chunked
        );
        assert_eq!(
            framing_of("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", Some("HEAD")).framing,
            None
        );
        assert_eq!(
            framing_of("HTTP/1.1 200 OK\r\n\r\n", Some("CONNECT")).framing,
            None
        );
    }

    #[test]
    fn framing_anomalies() {
        let f = framing_of(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            None,
        );
        assert_eq!(f.framing, BodyFraming::Chunked);
        assert_eq!(
            f.anomalies,
            vec![FramingAnomaly::TransferEncodingWithContentLength]
        );
        let f = framing_of("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n", None);
        assert_eq!(f.framing, BodyFraming::UntilClose);
        assert!(matches!(
            f.anomalies[..],
            [FramingAnomaly::ContentLengthInvalid { .. }]
        ));
        let f = framing_of("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", None);
        assert!(matches!(
            f.anomalies[..],
            [FramingAnomaly::ContentLengthInvalid { .. }]
        ));
        let f = framing_of(
            "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n",
            None,
        );
        assert_eq!(f.framing, BodyFraming::Length(7));
        assert!(matches!(
            f.anomalies[..],
            [FramingAnomaly::ContentLengthRepeated { .. }]
        ));
        let f = framing_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", None);
        assert_eq!(f.framing, BodyFraming::UntilClose);
        assert!(matches!(
            f.anomalies[..],
            [FramingAnomaly::ChunkedNotFinal { .. }]
        ));
        let f = framing_of(
            "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            None,
        );
        assert_eq!(f.anomalies, vec![FramingAnomaly::TransferEncodingInHttp10]);
        for a in &f.anomalies {
            assert_eq!(a.rule().id, "http.length-and-chunked");
            assert!(!a.message().is_empty());
        }
    }

    #[test]
    fn request_framing() {
        assert_eq!(
            request_body_framing(&req("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).framing,
            BodyFraming::None
        );
        assert_eq!(
            request_body_framing(&req("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n")).framing,
            BodyFraming::Length(12)
        );
        assert_eq!(
            request_body_framing(&req(
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            ))
            .framing,
            BodyFraming::Chunked
        );
    }

    // Synthetic chunked body (the shape of RFC 9112 §7.1's grammar).
    const CHUNKED: &[u8] = b"4\r\nWiki\r\n5;name=val\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\nNEXT";

    fn collect(dec: &mut ChunkedDecoder, input: &[u8]) -> (Vec<u8>, usize, bool) {
        let p = dec.feed(input).unwrap();
        let mut out = Vec::new();
        for r in &p.data {
            out.extend_from_slice(&input[r.clone()]);
        }
        (out, p.consumed, p.done)
    }

    #[test]
    fn chunked_whole() {
        let mut d = ChunkedDecoder::new(&Limits::default());
        let p = d.feed(CHUNKED).unwrap();
        assert!(p.done);
        assert_eq!(&CHUNKED[p.consumed..], b"NEXT");
        let (out, _, _) = collect(&mut ChunkedDecoder::new(&Limits::default()), CHUNKED);
        assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(p.lines.len(), 4);
        assert_eq!(p.lines[1].size, 5);
        assert!(p.lines[1].has_extensions);
        assert_eq!(
            &CHUNKED[p.lines[1].end - p.lines[1].len..p.lines[1].end],
            b"5;name=val\r\n"
        );
        assert_eq!(d.trailers(), &[b"Expires: never".to_vec()]);
        assert_eq!(d.body_len(), 23);
    }

    #[test]
    fn chunked_bytewise() {
        let mut d = ChunkedDecoder::new(&Limits::default());
        let mut out = Vec::new();
        let mut done_at = None;
        for (i, b) in CHUNKED.iter().enumerate() {
            let (o, consumed, done) = collect(&mut d, std::slice::from_ref(b));
            out.extend(o);
            if done {
                done_at.get_or_insert(i);
                if consumed == 0 {
                    break;
                }
            }
        }
        assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(done_at, Some(CHUNKED.len() - 5));
    }

    #[test]
    fn chunked_errors() {
        let l = Limits {
            max_chunk_line: 16,
            max_headers: 1,
            ..Limits::default()
        };
        let e = ChunkedDecoder::new(&l).feed(b"zz\r\n").unwrap_err();
        assert!(matches!(e, HttpError::ChunkSize { .. }));
        // 17 hex digits overflow u64: an error, not a panic.
        let e = ChunkedDecoder::new(&Limits::default())
            .feed(b"fffffffffffffffff\r\n")
            .unwrap_err();
        assert!(matches!(e, HttpError::ChunkSize { .. }));
        let e = ChunkedDecoder::new(&l).feed(b"\r\n").unwrap_err();
        assert!(matches!(e, HttpError::ChunkSize { .. }));
        let e = ChunkedDecoder::new(&l).feed(&[b'1'; 64]).unwrap_err();
        assert!(matches!(e, HttpError::ChunkLineTooLong { limit: 16 }));
        // Data before the fault is still reported; the error comes next.
        let mut d = ChunkedDecoder::new(&l);
        let p = d.feed(b"2\r\nabXY").unwrap();
        assert_eq!((p.data.len(), p.consumed, p.done), (1, 5, false));
        assert_eq!(p.data[0], 3..5);
        let e = d.feed(b"XY").unwrap_err();
        assert!(matches!(e, HttpError::ChunkDataEnd { .. }));
        assert_eq!(d.feed(b"more").unwrap_err(), e, "errors are sticky");
        let mut d = ChunkedDecoder::new(&l);
        assert!(d.feed(b"0\r\nA: 1\r\nB: 2\r\n\r\n").is_ok());
        assert!(matches!(
            d.feed(b"\r\n").unwrap_err(),
            HttpError::TooManyTrailers { limit: 1 }
        ));
    }

    #[test]
    fn chunked_huge_size_does_not_allocate() {
        let mut d = ChunkedDecoder::new(&Limits::default());
        let p = d.feed(b"fffffffffffffff\r\nabc").unwrap();
        assert_eq!(p.data.len(), 1);
        assert_eq!(p.data[0], 17..20);
        assert!(!p.done);
    }

    #[test]
    fn chunked_bare_lf_tolerated() {
        let mut d = ChunkedDecoder::new(&Limits::default());
        let p = d.feed(b"3\nabc\n0\n\n").unwrap();
        assert!(p.done);
        assert!(p.lines.iter().all(|l| l.bare_lf));
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8], wrapped: bool) -> Vec<u8> {
        use std::io::Write;
        if wrapped {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        } else {
            let mut e =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
    }

    #[test]
    fn decode_codings() {
        let text = b"4{\"sid\":\"abc\"}".repeat(100);
        for coding in ["gzip", "x-gzip", " GZIP "] {
            let d = decode_content(coding, &gzip(&text), 1 << 20).unwrap();
            assert_eq!(d.data, text);
            assert!(!d.truncated);
        }
        let d = decode_content("deflate", &zlib(&text, true), 1 << 20).unwrap();
        assert_eq!((d.data == text, d.raw_deflate), (true, false));
        let d = decode_content("deflate", &zlib(&text, false), 1 << 20).unwrap();
        assert_eq!((d.data == text, d.raw_deflate), (true, true));
        let d = decode_content("identity", b"abc", 2).unwrap();
        assert_eq!((d.data.as_slice(), d.truncated), (&b"ab"[..], true));
        assert!(matches!(
            decode_content("br", b"", 10),
            Err(HttpError::UnsupportedCoding { .. })
        ));
    }

    #[test]
    fn decode_caps_output() {
        let zeros = vec![0u8; 10 << 20];
        let bomb = gzip(&zeros);
        assert!(bomb.len() < 64 * 1024);
        let d = decode_content("gzip", &bomb, 1 << 20).unwrap();
        assert_eq!(d.data.len(), 1 << 20);
        assert!(d.truncated);
        let d = decode_content("deflate", &zlib(&zeros, true), 1000).unwrap();
        assert_eq!(d.data.len(), 1000);
        assert!(d.truncated);
        // Exactly at the cap is not truncation.
        let d = decode_content("gzip", &gzip(b"12345"), 5).unwrap();
        assert_eq!((d.data.len(), d.truncated), (5, false));
        let d = decode_content("deflate", &zlib(b"12345", true), 5).unwrap();
        assert_eq!((d.data.len(), d.truncated), (5, false));
    }

    #[test]
    fn decode_corrupt_keeps_partial() {
        let text = b"hello world, hello world".repeat(50);
        let mut g = gzip(&text);
        let n = g.len();
        g.truncate(n - 12); // cut into the stream and drop the trailer
        match decode_content("gzip", &g, 1 << 20) {
            Err(HttpError::CorruptContent { partial, .. }) => {
                assert!(text.starts_with(&partial))
            }
            Ok(d) => panic!("expected corruption, got {} bytes", d.data.len()),
            Err(e) => panic!("{e}"),
        }
        assert!(matches!(
            decode_content("deflate", b"\x78\x9c\xff\xff\xff", 100),
            Err(HttpError::CorruptContent { .. })
        ));
    }

    proptest! {
        #[test]
        fn heads_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..512)) {
            let l = Limits { max_head_bytes: 256, max_headers: 4, ..Limits::default() };
            let _ = parse_request_head(&buf, &l);
            let _ = parse_response_head(&buf, &l);
        }

        #[test]
        fn heads_from_text_never_panic(s in "[A-Z]{0,4}( /[a-z?=&]{0,8})?( HTTP/1\\.[01])?(\r?\n[A-Za-z-]{0,6}:?[ \t]?[ -~]{0,10}){0,5}(\r\n)?(\r\n)?") {
            let l = Limits { max_headers: 3, ..Limits::default() };
            if let Parse::Complete(h) = parse_request_head(s.as_bytes(), &l) {
                prop_assert!(h.len <= s.len());
                for hd in &h.headers {
                    prop_assert!(hd.line_span.end <= h.len);
                    prop_assert_eq!(&s.as_bytes()[hd.name_span.clone()], hd.name.as_bytes());
                    prop_assert_eq!(&s.as_bytes()[hd.value_span.clone()], &hd.raw_value[..]);
                }
            }
        }

        #[test]
        fn response_spans_stay_in_bounds(s in r"\r?\n?HTTP/1\.[01] [0-9]{3}( [ -~]{0,10})?\r?\n([A-Za-z-]{1,6}:[ \t]?[ -~]{0,10}\r?\n){0,4}\r?\n[ -~]{0,4}") {
            let buf = s.as_bytes();
            match parse_response_head(buf, &Limits::default()) {
                Parse::Complete(h) => {
                    prop_assert!(h.len <= buf.len());
                    let StartLine::Response { version_span, status_span, reason_span, status, reason, .. } = &h.start else {
                        return Err(TestCaseError::fail("not a response"));
                    };
                    prop_assert!(buf[version_span.clone()].starts_with(b"HTTP/1."));
                    let digits = format!("{status:03}");
                    prop_assert_eq!(&buf[status_span.clone()], digits.as_bytes());
                    prop_assert_eq!(&buf[reason_span.clone()], reason.as_bytes());
                    prop_assert!(h.start_line_span.end <= h.len);
                    for hd in &h.headers {
                        prop_assert!(hd.line_span.start >= h.start_line_span.end);
                        prop_assert!(hd.line_span.end <= h.len);
                        prop_assert_eq!(&buf[hd.value_span.clone()], &hd.raw_value[..]);
                    }
                }
                Parse::Partial => {}
                Parse::Invalid(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }

        #[test]
        fn chunked_pieces_equal_whole(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..6),
            cuts in proptest::collection::vec(0usize..400, 0..8),
        ) {
            let mut wire = Vec::new();
            let mut body = Vec::new();
            for c in chunks.iter().filter(|c| !c.is_empty()) {
                wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                wire.extend_from_slice(c);
                wire.extend_from_slice(b"\r\n");
                body.extend_from_slice(c);
            }
            wire.extend_from_slice(b"0\r\n\r\n");
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (wire.len() + 1)).collect();
            cuts.sort_unstable();
            let mut d = ChunkedDecoder::new(&Limits::default());
            let mut out = Vec::new();
            let mut prev = 0;
            let mut done = false;
            for end in cuts.into_iter().chain([wire.len()]) {
                let piece = &wire[prev..end];
                let p = d.feed(piece).unwrap();
                prop_assert_eq!(p.consumed, piece.len());
                for r in p.data { out.extend_from_slice(&piece[r]); }
                done = p.done;
                prev = end;
            }
            prop_assert!(done);
            prop_assert_eq!(out, body);
        }

        #[test]
        fn chunked_pieces_equal_whole_on_any_bytes(
            wire in proptest::collection::vec(prop_oneof![
                Just(b'\r'), Just(b'\n'), Just(b'0'), Just(b'3'), Just(b'a'), Just(b';'), any::<u8>()
            ], 0..80),
            cuts in proptest::collection::vec(0usize..80, 0..8),
        ) {
            let l = Limits { max_chunk_line: 32, max_headers: 2, ..Limits::default() };
            // Feeds pieces the way a caller would: unconsumed bytes are kept
            // and offered again with the next delivery.
            let run = |cuts: &[usize]| {
                let mut d = ChunkedDecoder::new(&l);
                let mut out = Vec::new();
                let mut pending: Vec<u8> = Vec::new();
                let mut prev = 0;
                let mut outcome = "partial";
                for &end in cuts.iter().chain([wire.len()].iter()) {
                    pending.extend_from_slice(&wire[prev..end]);
                    prev = end;
                    match d.feed(&pending) {
                        Ok(p) => {
                            assert!(p.consumed <= pending.len());
                            for r in &p.data { out.extend_from_slice(&pending[r.clone()]); }
                            pending.drain(..p.consumed);
                            if p.done { outcome = "done"; break; }
                        }
                        Err(_) => { outcome = "error"; break; }
                    }
                }
                if outcome == "partial" && d.feed(&pending).is_err() {
                    outcome = "error";
                }
                (out, outcome)
            };
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (wire.len() + 1)).collect();
            cuts.sort_unstable();
            let (whole, whole_outcome) = run(&[]);
            let (pieces, pieces_outcome) = run(&cuts);
            prop_assert_eq!(whole_outcome, pieces_outcome);
            prop_assert_eq!(whole, pieces);
        }

        #[test]
        fn decode_never_panics(body in proptest::collection::vec(any::<u8>(), 0..256), cap in 0usize..1024) {
            for c in ["gzip", "deflate", "identity", "br"] {
                if let Ok(d) = decode_content(c, &body, cap) {
                    prop_assert!(d.data.len() <= cap);
                }
            }
        }
    }
}
