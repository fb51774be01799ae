//! Plain-language labels for field names, shown next to the Wireshark names
//! in the Fields pane: the one place the interface asks, answered by the
//! [`crate::kinds`] registry.

/// The plain-language label of a field of a step kind, if one is known.
pub fn label(kind: &str, name: &str) -> Option<&'static str> {
    crate::kinds::label(kind, name)
}
