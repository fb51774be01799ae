//! Pretty JSON written as it goes: the bytes `serde_json::to_writer_pretty`
//! writes for a whole document (two-space indent, `[]` / `{}` when empty,
//! [`super::jsonw`]'s escaping), produced one member at a time, so a
//! document's memory is that of its largest member, not of the document.
//!
//! A member's value is either streamed further (an array or object opened
//! with [`Pretty::open`]) or a `serde_json::Value`, written with
//! serde_json's pretty printer and re-indented to its depth on the way
//! out: JSON strings hold no raw line break, so every line break in its
//! output is one the printer put between members.

use std::io::{self, Write};

use serde_json::Value as J;

/// A document being written: the open arrays and objects, innermost last,
/// each with whether a member has been written into it yet.
pub struct Pretty<W: Write> {
    out: W,
    open: Vec<bool>,
    /// Reused for keys.
    buf: Vec<u8>,
}

impl<W: Write> Pretty<W> {
    pub fn new(out: W) -> Pretty<W> {
        Pretty {
            out,
            open: Vec::new(),
            buf: Vec::new(),
        }
    }

    /// Continues a document whose `depth` enclosing arrays / objects are
    /// already open elsewhere, `nonempty` saying whether the innermost has a
    /// member (members written here follow it).
    pub fn nested(out: W, depth: usize, nonempty: bool) -> Pretty<W> {
        let mut open = vec![true; depth];
        if let Some(last) = open.last_mut() {
            *last = nonempty;
        }
        Pretty {
            out,
            open,
            buf: Vec::new(),
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// The writer, to copy in members written elsewhere (with
    /// [`Pretty::nested`]) as they are; then [`Pretty::set_nonempty`].
    pub fn raw(&mut self) -> &mut W {
        &mut self.out
    }

    /// Records whether the innermost array or object has a member (one
    /// copied in through [`Pretty::raw`]).
    pub fn set_nonempty(&mut self, nonempty: bool) {
        if let Some(last) = self.open.last_mut() {
            *last = nonempty;
        }
    }

    /// Whether the innermost open array or object has a member yet.
    pub fn nonempty(&self) -> bool {
        self.open.last().copied().unwrap_or(false)
    }

    fn indent(&mut self, depth: usize) -> io::Result<()> {
        indent(&mut self.out, depth)
    }

    /// Starts the next member of the innermost array or object.
    fn member(&mut self) -> io::Result<()> {
        let depth = self.open.len();
        if let Some(first) = self.open.last_mut() {
            let sep: &[u8] = if *first { b",\n" } else { b"\n" };
            *first = true;
            self.out.write_all(sep)?;
            self.indent(depth)?;
        }
        Ok(())
    }

    /// Starts an object member: its key (then its value).
    pub fn key(&mut self, key: &str) -> io::Result<()> {
        self.member()?;
        self.buf.clear();
        super::jsonw::str(&mut self.buf, key);
        self.buf.extend_from_slice(b": ");
        self.out.write_all(&self.buf)
    }

    /// Starts an array element (then its value).
    pub fn element(&mut self) -> io::Result<()> {
        self.member()
    }

    /// Opens an array (`b'['`) or object (`b'{'`) as the current value.
    pub fn open(&mut self, bracket: u8) -> io::Result<()> {
        self.out.write_all(&[bracket])?;
        self.open.push(false);
        Ok(())
    }

    /// Closes the innermost array (`b']'`) or object (`b'}'`).
    pub fn close(&mut self, bracket: u8) -> io::Result<()> {
        if self.open.pop() == Some(true) {
            self.out.write_all(b"\n")?;
            self.indent(self.open.len())?;
        }
        self.out.write_all(&[bracket])
    }

    /// Writes `v` as the current value, pretty, at the current depth,
    /// straight to the writer (a 16 MiB string is not copied again).
    pub fn value(&mut self, v: &J) -> io::Result<()> {
        let depth = self.open.len();
        let mut w = Reindent {
            out: &mut self.out,
            depth,
        };
        super::jsonw::to_writer_pretty(&mut w, v).map_err(io::Error::from)
    }

    /// Writes compact JSON (as serde_json or [`super::jsonw`] writes it: no
    /// whitespace) as the current value, pretty, at the current depth:
    /// what [`Pretty::value`] writes for the same value, without building it.
    pub fn compact(&mut self, compact: &[u8]) -> io::Result<()> {
        let depth = self.open.len();
        compact_to_pretty(&mut self.out, compact, depth)
    }

    /// `key: v`.
    pub fn entry(&mut self, key: &str, v: &J) -> io::Result<()> {
        self.key(key)?;
        self.value(v)
    }
}

/// Two spaces per level.
fn indent<W: Write + ?Sized>(out: &mut W, depth: usize) -> io::Result<()> {
    const SPACES: &[u8; 64] = &[b' '; 64];
    let mut n = depth * 2;
    while n > 0 {
        let k = n.min(SPACES.len());
        out.write_all(&SPACES[..k])?;
        n -= k;
    }
    Ok(())
}

/// Re-lays compact JSON as serde_json's pretty printer lays it out: a line
/// per member, two spaces per level (`depth` levels to start with), `": "`
/// after keys, `[]` / `{}` when empty. Bytes inside strings are copied as
/// they are.
fn compact_to_pretty<W: Write + ?Sized>(out: &mut W, json: &[u8], depth: usize) -> io::Result<()> {
    let mut level = depth;
    let mut run = 0; // start of the bytes not yet written
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => {
                // Skip the string: to its closing quote, past escapes.
                i += 1;
                while i < json.len() && json[i] != b'"' {
                    i += if json[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                continue;
            }
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                if json.get(i + 1) == Some(&close) {
                    i += 2;
                    continue;
                }
                out.write_all(&json[run..=i])?;
                level += 1;
                out.write_all(b"\n")?;
                indent(out, level)?;
            }
            b'}' | b']' => {
                out.write_all(&json[run..i])?;
                level = level.saturating_sub(1);
                out.write_all(b"\n")?;
                indent(out, level)?;
                out.write_all(&json[i..=i])?;
            }
            b',' => {
                out.write_all(&json[run..=i])?;
                out.write_all(b"\n")?;
                indent(out, level)?;
            }
            b':' => {
                out.write_all(&json[run..=i])?;
                out.write_all(b" ")?;
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 1;
        run = i;
    }
    out.write_all(&json[run.min(json.len())..])
}

/// Passes serde_json's pretty output through, indenting every line after
/// the first by `depth` more levels.
struct Reindent<'a, W: Write> {
    out: &'a mut W,
    depth: usize,
}

impl<W: Write> Write for Reindent<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            self.out.write_all(&rest[..=i])?;
            indent(self.out, self.depth)?;
            rest = &rest[i + 1..];
        }
        self.out.write_all(rest)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Streams `v` member by member down to `depth`, then values.
    fn stream(p: &mut Pretty<&mut Vec<u8>>, v: &J, depth: usize, relay: bool) {
        match v {
            J::Array(a) if depth > 0 => {
                p.open(b'[').unwrap();
                for e in a {
                    p.element().unwrap();
                    stream(p, e, depth - 1, relay);
                }
                p.close(b']').unwrap();
            }
            J::Object(m) if depth > 0 => {
                p.open(b'{').unwrap();
                for (k, e) in m {
                    p.key(k).unwrap();
                    stream(p, e, depth - 1, relay);
                }
                p.close(b'}').unwrap();
            }
            v if relay => {
                let mut compact = Vec::new();
                super::super::jsonw::to_writer(&mut compact, v).unwrap();
                p.compact(&compact).unwrap();
            }
            v => p.value(v).unwrap(),
        }
    }

    /// Synthetic documents, streamed at every depth, are byte for byte
    /// what the whole-document printer writes.
    #[test]
    fn streamed_is_whole_document_pretty() {
        let docs = [
            json!({"a": [], "b": {}, "c": [1, [2, []], {"d": "x\ny\u{202e}"}], "e": null}),
            // Structural bytes and escapes inside strings and keys.
            json!({"k{[,:\"\\": "v]},:\"\\\"{", "[]": ["{}", "\\", "\\\"", -1.5e-7]}),
            json!([]),
            json!({}),
            json!([[], [[]], {"k": [{"l": {}}]}, "s", 1.5, -2, true]),
            json!({"schema": 1, "steps": [{"frames": [1, 2, 3], "fields": {"k\"ey": "v"}}]}),
        ];
        for doc in &docs {
            let mut want = Vec::new();
            super::super::jsonw::to_writer_pretty(&mut want, doc).unwrap();
            let mut compact = Vec::new();
            super::super::jsonw::to_writer(&mut compact, doc).unwrap();
            let mut relaid = Vec::new();
            Pretty::new(&mut relaid).compact(&compact).unwrap();
            assert_eq!(
                String::from_utf8(relaid).unwrap(),
                String::from_utf8(want.clone()).unwrap(),
                "compact, re-laid"
            );
            for depth in 0..6 {
                for relay in [false, true] {
                    let mut got = Vec::new();
                    stream(&mut Pretty::new(&mut got), doc, depth, relay);
                    assert_eq!(
                        String::from_utf8(got).unwrap(),
                        String::from_utf8(want.clone()).unwrap(),
                        "depth {depth}, relay {relay}"
                    );
                }
            }
        }
    }
}
