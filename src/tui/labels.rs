//! Plain-language labels for field names, shown next to the Wireshark names
//! in the Fields pane.
//!
//! The one place the interface asks for a label: the `crate::kinds` registry
//! (written separately) will answer here; until it lands, fields show their
//! names only.

/// The plain-language label of a field name, if one is known.
pub fn label(name: &str) -> Option<&'static str> {
    let _ = name;
    None
}
