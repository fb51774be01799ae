//! A direct JSON writer for the step lines of `--format ndjson`.
//!
//! `--format ndjson` writes every step of a capture, several hundred bytes
//! each; through serde's `SerializeMap` machinery and serde_json's
//! byte-at-a-time string escaper that was most of its cost. This module
//! writes the same bytes straight into a buffer: [`step`] is byte for byte
//! what serde_json writes for [`super::json::step`]'s value (the `json`
//! document's steps; the tests compare the two on every step of every
//! capture in the repository, and the escaping on generated strings).

use serde_json::Value as J;

use super::json::rel_time;
use crate::jsonw::{ESCAPE, hex, int, plain, serde, uint};
pub use crate::jsonw::{Escaping, str, to_writer, to_writer_pretty, value};
use crate::step::{Field, Finding, Step, Timestamp, Value};

/// One field's value, typed as [`super::json::field_value`] types it.
fn field_value(out: &mut Vec<u8>, step: &Step, f: &Field) {
    match &f.value {
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::UInt(v) => uint(out, *v),
        Value::Int(v) => int(out, *v),
        Value::Float(v) => serde(out, &J::from(*v)),
        Value::Str(s) => str(out, s),
        Value::Bytes(b) => hex(out, b),
        Value::SpanBytes => hex(
            out,
            f.span.and_then(|s| step.span_bytes(&s)).unwrap_or_default(),
        ),
        Value::Json(v) => value(out, v),
    }
}

/// Seconds since `origin`, as [`rel_time`] writes them. From a
/// millisecond to about eleven days the seconds have at most fifteen
/// significant digits, so the float's shortest round-trip form is the exact
/// decimal itself, trailing zeros trimmed: written here without the float.
fn time(out: &mut Vec<u8>, t: Timestamp, origin: Timestamp) {
    let ns = t.as_nanos() - origin.as_nanos();
    if !(1_000_000..1_000_000_000_000_000).contains(&ns) {
        return value(out, &rel_time(t, origin));
    }
    let (secs, frac) = ((ns / 1_000_000_000) as u64, (ns % 1_000_000_000) as u32);
    uint(out, secs);
    out.push(b'.');
    if frac == 0 {
        out.push(b'0');
        return;
    }
    let digits = [
        frac / 100_000_000,
        frac / 10_000_000 % 10,
        frac / 1_000_000 % 10,
        frac / 100_000 % 10,
        frac / 10_000 % 10,
        frac / 1_000 % 10,
        frac / 100 % 10,
        frac / 10 % 10,
        frac % 10,
    ];
    // Not all zero (frac > 0), so this stops at the last nonzero digit.
    let mut keep = 9;
    while digits[keep - 1] == 0 {
        keep -= 1;
    }
    out.extend(digits[..keep].iter().map(|&d| b'0' + d as u8));
}

/// A field name and its colon. A name written in dispel's source (every
/// name but those taken from the wire, such as HTTP header names) is a
/// plain dotted identifier with nothing to escape, and is copied as it is:
/// field names are a third of a step line, and escaping them was a fifth
/// of `--format ndjson`. Debug builds (the tests) check the claim.
#[allow(clippy::ptr_arg)] // The variant is the point: borrowed names are dispel's own.
fn key(out: &mut Vec<u8>, name: &std::borrow::Cow<'static, str>) {
    match name {
        std::borrow::Cow::Borrowed(n) => {
            debug_assert!(
                n.bytes().all(|b| ESCAPE[usize::from(b)] == 0),
                "field name {n:?} needs escaping"
            );
            out.push(b'"');
            plain(out, n.as_bytes());
            out.extend_from_slice(b"\":");
        }
        std::borrow::Cow::Owned(n) => {
            str(out, n);
            out.push(b':');
        }
    }
}

const NONE: u32 = u32::MAX;

/// `{name: value}`, a repeated name as the array of its values in order,
/// names in first-appearance order.
fn fields(out: &mut Vec<u8>, step: &Step) {
    let fs = &step.fields;
    // For each field, the next field of the same name (NONE at the end of
    // a chain), and whether an earlier field already has its name. Few
    // fields: compare names pairwise; many (a hostile request's ten
    // thousand headers): a map.
    let mut next: smallvec::SmallVec<[u32; 24]> = smallvec::smallvec![NONE; fs.len()];
    let mut later: smallvec::SmallVec<[bool; 24]> = smallvec::smallvec![false; fs.len()];
    if fs.len() <= 32 {
        for i in 0..fs.len() {
            if later[i] {
                continue;
            }
            let mut last = i;
            for j in i + 1..fs.len() {
                if !later[j] && fs[j].name == fs[i].name {
                    next[last] = j as u32;
                    later[j] = true;
                    last = j;
                }
            }
        }
    } else {
        let mut tail: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (j, f) in fs.iter().enumerate() {
            if let Some(last) = tail.insert(f.name.as_ref(), j) {
                next[last] = j as u32;
                later[j] = true;
            }
        }
    }
    out.push(b'{');
    let mut first = true;
    for (i, f) in fs.iter().enumerate() {
        if later[i] {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        key(out, &f.name);
        if next[i] == NONE {
            field_value(out, step, f);
            continue;
        }
        out.push(b'[');
        let mut at = i;
        loop {
            field_value(out, step, &fs[at]);
            match next[at] {
                NONE => break,
                n => {
                    out.push(b',');
                    at = n as usize;
                }
            }
        }
        out.push(b']');
    }
    out.push(b'}');
}

fn findings(out: &mut Vec<u8>, fs: &[Finding]) {
    out.push(b'[');
    for (i, f) in fs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde(out, &super::json::finding(f));
    }
    out.push(b']');
}

/// A step's ndjson line (without the newline): the bytes serde_json writes
/// for `json::step(s, number, origin)`.
pub fn step(out: &mut Vec<u8>, s: &Step, number: u64, origin: Timestamp) {
    step_head(out, number);
    step_tail(out, s, origin);
}

/// A step line up to its number (the part only the numbering knows).
pub fn step_head(out: &mut Vec<u8>, number: u64) {
    out.extend_from_slice(b"{\"type\":\"step\",\"step\":");
    uint(out, number);
}

/// A step line after its number: what [`step_head`] leaves.
pub fn step_tail(out: &mut Vec<u8>, s: &Step, origin: Timestamp) {
    out.extend_from_slice(b",\"conn\":");
    uint(out, u64::from(s.conn));
    out.extend_from_slice(b",\"dir\":");
    str(out, s.dir.as_str());
    out.extend_from_slice(b",\"frames\":[");
    for (i, f) in s.frames.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        uint(out, *f);
    }
    out.extend_from_slice(b"],\"time\":");
    time(out, s.time, origin);
    out.extend_from_slice(b",\"kind\":");
    str(out, s.kind);
    if let Some(sess) = s.session {
        out.extend_from_slice(b",\"session\":");
        uint(out, u64::from(sess));
    }
    out.extend_from_slice(b",\"summary\":");
    str(out, &s.summary);
    out.extend_from_slice(b",\"fields\":");
    fields(out, s);
    out.extend_from_slice(b",\"findings\":");
    findings(out, &s.findings);
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonw::escape_mask;

    /// serde_json's writer with the [`Escaping`] formatter.
    fn via_serde<T: serde::Serialize + ?Sized>(v: &T) -> Vec<u8> {
        let mut out = Vec::new();
        to_writer(&mut out, v).unwrap();
        out
    }

    fn direct(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        str(&mut out, s);
        out
    }

    /// Synthetic strings: every byte that needs escaping, at every offset
    /// within and across the eight-byte words, and clean runs around them.
    #[test]
    fn strings_escape_as_serde_json_does() {
        let specials: Vec<char> = (0u8..0x20)
            .map(char::from)
            .chain(['"', '\\', '\u{7f}', 'é', '€', '😀', ' ', '!', '#', '[', ']'])
            // Every unsafe character above ASCII, and safe ones sharing
            // their UTF-8 lead byte.
            .chain(['\u{80}', '\u{9b}', '\u{9f}', '\u{a0}', '\u{61c}', '\u{61b}'])
            .chain([
                '\u{200e}', '\u{200f}', '\u{2028}', '\u{202e}', '\u{2066}', '\u{2069}',
            ])
            .chain(['\u{2026}', '\u{206a}'])
            .collect();
        for len in 0..20 {
            for at in 0..len.max(1) {
                for &c in &specials {
                    let mut s: String = "abcdefghijklmnopqrstuvwxyz".chars().take(len).collect();
                    if at < s.len() {
                        s.replace_range(at..at + 1, c.encode_utf8(&mut [0; 4]));
                    }
                    assert_eq!(direct(&s), via_serde(&s), "{s:?}");
                }
            }
        }
    }

    /// Every pair of bytes at every pair of positions in a word.
    #[test]
    fn word_mask_matches_the_table() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                for (i, j) in [(0, 7), (3, 4), (6, 1), (2, 2)] {
                    let mut w = [a; 8];
                    w[i] = b;
                    w[j] = b;
                    let want = (0..8)
                        .filter(|&k| ESCAPE[usize::from(w[k])] != 0)
                        .fold(0u64, |m, k| m | 0x80 << (8 * k));
                    assert_eq!(escape_mask(u64::from_le_bytes(w)), want, "{w:?}");
                }
            }
        }
    }

    /// Synthetic: random strings over an alphabet dense in bytes to escape.
    #[test]
    fn random_strings_escape_as_serde_json_does() {
        let alphabet: Vec<char> = "a\"\\\n\u{1}\u{1f} ~\u{7f}é😀\u{9b}\u{202e}\u{a9}€"
            .chars()
            .collect();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 40) as usize;
            let s: String = (0..len)
                .map(|k| alphabet[((x >> (k % 60)) as usize + k * 7) % alphabet.len()])
                .collect();
            assert_eq!(direct(&s), via_serde(&s), "{s:?}");
        }
    }

    /// Synthetic times, either side of the direct path's bounds and with
    /// every count of trailing zeros.
    #[test]
    fn times_write_as_the_float_does() {
        let origin = Timestamp {
            secs: 1_700_000_000,
            nanos: 123_456_789,
        };
        let mut cases: Vec<i128> = vec![0, 1, 999_999, 1_000_000, 1_000_001, 999_999_999_999_999];
        for zeros in 0..=9u32 {
            for lead in [1i128, 7, 123_456, 999_999, 1_000_000_000, 1_000_000_000_000] {
                cases.push(lead * 10i128.pow(zeros));
                cases.push(lead * 10i128.pow(zeros) + 1_000_000_000 * 86_400);
            }
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(i128::from(x % 2_000_000_000_000_000));
        }
        for ns in cases {
            let at = origin.as_nanos() + ns;
            let t = Timestamp {
                secs: at.div_euclid(1_000_000_000) as i64,
                nanos: at.rem_euclid(1_000_000_000) as u32,
            };
            let mut got = Vec::new();
            time(&mut got, t, origin);
            let want = serde_json::to_vec(&rel_time(t, origin)).unwrap();
            assert_eq!(got, want, "{ns} ns");
        }
    }

    /// Synthetic: a name repeated three times whose first value is itself
    /// an array, and one repeated twice, among single ones. Both writers
    /// give `[first, second, third]`, names in first-appearance order.
    #[test]
    fn repeated_names_group_as_the_reference_does() {
        use crate::step::{Dir, Field};
        let mut s = Step::new(0, Dir::C2s, "http.request", Timestamp::default());
        let arr = Value::Json(serde_json::json!([1, 2]));
        s.fields.push(Field::new("a", arr));
        s.fields.push(Field::new("b", 1u64));
        s.fields.push(Field::new("a", 3u64));
        s.fields.push(Field::new("c", "x"));
        s.fields.push(Field::new("a", 4u64));
        s.fields.push(Field::new("c", "y"));
        let want = via_serde(&super::super::json::step(&s, 7, Timestamp::default()));
        let mut got = Vec::new();
        step(&mut got, &s, 7, Timestamp::default());
        assert_eq!(got, want);
        let text = String::from_utf8(got).unwrap();
        assert!(
            text.contains(r#""fields":{"a":[[1,2],3,4],"b":1,"c":["x","y"]}"#),
            "{text}"
        );
    }

    #[test]
    fn values_write_as_serde_json_does() {
        let v: J = serde_json::from_str(
            r#"[null,true,false,0,-1,18446744073709551615,-9223372036854775808,1.5,-0.0,1e300,
               "a\"b\\c\u0001\n",{"k":{"":[]},"é":"\u2028"},[],{}]"#,
        )
        .unwrap();
        let mut out = Vec::new();
        value(&mut out, &v);
        assert_eq!(out, via_serde(&v));
    }

    /// Every character the text formats escape is escaped here too, as a
    /// JSON `\u` escape that decodes back to it, by both writers, compact
    /// and pretty; everything else passes through raw.
    #[test]
    fn unsafe_characters_are_escaped_and_round_trip() {
        for v in 0..=0x10ffffu32 {
            let Some(c) = char::from_u32(v) else { continue };
            if !(crate::sanitize::is_unsafe(c) || v < 0x3000) {
                continue;
            }
            let s = format!("a{c}b");
            let direct = direct(&s);
            let serde = via_serde(&s);
            let mut pretty = Vec::new();
            to_writer_pretty(&mut pretty, &s).unwrap();
            assert_eq!(direct, serde, "{v:#x}");
            assert_eq!(direct, pretty, "{v:#x}");
            let text = String::from_utf8(direct).unwrap();
            let raw = text.contains(c);
            if crate::sanitize::is_unsafe(c) {
                assert!(!raw, "{v:#x} raw in {text:?}");
                if v >= 0x7f {
                    assert_eq!(text, format!("\"a\\u{v:04x}b\""));
                }
            } else if c != '"' && c != '\\' {
                assert!(raw, "{v:#x} escaped in {text:?}");
            }
            let back: String = serde_json::from_str(&text).unwrap();
            assert_eq!(back, s);
        }
        // Past the first 32-byte block, and across a block boundary.
        for at in [31, 32, 45, 63, 64, 100] {
            for c in ['\u{9b}', '\u{202e}', '\u{7f}', '\u{61c}'] {
                let s = format!("{}{c}{}", "x".repeat(at), "y".repeat(40));
                let text = String::from_utf8(direct(&s)).unwrap();
                assert!(!text.contains(c), "{at}: {text:?}");
                assert_eq!(direct(&s), via_serde(&s));
            }
        }
    }
}
