//! Embeds the bundled course: every `lessons/*.yaml` file, sorted by name,
//! becomes an `include_str!` entry of `$OUT_DIR/bundled_lessons.rs`. Works
//! with no lesson files (an empty list); reruns when `lessons/` changes.
//!
//! Also tells the tests which optional tools are missing, so the tests that
//! need one are compiled `#[ignore = "why"]` and `cargo test`'s summary
//! shows them as ignored, with the reason, instead of a silent "ok": a cfg
//! `dispel_missing_<tool>` per missing tool. Under `CI=true` none is set,
//! so those tests run and fail on a missing tool. Reruns when `PATH`, `CI`
//! or `DISPEL_SOURCES` change (install a tool in place: `touch build.rs`).

use std::fmt::Write as _;
use std::path::Path;

/// Optional tools: (cfg suffix, whether it is present).
fn tools() -> [(&'static str, bool); 7] {
    let runs = |cmd: &str, args: &[&str]| {
        std::process::Command::new(cmd)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success())
    };
    [
        ("tshark", runs("tshark", &["--version"])),
        ("tmux", runs("tmux", &["-V"])),
        ("python3", runs("python3", &["--version"])),
        ("jsonschema", runs("python3", &["-c", "import jsonschema"])),
        ("sources", std::env::var_os("DISPEL_SOURCES").is_some()),
        // `dispel lessons trace` builds the reference servers' virtualenv.
        ("venv", runs("python3", &["-c", "import venv, ensurepip"])),
        // `--live` in a private network namespace: root, tcpdump, ip.
        (
            "netns",
            runs("tcpdump", &["--version"])
                && runs("ip", &["-V"])
                && std::process::Command::new("id")
                    .arg("-u")
                    .output()
                    .is_ok_and(|o| o.stdout.starts_with(b"0\n")),
        ),
    ]
}

fn main() {
    println!("cargo:rerun-if-env-changed=PATH");
    println!("cargo:rerun-if-env-changed=CI");
    println!("cargo:rerun-if-env-changed=DISPEL_SOURCES");
    let ci = std::env::var("CI").as_deref() == Ok("true");
    for (tool, present) in tools() {
        println!("cargo::rustc-check-cfg=cfg(dispel_missing_{tool})");
        if !present && !ci {
            println!("cargo::rustc-cfg=dispel_missing_{tool}");
        }
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out = String::from("&[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().unwrap().to_string_lossy();
        writeln!(
            out,
            "    ({:?}, include_str!({:?})),",
            format!("lessons/{name}"),
            f.display().to_string()
        )
        .unwrap();
    }
    out.push(']');
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("bundled_lessons.rs");
    std::fs::write(dest, out).unwrap();
}
