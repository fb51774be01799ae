//! The WebSocket opening handshake as steps (RFC 6455 §4): the checks of
//! the client's upgrade request (§4.1, §4.2.1) and of the server's answer
//! (§4.1's client checks, §4.2.2), the `Sec-WebSocket-Accept` derivation
//! stage by stage, and the outcome. The HTTP layer hands this module the
//! two messages; the connection swaps the HTTP layers for WebSocket layers
//! when [`Answer::upgraded`] says so. The checks themselves are pure
//! ([`crate::proto::ws::handshake`]); this module turns them into steps and
//! findings.

use std::sync::Arc;

use crate::proto::http::Head;
use crate::proto::ws::{self as wsproto, RequestCheck};
use crate::rules;
use crate::step::{Dir, Field, Finding, Origin, Span, Step, Value};

use super::http as httpstep;

/// Checks a request that asks for a WebSocket, adding its findings and a
/// note to the request's step; `None` for a request that does not ask.
pub(super) fn request(s: &mut Step, head: &Head) -> Option<RequestCheck> {
    let check = wants_websocket(head).then(|| wsproto::check_request(head))?;
    for p in &check.problems {
        s.findings.push(Finding::new(p.rule(), p.message()));
    }
    s.summary.push_str("  (WebSocket upgrade request)");
    Some(check)
}

/// What the server's answer to an upgrade request amounts to.
pub(super) struct Answer {
    /// The response's findings (a refusal is not one: see `handshake`).
    pub findings: Vec<Finding>,
    /// The Accept derivation, when the server answered 101 or sent an Accept.
    pub accept: Option<Step>,
    /// The outcome: upgraded, or refused and why.
    pub handshake: Step,
    /// The connection now speaks WebSocket (status 101).
    pub upgraded: bool,
    /// permessage-deflate was agreed: (client_no_context_takeover,
    /// server_no_context_takeover).
    pub deflate: Option<(bool, bool)>,
}

/// Checks the server's answer `m` to the upgrade request `check`.
pub(super) fn answer(conn: u32, m: &httpstep::Message, check: &RequestCheck) -> Answer {
    let status = m.head.status().unwrap_or(0);
    let resp = wsproto::check_response(check, &m.head);
    // A refusal (non-101, no Accept) is allowed by RFC 6455 §4.2.2 and
    // reported as `handshake.failed`; a non-101 status on a response
    // that otherwise accepts (it carries Sec-WebSocket-Accept) is the
    // server getting the status wrong.
    let accepting = resp.accept.is_some();
    let findings = resp
        .problems
        .iter()
        .filter_map(|p| {
            p.rule(accepting)
                .map(|rule| Finding::new(rule, p.message()))
        })
        .collect();
    let accept =
        (status == 101 || resp.accept.is_some()).then(|| accept_step(conn, m, check, &resp));
    let upgraded = status == 101;
    let handshake = handshake_step(conn, m, check, &resp, upgraded);
    let deflate = resp
        .deflate
        .as_ref()
        .map(|p| (p.client_no_context_takeover, p.server_no_context_takeover));
    Answer {
        findings,
        accept,
        handshake,
        upgraded,
        deflate,
    }
}

/// A request asks for a WebSocket when it names it in `Upgrade` or carries
/// a key (a broken client may get one of them wrong; the checks say which).
fn wants_websocket(head: &Head) -> bool {
    head.has_token("upgrade", "websocket") || head.header("sec-websocket-key").is_some()
}

/// The `Sec-WebSocket-Accept` derivation, every stage a field (RFC 6455
/// §4.2.2 item 5.4): key, key + GUID, SHA-1, base64, what the server sent.
fn accept_step(
    conn: u32,
    m: &httpstep::Message,
    check: &RequestCheck,
    resp: &wsproto::ResponseCheck,
) -> Step {
    let mut s = Step::new(conn, Dir::S2c, "websocket.accept", m.time);
    s.frames = m.frames.clone();
    let sent = resp.accept.clone();
    match &check.accept {
        Some(d) => {
            let stage = |s: &mut Step, name: &'static str, text: &str| {
                let b = s.add_buffer(name, Origin::Derived, Arc::from(text.as_bytes()));
                Span::bytes(b, 0, text.len())
            };
            let sp = stage(&mut s, "key", &d.key_trimmed);
            s.fields.push(
                Field::new("websocket.accept.key", d.key_trimmed.as_str())
                    .span(sp)
                    .show("the client's Sec-WebSocket-Key, surrounding whitespace trimmed"),
            );
            s.fields.push(
                Field::new("websocket.accept.guid", wsproto::GUID)
                    .show("the fixed GUID of RFC 6455 §1.3"),
            );
            let sp = stage(&mut s, "key+GUID", &d.concatenated);
            s.fields.push(
                Field::new("websocket.accept.concatenated", d.concatenated.as_str()).span(sp),
            );
            let b = s.add_buffer("sha1", Origin::Derived, Arc::from(d.sha1.as_slice()));
            s.fields.push(
                Field::new("websocket.accept.sha1", Value::Bytes(d.sha1.to_vec()))
                    .span(Span::bytes(b, 0, 20))
                    .show("SHA-1 of the concatenation: 20 bytes"),
            );
            let sp = stage(&mut s, "base64", &d.expected);
            s.fields.push(
                Field::new("websocket.accept.expected", d.expected.as_str())
                    .span(sp)
                    .show("base64 of the digest: what the server must send"),
            );
            let valid = sent.as_deref() == Some(d.expected.as_str());
            s.fields.push(match &sent {
                Some(v) => Field::new("websocket.accept.sent", v.as_str()),
                None => {
                    Field::new("websocket.accept.sent", Value::Str(String::new())).show("missing")
                }
            });
            s.fields.push(Field::new("websocket.accept.valid", valid));
            s.summary = match (&sent, valid) {
                (Some(v), true) => format!("Sec-WebSocket-Accept {v} is right"),
                (Some(v), false) => {
                    format!("Sec-WebSocket-Accept {v} is wrong: expected {}", d.expected)
                }
                (None, _) => format!("no Sec-WebSocket-Accept; expected {}", d.expected),
            };
        }
        None => {
            s.summary = "no valid Sec-WebSocket-Key, so no Accept can be derived".into();
            s.fields.push(Field::new("websocket.accept.valid", false));
        }
    }
    s
}

/// The outcome of the opening handshake: upgraded, or refused and why.
fn handshake_step(
    conn: u32,
    m: &httpstep::Message,
    check: &RequestCheck,
    resp: &wsproto::ResponseCheck,
    upgraded: bool,
) -> Step {
    let mut s = Step::new(conn, Dir::S2c, "websocket.handshake", m.time);
    s.frames = m.frames.clone();
    let status = resp.status.unwrap_or(0);
    s.fields.push(Field::new(
        "websocket.handshake.result",
        if upgraded { "upgraded" } else { "refused" },
    ));
    s.fields
        .push(Field::new("websocket.handshake.status", status));
    if let Some(v) = &check.version {
        s.fields
            .push(Field::new("websocket.handshake.version", v.as_str()));
    }
    if !check.extensions.is_empty() {
        let offered: Vec<String> = check.extensions.iter().map(|e| e.name.clone()).collect();
        s.fields.push(Field::new(
            "websocket.handshake.extensions_offered",
            offered.join(", "),
        ));
    }
    if !check.subprotocols.is_empty() {
        s.fields.push(Field::new(
            "websocket.handshake.subprotocols_offered",
            check.subprotocols.join(", "),
        ));
    }
    if let Some(p) = &resp.subprotocol {
        s.fields
            .push(Field::new("websocket.handshake.subprotocol", p.as_str()));
    }
    match &resp.deflate {
        Some(d) => {
            s.fields
                .push(Field::new("websocket.handshake.permessage_deflate", true));
            s.fields.push(
                Field::new(
                    "websocket.handshake.client_no_context_takeover",
                    d.client_no_context_takeover,
                )
                .depth(1),
            );
            s.fields.push(
                Field::new(
                    "websocket.handshake.server_no_context_takeover",
                    d.server_no_context_takeover,
                )
                .depth(1),
            );
            if let Some(b) = d.client_max_window_bits {
                s.fields
                    .push(Field::new("websocket.handshake.client_max_window_bits", b).depth(1));
            }
            if let Some(b) = d.server_max_window_bits {
                s.fields
                    .push(Field::new("websocket.handshake.server_max_window_bits", b).depth(1));
            }
        }
        None => s
            .fields
            .push(Field::new("websocket.handshake.permessage_deflate", false)),
    }
    if upgraded {
        let mut extra = String::new();
        if resp.deflate.is_some() {
            extra.push_str(", permessage-deflate");
        }
        if let Some(p) = &resp.subprotocol {
            extra.push_str(&format!(", subprotocol {p}"));
        }
        s.summary = format!("handshake complete: the connection now speaks WebSocket{extra}");
        if !resp.problems.is_empty() {
            s.summary
                .push_str(" (a strict client would have failed it: see the response's findings)");
        }
    } else {
        let reason = if status == 0 {
            "no valid response".to_string()
        } else {
            format!("the server answered {status} instead of 101")
        };
        s.summary = format!("upgrade refused: {reason}");
        s.fields
            .push(Field::new("websocket.handshake.reason", reason.clone()));
        s.findings.push(Finding::new(
            &rules::HANDSHAKE_FAILED,
            format!("the WebSocket upgrade did not happen: {reason}; the connection stays HTTP"),
        ));
    }
    s
}
