//! Loading expectation files (`docs/expectations.md`): every error is
//! located, `FILE:LINE:COLUMN: message`, by the same YAML reader and
//! condition parser as lessons.
//!
//! Each `tests/expect/invalid/X.yaml` must be refused with exactly the
//! error in `X.expected`, and each `tests/expect/warnings/X.yaml` must load
//! with exactly the warnings in `X.expected` (regenerate with
//! `UPDATE_EXPECTED=1 cargo test --test expect`, then read the diff).

use std::path::{Path, PathBuf};

use dispel::check::expect::ExpectFile;

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(Path::new("tests/expect").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

fn check_expected(f: &Path, got: &str) {
    let expected_path = f.with_extension("expected");
    if std::env::var("UPDATE_EXPECTED").is_ok() {
        std::fs::write(&expected_path, got).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path)
        .unwrap_or_else(|_| panic!("{} is missing", expected_path.display()));
    assert_eq!(got, expected, "{}", f.display());
}

#[test]
fn invalid_fixtures_give_exactly_their_expected_error() {
    let files = fixtures("invalid");
    assert!(files.len() >= 12);
    for f in files {
        let e = ExpectFile::load(&f)
            .err()
            .unwrap_or_else(|| panic!("{} loads", f.display()));
        let got = format!("{e}\n");
        // Every error is located: the file, then a line and a column.
        let at = format!("{}:", f.display());
        for line in got.lines() {
            let rest = line.strip_prefix(&at).unwrap_or_else(|| panic!("{line}"));
            let rest: Vec<&str> = rest.splitn(3, ':').collect();
            assert!(
                rest.len() == 3 && rest[0].parse::<u32>().is_ok() && rest[1].parse::<u32>().is_ok(),
                "not located: {line}"
            );
        }
        check_expected(&f, &got);
    }
}

#[test]
fn warning_fixtures_load_with_exactly_their_expected_warnings() {
    let files = fixtures("warnings");
    assert!(!files.is_empty());
    for f in files {
        let loaded = ExpectFile::load(&f).unwrap_or_else(|e| panic!("{e}"));
        assert!(!loaded.warnings.is_empty(), "{}", f.display());
        let got: String = loaded.warnings.iter().map(|w| format!("{w}\n")).collect();
        check_expected(&f, &got);
    }
}

#[test]
fn the_example_assignments_load_clean() {
    for f in [
        "examples/assignment.yaml",
        "examples/ws-echo-assignment.yaml",
    ] {
        let loaded = ExpectFile::load(Path::new(f)).unwrap_or_else(|e| panic!("{e}"));
        assert!(loaded.warnings.is_empty(), "{f}: {:?}", loaded.warnings);
        assert!(loaded.expect.len() >= 4);
    }
}

#[test]
fn the_documented_recipes_load_without_warnings() {
    let doc = std::fs::read_to_string("docs/expectations.md").unwrap();
    let recipes = &doc[doc.find("## Recipes").expect("a Recipes section")..];
    let start = recipes.find("```yaml\n").expect("a yaml block") + 8;
    let block = &recipes[start..start + recipes[start..].find("```").unwrap()];
    let loaded = ExpectFile::parse(block, "recipes").unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert!(loaded.expect.len() >= 8);
}

#[test]
fn the_binary_prints_the_located_error_and_warnings() {
    let bin = env!("CARGO_BIN_EXE_dispel");
    let o = std::process::Command::new(bin)
        .args([
            "check",
            "captures/flask-sock-echo.pcap",
            "--expect",
            "tests/expect/invalid/unknown-operator.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "dispel: {}",
            std::fs::read_to_string("tests/expect/invalid/unknown-operator.expected").unwrap()
        )
    );
    // Several errors: each on its own line, each prefixed.
    let o = std::process::Command::new(bin)
        .args([
            "check",
            "captures/flask-sock-echo.pcap",
            "--expect",
            "tests/expect/invalid/several.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let want: String = std::fs::read_to_string("tests/expect/invalid/several.expected")
        .unwrap()
        .lines()
        .map(|l| format!("dispel: {l}\n"))
        .collect();
    assert_eq!(String::from_utf8_lossy(&o.stderr), want);
    assert!(want.lines().count() >= 4);
    let o = std::process::Command::new(bin)
        .args([
            "check",
            "captures/flask-sock-echo.pcap",
            "--expect",
            "tests/expect/warnings/in-empty.yaml",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let want: String = std::fs::read_to_string("tests/expect/warnings/in-empty.expected")
        .unwrap()
        .lines()
        .map(|l| format!("dispel: warning: {l}\n"))
        .collect();
    assert_eq!(err, want);
}
