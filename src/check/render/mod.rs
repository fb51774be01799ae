//! The grader's machine-readable renderings of [`super::CaptureCheck`]s:
//! JSON, JUnit XML, CSV and Gradescope's results.json. They live under `check` (not `output`) so that
//! dependencies point one way: `check` uses `output`'s step shapes, never
//! the reverse.

pub mod csv;
pub mod gradescope;
pub mod json;
pub mod junit;
