//! The benchmark floor: iterate every record of a pcap or pcapng file with
//! pcap-parser and do nothing else (sum the captured lengths so the loop
//! cannot be optimised away). `bench/run.sh` compares dispel to this.
//!
//! Usage: cargo run --release --example pcap_floor -- FILE

use std::fs::File;

use pcap_parser::{PcapBlockOwned, PcapError, create_reader};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: pcap_floor FILE")?;
    let mut reader = create_reader(1 << 20, File::open(&path)?)?;
    let (mut records, mut bytes) = (0u64, 0u64);
    loop {
        let consumed = match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::Legacy(b) => {
                        records += 1;
                        bytes += u64::from(b.caplen);
                    }
                    PcapBlockOwned::NG(pcap_parser::Block::EnhancedPacket(b)) => {
                        records += 1;
                        bytes += u64::from(b.caplen);
                    }
                    _ => {}
                }
                offset
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => 0,
            Err(e) => return Err(format!("{path}: {e:?}").into()),
        };
        if consumed == 0 {
            reader.refill().map_err(|e| format!("{path}: {e:?}"))?;
        } else {
            reader.consume(consumed);
        }
    }
    println!("{records} records, {bytes} captured bytes");
    Ok(())
}
