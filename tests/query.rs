//! The one step query language (`src/query.rs`, `docs/query.md`), tested
//! through every caller:
//!
//! - one table of (selector, step) → match that the lessons' `select`,
//!   expectations, the output filter and the TUI filter all answer alike;
//! - equivalence with the matching each caller had before the query was
//!   shared: for every selector of the bundled lessons and of the example
//!   assignments, on every step of every capture in `captures/`, the old
//!   matchers (kept below, verbatim in substance) and the shared one agree,
//!   and the shared one answers the same on a step as on its ndjson fields.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use dispel::analyze::{self, Collect, Options};
use dispel::check::StepView;
use dispel::check::expect::ExpectFile;
use dispel::lessons::{self, Input, bind_all, load::load_inputs};
use dispel::query::{Cond, KindPattern, Lit, Op, Query, SelDir, kind_matches};
use dispel::step::{Dir, Field, Step, Timestamp, Value};
use serde_json::{Value as J, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ------------------------------------------------------------ the table

fn step(kind: &'static str, dir: Dir, conn: u32, fields: Vec<(&'static str, Value)>) -> Step {
    let mut s = Step::new(conn, dir, kind, Timestamp::default());
    s.fields = fields.into_iter().map(|(n, v)| Field::new(n, v)).collect();
    s
}

struct Row {
    /// `kind`, `dir` and `where` as YAML flow-mapping entries.
    select: &'static str,
    step: Step,
    matches: bool,
}

fn table() -> Vec<Row> {
    use Dir::{C2s, S2c};
    let frame = |dir, fields| step("websocket.frame", dir, 0, fields);
    let text = |mask: bool, len: u64| {
        vec![
            ("websocket.opcode", Value::UInt(1)),
            ("websocket.mask", Value::Bool(mask)),
            ("websocket.payload_length", Value::UInt(len)),
            (
                "websocket.masking_key",
                Value::Bytes(vec![0x6a, 0x33, 0xe5, 0xb0]),
            ),
        ]
    };
    let sio = |fields| step("socketio.packet", C2s, 0, fields);
    let request = step(
        "http.request",
        C2s,
        3,
        vec![
            ("http.request.method", Value::Str("GET".into())),
            ("http.request.line", Value::Str("Host: a".into())),
            ("http.request.line", Value::Str("Upgrade: websocket".into())),
        ],
    );
    let r = |select, step: &Step, matches| Row {
        select,
        step: step.clone(),
        matches,
    };
    let masked = frame(C2s, text(true, 5));
    let long = frame(S2c, text(false, 300));
    let event = sio(vec![
        ("socketio.type", Value::Str("EVENT".into())),
        ("socketio.event", Value::Str("chat".into())),
        ("socketio.data", Value::Json(json!(["chat", 1]))),
        ("socketio.ack_id", Value::UInt(0)),
    ]);
    vec![
        // Kind patterns: exact, layer, prefix.
        r("kind: websocket.frame", &masked, true),
        r("kind: websocket", &masked, true),
        r("kind: websocket.*", &masked, true),
        r("kind: websocket.message", &masked, false),
        r("kind: socketio", &masked, false),
        r("kind: http.*", &request, true),
        // Direction.
        r("kind: websocket.frame, dir: c2s", &masked, true),
        r("kind: websocket.frame, dir: s2c", &masked, false),
        // Equality: a scalar, or `eq`; booleans, numbers by value, text.
        r(
            "kind: websocket.frame, where: {websocket.mask: true}",
            &masked,
            true,
        ),
        r(
            "kind: websocket.frame, where: {websocket.mask: true}",
            &long,
            false,
        ),
        r(
            "kind: websocket.frame, where: {websocket.opcode: {eq: 1}}",
            &masked,
            true,
        ),
        r(
            "kind: websocket.frame, where: {websocket.opcode: 1.0}",
            &masked,
            true,
        ),
        r(
            "kind: websocket.frame, where: {websocket.opcode: \"1\"}",
            &masked,
            false,
        ),
        r(
            "kind: websocket.frame, where: {websocket.opcode: {ne: 8}}",
            &masked,
            true,
        ),
        r(
            "kind: websocket.frame, where: {websocket.opcode: {ne: 1}}",
            &masked,
            false,
        ),
        // Bytes compare as lowercase hex.
        r(
            "kind: websocket.frame, where: {websocket.masking_key: \"6a33e5b0\"}",
            &masked,
            true,
        ),
        r(
            "kind: websocket.frame, where: {websocket.masking_key: \"6a33e5b1\"}",
            &masked,
            false,
        ),
        r(
            "kind: websocket.frame, where: {websocket.masking_key: {contains: 33e5}}",
            &masked,
            true,
        ),
        // Ordering.
        r(
            "kind: websocket.frame, where: {websocket.payload_length: {gt: 125}}",
            &long,
            true,
        ),
        r(
            "kind: websocket.frame, where: {websocket.payload_length: {gt: 125}}",
            &masked,
            false,
        ),
        r(
            "kind: websocket.frame, where: {websocket.payload_length: {ge: 126, le: 65535}}",
            &long,
            true,
        ),
        r(
            "kind: websocket.frame, where: {websocket.payload_length: {lt: 5}}",
            &masked,
            false,
        ),
        r(
            "kind: websocket.frame, where: {websocket.payload_length: {le: 5}}",
            &masked,
            true,
        ),
        // `in`, `present`, `contains`.
        r(
            "kind: socketio.packet, where: {socketio.type: {in: [EVENT, BINARY_EVENT]}}",
            &event,
            true,
        ),
        r(
            "kind: socketio.packet, where: {socketio.type: {in: [ACK]}}",
            &event,
            false,
        ),
        r(
            "kind: socketio.packet, where: {socketio.ack_id: {present: true}}",
            &event,
            true,
        ),
        r(
            "kind: socketio.packet, where: {socketio.namespace: {present: false}}",
            &event,
            true,
        ),
        r(
            "kind: socketio.packet, where: {socketio.namespace: {present: true}}",
            &event,
            false,
        ),
        r(
            "kind: socketio.packet, where: {socketio.namespace: {ne: /}}",
            &event,
            false,
        ),
        r(
            "kind: socketio.packet, where: {socketio.data: {contains: chat}}",
            &event,
            true,
        ),
        r(
            "kind: socketio.packet, where: {socketio.data: \"[\\\"chat\\\",1]\"}",
            &event,
            true,
        ),
        r(
            "kind: socketio.packet, where: {socketio.event: {contains: ha}}",
            &event,
            true,
        ),
        // A name repeated in one step: any of its values.
        r(
            "kind: http.request, where: {http.request.line: {contains: \"Upgrade:\"}}",
            &request,
            true,
        ),
        r(
            "kind: http.request, where: {http.request.line: \"Host: a\"}",
            &request,
            true,
        ),
        r(
            "kind: http.request, where: {http.request.line: {ne: \"Host: a\"}}",
            &request,
            false,
        ),
        r(
            "kind: http.request, where: {http.request.line: {contains: Origin}}",
            &request,
            false,
        ),
    ]
}

/// What the lessons' `select` says.
fn lesson_matches(select: &str, s: &Step) -> bool {
    let text = format!(
        "lessons:\n  - id: t\n    title: t\n    select: {{{select}}}\n    body: b\n    refs: []\n"
    );
    let (course, problems) = load_inputs(
        &[Input {
            name: "t.yaml".into(),
            text: Ok(text),
        }],
        None,
    );
    // Lint may say a condition can never hold; the lesson still loads.
    assert_eq!(course.lessons.len(), 1, "{select}: {problems:?}");
    bind_all(&course, [s])[0].step.is_some()
}

/// What an expectation says (at least one such step).
fn expectation_matches(select: &str, s: &Step) -> bool {
    let text = format!("expect:\n  - {{name: t, {select}}}\n");
    let f = ExpectFile::parse(&text, "t.yaml").unwrap_or_else(|e| panic!("{select}: {e}"));
    f.evaluate(&[StepView::of(s, 1)])[0].passed
}

#[test]
fn every_caller_answers_the_shared_table_alike() {
    let rows = table();
    for Row {
        select,
        step,
        matches,
    } in &rows
    {
        assert_eq!(lesson_matches(select, step), *matches, "lesson: {select}");
        assert_eq!(
            expectation_matches(select, step),
            *matches,
            "expectation: {select}"
        );
        // The output filter and the TUI filter select by kind (and
        // connection, direction) only.
        if let Some(kind) = select.strip_prefix("kind: ")
            && !kind.contains(',')
        {
            let f = dispel::output::Filter {
                conn: Some(step.conn),
                kinds: vec![kind.to_string()],
            };
            assert_eq!(f.step_shown(step), *matches, "--kind {kind}");
        }
    }
    // The TUI filter's layers are kind patterns too.
    for (layer, s) in [("websocket", &rows[0].step), ("http", &rows[5].step)] {
        for (l, want) in [(layer, true), ("socketio", false)] {
            let l: &'static str = dispel::tui::app::LAYERS.iter().find(|x| **x == l).unwrap();
            let f = dispel::tui::app::Filter {
                layer: Some(l),
                dir: Some(s.dir),
                conn: Some(s.conn),
                ..Default::default()
            };
            let row = dispel::tui::timeline::Row {
                time: s.time,
                conn: s.conn,
                dir: s.dir,
                kind: s.kind,
                summary: "".into(),
                findings: 0,
                parent: None,
                session: None,
            };
            assert_eq!(f.accepts(&row), want, "TUI layer {l} on {}", s.kind);
        }
    }
}

// ------------------------------------------------- the former matchers

/// Lessons' kind selector before the query was shared.
fn old_lesson_kind(p: &KindPattern, kind: &str) -> bool {
    match p {
        KindPattern::Exact(k) => kind == k,
        KindPattern::Layer(l) => kind.split('.').next() == Some(l.as_str()),
        KindPattern::Prefix(p) => kind
            .strip_prefix(p.as_str())
            .is_some_and(|r| r.starts_with('.')),
    }
}

/// Lessons' condition before the query was shared: on the step's first
/// field of that name.
fn old_lesson_cond(c: &Cond, step: &Step) -> bool {
    fn bytes_of<'a>(step: &'a Step, f: &'a Field) -> Option<&'a [u8]> {
        match &f.value {
            Value::Bytes(b) => Some(b),
            Value::SpanBytes => f.span.and_then(|s| step.span_bytes(&s)),
            _ => None,
        }
    }
    fn text_of(step: &Step, f: &Field) -> Option<String> {
        match &f.value {
            Value::Str(s) => Some(s.clone()),
            Value::Json(j) => Some(j.to_string()),
            Value::Bytes(_) | Value::SpanBytes => {
                let b = bytes_of(step, f)?;
                let mut t = hex::encode(b);
                if let Ok(s) = std::str::from_utf8(b) {
                    t.push('\n');
                    t.push_str(s);
                }
                Some(t)
            }
            _ => None,
        }
    }
    fn order(f: &Field, l: &Lit) -> Option<Ordering> {
        match (&f.value, l) {
            (Value::UInt(a), Lit::Int(b)) => Some(i128::from(*a).cmp(b)),
            (Value::Int(a), Lit::Int(b)) => Some(i128::from(*a).cmp(b)),
            (Value::UInt(a), Lit::Float(b)) => (*a as f64).partial_cmp(b),
            (Value::Int(a), Lit::Float(b)) => (*a as f64).partial_cmp(b),
            (Value::Float(a), Lit::Float(b)) => a.partial_cmp(b),
            (Value::Float(a), Lit::Int(b)) => a.partial_cmp(&(*b as f64)),
            _ => None,
        }
    }
    fn compact(j: &J) -> String {
        j.to_string()
    }
    fn equals(step: &Step, f: &Field, l: &Lit) -> bool {
        match (&f.value, l) {
            (Value::Bool(a), Lit::Bool(b)) => a == b,
            (Value::Str(a), Lit::Str(b)) => a == b,
            (Value::Json(j), l) => match (j, l) {
                (J::String(s), Lit::Str(b)) => s == b || compact(j) == *b,
                (_, Lit::Str(b)) => compact(j) == *b,
                (J::Bool(a), Lit::Bool(b)) => a == b,
                (J::Number(n), Lit::Int(i)) => {
                    n.as_i64().is_some_and(|v| i128::from(v) == *i)
                        || n.as_u64().is_some_and(|v| i128::from(v) == *i)
                }
                (J::Number(n), Lit::Float(x)) => n.as_f64() == Some(*x),
                _ => false,
            },
            (Value::Bytes(_) | Value::SpanBytes, Lit::Str(h)) => {
                bytes_of(step, f).is_some_and(|b| hex::encode(b) == h.to_ascii_lowercase())
            }
            _ => order(f, l) == Some(Ordering::Equal),
        }
    }
    let field = step.field(&c.field);
    match (&c.op, field) {
        (Op::Present(want), f) => f.is_some() == *want,
        (_, None) => false,
        (Op::Eq(l), Some(f)) => equals(step, f, l),
        (Op::Ne(l), Some(f)) => !equals(step, f, l),
        (Op::In(ls), Some(f)) => ls.iter().any(|l| equals(step, f, l)),
        (Op::Lt(l), Some(f)) => order(f, l).is_some_and(|o| o == Ordering::Less),
        (Op::Le(l), Some(f)) => order(f, l).is_some_and(|o| o != Ordering::Greater),
        (Op::Gt(l), Some(f)) => order(f, l).is_some_and(|o| o == Ordering::Greater),
        (Op::Ge(l), Some(f)) => order(f, l).is_some_and(|o| o != Ordering::Less),
        (Op::Contains(s), Some(f)) => text_of(step, f).is_some_and(|t| t.contains(s.as_str())),
    }
}

/// Expectations' condition before the query was shared: on the field's
/// ndjson value (an array for a repeated name), literals as JSON.
fn old_expect_cond(c: &Cond, v: Option<&J>) -> bool {
    fn same(a: &J, b: &J) -> bool {
        match (a, b) {
            (J::Number(x), J::Number(y)) => x.as_f64() == y.as_f64(),
            _ => a == b,
        }
    }
    fn contains(v: &J, c: &J) -> bool {
        match (v, c) {
            (J::String(s), J::String(n)) => s.contains(n.as_str()),
            (J::Array(a), _) => a.iter().any(|e| {
                same(e, c)
                    || matches!((e, c), (J::String(s), J::String(n)) if s.contains(n.as_str()))
            }),
            _ => false,
        }
    }
    let Some(v) = v else {
        return c.op == Op::Present(false);
    };
    let num = v.as_f64();
    let bound = |l: &Lit| match l {
        Lit::Int(i) => *i as f64,
        Lit::Float(x) => *x,
        other => panic!("the former parser refused a bound of {other}"),
    };
    match &c.op {
        Op::Present(p) => *p,
        Op::Eq(l) => same(v, &l.to_json()),
        Op::Ne(l) => !same(v, &l.to_json()),
        Op::Lt(l) => num.is_some_and(|n| n < bound(l)),
        Op::Le(l) => num.is_some_and(|n| n <= bound(l)),
        Op::Gt(l) => num.is_some_and(|n| n > bound(l)),
        Op::Ge(l) => num.is_some_and(|n| n >= bound(l)),
        Op::In(ls) => ls.iter().any(|l| same(v, &l.to_json())),
        Op::Contains(s) => contains(v, &J::String(s.clone())),
    }
}

// ------------------------------------------------------- equivalence

fn captures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("captures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    v.sort();
    assert!(v.len() >= 10, "captures/ holds the recorded captures");
    v
}

fn steps_of(path: &Path) -> Vec<Step> {
    let mut sink = Collect::default();
    analyze::run_file(path, &Options::default(), &mut sink).unwrap();
    sink.steps
}

/// A former matcher, on a step and on its kept ndjson view.
type OldMatch = Box<dyn Fn(&Step, &StepView) -> bool>;

/// A selector in the old and the shared form.
struct Sel {
    what: String,
    query: Query,
    old: OldMatch,
    hits: usize,
}

fn lesson_selectors() -> Vec<Sel> {
    let (course, problems) = lessons::bundled();
    assert!(problems.is_empty());
    course
        .lessons
        .iter()
        .map(|l| {
            let sel = l.select.clone();
            let query = Query {
                kinds: sel.kind.iter().cloned().collect(),
                dir: sel.dir,
                conn: None,
                conds: sel.conds.clone(),
            };
            Sel {
                what: format!("lesson {}", l.id),
                query,
                old: Box::new(move |s: &Step, _: &StepView| {
                    sel.kind.as_ref().is_none_or(|k| old_lesson_kind(k, s.kind))
                        && sel.dir.is_none_or(|d: SelDir| d.dir() == s.dir)
                        && sel.conds.iter().all(|c| old_lesson_cond(c, s))
                }),
                hits: 0,
            }
        })
        .collect()
}

fn expectation_selectors(file: &str) -> Vec<Sel> {
    let f = ExpectFile::load(&root().join(file)).unwrap();
    let mut out = Vec::new();
    for e in &f.expect {
        let queries = std::iter::once((e.name.clone(), e.query.clone())).chain(
            e.answered_by
                .iter()
                .map(|a| (format!("{} (answered_by)", e.name), a.query.clone())),
        );
        for (name, q) in queries {
            if q.kinds.is_empty() && q.conds.is_empty() {
                continue;
            }
            let old_q = q.clone();
            out.push(Sel {
                what: format!("{file}: {name}"),
                query: q,
                old: Box::new(move |_: &Step, v: &StepView| {
                    old_q
                        .kinds
                        .iter()
                        .all(|k| kind_matches(&k.to_string(), v.kind))
                        && old_q.dir.is_none_or(|d| d.dir() == v.dir)
                        && old_q.conn.is_none_or(|c| c == v.conn)
                        && old_q
                            .conds
                            .iter()
                            .all(|c| old_expect_cond(c, v.fields.get(&c.field)))
                }),
                hits: 0,
            });
        }
    }
    out
}

#[test]
fn old_and_shared_matching_agree_on_every_step_of_every_capture() {
    let mut sels = lesson_selectors();
    sels.extend(expectation_selectors("examples/assignment.yaml"));
    sels.extend(expectation_selectors("examples/ws-echo-assignment.yaml"));
    assert!(sels.len() > 40, "{} selectors", sels.len());
    let mut steps_seen = 0usize;
    for cap in captures() {
        let steps = steps_of(&cap);
        steps_seen += steps.len();
        for (i, s) in steps.iter().enumerate() {
            let view = StepView::of(s, i as u64 + 1);
            for sel in &mut sels {
                let on_step = sel.query.matches(s);
                let on_json = sel.query.matches(&view);
                let old = (sel.old)(s, &view);
                assert_eq!(
                    (on_step, on_json),
                    (old, old),
                    "{}: step {} ({}) of {}",
                    sel.what,
                    i + 1,
                    s.kind,
                    cap.display()
                );
                sel.hits += usize::from(on_step);
            }
        }
    }
    assert!(steps_seen > 1000, "{steps_seen} steps");
    // Not vacuous: most selectors match somewhere.
    let unmatched: Vec<&str> = sels
        .iter()
        .filter(|s| s.hits == 0)
        .map(|s| s.what.as_str())
        .collect();
    assert!(
        unmatched.len() * 4 < sels.len(),
        "selectors matching nothing: {unmatched:?}"
    );
}

#[test]
fn a_step_and_its_ndjson_fields_answer_every_operator_alike() {
    // Every field of every step of every capture, under every operator
    // with a literal taken from the field itself (so many hold) and a near
    // miss.
    for path in captures() {
        let cap = path.display();
        for (i, s) in steps_of(&path).iter().enumerate() {
            let view = StepView::of(s, i as u64 + 1);
            for f in &s.fields {
                let v = dispel::output::json::field_value(s, f);
                let lits: Vec<Lit> = match &v {
                    J::Bool(b) => vec![Lit::Bool(*b), Lit::Bool(!b)],
                    J::Number(n) => match n.as_i64() {
                        Some(i) => vec![Lit::Int(i128::from(i)), Lit::Int(i128::from(i) + 1)],
                        None => vec![Lit::Float(n.as_f64().unwrap_or(0.0))],
                    },
                    J::String(t) => {
                        vec![Lit::Str(t.clone()), Lit::Str(t.chars().take(3).collect())]
                    }
                    other => vec![Lit::Str(other.to_string()), Lit::Int(1)],
                };
                let mut ops = vec![Op::Present(true), Op::Present(false)];
                for l in &lits {
                    ops.extend([
                        Op::Eq(l.clone()),
                        Op::Ne(l.clone()),
                        Op::Lt(l.clone()),
                        Op::Ge(l.clone()),
                        Op::In(vec![l.clone()]),
                    ]);
                    if let Lit::Str(t) = l {
                        ops.push(Op::Contains(t.chars().take(4).collect()));
                    }
                }
                for op in ops {
                    let c = Cond {
                        field: f.name.to_string(),
                        op,
                    };
                    let q = Query {
                        conds: vec![c],
                        ..Query::default()
                    };
                    assert_eq!(
                        q.matches(s),
                        q.matches(&view),
                        "{cap} step {}: {:?}",
                        i + 1,
                        q.conds[0]
                    );
                }
            }
        }
    }
}
