//! The request target of a polling or WebSocket request.

use super::Version;
use super::jsonp::form_decode;

/// The Engine.IO parameters of a request target
/// (`/socket.io/?EIO=4&transport=polling&t=N8hyd6w&sid=…`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    /// The path before `?`, as sent (`/socket.io/`, `/engine.io/`, or
    /// whatever path the server was configured with).
    pub path: String,
    /// The `EIO` value, when it is a number 0–255.
    pub eio: Option<u8>,
    /// `polling` or `websocket` (kept as sent).
    pub transport: Option<String>,
    /// The session id, absent on the handshake request.
    pub sid: Option<String>,
    /// The cache-busting timestamp.
    pub t: Option<String>,
    /// v3: `b64=1` (or `true`) asks for binary as base64 text.
    pub b64: bool,
    /// v3: the JSONP callback index `j`, present only for JSONP polling.
    pub jsonp_index: Option<String>,
}

impl Query {
    /// The protocol version, when `EIO` names one dispel knows.
    pub fn version(&self) -> Option<Version> {
        self.eio.and_then(Version::from_eio)
    }
}

/// Reads a request target, or `None` when it is not an Engine.IO request.
///
/// Engine.IO requests are recognised by an `EIO` query parameter, whatever
/// the path, since servers may mount Engine.IO anywhere. Values are
/// percent-decoded with `+` as a space, as both Node's `querystring` and
/// Python's `parse_qs` do; the first occurrence of a repeated key wins. An
/// absolute-form target (`http://host/socket.io/?…`) is accepted.
pub fn parse_request_target(target: &str) -> Option<Query> {
    let target = target.split('#').next().unwrap_or("");
    let target = match target.find("://") {
        Some(scheme_end) => {
            let after = target.get(scheme_end.saturating_add(3)..).unwrap_or("");
            after
                .find(['/', '?'])
                .and_then(|i| after.get(i..))
                .unwrap_or("/")
        }
        None => target,
    };
    let (path, query) = target.split_once('?')?;
    let mut out = Query {
        path: path.to_owned(),
        ..Query::default()
    };
    let mut seen_eio = false;
    let mut seen = std::collections::BTreeSet::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = String::from_utf8_lossy(&form_decode(key.as_bytes())).into_owned();
        if !seen.insert(key.clone()) {
            continue;
        }
        let value = String::from_utf8_lossy(&form_decode(value.as_bytes())).into_owned();
        match key.as_str() {
            // Spec v4 §Transports: HTTP long-polling: Query parameters — `EIO`
            // is the protocol version and is mandatory.
            "EIO" => {
                seen_eio = true;
                out.eio = value.parse().ok();
            }
            "transport" => out.transport = Some(value),
            "sid" => out.sid = Some(value),
            "t" => out.t = Some(value),
            "b64" => out.b64 = value == "1" || value.eq_ignore_ascii_case("true"),
            "j" => out.jsonp_index = Some(value),
            _ => {}
        }
    }
    seen_eio.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_targets() {
        // Socket.IO protocol v4 §Sample session.
        let q = parse_request_target(
            "/socket.io/?EIO=3&transport=polling&t=N8hyd7H&sid=lv_VI97HAXpY6yYWAAAC",
        )
        .unwrap();
        assert_eq!(q.path, "/socket.io/");
        assert_eq!(q.eio, Some(3));
        assert_eq!(q.version(), Some(Version::V3));
        assert_eq!(q.transport.as_deref(), Some("polling"));
        assert_eq!(q.t.as_deref(), Some("N8hyd7H"));
        assert_eq!(q.sid.as_deref(), Some("lv_VI97HAXpY6yYWAAAC"));
        assert!(!q.b64);
        let q = parse_request_target("/engine.io/?EIO=4&transport=websocket").unwrap();
        assert_eq!(q.version(), Some(Version::V4));
    }

    #[test]
    fn v3_parameters_and_decoding() {
        // Synthetic: a custom path, JSONP index, b64 and an encoded sid.
        let q = parse_request_target(
            "http://example.com/chat/?EIO=3&transport=polling&j=2&b64=1&sid=a%2Bb+c&sid=x#frag",
        )
        .unwrap();
        assert_eq!(q.path, "/chat/");
        assert_eq!(q.jsonp_index.as_deref(), Some("2"));
        assert!(q.b64);
        assert_eq!(q.sid.as_deref(), Some("a+b c"));
    }

    #[test]
    fn not_engineio() {
        assert_eq!(parse_request_target("/index.html"), None);
        assert_eq!(parse_request_target("/socket.io/?transport=polling"), None);
        // `EIO` present but not a number: still Engine.IO, version unknown.
        let q = parse_request_target("/socket.io/?EIO=x").unwrap();
        assert_eq!((q.eio, q.version()), (None, None));
        assert_eq!(parse_request_target("/?EIO=5").unwrap().version(), None);
    }
}
