//! TLS from a key log, on the real TLS captures (`captures/tls*`, each
//! recorded by captures/record/record.sh with its client's key log saved
//! beside it as `NAME.keys`, or embedded in the pcapng as a Decryption
//! Secrets Block): with the keys the WebSocket conversation is decoded as
//! on a cleartext capture; without them the connection is reported once
//! and nothing is decoded as HTTP; with a wrong key the tag fails and
//! nothing is decoded as HTTP either. Plus a SYNTHETIC fuzz of the record
//! layer.

mod support;
mod tools;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use dispel::analyze::{Collect, Options};
use dispel::proto::tls::keylog::KeyLog;
use proptest::prelude::*;

fn tls_captures() -> Vec<PathBuf> {
    let v: Vec<PathBuf> = tools::captures()
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("tls"))
        })
        .collect();
    assert!(v.len() >= 5, "the TLS captures are missing: {v:?}");
    v
}

fn with_keys(text: &[u8]) -> Options {
    let mut log = KeyLog::default();
    log.add_text(text);
    let mut o = Options::default();
    o.layers.keylog = Arc::new(RwLock::new(log));
    o
}

fn keys_of(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path.with_extension("keys")).ok()
}

fn kinds(c: &Collect, prefix: &str) -> usize {
    c.steps
        .iter()
        .filter(|s| s.kind.starts_with(prefix))
        .count()
}

#[test]
fn with_the_key_log_the_websocket_conversation_is_decoded() {
    for path in tls_captures() {
        let bytes = std::fs::read(&path).unwrap();
        let opts = match keys_of(&path) {
            Some(k) => with_keys(&k),
            // The -dsb capture carries its keys inside.
            None => Options::default(),
        };
        let c = support::analyse_with(bytes, &opts);
        let name = path.display();
        assert_eq!(support::count(&c, "tls.no-keys"), 0, "{name}");
        assert_eq!(support::count(&c, "tls.bad-tag"), 0, "{name}");
        assert_eq!(kinds(&c, "tls.client-hello"), 1, "{name}");
        assert_eq!(kinds(&c, "tls.server-hello"), 1, "{name}");
        // The recorder's scenario: text, binary, 200 and 70000 bytes each
        // way, a ping, a pong, a close each way.
        let frames = kinds(&c, "websocket.frame");
        assert_eq!(frames, 12, "{name}: {frames} frames");
        assert_eq!(kinds(&c, "websocket.message"), 8, "{name}");
        assert_eq!(kinds(&c, "http.request"), 1, "{name}");
        // Every record step with plaintext points at it, in its own buffer.
        for s in c.steps.iter().filter(|s| s.kind == "tls.record") {
            if let Some(f) = s.field("tls.record.decrypted") {
                let span = f.span.expect("a span");
                assert_eq!(s.buffers[usize::from(span.buf)].name, "decrypted");
                assert!(s.span_bytes(&span).is_some(), "{name}: a bad span");
            }
        }
        // The key derivation is shown for both directions.
        let keys = c.steps.iter().filter(|s| s.kind == "tls.keys").count();
        assert!(keys >= 2, "{name}: {keys} key steps");
        assert!(
            c.steps.iter().all(|s| s.findings.is_empty()),
            "{name}: unexpected findings"
        );
    }
}

#[test]
fn without_keys_the_connection_is_reported_once_and_nothing_is_decoded() {
    for path in tls_captures() {
        if keys_of(&path).is_none() {
            continue;
        }
        let c = support::analyse(std::fs::read(&path).unwrap());
        let name = path.display();
        assert_eq!(support::count(&c, "tls.no-keys"), 1, "{name}");
        assert_eq!(kinds(&c, "http."), 0, "{name}");
        assert_eq!(kinds(&c, "websocket."), 0, "{name}");
        assert_eq!(kinds(&c, "tcp.data"), 0, "{name}");
        // What an observer still learns: the server name, record sizes.
        let hello = c
            .steps
            .iter()
            .find(|s| s.kind == "tls.client-hello")
            .expect("the ClientHello is in clear");
        assert_eq!(
            hello
                .field("tls.handshake.extensions_server_name")
                .map(|f| f.value.to_string()),
            Some("localhost".to_string())
        );
        assert!(kinds(&c, "tls.record") > 10, "{name}");
    }
}

#[test]
fn a_wrong_key_fails_the_tag_and_nothing_is_decoded_as_http() {
    for path in tls_captures() {
        let Some(keys) = keys_of(&path) else {
            continue;
        };
        // The right client randoms, every secret with its last hex digit
        // changed.
        let text = String::from_utf8(keys).unwrap();
        let wrong: String = text
            .lines()
            .map(|l| {
                if l.starts_with('#') || l.is_empty() {
                    return format!("{l}\n");
                }
                let mut l = l.to_string();
                let last = l.pop().unwrap();
                l.push(if last == '0' { '1' } else { '0' });
                l + "\n"
            })
            .collect();
        let c = support::analyse_with(std::fs::read(&path).unwrap(), &with_keys(wrong.as_bytes()));
        let name = path.display();
        assert!(support::count(&c, "tls.bad-tag") >= 1, "{name}");
        assert!(
            support::count(&c, "tls.bad-tag") <= 2,
            "{name}: once per direction"
        );
        assert_eq!(kinds(&c, "http."), 0, "{name}");
        assert_eq!(kinds(&c, "websocket."), 0, "{name}");
    }
}

#[test]
fn node_socketio_over_https_polls_then_upgrades_to_wss() {
    socketio_over_https("node-socketio-https", 10);
}

#[test]
fn flask_socketio_over_https_polls_then_upgrades_to_wss() {
    socketio_over_https("flask-socketio-https", 10);
}

/// Headless Chromium with SSLKEYLOGFILE: its ClientHello (GREASE, a
/// post-quantum key share) and ALPN offering h2; the server answers
/// HTTP/1.1.
#[test]
fn chromium_over_https_polls_then_upgrades_to_wss() {
    socketio_over_https("browser-flask-socketio-https", 4);
}

fn socketio_over_https(name: &str, min_socketio: usize) {
    let path = tools::root().join(format!("captures/{name}.pcap"));
    let keys = keys_of(&path).unwrap();
    let c = support::analyse_with(std::fs::read(&path).unwrap(), &with_keys(&keys));
    // Every connection (polling requests and the WebSocket) is TLS, and
    // every one is opened by the one key log.
    let hellos = kinds(&c, "tls.client-hello");
    assert_eq!(hellos, c.connections.len());
    assert_eq!(support::count(&c, "tls.no-keys"), 0);
    assert_eq!(support::count(&c, "tls.bad-tag"), 0);
    assert!(kinds(&c, "http.request") >= 2);
    assert_eq!(kinds(&c, "websocket.handshake"), 1);
    assert_eq!(kinds(&c, "engineio.session"), 1);
    assert!(kinds(&c, "socketio.packet") >= min_socketio);
    // Without the keys: reported once per connection, nothing decoded.
    let c = support::analyse(std::fs::read(&path).unwrap());
    assert_eq!(support::count(&c, "tls.no-keys"), hellos);
    assert_eq!(kinds(&c, "http."), 0);
    assert_eq!(kinds(&c, "socketio."), 0);
}

#[test]
fn keys_for_another_connection_count_as_no_keys() {
    let all = tls_captures();
    let (a, b) = (&all[0], &all[1]);
    let keys = keys_of(b).or_else(|| keys_of(&all[2])).unwrap();
    let c = support::analyse_with(std::fs::read(a).unwrap(), &with_keys(&keys));
    assert_eq!(support::count(&c, "tls.no-keys"), 1);
    assert_eq!(kinds(&c, "websocket."), 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// SYNTHETIC: a conversation that starts like TLS, then arbitrary
    /// bytes each way, with an arbitrary key log: never a panic, never
    /// HTTP decoded from what is not plaintext.
    #[test]
    fn arbitrary_records_never_panic(
        c2s in proptest::collection::vec(any::<u8>(), 0..600),
        s2c in proptest::collection::vec(any::<u8>(), 0..600),
        split in 0usize..600,
        secret in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut first = vec![0x16, 0x03, 0x01, 0x00, 0x40];
        first.extend_from_slice(&c2s);
        let cut = split.min(first.len());
        let mut reply = vec![0x16, 0x03, 0x03];
        reply.extend_from_slice(&s2c);
        let segs = support::conversation(
            1000,
            5000,
            &[(true, &first[..cut]), (true, &first[cut..]), (false, &reply)],
        );
        let records: Vec<Vec<u8>> = segs
            .iter()
            .map(|s| support::ethernet(&support::ip_packet(s, support::CLIENT, support::SERVER)))
            .collect();
        let pcap = support::pcap(1, &records);
        let log = format!("CLIENT_RANDOM {} {}\n", "00".repeat(32), hex::encode(&secret));
        let c = support::analyse_with(pcap, &with_keys(log.as_bytes()));
        prop_assert_eq!(kinds(&c, "http."), 0);
    }
}

// ---------------------------------------------------------------------------
// SYNTHETIC TLS 1.3 records, encrypted here with RustCrypto's AES-GCM under
// keys derived from made-up secrets: what the recorded captures do not
// reach (a KeyUpdate, padding).
// ---------------------------------------------------------------------------

fn record(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![ty, 3, 3];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

fn handshake_msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let n = body.len() as u32;
    let mut m = vec![ty, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    m.extend_from_slice(body);
    m
}

const RANDOM: [u8; 32] = [0x33; 32];

fn hellos() -> (Vec<u8>, Vec<u8>) {
    let mut ch = vec![3, 3];
    ch.extend_from_slice(&RANDOM);
    ch.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0, 0, 0]);
    let mut sh = vec![3, 3];
    sh.extend_from_slice(&[0x44; 32]);
    sh.extend_from_slice(&[0, 0x13, 0x01, 0, 0, 6, 0, 0x2b, 0, 2, 3, 4]);
    (
        record(22, &handshake_msg(1, &ch)),
        record(22, &handshake_msg(2, &sh)),
    )
}

/// One TLS 1.3 record: `content`, its real type, `padding` zeros, sealed
/// with the keys of `secret` as record `seq`.
fn seal(secret: &[u8], seq: u64, ty: u8, content: &[u8], padding: usize) -> Vec<u8> {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    let suite = dispel::proto::tls::crypto::suite(0x1301).unwrap();
    let keys = dispel::proto::tls::crypto::tls13_keys(suite, secret).unwrap();
    let mut inner = content.to_vec();
    inner.push(ty);
    inner.extend(std::iter::repeat_n(0, padding));
    let len = (inner.len() + 16) as u16;
    let header = [23, 3, 3, (len >> 8) as u8, len as u8];
    let cipher = aes_gcm::Aes128Gcm::new_from_slice(&keys.key).unwrap();
    let sealed = cipher
        .encrypt(
            &keys.xor_nonce(seq).into(),
            Payload {
                msg: &inner,
                aad: &header,
            },
        )
        .unwrap();
    let mut r = header.to_vec();
    r.extend_from_slice(&sealed);
    r
}

#[test]
fn key_update_and_padding_are_followed() {
    let (chts, shts, cats, sats) = ([1u8; 32], [2u8; 32], [3u8; 32], [4u8; 32]);
    let suite = dispel::proto::tls::crypto::suite(0x1301).unwrap();
    let cats1 = dispel::proto::tls::crypto::tls13_next_secret(suite, &cats).unwrap();
    let log = tls13_log(chts, shts, cats, sats);
    let finished = handshake_msg(20, &[0; 32]);
    let (ch, mut sh) = hellos();
    sh.extend_from_slice(&record(20, &[1]));
    sh.extend_from_slice(&seal(&shts, 0, 22, &finished, 0));
    let mut client = record(20, &[1]);
    client.extend_from_slice(&seal(&chts, 0, 22, &finished, 0));
    client.extend_from_slice(&seal(
        &cats,
        0,
        23,
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
        5,
    ));
    // KeyUpdate (update_not_requested), then the next secret's keys.
    client.extend_from_slice(&seal(&cats, 1, 22, &handshake_msg(24, &[0]), 0));
    client.extend_from_slice(&seal(
        &cats1,
        0,
        23,
        b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
        0,
    ));
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let mut server = seal(&sats, 0, 23, ok, 0);
    server.extend_from_slice(&seal(&sats, 1, 23, ok, 3));
    let segs = support::conversation(
        100,
        900,
        &[(true, &ch), (false, &sh), (true, &client), (false, &server)],
    );
    let c = decode_synthetic(&segs, &log);
    let findings = finding_ids(&c);
    assert!(findings.is_empty(), "{findings:?}");
    let targets: Vec<String> = c
        .steps
        .iter()
        .filter(|s| s.kind == "http.request")
        .map(|s| s.field("http.request.uri").unwrap().value.to_string())
        .collect();
    assert_eq!(targets, ["/a", "/b"]);
    assert_eq!(kinds(&c, "http.response"), 2);
    let key_steps = |dir| {
        c.steps
            .iter()
            .filter(|s| s.kind == "tls.keys" && s.dir == dir)
            .count()
    };
    // Handshake, application, and the KeyUpdate's next secret.
    assert_eq!(key_steps(dispel::step::Dir::C2s), 3);
    assert_eq!(key_steps(dispel::step::Dir::S2c), 2);
    let padded = c
        .steps
        .iter()
        .find(|s| {
            s.kind == "tls.record"
                && s.field("tls.record.padding")
                    .is_some_and(|f| f.value.to_string() == "5")
        })
        .expect("the padded record");
    assert_eq!(
        padded
            .field("tls.record.inner_content_type")
            .unwrap()
            .value
            .to_string(),
        "23"
    );
}

/// `--keylog` on the commands that read a capture (repeatable; a missing
/// file is an error, exit 2, one `dispel:` line).
#[test]
fn the_keylog_option_reaches_every_command() {
    use assert_cmd::Command;
    let cap = tools::root().join("captures/tls12-ecdhe-chacha20.pcap");
    let keys = cap.with_extension("keys");
    let other = tools::root().join("captures/tls13-chacha20.keys");
    let run = |args: &[&std::ffi::OsStr]| {
        Command::cargo_bin("dispel")
            .unwrap()
            .args(args)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap()
    };
    let out = run(&[
        "explain".as_ref(),
        cap.as_os_str(),
        "--keylog".as_ref(),
        other.as_os_str(),
        "--keylog".as_ref(),
        keys.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("websocket.message  [").count(), 8, "{text}");
    let out = run(&[
        "check".as_ref(),
        cap.as_os_str(),
        "--keylog".as_ref(),
        keys.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("tls.no-keys"));
    let out = run(&["check".as_ref(), cap.as_os_str()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("tls.no-keys"));
    let out = run(&[
        "streams".as_ref(),
        cap.as_os_str(),
        "--keylog".as_ref(),
        keys.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let missing = tools::root().join("captures/no-such.keys");
    let out = run(&[
        "explain".as_ref(),
        cap.as_os_str(),
        "--keylog".as_ref(),
        missing.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("dispel: --keylog "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// SYNTHETIC TCP segments of one connection, as a capture, decoded with
/// the key log `log`.
fn decode_synthetic(segs: &[support::Seg], log: &str) -> Collect {
    let records: Vec<Vec<u8>> = segs
        .iter()
        .map(|s| support::ethernet(&support::ip_packet(s, support::CLIENT, support::SERVER)))
        .collect();
    support::analyse_with(support::pcap(1, &records), &with_keys(log.as_bytes()))
}

/// Every finding's rule id, in step order.
fn finding_ids(c: &Collect) -> Vec<&'static str> {
    c.steps
        .iter()
        .flat_map(|s| s.findings.iter().map(|f| f.rule.id))
        .collect()
}

/// A TLS 1.3 key log for the synthetic hellos' client random: handshake
/// and application traffic secrets of both sides.
fn tls13_log(chts: [u8; 32], shts: [u8; 32], cats: [u8; 32], sats: [u8; 32]) -> String {
    let r = hex::encode(RANDOM);
    format!(
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET {r} {}\nSERVER_HANDSHAKE_TRAFFIC_SECRET {r} {}\n\
         CLIENT_TRAFFIC_SECRET_0 {r} {}\nSERVER_TRAFFIC_SECRET_0 {r} {}\n",
        hex::encode(chts),
        hex::encode(shts),
        hex::encode(cats),
        hex::encode(sats)
    )
}

/// A HelloRetryRequest (a ServerHello with the special random) makes the
/// client send a second ClientHello; keys come with the real ServerHello.
#[test]
fn a_hello_retry_request_is_followed_by_the_real_handshake() {
    let (chts, shts, cats, sats) = ([5u8; 32], [6u8; 32], [7u8; 32], [8u8; 32]);
    let log = tls13_log(chts, shts, cats, sats);
    let (ch, sh) = hellos();
    // The HRR: the ServerHello with its random replaced by the HRR value.
    let mut hrr = sh.clone();
    hrr[11..43].copy_from_slice(&dispel::proto::tls::wire::HRR_RANDOM);
    hrr.extend_from_slice(&record(20, &[1]));
    let finished = handshake_msg(20, &[0; 32]);
    let mut server = sh;
    server.extend_from_slice(&seal(&shts, 0, 22, &finished, 0));
    let mut client = record(20, &[1]);
    client.extend_from_slice(&seal(&chts, 0, 22, &finished, 0));
    client.extend_from_slice(&seal(
        &cats,
        0,
        23,
        b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n",
        0,
    ));
    let segs = support::conversation(
        7,
        9,
        &[
            (true, &ch),
            (false, &hrr),
            (true, &ch),
            (false, &server),
            (true, &client),
        ],
    );
    let c = decode_synthetic(&segs, &log);
    let findings = finding_ids(&c);
    assert!(findings.is_empty(), "{findings:?}");
    assert_eq!(kinds(&c, "tls.client-hello"), 2);
    assert_eq!(kinds(&c, "tls.server-hello"), 2);
    assert!(
        c.steps
            .iter()
            .any(|s| s.kind == "tls.server-hello" && s.summary.starts_with("HelloRetryRequest"))
    );
    assert_eq!(kinds(&c, "http.request"), 1);
}

/// A connection that chose HTTP/2 by ALPN: said so once, its decrypted
/// records shown, and its bytes never read as HTTP/1.1.
#[test]
fn h2_by_alpn_is_said_and_not_decoded_as_http1() {
    let (chts, shts, cats, sats) = ([9u8; 32], [10u8; 32], [11u8; 32], [12u8; 32]);
    let log = tls13_log(chts, shts, cats, sats);
    let (ch, _) = hellos();
    // ServerHello: TLS 1.3, AES-128-GCM, ALPN "h2".
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x44; 32]);
    body.extend_from_slice(&[0, 0x13, 0x01, 0]);
    let ext = [0, 0x2b, 0, 2, 3, 4, 0, 0x10, 0, 5, 0, 3, 2, b'h', b'2'];
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut server = record(22, &handshake_msg(2, &body));
    let finished = handshake_msg(20, &[0; 32]);
    server.extend_from_slice(&seal(&shts, 0, 22, &finished, 0));
    let mut client = seal(&chts, 0, 22, &finished, 0);
    // The HTTP/2 connection preface: starts like a request line, is not one.
    client.extend_from_slice(&seal(&cats, 0, 23, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0));
    let segs = support::conversation(3, 4, &[(true, &ch), (false, &server), (true, &client)]);
    let records: Vec<Vec<u8>> = segs
        .iter()
        .map(|s| support::ethernet(&support::ip_packet(s, support::CLIENT, support::SERVER)))
        .collect();
    let c = support::analyse_with(support::pcap(1, &records), &with_keys(log.as_bytes()));
    assert_eq!(support::count(&c, "tls.h2"), 1);
    assert_eq!(support::count(&c, "tls.bad-tag"), 0);
    assert_eq!(kinds(&c, "http."), 0);
    assert_eq!(kinds(&c, "tcp.data"), 0);
    let preface = c
        .steps
        .iter()
        .filter(|s| s.kind == "tls.record")
        .filter_map(|s| {
            let f = s.field("tls.record.decrypted")?;
            s.span_bytes(&f.span?)
        })
        .any(|b| b.starts_with(b"PRI * HTTP/2.0"));
    assert!(preface, "the decrypted preface is shown in its record");
}

/// The bundled course explains every step of every decrypted TLS capture
/// (`dispel lessons coverage CAP --keylog CAP.keys`).
#[test]
fn every_decrypted_step_has_a_lesson() {
    use assert_cmd::Command;
    let mut checked = 0;
    for cap in tools::captures() {
        let keys = cap.with_extension("keys");
        if !keys.exists() {
            continue;
        }
        let out = Command::cargo_bin("dispel")
            .unwrap()
            .arg("lessons")
            .arg("coverage")
            .arg(&cap)
            .arg("--keylog")
            .arg(&keys)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{}: {text}", cap.display());
        assert!(text.contains("has a lesson"), "{}: {text}", cap.display());
        checked += 1;
    }
    assert!(checked >= 7, "{checked} TLS captures with key logs");
}

/// The markdown walk-through of a decrypted connection calls an HTTP or
/// WebSocket buffer's offset what it is, an offset into the decrypted
/// stream, and keeps TCP sequence numbers for the TLS records themselves.
#[test]
fn markdown_says_which_offsets_are_into_the_decrypted_stream() {
    use assert_cmd::Command;
    let cap = tools::root().join("captures/tls13-websockets.pcap");
    let keys = cap.with_extension("keys");
    let out = Command::cargo_bin("dispel")
        .unwrap()
        .args([
            "explain".as_ref(),
            "--format".as_ref(),
            "markdown".as_ref(),
            cap.as_os_str(),
            "--keylog".as_ref(),
            keys.as_os_str(),
        ])
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let md = String::from_utf8_lossy(&out.stdout);
    let mut step = "";
    let (mut decrypted, mut records) = (0, 0);
    for line in md.lines() {
        if let Some(rest) = line.strip_prefix("### Step ") {
            step = rest;
        }
        if line.starts_with("**Bytes: stream**") {
            if step.contains("`tls.") {
                assert!(line.contains("relative sequence number"), "{step}: {line}");
                records += 1;
            } else {
                assert!(
                    line.contains("of the decrypted") && !line.contains("sequence"),
                    "{step}: {line}"
                );
                decrypted += 1;
            }
        }
    }
    assert!(decrypted > 5 && records > 5, "{decrypted} / {records}");
}
