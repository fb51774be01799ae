//! The `dispel` binary: everything lives in the library; this only runs the
//! command line.

/// mimalloc: every step is a handful of small allocations (summary, fields,
/// buffers), and on a capture of small Socket.IO events glibc's malloc/free
/// were ~45% of the profile (`bench/run.sh`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    dispel::cli::main()
}
