//! JSON helpers: a nesting check that runs before any recursive JSON
//! parser, and a *sketch* parse for runs that only check payload shapes —
//! by a hand pass over plain, well-formed text ([`skim`]), and by
//! serde_json for everything else ([`sketch`]).
//!
//! `serde_json` recurses once per `[` or `{`; a payload of a hundred thousand
//! brackets must be refused by a flat scan first.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The sketch of a payload (see [`sketch`]) when one forward pass can vouch
/// that serde_json accepts the text; `None` when it cannot, and the caller
/// then asks serde_json.
///
/// The pass declines, rather than judges, anything outside the grammar
/// real events use: a `\u` escape for a UTF-16 surrogate, an exponent, a
/// number of more than 300 digits (which could pass `f64`'s range),
/// nesting past `max_depth` or 64 levels, an escape in an object key or a
/// `_placeholder` key (a binary attachment's stand-in), and every syntax
/// error. So it only ever says yes to text serde_json accepts (the tests
/// hold it to that), and every finding's wording stays serde_json's.
///
/// Why a hand pass: serde_json's fastest validation (skipping through
/// `IgnoredAny`), with its nesting and plainness pre-checks, spent about
/// 2,000 instructions on a 45-byte event, a quarter of `check` on
/// Socket.IO traffic; this pass takes about a third of that.
pub(super) fn skim(json: &str, max_depth: usize) -> Option<Value> {
    let mut s = Skim {
        b: json.as_bytes(),
        i: 0,
    };
    let cap = max_depth.min(64);
    // One bit per open container, innermost lowest: 1 for an object.
    let mut stack = 0u64;
    let mut depth = 0usize;
    // Where the top value starts, and an array's first element.
    let mut top = None;
    let mut first = None;
    'value: loop {
        s.ws();
        let start = s.i;
        if depth == 0 {
            top = Some(start);
        } else if depth == 1 && first.is_none() && stack & 1 == 0 {
            first = Some(start);
        }
        match s.peek()? {
            open @ (b'[' | b'{') => {
                depth += 1;
                if depth > cap {
                    return None;
                }
                stack = (stack << 1) | u64::from(open == b'{');
                s.i += 1;
                s.ws();
                match s.peek()? {
                    b']' if open == b'[' => s.i += 1,
                    b'}' if open == b'{' => s.i += 1,
                    _ if open == b'{' => {
                        s.key()?;
                        continue 'value;
                    }
                    _ => continue 'value,
                }
                depth -= 1;
                stack >>= 1;
            }
            b'"' => {
                s.i += 1;
                s.string()?;
            }
            b'-' | b'0'..=b'9' => s.number()?,
            b't' => s.literal(b"true")?,
            b'f' => s.literal(b"false")?,
            b'n' => s.literal(b"null")?,
            _ => return None,
        }
        // After a value: close containers until one goes on with a `,`.
        loop {
            s.ws();
            if depth == 0 {
                if s.i != s.b.len() {
                    return None;
                }
                return sketch_at(json, top?, first);
            }
            let object = stack & 1 == 1;
            match (s.peek()?, object) {
                (b',', _) => {
                    s.i += 1;
                    if object {
                        s.ws();
                        s.key()?;
                    }
                    continue 'value;
                }
                (b']', false) | (b'}', true) => {
                    s.i += 1;
                    depth -= 1;
                    stack >>= 1;
                }
                _ => return None,
            }
        }
    }
}

/// Builds the sketch of text [`skim`] has vouched for: the top value's
/// type, and for an array its first element, shallow. The kept scalars
/// (at most one) are read by serde_json unless they are plain strings.
fn sketch_at(json: &str, top: usize, first: Option<usize>) -> Option<Value> {
    let b = json.as_bytes();
    match b.get(top)? {
        b'{' => Some(Value::Object(Map::new())),
        b'[' => Some(Value::Array(match first {
            None => Vec::new(),
            Some(at) => vec![match b.get(at)? {
                b'[' => Value::Array(Vec::new()),
                b'{' => Value::Object(Map::new()),
                _ => scalar(json.get(at..)?)?,
            }],
        })),
        _ => scalar(json.get(top..)?),
    }
}

/// The scalar at the start of valid JSON text `at`.
fn scalar(at: &str) -> Option<Value> {
    let b = at.as_bytes();
    if b.first() == Some(&b'"') {
        let body = &at[1..];
        let end = body.bytes().position(|c| c == b'"' || c == b'\\')?;
        if body.as_bytes().get(end) == Some(&b'"') {
            return Some(Value::String(body[..end].to_owned()));
        }
    }
    // An escaped string or a number: serde_json reads the one value (its
    // stream reader stops at the value's end).
    serde_json::Deserializer::from_str(at)
        .into_iter::<Value>()
        .next()?
        .ok()
}

/// The bytes a JSON string holds as they are: all but `"`, `\\` and the
/// control bytes.
const PLAIN: [bool; 256] = {
    let mut t = [true; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = false;
        i += 1;
    }
    t[b'"' as usize] = false;
    t[b'\\' as usize] = false;
    t
};

/// A cursor over JSON text for [`skim`]. Each method returns `None` where
/// the pass declines.
struct Skim<'a> {
    b: &'a [u8],
    i: usize,
}

impl Skim<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.i += 1;
        }
    }

    /// The body of a string, after its opening quote; `true` when it had
    /// an escape.
    fn string(&mut self) -> Option<bool> {
        let mut escaped = false;
        loop {
            // The plain run, one table lookup a byte (the match below
            // costs several).
            while let Some(&c) = self.b.get(self.i)
                && PLAIN[usize::from(c)]
            {
                self.i += 1;
            }
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(escaped);
                }
                b'\\' => {
                    escaped = true;
                    match *self.b.get(self.i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 2,
                        b'u' => {
                            let hex = self.b.get(self.i + 2..self.i + 6)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            let unit = hex.iter().fold(0u32, |n, &c| {
                                n * 16 + char::from(c).to_digit(16).unwrap_or(0)
                            });
                            if (0xD800..=0xDFFF).contains(&unit) {
                                return None;
                            }
                            self.i += 6;
                        }
                        _ => return None,
                    }
                }
                0..0x20 => return None,
                _ => self.i += 1,
            }
        }
    }

    /// An object key and its `:`; declines an escaped key and
    /// `_placeholder`.
    fn key(&mut self) -> Option<()> {
        if self.peek()? != b'"' {
            return None;
        }
        self.i += 1;
        let start = self.i;
        if self.string()? || self.b.get(start..self.i - 1)? == b"_placeholder" {
            return None;
        }
        self.ws();
        if self.peek()? != b':' {
            return None;
        }
        self.i += 1;
        Some(())
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)?`, at most 300 integer digits.
    fn number(&mut self) -> Option<()> {
        if self.peek()? == b'-' {
            self.i += 1;
        }
        let start = self.i;
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.i - start > 300 {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            let frac = self.i;
            self.digits();
            if self.i == frac {
                return None;
            }
        }
        // An exponent (or a leading zero's second digit) is declined by
        // the caller, which finds no `,` or closer after the number.
        Some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if !self.b.get(self.i..)?.starts_with(word) {
            return None;
        }
        self.i += word.len();
        Some(())
    }
}

/// Parses (and so fully validates) a JSON text with serde_json, keeping
/// only what the payload shape rules read: the top-level type, and for an
/// array its first element (the event name) — nested arrays and objects
/// become empty ones. `None` when an object key anywhere is `_placeholder`
/// (a binary attachment's stand-in), where the caller must parse the whole
/// value. The path for text [`skim`] declines.
///
/// Building every object of a small event as an ordered map was a third of
/// a `check` run on Socket.IO traffic; a sketch allocates only the first
/// element.
pub(super) fn sketch(json: &str) -> Result<Option<Value>, serde_json::Error> {
    let mut placeholder = false;
    let mut de = serde_json::Deserializer::from_str(json);
    let value = SketchVisitor {
        placeholder: &mut placeholder,
        top: true,
    }
    .deserialize(&mut de)?;
    // Trailing characters are an error, as in `serde_json::from_str`.
    de.end()?;
    Ok((!placeholder).then_some(value))
}

/// A value being sketched: at the top, scalars are kept and an array keeps
/// its first element; below, values are validated, reduced to their type
/// and searched for `_placeholder` keys.
struct SketchVisitor<'a> {
    placeholder: &'a mut bool,
    /// At the top, an array keeps its first element; below, nothing.
    top: bool,
}

impl<'de> DeserializeSeed<'de> for SketchVisitor<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// A nested value, visited.
fn nested(placeholder: &mut bool) -> SketchVisitor<'_> {
    SketchVisitor {
        placeholder,
        top: false,
    }
}

/// Whether the last map key read was `_placeholder`.
struct KeyIs(bool);

impl<'de> DeserializeSeed<'de> for &mut KeyIs {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.0 = d.deserialize_str(KeyVisitor)?;
        Ok(())
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v == "_placeholder")
    }
}

impl<'de> Visitor<'de> for SketchVisitor<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        // Only the top value and an array's first element are kept whole.
        Ok(Value::String(if self.top {
            v.to_owned()
        } else {
            String::new()
        }))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        // The first element itself is kept shallow: its own arrays and
        // objects are not part of any shape rule.
        if self.top
            && let Some(first) = seq.next_element_seed(SketchVisitor {
                placeholder: &mut *self.placeholder,
                top: true,
            })?
        {
            items.push(shallow(first));
        }
        while seq
            .next_element_seed(nested(&mut *self.placeholder))?
            .is_some()
        {}
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut key = KeyIs(false);
        while map.next_key_seed(&mut key)?.is_some() {
            if key.0 {
                *self.placeholder = true;
            }
            map.next_value_seed(nested(&mut *self.placeholder))?;
        }
        Ok(Value::Object(Map::new()))
    }
}

/// An array's first element as a sketch keeps: scalars, and arrays and
/// objects emptied.
fn shallow(v: Value) -> Value {
    match v {
        Value::Array(_) => Value::Array(Vec::new()),
        Value::Object(_) => Value::Object(Map::new()),
        v => v,
    }
}

/// The byte offset of the first `[` or `{` that opens a level deeper than
/// `max`, ignoring brackets inside strings; `None` when the text stays within
/// `max` levels. Linear, allocation-free, and indifferent to whether the
/// text is valid JSON.
pub(super) fn too_deep_at(text: &[u8], max: usize) -> Option<usize> {
    // Depth never exceeds the number of openers, and counting two byte
    // values vectorises: small events (two or three brackets) are answered
    // without the byte-at-a-time walk, which was 4% of `check`.
    let openers = text.iter().filter(|&&b| b == b'[' || b == b'{').count();
    if openers <= max {
        return None;
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in text.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth = depth.saturating_add(1);
                if depth > max {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn depth() {
        assert_eq!(too_deep_at(b"[[1]]", 2), None);
        assert_eq!(too_deep_at(b"[[1]]", 1), Some(1));
        assert_eq!(too_deep_at(br#"["[[[[",{"a":"\"[["}]"#, 2), None);
        assert_eq!(too_deep_at(&[b'['; 100_000], 64), Some(64));
        // More openers than the cap, but side by side, not nested.
        assert_eq!(too_deep_at(&b"[],".repeat(100), 2), None);
        assert_eq!(too_deep_at(br#"[[[["a"]]],[[["b"]]]]"#, 4), None);
        assert_eq!(too_deep_at(br#"[[[["a"]]],[[[["b"]]]]]"#, 4), Some(14));
    }

    /// What the skipping path would wrongly accept, or could not see, takes
    /// the visiting path: each answer is serde_json's own for the whole
    /// value.
    #[test]
    fn sketch_accepts_exactly_what_a_whole_parse_accepts() {
        let deep = |n: usize| format!("[\"e\",{}{}]", "[".repeat(n), "]".repeat(n));
        let long_number = format!("[\"e\",1{}]", "0".repeat(320));
        let cases = [
            r#"["chat",{"n":1,"from":0,"text":"hello 1"}]"#.to_owned(),
            r#"["e",{"a":"\ud800"}]"#.to_owned(),
            r#"["e",{"a":"\u0041"}]"#.to_owned(),
            r#"["e",[1e400]]"#.to_owned(),
            r#"["e",[1e30]]"#.to_owned(),
            r#"["e",{"a":-1e-400}]"#.to_owned(),
            long_number,
            deep(100),
            deep(126),
            deep(127),
            deep(128),
            deep(200),
            r#"["e",{"a":01}]"#.to_owned(),
            r#"["e",{"a":"\x"}]"#.to_owned(),
            r#"["e",{"a":1}"#.to_owned(),
            r#"["e",{"a":1}] x"#.to_owned(),
        ];
        for json in &cases {
            let whole = serde_json::from_str::<Value>(json);
            let sketched = sketch(json);
            assert_eq!(
                whole.as_ref().map(|_| ()).map_err(|e| e.to_string()),
                sketched.as_ref().map(|_| ()).map_err(|e| e.to_string()),
                "{json}"
            );
        }
        // Placeholders, spelled plainly or with an escape, need the whole value.
        for json in [
            r#"["e",{"_placeholder":true,"num":0}]"#,
            r#"["e",{"\u005fplaceholder":true,"num":0}]"#,
        ] {
            assert_eq!(sketch(json).unwrap(), None, "{json}");
        }
    }

    /// The sketch of a whole value, as [`sketch`] keeps it.
    pub(in crate::proto::socketio) fn sketch_of(whole: Value) -> Value {
        match whole {
            Value::Array(items) => Value::Array(items.into_iter().take(1).map(shallow).collect()),
            Value::Object(_) => Value::Object(Map::new()),
            scalar => scalar,
        }
    }

    /// What [`skim`] says yes to, serde_json accepts, with the sketch the
    /// serde_json path keeps (which is `None` for a `_placeholder` key).
    pub(in crate::proto::socketio) fn vouched(json: &str, max_depth: usize) -> Option<Value> {
        let skimmed = skim(json, max_depth)?;
        let whole = serde_json::from_str::<Value>(json)
            .unwrap_or_else(|e| panic!("skim took {json:?}, serde_json refuses it: {e}"));
        assert_eq!(skimmed, sketch_of(whole), "{json}");
        assert_eq!(
            Some(&skimmed),
            sketch(json).ok().flatten().as_ref(),
            "{json}"
        );
        Some(skimmed)
    }

    #[test]
    fn skim_vouches_only_for_what_serde_json_accepts() {
        let deep = |n: usize| format!("[\"e\",{}{}]", "[".repeat(n), "]".repeat(n));
        // Real events and the escapes of real text: taken, sketched right.
        for json in [
            r#"["chat",{"n":1,"from":0,"text":"hello 1"}]"#,
            r#"[{"ok":true,"n":4}]"#,
            r#"{"sid":"G0xbZUlfF_rvei7_AAAA"}"#,
            r#" [ "say" , "a \"quoted\" line\n\ttab \\ \/ \b\f\r" , null , false , -0.5 , [ ] , { } ] "#,
            r#"["caf\u00e9 \u0000",1]"#,
            r#"["\u00e9t\u00e9"]"#,
            r#"[12345678901234567890123,0,-0,0.25]"#,
            r#"[[1,[2]],{"a":{"b":[]}}]"#,
            r#"[]"#,
            r#"{}"#,
            r#""top""#,
            r#""esc\"aped""#,
            "7",
            "-12.5",
            "true",
            "null",
            "[\"ünï€ødé 😀\"]",
        ] {
            assert!(vouched(json, 64).is_some(), "declined {json}");
        }
        assert_eq!(
            vouched(r#"["a\nb",{}]"#, 64),
            Some(serde_json::json!(["a\nb"]))
        );
        assert_eq!(vouched(r#"[[1,2],3]"#, 64), Some(serde_json::json!([[]])));
        assert_eq!(vouched(r#"[1.5e0]"#, 64), None);
        // Declined: what serde_json would refuse, and what only it can judge.
        let long_number = format!("[\"e\",1{}]", "0".repeat(320));
        for json in [
            r#"["e",{"a":"\ud800"}]"#.to_owned(),
            r#"["e",{"a":"\udc00\ud800"}]"#.to_owned(),
            r#"["e","\ud83d\ude00"]"#.to_owned(),
            r#"["e",{"a":"\u00g1"}]"#.to_owned(),
            r#"["e",{"a":"\u+041"}]"#.to_owned(),
            r#"["e",{"a":"\u004"}]"#.to_owned(),
            r#"["e",[1e400]]"#.to_owned(),
            r#"["e",[1E5]]"#.to_owned(),
            long_number,
            deep(64),
            deep(200),
            r#"["e",{"_placeholder":true,"num":0}]"#.to_owned(),
            r#"["e",{"\u005fplaceholder":true,"num":0}]"#.to_owned(),
            r#"["e",{"a\n":1}]"#.to_owned(),
            r#"["e",{"a":01}]"#.to_owned(),
            r#"["e",{"a":1.}]"#.to_owned(),
            r#"["e",{"a":.5}]"#.to_owned(),
            r#"["e",{"a":-}]"#.to_owned(),
            r#"["e",{"a":"\x"}]"#.to_owned(),
            "[\"e\",\"a\u{1}b\"]".to_owned(),
            "[\"e\",\"a\u{7f}b\",\u{b}1]".to_owned(),
            r#"["e",{"a":1}"#.to_owned(),
            r#"["e",{"a":1}] x"#.to_owned(),
            r#"["e",{"a":1,}]"#.to_owned(),
            r#"["e",]"#.to_owned(),
            r#"["e",{"a"}]"#.to_owned(),
            r#"["e",{1:2}]"#.to_owned(),
            r#"["e" "f"]"#.to_owned(),
            r#"["e",{"a":1]}"#.to_owned(),
            r#"["e",tru]"#.to_owned(),
            r#"["e",nulls]"#.to_owned(),
            r#"["e"]]"#.to_owned(),
            r#""open"#.to_owned(),
            String::new(),
            "  ".to_owned(),
        ] {
            assert_eq!(vouched(&json, 64), None, "took {json}");
        }
        // The depth cap is the caller's, within the pass's own 64.
        // `deep(n)` nests n + 1 levels.
        assert!(vouched(&deep(63), 64).is_some());
        assert_eq!(vouched(r#"[[1]]"#, 1), None);
        assert!(vouched(r#"[[1]]"#, 2).is_some());
        assert!(vouched(r#"[[1],[2],[3]]"#, 2).is_some());
    }
}
