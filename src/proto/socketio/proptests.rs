//! Property tests: encode→decode round trips with namespaces, ack ids and
//! attachments; no panic for arbitrary text or arbitrary assembler input.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::*;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{0,6}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Top-level payloads: a bare number would merge with the ack id digits on
/// the wire (`42` + `5` reads as ack id 5), as it does in socket.io-parser.
fn payload() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(json().prop_filter("not a bare number", |v| !v.is_number()))
}

fn packet() -> impl Strategy<Value = Packet> {
    (
        0u8..=6,
        0u64..=20,
        prop_oneof![Just("/".to_owned()), "/[a-zA-Z0-9_?=&.-]{0,12}"],
        // The default cap is 19 digits.
        prop::option::of(0u64..10_000_000_000_000_000_000),
        payload(),
    )
        .prop_map(|(t, att, nsp, ack_id, data)| {
            let ptype = PacketType::from_digit(t).unwrap_or(PacketType::Event);
            Packet {
                attachments: ptype.is_binary().then_some(att),
                nsp: nsp.into(),
                ack_id,
                data,
                ..Packet::new(ptype)
            }
        })
}

/// Text drawn mostly from the characters the grammar cares about.
fn grammar_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(
                "0123456789-/,[]{}\":_placeholdertruenum €"
                    .chars()
                    .collect::<Vec<_>>()
            ),
            any::<char>(),
        ],
        0..48,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

/// JSON-ish text from the tokens where skipping nested values could be
/// laxer than building them: `\u` escapes and lone surrogates, exponents
/// and out-of-range numbers, `_placeholder` keys, bad escapes and numbers.
fn json_tokens() -> impl Strategy<Value = String> {
    let tokens = [
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        " ",
        "\"e\"",
        "\"k\":",
        "\"\\ud800\"",
        "\"\\udc00\\ud800\"",
        "\"\\u0041\"",
        "\"\\u005fplaceholder\":",
        "\"_placeholder\":",
        "\"\\x\"",
        "\"\\\\u\"",
        "1e400",
        "1E5",
        "-1e-400",
        "2.5e+3",
        "-0",
        "01",
        "1.",
        ".5",
        "0.5",
        "123456789012345678901234567890",
        "true",
        "nul",
        "null",
        "\"a\u{1}b\"",
        "\"\\n\\\"\\/\"",
        "\"\\u00e9\"",
        "\"\\ud83d\\ude00\"",
    ];
    prop::collection::vec(prop::sample::select(tokens.to_vec()), 0..40)
        .prop_map(|ts| format!("2[\"e\",{}", ts.concat()))
}

/// JSON text built as a tree (so mostly well-formed), with leaves and keys
/// from the spellings where a hand-written check could be laxer than
/// serde_json, and now and then a wrong separator.
fn raw_json() -> impl Strategy<Value = String> {
    let pick = |xs: &[&'static str]| prop::sample::select(xs.to_vec()).prop_map(str::to_owned);
    // Mostly valid pieces, so that whole trees are often valid.
    let leaf = prop_oneof![
        3 => pick(&["\"e\"", "\"\\u0041\"", "\"\\n\\\"\\/\"", "\"\u{7f}\u{e9}\"", "-0", "0.5", "123456789012345678901234567890", "true", " false ", "null"]),
        1 => pick(&[
            "\"\\ud800\"",
            "\"\\udc00\\ud800\"",
            "\"\\ud83d\\ude00\"",
            "\"\\u00g1\"",
            "\"\\u+041\"",
            "\"\\x\"",
            "\"a\u{1}b\"",
            "1e400",
            "1E5",
            "-1e-400",
            "2.5e+3",
            "01",
            "1.",
            ".5",
            "-",
            "1x",
            "nul",
        ]),
        // Around the 300 integer digits past which only serde_json judges
        // (f64's range ends within 309).
        1 => (299usize..=312).prop_map(|n| format!("-9{}", "9".repeat(n))),
    ];
    let key = prop_oneof![
        4 => pick(&["\"k\"", "\"_placeholder\"", "\"k\" "]),
        1 => pick(&["\"\\u005fplaceholder\"", "\"a\\n\"", "k", "1"]),
    ];
    let sep = prop_oneof![8 => Just(",".to_owned()), 1 => pick(&[" , ", ",,", ""])];
    leaf.prop_recursive(4, 24, 5, move |inner| {
        prop_oneof![
            (prop::collection::vec(inner.clone(), 0..5), sep.clone())
                .prop_map(|(items, sep)| format!("[{}]", items.join(&sep))),
            (
                prop::collection::vec((key.clone(), inner), 0..5),
                sep.clone()
            )
                .prop_map(|(entries, sep)| {
                    let entries: Vec<String> =
                        entries.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    format!("{{{}}}", entries.join(&sep))
                }),
        ]
    })
}

#[derive(Debug)]
enum Input {
    Text(String),
    Binary(Vec<u8>),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        prop_oneof![
            grammar_text(),
            (0u64..4, 0u64..4)
                .prop_map(|(n, num)| format!(r#"5{n}-["e",{{"_placeholder":true,"num":{num}}}]"#)),
        ]
        .prop_map(Input::Text),
        prop::collection::vec(any::<u8>(), 0..4).prop_map(Input::Binary),
    ]
}

proptest! {
    #[test]
    fn round_trip(p in packet(), protocol in prop_oneof![Just(Protocol::V4), Just(Protocol::V5)]) {
        let text = encode(&p);
        let d = decode(&text, protocol, &Limits::default())
            .map_err(|e| TestCaseError::fail(format!("{text}: {}", e.message())))?;
        prop_assert_eq!(d.ptype, p.ptype);
        prop_assert_eq!(d.attachments, p.attachments);
        prop_assert_eq!(&d.nsp, &p.nsp);
        prop_assert_eq!(d.ack_id, p.ack_id);
        prop_assert_eq!(&d.data, &p.data);
        // Each span picks out exactly its field's text.
        let at = |r: &Option<std::ops::Range<usize>>| r.clone().and_then(|r| text.get(r));
        prop_assert_eq!(text.get(d.type_span.clone()), Some(&text[..1]));
        prop_assert_eq!(at(&d.nsp_span), (p.nsp != "/").then_some(p.nsp.as_ref()));
        let ack = p.ack_id.map(|id| id.to_string());
        prop_assert_eq!(at(&d.ack_span), ack.as_deref());
        let att = p.attachments.map(|n| n.to_string());
        prop_assert_eq!(at(&d.attachments_span), att.as_deref());
        let json = p.data.as_ref().map(Value::to_string);
        prop_assert_eq!(at(&d.data_span), json.as_deref());
    }

    #[test]
    fn decode_never_panics(text in prop_oneof![grammar_text(), any::<String>()], tiny in any::<bool>()) {
        let limits = if tiny {
            Limits { max_json_depth: 2, max_ack_id_digits: 2, max_namespace_len: 3, max_attachments: 1, ..Limits::default() }
        } else {
            Limits::default()
        };
        for protocol in [Protocol::V4, Protocol::V5] {
            match decode(&text, protocol, &limits) {
                Ok(p) => {
                    let _ = check_payload(&p, protocol);
                    let _ = event_name(&p);
                    let _ = encode(&p);
                    if let Some(d) = &p.data { let _ = placeholders(d); }
                    for r in [Some(p.type_span.clone()), p.attachments_span.clone(), p.nsp_span.clone(), p.ack_span.clone(), p.data_span.clone()].into_iter().flatten() {
                        prop_assert!(text.get(r).is_some());
                    }
                }
                Err(e) => {
                    let _ = (e.message(), e.rule());
                    if let Some(r) = e.span() { prop_assert!(r.end <= text.len()); }
                }
            }
        }
    }

    /// A sketch (what `check` decodes) answers every shape question as the
    /// whole value does, and fails exactly when it fails.
    #[test]
    fn sketch_reads_as_the_whole_payload(
        text in prop_oneof![
            grammar_text(),
            packet().prop_map(|p| encode(&p)),
            (0u8..=6, json()).prop_map(|(t, v)| format!("{t}{v}")),
            json_tokens(),
            raw_json().prop_map(|j| format!("2{j}")),
        ],
    ) {
        let limits = Limits::default();
        for protocol in [Protocol::V4, Protocol::V5] {
            let whole = decode_with(&text, protocol, &limits, Payload::Whole);
            let sketch = decode_with(&text, protocol, &limits, Payload::Sketch);
            match (whole, sketch) {
                (Ok(w), Ok(s)) => {
                    prop_assert_eq!(check_payload(&w, protocol), check_payload(&s, protocol));
                    prop_assert_eq!(event_name(&w), event_name(&s));
                    let ph = |p: &Packet| p.data.as_ref().map(placeholders);
                    prop_assert_eq!(ph(&w), ph(&s));
                    prop_assert_eq!((w.ptype, w.nsp, w.ack_id, w.attachments), (s.ptype, s.nsp, s.ack_id, s.attachments));
                }
                (Err(w), Err(s)) => prop_assert_eq!(w, s),
                (w, s) => prop_assert!(false, "whole {:?} but sketch {:?}", w, s),
            }
        }
    }

    #[test]
    fn assembler_accounts_for_every_packet(inputs in prop::collection::vec(input(), 0..16)) {
        let limits = Limits::default();
        let mut asm = BinaryAssembler::new(&limits);
        let mut fed = 0usize;
        let mut out = Vec::new();
        for i in &inputs {
            let a = match i {
                Input::Text(t) => match decode(t, Protocol::V5, &limits) {
                    Ok(p) => { fed += 1; asm.push_packet(p) }
                    Err(_) => asm.push_undecodable(),
                },
                Input::Binary(b) => asm.push_binary(b),
            };
            for p in a.packets.iter() { let _ = p.reconstruct(); }
            out.extend(a.packets);
        }
        out.extend(asm.finish().packets);
        prop_assert_eq!(out.len(), fed);
        prop_assert!(out.windows(2).all(|w| w[0].input < w[1].input));
        prop_assert!(out.iter().all(|l| l.attachments.len() as u64 <= limits.max_attachments));
    }
}

proptest! {
    // Cheap cases, and rare ones matter (a surrogate in a valid tree).
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// The hand pass never vouches for text serde_json refuses, and its
    /// sketch is the whole value's (`vouched` panics otherwise).
    #[test]
    fn skim_vouches_only_for_what_serde_json_accepts(
        text in prop_oneof![
            grammar_text(),
            json_tokens().prop_map(|t| t[1..].to_owned()),
            json().prop_map(|v| v.to_string()),
            raw_json(),
        ],
        max_depth in 1usize..80,
    ) {
        let _ = super::json::tests::vouched(&text, max_depth);
    }

    /// And it takes everything serde_json writes within its grammar (keys
    /// here are never `_placeholder` nor escaped, numbers are integers), so
    /// real events take the fast path.
    #[test]
    fn skim_takes_what_serde_json_writes(v in json()) {
        let text = v.to_string();
        prop_assert!(super::json::tests::vouched(&text, 64).is_some(), "declined {}", text);
    }
}
