//! Terminal safety: text from a capture or a lesson never reaches a terminal
//! raw.
//!
//! Escape sequences (CSI, OSC …) start with ESC or a C1 control; NUL,
//! backspace and carriage return can overwrite what was printed; Unicode
//! bidirectional controls can make text display in another order than it
//! reads ("Trojan Source", CVE-2021-42574). All are shown escaped, as
//! `\x1b` or `\u{202e}`, so a student sees that they are there.
//! JSON outputs escape the same set, as JSON `\u001b` / `\u202e` escapes
//! that keep the exact value (`crate::jsonw`).

use std::borrow::Cow;
use std::fmt::Write;

/// Whether a character must not be printed raw.
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        // Bidirectional embeddings, overrides and isolates, and the marks.
        | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        | '\u{061c}'
        // Line and paragraph separators break layouts.
        | '\u{2028}' | '\u{2029}'
    )
}

/// Whether every byte is printable ASCII (space to `~`): nothing to
/// escape. Most text on the wire is; this test vectorises, where the
/// general path decodes each character.
fn printable_ascii(b: &[u8]) -> bool {
    b.iter().all(|&c| matches!(c, 0x20..=0x7e))
}

/// Escapes unsafe characters (keeping `\n` and `\t` if `keep_newlines`).
pub fn escape_with(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    if printable_ascii(s.as_bytes()) {
        return Cow::Borrowed(s);
    }
    let keep = |c: char| keep_newlines && (c == '\n' || c == '\t');
    if !s.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !is_unsafe(c) || keep(c) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

/// Escapes every unsafe character, newlines included: for one-line output.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_with(s, false)
}

/// Renders bytes as text for a terminal: valid UTF-8 runs as text (escaped),
/// invalid bytes as `\xNN`.
pub fn bytes_as_text(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    push_bytes_as_text(&mut out, b);
    out
}

/// [`bytes_as_text`], appended to `out`.
pub fn push_bytes_as_text(out: &mut String, b: &[u8]) {
    if printable_ascii(b)
        && let Ok(s) = std::str::from_utf8(b)
    {
        out.push_str(s);
        return;
    }
    for chunk in b.utf8_chunks() {
        out.push_str(&escape(chunk.valid()));
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
}

/// Renders bytes for one-line display.
pub fn preview(b: &[u8], max: usize) -> String {
    let mut s = String::new();
    push_preview(&mut s, b, max);
    s
}

/// [`preview`], appended to `out`.
pub fn push_preview(out: &mut String, b: &[u8], max: usize) {
    let cut = &b[..b.len().min(max)];
    push_bytes_as_text(out, cut);
    if b.len() > max {
        out.push('…');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_could_drive_a_terminal() {
        assert_eq!(escape("plain text"), "plain text");
        assert_eq!(escape("\x1b[2Jclear"), "\\x1b[2Jclear");
        assert_eq!(escape("\x1b]0;title\x07"), "\\x1b]0;title\\x07");
        assert_eq!(escape("a\u{9b}b"), "a\\u{9b}b");
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(escape("x\0y\x08z\r"), "x\\x00y\\x08z\\x0d");
        assert_eq!(escape_with("two\nlines", true), "two\nlines");
        assert_eq!(escape("two\nlines"), "two\\x0alines");
    }

    /// The printable-ASCII shortcut agrees with the general path on every
    /// single byte and on runs around it.
    #[test]
    fn shortcut_agrees_with_the_general_path() {
        fn general(b: &[u8]) -> String {
            let mut out = String::new();
            for chunk in b.utf8_chunks() {
                for c in chunk.valid().chars() {
                    if is_unsafe(c) {
                        let _ = if (c as u32) < 0x80 {
                            write!(out, "\\x{:02x}", c as u32)
                        } else {
                            write!(out, "\\u{{{:x}}}", c as u32)
                        };
                    } else {
                        out.push(c);
                    }
                }
                for byte in chunk.invalid() {
                    let _ = write!(out, "\\x{byte:02x}");
                }
            }
            out
        }
        for b in 0..=255u8 {
            for bytes in [vec![b], vec![b'a', b, b'z'], vec![b; 9]] {
                assert_eq!(bytes_as_text(&bytes), general(&bytes), "{bytes:?}");
                if let Ok(s) = std::str::from_utf8(&bytes) {
                    assert_eq!(escape(s), general(&bytes), "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn invalid_utf8_is_shown_as_hex() {
        assert_eq!(bytes_as_text(b"ok\xff\x1b"), "ok\\xff\\x1b");
    }
}
