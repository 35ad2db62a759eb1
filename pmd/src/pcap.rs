//! A port over capture files: receive replays a pcap or pcapng file once, transmit writes a
//! pcap file. For tests, for replaying real traffic, and for `--csum fix` on captures.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read};
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;
use umem::{Frame, PoolCache, Umem};

use crate::port::{Port, PortError};
use crate::spec::PcapSpec;

pub struct PcapPort {
    umem: Arc<Umem>,
    name: String,
    packets: Vec<Vec<u8>>,
    next: usize,
    writer: Option<PcapWriter<BufWriter<File>>>,
}

/// Reads every Ethernet packet of a pcap or pcapng file (told apart by the magic number).
pub fn read_capture(path: &Path) -> Result<Vec<Vec<u8>>, PortError> {
    let open_err = |e: &dyn std::fmt::Display| PortError::new(format!("{}: {e}", path.display()));
    let mut file = File::open(path).map_err(|e| open_err(&e))?;
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic).map_err(|e| open_err(&format!("not a capture file ({e})")))?;
    let file = File::open(path).map_err(|e| open_err(&e))?;
    let reader = BufReader::new(file);
    let mut packets = Vec::new();
    const PCAPNG_SECTION_HEADER: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
    if magic == PCAPNG_SECTION_HEADER {
        let mut reader = PcapNgReader::new(reader).map_err(|e| open_err(&e))?;
        while let Some(block) = reader.next_block() {
            match block.map_err(|e| open_err(&format!("packet {}: {e}", packets.len())))? {
                Block::EnhancedPacket(p) => packets.push(p.data.into_owned()),
                Block::SimplePacket(p) => packets.push(p.data.into_owned()),
                Block::InterfaceDescription(idb) if idb.linktype != DataLink::ETHERNET => {
                    return Err(open_err(&format!("link type {:?} is not Ethernet", idb.linktype)));
                }
                _ => {}
            }
        }
    } else {
        let mut reader = PcapReader::new(reader).map_err(|e| open_err(&e))?;
        if reader.header().datalink != DataLink::ETHERNET {
            return Err(open_err(&format!("link type {:?} is not Ethernet", reader.header().datalink)));
        }
        while let Some(packet) = reader.next_packet() {
            let packet = packet.map_err(|e| open_err(&format!("packet {}: {e}", packets.len())))?;
            packets.push(packet.data.into_owned());
        }
    }
    Ok(packets)
}

/// Writes Ethernet packets to a pcap file.
pub fn create_capture(path: &Path) -> Result<PcapWriter<BufWriter<File>>, PortError> {
    let file = File::create(path).map_err(|e| PortError::new(format!("{}: {e}", path.display())))?;
    let header = PcapHeader { datalink: DataLink::ETHERNET, ..Default::default() };
    PcapWriter::with_header(BufWriter::new(file), header)
        .map_err(|e| PortError::new(format!("{}: {e}", path.display())))
}

impl PcapPort {
    pub fn open(spec: &PcapSpec, umem: Arc<Umem>) -> Result<PcapPort, PortError> {
        let packets = read_capture(&spec.rx)?;
        let room = umem.frame_size() as usize;
        if let Some((index, p)) = packets.iter().enumerate().find(|(_, p)| p.len() > room) {
            return Err(PortError::new(format!(
                "{}: packet {index} has {} bytes, more than a {room}-byte frame holds",
                spec.rx.display(),
                p.len()
            )));
        }
        let writer = spec.tx.as_deref().map(create_capture).transpose()?;
        Ok(PcapPort { umem, name: format!("pcap:{}", spec.rx.display()), packets, next: 0, writer })
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
        while received < max && self.next < self.packets.len() {
            let Some(mut frame) = pool.get() else { break };
            let written = self.umem.write(&mut frame, &self.packets[self.next]);
            debug_assert!(written, "sizes were checked at open");
            out.push(frame);
            self.next += 1;
            received += 1;
        }
        received
    }

    fn tx_burst(&mut self, pool: &mut PoolCache, frames: &mut Vec<Frame>) -> usize {
        let sent = frames.len();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        for frame in frames.drain(..) {
            if let Some(writer) = &mut self.writer {
                let data = self.umem.data(&frame);
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
        self.next >= self.packets.len()
    }

    fn finish(&mut self, _pool: &mut PoolCache) -> io::Result<()> {
        if let Some(writer) = self.writer.take() {
            let mut inner = writer.into_writer();
            io::Write::flush(&mut inner)?;
        }
        Ok(())
    }
}
