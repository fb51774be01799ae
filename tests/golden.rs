//! Golden outputs: each real capture's `explain --format text` trace,
//! snapshotted with insta. A changed trace fails until a person has read the
//! new snapshot (`cargo insta review`) and accepted it.

mod tools;

use dispel::analyze::{self, Options};
use dispel::output::{Filter, text::TextSink};

fn trace(path: &std::path::Path) -> String {
    let mut out = Vec::new();
    let name = format!("captures/{}", path.file_name().unwrap().to_string_lossy());
    let bytes = std::fs::read(path).unwrap();
    let len = bytes.len() as u64;
    let mut sink = TextSink::new(&mut out, Filter::default());
    analyze::run_reader(
        std::io::Cursor::new(bytes),
        Some(len),
        &name,
        &Options::default(),
        &mut sink,
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn every_capture_has_a_reviewed_trace() {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path("snapshots");
    settings.bind(|| {
        for path in tools::captures() {
            let stem = path.file_stem().unwrap().to_string_lossy().to_string();
            insta::assert_snapshot!(stem, trace(&path));
        }
    });
}
