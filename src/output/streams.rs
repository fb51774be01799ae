//! `dispel streams`: the TCP connections of a capture, as a table or JSON.

use std::io::{self, Write};

use serde_json::json;

use super::json as j;
use crate::analyze::Report;
use crate::step::Timestamp;

/// Writes the connection table.
pub fn table(out: &mut dyn Write, r: &Report, origin: Timestamp) -> io::Result<()> {
    writeln!(
        out,
        "{:>4}  {:<22} {:<22} {:>7} {:>9} {:>7} {:>9} {:>9} {:>9}  {:<11} anomalies",
        "conn",
        "client",
        "server",
        "c2s pkt",
        "c2s bytes",
        "s2c pkt",
        "s2c bytes",
        "start",
        "end",
        "ending"
    )?;
    for c in &r.connections {
        let mut anomalies = Vec::new();
        if c.meta.role_guessed {
            anomalies.push("roles guessed".to_string());
        }
        let retrans = c.dirs[0].retransmissions + c.dirs[1].retransmissions;
        if retrans > 0 {
            anomalies.push(format!("{retrans} retransmissions"));
        }
        let ooo = c.dirs[0].out_of_order + c.dirs[1].out_of_order;
        if ooo > 0 {
            anomalies.push(format!("{ooo} out of order"));
        }
        let gaps = c.dirs[0].gaps + c.dirs[1].gaps;
        if gaps > 0 {
            anomalies.push(format!(
                "{gaps} gaps ({} bytes)",
                c.dirs[0].gap_bytes + c.dirs[1].gap_bytes
            ));
        }
        if c.overlap_conflicts > 0 {
            anomalies.push(format!("{} conflicting overlaps", c.overlap_conflicts));
        }
        writeln!(
            out,
            "{:>4}  {:<22} {:<22} {:>7} {:>9} {:>7} {:>9} {:>8.3}s {:>8.3}s  {:<11} {}",
            c.meta.id,
            c.meta.client.to_string(),
            c.meta.server.to_string(),
            c.dirs[0].packets,
            c.dirs[0].bytes,
            c.dirs[1].packets,
            c.dirs[1].bytes,
            c.meta.first.time.since(origin),
            c.last.time.since(origin),
            c.ending.as_str(),
            if anomalies.is_empty() {
                "-".to_string()
            } else {
                anomalies.join(", ")
            }
        )?;
    }
    writeln!(
        out,
        "{} connections; {} packets ({} TCP, {} other)",
        r.connections.len(),
        r.packets,
        r.tcp_packets,
        r.non_tcp_packets
    )?;
    for n in &r.notices {
        writeln!(out, "note: {}", crate::sanitize::escape(&n.message))?;
    }
    Ok(())
}

/// The connection list as one JSON document.
pub fn json(out: &mut dyn Write, r: &Report, origin: Timestamp, file: &str) -> io::Result<()> {
    let doc = json!({
        "schema": super::SCHEMA_VERSION,
        "file": file,
        "packets": r.packets,
        "tcp_packets": r.tcp_packets,
        "non_tcp_packets": r.non_tcp_packets,
        "connections": r.connections.iter().map(|c| j::conn_stats(c, origin)).collect::<Vec<_>>(),
        "notices": r.notices.iter().map(|n| n.message.clone()).collect::<Vec<_>>(),
    });
    super::jsonw::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}
