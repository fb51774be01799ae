//! JSON written with dispel's escaping: every string escaped as serde_json
//! escapes it, plus the controls no output may carry raw (C1, DEL and the
//! BiDi controls of [`crate::sanitize::is_unsafe`], as `\\u009b`). The value
//! writer below is what the analysis uses for one-line summaries of JSON
//! data and what the output formats build on ([`crate::output::jsonw`]
//! writes whole steps with it), so both sit below the analysis.

use serde_json::Value as J;

/// What serde_json writes for each byte inside a string: 0 for the byte
/// itself, else the letter after the backslash (`u` for `\u00XX`).
pub(crate) const ESCAPE: [u8; 256] = {
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
pub(crate) fn escape_mask(w: u64) -> u64 {
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
    // One pass over ASCII (what nearly every string is); from the first
    // word with DEL or a byte past ASCII, the careful path.
    let done = ascii_escaped(out, s.as_bytes());
    if done < s.len() {
        // `done` follows ASCII bytes only: a character boundary.
        unsafe_aware(&s[done..], |run, special| {
            serde_escaped(out, run.as_bytes());
            if let Some(c) = special {
                unicode(out, c);
            }
        });
    }
    out.push(b'"');
}

/// Escapes `s` as serde_json does, eight bytes at a time, while its words
/// are ASCII without DEL (no character [`crate::sanitize::is_unsafe`]
/// names above the C0 controls can be there); returns how many bytes it
/// wrote, stopping before the first word that is not.
fn ascii_escaped(out: &mut Vec<u8>, s: &[u8]) -> usize {
    let careful = |w: u64| (w & HIGHS) | zero_bytes(w ^ (ONES * 0x7f));
    let mut words = s.chunks_exact(8);
    let mut done = 0;
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let w = u64::from_le_bytes(w);
        if careful(w) != 0 {
            return done;
        }
        self::word(out, w, escape_mask(w), 8);
        done += 8;
    }
    let tail = words.remainder();
    if tail.is_empty() {
        return done;
    }
    let w = tail_word(s, tail.len());
    // The padding is zeros, which are control bytes: keep only the bits
    // of real bytes.
    let real = HIGHS >> (8 * (8 - tail.len()));
    if careful(w) & real != 0 {
        return done;
    }
    self::word(out, w, escape_mask(w) & real, tail.len());
    done + tail.len()
}

/// The high bit of each byte of `w` that is zero (exact per byte).
fn zero_bytes(w: u64) -> u64 {
    !((w & LOW7).wrapping_add(LOW7) | w) & HIGHS
}

/// The last `n` (< 8) bytes of `s` as a word, zero-padded, without a
/// variable-length copy (a `memcpy` call): the string's last eight bytes
/// shifted down, or, for a string shorter than a word, its bytes one by one.
fn tail_word(s: &[u8], n: usize) -> u64 {
    match s.len().checked_sub(8) {
        Some(from) => {
            let mut last = [0u8; 8];
            last.copy_from_slice(&s[from..]);
            u64::from_le_bytes(last) >> (8 * (8 - n))
        }
        None => s[s.len() - n..]
            .iter()
            .rev()
            .fold(0, |w, &b| w << 8 | u64::from(b)),
    }
}

/// Lead bytes of the UTF-8 encodings of every character
/// [`crate::sanitize::is_unsafe`] names above ASCII's controls: DEL, `C2`
/// (C1 controls), `D8` (U+061C), `E2` (U+200E/F, U+2028-202E, U+2066-2069).
/// A string without them is escaped on the fast path alone.
fn may_hold_unsafe(s: &[u8]) -> bool {
    // Eight bytes at a time: a word of ASCII (no high bit) needs only the
    // DEL test; the lead bytes are tested only in words that have a byte
    // at or above 0x80. Exact per byte, as `escape_mask` is.
    let zero = zero_bytes;
    let hit = |w: u64| {
        let del = zero(w ^ (ONES * 0x7f));
        if w & HIGHS == 0 {
            return del != 0;
        }
        (del | zero(w ^ (ONES * 0xc2)) | zero(w ^ (ONES * 0xd8)) | zero(w ^ (ONES * 0xe2))) != 0
    };
    let mut words = s.chunks_exact(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        if hit(u64::from_le_bytes(w)) {
            return true;
        }
    }
    let tail = words.remainder();
    if tail.is_empty() {
        return false;
    }
    // The tail as one word, padded with a byte that is none of them.
    let mut w = [b'a'; 8];
    w[..tail.len()].copy_from_slice(tail);
    hit(u64::from_le_bytes(w))
}

/// Splits `s` at the characters at or above DEL that
/// [`crate::sanitize::is_unsafe`] names: `each` gets the text before one
/// (which may still hold what JSON itself escapes) and that character, and
/// finally the rest with `None`.
fn unsafe_aware(s: &str, mut each: impl FnMut(&str, Option<char>)) {
    if !may_hold_unsafe(s.as_bytes()) {
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
        let w = tail_word(s, tail.len());
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
pub(crate) fn plain(out: &mut Vec<u8>, s: &[u8]) {
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

pub(crate) fn uint(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

pub(crate) fn int(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Bytes as a JSON string of lowercase hex (hex digits need no escaping).
pub(crate) fn hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let at = out.len();
    out.resize(at + bytes.len() * 2, 0);
    // Cannot fail: the room is exactly twice the input.
    let _ = hex::encode_to_slice(bytes, &mut out[at..]);
    out.push(b'"');
}

/// Anything else through serde_json itself (numbers that are not integers,
/// findings): rare, and then exactly serde_json's bytes.
pub(crate) fn serde<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time scan agrees with the byte-at-a-time definition
    /// for every byte value at every position of strings up to 40 bytes.
    #[test]
    fn the_lead_byte_scan_matches_its_definition() {
        for len in 1..40 {
            for at in 0..len {
                for b in 0u8..=255 {
                    let mut v = vec![b'a'; len];
                    v[at] = b;
                    let want = v.iter().any(|&x| matches!(x, 0x7f | 0xc2 | 0xd8 | 0xe2));
                    assert_eq!(may_hold_unsafe(&v), want, "{v:?}");
                }
            }
        }
    }
}
