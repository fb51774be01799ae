//! Lesson text interpolation: `{field.name}` inserts a field of the bound
//! step, `{field.name:raw}` its value without its display text, `{{` and
//! `}}` are literal braces. Names are `[A-Za-z0-9_.-]+`.

/// A piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    /// A `{name}` or `{name:raw}`; `at` is the byte offset of its `{`.
    Name {
        name: &'a str,
        at: usize,
        /// `{name:raw}`: the value, not its display text.
        raw: bool,
    },
}

/// The suffix asking for a field's value without its display text.
pub const RAW: &str = ":raw";

/// A malformed brace: its byte offset and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BraceError {
    pub at: usize,
    pub message: &'static str,
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Splits a template into text and names. Malformed braces are reported and
/// kept as text, so rendering never fails.
pub fn parse<'a>(s: &'a str) -> (Vec<Piece<'a>>, Vec<BraceError>) {
    let mut pieces = Vec::new();
    let mut errors = Vec::new();
    let b = s.as_bytes();
    let mut text_start = 0;
    let mut i = 0;
    let flush = |pieces: &mut Vec<Piece<'a>>, from: usize, to: usize| {
        if to > from {
            pieces.push(Piece::Text(&s[from..to]));
        }
    };
    while i < b.len() {
        match b[i] {
            b'{' if b.get(i + 1) == Some(&b'{') => {
                flush(&mut pieces, text_start, i + 1);
                i += 2;
                text_start = i;
            }
            b'}' if b.get(i + 1) == Some(&b'}') => {
                flush(&mut pieces, text_start, i + 1);
                i += 2;
                text_start = i;
            }
            b'{' => {
                let rest = &s[i + 1..];
                let len = rest.find(|c: char| !name_char(c)).unwrap_or(rest.len());
                let raw = rest[len..].starts_with(RAW);
                let end = if raw { len + RAW.len() } else { len };
                if len > 0 && rest[end..].starts_with('}') {
                    flush(&mut pieces, text_start, i);
                    pieces.push(Piece::Name {
                        name: &rest[..len],
                        at: i,
                        raw,
                    });
                    i += end + 2;
                    text_start = i;
                } else {
                    errors.push(BraceError {
                        at: i,
                        message: "unbalanced `{`: a field is written `{field.name}`, a literal brace `{{`",
                    });
                    i += 1;
                }
            }
            b'}' => {
                errors.push(BraceError {
                    at: i,
                    message: "unbalanced `}`: a literal brace is written `}}`",
                });
                i += 1;
            }
            _ => i += 1,
        }
    }
    flush(&mut pieces, text_start, b.len());
    (pieces, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_text_and_escaped_braces() {
        let (p, e) = parse("key {websocket.masking_key}, {{literal}} {step.dir}");
        assert!(e.is_empty());
        assert_eq!(
            p,
            vec![
                Piece::Text("key "),
                Piece::Name {
                    name: "websocket.masking_key",
                    at: 4,
                    raw: false
                },
                Piece::Text(", {"),
                Piece::Text("literal}"),
                Piece::Text(" "),
                Piece::Name {
                    name: "step.dir",
                    at: 41,
                    raw: false
                },
            ]
        );
    }

    #[test]
    fn raw_names() {
        let (p, e) = parse("in {socketio.namespace:raw}.");
        assert!(e.is_empty());
        assert_eq!(
            p[1],
            Piece::Name {
                name: "socketio.namespace",
                at: 3,
                raw: true
            }
        );
        // Any other suffix is not a name.
        assert_eq!(parse("{a:shown}").1.len(), 2);
        assert_eq!(parse("{:raw}").1.len(), 2);
    }

    #[test]
    fn unbalanced_braces_are_reported_and_kept() {
        let (p, e) = parse("a {b c} d}");
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].at, 2);
        assert_eq!(e[2].at, 9);
        assert!(e[0].message.starts_with("unbalanced `{`"));
        assert_eq!(e[1].at, 6);
        assert!(e[1].message.starts_with("unbalanced `}`"));
        let text: String = p
            .iter()
            .map(|p| match p {
                Piece::Text(t) => *t,
                Piece::Name { .. } => "",
            })
            .collect();
        assert_eq!(text, "a {b c} d}");
        assert_eq!(parse("{}").1.len(), 2);
        assert_eq!(parse("{x").1.len(), 1);
    }
}
