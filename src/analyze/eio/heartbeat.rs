//! The Engine.IO heartbeat: who pings whom (the server in v4, the client in
//! v3), and whether pings keep to the interval the open packet announced.

use crate::proto::engineio::{PacketType, Version};
use crate::rules;
use crate::step::{Dir, Field, Finding, Step, Timestamp};

use super::{Tracker, Where, side};

impl Tracker {
    /// Heartbeat rules: who pings (v3: the client; v4: the server) and
    /// whether pings and pongs keep to pingInterval / pingTimeout.
    pub(super) fn heartbeat(
        &mut self,
        si: u32,
        ptype: PacketType,
        text: &str,
        w: &Where,
        s: &mut Step,
    ) {
        let sess = &mut self.sessions[si as usize];
        if text == "probe" {
            return;
        }
        let pinger = match sess.version {
            Version::V3 => Dir::C2s,
            Version::V4 => Dir::S2c,
        };
        let (interval, timeout) = sess
            .open
            .as_ref()
            .map_or((None, None), |o| (o.ping_interval, o.ping_timeout));
        let ms = |a: Timestamp, b: Timestamp| ((b.as_nanos() - a.as_nanos()) / 1_000_000) as i64;
        match ptype {
            PacketType::Ping => {
                if w.dir != pinger {
                    s.findings.push(Finding::new(
                        &rules::ENGINEIO_PING_DIRECTION,
                        format!(
                            "in Engine.IO {} the {} sends pings, but this ping comes from the {}",
                            sess.version.number(),
                            side(pinger),
                            side(w.dir)
                        ),
                    ));
                    return;
                }
                let from = sess.last_ping.map(|p| p.0).or(sess.heartbeat_from);
                if let (Some(from), Some(iv), Some(to)) = (from, interval, timeout) {
                    let gap = ms(from, w.time);
                    s.fields.push(
                        Field::new("engineio.heartbeat.since_last_ms", gap.max(0) as u64)
                            .show(format!("pingInterval is {iv} ms")),
                    );
                    if gap > i64::try_from(iv.saturating_add(to)).unwrap_or(i64::MAX) {
                        s.findings.push(Finding::new(
                            &rules::ENGINEIO_HEARTBEAT_LATE,
                            format!(
                                "this ping comes {gap} ms after the previous one (or the open packet); pingInterval is {iv} ms and pingTimeout {to} ms, so the peer would already have given up"
                            ),
                        ));
                    }
                }
            }
            PacketType::Pong => {
                if w.dir == pinger {
                    s.findings.push(Finding::new(
                        &rules::ENGINEIO_PING_DIRECTION,
                        format!(
                            "in Engine.IO {} the {} answers pings, but this pong comes from the {}",
                            sess.version.number(),
                            side(pinger.reverse()),
                            side(w.dir)
                        ),
                    ));
                    return;
                }
                if let Some((ping_time, ping_step)) = sess.last_ping {
                    let delay = ms(ping_time, w.time);
                    s.fields
                        .push(
                            Field::new("engineio.heartbeat.answers", ping_step).show(format!(
                                "answers the ping of step {ping_step}, {delay} ms later"
                            )),
                        );
                    if let Some(to) = timeout
                        && delay > i64::try_from(to).unwrap_or(i64::MAX)
                    {
                        s.findings.push(Finding::new(
                            &rules::ENGINEIO_HEARTBEAT_LATE,
                            format!(
                                "this pong comes {delay} ms after its ping, more than pingTimeout ({to} ms)"
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
}
