//! A nesting check that runs before any recursive JSON parser.
//!
//! `serde_json` recurses once per `[` or `{`; a payload of a hundred thousand
//! brackets must be refused by a flat scan first.

/// The byte offset of the first `[` or `{` that opens a level deeper than
/// `max`, ignoring brackets inside strings; `None` when the text stays within
/// `max` levels. Linear, allocation-free, and indifferent to whether the
/// text is valid JSON.
pub(super) fn too_deep_at(text: &[u8], max: usize) -> Option<usize> {
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
    }
}
