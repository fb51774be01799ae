//! The `open` packet's handshake data.

use serde_json::Value;

use super::Problem;

/// The handshake an `open` packet carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenInfo {
    /// The Engine.IO session id, repeated as `sid=` on every later request.
    pub sid: String,
    /// Transports the client may upgrade to (usually `["websocket"]`);
    /// empty when absent.
    pub upgrades: Vec<String>,
    /// Milliseconds between heartbeats.
    pub ping_interval: Option<u64>,
    /// Milliseconds to wait for a heartbeat before giving up.
    pub ping_timeout: Option<u64>,
    /// Largest polling body the server accepts, in bytes (v4 only).
    pub max_payload: Option<u64>,
}

fn bad(why: impl Into<String>) -> Problem {
    Problem::BadOpen { why: why.into() }
}

/// Reads the JSON data of an `open` packet (`0{"sid":…}` without the `0`).
///
/// `sid` is required and must be a string; the other fields are optional but,
/// when present, must have the type the spec gives them.
pub fn parse_open(data: &str) -> Result<OpenInfo, Problem> {
    // serde_json stops at 128 levels of nesting, so hostile JSON here cannot
    // exhaust the stack.
    let value: Value =
        serde_json::from_str(data).map_err(|e| bad(format!("its data is not JSON ({e})")))?;
    let Value::Object(map) = value else {
        return Err(bad("its data is not a JSON object"));
    };
    // Spec v4 §Protocol: Handshake — `sid` is the session id, a string.
    let sid = match map.get("sid") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(bad("`sid` is not a string")),
        None => return Err(bad("it has no `sid`")),
    };
    // Spec v4 §Protocol: Handshake — `upgrades` is a list of transport names.
    let upgrades = match map.get("upgrades") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|u| u.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("`upgrades` holds something other than strings"))?,
        Some(_) => return Err(bad("`upgrades` is not a list")),
    };
    let number = |key: &str| -> Result<Option<u64>, Problem> {
        match map.get(key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                bad(format!(
                    "`{key}` is not a whole number of milliseconds or bytes"
                ))
            }),
        }
    };
    Ok(OpenInfo {
        sid,
        upgrades,
        ping_interval: number("pingInterval")?,
        ping_timeout: number("pingTimeout")?,
        max_payload: number("maxPayload")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_v4_handshake() {
        // Spec v4 §Protocol: Handshake.
        let info = parse_open(
            r#"{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
        )
        .unwrap();
        assert_eq!(info.sid, "lv_VI97HAXpY6yYWAAAC");
        assert_eq!(info.upgrades, vec!["websocket".to_owned()]);
        assert_eq!(info.ping_interval, Some(25000));
        assert_eq!(info.ping_timeout, Some(20000));
        assert_eq!(info.max_payload, Some(1_000_000));
    }

    #[test]
    fn v3_has_no_max_payload() {
        // Socket.IO protocol v4 §Sample session, request n°1.
        let info = parse_open(
            r#"{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}"#,
        )
        .unwrap();
        assert_eq!(info.max_payload, None);
    }

    #[test]
    fn bad_open() {
        // Synthetic, one per rule.
        for data in [
            "",
            "[]",
            r#"{"upgrades":[]}"#,
            r#"{"sid":1}"#,
            r#"{"sid":"a","upgrades":"websocket"}"#,
            r#"{"sid":"a","upgrades":[1]}"#,
            r#"{"sid":"a","pingInterval":-1}"#,
            r#"{"sid":"a","pingTimeout":"5000"}"#,
            &"[".repeat(100_000),
        ] {
            assert!(
                matches!(parse_open(data), Err(Problem::BadOpen { .. })),
                "{data:.40}"
            );
        }
    }
}
