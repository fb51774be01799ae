//! The grader's machine-readable renderings of [`super::CaptureCheck`]s:
//! JSON, JUnit XML and CSV. They live under `check` (not `output`) so that
//! dependencies point one way: `check` uses `output`'s step shapes, never
//! the reverse.

pub mod csv;
pub mod json;
pub mod junit;
