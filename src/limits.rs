//! Every cap that keeps a hostile capture from costing unbounded memory or
//! time, by one name each, settable on the command line with
//! `--limit NAME=VALUE` (repeatable) and listed by `--limit help`.
//!
//! One flag rather than one per limit: there are over twenty, most users
//! never touch them, and a single registry ([`ALL`]) gives the names, the
//! defaults, the listing and docs/limits.md (which a test keeps in step).

use std::fmt::Write as _;

use clap::Args;

use crate::analyze::Options;

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Count,
}

/// One configurable limit.
pub struct Limit {
    /// The name used with `--limit` and in docs/limits.md.
    pub name: &'static str,
    pub unit: Unit,
    /// What is capped.
    pub about: &'static str,
    /// What a capture hitting the cap produces (a finding rule id, a notice,
    /// or an input error).
    pub effect: &'static str,
    get: fn(&Options) -> u64,
    set: fn(&mut Options, u64),
}

impl Limit {
    /// The value in `opts`.
    pub fn get(&self, opts: &Options) -> u64 {
        (self.get)(opts)
    }
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

macro_rules! limit {
    ($name:literal, $unit:ident, $about:literal, $effect:literal, |$o:ident| $field:expr, usize) => {
        Limit {
            name: $name,
            unit: Unit::$unit,
            about: $about,
            effect: $effect,
            get: |$o| $field as u64,
            set: |$o, v| $field = to_usize(v),
        }
    };
    ($name:literal, $unit:ident, $about:literal, $effect:literal, |$o:ident| $field:expr, u64) => {
        Limit {
            name: $name,
            unit: Unit::$unit,
            about: $about,
            effect: $effect,
            get: |$o| $field,
            set: |$o, v| $field = v,
        }
    };
}

/// Every limit, in pipeline order.
pub static ALL: &[Limit] = &[
    Limit {
        name: "max-record",
        unit: Unit::Bytes,
        about: "largest capture record (pcap record / pcapng block) read",
        effect: "exit 2: \"… claims N bytes, over the L-byte record limit\", naming the byte offset",
        get: |o| o.max_record() as u64,
        set: |o, v| o.max_record = Some(to_usize(v)),
    },
    limit!(
        "max-connections",
        Count,
        "TCP connections tracked in one run",
        "notice: segments of further connections are skipped and counted",
        |o| o.tcp.max_connections,
        usize
    ),
    limit!(
        "max-pending-bytes",
        Bytes,
        "out-of-order bytes held per connection direction",
        "finding tcp.pending-cap, then tcp.gap: the hole is declared lost",
        |o| o.tcp.max_pending_bytes,
        usize
    ),
    limit!(
        "max-pending-segments",
        Count,
        "out-of-order segments held per connection direction",
        "finding tcp.pending-cap, then tcp.gap",
        |o| o.tcp.max_pending_segments,
        usize
    ),
    limit!(
        "max-pending-total",
        Bytes,
        "out-of-order bytes held over all connections",
        "finding tcp.pending-cap on the direction that crossed it, then tcp.gap",
        |o| o.tcp.max_pending_total,
        usize
    ),
    limit!(
        "max-raw-step",
        Bytes,
        "bytes per raw TCP data step (longer deliveries are split)",
        "none: more steps",
        |o| o.layers.max_raw_step,
        usize
    ),
    limit!(
        "max-head-bytes",
        Bytes,
        "HTTP head (start line + header lines)",
        "finding http.head-too-large; the direction stops being decoded",
        |o| o.layers.http.max_head_bytes,
        usize
    ),
    limit!(
        "max-headers",
        Count,
        "header fields in one HTTP head (and trailer lines)",
        "finding http.head-too-large",
        |o| o.layers.http.max_headers,
        usize
    ),
    limit!(
        "max-chunk-line",
        Bytes,
        "HTTP chunk-size line or trailer line",
        "finding http.malformed",
        |o| o.layers.http.max_chunk_line,
        usize
    ),
    limit!(
        "max-decoded-body",
        Bytes,
        "HTTP body after content decoding (gzip, deflate)",
        "the body is shown truncated (http.body.truncated)",
        |o| o.layers.http.max_decoded_body,
        usize
    ),
    limit!(
        "max-pending-requests",
        Count,
        "HTTP requests awaiting a response on one connection",
        "the oldest is forgotten (its response is paired with a later request)",
        |o| o.layers.max_pending_requests,
        usize
    ),
    limit!(
        "max-frame",
        Bytes,
        "WebSocket frame payload buffered to become a step",
        "finding frame.too-large; the payload is skipped",
        |o| o.layers.ws.max_frame,
        usize
    ),
    limit!(
        "max-message",
        Bytes,
        "WebSocket message assembled from its frames",
        "the message is shown truncated; finding frame.too-large",
        |o| o.layers.ws.max_message,
        usize
    ),
    limit!(
        "max-inflate",
        Bytes,
        "one permessage-deflate message after inflating",
        "finding deflate.too-large; the message is shown truncated",
        |o| o.layers.ws.max_inflate,
        usize
    ),
    limit!(
        "max-inflate-total",
        Bytes,
        "inflated bytes per connection direction",
        "finding deflate.too-large; later messages are not inflated",
        |o| o.layers.ws.max_inflate_total,
        u64
    ),
    Limit {
        name: "decoded-total",
        unit: Unit::Bytes,
        about: "decoded content (inflated, decoded, assembled, unmasked) held by the run's steps at once",
        effect: "finding limit.decoded-total once; content past it is shown as length and SHA-256",
        get: |o| o.decoded_total(),
        set: |o, v| o.decoded_total = Some(v),
    },
    limit!(
        "max-packets",
        Count,
        "Engine.IO packets decoded from one polling payload",
        "finding engineio.too-many-packets; the rest are counted",
        |o| o.layers.engineio.max_packets,
        usize
    ),
    limit!(
        "max-sessions",
        Count,
        "Engine.IO sessions tracked in one run",
        "notice: later open packets start no session",
        |o| o.layers.engineio_sessions,
        usize
    ),
    limit!(
        "max-attachments",
        Count,
        "binary attachments one Socket.IO packet may announce",
        "finding socketio.too-many-attachments; the attachments become orphans",
        |o| o.layers.engineio.max_attachments,
        u64
    ),
    limit!(
        "max-json-depth",
        Count,
        "nesting of [ and { in Socket.IO JSON",
        "finding socketio.bad-payload",
        |o| o.layers.engineio.max_json_depth,
        usize
    ),
    limit!(
        "max-namespace",
        Bytes,
        "Socket.IO namespace length",
        "finding socketio.bad-payload",
        |o| o.layers.engineio.max_namespace_len,
        usize
    ),
    limit!(
        "max-pending-acks",
        Count,
        "Socket.IO events awaiting their ack, per session",
        "one waiting event is forgotten; its ack is then reported socketio.ack-unmatched",
        |o| o.layers.engineio.max_pending_acks,
        usize
    ),
];

/// Why a `--limit` argument was refused.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("--limit wants NAME=VALUE, got \"{0}\" (see --limit help)")]
    Syntax(String),
    #[error("unknown limit \"{0}\" (see --limit help)")]
    Unknown(String),
    #[error("limit {name}: \"{value}\" is not a number (sizes may end in K, M, G, KiB, MiB, GiB)")]
    Value { name: String, value: String },
    #[error("limit {0} must be at least 1")]
    Zero(String),
    #[error("--keylog {path}: {error}")]
    KeyLog { path: String, error: std::io::Error },
}

/// The `--limit` option, flattened into every command that reads a capture.
#[derive(Debug, Clone, Default, Args)]
pub struct LimitArgs {
    /// Raise or lower a resource limit, e.g. `--limit max-message=256MiB`
    /// (repeatable). `--limit help` lists every limit with its default.
    #[arg(long = "limit", value_name = "NAME=VALUE")]
    pub limits: Vec<String>,
    /// A TLS key log (NSS format: SSLKEYLOGFILE, Python's
    /// SSLContext.keylog_filename, Node's --tls-keylog) to decrypt TLS
    /// connections with (repeatable). Keys embedded in a pcapng capture
    /// (Decryption Secrets Blocks) are used as well.
    #[arg(long = "keylog", value_name = "FILE")]
    pub keylogs: Vec<std::path::PathBuf>,
}

impl LimitArgs {
    /// Whether `--limit help` was asked for.
    pub fn wants_help(&self) -> bool {
        self.limits.iter().any(|l| l == "help")
    }

    /// The run options with every `--limit` applied.
    pub fn options(&self) -> Result<Options, LimitError> {
        let mut opts = Options::default();
        for arg in &self.limits {
            let (name, value) = arg
                .split_once('=')
                .ok_or_else(|| LimitError::Syntax(arg.clone()))?;
            let (name, value) = (name.trim(), value.trim());
            let limit = ALL
                .iter()
                .find(|l| l.name == name)
                .ok_or_else(|| LimitError::Unknown(name.to_string()))?;
            let v = parse_value(value).ok_or_else(|| LimitError::Value {
                name: name.to_string(),
                value: value.to_string(),
            })?;
            if v == 0 {
                return Err(LimitError::Zero(name.to_string()));
            }
            (limit.set)(&mut opts, v);
        }
        if !self.keylogs.is_empty() {
            let mut log = crate::proto::tls::keylog::KeyLog::default();
            for path in &self.keylogs {
                let text = std::fs::read(path).map_err(|error| LimitError::KeyLog {
                    path: path.display().to_string(),
                    error,
                })?;
                log.add_text(&text);
            }
            opts.layers.keylog = std::sync::Arc::new(std::sync::RwLock::new(log));
        }
        Ok(opts)
    }
}

/// Parses `4096`, `64K`, `64KiB`, `16M`, `16MiB`, `1G`, `1GiB` (binary
/// multiples either way; `_` separators allowed).
pub fn parse_value(s: &str) -> Option<u64> {
    let s = s.replace('_', "");
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (num, suffix) = s.split_at(digits);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// A value for people: `16MiB`, `4096`.
pub fn show_value(v: u64, unit: Unit) -> String {
    if unit == Unit::Bytes {
        for (shift, name) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
            if v >= 1 << shift && v.is_multiple_of(1 << shift) {
                return format!("{}{name}", v >> shift);
            }
        }
    }
    v.to_string()
}

/// The `--limit help` listing.
pub fn listing() -> String {
    let opts = Options::default();
    let mut out = String::from("Limits (set with --limit NAME=VALUE; see docs/limits.md):\n");
    for l in ALL {
        let _ = writeln!(
            out,
            "  {:<22} {:>8}  {}",
            l.name,
            show_value(l.get(&opts), l.unit),
            l.about
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_with_binary_suffixes() {
        assert_eq!(parse_value("4096"), Some(4096));
        assert_eq!(parse_value("64KiB"), Some(64 << 10));
        assert_eq!(parse_value("16M"), Some(16 << 20));
        assert_eq!(parse_value("2gib"), Some(2 << 30));
        assert_eq!(parse_value("10_000"), Some(10_000));
        assert_eq!(parse_value("12XB"), None);
        assert_eq!(parse_value(""), None);
        assert_eq!(parse_value("99999999999999999999G"), None);
    }

    #[test]
    fn every_limit_round_trips_through_its_name() {
        for l in ALL {
            let args = LimitArgs {
                limits: vec![format!("{}=12345", l.name)],
                ..LimitArgs::default()
            };
            let opts = args.options().unwrap();
            assert_eq!(l.get(&opts), 12345, "{}", l.name);
            assert_ne!(l.get(&Options::default()), 12345, "{}", l.name);
        }
    }

    #[test]
    fn names_are_unique() {
        for (i, l) in ALL.iter().enumerate() {
            assert!(ALL[i + 1..].iter().all(|m| m.name != l.name), "{}", l.name);
        }
    }

    #[test]
    fn bad_arguments_are_refused_with_the_reason() {
        let opts = |s: &str| {
            LimitArgs {
                limits: vec![s.to_string()],
                ..LimitArgs::default()
            }
            .options()
        };
        assert!(matches!(opts("max-frame"), Err(LimitError::Syntax(_))));
        assert!(matches!(opts("nope=1"), Err(LimitError::Unknown(_))));
        assert!(matches!(
            opts("max-frame=lots"),
            Err(LimitError::Value { .. })
        ));
        assert!(matches!(opts("max-frame=0"), Err(LimitError::Zero(_))));
    }

    #[test]
    fn docs_list_every_limit_with_its_default() {
        let doc = include_str!("../docs/limits.md");
        let opts = Options::default();
        for l in ALL {
            let row = format!("| `{}` | {} |", l.name, show_value(l.get(&opts), l.unit));
            assert!(
                doc.contains(&row),
                "docs/limits.md lacks the row starting {row}"
            );
        }
    }
}
