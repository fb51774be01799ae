//! Checking lesson traces against the real package sources: every trace
//! entry's file must exist in the unpacked package and its function must be
//! defined at (or within [`LINE_SLACK`] lines of) the line it states.
//!
//! Sources are laid out as `lessons/fetch-sources.sh` unpacks them:
//! `DIR/<name>-<version>/<file>`, with the wheel's (or sdist's) import
//! packages at the root for PyPI and npm's `package/` as the root for npm.

use std::path::Path;

use regex::Regex;

use super::model::{Course, Loc, TraceEntry};

/// How far from the stated line a definition may be.
pub const LINE_SLACK: u32 = 3;

/// A trace entry that does not check out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefFailure {
    /// Where the entry is written.
    pub at: Loc,
    pub message: String,
}

/// Checks every trace entry of the course against `sources`.
pub fn verify(course: &Course, sources: &Path) -> (usize, Vec<RefFailure>) {
    let mut checked = 0;
    let mut failures = Vec::new();
    for lesson in &course.lessons {
        for (_, entries) in &lesson.trace {
            for e in entries {
                checked += 1;
                if let Err(message) = verify_entry(e, sources) {
                    failures.push(RefFailure {
                        at: e.at.clone(),
                        message,
                    });
                }
            }
        }
    }
    (checked, failures)
}

/// Checks one entry.
pub fn verify_entry(e: &TraceEntry, sources: &Path) -> Result<(), String> {
    let pkg = format!("{}-{}", e.package, e.version);
    let root = sources.join(&pkg);
    if !root.is_dir() {
        return Err(format!(
            "package sources `{pkg}` not found in {} (run lessons/fetch-sources.sh)",
            sources.display()
        ));
    }
    if e.file.starts_with('/') || e.file.split(['/', '\\']).any(|c| c == "..") {
        return Err(format!("`{}` is not a path inside the package", e.file));
    }
    let path = root.join(&e.file);
    let text = std::fs::read(&path).map_err(|_| format!("`{}` does not exist in {pkg}", e.file))?;
    let text = String::from_utf8_lossy(&text);
    let name = e.function.rsplit('.').next().unwrap_or(&e.function);
    let defs = definitions(&text, name);
    if defs.iter().any(|&l| l.abs_diff(e.line) <= LINE_SLACK) {
        return Ok(());
    }
    let found = match defs.as_slice() {
        [] => "it is not defined anywhere in the file".to_string(),
        [one] => format!("it is defined at line {one}"),
        many => format!(
            "it is defined at lines {}",
            many.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(format!(
        "`{name}` ({}) is not defined at {}:{} (±{LINE_SLACK}) of {pkg}; {found}",
        e.function, e.file, e.line
    ))
}

/// The 1-based lines where `name` is defined: Python `def`/`class`, JS
/// `function NAME`, `NAME(...) {` methods, `NAME = function` / arrow
/// functions, `NAME: function`, `class NAME`.
pub fn definitions(text: &str, name: &str) -> Vec<u32> {
    let n = regex::escape(name);
    let patterns = [
        // Python
        format!(r"^\s*(?:async\s+)?def\s+{n}\s*\("),
        format!(r"^\s*class\s+{n}\b"),
        // JS function declarations and expressions
        format!(r"\bfunction\s*\*?\s*{n}\s*\("),
        // JS methods: `name(args) {`, possibly with modifiers; the brace may
        // be on a later line when the arguments wrap.
        format!(
            r"^\s*(?:(?:static|async|get|set|public|private|protected)\s+)*\*?\s*{n}\s*\([^;]*$"
        ),
        // `name = function`, `name = (…) =>`, `name = x =>`, `name: function`
        format!(r"(?:^|[^\w$]){n}\s*[=:]\s*(?:async\s+)?function\b"),
        format!(r"(?:^|[^\w$]){n}\s*=\s*(?:async\s+)?(?:\([^)]*\)|[A-Za-z_$][\w$]*)\s*=>"),
    ];
    let res: Vec<Regex> = patterns.iter().filter_map(|p| Regex::new(p).ok()).collect();
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            // A call statement (`name(x);`) is not a definition.
            let t = line.trim_start();
            !(t.starts_with("return ") || t.starts_with("if ") || t.starts_with("//"))
                && res.iter().any(|r| r.is_match(line))
        })
        .map(|(i, _)| u32::try_from(i + 1).unwrap_or(u32::MAX))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_definition_forms() {
        let py = "class WebSocket(object):\n    def read_frame(self):\n        pass\n    async def receive(self):\n        self.read_frame()\n";
        assert_eq!(definitions(py, "WebSocket"), vec![1]);
        assert_eq!(definitions(py, "read_frame"), vec![2]);
        assert_eq!(definitions(py, "receive"), vec![4]);
        let js = "function sender(a) {}\nclass Receiver extends Writable {\n  getInfo(cb) {\n    this.getInfo(cb);\n  }\n  static get x() {}\n}\nexports.decode = function (s) {};\nconst encode = (p, cb) => {};\nconst o = { parse: function () {} };\nconst one = x => x;\n  write(\n    data,\n  ) {\n";
        assert_eq!(definitions(js, "sender"), vec![1]);
        assert_eq!(definitions(js, "Receiver"), vec![2]);
        assert_eq!(definitions(js, "getInfo"), vec![3]);
        assert_eq!(definitions(js, "decode"), vec![8]);
        assert_eq!(definitions(js, "encode"), vec![9]);
        assert_eq!(definitions(js, "parse"), vec![10]);
        assert_eq!(definitions(js, "one"), vec![11]);
        assert_eq!(definitions(js, "write"), vec![12]);
        assert_eq!(definitions(js, "missing"), Vec::<u32>::new());
    }
}
