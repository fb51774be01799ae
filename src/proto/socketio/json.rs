//! JSON helpers: a nesting check that runs before any recursive JSON
//! parser, and a *sketch* parse for runs that only check payload shapes.
//!
//! `serde_json` recurses once per `[` or `{`; a payload of a hundred thousand
//! brackets must be refused by a flat scan first.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Parses (and so fully validates) a JSON text, keeping only what the
/// payload shape rules read: the top-level type, and for an array its first
/// element (the event name) — nested arrays and objects become empty ones.
/// `None` when an object key anywhere is `_placeholder` (a binary
/// attachment's stand-in), where the caller must parse the whole value.
///
/// Building every object of a small event as an ordered map was a third of
/// a `check` run on Socket.IO traffic; a sketch allocates only the first
/// element.
pub(super) fn sketch(json: &str) -> Result<Option<Value>, serde_json::Error> {
    if plain(json.as_bytes())
        && let Ok(value) = sketch_with(json, Walk::Skip)
    {
        return Ok(Some(value));
    }
    let mut placeholder = false;
    let value = sketch_with(
        json,
        Walk::Visit {
            placeholder: &mut placeholder,
        },
    )?;
    Ok((!placeholder).then_some(value))
}

fn sketch_with(json: &str, walk: Walk<'_>) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(json);
    let value = SketchVisitor { walk, top: true }.deserialize(&mut de)?;
    // Trailing characters are an error, as in `serde_json::from_str`.
    de.end()?;
    Ok(value)
}

/// How nested values are read.
enum Walk<'a> {
    /// Through serde_json's own skipper (`IgnoredAny`), which validates
    /// syntax without calling back per value: several times faster. It is
    /// laxer than building a value in three ways, which [`plain`] rules
    /// out: it accepts lone UTF-16 surrogates in `\u` escapes, numbers out
    /// of the `f64` range, and nesting past serde_json's recursion limit;
    /// and it does not see keys, so it cannot find `_placeholder`.
    Skip,
    /// Visiting every value and key, noting any `_placeholder` key.
    Visit { placeholder: &'a mut bool },
}

impl Walk<'_> {
    fn reborrow(&mut self) -> Walk<'_> {
        match self {
            Walk::Skip => Walk::Skip,
            Walk::Visit { placeholder } => Walk::Visit { placeholder },
        }
    }
}

/// Whether skipping nested values accepts exactly what building them
/// would: no backslash (so no `\u` escape: no surrogates, and no escaped
/// way to spell `_placeholder`), no `_p` (so no `_placeholder`), no
/// exponent after a digit, and short enough that no number can pass
/// `f64`'s range by its digits alone (309) and no nesting can reach
/// serde_json's limit (128 levels). Real small events are plain; the rest
/// take the visiting path. One branch-free pass over byte pairs, so the
/// compiler vectorises it.
fn plain(json: &[u8]) -> bool {
    if json.len() > 256 {
        return false;
    }
    let Some((&last, _)) = json.split_last() else {
        return true;
    };
    let pairs = json.iter().zip(json.get(1..).unwrap_or_default());
    let suspect = pairs.fold(last == b'\\', |acc, (&a, &b)| {
        acc | (a == b'\\')
            | (a.is_ascii_digit() & ((b | 0x20) == b'e'))
            | ((a == b'_') & (b == b'p'))
    });
    !suspect
}

/// A value being sketched: at the top, scalars are kept and an array keeps
/// its first element; below, values are validated, reduced to their type
/// and (when visited) searched for `_placeholder` keys.
struct SketchVisitor<'a> {
    walk: Walk<'a>,
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
        walk: Walk::Visit { placeholder },
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
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        // The first element itself is kept shallow: its own arrays and
        // objects are not part of any shape rule.
        if self.top
            && let Some(first) = seq.next_element_seed(SketchVisitor {
                walk: self.walk.reborrow(),
                top: true,
            })?
        {
            items.push(shallow(first));
        }
        match self.walk {
            Walk::Skip => while seq.next_element::<IgnoredAny>()?.is_some() {},
            Walk::Visit { placeholder } => {
                while seq.next_element_seed(nested(&mut *placeholder))?.is_some() {}
            }
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        match self.walk {
            Walk::Skip => while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {},
            Walk::Visit { placeholder } => {
                let mut key = KeyIs(false);
                while map.next_key_seed(&mut key)?.is_some() {
                    if key.0 {
                        *placeholder = true;
                    }
                    map.next_value_seed(nested(&mut *placeholder))?;
                }
            }
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
mod tests {
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
        // A real small event skips.
        assert!(plain(br#"["chat",{"n":1,"from":0,"text":"hello 1"}]"#));
        assert!(!plain(br#"["e",{"a":1e5}]"#));
        assert!(!plain(br#"["e","\u0041"]"#));
    }
}
