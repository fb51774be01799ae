//! The `dispel` binary: everything lives in the library; this only runs the
//! command line.

/// mimalloc: every step is a handful of small allocations (summary, fields,
/// buffers), and on a capture of small Socket.IO events glibc's malloc/free
/// were ~45% of the profile (`bench/run.sh`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// mimalloc's own options (v3's `mi_option_t` in `mimalloc.h`): the C
// library is linked in by the `mimalloc` crate, whose Rust API does not
// expose them.
unsafe extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// Memory freed goes back to the system, rather than staying resident: a
/// hostile capture's 16 MiB bodies and messages, built on one thread and
/// freed on the other, otherwise kept a run's peak near the sum of several
/// (docs/benchmarks.md, "Peak memory and the allocator"). Two settings,
/// made before the run allocates anything large:
///
/// - mimalloc purges freed pages at once instead of after its delay
///   (`MIMALLOC_PURGE_DELAY=0`; the environment variable still wins);
/// - on Linux the process does not use transparent huge pages
///   (`prctl(PR_SET_THP_DISABLE)`, unless `MIMALLOC_ALLOW_THP` is set): a
///   2 MiB huge page stays resident while any of it is used, so purged
///   memory inside one was not returned.
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a plain setter of mimalloc's option table, called on the
        // main thread before any other thread exists.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: prctl with an integer option and integer arguments; a
        // failure (an old kernel) only leaves huge pages allowed.
        let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}

fn main() -> std::process::ExitCode {
    tune_allocator();
    dispel::cli::main()
}

#[cfg(test)]
mod tests {
    unsafe extern "C" {
        fn mi_option_get(option: std::ffi::c_int) -> std::ffi::c_long;
    }

    /// The option number is mimalloc's purge delay: its default is 1000 ms,
    /// which no option next to it has (a mimalloc update renumbering its
    /// options fails here, not silently in `tune_allocator`).
    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            println!("skipped: MIMALLOC_PURGE_DELAY is set");
            return;
        }
        // SAFETY: a plain getter of mimalloc's option table.
        let delay = unsafe { mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(delay, 1000);
        super::tune_allocator();
        // SAFETY: as above.
        assert_eq!(unsafe { mi_option_get(super::MI_OPTION_PURGE_DELAY) }, 0);
    }
}
