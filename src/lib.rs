//! dispel: replay a packet capture through an instrumented protocol stack —
//! TCP reassembly, the HTTP/1.1 upgrade, RFC 6455 frames, Engine.IO and
//! Socket.IO — and show every step next to a lesson that explains it.
//!
//! The library is layered as the data flows:
//! - [`capture`] reads pcap / pcapng records as a stream;
//! - [`link`] turns a record into a TCP segment;
//! - [`tcp`] reassembles each direction of each connection;
//! - [`proto`] holds the pure protocol parsers;
//! - [`analyze`] is the one instrumentation layer that turns parser results
//!   into [`step::Step`]s, with [`rules`] naming every finding;
//! - [`output`] renders steps headless;
//! - [`check`] turns findings and expectations into a grader's verdicts.
//! - [`kinds`] registers every step kind and field;
//! - [`lessons`] loads, checks, binds and renders the lessons.
//!
//! Below them all: [`query`], the one step query language (kind patterns,
//! direction, connection, field conditions) that the output filter, the
//! lessons' `select`, expectations and the TUI filter share, and [`yaml`],
//! the located YAML reader lessons and expectations are loaded through.

pub mod analyze;
pub mod capture;
pub mod check;
pub mod cli;
pub mod error;
pub mod jsonw;
pub mod kinds;
pub mod lessons;
pub mod limits;
pub mod link;
pub mod live;
pub mod output;
pub mod proto;
pub mod query;
pub mod rules;
pub mod sanitize;
pub mod step;
pub mod tcp;
pub mod tui;
pub mod yaml;
