//! Golden outputs: each real capture's `explain --format text` trace
//! (a TLS capture's with its key log, `NAME.keys`), snapshotted with insta. A changed trace fails until a person has read the
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
    // A TLS capture is traced decrypted, with the key log beside it.
    let mut opts = Options::default();
    if let Ok(keys) = std::fs::read(path.with_extension("keys")) {
        let mut log = dispel::proto::tls::keylog::KeyLog::default();
        log.add_text(&keys);
        opts.layers.keylog = std::sync::Arc::new(std::sync::RwLock::new(log));
    }
    analyze::run_reader(
        std::io::Cursor::new(bytes),
        Some(len),
        &name,
        &opts,
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
