//! Reading capture files as libpcap reads them: pcap (both byte orders, microsecond and
//! nanosecond magic) and pcapng (section header, interface description, enhanced, simple and
//! obsolete packet blocks; both byte orders), one record at a time from a [`BufReader`], so a
//! capture of any size is read in constant memory (one record's buffer, at most
//! [`MAX_RECORD_LEN`] bytes for pcap, [`MAX_BLOCK_LEN`] for pcapng).
//!
//! Why our own reader and not pcap-file's (which we still use to write): pcap-file 2
//! - refuses a record whose captured or original length exceeds the header's snaplen
//!   ("PacketHeader incl_len > snap_len"), which libpcap and tshark read;
//! - takes the 32-bit link-type field whole, where libpcap masks it (`LT_LINKTYPE(x) =
//!   x & 0x03FFFFFF`; the top bits say how much FCS the frames carry), so Ethernet files with
//!   those bits set read as "Unknown(805306369)";
//! - fails a whole pcapng file on an option it does not like ("Invalid option"), where
//!   libpcap ignores options it does not need;
//! - ends the file at the first bad record, where a bad pcapng block can be stepped over by
//!   its length.
//!
//! Errors: a file that is not a capture, or whose link type we cannot walk, is refused
//! ([`CaptureError`], naming the file and the link type). A record that cannot be read is a
//! [`RecordError`] with its index; the reader goes on after it where the format allows
//! (pcapng blocks carry their length; a pcap record's length is its header's) and stops at a
//! truncated end, after every earlier record.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

/// The largest record libpcap reads (`MAXIMUM_SNAPLEN` in pcap-int.h), whatever the file's
/// snaplen says.
pub const MAX_RECORD_LEN: usize = 262_144;

/// The largest pcapng block we read: libpcap's `MAX_BLOCKSIZE_FOR_SNAPLEN` for the maximum
/// snaplen is a little over 256 KiB; other blocks (name resolution, custom) can be bigger,
/// so allow 16 MiB (libpcap's `INITIAL_MAX_BLOCKSIZE`) and skip what we do not need.
pub const MAX_BLOCK_LEN: usize = 16 * 1024 * 1024;

/// The link types whose frames the walker understands (numbers from
/// <https://www.tcpdump.org/linktypes.html>).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_LINUX_SLL (113): Linux cooked capture v1, a 16-byte header whose last two
    /// bytes are the EtherType (`tcpdump -i any` before libpcap 1.10).
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276): Linux cooked capture v2, a 20-byte header starting with
    /// the EtherType.
    LinuxSll2,
    /// LINKTYPE_RAW (101): an IPv4 or IPv6 packet, told apart by its version nibble.
    Raw,
    /// LINKTYPE_IPV4 (228).
    Ipv4,
    /// LINKTYPE_IPV6 (229).
    Ipv6,
}

impl LinkType {
    /// The link type of a LINKTYPE_ number, if the walker understands it.
    pub const fn from_number(number: u32) -> Option<LinkType> {
        match number {
            1 => Some(LinkType::Ethernet),
            113 => Some(LinkType::LinuxSll),
            276 => Some(LinkType::LinuxSll2),
            101 => Some(LinkType::Raw),
            228 => Some(LinkType::Ipv4),
            229 => Some(LinkType::Ipv6),
            _ => None,
        }
    }

    /// The LINKTYPE_ number.
    pub const fn number(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
            LinkType::Raw => 101,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
        }
    }

    /// The LINKTYPE_ name without the prefix, lower case (also used in `inspect --json`).
    pub const fn name(self) -> &'static str {
        match self {
            LinkType::Ethernet => "ethernet",
            LinkType::LinuxSll => "linux_sll",
            LinkType::LinuxSll2 => "linux_sll2",
            LinkType::Raw => "raw",
            LinkType::Ipv4 => "ipv4",
            LinkType::Ipv6 => "ipv6",
        }
    }
}

/// `LINKTYPE_NAME (N)` for a link type number, with names for the common ones we do not read.
pub fn describe_link_type(number: u32) -> String {
    let name = match LinkType::from_number(number) {
        Some(link) => link.name(),
        None => match number {
            0 => "null",
            6 => "ieee802_5",
            8 => "slip",
            9 => "ppp",
            10 => "fddi",
            50 => "ppp_hdlc",
            51 => "ppp_ether",
            100 => "atm_rfc1483",
            104 => "c_hdlc",
            105 => "ieee802_11",
            107 => "frelay",
            108 => "loop",
            119 => "ieee802_11_prism",
            127 => "ieee802_11_radiotap",
            143 => "docsis",
            163 => "ieee802_11_avs",
            189 => "usb_linux",
            195 => "ieee802_15_4",
            201 => "bluetooth_hci_h4_with_phdr",
            220 => "usb_linux_mmapped",
            239 => "nflog",
            249 => "usbpcap",
            _ => "unknown",
        },
    };
    format!("{name} ({number})")
}

/// libpcap's pcap link-type field (pcap-common.h): the link type in the low 26 bits, and
/// when bit 26 is set, the frames' FCS length in 16-bit words in the top 4 bits.
const LT_LINKTYPE_MASK: u32 = 0x03FF_FFFF;
const LT_FCS_LENGTH_PRESENT: u32 = 0x0400_0000;

/// (link type number, FCS bytes at the end of every frame) from a pcap header's field.
pub const fn split_pcap_link_field(field: u32) -> (u32, usize) {
    let fcs_words = if field & LT_FCS_LENGTH_PRESENT != 0 { (field & 0xF000_0000) >> 28 } else { 0 };
    (field & LT_LINKTYPE_MASK, fcs_words as usize * 2)
}

/// One record of a capture. `data` is the frame as captured, without the FCS a link type
/// announces (when the record holds the whole frame).
#[derive(Debug)]
pub struct Record<'a> {
    /// 0-based, counting every record, unreadable ones included.
    pub index: usize,
    /// How the frame starts (the pcap file's, or the pcapng interface's).
    pub link: LinkType,
    /// Since the epoch, in nanoseconds.
    pub timestamp_ns: u64,
    /// The frame's length on the wire, as the record says.
    pub orig_len: u32,
    /// The captured bytes (without any FCS).
    pub data: &'a [u8],
}

/// A whole file refused: not a capture, or a link type we cannot walk.
#[derive(Debug)]
pub struct CaptureError {
    message: String,
}

impl CaptureError {
    fn new(name: &str, message: impl fmt::Display) -> CaptureError {
        CaptureError { message: format!("{name}: {message}") }
    }
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CaptureError {}

/// What went wrong with one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordErrorKind {
    /// The file ends inside the record (a truncated capture): nothing follows.
    Truncated,
    /// The record is malformed (a length beyond the maximum or beyond its block, an unknown
    /// interface); the reader goes on with the next one where it can.
    Malformed,
    /// A pcapng interface with a link type we cannot walk: the file is refused from here.
    UnsupportedLinkType,
    /// Reading the file failed.
    Io,
}

/// A record that could not be read: which, and why.
#[derive(Debug)]
pub struct RecordError {
    /// The file, as messages name it.
    pub name: String,
    /// The record's index (0-based, counting every record).
    pub index: usize,
    /// What kind of problem, and whether the reader goes on.
    pub kind: RecordErrorKind,
    /// What is wrong with the record.
    pub message: String,
}

impl RecordError {
    /// True when the reader can go on after this error.
    pub fn is_recoverable(&self) -> bool {
        self.kind == RecordErrorKind::Malformed
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: record {}: {}", self.name, self.index, self.message)
    }
}

impl std::error::Error for RecordError {}

#[derive(Clone, Copy, Debug)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u16(self, b: &[u8], at: usize) -> u16 {
        let bytes = [b[at], b[at + 1]];
        match self {
            Endian::Little => u16::from_le_bytes(bytes),
            Endian::Big => u16::from_be_bytes(bytes),
        }
    }

    fn u32(self, b: &[u8], at: usize) -> u32 {
        let bytes = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        match self {
            Endian::Little => u32::from_le_bytes(bytes),
            Endian::Big => u32::from_be_bytes(bytes),
        }
    }
}

/// A pcapng interface (IDB): its link type (or the number we cannot walk), FCS and clock.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    snaplen: u32,
    fcs_bytes: usize,
    /// Timestamp units per second (if_tsresol; default 10^6).
    units_per_second: u64,
}

enum Format {
    Pcap { endian: Endian, nanoseconds: bool, link: LinkType, fcs_bytes: usize },
    PcapNg { endian: Endian, interfaces: Vec<Interface> },
}

/// A capture file read one record at a time.
pub struct CaptureReader<R> {
    source: R,
    name: String,
    format: Format,
    buffer: Vec<u8>,
    index: usize,
    done: bool,
}

const PCAP_MAGIC_MICRO: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NANO: u32 = 0xa1b2_3c4d;
const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
const PCAPNG_BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const PCAP_HEADER_LEN: usize = 24;
const PCAP_RECORD_HEADER_LEN: usize = 16;

mod block {
    pub(super) const IDB: u32 = 1;
    pub(super) const OPB: u32 = 2;
    pub(super) const SPB: u32 = 3;
    pub(super) const EPB: u32 = 6;
}

/// Reads until `buf` is full or the source ends; how many bytes were read.
fn read_full(source: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl CaptureReader<BufReader<File>> {
    /// Opens `path` (pcap or pcapng, told apart by the magic number).
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| CaptureError::new(&name, e))?;
        CaptureReader::new(BufReader::new(file), &name)
    }
}

impl<R: Read> CaptureReader<R> {
    /// Reads the file header from `source`; `name` names the file in messages.
    pub fn new(mut source: R, name: &str) -> Result<Self, CaptureError> {
        let mut magic = [0u8; 4];
        let got = read_full(&mut source, &mut magic).map_err(|e| CaptureError::new(name, e))?;
        if got < 4 {
            return Err(CaptureError::new(
                name,
                format!("not a capture file: {got} bytes, a 4-byte magic number needed"),
            ));
        }
        let format = if u32::from_be_bytes(magic) == PCAPNG_SHB {
            Format::PcapNg { endian: Endian::Little, interfaces: Vec::new() }
        } else {
            let (endian, nanoseconds) = match (u32::from_le_bytes(magic), u32::from_be_bytes(magic)) {
                (PCAP_MAGIC_MICRO, _) => (Endian::Little, false),
                (PCAP_MAGIC_NANO, _) => (Endian::Little, true),
                (_, PCAP_MAGIC_MICRO) => (Endian::Big, false),
                (_, PCAP_MAGIC_NANO) => (Endian::Big, true),
                _ => {
                    return Err(CaptureError::new(
                        name,
                        format!("not a pcap or pcapng file (magic number {:02x?})", magic),
                    ))
                }
            };
            let mut header = [0u8; PCAP_HEADER_LEN];
            header[..4].copy_from_slice(&magic);
            let got = read_full(&mut source, &mut header[4..]).map_err(|e| CaptureError::new(name, e))?;
            if got < PCAP_HEADER_LEN - 4 {
                return Err(CaptureError::new(
                    name,
                    format!("pcap file header truncated: {PCAP_HEADER_LEN} bytes needed, {} there", got + 4),
                ));
            }
            let (number, fcs_bytes) = split_pcap_link_field(endian.u32(&header, 20));
            let link = LinkType::from_number(number).ok_or_else(|| unsupported(name, number))?;
            Format::Pcap { endian, nanoseconds, link, fcs_bytes }
        };
        let mut reader =
            CaptureReader { source, name: name.to_string(), format, buffer: Vec::new(), index: 0, done: false };
        if let Format::PcapNg { .. } = reader.format {
            // The first block is the section header, whose magic we have read.
            reader.buffer.extend_from_slice(&magic);
            reader
                .read_section_header()
                .map_err(|e| CaptureError { message: format!("{}: {}", reader.name, e.message) })?;
        }
        Ok(reader)
    }

    /// The file's name, as messages give it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A pcap file's link type (one for the whole file); `None` for pcapng, where each
    /// interface has its own and every record says which.
    pub fn pcap_link_type(&self) -> Option<LinkType> {
        match self.format {
            Format::Pcap { link, .. } => Some(link),
            Format::PcapNg { .. } => None,
        }
    }

    /// The next record, an error for a record that cannot be read, or `None` at the end
    /// (also after an error the reader cannot go on from).
    #[allow(clippy::should_implement_trait)]
    pub fn next_record(&mut self) -> Option<Result<Record<'_>, RecordError>> {
        if self.done {
            return None;
        }
        let result = match self.format {
            Format::Pcap { .. } => self.next_pcap(),
            Format::PcapNg { .. } => self.next_pcapng(),
        };
        match result {
            Ok(None) => {
                self.done = true;
                None
            }
            Ok(Some(record)) => {
                self.index += 1;
                Some(Ok(self.record(record)))
            }
            Err(err) => {
                self.index += 1;
                if !err.is_recoverable() {
                    self.done = true;
                }
                Some(Err(err))
            }
        }
    }

    fn record(&self, found: Found) -> Record<'_> {
        Record {
            index: self.index - 1,
            link: found.link,
            timestamp_ns: found.timestamp_ns,
            orig_len: found.orig_len,
            data: self.buffer.get(found.start..found.end).unwrap_or(&[]),
        }
    }

    fn error(&self, kind: RecordErrorKind, message: impl Into<String>) -> RecordError {
        RecordError { name: self.name.clone(), index: self.index, kind, message: message.into() }
    }

    fn io_error(&self, err: io::Error) -> RecordError {
        self.error(RecordErrorKind::Io, format!("reading failed: {err}"))
    }

    fn next_pcap(&mut self) -> Result<Option<Found>, RecordError> {
        let Format::Pcap { endian, nanoseconds, link, fcs_bytes } = self.format else { unreachable!() };
        let mut header = [0u8; PCAP_RECORD_HEADER_LEN];
        let got = read_full(&mut self.source, &mut header).map_err(|e| self.io_error(e))?;
        if got == 0 {
            return Ok(None);
        }
        if got < PCAP_RECORD_HEADER_LEN {
            return Err(self.error(
                RecordErrorKind::Truncated,
                format!("the file ends inside the record header: {PCAP_RECORD_HEADER_LEN} bytes needed, {got} there"),
            ));
        }
        let (seconds, fraction) = (endian.u32(&header, 0), endian.u32(&header, 4));
        let incl_len = endian.u32(&header, 8) as usize;
        let orig_len = endian.u32(&header, 12);
        if incl_len > MAX_RECORD_LEN {
            // Step over it (a pcap record's length is all we have to find the next one).
            let skipped = io::copy(&mut (&mut self.source).take(incl_len as u64), &mut io::sink())
                .map_err(|e| self.io_error(e))?;
            let kind = if skipped < incl_len as u64 { RecordErrorKind::Truncated } else { RecordErrorKind::Malformed };
            return Err(self.error(
                kind,
                format!(
                    "captured length {incl_len} is more than the {MAX_RECORD_LEN}-byte maximum (libpcap's); skipped"
                ),
            ));
        }
        self.buffer.resize(incl_len, 0);
        let got = read_full(&mut self.source, &mut self.buffer).map_err(|e| self.io_error(e))?;
        if got < incl_len {
            return Err(self.error(
                RecordErrorKind::Truncated,
                format!("the file ends inside the record: {incl_len} captured bytes announced, {got} there"),
            ));
        }
        let sub = if nanoseconds { u64::from(fraction) } else { u64::from(fraction) * 1000 };
        let timestamp_ns = u64::from(seconds) * 1_000_000_000 + sub;
        let end = without_fcs(incl_len, orig_len, fcs_bytes);
        Ok(Some(Found { link, timestamp_ns, orig_len, start: 0, end }))
    }

    /// Reads one block into `self.buffer` (whole, header and trailer included), the bytes
    /// of it already read being in `self.buffer`; returns its type, or `None` at the end.
    fn read_block(&mut self, endian: Endian) -> Result<Option<u32>, RecordError> {
        let already = self.buffer.len();
        if already < 8 {
            let mut head = [0u8; 8];
            let got = read_full(&mut self.source, &mut head[already..]).map_err(|e| self.io_error(e))?;
            self.buffer.extend_from_slice(&head[already..already + got]);
        }
        let have = self.buffer.len();
        if have == 0 {
            return Ok(None);
        }
        if have < 8 {
            return Err(self.error(
                RecordErrorKind::Truncated,
                format!("the file ends inside a block header: 8 bytes needed, {have} there"),
            ));
        }
        let block_type = endian.u32(&self.buffer, 0);
        let len = endian.u32(&self.buffer, 4) as usize;
        // pcapng §3.1: a block is at least 12 bytes (type, length, trailing length), in
        // 32-bit units. A length that breaks this leaves no way to find the next block.
        if len < 12.max(have) || !len.is_multiple_of(4) || len > MAX_BLOCK_LEN {
            return Err(self.error(
                RecordErrorKind::Truncated,
                format!(
                    "block of type {block_type:#x} has length {len} (needed: a multiple of 4 from 12 to {MAX_BLOCK_LEN}); \
                     the rest of the file cannot be found"
                ),
            ));
        }
        self.buffer.resize(len, 0);
        let got = read_full(&mut self.source, &mut self.buffer[have..]).map_err(|e| self.io_error(e))?;
        if got < len - have {
            return Err(self.error(
                RecordErrorKind::Truncated,
                format!(
                    "the file ends inside a block of type {block_type:#x}: {len} bytes announced, {} there",
                    got + have
                ),
            ));
        }
        Ok(Some(block_type))
    }

    /// The section header block whose first 4 bytes are in `self.buffer`: sets the byte
    /// order and forgets the previous section's interfaces (pcapng §4.1).
    fn read_section_header(&mut self) -> Result<(), RecordError> {
        // The byte-order magic comes right after the length; read both to know the order.
        let mut rest = [0u8; 8];
        let got = read_full(&mut self.source, &mut rest).map_err(|e| self.io_error(e))?;
        if got < 8 {
            return Err(self.error(RecordErrorKind::Truncated, "the file ends inside the section header"));
        }
        let magic: [u8; 4] = [rest[4], rest[5], rest[6], rest[7]];
        let endian = if u32::from_le_bytes(magic) == PCAPNG_BYTE_ORDER_MAGIC {
            Endian::Little
        } else if u32::from_be_bytes(magic) == PCAPNG_BYTE_ORDER_MAGIC {
            Endian::Big
        } else {
            return Err(self.error(
                RecordErrorKind::Truncated,
                format!("section header with byte-order magic {magic:02x?}, not 1a2b3c4d in either order"),
            ));
        };
        self.buffer.extend_from_slice(&rest);
        let block_type = self.read_block(endian)?;
        debug_assert_eq!(block_type, Some(PCAPNG_SHB));
        self.format = Format::PcapNg { endian, interfaces: Vec::new() };
        Ok(())
    }

    fn next_pcapng(&mut self) -> Result<Option<Found>, RecordError> {
        loop {
            let Format::PcapNg { endian, .. } = self.format else { unreachable!() };
            self.buffer.clear();
            // Peek the type: a section header changes the byte order before its length is read.
            let mut kind = [0u8; 4];
            let got = read_full(&mut self.source, &mut kind).map_err(|e| self.io_error(e))?;
            if got == 0 {
                return Ok(None);
            }
            self.buffer.extend_from_slice(&kind[..got]);
            if got == 4 && u32::from_be_bytes(kind) == PCAPNG_SHB {
                self.read_section_header()?;
                continue;
            }
            let Some(block_type) = self.read_block(endian)? else { return Ok(None) };
            let body_len = self.buffer.len() - 12;
            let trailer = endian.u32(&self.buffer, self.buffer.len() - 4) as usize;
            if trailer != self.buffer.len() {
                return Err(self.error(
                    RecordErrorKind::Malformed,
                    format!(
                        "block of type {block_type:#x}: trailing length {trailer} differs from the leading {}",
                        self.buffer.len()
                    ),
                ));
            }
            match block_type {
                block::IDB => self.interface(endian, body_len)?,
                block::EPB | block::OPB => return self.packet_block(endian, block_type, body_len).map(Some),
                block::SPB => return self.simple_packet(endian, body_len).map(Some),
                // Name resolution, statistics, decryption secrets, custom: nothing to walk.
                _ => {}
            }
        }
    }

    /// An interface description block (pcapng §4.2): link type, snaplen, if_tsresol (9)
    /// and if_fcslen (13).
    fn interface(&mut self, endian: Endian, body_len: usize) -> Result<(), RecordError> {
        if body_len < 8 {
            return Err(self.error(
                RecordErrorKind::Malformed,
                format!("interface description block body is {body_len} bytes, 8 needed"),
            ));
        }
        let body = &self.buffer[8..8 + body_len];
        let number = u32::from(endian.u16(body, 0));
        let snaplen = endian.u32(body, 4);
        let (mut units_per_second, mut fcs_bytes) = (1_000_000u64, 0usize);
        // Options (pcapng §3.5): code, length, value padded to 32 bits, up to opt_endofopt.
        // A malformed option ends the options; the interface is still usable (libpcap too
        // reads only the options it needs).
        let mut at = 8;
        while at + 4 <= body.len() {
            let (code, len) = (endian.u16(body, at), usize::from(endian.u16(body, at + 2)));
            let Some(value) = body.get(at + 4..at + 4 + len) else { break };
            match (code, value) {
                (0, _) => break,
                (9, [resolution]) => {
                    // Bit 7 clear: 10^-n seconds; set: 2^-n (pcapng §4.2, if_tsresol).
                    let exponent = u32::from(resolution & 0x7f);
                    let units =
                        if resolution & 0x80 == 0 { 10u64.checked_pow(exponent) } else { 2u64.checked_pow(exponent) };
                    units_per_second = units.unwrap_or(units_per_second).max(1);
                }
                (13, [fcs, ..]) => fcs_bytes = usize::from(*fcs),
                _ => {}
            }
            at += 4 + len.div_ceil(4) * 4;
        }
        let Some(link) = LinkType::from_number(number) else {
            let interface = match self.format {
                Format::PcapNg { ref interfaces, .. } => interfaces.len(),
                Format::Pcap { .. } => 0,
            };
            return Err(self.error(
                RecordErrorKind::UnsupportedLinkType,
                format!(
                    "interface {interface} has link type {}: only ethernet (1), linux_sll (113), linux_sll2 (276), \
                     raw (101), ipv4 (228) and ipv6 (229) are read",
                    describe_link_type(number)
                ),
            ));
        };
        if let Format::PcapNg { ref mut interfaces, .. } = self.format {
            interfaces.push(Interface { link, snaplen, fcs_bytes, units_per_second });
        }
        Ok(())
    }

    fn interface_at(&self, id: usize) -> Result<Interface, RecordError> {
        let Format::PcapNg { ref interfaces, .. } = self.format else { unreachable!() };
        interfaces.get(id).copied().ok_or_else(|| {
            self.error(
                RecordErrorKind::Malformed,
                format!("packet of interface {id}, but the section describes {} interfaces", interfaces.len()),
            )
        })
    }

    /// An enhanced (pcapng §4.3) or obsolete (appendix A) packet block.
    fn packet_block(&mut self, endian: Endian, block_type: u32, body_len: usize) -> Result<Found, RecordError> {
        const FIXED: usize = 20;
        if body_len < FIXED {
            return Err(self
                .error(RecordErrorKind::Malformed, format!("packet block body is {body_len} bytes, {FIXED} needed")));
        }
        let body = &self.buffer[8..8 + body_len];
        let id = if block_type == block::EPB { endian.u32(body, 0) as usize } else { usize::from(endian.u16(body, 0)) };
        let (high, low) = (endian.u32(body, 4), endian.u32(body, 8));
        let caplen = endian.u32(body, 12) as usize;
        let orig_len = endian.u32(body, 16);
        if caplen > body_len - FIXED {
            return Err(self.error(
                RecordErrorKind::Malformed,
                format!("captured length {caplen} does not fit its block ({} bytes of packet data)", body_len - FIXED),
            ));
        }
        if caplen > MAX_RECORD_LEN {
            return Err(self.error(
                RecordErrorKind::Malformed,
                format!("captured length {caplen} is more than the {MAX_RECORD_LEN}-byte maximum (libpcap's)"),
            ));
        }
        let interface = self.interface_at(id)?;
        let units = (u64::from(high) << 32) | u64::from(low);
        let start = 8 + FIXED;
        let end = start + without_fcs(caplen, orig_len, interface.fcs_bytes);
        Ok(Found {
            link: interface.link,
            timestamp_ns: timestamp_ns(units, interface.units_per_second),
            orig_len,
            start,
            end,
        })
    }

    /// A simple packet block (pcapng §4.4): interface 0, no timestamp, captured length the
    /// smaller of the original length, the snaplen and the block.
    fn simple_packet(&mut self, endian: Endian, body_len: usize) -> Result<Found, RecordError> {
        if body_len < 4 {
            return Err(self
                .error(RecordErrorKind::Malformed, format!("simple packet block body is {body_len} bytes, 4 needed")));
        }
        let orig_len = endian.u32(&self.buffer, 8);
        let interface = self.interface_at(0)?;
        let mut caplen = (orig_len as usize).min(body_len - 4).min(MAX_RECORD_LEN);
        if interface.snaplen != 0 {
            caplen = caplen.min(interface.snaplen as usize);
        }
        let start = 12;
        let end = start + without_fcs(caplen, orig_len, interface.fcs_bytes);
        Ok(Found { link: interface.link, timestamp_ns: 0, orig_len, start, end })
    }
}

/// Where a record's frame is in the reader's buffer.
struct Found {
    link: LinkType,
    timestamp_ns: u64,
    orig_len: u32,
    start: usize,
    end: usize,
}

/// The captured length without the FCS: only a record that holds the whole frame holds its
/// FCS (a snaplen cut it off otherwise).
fn without_fcs(caplen: usize, orig_len: u32, fcs_bytes: usize) -> usize {
    if fcs_bytes > 0 && caplen >= orig_len as usize {
        caplen.saturating_sub(fcs_bytes)
    } else {
        caplen
    }
}

fn timestamp_ns(units: u64, units_per_second: u64) -> u64 {
    let seconds = units / units_per_second;
    let rest = units % units_per_second;
    let fraction = (u128::from(rest) * 1_000_000_000 / u128::from(units_per_second)) as u64;
    seconds.saturating_mul(1_000_000_000).saturating_add(fraction)
}

fn unsupported(name: &str, number: u32) -> CaptureError {
    CaptureError::new(
        name,
        format!(
            "link type {}: only ethernet (1), linux_sll (113), linux_sll2 (276), raw (101), ipv4 (228) and ipv6 (229) \
             are read",
            describe_link_type(number)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pcap file: header with `link_field` and `snaplen`, then `(incl_len, orig_len, data)`
    /// records (`incl_len` written as given, so a test can lie about it).
    fn pcap(big_endian: bool, nanos: bool, snaplen: u32, link_field: u32, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let u32b = |v: u32| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
        let u16b = |v: u16| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut out = Vec::new();
        out.extend_from_slice(&u32b(if nanos { PCAP_MAGIC_NANO } else { PCAP_MAGIC_MICRO }));
        out.extend_from_slice(&u16b(2));
        out.extend_from_slice(&u16b(4));
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&u32b(snaplen));
        out.extend_from_slice(&u32b(link_field));
        for (i, (incl, orig, data)) in records.iter().enumerate() {
            out.extend_from_slice(&u32b(1000 + i as u32));
            out.extend_from_slice(&u32b(7));
            out.extend_from_slice(&u32b(*incl));
            out.extend_from_slice(&u32b(*orig));
            out.extend_from_slice(data);
        }
        out
    }

    /// (index, link type, data) of a record read.
    type ReadRecord = (usize, LinkType, Vec<u8>);

    fn read_all(bytes: &[u8]) -> (Vec<ReadRecord>, Vec<RecordError>) {
        let mut reader = CaptureReader::new(bytes, "test.pcap").expect("a capture");
        let (mut ok, mut errors) = (Vec::new(), Vec::new());
        while let Some(record) = reader.next_record() {
            match record {
                Ok(r) => ok.push((r.index, r.link, r.data.to_vec())),
                Err(e) => errors.push(e),
            }
        }
        (ok, errors)
    }

    #[test]
    fn pcap_in_both_byte_orders_and_both_resolutions() {
        for big in [false, true] {
            for nanos in [false, true] {
                let bytes = pcap(big, nanos, 65535, 1, &[(3, 3, b"abc"), (2, 60, b"de")]);
                let mut reader = CaptureReader::new(&bytes[..], "t").unwrap();
                assert_eq!(reader.pcap_link_type(), Some(LinkType::Ethernet));
                let first = reader.next_record().unwrap().unwrap();
                assert_eq!((first.index, first.data, first.orig_len), (0, &b"abc"[..], 3));
                assert_eq!(first.timestamp_ns, 1000 * 1_000_000_000 + if nanos { 7 } else { 7000 });
                let second = reader.next_record().unwrap().unwrap();
                assert_eq!((second.index, second.data, second.orig_len), (1, &b"de"[..], 60));
                assert!(reader.next_record().is_none());
            }
        }
    }

    #[test]
    fn link_type_upper_bits_are_masked_and_fcs_stripped() {
        // 0x30000001: FCS length bits without the "present" bit (tcpdump's test files): Ethernet, no FCS.
        let (ok, errors) = read_all(&pcap(false, false, 65535, 0x3000_0001, &[(4, 4, b"abcd")]));
        assert!(errors.is_empty());
        assert_eq!(ok, [(0, LinkType::Ethernet, b"abcd".to_vec())]);
        // Present bit and 2 16-bit words: 4 bytes of FCS at the end of every whole frame.
        let field = 0x2000_0000 | LT_FCS_LENGTH_PRESENT | 1;
        assert_eq!(split_pcap_link_field(field), (1, 4));
        let (ok, _) = read_all(&pcap(false, false, 65535, field, &[(6, 6, b"abFCS!"), (3, 6, b"abF")]));
        assert_eq!(ok[0].2, b"ab", "the FCS of a whole frame is stripped");
        assert_eq!(ok[1].2, b"abF", "a record cut by the snaplen holds no FCS to strip");
    }

    #[test]
    fn records_longer_than_the_snaplen_are_read_up_to_the_maximum() {
        let big = vec![0xaa; 70_000];
        let (ok, errors) = read_all(&pcap(false, false, 64, 1, &[(70_000, 70_000, &big), (2, 2, b"ok")]));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!((ok[0].2.len(), ok[1].2.as_slice()), (70_000, &b"ok"[..]));
        // Beyond libpcap's 262,144: reported with its index, stepped over, the rest read.
        let huge = vec![0u8; MAX_RECORD_LEN + 1];
        let n = huge.len() as u32;
        let (ok, errors) = read_all(&pcap(false, false, 64, 1, &[(1, 1, b"a"), (n, n, &huge), (1, 1, b"b")]));
        assert_eq!(ok.iter().map(|r| r.0).collect::<Vec<_>>(), [0, 2]);
        assert_eq!((errors.len(), errors[0].index, errors[0].kind), (1, 1, RecordErrorKind::Malformed));
        assert!(errors[0].to_string().contains("262144"), "{}", errors[0]);
    }

    #[test]
    fn a_truncated_last_record_is_reported_after_every_earlier_one() {
        let mut bytes = pcap(false, false, 65535, 1, &[(2, 2, b"ab"), (2, 2, b"cd"), (10, 10, b"efghijklmn")]);
        bytes.truncate(bytes.len() - 4);
        let (ok, errors) = read_all(&bytes);
        assert_eq!(ok.len(), 2);
        assert_eq!((errors.len(), errors[0].index, errors[0].kind), (1, 2, RecordErrorKind::Truncated));
        assert!(errors[0].to_string().contains("10 captured bytes announced, 6 there"), "{}", errors[0]);
        // Cut inside the record header.
        let mut bytes = pcap(false, false, 65535, 1, &[(2, 2, b"ab"), (2, 2, b"cd")]);
        bytes.truncate(bytes.len() - 10);
        let (ok, errors) = read_all(&bytes);
        assert_eq!((ok.len(), errors[0].index), (1, 1));
        assert!(errors[0].to_string().contains("16 bytes needed, 8 there"), "{}", errors[0]);
    }

    #[test]
    fn cooked_and_raw_link_types_are_read_others_refused_by_name() {
        for (number, link) in [
            (113, LinkType::LinuxSll),
            (276, LinkType::LinuxSll2),
            (101, LinkType::Raw),
            (228, LinkType::Ipv4),
            (229, LinkType::Ipv6),
        ] {
            let (ok, _) = read_all(&pcap(false, false, 65535, number, &[(1, 1, b"x")]));
            assert_eq!(ok[0].1, link);
            assert_eq!(link.number(), number);
        }
        let err = CaptureReader::new(&pcap(false, false, 65535, 105, &[])[..], "wifi.pcap").err().unwrap();
        assert!(err.to_string().starts_with("wifi.pcap: link type ieee802_11 (105)"), "{err}");
        let err = CaptureReader::new(&b"hello world, not a capture"[..], "x.txt").err().unwrap();
        assert!(err.to_string().contains("not a pcap or pcapng file"), "{err}");
    }

    /// A pcapng block of `block_type` with `body` (padded to 32 bits).
    fn block(big: bool, block_type: u32, body: &[u8]) -> Vec<u8> {
        let u32b = |v: u32| if big { v.to_be_bytes() } else { v.to_le_bytes() };
        let padded = body.len().div_ceil(4) * 4;
        let len = (12 + padded) as u32;
        let mut out = Vec::new();
        out.extend_from_slice(&u32b(block_type));
        out.extend_from_slice(&u32b(len));
        out.extend_from_slice(body);
        out.resize(8 + padded, 0);
        out.extend_from_slice(&u32b(len));
        out
    }

    fn pcapng(big: bool, links: &[u16], packets: &[(u32, &[u8])]) -> Vec<u8> {
        let u32b = |v: u32| if big { v.to_be_bytes() } else { v.to_le_bytes() };
        let u16b = |v: u16| if big { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut shb = u32b(PCAPNG_BYTE_ORDER_MAGIC).to_vec();
        shb.extend_from_slice(&u16b(1));
        shb.extend_from_slice(&u16b(0));
        shb.extend_from_slice(&[0xff; 8]);
        let mut out = block(big, PCAPNG_SHB, &shb);
        for link in links {
            let mut idb = u16b(*link).to_vec();
            idb.extend_from_slice(&[0, 0]);
            idb.extend_from_slice(&u32b(0));
            // if_tsresol 9 (nanoseconds) and an option this reader does not know.
            idb.extend_from_slice(&u16b(9));
            idb.extend_from_slice(&u16b(1));
            idb.extend_from_slice(&[9, 0, 0, 0]);
            idb.extend_from_slice(&u16b(0x7777));
            idb.extend_from_slice(&u16b(3));
            idb.extend_from_slice(&[1, 2, 3, 0]);
            out.extend(block(big, block::IDB, &idb));
        }
        for (interface, data) in packets {
            let mut epb = u32b(*interface).to_vec();
            epb.extend_from_slice(&u32b(0));
            epb.extend_from_slice(&u32b(1_500));
            epb.extend_from_slice(&u32b(data.len() as u32));
            epb.extend_from_slice(&u32b(data.len() as u32));
            epb.extend_from_slice(data);
            out.extend(block(big, block::EPB, &epb));
        }
        out
    }

    #[test]
    fn pcapng_in_both_byte_orders_with_a_link_type_per_interface() {
        for big in [false, true] {
            let bytes = pcapng(big, &[1, 113], &[(0, b"eth"), (1, b"cooked"), (5, b"nobody")]);
            let mut reader = CaptureReader::new(&bytes[..], "t.pcapng").unwrap();
            let first = reader.next_record().unwrap().unwrap();
            assert_eq!((first.link, first.data, first.timestamp_ns), (LinkType::Ethernet, &b"eth"[..], 1_500));
            let second = reader.next_record().unwrap().unwrap();
            assert_eq!((second.index, second.link, second.data), (1, LinkType::LinuxSll, &b"cooked"[..]));
            let third = reader.next_record().unwrap().unwrap_err();
            assert_eq!((third.index, third.kind), (2, RecordErrorKind::Malformed));
            assert!(third.to_string().contains("interface 5"), "{third}");
            assert!(reader.next_record().is_none());
        }
    }

    #[test]
    fn pcapng_refuses_an_interface_it_cannot_walk_and_reports_a_cut_block() {
        let bytes = pcapng(false, &[127], &[(0, b"radio")]);
        let mut reader = CaptureReader::new(&bytes[..], "w.pcapng").unwrap();
        let err = reader.next_record().unwrap().unwrap_err();
        assert_eq!(err.kind, RecordErrorKind::UnsupportedLinkType);
        assert!(err.to_string().contains("ieee802_11_radiotap (127)"), "{err}");
        assert!(reader.next_record().is_none());

        let mut bytes = pcapng(false, &[1], &[(0, b"one"), (0, b"two")]);
        bytes.truncate(bytes.len() - 3);
        let (ok, errors) = read_all(&bytes);
        assert_eq!(ok.len(), 1);
        assert_eq!((errors[0].index, errors[0].kind), (1, RecordErrorKind::Truncated));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_reading_ends() {
        // A cheap stand-in for the fuzz target (fuzz/fuzz_targets/capture.rs): every prefix
        // of valid files, and each with one byte changed.
        let files = [
            pcap(false, false, 65535, 1, &[(3, 3, b"abc"), (2, 2, b"de")]),
            pcapng(true, &[1, 276], &[(0, b"eth"), (1, b"cooked")]),
        ];
        for file in &files {
            for cut in 0..file.len() {
                let _ = CaptureReader::new(&file[..cut], "t").map(|mut r| while r.next_record().is_some() {});
                let mut changed = file.clone();
                changed[cut] ^= 0x5a;
                let _ = CaptureReader::new(&changed[..], "t").map(|mut r| while r.next_record().is_some() {});
            }
        }
    }
}
