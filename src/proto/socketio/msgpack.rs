//! socket.io-msgpack-parser: each Socket.IO packet as one MessagePack map.
//!
//! With the official `socket.io-msgpack-parser` on both sides (JS, 3.x;
//! Socket.IO protocol 5) every packet is `msgpack.encode(packet)`: a map
//! `{type, data, nsp, id}` sent as one binary Engine.IO message (over
//! polling, base64 with a `b` prefix). Binary values are MessagePack `bin`
//! values inside the map, so there are no attachments and no placeholders;
//! the encoder also writes keys socket.io puts on the packet object, such as
//! `options: {compress: true}`. The decoder (`Decoder.checkPacket`) accepts
//! `type` 0–4 (an integer), `nsp` a string, `id` an integer when present,
//! and the data shape per type that [`super::check_payload`] checks.
//!
//! Like the text decoder this is an observer's decode: a pure function from
//! bytes to a [`Packet`] whose spans index the binary message, problems as
//! values, never a panic. `rmpv` never allocates a length read from the
//! wire ahead of the bytes (arrays and maps grow as their items decode,
//! byte strings reserve at most 64 KiB), and nesting is capped by
//! [`Limits::max_json_depth`] before it recurses further.

use std::borrow::Cow;
use std::io::Cursor;

use rmpv::Value as M;
use serde_json::Value as J;

use super::{Limits, Packet, PacketType};

/// Which parser a session's Socket.IO packets are written with, as its
/// first Socket.IO payload shows: text is the default parser's (JSON); a
/// binary message that is a packet map is socket.io-msgpack-parser's;
/// any other binary message is a parser dispel does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// The default socket.io-parser: `<type>[attachments-][nsp,][id]json`.
    Json,
    /// socket.io-msgpack-parser: one MessagePack map per packet.
    Msgpack,
    /// Binary packets no known parser reads.
    Unknown,
}

impl Encoding {
    /// The name every output format uses (`socketio.encoding`).
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Json => "json",
            Encoding::Msgpack => "msgpack",
            Encoding::Unknown => "unknown",
        }
    }
}

/// Why a binary message is not a socket.io-msgpack-parser packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MsgpackProblem {
    /// The bytes are not one whole MessagePack value.
    #[error("the bytes are not one MessagePack value: {0}")]
    NotMessagePack(String),
    /// A MessagePack value, but not a packet map.
    #[error("a MessagePack value, but not a Socket.IO packet: {0}")]
    NotAPacket(String),
}

/// A decoded packet and the map keys that are not part of the packet
/// format (`options`, written by socket.io's own packet objects).
#[derive(Debug, Clone, PartialEq)]
pub struct MsgpackPacket {
    /// The packet; its spans index the binary message (the type, namespace,
    /// id and data values, each without its key).
    pub packet: Packet,
    /// Other keys of the map, in order, with their values as JSON.
    pub extra: Vec<(String, J)>,
}

/// Decodes one binary message as a socket.io-msgpack-parser packet.
pub fn decode_msgpack(bytes: &[u8], limits: &Limits) -> Result<MsgpackPacket, MsgpackProblem> {
    let mut rd = Cursor::new(bytes);
    let not_mp = |e: &dyn std::fmt::Display| MsgpackProblem::NotMessagePack(e.to_string());
    let len = match rmp::decode::read_map_len(&mut rd) {
        Ok(n) => n,
        Err(_) => {
            // Say what it is instead, when it is any MessagePack value.
            let mut whole = Cursor::new(bytes);
            return Err(
                match rmpv::decode::read_value_with_max_depth(&mut whole, depth(limits)) {
                    Ok(v) if whole.position() as usize == bytes.len() => {
                        MsgpackProblem::NotAPacket(format!("{} instead of a map", kind(&v)))
                    }
                    Ok(_) => MsgpackProblem::NotMessagePack("bytes follow the first value".into()),
                    Err(e) => not_mp(&e),
                },
            );
        }
    };
    let mut packet = Packet::new(PacketType::Connect);
    let mut ptype = None;
    let mut nsp = None;
    let mut extra = Vec::new();
    for _ in 0..len {
        let key = rmpv::decode::read_value_with_max_depth(&mut rd, depth(limits))
            .map_err(|e| not_mp(&e))?;
        let start = rd.position() as usize;
        let value = rmpv::decode::read_value_with_max_depth(&mut rd, depth(limits))
            .map_err(|e| not_mp(&e))?;
        let span = start..rd.position() as usize;
        let key = match key {
            M::String(s) => match s.into_str() {
                Some(k) => k,
                None => return Err(MsgpackProblem::NotAPacket("a key is not UTF-8".into())),
            },
            other => {
                return Err(MsgpackProblem::NotAPacket(format!(
                    "a key is {} instead of a string",
                    kind(&other)
                )));
            }
        };
        match key.as_str() {
            "type" => {
                let n = value
                    .as_u64()
                    .filter(|n| *n <= u8::MAX as u64)
                    .ok_or_else(|| {
                        MsgpackProblem::NotAPacket(format!(
                            "type is {} instead of an integer 0–6",
                            kind(&value)
                        ))
                    })?;
                let n = n as u8;
                packet.ptype = PacketType::from_digit(n).unwrap_or(PacketType::Unknown(n));
                packet.type_span = span;
                ptype = Some(n);
            }
            "nsp" => match value {
                M::String(s) => match s.into_str() {
                    Some(s) if s.len() <= limits.max_namespace_len => {
                        nsp = Some(span.clone());
                        packet.nsp = if s == "/" {
                            Cow::Borrowed("/")
                        } else {
                            Cow::Owned(s)
                        };
                        packet.nsp_span = Some(span);
                    }
                    Some(s) => {
                        return Err(MsgpackProblem::NotAPacket(format!(
                            "the namespace has {} bytes, over the cap of {}",
                            s.len(),
                            limits.max_namespace_len
                        )));
                    }
                    None => {
                        return Err(MsgpackProblem::NotAPacket("nsp is not UTF-8".into()));
                    }
                },
                other => {
                    return Err(MsgpackProblem::NotAPacket(format!(
                        "nsp is {} instead of a string",
                        kind(&other)
                    )));
                }
            },
            "id" => match &value {
                // The encoder writes an absent id as nil or leaves it out.
                M::Nil => {}
                v => match v.as_u64() {
                    Some(id) => {
                        packet.ack_id = Some(id);
                        packet.ack_span = Some(span);
                    }
                    None => {
                        return Err(MsgpackProblem::NotAPacket(format!(
                            "id is {} instead of a non-negative integer",
                            kind(v)
                        )));
                    }
                },
            },
            "data" if is_undefined(&value) => {}
            "data" => {
                packet.data = Some(to_json(value));
                packet.data_span = Some(span);
            }
            _ => extra.push((key, to_json(value))),
        }
    }
    if (rd.position() as usize) != bytes.len() {
        return Err(MsgpackProblem::NotMessagePack(
            "bytes follow the packet map".into(),
        ));
    }
    if ptype.is_none() {
        return Err(MsgpackProblem::NotAPacket("the map has no type".into()));
    }
    if nsp.is_none() {
        return Err(MsgpackProblem::NotAPacket("the map has no nsp".into()));
    }
    Ok(MsgpackPacket { packet, extra })
}

/// rmpv counts a level of nesting twice (the container, then its items).
fn depth(limits: &Limits) -> usize {
    limits.max_json_depth.saturating_mul(2).saturating_add(2)
}

/// A MessagePack value's kind, in words.
fn kind(v: &M) -> &'static str {
    match v {
        M::Nil => "nil",
        M::Boolean(_) => "a boolean",
        M::Integer(_) => "an integer",
        M::F32(_) | M::F64(_) => "a float",
        M::String(_) => "a string",
        M::Binary(_) => "binary",
        M::Array(_) => "an array",
        M::Map(_) => "a map",
        M::Ext(..) => "an extension value",
    }
}

/// A MessagePack value as JSON text shows it: `bin` as `{"$bin": "<hex>"}`,
/// notepack.io's `undefined` as an absent key in a map (null elsewhere),
/// an extension value as `{"$ext": type, "data": "<hex>"}`, a float that
/// JSON cannot write (NaN, ±infinity) as its name in a string, a map key
/// that is not a string as its compact JSON, a string that is not UTF-8
/// with U+FFFD for each bad sequence.
pub fn to_json(v: M) -> J {
    match v {
        M::Nil => J::Null,
        M::Boolean(b) => J::Bool(b),
        M::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) => J::from(u),
            (None, Some(s)) => J::from(s),
            _ => J::Null,
        },
        M::F32(f) => float(f as f64),
        M::F64(f) => float(f),
        M::String(s) => J::String(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        M::Binary(b) => bin(&b),
        M::Array(a) => J::Array(a.into_iter().map(to_json).collect()),
        M::Map(m) => {
            let mut o = serde_json::Map::with_capacity(m.len());
            for (k, v) in m {
                // A key whose value is undefined is absent, as in the object
                // the JS decoder returns (and as JSON.stringify writes it).
                if is_undefined(&v) {
                    continue;
                }
                let key = match k {
                    M::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                    other => to_json(other).to_string(),
                };
                o.insert(key, to_json(v));
            }
            J::Object(o)
        }
        // notepack.io (the parser's MessagePack library) writes JS
        // `undefined` as fixext 1, type 0, data 00; JSON has no undefined:
        // null, as JSON.stringify writes it in an array.
        ref v if is_undefined(v) => J::Null,
        M::Ext(t, data) => {
            let mut o = serde_json::Map::with_capacity(2);
            o.insert("$ext".into(), J::from(t));
            o.insert("data".into(), J::String(hex::encode(data)));
            J::Object(o)
        }
    }
}

/// notepack.io's encoding of JS `undefined`.
fn is_undefined(v: &M) -> bool {
    matches!(v, M::Ext(0, d) if d.as_slice() == [0])
}

fn float(f: f64) -> J {
    serde_json::Number::from_f64(f)
        .map(J::Number)
        .unwrap_or_else(|| J::String(f.to_string()))
}

fn bin(b: &[u8]) -> J {
    let mut o = serde_json::Map::with_capacity(1);
    o.insert("$bin".into(), J::String(hex::encode(b)));
    J::Object(o)
}

/// Whether a MessagePack value of the map's first byte could start a
/// packet map (fixmap, map16, map32): a cheap test before decoding.
pub fn looks_like_map(bytes: &[u8]) -> bool {
    matches!(bytes.first(), Some(0x80..=0x8f | 0xde | 0xdf))
}

/// The byte range a span covers, for tests.
#[cfg(test)]
fn at<'a>(bytes: &'a [u8], r: &std::ops::Range<usize>) -> &'a [u8] {
    &bytes[r.clone()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &M) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, v).unwrap();
        out
    }

    fn map(entries: Vec<(&str, M)>) -> M {
        M::Map(entries.into_iter().map(|(k, v)| (M::from(k), v)).collect())
    }

    #[test]
    fn an_event_with_an_id_and_binary_decodes_with_spans() {
        let bytes = enc(&map(vec![
            ("type", M::from(2)),
            (
                "data",
                M::Array(vec![M::from("upload"), M::Binary(vec![0xde, 0xad])]),
            ),
            ("options", map(vec![("compress", M::from(true))])),
            ("id", M::from(7)),
            ("nsp", M::from("/admin")),
        ]));
        let p = decode_msgpack(&bytes, &Limits::default()).unwrap();
        assert_eq!(p.packet.ptype, PacketType::Event);
        assert_eq!(p.packet.nsp, "/admin");
        assert_eq!(p.packet.ack_id, Some(7));
        assert_eq!(
            p.packet.data,
            Some(serde_json::json!(["upload", {"$bin": "dead"}]))
        );
        assert_eq!(
            p.extra,
            vec![("options".into(), serde_json::json!({"compress": true}))]
        );
        // The spans cover the values' own bytes.
        assert_eq!(at(&bytes, &p.packet.type_span), &[0x02]);
        assert_eq!(at(&bytes, p.packet.ack_span.as_ref().unwrap()), &[0x07]);
        assert_eq!(
            at(&bytes, p.packet.nsp_span.as_ref().unwrap()),
            b"\xa6/admin"
        );
        assert_eq!(at(&bytes, p.packet.data_span.as_ref().unwrap())[0], 0x92);
    }

    #[test]
    fn values_json_cannot_write_are_named() {
        assert_eq!(to_json(M::F64(f64::NAN)), J::String("NaN".into()));
        assert_eq!(to_json(M::from(-3)), serde_json::json!(-3));
        assert_eq!(
            to_json(M::Ext(1, vec![0xab])),
            serde_json::json!({"$ext": 1, "data": "ab"})
        );
        assert_eq!(
            to_json(M::Map(vec![(M::from(1), M::Nil)])),
            serde_json::json!({"1": null})
        );
        // notepack.io's undefined: the key is absent, as in JS.
        let undefined = M::Ext(0, vec![0]);
        assert_eq!(
            to_json(M::Map(vec![
                (M::from("sid"), M::from("x")),
                (M::from("pid"), undefined.clone())
            ])),
            serde_json::json!({"sid": "x"})
        );
        assert_eq!(
            to_json(M::Array(vec![undefined])),
            serde_json::json!([null])
        );
    }

    #[test]
    fn what_is_not_a_packet_says_why() {
        let l = Limits::default();
        // Not MessagePack at all (a truncated map).
        assert!(matches!(
            decode_msgpack(&[0x82, 0xa4], &l),
            Err(MsgpackProblem::NotMessagePack(_))
        ));
        // A value, but not a map.
        assert_eq!(
            decode_msgpack(&enc(&M::from("hi")), &l),
            Err(MsgpackProblem::NotAPacket(
                "a string instead of a map".into()
            ))
        );
        // A map without nsp, or with a string type.
        assert!(decode_msgpack(&enc(&map(vec![("type", M::from(0))])), &l).is_err());
        assert!(
            decode_msgpack(
                &enc(&map(vec![("type", M::from("0")), ("nsp", M::from("/"))])),
                &l
            )
            .is_err()
        );
        // Trailing bytes.
        let mut b = enc(&map(vec![("type", M::from(1)), ("nsp", M::from("/"))]));
        assert!(decode_msgpack(&b, &l).is_ok());
        b.push(0xc0);
        assert!(decode_msgpack(&b, &l).is_err());
    }

    #[test]
    fn a_huge_declared_length_with_no_bytes_fails_without_allocating_it() {
        // map32 of 2^32-1 entries, bin32 of 4 GiB: both end at once.
        let l = Limits::default();
        assert!(decode_msgpack(&[0xdf, 0xff, 0xff, 0xff, 0xff], &l).is_err());
        let mut b = vec![0x81, 0xa4];
        b.extend_from_slice(b"data");
        b.extend_from_slice(&[0xc6, 0xff, 0xff, 0xff, 0xff]);
        assert!(decode_msgpack(&b, &l).is_err());
    }

    #[test]
    fn nesting_past_the_cap_is_refused() {
        let l = Limits::default();
        let mut v = M::Nil;
        for _ in 0..(l.max_json_depth + 10) {
            v = M::Array(vec![v]);
        }
        let bytes = enc(&map(vec![
            ("type", M::from(2)),
            ("nsp", M::from("/")),
            ("data", v),
        ]));
        assert!(decode_msgpack(&bytes, &l).is_err());
    }
}
