//! Many captures at once: inputs expanded (directories recursively, their
//! `*.pcap` / `*.pcapng` sorted by path), checked on a pool of scoped
//! threads, and returned in input order whatever order they finished in.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{CaptureCheck, CheckOptions, check_file};

/// One input to check: a capture file, or a path that could not be listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    File(PathBuf),
    /// A directory (or entry) that could not be read: reported as an error
    /// in its place.
    Unreadable(PathBuf, String),
}

/// Whether a directory entry is a capture by its name.
fn is_capture(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("pcap") || e.eq_ignore_ascii_case("pcapng"))
}

/// Expands the command line's paths: a file stays as given (whatever its
/// name: the user named it), a directory becomes its captures, recursively,
/// sorted by path. Symbolic links to directories are not followed (no loops).
pub fn expand(args: &[PathBuf]) -> Vec<Input> {
    let mut out = Vec::new();
    for a in args {
        if a.is_dir() {
            let mut found = Vec::new();
            walk(a, &mut found);
            found.sort_by(|x, y| match (x, y) {
                (Input::File(p), Input::File(q))
                | (Input::File(p), Input::Unreadable(q, _))
                | (Input::Unreadable(p, _), Input::File(q))
                | (Input::Unreadable(p, _), Input::Unreadable(q, _)) => p.cmp(q),
            });
            out.extend(found);
        } else {
            out.push(Input::File(a.clone()));
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<Input>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            out.push(Input::Unreadable(dir.to_path_buf(), e.to_string()));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                out.push(Input::Unreadable(dir.to_path_buf(), e.to_string()));
                continue;
            }
        };
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, out),
            Ok(_) if is_capture(&path) => out.push(Input::File(path)),
            Ok(_) => {}
            Err(e) => out.push(Input::Unreadable(path, e.to_string())),
        }
    }
}

/// Checks every input on `workers` threads (at least 1); `progress` is
/// called after each capture with (done, total, path). Results come back in
/// input order.
pub fn run(
    inputs: &[Input],
    opts: &CheckOptions,
    workers: usize,
    progress: &(dyn Fn(usize, usize, &str) + Sync),
) -> Vec<CaptureCheck> {
    let total = inputs.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<CaptureCheck>>> = Mutex::new(vec![None; total]);
    let workers = workers.clamp(1, total.max(1));
    // One capture per core already: no second thread per capture.
    let single;
    let opts = if workers > 1 {
        single = CheckOptions {
            analysis: crate::analyze::Options {
                single_thread: true,
                ..opts.analysis.clone()
            },
            ..opts.clone()
        };
        &single
    } else {
        opts
    };
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(input) = inputs.get(i) else { break };
                    let check = match input {
                        Input::File(p) => check_file(p, opts),
                        Input::Unreadable(p, why) => unreadable(p, why, opts),
                    };
                    let name = check.file.clone();
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(check);
                    }
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    progress(n, total, &name);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

/// The report of an input that could not even be listed.
fn unreadable(path: &Path, why: &str, opts: &CheckOptions) -> CaptureCheck {
    let mut c = super::verdicts(
        path.display().to_string(),
        &None,
        &Default::default(),
        &Default::default(),
        &[],
        Some(why.to_string()),
        &CheckOptions {
            expect: None,
            ..opts.clone()
        },
    );
    c.rules.clear();
    c
}

/// Worker threads: the machine's parallelism.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_expand_recursively_sorted_and_files_stay() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        for f in ["b.pcap", "a.PCAPNG", "notes.txt", "sub/c.pcap"] {
            std::fs::write(d.path().join(f), b"").unwrap();
        }
        let named = d.path().join("notes.txt");
        let got = expand(&[d.path().to_path_buf(), named.clone()]);
        let want: Vec<Input> = ["a.PCAPNG", "b.pcap", "sub/c.pcap"]
            .iter()
            .map(|f| Input::File(d.path().join(f)))
            .chain([Input::File(named)])
            .collect();
        assert_eq!(got, want);
    }
}
