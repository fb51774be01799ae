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
use crate::step::{Field, Finding, Step, Timestamp, Value};

/// What serde_json writes for each byte inside a string: 0 for the byte
/// itself, else the letter after the backslash (`u` for `\u00XX`).
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of each byte of `w` that needs escaping: a control byte,
/// `"` or `\`. Exact per byte (no carry crosses a byte: each sum is at
/// most 0xfe), so the set bits are exactly the bytes to escape.
fn escape_mask(w: u64) -> u64 {
    // Below 0x20: the high bit clear, and the low seven bits + 0x60 too.
    let control = !((w & LOW7).wrapping_add(ONES * 0x60) | w);
    let zero = |x: u64| !((x & LOW7).wrapping_add(LOW7) | x);
    let quote = zero(w ^ (ONES * u64::from(b'"')));
    let backslash = zero(w ^ (ONES * u64::from(b'\\')));
    (control | quote | backslash) & HIGHS
}

/// `s` as a JSON string: escaped as serde_json escapes it, eight bytes at
/// a time, and every other character [`crate::sanitize::is_unsafe`] names
/// (DEL, C1, the bidirectional controls, U+2028/2029) as `\u00XX` /
/// `\u202e`, so no output carries them raw ([`Escaping`] gives serde_json
/// the same rule).
pub fn str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 10);
    out.push(b'"');
    unsafe_aware(s, |run, special| {
        serde_escaped(out, run.as_bytes());
        if let Some(c) = special {
            unicode(out, c);
        }
    });
    out.push(b'"');
}

/// Lead bytes of the UTF-8 encodings of every character
/// [`crate::sanitize::is_unsafe`] names above ASCII's controls: DEL, `C2`
/// (C1 controls), `D8` (U+061C), `E2` (U+200E/F, U+2028-202E, U+2066-2069).
/// A string without them is escaped on the fast path alone.
fn may_hold_unsafe(s: &str) -> bool {
    // Whole 32-byte blocks without an early exit, so the test vectorises.
    s.as_bytes().chunks(32).any(|block| {
        block.iter().fold(false, |seen, &b| {
            seen | matches!(b, 0x7f | 0xc2 | 0xd8 | 0xe2)
        })
    })
}

/// Splits `s` at the characters at or above DEL that
/// [`crate::sanitize::is_unsafe`] names: `each` gets the text before one
/// (which may still hold what JSON itself escapes) and that character, and
/// finally the rest with `None`.
fn unsafe_aware(s: &str, mut each: impl FnMut(&str, Option<char>)) {
    if !may_hold_unsafe(s) {
        return each(s, None);
    }
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if u32::from(c) >= 0x7f && crate::sanitize::is_unsafe(c) {
            each(&s[start..i], Some(c));
            start = i + c.len_utf8();
        }
    }
    each(&s[start..], None);
}

/// `\uXXXX` for a character of the Basic Multilingual Plane (every unsafe
/// character is), lowercase hex as serde_json writes C0 controls.
fn unicode(out: &mut Vec<u8>, c: char) {
    out.extend_from_slice(&unicode_escape(c));
}

fn unicode_escape(c: char) -> [u8; 6] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let v = u32::from(c);
    debug_assert!(v <= 0xffff);
    let hex = |shift: u32| HEX[((v >> shift) & 0xf) as usize];
    [b'\\', b'u', hex(12), hex(8), hex(4), hex(0)]
}

/// The body of a JSON string, without quotes, escaped exactly as serde_json
/// escapes it.
fn serde_escaped(out: &mut Vec<u8>, s: &[u8]) {
    let words = s.chunks_exact(8);
    let tail = words.remainder();
    for word in words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let w = u64::from_le_bytes(w);
        self::word(out, w, escape_mask(w), 8);
    }
    if !tail.is_empty() {
        // The tail as a word, zero-padded, without a variable-length copy
        // (a `memcpy` call): the string's last eight bytes shifted down,
        // or, for a string shorter than a word, its bytes one by one.
        let w = match s.len().checked_sub(8) {
            Some(from) => {
                let mut last = [0u8; 8];
                last.copy_from_slice(&s[from..]);
                u64::from_le_bytes(last) >> (8 * (8 - tail.len()))
            }
            None => tail.iter().rev().fold(0, |w, &b| w << 8 | u64::from(b)),
        };
        // The padding is zeros, which are control bytes: keep only the
        // bits of real bytes.
        let real = HIGHS >> (8 * (8 - tail.len()));
        self::word(out, w, escape_mask(w) & real, tail.len());
    }
}

/// serde_json's formatter `F` (compact or pretty) with [`str`]'s escaping:
/// every document dispel writes through serde_json goes through it, so
/// JSON, ndjson, `streams --format json` and `check --format json` escape
/// the same characters as the step lines (and, as `\u…`, the same set the
/// text formats show as `\x1b` / `\u{202e}`).
pub struct Escaping<F>(pub F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for Escaping<F> {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        // serde_json has escaped its own set already; the fragment holds
        // none of it.
        let mut result = Ok(());
        unsafe_aware(fragment, |run, special| {
            if result.is_ok() {
                result = w.write_all(run.as_bytes());
            }
            if let (Ok(()), Some(c)) = (&result, special) {
                result = w.write_all(&unicode_escape(c));
            }
        });
        result
    }

    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// `v` as compact JSON, escaped as [`str`] escapes.
pub fn to_writer<W: std::io::Write, T: serde::Serialize + ?Sized>(
    w: W,
    v: &T,
) -> serde_json::Result<()> {
    let mut ser =
        serde_json::Serializer::with_formatter(w, Escaping(serde_json::ser::CompactFormatter));
    v.serialize(&mut ser)
}

/// `v` as serde_json's pretty JSON (two-space indent), escaped as [`str`]
/// escapes.
pub fn to_writer_pretty<W: std::io::Write, T: serde::Serialize + ?Sized>(
    w: W,
    v: &T,
) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(
        w,
        Escaping(serde_json::ser::PrettyFormatter::new()),
    );
    v.serialize(&mut ser)
}

/// Appends the first `n` bytes of the little-endian word `w`, escaping
/// those flagged in `mask`. Each clean run is one fixed-size eight-byte
/// copy cut back to its length — most strings are short field names and
/// kinds, or quote-dense text, where a `memcpy` call per run, or a push
/// per byte, cost more than the escaping itself.
#[inline(always)]
fn word(out: &mut Vec<u8>, mut w: u64, mut mask: u64, mut n: usize) {
    while mask != 0 {
        let i = (mask.trailing_zeros() / 8) as usize;
        let at = out.len();
        out.extend_from_slice(&w.to_le_bytes());
        out.truncate(at + i);
        let b = (w >> (8 * i)) as u8;
        escape(out, b, ESCAPE[usize::from(b)]);
        // Past the escaped byte (a shift by 64 leaves nothing).
        let past = 8 * (i as u32 + 1);
        w = w.checked_shr(past).unwrap_or(0);
        mask = mask.checked_shr(past).unwrap_or(0);
        n -= i + 1;
    }
    let at = out.len();
    out.extend_from_slice(&w.to_le_bytes());
    out.truncate(at + n);
}

/// Appends bytes known to need no escaping, as [`str`] copies clean runs:
/// fixed eight-byte copies rather than a `memcpy` call for a short name.
fn plain(out: &mut Vec<u8>, s: &[u8]) {
    let words = s.chunks_exact(8);
    let tail = words.remainder();
    for word in words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        out.extend_from_slice(&w);
    }
    let mut w = [0u8; 8];
    for (slot, &b) in w.iter_mut().zip(tail) {
        *slot = b;
    }
    let at = out.len();
    out.extend_from_slice(&w);
    out.truncate(at + tail.len());
}

/// One byte's escape: `\\` and a letter, or `\\u00XX`.
fn escape(out: &mut Vec<u8>, byte: u8, e: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if e == b'u' {
        out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(byte >> 4)],
            HEX[usize::from(byte & 0xf)],
        ]);
    } else {
        out.extend_from_slice(&[b'\\', e]);
    }
}

fn uint(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

fn int(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Bytes as a JSON string of lowercase hex (hex digits need no escaping).
fn hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let at = out.len();
    out.resize(at + bytes.len() * 2, 0);
    // Cannot fail: the room is exactly twice the input.
    let _ = hex::encode_to_slice(bytes, &mut out[at..]);
    out.push(b'"');
}

/// Anything else through serde_json itself (numbers that are not integers,
/// findings): rare, and then exactly serde_json's bytes.
fn serde<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Writing to a Vec cannot fail, and these types always serialise.
    let _ = to_writer(out, v);
}

/// A JSON value, compact, as serde_json writes it.
pub fn value(out: &mut Vec<u8>, v: &J) {
    match v {
        J::Null => out.extend_from_slice(b"null"),
        J::Bool(true) => out.extend_from_slice(b"true"),
        J::Bool(false) => out.extend_from_slice(b"false"),
        J::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => uint(out, u),
            (None, Some(i)) => int(out, i),
            _ => serde(out, n),
        },
        J::String(s) => str(out, s),
        J::Array(a) => {
            out.push(b'[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(out, e);
            }
            out.push(b']');
        }
        J::Object(m) => {
            out.push(b'{');
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                str(out, k);
                out.push(b':');
                value(out, e);
            }
            out.push(b'}');
        }
    }
}

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
