//! A located YAML tree for untrusted lesson and expectation files.
//!
//! Diagnostics must point at the offending key or value
//! (`file:line:col`). `yaml_serde` exposes a location only on its first
//! error, so lesson and expectation files are read by one event pass of
//! `yaml-rust2`'s parser (safe Rust, YAML 1.2) into a tree whose every node
//! keeps its line and column; the typed models are built from that tree
//! (`lessons/load.rs`, `check/expect.rs`), which lets a loader report every
//! problem of a file at once rather than the first one.
//!
//! Limits are enforced *while* the tree is built, before anything expands:
//! - [`Limits::max_bytes`]: the file size (checked by the caller, before parsing);
//! - [`Limits::max_depth`]: nesting of sequences and mappings (deeper trees
//!   are refused, not built — which also keeps dropping a tree cheap);
//! - [`Limits::max_nodes`] and [`Limits::max_scalar_bytes`]: the tree's size
//!   *after* aliases are expanded, so a "billion laughs" file is refused at
//!   the first alias that would take it over, never expanded.
//!
//! (`yaml_serde`, for comparison, limits recursion to 128 levels and alias
//! jumps to 100 × the event count, which still lets a file of a few hundred
//! kilobytes expand quadratically; lesson and expectation files do not go
//! through it.)

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

/// Where a node starts: 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    pub line: u32,
    pub col: u32,
}

/// A node of the located tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub mark: Mark,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar; `plain` when unquoted (only plain scalars resolve to
    /// null, booleans and numbers).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Entries in document order (duplicate keys are kept, so the loader
    /// can report them).
    Map(Vec<(Node, Node)>),
}

/// A scalar resolved by the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'a str),
}

impl Node {
    /// The scalar resolved by the YAML 1.2 core schema, if a scalar.
    pub fn scalar(&self) -> Option<Scalar<'_>> {
        match &self.kind {
            NodeKind::Scalar { text, plain: false } => Some(Scalar::Str(text)),
            NodeKind::Scalar { text, plain: true } => Some(resolve(text)),
            _ => None,
        }
    }

    /// The text of a scalar, whatever it resolves to.
    pub fn text(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// What the node is, for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
            NodeKind::Scalar { .. } => match self.scalar() {
                Some(Scalar::Null) => "nothing (null)",
                Some(Scalar::Bool(_)) => "a boolean",
                Some(Scalar::Int(_)) => "an integer",
                Some(Scalar::Float(_)) => "a number",
                _ => "a string",
            },
        }
    }
}

fn resolve(t: &str) -> Scalar<'_> {
    match t {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Scalar::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        _ => {}
    }
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    if let Some(h) = t.strip_prefix("0x")
        && digits(h, 16)
    {
        return i128::from_str_radix(h, 16).map_or(Scalar::Str(t), Scalar::Int);
    }
    if let Some(o) = t.strip_prefix("0o")
        && digits(o, 8)
    {
        return i128::from_str_radix(o, 8).map_or(Scalar::Str(t), Scalar::Int);
    }
    let unsigned = t.strip_prefix(['-', '+']).unwrap_or(t);
    if digits(unsigned, 10) {
        return t.parse::<i128>().map_or(Scalar::Str(t), Scalar::Int);
    }
    // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
    let (mantissa, exp) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((a, b)) => {
            (a.is_empty() || digits(a, 10))
                && (b.is_empty() || digits(b, 10))
                && !(a.is_empty() && b.is_empty())
        }
        None => digits(mantissa, 10),
    };
    let exp_ok = exp.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e), 10));
    if mantissa_ok && exp_ok && (mantissa.contains('.') || exp.is_some()) {
        return t.parse::<f64>().map_or(Scalar::Str(t), Scalar::Float);
    }
    Scalar::Str(t)
}

/// How much of a YAML file is accepted.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest file, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of sequences and mappings.
    pub max_depth: usize,
    /// Most nodes in the tree, aliases expanded.
    pub max_nodes: usize,
    /// Most scalar bytes in the tree, aliases expanded.
    pub max_scalar_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bytes: 256 * 1024,
            max_depth: 32,
            max_nodes: 100_000,
            max_scalar_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Why a file could not be read as YAML (with where).
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub mark: Mark,
    pub message: String,
}

struct Frame {
    mark: Mark,
    anchor: usize,
    map: bool,
    items: Vec<Node>,
    nodes_before: usize,
    bytes_before: usize,
}

/// Parses every document of `text` into a located tree.
pub fn parse(text: &str, limits: &Limits) -> Result<Vec<Node>, YamlError> {
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    // anchor id → (node, nodes, scalar bytes)
    let mut anchors: HashMap<usize, (Node, usize, usize)> = HashMap::new();
    let mut nodes = 0usize;
    let mut bytes = 0usize;
    let mut root: Option<Node> = None;
    loop {
        let (event, marker) = parser.next_token().map_err(|e| YamlError {
            mark: mark_of(e.marker()),
            message: e.info().to_string(),
        })?;
        let mark = mark_of(&marker);
        let done: Option<Node> = match event {
            Event::StreamEnd => break,
            Event::Nothing | Event::StreamStart | Event::DocumentStart => None,
            Event::DocumentEnd => {
                if let Some(r) = root.take() {
                    docs.push(r);
                }
                None
            }
            Event::Scalar(text, style, anchor, _tag) => {
                nodes += 1;
                bytes += text.len();
                check_size(nodes, bytes, limits, mark)?;
                let node = Node {
                    mark,
                    kind: NodeKind::Scalar {
                        plain: style == TScalarStyle::Plain,
                        text,
                    },
                };
                if anchor != 0 {
                    let b = node.text().map_or(0, str::len);
                    anchors.insert(anchor, (node.clone(), 1, b));
                }
                Some(node)
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= limits.max_depth {
                    return Err(YamlError {
                        mark,
                        message: format!(
                            "nesting deeper than {} levels is refused",
                            limits.max_depth
                        ),
                    });
                }
                nodes += 1;
                check_size(nodes, bytes, limits, mark)?;
                stack.push(Frame {
                    mark,
                    anchor,
                    map: matches!(event, Event::MappingStart(..)),
                    items: Vec::new(),
                    nodes_before: nodes - 1,
                    bytes_before: bytes,
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(f) = stack.pop() else {
                    return Err(YamlError {
                        mark,
                        message: "unbalanced end of a collection".into(),
                    });
                };
                let kind = if f.map {
                    let mut entries = Vec::with_capacity(f.items.len() / 2);
                    let mut it = f.items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        entries.push((k, v));
                    }
                    NodeKind::Map(entries)
                } else {
                    NodeKind::Seq(f.items)
                };
                // A block mapping's start event is marked at its first `:`;
                // point at its first key instead.
                let mark = match &kind {
                    NodeKind::Map(e) => e.first().map_or(f.mark, |(k, _)| {
                        if (k.mark.line, k.mark.col) < (f.mark.line, f.mark.col) {
                            k.mark
                        } else {
                            f.mark
                        }
                    }),
                    _ => f.mark,
                };
                let node = Node { mark, kind };
                if f.anchor != 0 {
                    anchors.insert(
                        f.anchor,
                        (node.clone(), nodes - f.nodes_before, bytes - f.bytes_before),
                    );
                }
                Some(node)
            }
            Event::Alias(id) => {
                let Some((node, n, b)) = anchors.get(&id) else {
                    return Err(YamlError {
                        mark,
                        message: "an alias must refer to an anchor defined (and closed) before it"
                            .into(),
                    });
                };
                nodes += n;
                bytes += b;
                if nodes > limits.max_nodes || bytes > limits.max_scalar_bytes {
                    return Err(YamlError {
                        mark,
                        message: format!(
                            "aliases expand this file past {} nodes or {} bytes of text (an alias bomb?); refused",
                            limits.max_nodes, limits.max_scalar_bytes
                        ),
                    });
                }
                Some(node.clone())
            }
        };
        if let Some(node) = done {
            match stack.last_mut() {
                Some(f) => f.items.push(node),
                None => root = Some(node),
            }
        }
    }
    if let Some(r) = root.take() {
        docs.push(r);
    }
    Ok(docs)
}

fn check_size(nodes: usize, bytes: usize, limits: &Limits, mark: Mark) -> Result<(), YamlError> {
    if nodes > limits.max_nodes || bytes > limits.max_scalar_bytes {
        return Err(YamlError {
            mark,
            message: format!(
                "more than {} nodes or {} bytes of text; refused",
                limits.max_nodes, limits.max_scalar_bytes
            ),
        });
    }
    Ok(())
}

fn mark_of(m: &yaml_rust2::scanner::Marker) -> Mark {
    Mark {
        line: u32::try_from(m.line()).unwrap_or(u32::MAX),
        col: u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let mut d = parse(text, &Limits::default()).unwrap();
        assert_eq!(d.len(), 1);
        d.remove(0)
    }

    #[test]
    fn marks_are_one_based_lines_and_columns() {
        let n = one("a: 1\nb:\n  - x\n  - 'y'\n");
        let NodeKind::Map(e) = &n.kind else { panic!() };
        assert_eq!(e[0].0.mark, Mark { line: 1, col: 1 });
        assert_eq!(e[0].1.mark, Mark { line: 1, col: 4 });
        let NodeKind::Seq(items) = &e[1].1.kind else {
            panic!()
        };
        assert_eq!(items[1].mark, Mark { line: 4, col: 5 });
        assert_eq!(items[1].scalar(), Some(Scalar::Str("y")));
    }

    #[test]
    fn core_schema_resolution() {
        assert_eq!(resolve("true"), Scalar::Bool(true));
        assert_eq!(resolve("~"), Scalar::Null);
        assert_eq!(resolve("126"), Scalar::Int(126));
        assert_eq!(resolve("-3"), Scalar::Int(-3));
        assert_eq!(resolve("0x7f"), Scalar::Int(127));
        assert_eq!(resolve("1.5"), Scalar::Float(1.5));
        assert_eq!(resolve("1e3"), Scalar::Float(1000.0));
        assert_eq!(resolve("yes"), Scalar::Str("yes"));
        assert_eq!(resolve("1.2.3"), Scalar::Str("1.2.3"));
        assert_eq!(resolve("."), Scalar::Str("."));
        // Quoted scalars are strings whatever they spell.
        assert_eq!(one("'true'").scalar(), Some(Scalar::Str("true")));
    }

    #[test]
    fn small_aliases_expand() {
        let n = one("a: &x [1, 2]\nb: *x\n");
        let NodeKind::Map(e) = &n.kind else { panic!() };
        assert_eq!(e[0].1.kind, e[1].1.kind);
    }

    #[test]
    fn alias_bombs_are_refused_before_expanding() {
        let mut y = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        for w in names.windows(2) {
            let refs = vec![format!("*{}", w[0]); 9].join(",");
            y.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
        }
        let e = parse(&y, &Limits::default()).unwrap_err();
        assert!(e.message.contains("alias bomb"), "{}", e.message);
        // The level that crosses 100 000 nodes: 9^6 ≈ 531 441 > 100 000 at `f`.
        assert_eq!(e.mark.line, 6);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let y = format!("{}1{}", "[".repeat(40), "]".repeat(40));
        let e = parse(&y, &Limits::default()).unwrap_err();
        assert_eq!(e.message, "nesting deeper than 32 levels is refused");
        assert_eq!(e.mark, Mark { line: 1, col: 33 });
        // Block nesting too.
        let mut y = String::new();
        for i in 0..40 {
            y.push_str(&format!("{}k:\n", "  ".repeat(i)));
        }
        assert!(parse(&y, &Limits::default()).is_err());
    }

    #[test]
    fn syntax_errors_have_a_location() {
        let e = parse("a: [1, 2\nb: 3\n", &Limits::default()).unwrap_err();
        assert!(e.mark.line >= 1 && !e.message.is_empty());
    }

    #[test]
    fn undefined_alias_is_an_error_not_a_panic() {
        assert!(parse("a: *nope\n", &Limits::default()).is_err());
    }
}
