//! Headless renderings of the step trace. Every format renders the same
//! steps; none touches the terminal library.
//!
//! The ndjson and JSON shapes are contracts with graders, documented in
//! `docs/output-formats.md`; change them only with a schema version bump.

pub mod json;
pub mod jsonw;
pub mod markdown;
pub mod mermaid;
pub mod ndjson;
pub mod pretty;
pub mod streams;
pub mod text;

/// Version of the JSON / ndjson schema, carried in every document.
pub const SCHEMA_VERSION: u32 = 1;

/// Which steps an output shows (`--conn`, `--kind`).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub conn: Option<u32>,
    /// Kind patterns: exact (`websocket.frame`), prefix with `*`
    /// (`websocket.*`), or a layer name (`websocket`).
    pub kinds: Vec<String>,
}

impl Filter {
    pub fn conn_shown(&self, conn: u32) -> bool {
        self.conn.is_none_or(|c| c == conn)
    }

    pub fn step_shown(&self, step: &crate::step::Step) -> bool {
        self.conn_shown(step.conn)
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| kind_matches(k, step.kind)))
    }
}

/// Whether a `--kind` pattern matches a step kind (the shared query's).
pub use crate::query::kind_matches;
