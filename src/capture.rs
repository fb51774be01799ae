//! Reading capture files as a stream of packet records.
//!
//! pcap (both byte orders, micro- and nanosecond timestamps) and pcapng
//! (several sections, several interfaces, each with its own link type and
//! timestamp resolution) are read with `pcap-parser`'s streaming readers, one
//! record at a time through a fixed buffer: nothing is parsed ahead of the
//! packet being decoded, and no buffer is sized from a length in the file
//! before the file is known to hold that many bytes.
//!
//! Packet numbers count every packet record from 1, as Wireshark's
//! `frame.number` does, whether or not dispel can decode the packet.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{Linktype, PcapBlockOwned, PcapError};

use crate::error::CaptureError;
use crate::step::{FrameNo, Timestamp};

/// Size of the read buffer; records larger than this grow it (up to the limit).
const BUFFER_SIZE: usize = 256 * 1024;
/// Key log text kept from Decryption Secrets Blocks between two packets;
/// blocks past it are skipped.
const MAX_SECRETS: usize = 16 * 1024 * 1024;

/// One packet record.
#[derive(Debug, Clone, Copy)]
pub struct RawPacket<'a> {
    /// 1-based, as Wireshark's `frame.number`.
    pub number: FrameNo,
    pub time: Timestamp,
    /// pcapng interface index (0 for pcap).
    pub interface: u32,
    pub linktype: Linktype,
    /// The captured bytes (possibly fewer than were on the wire).
    pub data: &'a [u8],
    /// The packet's length on the wire.
    pub orig_len: u32,
    /// TLS key log text of the Decryption Secrets Blocks between the
    /// previous packet and this one (pcapng; usually empty).
    pub secrets: &'a [u8],
}

/// The container format, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pcap { nanosecond: bool, big_endian: bool },
    PcapNg,
}

impl Format {
    pub fn describe(&self) -> &'static str {
        match self {
            Format::Pcap {
                nanosecond: false, ..
            } => "pcap (microsecond timestamps)",
            Format::Pcap {
                nanosecond: true, ..
            } => "pcap (nanosecond timestamps)",
            Format::PcapNg => "pcapng",
        }
    }
}

/// A pcapng interface's decoding state.
#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: Linktype,
    /// Timestamp units per second.
    resolution: u64,
    /// Seconds added to every timestamp (if_tsoffset).
    offset: i64,
}

/// What a reader needs to go on from a record boundary in the middle of a
/// file: the record's offset and packet number, and the header bytes that
/// give the records their meaning (pcap: the file header; pcapng: the
/// current section's header block and the interface description blocks
/// seen so far in it). [`CaptureReader::resume`] reads `headers ++
/// file[offset..]`, numbering and timing packets as the original did.
#[derive(Debug, Clone)]
pub struct ResumePoint {
    /// File offset of the next record.
    pub offset: u64,
    /// Packet number of the next packet record.
    pub number: FrameNo,
    headers: Arc<[u8]>,
    section_base: u32,
    last_time: Timestamp,
}

/// A streaming reader of packet records.
pub struct CaptureReader {
    inner: Box<dyn PcapReaderIterator + Send>,
    format: Format,
    /// Bytes of the file not yet pulled into the reader, when known: lets a
    /// record that claims more than the file holds be reported as truncated
    /// instead of growing the buffer for it.
    file_len: Option<u64>,
    max_record: usize,
    /// Bytes of the block returned by the previous `next` still to consume.
    pending_consume: usize,
    next_number: FrameNo,
    /// Interfaces of the current pcapng section, in IDB order.
    interfaces: Vec<Interface>,
    /// Global interface numbering across sections (Wireshark numbers
    /// interfaces across the whole file).
    section_base: u32,
    /// pcap: link type and timestamp units.
    legacy: Option<(Linktype, u64)>,
    last_time: Timestamp,
    /// pcapng: the current section's byte order, from its header's
    /// byte-order magic.
    ng_big_endian: bool,
    done: bool,
    /// The header blocks in effect (see [`ResumePoint`]).
    headers: Vec<u8>,
    /// What to add to the inner reader's position for a file offset: a
    /// resumed reader's input starts with header bytes copied from earlier
    /// in the file.
    shift: u64,
    /// TLS key log text of the Decryption Secrets Blocks read before the
    /// packet last returned.
    secrets: Vec<u8>,
}

impl CaptureReader {
    /// Opens a capture file.
    pub fn open(path: &Path, max_record: usize) -> Result<CaptureReader, CaptureError> {
        let file = File::open(path)?;
        let len = file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        CaptureReader::new(file, len, max_record)
    }

    /// Reads a capture from any byte source (`len`, when known, improves
    /// truncation reports).
    pub fn new<R: Read + Send + 'static>(
        mut source: R,
        len: Option<u64>,
        max_record: usize,
    ) -> Result<CaptureReader, CaptureError> {
        // Look at the magic ourselves first: pcap-parser's own error for a
        // non-capture does not say what the file is.
        // pcap-parser probes the format on its first read, so hand it a
        // full buffer's worth at once.
        // A stream of unknown length (a pipe) gets only the file header
        // read up front: a full buffer would wait for 256 KiB of traffic.
        let head = if len.is_none() {
            read_stream_header(&mut source, max_record)?
        } else {
            let mut head = vec![0u8; BUFFER_SIZE];
            let n = read_up_to(&mut source, &mut head)?;
            head.truncate(n);
            head
        };
        let n = head.len();
        if n == 0 {
            return Err(CaptureError::Empty);
        }
        let magic = &head[..n.min(4)];
        let format = match magic {
            [0x0a, 0x0d, 0x0d, 0x0a] => Format::PcapNg,
            [0xd4, 0xc3, 0xb2, 0xa1] => Format::Pcap {
                nanosecond: false,
                big_endian: false,
            },
            [0xa1, 0xb2, 0xc3, 0xd4] => Format::Pcap {
                nanosecond: false,
                big_endian: true,
            },
            [0x4d, 0x3c, 0xb2, 0xa1] => Format::Pcap {
                nanosecond: true,
                big_endian: false,
            },
            [0xa1, 0xb2, 0x3c, 0x4d] => Format::Pcap {
                nanosecond: true,
                big_endian: true,
            },
            _ => {
                return Err(CaptureError::NotACapture {
                    magic: describe_magic(magic),
                });
            }
        };
        let header_len: u64 = match format {
            Format::PcapNg => 28,
            Format::Pcap { .. } => 24,
        };
        // A stream's header has been read whole if it is there at all.
        let known = len.or(Some(n as u64).filter(|&n| n < header_len));
        if let Some(len) = known
            && len < header_len
        {
            let what = match format {
                Format::PcapNg => "pcapng section header block",
                Format::Pcap { .. } => "pcap file header",
            };
            return Err(CaptureError::TruncatedHeader {
                what,
                offset: 0,
                needed: header_len,
                present: len,
            });
        }
        let chained = std::io::Cursor::new(head).chain(source);
        let inner = pcap_parser::create_reader(BUFFER_SIZE, chained).map_err(|e| match e {
            PcapError::Eof | PcapError::Incomplete(_) | PcapError::UnexpectedEof => {
                CaptureError::TruncatedHeader {
                    what: "capture file header",
                    offset: 0,
                    needed: header_len,
                    present: len.unwrap_or(n as u64),
                }
            }
            PcapError::ReadError => CaptureError::Io(std::io::Error::other("read failed")),
            other => CaptureError::Malformed {
                what: "capture file header",
                offset: 0,
                why: other.to_string(),
            },
        })?;
        Ok(CaptureReader {
            inner,
            format,
            file_len: len,
            max_record,
            pending_consume: 0,
            next_number: 1,
            interfaces: Vec::new(),
            section_base: 0,
            legacy: None,
            last_time: Timestamp::default(),
            ng_big_endian: false,
            done: false,
            headers: Vec::new(),
            shift: 0,
            secrets: Vec::new(),
        })
    }

    /// Reopens `path` at a point an earlier reader of the same file passed.
    pub fn resume(
        path: &Path,
        point: &ResumePoint,
        max_record: usize,
    ) -> Result<CaptureReader, CaptureError> {
        let mut file = File::open(path)?;
        let len = file.metadata().ok().map(|m| m.len());
        file.seek(SeekFrom::Start(point.offset))?;
        CaptureReader::resume_from(file, len, point, max_record)
    }

    /// Goes on from `point` with `rest` holding the file's bytes from
    /// `point.offset` on; `file_len` is the whole file's length.
    pub fn resume_from<R: Read + Send + 'static>(
        rest: R,
        file_len: Option<u64>,
        point: &ResumePoint,
        max_record: usize,
    ) -> Result<CaptureReader, CaptureError> {
        let headers = std::io::Cursor::new(point.headers.clone());
        let shift = point.offset.saturating_sub(point.headers.len() as u64);
        let mut r = CaptureReader::new(
            headers.chain(rest),
            file_len.map(|l| l.saturating_sub(shift)),
            max_record,
        )?;
        r.file_len = file_len;
        r.shift = shift;
        r.next_number = point.number;
        r.section_base = point.section_base;
        r.last_time = point.last_time;
        Ok(r)
    }

    /// Where this reader stands now, between two records, for
    /// [`CaptureReader::resume`].
    pub fn resume_point(&self) -> ResumePoint {
        ResumePoint {
            offset: self.offset(),
            number: self.next_number,
            headers: Arc::from(self.headers.as_slice()),
            section_base: self.section_base,
            last_time: self.last_time,
        }
    }

    /// Keeps the bytes of a header block just parsed (`len` bytes at the
    /// reader's position): a fresh section starts over.
    fn keep_header(&mut self, len: usize, fresh: bool) {
        if fresh {
            self.headers.clear();
        }
        if let Some(b) = self.inner.data().get(..len) {
            self.headers.extend_from_slice(b);
        }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// The file offset of the next unread record.
    pub fn offset(&self) -> u64 {
        (self.inner.consumed() + self.pending_consume) as u64 + self.shift
    }

    /// The next packet record, `Ok(None)` at the end of the file.
    ///
    /// After an error the reader is finished: every packet before the bad
    /// record has been returned, and `next` returns `Ok(None)`.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        if self.pending_consume > 0 {
            self.inner.consume(self.pending_consume);
            self.pending_consume = 0;
        }
        self.secrets.clear();
        if self.done {
            return Ok(None);
        }
        // Loop over non-packet blocks, refills and buffer growth. Each
        // iteration either returns, consumes a block, or adds bytes.
        let found = loop {
            let step = self.classify_next();
            match step {
                Next::Packet(found) => break found,
                Next::Skip(len) => self.inner.consume(len),
                Next::Refill => {
                    if self.inner.refill().is_err() {
                        self.done = true;
                        return Err(CaptureError::Io(std::io::Error::other("read failed")));
                    }
                }
                Next::Grow(size) => {
                    self.inner.grow(size);
                    if self.inner.refill().is_err() {
                        self.done = true;
                        return Err(CaptureError::Io(std::io::Error::other("read failed")));
                    }
                }
                Next::Eof => {
                    self.done = true;
                    return Ok(None);
                }
                Next::Error(e) => {
                    self.done = true;
                    return Err(e);
                }
            }
        };
        // The packet's bytes, borrowed from the reader's buffer where the
        // block was parsed (they stay until the next call consumes them).
        let number = self.next_number;
        self.next_number += 1;
        self.pending_consume = found.len;
        let all = self.inner.data();
        // pcap-parser's blocks borrow the buffer they are parsed from; the
        // tests (every capture, pcap and pcapng) hold it to that.
        let data = all.get(found.data.clone());
        debug_assert!(data.is_some(), "block data outside the buffer");
        let data = data.unwrap_or_default();
        let data = &data[..found.caplen.min(data.len())];
        let (time, interface, linktype) = match found.stamp {
            Stamp::Legacy { sec, frac } => {
                let (linktype, units) = self.legacy.unwrap_or((Linktype::ETHERNET, 1_000_000));
                (
                    make_time(i64::from(sec), u64::from(frac), units),
                    0,
                    linktype,
                )
            }
            Stamp::Enhanced { if_id, ticks } => {
                let iface = self.interfaces.get(if_id as usize).copied();
                let iface = iface.unwrap_or(Interface {
                    linktype: Linktype(-1),
                    resolution: 1_000_000,
                    offset: 0,
                });
                let secs = (ticks / iface.resolution) as i64;
                let time = make_time(
                    secs.saturating_add(iface.offset),
                    ticks % iface.resolution,
                    iface.resolution,
                );
                (
                    time,
                    self.section_base.saturating_add(if_id),
                    iface.linktype,
                )
            }
            // A simple packet block has no timestamp.
            Stamp::Simple => (
                self.last_time,
                self.section_base,
                self.interfaces.first().map_or(Linktype(-1), |i| i.linktype),
            ),
        };
        let packet = RawPacket {
            number,
            time,
            interface,
            linktype,
            data,
            orig_len: found.origlen,
            secrets: &self.secrets,
        };
        self.last_time = packet.time;
        Ok(Some(packet))
    }

    /// Decides what to do with the bytes at the reader's position, consuming
    /// and recording non-packet blocks (headers, interface descriptions).
    fn classify_next(&mut self) -> Next {
        let offset = self.inner.consumed() as u64 + self.shift;
        if self.format == Format::PcapNg
            && let Some(bad) = self.check_block_header(offset)
        {
            return bad;
        }
        // Where the reader's buffer starts: `next` parses without moving it.
        let base = self.inner.data().as_ptr() as usize;
        match self.inner.next() {
            Ok((len, block)) => match block {
                PcapBlockOwned::LegacyHeader(h) => {
                    let units = if h.is_nanosecond_precision() {
                        1_000_000_000
                    } else {
                        1_000_000
                    };
                    self.legacy = Some((h.network, units));
                    self.keep_header(len, true);
                    Next::Skip(len)
                }
                PcapBlockOwned::Legacy(b) => Next::Packet(Found {
                    len,
                    data: offset_in(base, b.data),
                    caplen: b.caplen as usize,
                    origlen: b.origlen,
                    stamp: Stamp::Legacy {
                        sec: b.ts_sec,
                        frac: b.ts_usec,
                    },
                }),
                PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                    self.section_base = self
                        .section_base
                        .saturating_add(self.interfaces.len() as u32);
                    self.interfaces.clear();
                    self.keep_header(len, true);
                    Next::Skip(len)
                }
                PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                    let Some(resolution) = ts_resolution(idb.if_tsresol) else {
                        return Next::Error(CaptureError::Malformed {
                            what: "pcapng interface description block",
                            offset,
                            why: format!("invalid timestamp resolution {}", idb.if_tsresol),
                        });
                    };
                    self.interfaces.push(Interface {
                        linktype: idb.linktype,
                        resolution: resolution.max(1),
                        offset: idb.ts_offset(),
                    });
                    self.keep_header(len, false);
                    Next::Skip(len)
                }
                // A packet naming an interface no IDB of its section
                // describes has no link type or clock: the file is
                // malformed (Wireshark refuses it too).
                PcapBlockOwned::NG(Block::EnhancedPacket(epb))
                    if epb.if_id as usize >= self.interfaces.len() =>
                {
                    Next::Error(CaptureError::Malformed {
                        what: "pcapng enhanced packet block",
                        offset,
                        why: format!(
                            "interface {} is not described: the section has {} interface description block(s)",
                            epb.if_id,
                            self.interfaces.len()
                        ),
                    })
                }
                PcapBlockOwned::NG(Block::SimplePacket(_)) if self.interfaces.is_empty() => {
                    Next::Error(CaptureError::Malformed {
                        what: "pcapng simple packet block",
                        offset,
                        why: "interface 0 is not described: the section has no interface description block".into(),
                    })
                }
                PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => Next::Packet(Found {
                    len,
                    data: offset_in(base, epb.data),
                    caplen: epb.caplen as usize,
                    origlen: epb.origlen,
                    stamp: Stamp::Enhanced {
                        if_id: epb.if_id,
                        ticks: (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low),
                    },
                }),
                PcapBlockOwned::NG(Block::SimplePacket(spb)) => Next::Packet(Found {
                    len,
                    data: offset_in(base, spb.data),
                    // A simple packet block has no captured length: the
                    // original length, as far as the data goes.
                    caplen: spb.origlen as usize,
                    origlen: spb.origlen,
                    stamp: Stamp::Simple,
                }),
                PcapBlockOwned::NG(Block::DecryptionSecrets(dsb)) => {
                    if dsb.secrets_type == pcap_parser::SecretsType::TlsKeyLog
                        && self.secrets.len().saturating_add(dsb.data.len()) <= MAX_SECRETS
                    {
                        self.secrets.extend_from_slice(dsb.data);
                        self.secrets.push(b'\n');
                    }
                    Next::Skip(len)
                }
                PcapBlockOwned::NG(_) => Next::Skip(len),
            },
            Err(PcapError::Eof) => Next::Eof,
            Err(PcapError::Incomplete(_)) => Next::Refill,
            Err(PcapError::BufferTooSmall) => self.oversized(offset),
            Err(PcapError::UnexpectedEof) => Next::Error(self.truncated(offset)),
            Err(PcapError::ReadError) => {
                Next::Error(CaptureError::Io(std::io::Error::other("read failed")))
            }
            Err(e) => {
                let why = describe_pcap_error(&e);
                Next::Error(CaptureError::Malformed {
                    what: self.record_name(),
                    offset,
                    why,
                })
            }
        }
    }

    fn record_name(&self) -> &'static str {
        match self.format {
            Format::PcapNg => "pcapng block",
            Format::Pcap { .. } => "packet record",
        }
    }

    /// Checks a pcapng block's header before pcap-parser reads it: the
    /// total length must be at least 12 and a multiple of 4 (pcapng §3.1),
    /// or every later block would be read misaligned. Also notes the byte
    /// order of a new section.
    fn check_block_header(&mut self, offset: u64) -> Option<Next> {
        let data = self.inner.data();
        let head = data.get(..12)?;
        if head[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
            self.ng_big_endian = match &head[8..12] {
                [0x1a, 0x2b, 0x3c, 0x4d] => true,
                [0x4d, 0x3c, 0x2b, 0x1a] => false,
                other => {
                    return Some(Next::Error(CaptureError::Malformed {
                        what: "pcapng section header block",
                        offset,
                        why: format!("unknown byte-order magic {}", hex::encode(other)),
                    }));
                }
            };
        }
        let len = read_u32(&head[4..8], self.ng_big_endian);
        if len < 12 || !len.is_multiple_of(4) {
            return Some(Next::Error(CaptureError::Malformed {
                what: "pcapng block",
                offset,
                why: format!(
                    "block length {len} is not a multiple of 4 of at least 12, so the blocks after it cannot be found"
                ),
            }));
        }
        None
    }

    /// What the record at the current position announces, read from its own
    /// header: for pcap the captured packet bytes and the header size, for
    /// pcapng the block's total length (its header counted in it).
    fn announced(&self) -> Option<(u64, u64)> {
        let data = self.inner.data();
        match self.format {
            Format::Pcap { big_endian, .. } => {
                let caplen = read_u32(data.get(8..12)?, big_endian);
                Some((u64::from(caplen), 16))
            }
            Format::PcapNg => Some((u64::from(read_u32(data.get(4..8)?, self.ng_big_endian)), 0)),
        }
    }

    fn oversized(&self, offset: u64) -> Next {
        let Some((announced, header)) = self.announced() else {
            return Next::Refill;
        };
        let whole = announced + header;
        let buffered = self.inner.data().len() as u64;
        if whole <= buffered {
            // The record is all there and still does not parse: its parts
            // disagree (a packet longer than the block that holds it).
            return Next::Error(CaptureError::Malformed {
                what: self.record_name(),
                offset,
                why: "the packet data overruns its block".into(),
            });
        }
        let present_in_file = self
            .file_len
            .map(|len| len.saturating_sub(offset))
            .unwrap_or(u64::MAX);
        if whole > present_in_file {
            return Next::Error(CaptureError::TruncatedRecord {
                what: self.record_name(),
                offset,
                packet: self.next_number,
                announced,
                present: present_in_file.saturating_sub(header),
            });
        }
        if whole > self.max_record as u64 {
            return Next::Error(CaptureError::RecordTooLarge {
                what: self.record_name(),
                offset,
                packet: self.next_number,
                announced,
                limit: self.max_record as u64,
            });
        }
        // The bytes exist and are within the limit: make room for them.
        Next::Grow(whole as usize + 64)
    }

    fn truncated(&self, offset: u64) -> CaptureError {
        let buffered = self.inner.data().len() as u64;
        match self.announced() {
            Some((announced, header)) if announced + header <= buffered => {
                CaptureError::Malformed {
                    what: self.record_name(),
                    offset,
                    why: "the packet data overruns its block".into(),
                }
            }
            Some((announced, header)) => CaptureError::TruncatedRecord {
                what: self.record_name(),
                offset,
                packet: self.next_number,
                announced,
                present: buffered.saturating_sub(header),
            },
            None => CaptureError::TruncatedHeader {
                what: match self.format {
                    Format::Pcap { .. } => "packet record header",
                    Format::PcapNg => "pcapng block header",
                },
                offset,
                needed: match self.format {
                    Format::Pcap { .. } => 16,
                    Format::PcapNg => 8,
                },
                present: buffered,
            },
        }
    }
}

/// Timestamp units per second from pcapng's `if_tsresol` (default 6): the
/// low 7 bits are a power of ten, or of two when the top bit is set.
fn ts_resolution(tsresol: u8) -> Option<u64> {
    let exp = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(exp)
    } else {
        1u64.checked_shl(exp)
    }
}

enum Next {
    /// A packet block, parsed where it lies.
    Packet(Found),
    Skip(usize),
    Refill,
    Grow(usize),
    Eof,
    Error(CaptureError),
}

/// A packet block as parsed, kept as plain values so that the bytes can be
/// borrowed again without parsing the block twice.
struct Found {
    /// The whole block's length, consumed after the packet is used.
    len: usize,
    /// The packet data's place in the reader's buffer.
    data: std::ops::Range<usize>,
    /// Captured length as the block gives it (cut to the data present).
    caplen: usize,
    origlen: u32,
    stamp: Stamp,
}

/// A packet block's timestamp, as the block gives it.
enum Stamp {
    Legacy { sec: u32, frac: u32 },
    Enhanced { if_id: u32, ticks: u64 },
    Simple,
}

/// Where `part`, a slice of the reader's buffer, lies in it, given the
/// buffer's start address. (Checked against the buffer when borrowed
/// again: an empty range if it were ever out of it.)
fn offset_in(base: usize, part: &[u8]) -> std::ops::Range<usize> {
    let start = (part.as_ptr() as usize).wrapping_sub(base);
    start..start.saturating_add(part.len())
}

fn read_u32(b: &[u8], big_endian: bool) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    if big_endian {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

/// The first bytes of a stream, as many as its file header holds: pcap's 24,
/// or pcapng's whole section header block (its length read from its own
/// header, capped at `max_record`; the bytes are read as they come, never
/// allocated ahead). Fewer at the end of the stream, or for a non-capture.
fn read_stream_header<R: Read>(r: &mut R, max_record: usize) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    r.by_ref().take(4).read_to_end(&mut head)?;
    let want: u64 = match head.as_slice() {
        [0x0a, 0x0d, 0x0d, 0x0a] => {
            r.by_ref().take(8).read_to_end(&mut head)?;
            match head.get(4..12) {
                Some(b) => {
                    let big = b[4..8] == [0x1a, 0x2b, 0x3c, 0x4d];
                    u64::from(read_u32(&b[..4], big)).clamp(12, max_record.max(12) as u64)
                }
                None => return Ok(head),
            }
        }
        [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xc3, 0xd4]
        | [0x4d, 0x3c, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d] => 24,
        _ => return Ok(head),
    };
    let more = want.saturating_sub(head.len() as u64);
    r.by_ref().take(more).read_to_end(&mut head)?;
    Ok(head)
}

fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn make_time(secs: i64, frac: u64, units: u64) -> Timestamp {
    let units = units.max(1);
    let extra_secs = (frac / units) as i64;
    let rem = frac % units;
    let nanos = (u128::from(rem) * 1_000_000_000 / u128::from(units)) as u32;
    Timestamp {
        secs: secs.saturating_add(extra_secs),
        nanos,
    }
}

fn describe_magic(magic: &[u8]) -> String {
    let hex = hex::encode(magic);
    let text: String = magic
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    format!("{hex} \"{text}\"")
}

fn describe_pcap_error(e: &PcapError<&[u8]>) -> String {
    match e {
        PcapError::NomError(_, kind) => format!("invalid block ({kind:?})"),
        PcapError::OwnedNomError(_, kind) => format!("invalid block ({kind:?})"),
        PcapError::HeaderNotRecognized => "header not recognised".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Synthetic: a little-endian microsecond pcap header for link type `lt`.
    fn pcap_header(lt: u32) -> Vec<u8> {
        let mut v = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&65535u32.to_le_bytes());
        v.extend_from_slice(&lt.to_le_bytes());
        v
    }

    fn record(ts: u32, usec: u32, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&ts.to_le_bytes());
        v.extend_from_slice(&usec.to_le_bytes());
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(data);
        v
    }

    fn read_all(bytes: Vec<u8>) -> (Vec<(u64, Timestamp, usize)>, Option<CaptureError>) {
        let len = bytes.len() as u64;
        let mut r = match CaptureReader::new(std::io::Cursor::new(bytes), Some(len), 1 << 20) {
            Ok(r) => r,
            Err(e) => return (vec![], Some(e)),
        };
        let mut out = vec![];
        loop {
            match r.next_packet() {
                Ok(Some(p)) => out.push((p.number, p.time, p.data.len())),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn reads_records_and_numbers_them_from_one() {
        let mut f = pcap_header(1);
        f.extend(record(10, 500_000, &[1; 60]));
        f.extend(record(11, 0, &[2; 70]));
        let (pkts, err) = read_all(f);
        assert!(err.is_none());
        assert_eq!(pkts.len(), 2);
        assert_eq!(pkts[0].0, 1);
        assert_eq!(
            pkts[0].1,
            Timestamp {
                secs: 10,
                nanos: 500_000_000
            }
        );
        assert_eq!(pkts[1], (2, Timestamp { secs: 11, nanos: 0 }, 70));
    }

    /// Synthetic: one whole 60-byte record, then one announcing 1514
    /// bytes with 210 present (the record starts at byte 100).
    fn truncated_pcap() -> Vec<u8> {
        let mut f = pcap_header(1);
        f.extend(record(10, 0, &[1; 60]));
        let mut last = record(11, 0, &[2; 1514]);
        last.truncate(16 + 210);
        f.extend(last);
        f
    }

    #[test]
    fn truncated_record_names_offset_packet_and_sizes() {
        let f = truncated_pcap();
        let (pkts, err) = read_all(f);
        assert_eq!(pkts.len(), 1);
        let msg = err.expect("an error").to_string();
        assert_eq!(
            msg,
            "truncated packet record at byte 100 (packet 2): 1514 bytes announced, 210 present"
        );
    }

    #[test]
    fn absurd_record_length_is_truncation_not_allocation() {
        let mut f = pcap_header(1);
        let mut rec = record(1, 0, &[0; 4]);
        rec[8..12].copy_from_slice(&0xfff0_0000u32.to_le_bytes());
        f.extend(rec);
        let (pkts, err) = read_all(f);
        assert!(pkts.is_empty());
        assert!(matches!(
            err,
            Some(CaptureError::TruncatedRecord {
                packet: 1,
                offset: 24,
                ..
            })
        ));
    }

    #[test]
    fn not_a_capture_says_what_it_starts_with() {
        let (_, err) = read_all(b"GET / HTTP/1.1\r\n".to_vec());
        assert_eq!(
            err.unwrap().to_string(),
            "not a pcap or pcapng capture (the file starts with 47455420 \"GET \")"
        );
        let (_, err) = read_all(vec![]);
        assert!(matches!(err, Some(CaptureError::Empty)));
    }

    #[test]
    fn truncated_file_header() {
        let (_, err) = read_all(pcap_header(1)[..10].to_vec());
        assert_eq!(
            err.unwrap().to_string(),
            "truncated pcap file header at byte 0: 24 bytes needed, 10 present"
        );
    }

    /// Every packet of `path`, read straight through and then again by a
    /// reader resumed at each record boundary in turn.
    fn resume_everywhere(path: &str) {
        let bytes = std::fs::read(path).unwrap();
        let len = bytes.len() as u64;
        let mut r =
            CaptureReader::new(std::io::Cursor::new(bytes.clone()), Some(len), 1 << 24).unwrap();
        let mut straight = vec![];
        let mut points = vec![r.resume_point()];
        while let Some(p) = r.next_packet().unwrap() {
            straight.push((p.number, p.time, p.interface, p.linktype, p.data.to_vec()));
            points.push(r.resume_point());
        }
        assert!(straight.len() > 3, "{path}");
        // The first point lies before the headers were read; every later
        // one must reproduce the rest of the file.
        for (k, point) in points.iter().enumerate().skip(1) {
            let rest = bytes[point.offset as usize..].to_vec();
            let mut r =
                CaptureReader::resume_from(std::io::Cursor::new(rest), Some(len), point, 1 << 24)
                    .unwrap();
            let mut got = vec![];
            while let Some(p) = r.next_packet().unwrap() {
                got.push((p.number, p.time, p.interface, p.linktype, p.data.to_vec()));
            }
            assert_eq!(got, straight[k..], "{path}: resumed after packet {k}");
            assert_eq!(r.offset(), len);
        }
    }

    #[test]
    fn resumes_pcap_and_pcapng_at_every_record() {
        resume_everywhere("captures/flask-socketio-threading.pcap");
        resume_everywhere("captures/flask-socketio-ipv6.pcapng");
    }

    #[test]
    fn a_resumed_reader_reports_file_offsets() {
        let f = truncated_pcap();
        let len = f.len() as u64;
        let mut r =
            CaptureReader::new(std::io::Cursor::new(f.clone()), Some(len), 1 << 20).unwrap();
        r.next_packet().unwrap().unwrap();
        let point = r.resume_point();
        assert_eq!((point.offset, point.number), (100, 2));
        let rest = f[100..].to_vec();
        let mut r =
            CaptureReader::resume_from(std::io::Cursor::new(rest), Some(len), &point, 1 << 20)
                .unwrap();
        assert_eq!(
            r.next_packet().unwrap_err().to_string(),
            "truncated packet record at byte 100 (packet 2): 1514 bytes announced, 210 present"
        );
    }

    /// A stream that fails any read past its first `n` bytes: a pipe on
    /// which nothing more has arrived yet.
    struct Waiting {
        data: Vec<u8>,
        pos: usize,
    }

    impl Read for Waiting {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.pos >= self.data.len() {
                return Err(std::io::Error::other("read past what has arrived"));
            }
            let n = buf.len().min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    /// A stream is opened and its first packet read with only the header
    /// and that packet arrived (a reader that waited for a full buffer
    /// would read on, past what has arrived).
    #[test]
    fn a_stream_is_read_as_far_as_it_has_arrived() {
        let mut pcap = pcap_header(1);
        pcap.extend(record(10, 0, &[1; 60]));
        let mut r = CaptureReader::new(Waiting { data: pcap, pos: 0 }, None, 1 << 20).unwrap();
        assert_eq!(r.next_packet().unwrap().unwrap().data.len(), 60);
        // pcapng: the section header (with options), an interface
        // description, a first packet block.
        let ng = std::fs::read("captures/flask-socketio-ipv6.pcapng").unwrap();
        let block = |at: usize| u32::from_le_bytes(ng[at + 4..at + 8].try_into().unwrap()) as usize;
        let shb = block(0);
        assert!(shb > 28, "a section header with options");
        let idb = block(shb);
        let epb = block(shb + idb);
        let data = ng[..shb + idb + epb].to_vec();
        let mut r = CaptureReader::new(Waiting { data, pos: 0 }, None, 1 << 20).unwrap();
        assert_eq!(r.next_packet().unwrap().unwrap().number, 1);
        // A stream that ends inside the header says so.
        let short = pcap_header(1)[..10].to_vec();
        let err = CaptureReader::new(std::io::Cursor::new(short), None, 1 << 20)
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "truncated pcap file header at byte 0: 24 bytes needed, 10 present"
        );
    }

    #[test]
    fn nanosecond_pcap() {
        let mut f = pcap_header(1);
        f[0..4].copy_from_slice(&[0x4d, 0x3c, 0xb2, 0xa1]);
        f.extend(record(5, 123_456_789, &[0; 20]));
        let (pkts, err) = read_all(f);
        assert!(err.is_none());
        assert_eq!(
            pkts[0].1,
            Timestamp {
                secs: 5,
                nanos: 123_456_789
            }
        );
    }
}
