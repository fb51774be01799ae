//! The `Sec-WebSocket-Extensions` header (RFC 6455 §9.1) and the
//! parameters of permessage-deflate (RFC 7692 §7.1).
//!
//! ```text
//! Sec-WebSocket-Extensions = extension-list
//! extension-list = 1#extension
//! extension = extension-token *( ";" extension-param )
//! extension-token = registered-token
//! registered-token = token
//! extension-param = token [ "=" (token | quoted-string) ]
//!     ; When using the quoted-string syntax variant, the value
//!     ; after quoted-string unescaping MUST conform to the
//!     ; 'token' ABNF.
//! ```
//!
//! The parser is lenient in the observer's way: it keeps every extension it
//! can make out and lists syntax problems beside them, each with its byte
//! offset in the header value. Empty list elements (`a, , b`) are accepted
//! silently, as RFC 9110 §5.6.1 asks of recipients.
//!
//! For permessage-deflate the server's response is authoritative: it fixes
//! the parameters both directions use (RFC 7692 §7.1).

use std::ops::Range;

/// The extension name RFC 7692 registers.
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// One extension from the list, with its parameters in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: String,
    /// Parameters as (name, value); quoted values are unquoted.
    pub params: Vec<(String, Option<String>)>,
    /// Bytes of this extension within the header value it was parsed
    /// from (add that header's `value_span.start` for a stream offset).
    pub span: Range<usize>,
}

/// A syntax problem in a `Sec-WebSocket-Extensions` value. Offsets are into
/// the header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionSyntaxProblem {
    /// A character where a token, `;`, `,` or `=` was expected; the parser
    /// skipped to the next `;` or `,`.
    Unexpected {
        /// Byte offset.
        at: usize,
        /// The character found.
        found: char,
    },
    /// `name=` with nothing after the `=`.
    MissingValue {
        /// Byte offset of the parameter.
        at: usize,
        /// The parameter name.
        param: String,
    },
    /// A quoted string with no closing quote.
    UnterminatedQuote {
        /// Byte offset of the opening quote.
        at: usize,
    },
    /// A quoted value that is not a token after unescaping.
    QuotedValueNotToken {
        /// Byte offset of the opening quote.
        at: usize,
        /// The unescaped value.
        value: String,
    },
}

impl ExtensionSyntaxProblem {
    /// One sentence that teaches the rule and what was seen.
    pub fn message(&self) -> String {
        match self {
            ExtensionSyntaxProblem::Unexpected { at, found } => format!(
                "Sec-WebSocket-Extensions is a list of 'name; param=value' items separated by commas; the character {found:?} at offset {at} does not fit"
            ),
            ExtensionSyntaxProblem::MissingValue { at, param } => format!(
                "extension parameter \"{param}\" at offset {at} has '=' but no value; either drop the '=' or give a token"
            ),
            ExtensionSyntaxProblem::UnterminatedQuote { at } => {
                format!("the quoted string opened at offset {at} never closes")
            }
            ExtensionSyntaxProblem::QuotedValueNotToken { value, .. } => format!(
                "a quoted extension parameter value must still be a token once unquoted, but \"{value}\" is not"
            ),
        }
    }
}

/// Extensions and syntax problems from one header value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedExtensions {
    /// The extensions in order.
    pub extensions: Vec<Extension>,
    /// Syntax problems, in order of position.
    pub problems: Vec<ExtensionSyntaxProblem>,
}

/// RFC 9110 §5.6.2 tchar.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

struct Cursor<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.at).copied()
    }
    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }
    fn token(&mut self) -> &'a str {
        let start = self.at;
        while self.peek().is_some_and(is_tchar) {
            self.at += 1;
        }
        self.s.get(start..self.at).unwrap_or_default()
    }
    fn found(&self) -> char {
        self.s
            .get(self.at..)
            .and_then(|r| r.chars().next())
            .unwrap_or(' ')
    }
    /// Skips to the next `stop` byte outside quotes (not consuming it).
    fn skip_to(&mut self, stops: &[u8]) {
        let mut quoted = false;
        while let Some(b) = self.peek() {
            match b {
                b'"' => quoted = !quoted,
                b'\\' if quoted => self.at += 1,
                _ if !quoted && stops.contains(&b) => return,
                _ => {}
            }
            self.at += 1;
        }
        self.at = self.at.min(self.s.len());
    }
    /// Reads a quoted-string starting at `"`; `None` if it never closes.
    fn quoted(&mut self) -> Option<String> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let c = self.s.get(self.at..)?.chars().next()?;
            self.at += c.len_utf8();
            match c {
                '"' => return Some(out),
                '\\' => {
                    let e = self.s.get(self.at..)?.chars().next()?;
                    self.at += e.len_utf8();
                    out.push(e);
                }
                c => out.push(c),
            }
        }
    }
}

/// Parses one `Sec-WebSocket-Extensions` value. Call it once per header
/// line and concatenate, since the header may be repeated.
pub fn parse_extensions(value: &str) -> ParsedExtensions {
    let mut out = ParsedExtensions::default();
    let mut c = Cursor { s: value, at: 0 };
    loop {
        while matches!(c.peek(), Some(b' ' | b'\t' | b',')) {
            c.at += 1;
        }
        if c.peek().is_none() {
            break;
        }
        let start = c.at;
        let name = c.token();
        if name.is_empty() {
            out.problems.push(ExtensionSyntaxProblem::Unexpected {
                at: c.at,
                found: c.found(),
            });
            c.skip_to(b",");
            continue;
        }
        let mut ext = Extension {
            name: name.to_owned(),
            params: Vec::new(),
            span: start..c.at,
        };
        loop {
            c.skip_ows();
            match c.peek() {
                None | Some(b',') => break,
                Some(b';') => {
                    c.at += 1;
                    c.skip_ows();
                    let p_at = c.at;
                    let pname = c.token();
                    if pname.is_empty() {
                        out.problems.push(ExtensionSyntaxProblem::Unexpected {
                            at: c.at,
                            found: c.found(),
                        });
                        c.skip_to(b";,");
                        continue;
                    }
                    c.skip_ows();
                    let mut pvalue = None;
                    if c.peek() == Some(b'=') {
                        c.at += 1;
                        c.skip_ows();
                        let v_at = c.at;
                        if c.peek() == Some(b'"') {
                            match c.quoted() {
                                Some(v) => {
                                    if !is_token(&v) {
                                        out.problems.push(
                                            ExtensionSyntaxProblem::QuotedValueNotToken {
                                                at: v_at,
                                                value: v.clone(),
                                            },
                                        );
                                    }
                                    pvalue = Some(v);
                                }
                                None => {
                                    out.problems
                                        .push(ExtensionSyntaxProblem::UnterminatedQuote {
                                            at: v_at,
                                        });
                                    c.at = value.len();
                                    pvalue = value.get(v_at + 1..).map(str::to_owned);
                                }
                            }
                        } else {
                            let v = c.token();
                            if v.is_empty() {
                                out.problems.push(ExtensionSyntaxProblem::MissingValue {
                                    at: p_at,
                                    param: pname.to_owned(),
                                });
                            } else {
                                pvalue = Some(v.to_owned());
                            }
                        }
                    }
                    ext.params.push((pname.to_owned(), pvalue));
                    ext.span.end = c.at;
                }
                Some(_) => {
                    out.problems.push(ExtensionSyntaxProblem::Unexpected {
                        at: c.at,
                        found: c.found(),
                    });
                    c.skip_to(b";,");
                }
            }
        }
        out.extensions.push(ext);
    }
    out
}

/// Which side of the negotiation a permessage-deflate element comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client's offer (request).
    Offer,
    /// The server's answer (response); authoritative.
    Response,
}

/// permessage-deflate's negotiated parameters (RFC 7692 §7.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compression context after each message, so
    /// the client's inflater for server messages resets too.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after each message.
    pub client_no_context_takeover: bool,
    /// LZ77 window of the server's compressor, 8–15.
    pub server_max_window_bits: Option<u8>,
    /// LZ77 window of the client's compressor, 8–15 (in an offer it may be
    /// present without a value: see `client_max_window_bits_present`).
    pub client_max_window_bits: Option<u8>,
    /// `client_max_window_bits` appeared at all (with or without a value).
    pub client_max_window_bits_present: bool,
}

/// A permessage-deflate parameter problem (RFC 7692 §7.1): a server MUST
/// decline such an offer, a client MUST fail on such a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeflateParamProblem {
    /// A parameter RFC 7692 does not define.
    UnknownParam {
        /// Its name.
        name: String,
    },
    /// The same parameter twice.
    Duplicate {
        /// Its name.
        name: String,
    },
    /// A value on a parameter that takes none (`*_no_context_takeover`).
    UnexpectedValue {
        /// The parameter.
        name: String,
        /// The value given.
        value: String,
    },
    /// No value where one is required (`server_max_window_bits`, or
    /// `client_max_window_bits` in a response).
    MissingValue {
        /// The parameter.
        name: String,
    },
    /// A window size that is not a decimal 8–15 without leading zeros.
    BitsInvalid {
        /// The parameter.
        name: String,
        /// The value given.
        value: String,
    },
    /// The server set `client_max_window_bits` though the client's offer
    /// did not include it.
    ClientBitsNotOffered,
}

impl DeflateParamProblem {
    /// One sentence that teaches the rule and what was seen.
    pub fn message(&self) -> String {
        match self {
            DeflateParamProblem::UnknownParam { name } => format!(
                "permessage-deflate defines only server_/client_no_context_takeover and server_/client_max_window_bits; \"{name}\" is not one of them"
            ),
            DeflateParamProblem::Duplicate { name } => {
                format!("permessage-deflate parameter \"{name}\" appears more than once")
            }
            DeflateParamProblem::UnexpectedValue { name, value } => {
                format!("\"{name}\" takes no value, but has \"{value}\"")
            }
            DeflateParamProblem::MissingValue { name } => {
                format!("\"{name}\" needs a value here: a window size from 8 to 15")
            }
            DeflateParamProblem::BitsInvalid { name, value } => format!(
                "\"{name}\" must be a decimal 8 to 15 without leading zeros, but is \"{value}\""
            ),
            DeflateParamProblem::ClientBitsNotOffered => "the server answered with client_max_window_bits, which it may only do if the client offered it".into(),
        }
    }
}

impl DeflateParams {
    /// Reads permessage-deflate parameters from one extension element,
    /// listing what breaks RFC 7692 §7.1 (the values still take effect
    /// where they can be read, as an observer's best guess).
    pub fn from_extension(
        ext: &Extension,
        side: Side,
    ) -> (DeflateParams, Vec<DeflateParamProblem>) {
        let mut p = DeflateParams::default();
        let mut problems = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in &ext.params {
            let lname = name.to_ascii_lowercase();
            let known = [
                "server_no_context_takeover",
                "client_no_context_takeover",
                "server_max_window_bits",
                "client_max_window_bits",
            ];
            let Some(&canon) = known.iter().find(|k| **k == lname) else {
                problems.push(DeflateParamProblem::UnknownParam { name: name.clone() });
                continue;
            };
            if seen.contains(&canon) {
                problems.push(DeflateParamProblem::Duplicate { name: name.clone() });
            }
            seen.push(canon);
            match canon {
                "server_no_context_takeover" | "client_no_context_takeover" => {
                    if let Some(v) = value {
                        problems.push(DeflateParamProblem::UnexpectedValue {
                            name: name.clone(),
                            value: v.clone(),
                        });
                    }
                    if canon.starts_with("server") {
                        p.server_no_context_takeover = true;
                    } else {
                        p.client_no_context_takeover = true;
                    }
                }
                _ => {
                    let is_client = canon.starts_with("client");
                    if is_client {
                        p.client_max_window_bits_present = true;
                    }
                    let bits = match value {
                        None => {
                            // §7.1.2.2: only an offer may carry
                            // client_max_window_bits without a value.
                            if !(is_client && side == Side::Offer) {
                                problems
                                    .push(DeflateParamProblem::MissingValue { name: name.clone() });
                            }
                            None
                        }
                        Some(v) => match parse_bits(v) {
                            Some(b) => Some(b),
                            None => {
                                problems.push(DeflateParamProblem::BitsInvalid {
                                    name: name.clone(),
                                    value: v.clone(),
                                });
                                None
                            }
                        },
                    };
                    if is_client {
                        p.client_max_window_bits = bits.or(p.client_max_window_bits);
                    } else {
                        p.server_max_window_bits = bits.or(p.server_max_window_bits);
                    }
                }
            }
        }
        (p, problems)
    }
}

/// A window size: decimal 8–15 with no leading zero (RFC 7692 §7.1.2.1).
fn parse_bits(v: &str) -> Option<u8> {
    if v.starts_with('0') || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse::<u8>().ok().filter(|b| (8..=15).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(name: &str, value: Option<&str>) -> (String, Option<String>) {
        (name.to_owned(), value.map(str::to_owned))
    }

    #[test]
    fn typical_browser_offer() {
        let v = "permessage-deflate; client_max_window_bits";
        let r = parse_extensions(v);
        assert!(r.problems.is_empty());
        assert_eq!(r.extensions.len(), 1);
        let e = &r.extensions[0];
        assert_eq!(e.name, PERMESSAGE_DEFLATE);
        assert_eq!(e.params, vec![p("client_max_window_bits", None)]);
        assert_eq!(&v[e.span.clone()], v);
        let (d, probs) = DeflateParams::from_extension(e, Side::Offer);
        assert!(probs.is_empty());
        assert!(d.client_max_window_bits_present);
        assert_eq!(d.client_max_window_bits, None);
    }

    #[test]
    fn list_quotes_and_spans() {
        // RFC 7692 §5's offer example plus a quoted value.
        let v = "permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate;client_max_window_bits=\"12\" ,, foo";
        let r = parse_extensions(v);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        let names: Vec<&str> = r.extensions.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["permessage-deflate", "permessage-deflate", "foo"]);
        assert_eq!(
            r.extensions[0].params,
            vec![
                p("client_max_window_bits", None),
                p("server_max_window_bits", Some("10"))
            ]
        );
        assert_eq!(
            r.extensions[1].params,
            vec![p("client_max_window_bits", Some("12"))]
        );
        assert_eq!(
            &v[r.extensions[1].span.clone()],
            "permessage-deflate;client_max_window_bits=\"12\""
        );
        assert_eq!(&v[r.extensions[2].span.clone()], "foo");
    }

    #[test]
    fn syntax_problems() {
        let r = parse_extensions("a; b=, c; d=\"x y\", @e, f; g=\"open");
        assert_eq!(r.problems.len(), 4, "{:?}", r.problems);
        assert!(matches!(
            &r.problems[0],
            ExtensionSyntaxProblem::MissingValue { param, .. } if param == "b"
        ));
        assert!(matches!(
            &r.problems[1],
            ExtensionSyntaxProblem::QuotedValueNotToken { value, .. } if value == "x y"
        ));
        assert!(matches!(
            r.problems[2],
            ExtensionSyntaxProblem::Unexpected { found: '@', at: 19 }
        ));
        assert!(matches!(
            r.problems[3],
            ExtensionSyntaxProblem::UnterminatedQuote { .. }
        ));
        let names: Vec<&str> = r.extensions.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a", "c", "f"]);
        assert_eq!(r.extensions[2].params, vec![p("g", Some("open"))]);
        for pr in &r.problems {
            assert!(!pr.message().is_empty());
        }
        let r = parse_extensions("a b");
        assert!(matches!(
            r.problems[..],
            [ExtensionSyntaxProblem::Unexpected { found: 'b', at: 2 }]
        ));
    }

    fn response(v: &str) -> (DeflateParams, Vec<DeflateParamProblem>) {
        let r = parse_extensions(v);
        DeflateParams::from_extension(&r.extensions[0], Side::Response)
    }

    #[test]
    fn deflate_response_params() {
        let (d, probs) = response(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=15",
        );
        assert!(probs.is_empty());
        assert_eq!(
            d,
            DeflateParams {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: Some(9),
                client_max_window_bits: Some(15),
                client_max_window_bits_present: true,
            }
        );
    }

    #[test]
    fn deflate_param_problems() {
        let (_, probs) = response("permessage-deflate; x_foo");
        assert_eq!(
            probs,
            vec![DeflateParamProblem::UnknownParam {
                name: "x_foo".into()
            }]
        );
        let (d, probs) =
            response("permessage-deflate; server_no_context_takeover; server_no_context_takeover");
        assert!(d.server_no_context_takeover);
        assert!(matches!(probs[..], [DeflateParamProblem::Duplicate { .. }]));
        let (_, probs) = response("permessage-deflate; client_no_context_takeover=1");
        assert!(matches!(
            probs[..],
            [DeflateParamProblem::UnexpectedValue { .. }]
        ));
        let (_, probs) = response("permessage-deflate; client_max_window_bits");
        assert!(matches!(
            probs[..],
            [DeflateParamProblem::MissingValue { .. }]
        ));
        let (_, probs) = response("permessage-deflate; server_max_window_bits");
        assert!(matches!(
            probs[..],
            [DeflateParamProblem::MissingValue { .. }]
        ));
        for bad in ["7", "16", "010", "x", "300"] {
            let (d, probs) = response(&format!("permessage-deflate; server_max_window_bits={bad}"));
            assert_eq!(d.server_max_window_bits, None);
            assert!(
                matches!(&probs[..], [DeflateParamProblem::BitsInvalid { value, .. }] if value == bad)
            );
        }
        for pr in [
            DeflateParamProblem::ClientBitsNotOffered,
            DeflateParamProblem::MissingValue { name: "x".into() },
        ] {
            assert!(!pr.message().is_empty());
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,60}") {
            let r = parse_extensions(&s);
            for e in &r.extensions {
                prop_assert!(s.get(e.span.clone()).is_some());
                let _ = DeflateParams::from_extension(e, Side::Offer);
                let _ = DeflateParams::from_extension(e, Side::Response);
            }
        }

        #[test]
        fn never_panics_on_grammar_soup(s in "[a-z_;=,\" \\\\\t0-9]{0,60}") {
            let r = parse_extensions(&s);
            for e in &r.extensions {
                prop_assert!(s.get(e.span.clone()).is_some());
                prop_assert!(is_token(&e.name));
            }
        }
    }
}
