//! Property tests of TCP reassembly through the whole pipeline, on SYNTHETIC
//! captures: a known conversation is cut into segments, which are reordered,
//! duplicated and re-segmented at random, written as a pcap and analysed.
//! The streams must come out byte-identical and the anomalies must be the
//! ones the arrival order implies.

mod support;

use proptest::prelude::*;
use support::*;

/// A segment plan: the client's stream cut into pieces, sent in some order,
/// some sent twice, some re-cut when resent.
#[derive(Debug, Clone)]
struct Plan {
    stream: Vec<u8>,
    isn: u32,
    /// Byte ranges [start, end) of the stream, in arrival order.
    arrivals: Vec<(usize, usize)>,
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        proptest::collection::vec(any::<u8>(), 1..3000),
        any::<u32>(),
        proptest::collection::vec(1usize..400, 1..40),
        any::<u64>(),
        0usize..6,
        0usize..4,
    )
        .prop_map(|(mut stream, isn, cuts, seed, swaps, dups)| {
            // A leading NUL keeps the stream from looking like HTTP (an
            // uppercase word and a space), so it stays raw TCP data.
            stream[0] = 0;
            // Cut the stream at the chosen sizes.
            let mut pieces = Vec::new();
            let mut at = 0;
            for c in cuts.iter().cycle() {
                if at >= stream.len() {
                    break;
                }
                let end = (at + c).min(stream.len());
                pieces.push((at, end));
                at = end;
            }
            // A small deterministic generator from the seed.
            let mut x = seed | 1;
            let mut rnd = |n: usize| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % n.max(1) as u64) as usize
            };
            // Local reordering: swap neighbours within a short window.
            for _ in 0..swaps {
                if pieces.len() > 1 {
                    let i = rnd(pieces.len() - 1);
                    let j = (i + 1 + rnd(3)).min(pieces.len() - 1);
                    pieces.swap(i, j);
                }
            }
            // Duplicates, sometimes re-cut (a retransmission that merges or
            // splits the original segments).
            for _ in 0..dups {
                let i = rnd(pieces.len());
                let (s, e) = pieces[i];
                let dup = if rnd(2) == 0 {
                    (s, e)
                } else {
                    let s2 = s.saturating_sub(rnd(50));
                    (s2, (e + rnd(50)).min(stream.len()))
                };
                let pos = (i + 1 + rnd(4)).min(pieces.len());
                pieces.insert(pos, dup);
            }
            Plan {
                stream,
                isn,
                arrivals: pieces,
            }
        })
}

fn capture_of(plan: &Plan) -> Vec<u8> {
    let c0 = plan.isn.wrapping_add(1);
    let s_isn = 777u32;
    let mut segs = vec![
        Seg::new(true, plan.isn, 0, "S", b""),
        Seg::new(false, s_isn, c0, "SA", b""),
    ];
    for &(s, e) in &plan.arrivals {
        segs.push(Seg::new(
            true,
            c0.wrapping_add(s as u32),
            s_isn + 1,
            "AP",
            &plan.stream[s..e],
        ));
    }
    let end = c0.wrapping_add(plan.stream.len() as u32);
    segs.push(Seg::new(true, end, s_isn + 1, "AF", b""));
    segs.push(Seg::new(false, s_isn + 1, end.wrapping_add(1), "AF", b""));
    let records: Vec<Vec<u8>> = segs
        .iter()
        .map(|s| ethernet(&ip_packet(s, CLIENT, SERVER)))
        .collect();
    pcap(1, &records)
}

/// What the arrival order implies, computed from coverage alone: a segment
/// that lands beyond the contiguous prefix opens a hole (so some later
/// segment must be reported out of order), and a segment whose bytes were
/// all seen before is a retransmission.
fn implied(plan: &Plan) -> (bool, bool) {
    let mut seen = vec![false; plan.stream.len()];
    let mut prefix = 0;
    let (mut hole, mut retrans) = (false, false);
    for &(s, e) in &plan.arrivals {
        if seen[s..e].iter().all(|b| *b) {
            retrans = true;
        }
        if s > prefix {
            hole = true;
        }
        seen[s..e].iter_mut().for_each(|b| *b = true);
        while prefix < seen.len() && seen[prefix] {
            prefix += 1;
        }
    }
    (hole, retrans)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn reordered_duplicated_resegmented_streams_reassemble_exactly(plan in plan()) {
        let trace = analyse(capture_of(&plan));
        prop_assert!(trace.error.is_none(), "{:?}", trace.error);
        let [c2s, s2c] = streams(&trace, 0);
        prop_assert_eq!(&c2s, &plan.stream);
        prop_assert!(s2c.is_empty());
        prop_assert_eq!(count(&trace, "tcp.gap"), 0);
        prop_assert_eq!(count(&trace, "tcp.overlap-conflict"), 0);
        let (hole, retrans) = implied(&plan);
        prop_assert_eq!(count(&trace, "tcp.out-of-order") > 0, hole);
        if retrans {
            prop_assert!(count(&trace, "tcp.retransmission") > 0);
        }
        // Each data step's packets are the ones that carried its bytes.
        for s in trace.steps.iter().filter(|s| s.kind == "tcp.data") {
            prop_assert_eq!(s.frames.len(), 1);
        }
        let stats = &trace.report.as_ref().unwrap().connections[0];
        prop_assert_eq!(stats.dirs[0].bytes, plan.stream.len() as u64);
        prop_assert_eq!(stats.ending.as_str(), "fin");
    }

    #[test]
    fn a_dropped_segment_becomes_one_gap_of_its_size(plan in plan(), pick in any::<usize>()) {
        // Drop every copy of one piece that no other piece covers, keep the
        // rest in order: exactly that piece's bytes are reported missing.
        let mut sorted: Vec<(usize, usize)> = plan.arrivals.clone();
        sorted.sort();
        sorted.dedup();
        let disjoint: Vec<(usize, usize)> = {
            let mut v: Vec<(usize, usize)> = Vec::new();
            for p in sorted {
                if v.last().is_none_or(|l| p.0 >= l.1) {
                    v.push(p);
                }
            }
            v
        };
        prop_assume!(disjoint.iter().map(|p| p.1 - p.0).sum::<usize>() == plan.stream.len());
        prop_assume!(disjoint.len() > 2);
        let victim = 1 + pick % (disjoint.len() - 2);
        let mut p = plan.clone();
        p.arrivals = disjoint.iter().enumerate().filter(|(i, _)| *i != victim).map(|(_, x)| *x).collect();
        let trace = analyse(capture_of(&p));
        let [c2s, _] = streams(&trace, 0);
        let (vs, ve) = disjoint[victim];
        let mut expected = plan.stream.clone();
        expected[vs..ve].iter_mut().for_each(|b| *b = b'?');
        prop_assert_eq!(c2s, expected);
        prop_assert_eq!(count(&trace, "tcp.gap"), 1);
    }
}

#[test]
fn synthetic_conversation_both_directions() {
    let segs = conversation(
        4_000_000_000,
        12,
        &[(true, b"\x00client bytes"), (false, b"\x00server bytes")],
    );
    let records: Vec<Vec<u8>> = segs
        .iter()
        .map(|s| ethernet(&ip_packet(s, CLIENT, SERVER)))
        .collect();
    let trace = analyse(pcap(1, &records));
    let [c2s, s2c] = streams(&trace, 0);
    assert_eq!(c2s, b"\x00client bytes");
    assert_eq!(s2c, b"\x00server bytes");
    let kinds: Vec<&str> = trace
        .steps
        .iter()
        .filter(|s| s.kind.starts_with("tcp.") && s.kind != "tcp.data")
        .map(|s| s.kind)
        .collect();
    assert_eq!(kinds, ["tcp.syn", "tcp.syn-ack", "tcp.fin", "tcp.fin"]);
}
