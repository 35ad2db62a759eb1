//! A port over capture files: receive replays a pcap or pcapng file once, transmit writes a
//! pcap file. For tests, for replaying real traffic, and for `--csum fix` on captures.

use std::fs::File;
use std::io::{self, BufReader, BufWriter};
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, PcapError};
use umem::{Frame, PoolCache, Umem};

use crate::capture::{CaptureReader, LinkType};
use crate::error::Error;
use crate::port::Port;
use crate::spec::PcapSpec;

/// Messages about skipped records a port prints before it only counts them.
const SKIP_MESSAGES: u64 = 10;

/// Receives a capture record by record (see [`crate::capture`]): a file of any size replays in
/// constant memory. The data path walks Ethernet only: a pcap file of another link type is
/// refused at open, and records that cannot become a frame (another link type on a pcapng
/// interface, too big for a frame, unreadable) are skipped, reported on stderr and counted,
/// the count printed at the end.
///
/// Jumbo frames: a record larger than one UMEM frame is skipped on receive (as above: the
/// port does not build multi-buffer chains); a multi-buffer packet sent to the port (from an
/// `mb=1` AF_XDP port sharing its UMEM) is written whole, as one record of all its chunks.
pub struct PcapPort {
    umem: Arc<Umem>,
    name: String,
    reader: CaptureReader<BufReader<File>>,
    exhausted: bool,
    skipped: u64,
    writer: Option<PcapWriter<BufWriter<File>>>,
    /// A multi-buffer packet's chunks, joined for its record (grows to the largest once).
    joined: Vec<u8>,
}

/// Reads every Ethernet packet of a pcap or pcapng file into memory: for tests and small
/// files (the port and `inspect` stream instead). Any unreadable record or non-Ethernet
/// link type is an error.
pub fn read_capture(path: &Path) -> Result<Vec<Vec<u8>>, Error> {
    let mut reader = CaptureReader::open(path)?;
    let mut packets = Vec::new();
    while let Some(record) = reader.next_record() {
        let record = record?;
        if record.link != LinkType::Ethernet {
            return Err(Error::RecordNotEthernet { path: path.to_path_buf(), index: record.index, link: record.link });
        }
        packets.push(record.data.to_vec());
    }
    Ok(packets)
}

/// Writes Ethernet packets to a pcap file.
pub fn create_capture(path: &Path) -> Result<PcapWriter<BufWriter<File>>, Error> {
    let failed = |source| Error::CreateCapture { path: path.to_path_buf(), source };
    let file = File::create(path).map_err(failed)?;
    let header = PcapHeader { datalink: DataLink::ETHERNET, ..Default::default() };
    PcapWriter::with_header(BufWriter::new(file), header).map_err(|err| match err {
        PcapError::IoError(source) => failed(source),
        other => failed(io::Error::other(other)),
    })
}

impl PcapPort {
    /// Opens the capture to replay (and the one to write, if any); frames go in `umem`.
    pub fn open(spec: &PcapSpec, umem: Arc<Umem>) -> Result<PcapPort, Error> {
        let reader = CaptureReader::open(&spec.rx)?;
        if let Some(link) = reader.pcap_link_type().filter(|l| *l != LinkType::Ethernet) {
            return Err(Error::NotEthernet { path: spec.rx.clone(), link });
        }
        let writer = spec.tx.as_deref().map(create_capture).transpose()?;
        Ok(PcapPort {
            umem,
            name: format!("pcap:{}", spec.rx.display()),
            reader,
            exhausted: false,
            skipped: 0,
            writer,
            joined: Vec::new(),
        })
    }

    /// Counts a skipped record, and says why for the first few.
    #[cold]
    fn skip(&mut self, why: std::fmt::Arguments<'_>) {
        self.skipped += 1;
        if self.skipped <= SKIP_MESSAGES {
            eprintln!("{}: {why}; skipped", self.name);
        }
    }
}

impl Port for PcapPort {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn umem(&self) -> &Arc<Umem> {
        &self.umem
    }

    fn rx_burst(&mut self, pool: &mut PoolCache, out: &mut Vec<Frame>, max: usize) -> usize {
        let mut received = 0;
        let room = self.umem.frame_size() as usize;
        while received < max && !self.exhausted {
            let Some(mut frame) = pool.get() else { break };
            let taken = match self.reader.next_record() {
                None => {
                    self.exhausted = true;
                    false
                }
                Some(Ok(record)) if record.link != LinkType::Ethernet => {
                    let (index, link) = (record.index, record.link.name());
                    self.skip(format_args!("record {index}: link type {link} is not Ethernet"));
                    false
                }
                Some(Ok(record)) if record.data.len() > room => {
                    let (index, len) = (record.index, record.data.len());
                    self.skip(format_args!("record {index} has {len} bytes, more than a {room}-byte frame holds"));
                    false
                }
                Some(Ok(record)) => {
                    let written = self.umem.write(&mut frame, record.data);
                    debug_assert!(written, "the size was checked against the frame");
                    written
                }
                Some(Err(err)) => {
                    let message = err.to_string();
                    self.skipped += 1;
                    if self.skipped <= SKIP_MESSAGES {
                        eprintln!("{message}");
                    }
                    false
                }
            };
            if taken {
                out.push(frame);
                received += 1;
            } else {
                pool.put(frame);
            }
        }
        received
    }

    fn tx_burst(&mut self, pool: &mut PoolCache, frames: &mut Vec<Frame>) -> usize {
        let sent = frames.len();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        for frame in frames.drain(..) {
            if let Some(writer) = &mut self.writer {
                let mut data = self.umem.data(&frame);
                if frame.has_next() {
                    self.joined.clear();
                    self.joined.extend_from_slice(data);
                    let mut at = &frame;
                    while let Some(piece) = pool.next(at) {
                        self.joined.extend_from_slice(self.umem.data(piece));
                        at = piece;
                    }
                    data = &self.joined;
                }
                let packet = PcapPacket::new(now, data.len() as u32, data);
                if let Err(err) = writer.write_packet(&packet) {
                    // A full disk must not look like success: report once, keep counting.
                    eprintln!("{}: writing the output capture failed: {err}", self.name);
                }
            }
            pool.put(frame);
        }
        sent
    }

    fn rx_exhausted(&self) -> bool {
        self.exhausted
    }

    fn finish(&mut self, _pool: &mut PoolCache) -> io::Result<()> {
        if self.skipped > 0 {
            eprintln!(
                "{}: {} records skipped (not Ethernet, too big for a frame, or unreadable)",
                self.name, self.skipped
            );
        }
        if let Some(writer) = self.writer.take() {
            let mut inner = writer.into_writer();
            io::Write::flush(&mut inner)?;
        }
        Ok(())
    }
}
