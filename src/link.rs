//! From a packet record to a TCP segment: link layer, IP, TCP headers.
//!
//! Header parsing is etherparse's (lax slicing, so a packet cut short by the
//! snap length still yields what it holds) and, for the Linux cooked headers,
//! pcap-parser's. This module only chooses the entry point per link type and
//! reports what it could not use, so the caller can count it.

use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use pcap_parser::Linktype;
use pcap_parser::data::{PacketData, get_packetdata_linux_sll, get_packetdata_linux_sll2};

/// Link types dispel decodes.
pub const LOOP: Linktype = Linktype(108);

/// A TCP segment as captured.
#[derive(Debug, Clone, Copy)]
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
#[derive(Debug)]
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
    let header = tcp.header_slice();
    let payload = tcp.payload();
    // When the snap length cut the packet, the IP payload length still says
    // how many TCP payload bytes were sent.
    let missing = if ip_payload.incomplete {
        let announced = announced_ip_payload_len(p).unwrap_or(ip_payload.payload.len());
        announced
            .saturating_sub(header.len())
            .saturating_sub(payload.len())
    } else {
        0
    };
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
}
