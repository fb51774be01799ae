//! From a packet record to a TCP segment: link layer, IP, TCP headers.
//!
//! Header parsing is etherparse's (lax slicing, so a packet cut short by the
//! snap length still yields what it holds) and, for the Linux cooked headers,
//! pcap-parser's. This module only chooses the entry point per link type and
//! reports what it could not use, so the caller can count it.

use std::net::{IpAddr, SocketAddr};

use etherparse::{
    EtherType, Ethernet2Slice, IpNumber, Ipv4Slice, LaxNetSlice, LaxSlicedPacket, TcpSlice,
    TransportSlice,
};
use pcap_parser::Linktype;
use pcap_parser::data::{PacketData, get_packetdata_linux_sll, get_packetdata_linux_sll2};

/// Link types dispel decodes.
pub const LOOP: Linktype = Linktype(108);

/// A TCP segment as captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: Flags,
    pub window: u16,
    /// The TCP header bytes (for field spans on control steps).
    pub header: &'a [u8],
    /// Payload bytes present in the capture.
    pub payload: &'a [u8],
    /// Payload bytes the IP header announces but the capture cut off.
    pub missing: u32,
}

/// TCP flags dispel acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
    pub psh: bool,
}

/// What a packet turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    Tcp(Segment<'a>),
    /// IP but not TCP (UDP, ICMP …), or not IP at all (ARP …).
    NotTcp,
    /// An IP fragment: its TCP bytes cannot be used without reassembly.
    Fragment,
    /// The link type is not one dispel decodes.
    UnsupportedLink,
    /// The headers could not be parsed.
    Malformed(String),
}

/// Decodes one packet of the given link type.
pub fn decode(linktype: Linktype, data: &[u8]) -> Decoded<'_> {
    if let Some(d) = whole_ipv4_tcp(linktype, data) {
        return d;
    }
    lax(linktype, data)
}

/// The common case, sliced strictly: an Ethernet frame (or raw IP) holding
/// a whole, unfragmented IPv4 packet with a whole TCP header. The lax
/// slicer builds a large value per packet and moves it several times,
/// which was 8% of `check` on small Socket.IO events; the strict slices
/// are small and give the same segment when they apply. Anything else
/// (IPv6, VLAN tags, snap-length cuts, fragments, errors) is `None` and
/// takes [`lax`].
fn whole_ipv4_tcp(linktype: Linktype, data: &[u8]) -> Option<Decoded<'_>> {
    let ip = match linktype {
        Linktype::ETHERNET => {
            let eth = Ethernet2Slice::from_slice_without_fcs(data).ok()?;
            if eth.ether_type() != EtherType::IPV4 {
                return None;
            }
            eth.payload_slice()
        }
        Linktype::RAW | Linktype::IPV4 => data,
        _ => return None,
    };
    let v4 = Ipv4Slice::from_slice(ip).ok()?;
    let payload = v4.payload();
    if payload.fragmented || payload.ip_number != IpNumber::TCP {
        return None;
    }
    let tcp = TcpSlice::from_slice(payload.payload).ok()?;
    let h = v4.header();
    Some(tcp_segment(
        IpAddr::V4(h.source_addr()),
        IpAddr::V4(h.destination_addr()),
        &tcp,
        0,
    ))
}

/// Any link type dispel decodes, sliced leniently.
fn lax(linktype: Linktype, data: &[u8]) -> Decoded<'_> {
    let sliced = match linktype {
        Linktype::ETHERNET => LaxSlicedPacket::from_ethernet(data).map_err(|e| e.to_string()),
        Linktype::NULL | LOOP => {
            let Some(family) = data.get(..4) else {
                return Decoded::Malformed("loopback header shorter than 4 bytes".into());
            };
            let family = [family[0], family[1], family[2], family[3]];
            // NULL is in the capturing host's byte order, LOOP in network
            // order; the address family values do not collide across orders.
            let value = match linktype {
                LOOP => u32::from_be_bytes(family),
                _ => {
                    let le = u32::from_le_bytes(family);
                    if le < 256 {
                        le
                    } else {
                        u32::from_be_bytes(family)
                    }
                }
            };
            let ether_type = match value {
                2 => EtherType::IPV4,
                24 | 28 | 30 => EtherType::IPV6,
                _ => return Decoded::NotTcp,
            };
            Ok(LaxSlicedPacket::from_ether_type(ether_type, &data[4..]))
        }
        Linktype::RAW | Linktype(12) | Linktype(14) | Linktype::IPV4 | Linktype::IPV6 => {
            LaxSlicedPacket::from_ip(data).map_err(|e| e.to_string())
        }
        Linktype::LINUX_SLL | Linktype::LINUX_SLL2 => {
            let inner = if linktype == Linktype::LINUX_SLL {
                get_packetdata_linux_sll(data, data.len())
            } else {
                get_packetdata_linux_sll2(data, data.len())
            };
            match inner {
                Some(PacketData::L3(proto, rest)) => {
                    Ok(LaxSlicedPacket::from_ether_type(EtherType(proto), rest))
                }
                Some(_) => return Decoded::NotTcp,
                None => return Decoded::Malformed("Linux cooked header is truncated".into()),
            }
        }
        _ => return Decoded::UnsupportedLink,
    };
    match sliced {
        Ok(p) => from_sliced(&p),
        Err(e) => Decoded::Malformed(e),
    }
}

fn from_sliced<'a>(p: &LaxSlicedPacket<'a>) -> Decoded<'a> {
    let (src_ip, dst_ip, ip_payload) = match &p.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                v4.payload(),
            )
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                v6.payload(),
            )
        }
        Some(LaxNetSlice::Arp(_)) => return Decoded::NotTcp,
        None => {
            return match &p.stop_err {
                Some((e, _)) => Decoded::Malformed(e.to_string()),
                None => Decoded::NotTcp,
            };
        }
    };
    if ip_payload.fragmented {
        return if ip_payload.ip_number == IpNumber::TCP {
            Decoded::Fragment
        } else {
            Decoded::NotTcp
        };
    }
    if ip_payload.ip_number != IpNumber::TCP {
        return Decoded::NotTcp;
    }
    let tcp = match &p.transport {
        Some(TransportSlice::Tcp(tcp)) => tcp,
        _ => {
            return match &p.stop_err {
                Some((e, _)) => Decoded::Malformed(e.to_string()),
                None => Decoded::Malformed("TCP header missing".into()),
            };
        }
    };
    // When the snap length cut the packet, the IP payload length still says
    // how many TCP payload bytes were sent.
    let missing = if ip_payload.incomplete {
        let announced = announced_ip_payload_len(p).unwrap_or(ip_payload.payload.len());
        announced
            .saturating_sub(tcp.header_len())
            .saturating_sub(tcp.payload().len())
    } else {
        0
    };
    tcp_segment(src_ip, dst_ip, tcp, missing)
}

fn tcp_segment<'a>(
    src_ip: IpAddr,
    dst_ip: IpAddr,
    tcp: &TcpSlice<'a>,
    missing: usize,
) -> Decoded<'a> {
    let header = tcp.header_slice();
    let payload = tcp.payload();
    Decoded::Tcp(Segment {
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: Flags {
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
            psh: tcp.psh(),
        },
        window: tcp.window_size(),
        header,
        payload,
        missing: u32::try_from(missing).unwrap_or(u32::MAX),
    })
}

fn announced_ip_payload_len(p: &LaxSlicedPacket<'_>) -> Option<usize> {
    match &p.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            usize::from(h.total_len()).checked_sub(usize::from(h.ihl()) * 4)
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            usize::from(h.payload_length()).checked_sub(v6.extensions().slice().len())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    /// Synthetic: an Ethernet/IPv4/TCP packet built with etherparse.
    fn eth_tcp(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .tcp(40000, 5000, 1000, 65535)
            .ack(77)
            .psh();
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn ethernet_ipv4_tcp() {
        let pkt = eth_tcp(b"hello");
        let Decoded::Tcp(s) = decode(Linktype::ETHERNET, &pkt) else {
            panic!("not tcp")
        };
        assert_eq!(s.src.port(), 40000);
        assert_eq!(s.dst.port(), 5000);
        assert_eq!(s.seq, 1000);
        assert_eq!(s.ack, 77);
        assert!(s.flags.ack && s.flags.psh && !s.flags.syn);
        assert_eq!(s.payload, b"hello");
        assert_eq!(s.missing, 0);
    }

    #[test]
    fn snaplen_cut_reports_missing_payload() {
        let pkt = eth_tcp(&[7u8; 100]);
        let cut = &pkt[..pkt.len() - 40];
        let Decoded::Tcp(s) = decode(Linktype::ETHERNET, cut) else {
            panic!("not tcp")
        };
        assert_eq!(s.payload.len(), 60);
        assert_eq!(s.missing, 40);
    }

    #[test]
    fn null_loopback_in_either_byte_order_and_loop() {
        let pkt = eth_tcp(b"x");
        let ip = &pkt[14..];
        for hdr in [[2u8, 0, 0, 0], [0, 0, 0, 2]] {
            let mut v = hdr.to_vec();
            v.extend_from_slice(ip);
            assert!(matches!(decode(Linktype::NULL, &v), Decoded::Tcp(_)));
        }
        let mut v = vec![0, 0, 0, 2];
        v.extend_from_slice(ip);
        assert!(matches!(decode(LOOP, &v), Decoded::Tcp(_)));
        assert!(matches!(decode(Linktype::RAW, ip), Decoded::Tcp(_)));
    }

    #[test]
    fn unsupported_and_garbage_do_not_panic() {
        assert!(matches!(
            decode(Linktype(147), b"abc"),
            Decoded::UnsupportedLink
        ));
        for n in 0..60 {
            let pkt = eth_tcp(b"payload");
            let _ = decode(Linktype::ETHERNET, &pkt[..n.min(pkt.len())]);
            let _ = decode(Linktype::LINUX_SLL2, &pkt[..n.min(pkt.len())]);
            let _ = decode(Linktype::NULL, &pkt[..n.min(pkt.len())]);
        }
    }

    /// Where the strict fast path applies it must give exactly what the lax
    /// slicer gives: every packet of every real and hostile capture in the
    /// repository, and each of them cut short at a few lengths (which the
    /// fast path must refuse or agree on).
    #[test]
    fn the_strict_path_agrees_with_the_lax_one_on_every_capture() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut fast = 0usize;
        for dir in ["captures", "tests/hostile"] {
            let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
                .collect();
            files.sort();
            for path in files {
                let mut r = crate::capture::CaptureReader::open(&path, 1 << 20).unwrap();
                while let Ok(Some(p)) = r.next_packet() {
                    let cuts = [p.data.len(), p.data.len().saturating_sub(1), 40, 34, 20];
                    for cut in cuts {
                        let data = &p.data[..cut.min(p.data.len())];
                        if let Some(d) = whole_ipv4_tcp(p.linktype, data) {
                            fast += 1;
                            assert_eq!(
                                d,
                                lax(p.linktype, data),
                                "{}: packet {} cut at {cut}",
                                path.display(),
                                p.number
                            );
                        }
                    }
                }
            }
        }
        assert!(fast > 1000, "the fast path took only {fast} packets");
    }

    /// Synthetic: the cases the fast path leaves to the lax slicer.
    #[test]
    fn the_strict_path_refuses_what_it_does_not_cover() {
        let pkt = eth_tcp(&[7u8; 100]);
        assert!(whole_ipv4_tcp(Linktype::ETHERNET, &pkt).is_some());
        // Cut by the snap length: lax reports the missing bytes.
        assert!(whole_ipv4_tcp(Linktype::ETHERNET, &pkt[..pkt.len() - 1]).is_none());
        // A fragment (more-fragments flag).
        let mut frag = pkt.clone();
        frag[14 + 6] |= 0x20;
        assert!(whole_ipv4_tcp(Linktype::ETHERNET, &frag).is_none());
        assert_eq!(decode(Linktype::ETHERNET, &frag), Decoded::Fragment);
        // Ethernet padding after the IP packet is not payload either way.
        let mut padded = eth_tcp(b"x");
        padded.extend_from_slice(&[0; 6]);
        let Some(Decoded::Tcp(s)) = whole_ipv4_tcp(Linktype::ETHERNET, &padded) else {
            panic!("padded frame not taken");
        };
        assert_eq!(s.payload, b"x");
        assert_eq!(
            decode(Linktype::ETHERNET, &padded),
            lax(Linktype::ETHERNET, &padded)
        );
    }
}
