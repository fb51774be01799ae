//! The Close frame body (RFC 6455 §5.5.1) and status codes (§7.4).
//!
//! A Close body is empty, or a 2-byte big-endian status code followed by a
//! UTF-8 reason; the whole body, like every control payload, is at most 125
//! bytes (§5.5). [`parse_close`] splits the body and refuses only the one
//! shape that cannot be split (a single byte). Everything else a peer would
//! object to — a code that must not be sent, a reason that is not UTF-8, an
//! oversized body — is listed by [`ClosePayload::problems`].
//!
//! Code names follow the IANA "WebSocket Close Code Number Registry", which
//! added 1012–1014 after the RFC.

use std::ops::Range;

use crate::rules::{self, Rule};

/// A decoded Close body. Spans are relative to the payload given to
/// [`parse_close`] (already unmasked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosePayload<'a> {
    /// The status code, if the body is not empty.
    pub code: Option<u16>,
    /// The two code bytes.
    pub code_span: Option<Range<usize>>,
    /// The reason bytes (may be empty; not necessarily UTF-8).
    pub reason: &'a [u8],
    /// Where the reason lies (`2..len`, or `0..0` for an empty body).
    pub reason_span: Range<usize>,
    /// Whether the reason is valid UTF-8 (§5.5.1 requires it).
    pub reason_utf8: bool,
}

/// How a status code may be used (§7.4.1, §7.4.2, IANA registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeValidity {
    /// 1000–1003, 1007–1014 or 3000–4999: may appear in a Close frame.
    Valid,
    /// 1004 (reserved), 1005, 1006, 1015: names for local use that MUST NOT
    /// be sent in a Close frame.
    ReservedMustNotBeSent,
    /// 0–999 (not used), 1016–2999 (reserved for future RFCs) or 5000 and
    /// up (undefined).
    Unassigned,
}

impl CodeValidity {
    /// Classifies a status code.
    pub fn of(code: u16) -> CodeValidity {
        match code {
            1000..=1003 | 1007..=1014 | 3000..=4999 => CodeValidity::Valid,
            1004..=1006 | 1015 => CodeValidity::ReservedMustNotBeSent,
            _ => CodeValidity::Unassigned,
        }
    }
}

/// The IANA registry name of a status code, where it has one.
pub fn close_code_name(code: u16) -> Option<&'static str> {
    Some(match code {
        1000 => "Normal Closure",
        1001 => "Going Away",
        1002 => "Protocol error",
        1003 => "Unsupported Data",
        1004 => "Reserved",
        1005 => "No Status Rcvd",
        1006 => "Abnormal Closure",
        1007 => "Invalid frame payload data",
        1008 => "Policy Violation",
        1009 => "Message Too Big",
        1010 => "Mandatory Ext.",
        1011 => "Internal Error",
        1012 => "Service Restart",
        1013 => "Try Again Later",
        1014 => "Bad Gateway",
        1015 => "TLS handshake",
        _ => return None,
    })
}

/// What a status code is, for display: its IANA name where it has one,
/// otherwise the range it falls in (RFC 6455 §7.4.2 and the IANA registry):
/// 3000–3999 are registered with IANA for libraries, frameworks and
/// applications, 4000–4999 are for private use. Never "unassigned" for a
/// code that may legitimately be sent.
pub fn close_code_label(code: u16) -> &'static str {
    if let Some(name) = close_code_name(code) {
        return name;
    }
    match code {
        // The three codes IANA's registry names in the 3000 range.
        3000 => "Unauthorized",
        3003 => "Forbidden",
        3008 => "Timeout",
        3001..=3999 => "registered with IANA (3000–3999)",
        4000..=4999 => "private use (4000–4999)",
        0..=999 => "not used (0–999)",
        1016..=2999 => "reserved for the protocol (1016–2999)",
        _ => "undefined (5000 and up)",
    }
}

/// Something wrong with a Close body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseProblem {
    /// A one-byte body: too short for a code, too long for "no code".
    OneByteBody {
        /// The lone byte.
        byte: u8,
    },
    /// A status code that may not appear in a Close frame.
    CodeNotSendable {
        /// The code.
        code: u16,
        /// Why it may not be sent.
        validity: CodeValidity,
    },
    /// The reason is not valid UTF-8.
    ReasonNotUtf8 {
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// The body is longer than a control frame may carry.
    TooLong {
        /// The body length.
        len: usize,
    },
}

impl CloseProblem {
    /// The finding rule this problem breaks; `None` for a body too long
    /// for a control frame, which the assembler already reports for every
    /// control frame (`frame.control-too-long`).
    pub fn rule(&self) -> Option<&'static Rule> {
        match self {
            CloseProblem::OneByteBody { .. } => Some(&rules::FRAME_CLOSE_PAYLOAD_LENGTH),
            CloseProblem::CodeNotSendable { .. } => Some(&rules::FRAME_CLOSE_CODE_INVALID),
            CloseProblem::ReasonNotUtf8 { .. } => Some(&rules::FRAME_CLOSE_REASON_INVALID_UTF8),
            CloseProblem::TooLong { .. } => None,
        }
    }

    /// One sentence that teaches the rule and what was seen.
    pub fn message(&self) -> String {
        match self {
            CloseProblem::OneByteBody { byte } => format!(
                "a Close body is empty or starts with a 2-byte status code; this one is the single byte 0x{byte:02x}"
            ),
            CloseProblem::CodeNotSendable { code, validity } => {
                let name = close_code_name(*code)
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default();
                match validity {
                    CodeValidity::ReservedMustNotBeSent => format!(
                        "status code {code}{name} is reserved for reporting a closure locally and MUST NOT be sent in a Close frame"
                    ),
                    _ => format!(
                        "status code {code} is not assigned: valid codes are 1000–1003, 1007–1014 and 3000–4999"
                    ),
                }
            }
            CloseProblem::ReasonNotUtf8 { valid_up_to } => format!(
                "the Close reason must be UTF-8, but the bytes after the first {valid_up_to} are not"
            ),
            CloseProblem::TooLong { len } => {
                format!("a control frame carries at most 125 bytes, but this Close body has {len}")
            }
        }
    }
}

/// Splits a Close body into code and reason. Only a one-byte body cannot
/// be split; other problems are reported by [`ClosePayload::problems`].
pub fn parse_close(payload: &[u8]) -> Result<ClosePayload<'_>, CloseProblem> {
    match payload {
        [] => Ok(ClosePayload {
            code: None,
            code_span: None,
            reason: &[],
            reason_span: 0..0,
            reason_utf8: true,
        }),
        [byte] => Err(CloseProblem::OneByteBody { byte: *byte }),
        [hi, lo, reason @ ..] => Ok(ClosePayload {
            code: Some(u16::from_be_bytes([*hi, *lo])),
            code_span: Some(0..2),
            reason,
            reason_span: 2..payload.len(),
            reason_utf8: std::str::from_utf8(reason).is_ok(),
        }),
    }
}

impl ClosePayload<'_> {
    /// The reason as text, if it is UTF-8.
    pub fn reason_str(&self) -> Option<&str> {
        std::str::from_utf8(self.reason).ok()
    }

    /// The code's IANA name.
    pub fn code_name(&self) -> Option<&'static str> {
        self.code.and_then(close_code_name)
    }

    /// Every rule this body breaks, in wire order.
    pub fn problems(&self) -> Vec<CloseProblem> {
        let mut out = Vec::new();
        if let Some(code) = self.code {
            let validity = CodeValidity::of(code);
            if validity != CodeValidity::Valid {
                out.push(CloseProblem::CodeNotSendable { code, validity });
            }
        }
        if let Err(e) = std::str::from_utf8(self.reason) {
            out.push(CloseProblem::ReasonNotUtf8 {
                valid_up_to: e.valid_up_to(),
            });
        }
        let len = self.reason_span.end;
        if len > 125 {
            out.push(CloseProblem::TooLong { len });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_body() {
        let c = parse_close(&[]).unwrap();
        assert_eq!((c.code, c.reason, c.reason_utf8), (None, &[][..], true));
        assert!(c.problems().is_empty());
    }

    #[test]
    fn code_and_reason() {
        // Synthetic: 1000 "bye".
        let body = [0x03, 0xe8, b'b', b'y', b'e'];
        let c = parse_close(&body).unwrap();
        assert_eq!(c.code, Some(1000));
        assert_eq!(c.code_span, Some(0..2));
        assert_eq!(&body[c.reason_span.clone()], b"bye");
        assert_eq!(c.reason_str(), Some("bye"));
        assert_eq!(c.code_name(), Some("Normal Closure"));
        assert!(c.problems().is_empty());
    }

    #[test]
    fn one_byte_body() {
        let e = parse_close(&[0x03]).unwrap_err();
        assert_eq!(e, CloseProblem::OneByteBody { byte: 3 });
        assert_eq!(e.rule(), Some(&crate::rules::FRAME_CLOSE_PAYLOAD_LENGTH));
        assert!(e.message().contains("0x03"));
    }

    #[test]
    fn codes_that_must_not_be_sent() {
        for code in [1004u16, 1005, 1006, 1015] {
            let body = code.to_be_bytes();
            let c = parse_close(&body).unwrap();
            assert_eq!(
                c.problems(),
                vec![CloseProblem::CodeNotSendable {
                    code,
                    validity: CodeValidity::ReservedMustNotBeSent
                }]
            );
        }
        let p = parse_close(&1005u16.to_be_bytes()).unwrap().problems();
        assert!(p[0].message().contains("No Status Rcvd"));
        for code in [0u16, 999, 1016, 2999, 5000, u16::MAX] {
            assert_eq!(CodeValidity::of(code), CodeValidity::Unassigned, "{code}");
        }
        let p = parse_close(&2000u16.to_be_bytes()).unwrap().problems();
        assert!(matches!(
            p[..],
            [CloseProblem::CodeNotSendable {
                validity: CodeValidity::Unassigned,
                ..
            }]
        ));
        for code in [1000u16, 1003, 1007, 1014, 3000, 4999] {
            assert_eq!(CodeValidity::of(code), CodeValidity::Valid, "{code}");
        }
    }

    #[test]
    fn bad_reason_and_length() {
        let mut body = vec![0x03, 0xe8, b'o', b'k', 0xff];
        let c = parse_close(&body).unwrap();
        assert!(!c.reason_utf8);
        assert_eq!(
            c.problems(),
            vec![CloseProblem::ReasonNotUtf8 { valid_up_to: 2 }]
        );
        body.truncate(2);
        body.resize(200, b'x');
        let c = parse_close(&body).unwrap();
        assert_eq!(c.problems(), vec![CloseProblem::TooLong { len: 200 }]);
        for p in c.problems() {
            assert!(!p.message().is_empty());
            // The assembler's frame.control-too-long covers it.
            assert_eq!(p.rule(), None);
        }
    }

    #[test]
    fn registry_names() {
        assert_eq!(close_code_name(1010), Some("Mandatory Ext."));
        assert_eq!(close_code_name(1014), Some("Bad Gateway"));
        assert_eq!(close_code_name(1015), Some("TLS handshake"));
        assert_eq!(close_code_name(4000), None);
        assert!((1000..=1015).all(|c| close_code_name(c).is_some()));
    }

    #[test]
    fn labels_name_the_range_of_codes_without_a_name() {
        // RFC 6455 §7.4.2: 4000–4999 are private use, 3000–3999 registered.
        assert_eq!(close_code_label(4000), "private use (4000–4999)");
        assert_eq!(close_code_label(4999), "private use (4000–4999)");
        assert_eq!(close_code_label(3000), "Unauthorized");
        assert_eq!(close_code_label(3999), "registered with IANA (3000–3999)");
        assert_eq!(close_code_label(1000), "Normal Closure");
        assert_eq!(
            close_code_label(2000),
            "reserved for the protocol (1016–2999)"
        );
        assert_eq!(close_code_label(999), "not used (0–999)");
        assert_eq!(close_code_label(5000), "undefined (5000 and up)");
        assert!((3000..=4999).all(|c| !close_code_label(c).contains("unassigned")));
    }

    proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            match parse_close(&body) {
                Ok(c) => {
                    prop_assert!(c.reason_span.end <= body.len());
                    prop_assert_eq!(&body[c.reason_span.clone()], c.reason);
                    let _ = c.problems();
                }
                Err(e) => prop_assert_eq!(body.len(), 1, "{}", e.message()),
            }
        }
    }
}
