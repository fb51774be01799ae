//! v3 JSONP polling, for browsers without cross-origin XHR.
//!
//! The server answers a GET with a script, `___eio[<j>]("<payload>");`, the
//! payload written as a JavaScript string literal. The client POSTs a form,
//! `d=<payload>`, form-urlencoded, after escaping newlines so browsers do not
//! turn them into CRLF. Unwrapping gives the v3 text payload, which
//! [`super::decode_payload`] then reads; its spans are into the unwrapped
//! text, not into the HTTP body.

use super::Problem;

fn bad(why: impl Into<String>) -> Problem {
    Problem::BadJsonp { why: why.into() }
}

/// Extracts the payload from a JSONP response body, undoing the string
/// literal's escapes (`\"`, `\\`, `\n`, `\uXXXX` with surrogate pairs, …).
///
/// engine.io writes the literal with `JSON.stringify`; python-engineio 3.x
/// only escaped `"`, leaving raw newlines, which a browser would reject but
/// dispel accepts so the capture can still be read. A lone surrogate, which a
/// JavaScript string can hold but UTF-8 cannot, becomes U+FFFD (still one
/// UTF-16 unit, so v3 lengths still count right).
pub fn unwrap_jsonp_response(body: &[u8]) -> Result<String, Problem> {
    let text = std::str::from_utf8(body).map_err(|_| bad("the body is not UTF-8"))?;
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    // Spec v3 §Transports: Polling: JSONP — the response calls
    // `___eio[<j>]` with the payload, `j` being the request's `j` parameter.
    let rest = text
        .strip_prefix("___eio[")
        .ok_or_else(|| bad("it does not start with `___eio[`"))?;
    let index_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    let rest = rest
        .get(index_len..)
        .and_then(|r| r.strip_prefix("]("))
        .ok_or_else(|| bad("the callback index must be digits followed by `](`"))?;
    let rest = rest
        .strip_prefix('"')
        .ok_or_else(|| bad("the callback argument is not a double-quoted string"))?;
    let (payload, after) = unescape_js_string(rest)?;
    let after = after.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let after = after
        .strip_prefix(')')
        .ok_or_else(|| bad("the string is not followed by `)`"))?;
    let after = after.trim_matches(|c: char| c.is_ascii_whitespace());
    if !(after.is_empty() || after == ";") {
        return Err(bad("there is text after `);`"));
    }
    Ok(payload)
}

/// Extracts the payload from a JSONP POST body (`d=<form-urlencoded>`),
/// undoing the form encoding (`+` is a space) and then the client's newline
/// escaping as engine.io 3.x's server does: `\n` becomes a newline and `\\n`
/// becomes `\n`.
pub fn unwrap_jsonp_post(body: &[u8]) -> Result<String, Problem> {
    // Spec v3 §Transports: Polling: JSONP — the client posts a form whose
    // `d` field holds the payload.
    let value = body
        .split(|&b| b == b'&')
        .find_map(|pair| {
            let (key, value) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (pair.get(..eq)?, pair.get(eq.saturating_add(1)..)?),
                None => (pair, &[][..]),
            };
            (form_decode(key) == b"d").then(|| form_decode(value))
        })
        .ok_or_else(|| bad("the form has no `d` field"))?;
    let value = String::from_utf8(value).map_err(|_| bad("the `d` field is not UTF-8"))?;
    let mut out = String::with_capacity(value.len());
    let mut rest = value.as_str();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("\\\\n") {
            out.push_str("\\n");
            rest = r;
        } else if let Some(r) = rest.strip_prefix("\\n") {
            out.push('\n');
            rest = r;
        } else if let Some(c) = rest.chars().next() {
            out.push(c);
            rest = rest.get(c.len_utf8()..).unwrap_or("");
        }
    }
    Ok(out)
}

/// Wraps a payload as engine.io 3.x's JSONP response does (for tests and
/// fuzz seeds).
pub fn wrap_jsonp_response(index: u32, payload: &str) -> String {
    // JSON.stringify leaves U+2028/U+2029 raw, which old JavaScript parsers
    // reject inside string literals, so engine.io escapes them too.
    let literal = serde_json::to_string(payload)
        .unwrap_or_default()
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    format!("___eio[{index}]({literal});")
}

/// Builds a JSONP POST body as engine.io-client 1.x/2.x does (for tests and
/// fuzz seeds). A backslash directly before a newline does not survive the
/// client's escaping, in JavaScript as here.
pub fn wrap_jsonp_post(payload: &str) -> String {
    let escaped = payload.replace("\\n", "\\\\n").replace('\n', "\\n");
    let mut out = String::from("d=");
    for b in escaped.bytes() {
        match b {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// application/x-www-form-urlencoded decoding; a `%` not followed by two hex
/// digits is kept literally, as Node's `querystring` does.
pub(super) fn form_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0usize;
    while let Some(&b) = input.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = input
                    .get(i.saturating_add(1)..i.saturating_add(3))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(byte) = hex {
                    out.push(byte);
                    i = i.saturating_add(3);
                    continue;
                }
                out.push(b'%');
            }
            _ => out.push(b),
        }
        i = i.saturating_add(1);
    }
    out
}

/// Reads a JavaScript double-quoted string literal whose opening quote has
/// been consumed; returns its value and the text after the closing quote.
fn unescape_js_string(s: &str) -> Result<(String, &str), Problem> {
    let mut out = String::with_capacity(s.len());
    // A high surrogate from `\uD83D` waiting for its low half.
    let mut high: Option<u16> = None;
    let mut chars = s.char_indices();
    loop {
        let Some((i, c)) = chars.next() else {
            return Err(bad("the string literal is not closed"));
        };
        let unit = match c {
            '"' => {
                flush_surrogate(&mut out, &mut high);
                return Ok((out, s.get(i.saturating_add(1)..).unwrap_or("")));
            }
            '\\' => {
                let Some((_, e)) = chars.next() else {
                    return Err(bad("the string literal ends inside an escape"));
                };
                match e {
                    'u' => Some(hex_escape(&mut chars, 4)?),
                    'x' => Some(hex_escape(&mut chars, 2)?),
                    _ => {
                        flush_surrogate(&mut out, &mut high);
                        match e {
                            'n' => out.push('\n'),
                            'r' => out.push('\r'),
                            't' => out.push('\t'),
                            'b' => out.push('\u{8}'),
                            'f' => out.push('\u{c}'),
                            'v' => out.push('\u{b}'),
                            '0' => out.push('\0'),
                            // A backslash before a line break continues the line.
                            '\n' => {}
                            // Any other escaped character stands for itself.
                            other => out.push(other),
                        }
                        None
                    }
                }
            }
            _ => {
                flush_surrogate(&mut out, &mut high);
                out.push(c);
                None
            }
        };
        if let Some(unit) = unit {
            push_unit(&mut out, &mut high, unit);
        }
    }
}

/// Reads `n` hex digits of a `\u` or `\x` escape.
fn hex_escape(chars: &mut std::str::CharIndices<'_>, n: usize) -> Result<u16, Problem> {
    let mut value = 0u16;
    for _ in 0..n {
        let digit = chars
            .next()
            .and_then(|(_, c)| c.to_digit(16))
            .ok_or_else(|| bad("a \\u or \\x escape needs hex digits"))?;
        value = value
            .wrapping_mul(16)
            .wrapping_add(u16::try_from(digit).unwrap_or(0));
    }
    Ok(value)
}

/// Adds one UTF-16 code unit, pairing surrogates.
fn push_unit(out: &mut String, high: &mut Option<u16>, unit: u16) {
    match (high.take(), unit) {
        (Some(h), 0xdc00..=0xdfff) => {
            // `high` only ever holds 0xD800–0xDBFF, so no arithmetic here can wrap.
            let c = 0x10000
                + (u32::from(h).saturating_sub(0xd800) << 10)
                + (u32::from(unit).saturating_sub(0xdc00));
            out.push(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
        }
        (previous, _) => {
            if previous.is_some() {
                out.push(char::REPLACEMENT_CHARACTER);
            }
            match unit {
                0xd800..=0xdbff => *high = Some(unit),
                _ => {
                    out.push(char::from_u32(u32::from(unit)).unwrap_or(char::REPLACEMENT_CHARACTER))
                }
            }
        }
    }
}

/// A high surrogate with no low half becomes U+FFFD.
fn flush_surrogate(out: &mut String, high: &mut Option<u16>) {
    if high.take().is_some() {
        out.push(char::REPLACEMENT_CHARACTER);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::engineio::{Limits, PacketType, Version, decode_payload};

    #[test]
    fn response_round_trip() {
        // Synthetic: a v3 payload with a quote, a newline and a non-BMP char.
        let payload = "15:42[\"a\\\"b\",\"😀\"]2:40";
        let body = wrap_jsonp_response(0, payload);
        assert_eq!(unwrap_jsonp_response(body.as_bytes()).unwrap(), payload);
        let body = r#"___eio[3]("6:4hello\n2:40");"#;
        assert_eq!(
            unwrap_jsonp_response(body.as_bytes()).unwrap(),
            "6:4hello\n2:40"
        );
    }

    #[test]
    fn response_unescapes_surrogate_pairs() {
        // Synthetic: `\ud83d\ude00` is 😀; a lone high surrogate becomes U+FFFD.
        let body = r#"___eio[1]("4:4\ud83d\ude00\u20ac");"#;
        let text = unwrap_jsonp_response(body.as_bytes()).unwrap();
        assert_eq!(text, "4:4😀€");
        let p = decode_payload(Version::V3, text.as_bytes(), None, &Limits::default());
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert_eq!(p.packets[0].packet.ptype, PacketType::Message);
        let lone = r#"___eio[1]("\ud83dx\x41");"#;
        assert_eq!(
            unwrap_jsonp_response(lone.as_bytes()).unwrap(),
            "\u{fffd}xA"
        );
    }

    #[test]
    fn post_round_trip() {
        // Synthetic: spaces, `&`, a real newline and a literal backslash-n.
        let payload = "11:42[\"a b&\"]7:4x\ny\\nz";
        let body = wrap_jsonp_post(payload);
        assert!(body.starts_with("d=11%3A42"));
        assert_eq!(unwrap_jsonp_post(body.as_bytes()).unwrap(), payload);
        assert_eq!(unwrap_jsonp_post(b"x=1&d=1%3A2+a").unwrap(), "1:2 a");
    }

    #[test]
    fn bad_jsonp() {
        for body in [
            &b"6:4hello"[..],
            b"___eio[x](\"a\");",
            b"___eio[1](a);",
            b"___eio[1](\"a);",
            b"___eio[1](\"a\"",
            b"___eio[1](\"a\");alert(1)",
            b"___eio[1](\"\\u12\");",
            b"\xff",
        ] {
            let err = unwrap_jsonp_response(body).unwrap_err();
            assert!(matches!(err, Problem::BadJsonp { .. }), "{body:?}");
        }
        assert!(matches!(
            unwrap_jsonp_post(b"e=1"),
            Err(Problem::BadJsonp { .. })
        ));
        assert!(matches!(
            unwrap_jsonp_post(b"d=%ff"),
            Err(Problem::BadJsonp { .. })
        ));
    }
}
