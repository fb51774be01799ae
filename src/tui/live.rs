//! The interface over a stream (`dispel replay -`, `dispel replay
//! --live`): steps arrive while the student looks at them. The bytes
//! received are spooled to a temporary capture file as they arrive (before
//! the analysis sees them), so `w` can write everything received so far to
//! a pcap file that opens again with the same steps, and the indexed
//! timeline (`super::index`) reads chunks of steps back from the spool:
//! over hours of traffic the interface holds an index, not the steps.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::analyze::{Options, Report, Run, Sink};
use crate::capture::CaptureReader;
use crate::error::CaptureError;
use crate::live::Input;

/// A stream for the interface: its input (taken once, by the loader), its
/// spool, and how many packets have been read from it.
#[derive(Clone)]
pub struct LiveFeed {
    pub name: String,
    input: Arc<Mutex<Option<Input>>>,
    packets: Arc<AtomicU64>,
    spool: Arc<tempfile::NamedTempFile>,
}

impl fmt::Debug for LiveFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveFeed")
            .field("name", &self.name)
            .field("packets", &self.packets())
            .finish_non_exhaustive()
    }
}

impl LiveFeed {
    /// Spools `input` to a new temporary capture file.
    pub fn new(name: String, input: Input) -> io::Result<LiveFeed> {
        let spool = tempfile::Builder::new()
            .prefix("dispel-live-")
            .suffix(".spool")
            .tempfile()?;
        let writer = spool.reopen()?;
        let input = input.spool_to(Box::new(writer));
        Ok(LiveFeed {
            name,
            input: Arc::new(Mutex::new(Some(input))),
            packets: Arc::new(AtomicU64::new(0)),
            spool: Arc::new(spool),
        })
    }

    /// Packets read so far.
    pub fn packets(&self) -> u64 {
        self.packets.load(Ordering::Relaxed)
    }

    /// Where the received bytes are spooled.
    pub fn spool_path(&self) -> &Path {
        self.spool.path()
    }

    /// A reader of the stream (its file header read): the input is read
    /// once, and a second call finds it taken.
    pub fn reader(&self, opts: &Options) -> Result<CaptureReader, CaptureError> {
        let input = self.input.lock().unwrap_or_else(|p| p.into_inner()).take();
        match input {
            Some(i) => CaptureReader::new(i, None, opts.max_record()),
            None => Err(io::Error::other("the stream was already read").into()),
        }
    }

    /// Records how many packets the reader of the stream has read.
    pub fn count(&self, packets: u64) {
        self.packets.store(packets, Ordering::Relaxed);
    }

    /// Runs the analysis over the stream into `sink`, counting packets.
    /// The input is read once: a second call finds it taken.
    pub fn run(&self, opts: &Options, sink: &mut dyn Sink) {
        let reader = match self.reader(opts) {
            Ok(r) => r,
            Err(e) => {
                let _ = sink.finish(&Report::default(), Some(&e));
                return;
            }
        };
        let mut run = Run::start(reader, self.name.clone(), opts, sink);
        loop {
            match run.packet(sink) {
                Ok(true) => self.count(run.packets()),
                Ok(false) => break,
                Err(_) => return, // the interface has gone
            }
        }
        // Errors reach the sink's `finish`.
        let _ = run.finish(sink);
    }

    /// Writes everything received so far to `dest`, up to the last whole
    /// packet record; returns how many packets it holds.
    pub fn save(&self, dest: &Path) -> io::Result<u64> {
        // Not fs::copy: the spool's private mode would come along.
        let mut out = File::create(dest)?;
        io::copy(&mut File::open(self.spool_path())?, &mut out)?;
        drop(out);
        let mut reader = CaptureReader::open(dest, usize::MAX).map_err(io::Error::other)?;
        let mut packets = 0u64;
        let mut end = 0u64;
        let cut = loop {
            match reader.next_packet() {
                Ok(Some(_)) => {
                    packets += 1;
                    end = reader.offset();
                }
                Ok(None) => break false,
                Err(_) => break true,
            }
        };
        if cut && packets > 0 {
            // A record still arriving: the file ends before it.
            File::options().write(true).open(dest)?.set_len(end)?;
        }
        Ok(packets)
    }
}

/// A file name for `w` that is not taken yet, in the current directory:
/// `dispel-live-1.pcap`, `-2`, … (pcapng when the stream is pcapng).
pub fn save_name(pcapng: bool) -> PathBuf {
    let ext = if pcapng { "pcapng" } else { "pcap" };
    (1u32..)
        .map(|n| PathBuf::from(format!("dispel-live-{n}.{ext}")))
        .find(|p| !p.exists())
        .unwrap_or_else(|| PathBuf::from(format!("dispel-live.{ext}")))
}

/// Whether the spool holds pcapng (by its magic).
pub fn is_pcapng(spool: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(spool)
        .and_then(|mut f| io::Read::read_exact(&mut f, &mut magic))
        .is_ok_and(|()| magic == [0x0a, 0x0d, 0x0d, 0x0a])
}
