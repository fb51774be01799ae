//! The opening handshake (RFC 6455 §4): an HTTP/1.1 Upgrade request and
//! its `101 Switching Protocols` answer.
//!
//! [`check_request`] applies the client requirements of §4.1 (which the
//! server re-checks in §4.2.1); [`check_response`] applies the checks a
//! client makes of the server's answer (§4.1, "If the server's response is
//! not valid…", mirroring the server's duties in §4.2.2). Each returns the
//! facts it read plus a list of problems; no problem stops the checks.
//!
//! [`derive_accept`] shows every stage of the `Sec-WebSocket-Accept`
//! computation (§1.3, §4.2.2 item 5.4), so a student can follow it by hand:
//! trimmed key, concatenation with the GUID, SHA-1 digest, base64.

use base64::prelude::{BASE64_STANDARD, Engine as _};
use sha1::{Digest, Sha1};

use super::extensions::{
    DeflateParamProblem, DeflateParams, Extension, ExtensionSyntaxProblem, PERMESSAGE_DEFLATE,
    Side, parse_extensions,
};
use crate::proto::http::Head;
use crate::rules::{self, Rule};

/// The GUID appended to the key (§1.3).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Every stage of computing `Sec-WebSocket-Accept` from a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptDerivation {
    /// The key with leading and trailing whitespace removed.
    pub key_trimmed: String,
    /// `key_trimmed` followed by [`GUID`].
    pub concatenated: String,
    /// SHA-1 of `concatenated`.
    pub sha1: [u8; 20],
    /// base64 of `sha1`: the value the server must send.
    pub expected: String,
}

impl AcceptDerivation {
    /// The digest as lowercase hex, as a student would print it.
    pub fn sha1_hex(&self) -> String {
        hex::encode(self.sha1)
    }
}

/// Computes the expected `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`
/// value. The key is used as text, not base64-decoded (§4.2.2).
pub fn derive_accept(key_header_value: &str) -> AcceptDerivation {
    let key_trimmed = key_header_value.trim_matches([' ', '\t']).to_owned();
    let concatenated = format!("{key_trimmed}{GUID}");
    let sha1: [u8; 20] = Sha1::digest(concatenated.as_bytes()).into();
    AcceptDerivation {
        expected: BASE64_STANDARD.encode(sha1),
        key_trimmed,
        concatenated,
        sha1,
    }
}

/// A rule the client's request breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestProblem {
    /// The head is a response, not a request.
    NotARequest,
    /// The method is not GET.
    WrongMethod {
        /// The method sent.
        method: String,
    },
    /// HTTP/1.0 (the minor version sent).
    HttpVersionTooOld {
        /// The minor version (0).
        version: u8,
    },
    /// No `Host` header.
    HostMissing,
    /// `Upgrade` missing or without the `websocket` keyword.
    UpgradeHeader {
        /// The value sent, if any.
        found: Option<String>,
    },
    /// `Connection` missing or without the `Upgrade` token.
    ConnectionHeader {
        /// The value sent, if any.
        found: Option<String>,
    },
    /// No `Sec-WebSocket-Key`.
    KeyMissing,
    /// `Sec-WebSocket-Key` sent more than once.
    KeyRepeated {
        /// How many times.
        count: usize,
    },
    /// The key is not base64 of exactly 16 bytes.
    KeyInvalid {
        /// The key as sent (trimmed).
        key: String,
        /// Its decoded length, or `None` if it is not valid base64.
        decoded_len: Option<usize>,
    },
    /// No `Sec-WebSocket-Version`.
    VersionMissing,
    /// `Sec-WebSocket-Version` is not 13.
    VersionNot13 {
        /// The value sent.
        value: String,
    },
    /// `Sec-WebSocket-Extensions` does not follow the grammar.
    ExtensionSyntax(ExtensionSyntaxProblem),
    /// A permessage-deflate offer with bad parameters (the server MUST
    /// decline it).
    DeflateOffer(DeflateParamProblem),
}

impl RequestProblem {
    /// The finding rule this problem breaks: the one place a request
    /// problem meets the rule registry ([`crate::rules`]).
    pub fn rule(&self) -> &'static Rule {
        match self {
            RequestProblem::NotARequest | RequestProblem::WrongMethod { .. } => {
                &rules::HANDSHAKE_METHOD
            }
            RequestProblem::HttpVersionTooOld { .. } => &rules::HANDSHAKE_HTTP_VERSION,
            RequestProblem::HostMissing => &rules::HANDSHAKE_HOST_MISSING,
            RequestProblem::UpgradeHeader { .. } => &rules::HANDSHAKE_UPGRADE_HEADER,
            RequestProblem::ConnectionHeader { .. } => &rules::HANDSHAKE_CONNECTION_HEADER,
            RequestProblem::KeyMissing
            | RequestProblem::KeyRepeated { .. }
            | RequestProblem::KeyInvalid { .. } => &rules::HANDSHAKE_KEY_INVALID,
            RequestProblem::VersionMissing | RequestProblem::VersionNot13 { .. } => {
                &rules::HANDSHAKE_VERSION
            }
            RequestProblem::ExtensionSyntax(_) | RequestProblem::DeflateOffer(_) => {
                &rules::HANDSHAKE_EXTENSION_INVALID
            }
        }
    }

    /// One sentence that teaches the rule and what was seen.
    pub fn message(&self) -> String {
        fn shown(v: &Option<String>) -> String {
            v.as_ref()
                .map_or_else(|| "it is missing".to_owned(), |v| format!("it is \"{v}\""))
        }
        match self {
            RequestProblem::NotARequest => "the opening handshake starts with the client's HTTP request, but this is a response".into(),
            RequestProblem::WrongMethod { method } => format!("the opening handshake request MUST use GET, but uses {method}"),
            RequestProblem::HttpVersionTooOld { version } => format!("the opening handshake needs HTTP/1.1 or later, but the request says HTTP/1.{version}"),
            RequestProblem::HostMissing => "the request MUST carry a Host header, and has none".into(),
            RequestProblem::UpgradeHeader { found } => format!("the request MUST have an Upgrade header including the keyword \"websocket\"; {}", shown(found)),
            RequestProblem::ConnectionHeader { found } => format!("the request MUST have a Connection header including the token \"Upgrade\" (it may be a list such as \"keep-alive, Upgrade\"); {}", shown(found)),
            RequestProblem::KeyMissing => "the request MUST carry a Sec-WebSocket-Key header, and has none".into(),
            RequestProblem::KeyRepeated { count } => format!("Sec-WebSocket-Key MUST NOT appear more than once in a request, but appears {count} times"),
            RequestProblem::KeyInvalid { key, decoded_len: Some(n) } => format!("the Sec-WebSocket-Key must be base64 of exactly 16 bytes; \"{key}\" decodes to {n} bytes"),
            RequestProblem::KeyInvalid { key, decoded_len: None } => format!("the Sec-WebSocket-Key must be base64 of exactly 16 bytes; \"{key}\" is not valid base64"),
            RequestProblem::VersionMissing => "the request MUST carry Sec-WebSocket-Version: 13, and has no such header".into(),
            RequestProblem::VersionNot13 { value } => format!("Sec-WebSocket-Version MUST be 13, but is \"{value}\""),
            RequestProblem::ExtensionSyntax(p) => p.message(),
            RequestProblem::DeflateOffer(p) => format!("in the client's permessage-deflate offer: {}", p.message()),
        }
    }
}

/// What the client's request says and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestCheck {
    /// The method (None for a response head).
    pub method: Option<String>,
    /// HTTP minor version.
    pub http_version: u8,
    /// `Host`.
    pub host: Option<String>,
    /// `Origin` (sent by browsers, §4.1 item 8).
    pub origin: Option<String>,
    /// `Sec-WebSocket-Key` as sent (first occurrence).
    pub key: Option<String>,
    /// The key's decoded length, when it is base64.
    pub key_decoded_len: Option<usize>,
    /// The Accept value the key calls for, with every stage.
    pub accept: Option<AcceptDerivation>,
    /// `Sec-WebSocket-Version` as sent.
    pub version: Option<String>,
    /// Offered subprotocols in order of preference.
    pub subprotocols: Vec<String>,
    /// Offered extensions in order of preference.
    pub extensions: Vec<Extension>,
    /// Problems, in the order of §4.1's list.
    pub problems: Vec<RequestProblem>,
}

/// Checks a client's opening handshake request (§4.1, §4.2.1).
pub fn check_request(head: &Head) -> RequestCheck {
    let mut problems = Vec::new();
    let value = |name: &str| head.header(name).map(|h| h.value.clone());
    let method = head.method().map(str::to_owned);
    match &method {
        None => problems.push(RequestProblem::NotARequest),
        // §4.1 item 2: "The method of the request MUST be GET, and the HTTP
        // version MUST be at least 1.1." (Methods are case-sensitive.)
        Some(m) if m != "GET" => problems.push(RequestProblem::WrongMethod { method: m.clone() }),
        Some(_) => {}
    }
    if head.version() < 1 {
        problems.push(RequestProblem::HttpVersionTooOld {
            version: head.version(),
        });
    }
    // §4.1 item 4: "The request MUST contain a |Host| header field."
    let host = value("host");
    if host.is_none() {
        problems.push(RequestProblem::HostMissing);
    }
    // §4.1 item 5: "an |Upgrade| header field whose value MUST include the
    // "websocket" keyword."
    if !head.has_token("upgrade", "websocket") {
        problems.push(RequestProblem::UpgradeHeader {
            found: value("upgrade"),
        });
    }
    // §4.1 item 6: "a |Connection| header field whose value MUST include
    // the "Upgrade" token."
    if !head.has_token("connection", "upgrade") {
        problems.push(RequestProblem::ConnectionHeader {
            found: value("connection"),
        });
    }
    // §4.1 item 7: the key is "a nonce consisting of a randomly selected
    // 16-byte value that has been base64-encoded".
    let key = value("sec-websocket-key");
    let key_count = head.headers_all("sec-websocket-key").count();
    let mut key_decoded_len = None;
    match &key {
        None => problems.push(RequestProblem::KeyMissing),
        Some(k) => {
            if key_count > 1 {
                problems.push(RequestProblem::KeyRepeated { count: key_count });
            }
            let trimmed = k.trim_matches([' ', '\t']);
            key_decoded_len = BASE64_STANDARD.decode(trimmed).ok().map(|d| d.len());
            if key_decoded_len != Some(16) {
                problems.push(RequestProblem::KeyInvalid {
                    key: trimmed.to_owned(),
                    decoded_len: key_decoded_len,
                });
            }
        }
    }
    // §4.1 item 9: "The value of this header field MUST be 13."
    let version = value("sec-websocket-version");
    match &version {
        None => problems.push(RequestProblem::VersionMissing),
        Some(v) if v != "13" => problems.push(RequestProblem::VersionNot13 { value: v.clone() }),
        Some(_) => {}
    }
    let mut extensions = Vec::new();
    for h in head.headers_all("sec-websocket-extensions") {
        let parsed = parse_extensions(&h.value);
        problems.extend(
            parsed
                .problems
                .into_iter()
                .map(RequestProblem::ExtensionSyntax),
        );
        extensions.extend(parsed.extensions);
    }
    for e in extensions
        .iter()
        .filter(|e| e.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE))
    {
        let (_, probs) = DeflateParams::from_extension(e, Side::Offer);
        problems.extend(probs.into_iter().map(RequestProblem::DeflateOffer));
    }
    RequestCheck {
        method,
        http_version: head.version(),
        host,
        origin: value("origin"),
        accept: key.as_deref().map(derive_accept),
        key,
        key_decoded_len,
        version,
        subprotocols: head
            .list("sec-websocket-protocol")
            .into_iter()
            .map(str::to_owned)
            .collect(),
        extensions,
        problems,
    }
}

/// A rule the server's answer breaks, as the client checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseProblem {
    /// The head is a request, not a response.
    NotAResponse,
    /// The status is not 101; the connection stays HTTP.
    Status {
        /// The status sent.
        status: u16,
    },
    /// `Upgrade` missing or not `websocket`.
    UpgradeHeader {
        /// The value sent, if any.
        found: Option<String>,
    },
    /// `Connection` missing or without the `Upgrade` token.
    ConnectionHeader {
        /// The value sent, if any.
        found: Option<String>,
    },
    /// No `Sec-WebSocket-Accept`.
    AcceptMissing,
    /// `Sec-WebSocket-Accept` is not what the key calls for.
    AcceptMismatch {
        /// What it should be.
        expected: String,
        /// What was sent.
        got: String,
    },
    /// The server selected an extension the client did not offer.
    ExtensionNotOffered {
        /// The extension.
        name: String,
    },
    /// The server selected a subprotocol the client did not offer.
    SubprotocolNotOffered {
        /// The subprotocol.
        name: String,
    },
    /// `Sec-WebSocket-Extensions` does not follow the grammar.
    ExtensionSyntax(ExtensionSyntaxProblem),
    /// The accepted permessage-deflate has bad parameters (the client MUST
    /// fail the connection).
    DeflateParam(DeflateParamProblem),
}

impl ResponseProblem {
    /// The finding rule this problem breaks, given whether the server
    /// accepted the upgrade (sent `Sec-WebSocket-Accept`); `None` for a
    /// refusal (a non-101 status without an Accept), which RFC 6455 §4.2.2
    /// allows and `handshake.failed` reports.
    pub fn rule(&self, accepting: bool) -> Option<&'static Rule> {
        Some(match self {
            ResponseProblem::Status { .. } if !accepting => return None,
            ResponseProblem::Status { .. } | ResponseProblem::NotAResponse => {
                &rules::HANDSHAKE_STATUS
            }
            ResponseProblem::UpgradeHeader { .. } => &rules::HANDSHAKE_RESPONSE_UPGRADE,
            ResponseProblem::ConnectionHeader { .. } => &rules::HANDSHAKE_RESPONSE_CONNECTION,
            ResponseProblem::AcceptMissing => &rules::HANDSHAKE_ACCEPT_MISSING,
            ResponseProblem::AcceptMismatch { .. } => &rules::HANDSHAKE_ACCEPT_MISMATCH,
            ResponseProblem::ExtensionNotOffered { .. } => &rules::HANDSHAKE_EXTENSION_NOT_OFFERED,
            ResponseProblem::ExtensionSyntax(_) | ResponseProblem::DeflateParam(_) => {
                &rules::HANDSHAKE_EXTENSION_INVALID
            }
            ResponseProblem::SubprotocolNotOffered { .. } => {
                &rules::HANDSHAKE_SUBPROTOCOL_NOT_OFFERED
            }
        })
    }

    /// One sentence that teaches the rule and what was seen.
    pub fn message(&self) -> String {
        fn shown(v: &Option<String>) -> String {
            v.as_ref()
                .map_or_else(|| "it is missing".to_owned(), |v| format!("it is \"{v}\""))
        }
        match self {
            ResponseProblem::NotAResponse => "the server's half of the handshake is an HTTP response, but this is a request".into(),
            ResponseProblem::Status { status } => format!("a server accepting the WebSocket answers 101 Switching Protocols; this one answered {status}, so the connection stays plain HTTP"),
            ResponseProblem::UpgradeHeader { found } => format!("the 101 response MUST have Upgrade: websocket; {}", shown(found)),
            ResponseProblem::ConnectionHeader { found } => format!("the 101 response MUST have a Connection header including the token \"Upgrade\"; {}", shown(found)),
            ResponseProblem::AcceptMissing => "the 101 response MUST carry Sec-WebSocket-Accept, proving the server read the key; it has none".into(),
            ResponseProblem::AcceptMismatch { expected, got } => format!("Sec-WebSocket-Accept must be base64(SHA-1(key + GUID)) = \"{expected}\", but the server sent \"{got}\""),
            ResponseProblem::ExtensionNotOffered { name } => format!("the server selected extension \"{name}\", which the client did not offer"),
            ResponseProblem::SubprotocolNotOffered { name } => format!("the server selected subprotocol \"{name}\", which the client did not offer"),
            ResponseProblem::ExtensionSyntax(p) => p.message(),
            ResponseProblem::DeflateParam(p) => format!("in the server's permessage-deflate answer: {}", p.message()),
        }
    }
}

/// What the server's answer says and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseCheck {
    /// The status code (None for a request head).
    pub status: Option<u16>,
    /// `Sec-WebSocket-Accept` as sent.
    pub accept: Option<String>,
    /// The value the request's key calls for.
    pub accept_expected: Option<String>,
    /// The subprotocol the server selected.
    pub subprotocol: Option<String>,
    /// The extensions the server selected, in order.
    pub extensions: Vec<Extension>,
    /// permessage-deflate's parameters, if the server accepted it. The
    /// server's answer is authoritative (RFC 7692 §7.1).
    pub deflate: Option<DeflateParams>,
    /// Problems, in the order of §4.1's response checks.
    pub problems: Vec<ResponseProblem>,
}

impl ResponseCheck {
    /// The handshake succeeded from the client's point of view: a 101
    /// with no problems.
    pub fn accepted(&self) -> bool {
        self.status == Some(101) && self.problems.is_empty()
    }
}

/// Checks the server's answer against the request it answers (§4.1's
/// client-side checks).
pub fn check_response(req: &RequestCheck, resp: &Head) -> ResponseCheck {
    let mut problems = Vec::new();
    let value = |name: &str| resp.header(name).map(|h| h.value.clone());
    let status = resp.status();
    let mut out = ResponseCheck {
        status,
        accept: value("sec-websocket-accept"),
        accept_expected: req.accept.as_ref().map(|a| a.expected.clone()),
        subprotocol: value("sec-websocket-protocol"),
        extensions: Vec::new(),
        deflate: None,
        problems: Vec::new(),
    };
    match status {
        None => {
            problems.push(ResponseProblem::NotAResponse);
            out.problems = problems;
            return out;
        }
        // "If the status code received from the server is not 101, the
        // client handles the response per HTTP procedures": the other
        // checks do not apply.
        Some(s) if s != 101 => {
            problems.push(ResponseProblem::Status { status: s });
            out.problems = problems;
            return out;
        }
        Some(_) => {}
    }
    // Check 2: Upgrade must be "an ASCII case-insensitive match for the
    // value "websocket"".
    let upgrade = value("upgrade");
    if !upgrade
        .as_deref()
        .is_some_and(|u| u.trim().eq_ignore_ascii_case("websocket"))
    {
        problems.push(ResponseProblem::UpgradeHeader { found: upgrade });
    }
    // Check 3: Connection must contain the token "Upgrade".
    if !resp.has_token("connection", "upgrade") {
        problems.push(ResponseProblem::ConnectionHeader {
            found: value("connection"),
        });
    }
    // Check 4: Accept must be base64(SHA-1(key + GUID)).
    match (&out.accept, &out.accept_expected) {
        (None, _) => problems.push(ResponseProblem::AcceptMissing),
        (Some(got), Some(expected)) if got.trim() != expected => {
            problems.push(ResponseProblem::AcceptMismatch {
                expected: expected.clone(),
                got: got.clone(),
            })
        }
        _ => {}
    }
    // Check 5: no extension the client did not offer.
    for h in resp.headers_all("sec-websocket-extensions") {
        let parsed = parse_extensions(&h.value);
        problems.extend(
            parsed
                .problems
                .into_iter()
                .map(ResponseProblem::ExtensionSyntax),
        );
        out.extensions.extend(parsed.extensions);
    }
    for e in &out.extensions {
        let offered: Vec<&Extension> = req
            .extensions
            .iter()
            .filter(|o| o.name.eq_ignore_ascii_case(&e.name))
            .collect();
        if offered.is_empty() {
            problems.push(ResponseProblem::ExtensionNotOffered {
                name: e.name.clone(),
            });
        }
        if e.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) && out.deflate.is_none() {
            let (params, probs) = DeflateParams::from_extension(e, Side::Response);
            problems.extend(probs.into_iter().map(ResponseProblem::DeflateParam));
            // RFC 7692 §7.1.2.2: "If a received extension negotiation offer
            // doesn't have the "client_max_window_bits" extension parameter,
            // the corresponding extension negotiation response to the offer
            // MUST NOT include the "client_max_window_bits" extension
            // parameter."
            let client_bits_offered = offered.iter().any(|o| {
                o.params
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("client_max_window_bits"))
            });
            if params.client_max_window_bits_present && !offered.is_empty() && !client_bits_offered
            {
                problems.push(ResponseProblem::DeflateParam(
                    DeflateParamProblem::ClientBitsNotOffered,
                ));
            }
            out.deflate = Some(params);
        }
    }
    // Check 6: no subprotocol the client did not offer.
    if let Some(p) = &out.subprotocol
        && !req.subprotocols.iter().any(|o| o == p.trim())
    {
        problems.push(ResponseProblem::SubprotocolNotOffered { name: p.clone() });
    }
    out.problems = problems;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::http::{Limits, Parse, parse_request_head, parse_response_head};

    fn req_head(text: &str) -> Head {
        match parse_request_head(text.as_bytes(), &Limits::default()) {
            Parse::Complete(h) => h,
            other => panic!("{other:?}"),
        }
    }

    fn resp_head(text: &str) -> Head {
        match parse_response_head(text.as_bytes(), &Limits::default()) {
            Parse::Complete(h) => h,
            other => panic!("{other:?}"),
        }
    }

    /// RFC 6455 §1.2's request, with an extension offer added.
    fn good_request() -> String {
        "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n".into()
    }

    fn good_response() -> String {
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=12\r\n\r\n".into()
    }

    fn with_line(text: &str, old: &str, new: &str) -> String {
        assert!(text.contains(old), "{old}");
        text.replacen(old, new, 1)
    }

    #[test]
    fn rfc6455_1_3_accept_vector() {
        let d = derive_accept(" dGhlIHNhbXBsZSBub25jZQ== ");
        assert_eq!(d.key_trimmed, "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(
            d.concatenated,
            "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        );
        // §1.3 prints the digest as decimal bytes 0xb3 0x7a 0x4f 0x2c ...
        assert_eq!(d.sha1_hex(), "b37a4f2cc0624f1690f64606cf385945b2bec4ea");
        assert_eq!(d.expected, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn rfc_handshake_is_clean() {
        let rq = check_request(&req_head(&good_request()));
        assert_eq!(rq.problems, vec![]);
        assert_eq!(rq.key_decoded_len, Some(16));
        assert_eq!(rq.subprotocols, ["chat", "superchat"]);
        assert_eq!(rq.origin.as_deref(), Some("http://example.com"));
        assert_eq!(rq.extensions[0].name, "permessage-deflate");
        let rs = check_response(&rq, &resp_head(&good_response()));
        assert_eq!(rs.problems, vec![]);
        assert!(rs.accepted());
        assert_eq!(rs.subprotocol.as_deref(), Some("chat"));
        let d = rs.deflate.unwrap();
        assert!(d.server_no_context_takeover && !d.client_no_context_takeover);
        assert_eq!(d.client_max_window_bits, Some(12));
    }

    fn request_problems(text: &str) -> Vec<RequestProblem> {
        check_request(&req_head(text)).problems
    }

    #[test]
    fn request_problems_each() {
        let good = good_request();
        let cases: Vec<(String, RequestProblem)> = vec![
            (
                with_line(&good, "GET /chat", "POST /chat"),
                RequestProblem::WrongMethod {
                    method: "POST".into(),
                },
            ),
            (
                with_line(&good, "HTTP/1.1", "HTTP/1.0"),
                RequestProblem::HttpVersionTooOld { version: 0 },
            ),
            (
                with_line(&good, "Host: server.example.com\r\n", ""),
                RequestProblem::HostMissing,
            ),
            (
                with_line(&good, "Upgrade: websocket", "Upgrade: h2c"),
                RequestProblem::UpgradeHeader {
                    found: Some("h2c".into()),
                },
            ),
            (
                with_line(&good, "Upgrade: websocket\r\n", ""),
                RequestProblem::UpgradeHeader { found: None },
            ),
            (
                with_line(
                    &good,
                    "Connection: keep-alive, Upgrade",
                    "Connection: keep-alive",
                ),
                RequestProblem::ConnectionHeader {
                    found: Some("keep-alive".into()),
                },
            ),
            (
                with_line(&good, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
                RequestProblem::KeyMissing,
            ),
            (
                // Synthetic: base64 of the 12 bytes "hello world!".
                with_line(&good, "dGhlIHNhbXBsZSBub25jZQ==", "aGVsbG8gd29ybGQh"),
                RequestProblem::KeyInvalid {
                    key: "aGVsbG8gd29ybGQh".into(),
                    decoded_len: Some(12),
                },
            ),
            (
                with_line(&good, "dGhlIHNhbXBsZSBub25jZQ==", "not*base64"),
                RequestProblem::KeyInvalid {
                    key: "not*base64".into(),
                    decoded_len: None,
                },
            ),
            (
                with_line(&good, "Sec-WebSocket-Version: 13\r\n", ""),
                RequestProblem::VersionMissing,
            ),
            (
                with_line(
                    &good,
                    "Sec-WebSocket-Version: 13",
                    "Sec-WebSocket-Version: 8",
                ),
                RequestProblem::VersionNot13 { value: "8".into() },
            ),
            (
                with_line(
                    &good,
                    "Origin:",
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin:",
                ),
                RequestProblem::KeyRepeated { count: 2 },
            ),
            (
                with_line(
                    &good,
                    "client_max_window_bits\r\n",
                    "client_max_window_bits, foo; x=\r\n",
                ),
                RequestProblem::ExtensionSyntax(ExtensionSyntaxProblem::MissingValue {
                    at: 49,
                    param: "x".into(),
                }),
            ),
            (
                with_line(
                    &good,
                    "client_max_window_bits\r\n",
                    "client_max_window_bits=7\r\n",
                ),
                RequestProblem::DeflateOffer(DeflateParamProblem::BitsInvalid {
                    name: "client_max_window_bits".into(),
                    value: "7".into(),
                }),
            ),
        ];
        for (text, expected) in cases {
            let got = request_problems(&text);
            assert_eq!(got, vec![expected.clone()], "{text}");
            assert!(crate::rules::ALL.contains(&expected.rule()));
            assert!(expected.message().len() > 20);
        }
        let msg = RequestProblem::KeyInvalid {
            key: "aGVsbG8gd29ybGQh".into(),
            decoded_len: Some(12),
        }
        .message();
        assert!(msg.contains("exactly 16 bytes") && msg.contains("decodes to 12 bytes"));
    }

    #[test]
    fn a_response_is_not_a_request() {
        let rq = check_request(&resp_head(&good_response()));
        assert!(rq.problems.contains(&RequestProblem::NotARequest));
        let rs = check_response(&rq, &req_head(&good_request()));
        assert_eq!(rs.problems, vec![ResponseProblem::NotAResponse]);
    }

    #[test]
    fn response_problems_each() {
        let rq = check_request(&req_head(&good_request()));
        let good = good_response();
        let cases: Vec<(String, ResponseProblem)> = vec![
            (
                // python-engineio answering an EIO=3 handshake.
                "HTTP/1.1 400 BAD REQUEST\r\nContent-Length: 0\r\n\r\n".into(),
                ResponseProblem::Status { status: 400 },
            ),
            (
                with_line(&good, "Upgrade: websocket", "Upgrade: websocket, h2c"),
                ResponseProblem::UpgradeHeader {
                    found: Some("websocket, h2c".into()),
                },
            ),
            (
                with_line(&good, "Connection: Upgrade\r\n", ""),
                ResponseProblem::ConnectionHeader { found: None },
            ),
            (
                with_line(
                    &good,
                    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n",
                    "",
                ),
                ResponseProblem::AcceptMissing,
            ),
            (
                with_line(
                    &good,
                    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo",
                ),
                ResponseProblem::AcceptMismatch {
                    expected: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into(),
                    got: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo".into(),
                },
            ),
            (
                with_line(
                    &good,
                    "Extensions: permessage-deflate;",
                    "Extensions: x-webkit-deflate-frame, permessage-deflate;",
                ),
                ResponseProblem::ExtensionNotOffered {
                    name: "x-webkit-deflate-frame".into(),
                },
            ),
            (
                with_line(&good, "Protocol: chat", "Protocol: mqtt"),
                ResponseProblem::SubprotocolNotOffered {
                    name: "mqtt".into(),
                },
            ),
            (
                with_line(
                    &good,
                    "server_no_context_takeover;",
                    "server_no_context_takeover;;",
                ),
                ResponseProblem::ExtensionSyntax(ExtensionSyntaxProblem::Unexpected {
                    at: 47,
                    found: ';',
                }),
            ),
            (
                with_line(
                    &good,
                    "client_max_window_bits=12",
                    "client_max_window_bits=16",
                ),
                ResponseProblem::DeflateParam(DeflateParamProblem::BitsInvalid {
                    name: "client_max_window_bits".into(),
                    value: "16".into(),
                }),
            ),
        ];
        for (text, expected) in cases {
            let rs = check_response(&rq, &resp_head(&text));
            assert_eq!(rs.problems, vec![expected.clone()], "{text}");
            assert!(!rs.accepted());
            let rule = expected
                .rule(true)
                .expect("an accepting server's problem is a finding");
            assert!(crate::rules::ALL.contains(&rule));
            assert!(expected.message().len() > 20);
        }
    }

    #[test]
    fn client_bits_not_offered() {
        let rq = check_request(&req_head(&with_line(
            &good_request(),
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate",
        )));
        let rs = check_response(&rq, &resp_head(&good_response()));
        assert_eq!(
            rs.problems,
            vec![ResponseProblem::DeflateParam(
                DeflateParamProblem::ClientBitsNotOffered
            )]
        );
    }
}
