//! Guessing which server stack a capture was recorded from, to pick lesson
//! traces without asking.
//!
//! The WebSocket handshakes do not tell: gevent-websocket, eventlet,
//! simple-websocket (wsproto) and Node's `ws` all answer with the same three
//! headers in the same order (checked on every capture in `captures/`). The
//! HTTP servers in front of them do:
//! - Werkzeug names itself (`Server: Werkzeug/3.1.9 Python/3.11.7`) on the
//!   polling responses of Flask-SocketIO in threading mode, and flask-sock on
//!   Werkzeug writes a whole `HTTP/1.1 200 OK … Server: Werkzeug` response
//!   onto the socket after the WebSocket closes (a `websocket.desync` step);
//! - eventlet.wsgi adds `Connection: keep-alive` to its responses, gevent's
//!   pywsgi adds no Connection header (both add no Server header);
//! - Node's engine.io sends a lowercase `cache-control: no-store`.
//!
//! Engine.IO tells Flask-SocketIO (and socket.io) from plain WebSocket apps.
//! When the signals are absent or disagree the answer is `None`.

use crate::step::{Step, Value};

/// The stack ids this module can recognise (those of `lessons/stacks.yaml`).
pub const FLASK_SOCKETIO_GEVENT: &str = "flask-socketio-gevent";
pub const FLASK_SOCKETIO_EVENTLET: &str = "flask-socketio-eventlet";
pub const FLASK_SOCKETIO_THREADING: &str = "flask-socketio-threading";
pub const FLASK_SOCK: &str = "flask-sock";
pub const NODE_SOCKETIO: &str = "node-socketio";

#[derive(Default)]
struct Signals {
    engineio: bool,
    werkzeug: bool,
    keep_alive: bool,
    /// An HTTP response from a Python server without Connection / Server
    /// headers and not a 101.
    bare_python_response: bool,
    node: bool,
}

/// The stack a capture was most likely recorded from, or `None` when unsure.
pub fn guess_stack<'s>(steps: impl IntoIterator<Item = &'s Step>) -> Option<&'static str> {
    let mut s = Signals::default();
    for step in steps {
        match step.kind {
            "engineio.packet" | "engineio.session" => s.engineio = true,
            "http.response" => response(step, &mut s),
            "websocket.desync" | "websocket.after-close" => {
                let data = step
                    .fields
                    .iter()
                    .find(|f| f.name.ends_with(".data"))
                    .and_then(|f| f.span.and_then(|sp| step.span_bytes(&sp)));
                if data.is_some_and(|d| contains(d, b"\r\nServer: Werkzeug/")) {
                    s.werkzeug = true;
                }
            }
            _ => {}
        }
    }
    let python = s.werkzeug || s.keep_alive || s.bare_python_response;
    match (s.engineio, s.node, python) {
        (true, true, false) => Some(NODE_SOCKETIO),
        (true, false, true) => match (s.werkzeug, s.keep_alive, s.bare_python_response) {
            (true, false, _) => Some(FLASK_SOCKETIO_THREADING),
            (false, true, false) => Some(FLASK_SOCKETIO_EVENTLET),
            (false, false, true) => Some(FLASK_SOCKETIO_GEVENT),
            _ => None,
        },
        (false, false, true) if s.werkzeug && !s.keep_alive => Some(FLASK_SOCK),
        _ => None,
    }
}

fn response(step: &Step, s: &mut Signals) {
    let lines: Vec<&str> = step
        .fields
        .iter()
        .filter(|f| f.name == "http.response.line")
        .filter_map(|f| match &f.value {
            Value::Str(v) => Some(v.as_str()),
            _ => None,
        })
        .collect();
    let header = |name: &str| {
        lines.iter().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    };
    if lines.contains(&"cache-control: no-store") {
        s.node = true;
        return;
    }
    if header("server").is_some_and(|v| v.starts_with("Werkzeug/")) {
        s.werkzeug = true;
        return;
    }
    let code = step.field("http.response.code").map(|f| &f.value);
    if code == Some(&Value::UInt(101)) {
        return;
    }
    match header("connection") {
        Some(v) if v.eq_ignore_ascii_case("keep-alive") && header("server").is_none() => {
            s.keep_alive = true;
        }
        None if header("server").is_none() && header("date").is_some() => {
            s.bare_python_response = true;
        }
        _ => {}
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
