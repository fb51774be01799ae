//! Helpers for tests over the real captures and external tools.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether an external tool is on PATH. When it is not, a test may skip —
/// except under `CI=true`, where CI installs the tool, so its absence fails.
pub fn have(tool: &str) -> bool {
    // tmux knows only `-V`.
    let found = ["--version", "-V"].iter().any(|flag| {
        Command::new(tool)
            .arg(flag)
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is required under CI=true (install it: .ci/run does)"
        );
        eprintln!("skipping: {tool} is not installed");
    }
    found
}

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every real capture in `captures/`, sorted.
pub fn captures() -> Vec<PathBuf> {
    captures_in(&["captures"])
}

/// Every real capture and every hostile one (`tests/hostile/`), sorted.
pub fn captures_and_hostile() -> Vec<PathBuf> {
    captures_in(&["captures", "tests/hostile"])
}

fn captures_in(dirs: &[&str]) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|d| std::fs::read_dir(root().join(d)).unwrap())
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    v.sort();
    v
}
