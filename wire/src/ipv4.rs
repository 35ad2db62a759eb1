//! IPv4 header with options (RFC 791 §3.1).

use std::net::Ipv4Addr;

use crate::csum::ipv4_header_sum;

use crate::bytes::{clamped, clamped_mut, read_u16, write_u16};
use crate::error::{check_len, ErrorKind, WireError};
use crate::layer::{Fragment, Layer};

/// The header without options (IHL 5).
pub const MIN_HEADER_LEN: usize = 20;

mod field {
    pub(super) const VER_IHL: usize = 0;
    pub(super) const TOS: usize = 1;
    pub(super) const TOTAL_LEN: usize = 2;
    pub(super) const IDENT: usize = 4;
    pub(super) const FLAGS_FRAG: usize = 6;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTOCOL: usize = 9;
    pub(super) const CHECKSUM: usize = 10;
    pub(super) const SRC: usize = 12;
    pub(super) const DST: usize = 16;
}

/// Offset of the source address.
pub const SRC_ADDR_OFFSET: usize = field::SRC;
/// Offset of the destination address.
pub const DST_ADDR_OFFSET: usize = field::DST;

const FLAG_DONT_FRAGMENT: u16 = 0x4000;
const FLAG_MORE_FRAGMENTS: u16 = 0x2000;
const FRAGMENT_OFFSET_MASK: u16 = 0x1fff;

/// A view over an IPv4 packet. After `new_checked`, the header (with options) and the total
/// length are known to fit the buffer; bytes past the total length (Ethernet padding) are
/// never part of [`payload`](Self::payload).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Checks version, IHL and total length against the buffer (RFC 791 §3.1).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let data = buffer.as_ref();
        check_len(Layer::Ipv4, data, MIN_HEADER_LEN)?;
        let version = data[field::VER_IHL] >> 4;
        if version != 4 {
            return Err(WireError::new(ErrorKind::BadVersion, Layer::Ipv4, 0, 4, version.into()));
        }
        // RFC 791 §3.1: "the minimum value for a correct header is 5".
        let header_len = usize::from(data[field::VER_IHL] & 0x0f) * 4;
        if header_len < MIN_HEADER_LEN {
            return Err(WireError::new(ErrorKind::BadIhl, Layer::Ipv4, 0, MIN_HEADER_LEN, header_len));
        }
        check_len(Layer::Ipv4, data, header_len)?;
        // RFC 791 §3.1: total length counts header and data, so it covers at least the header,
        // and what it declares must be here.
        let total_len = usize::from(read_u16(data, field::TOTAL_LEN));
        if total_len < header_len {
            return Err(WireError::new(ErrorKind::BadTotalLength, Layer::Ipv4, 0, header_len, total_len));
        }
        if total_len > data.len() {
            return Err(WireError::new(ErrorKind::BadTotalLength, Layer::Ipv4, 0, total_len, data.len()));
        }
        Ok(Ipv4Packet { buffer })
    }

    /// A view without the total-length check, for a header `new_checked` refused with
    /// [`ErrorKind::BadTotalLength`] (which it checks last): the caller knows the header, IHL
    /// included, is in `buffer`, so the header accessors cannot panic.
    pub(crate) fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// The buffer, given back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version field.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// IHL in bytes, 20..=60.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The DSCP (the top six bits of the TOS byte).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::TOS] >> 2
    }

    /// The ECN bits (the low two bits of the TOS byte).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::TOS] & 3
    }

    /// Header plus data, in bytes.
    #[inline]
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::TOTAL_LEN)
    }

    /// The identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// The Don't Fragment flag.
    #[inline]
    pub fn dont_fragment(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & FLAG_DONT_FRAGMENT != 0
    }

    /// The More Fragments flag.
    #[inline]
    pub fn more_fragments(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & FLAG_MORE_FRAGMENTS != 0
    }

    /// The fragment offset in bytes (the field counts 8-byte units).
    #[inline]
    pub fn fragment_offset(&self) -> u16 {
        (read_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & FRAGMENT_OFFSET_MASK) << 3
    }

    /// MF set or offset != 0 makes a fragment (RFC 791 §3.2).
    #[inline]
    pub fn fragment(&self) -> Fragment {
        Fragment::from_offset(self.fragment_offset(), self.more_fragments())
    }

    /// The time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// The protocol number of the payload.
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// The checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        let d = self.buffer.as_ref();
        Ipv4Addr::new(d[field::SRC], d[field::SRC + 1], d[field::SRC + 2], d[field::SRC + 3])
    }

    /// The destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let d = self.buffer.as_ref();
        Ipv4Addr::new(d[field::DST], d[field::DST + 1], d[field::DST + 2], d[field::DST + 3])
    }

    /// The options, `header_len - 20` bytes.
    #[inline]
    pub fn options(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), MIN_HEADER_LEN, self.header_len())
    }

    /// The data up to the total length: Ethernet padding stays out.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), self.header_len(), usize::from(self.total_len()))
    }

    /// True when the header checksum is right (RFC 791 §3.1: the header sums to 0xffff).
    pub fn verify_checksum(&self) -> bool {
        ipv4_header_sum(clamped(self.buffer.as_ref(), 0, self.header_len())) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Writes the time to live.
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    /// Writes the checksum.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, checksum);
    }

    /// Rewrites the total length; accessors clamp it to the buffer, so a bigger value cannot
    /// make them panic.
    #[inline]
    pub fn set_total_len(&mut self, total_len: u16) {
        write_u16(self.buffer.as_mut(), field::TOTAL_LEN, total_len);
    }

    /// Writes the identification.
    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT, ident);
    }

    /// Writes the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC..field::SRC + 4].copy_from_slice(&addr.octets());
    }

    /// Writes the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::DST..field::DST + 4].copy_from_slice(&addr.octets());
    }

    /// Computes and writes the header checksum (RFC 791 §3.1, RFC 1071).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let header_len = self.header_len();
        let sum = ipv4_header_sum(clamped(self.buffer.as_ref(), 0, header_len));
        self.set_checksum(!sum);
    }

    /// The bytes after the header, to write.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), usize::from(self.total_len()));
        clamped_mut(self.buffer.as_mut(), start, end)
    }
}

/// An IPv4 header (without options) as values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// The source address.
    pub src_addr: Ipv4Addr,
    /// The destination address.
    pub dst_addr: Ipv4Addr,
    /// The protocol number of the payload.
    pub protocol: u8,
    /// The time to live.
    pub ttl: u8,
    /// DSCP << 2 | ECN.
    pub tos: u8,
    /// The identification.
    pub ident: u16,
    /// The Don't Fragment flag.
    pub dont_fragment: bool,
    /// The More Fragments flag.
    pub more_fragments: bool,
    /// In bytes, a multiple of 8.
    pub fragment_offset: u16,
    /// Bytes after the header.
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// Reads the fields; options are skipped (they count in neither `payload_len` nor `emit`).
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Ipv4Repr {
        let d = packet.buffer.as_ref();
        Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            ttl: packet.ttl(),
            tos: d[field::TOS],
            ident: packet.ident(),
            dont_fragment: packet.dont_fragment(),
            more_fragments: packet.more_fragments(),
            fragment_offset: packet.fragment_offset(),
            payload_len: usize::from(packet.total_len()).saturating_sub(packet.header_len()),
        }
    }

    /// The header's length in bytes.
    pub const fn header_len(&self) -> usize {
        MIN_HEADER_LEN
    }

    /// Writes a 20-byte header with a correct checksum at the start of `buffer`; returns its
    /// length. A payload that does not fit the 16-bit total length is `bad_total_length`.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize, WireError> {
        check_len(Layer::Ipv4, buffer, MIN_HEADER_LEN)?;
        let total_len = MIN_HEADER_LEN + self.payload_len;
        let Ok(total_len) = u16::try_from(total_len) else {
            return Err(WireError::new(ErrorKind::BadTotalLength, Layer::Ipv4, 0, total_len, usize::from(u16::MAX)));
        };
        let header = &mut buffer[..MIN_HEADER_LEN];
        header[field::VER_IHL] = 0x45;
        header[field::TOS] = self.tos;
        write_u16(header, field::TOTAL_LEN, total_len);
        write_u16(header, field::IDENT, self.ident);
        let mut flags_frag = (self.fragment_offset >> 3) & FRAGMENT_OFFSET_MASK;
        if self.dont_fragment {
            flags_frag |= FLAG_DONT_FRAGMENT;
        }
        if self.more_fragments {
            flags_frag |= FLAG_MORE_FRAGMENTS;
        }
        write_u16(header, field::FLAGS_FRAG, flags_frag);
        header[field::TTL] = self.ttl;
        header[field::PROTOCOL] = self.protocol;
        header[field::SRC..field::SRC + 4].copy_from_slice(&self.src_addr.octets());
        header[field::DST..field::DST + 4].copy_from_slice(&self.dst_addr.octets());
        write_u16(header, field::CHECKSUM, 0);
        let checksum = !ipv4_header_sum(header);
        write_u16(header, field::CHECKSUM, checksum);
        Ok(MIN_HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classic example header from the checksum tests, total length 0x73 = 115.
    const HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
        0x00, 0xc7,
    ];

    fn packet(total: usize) -> Vec<u8> {
        let mut bytes = HEADER.to_vec();
        bytes.resize(total, 0xaa);
        bytes
    }

    #[test]
    fn reads_fields() {
        let bytes = packet(115 + 6); // six bytes of trailing padding
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.version(), 4);
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.total_len(), 115);
        assert!(packet.dont_fragment() && !packet.more_fragments());
        assert_eq!(packet.fragment(), Fragment::NotFragment);
        assert_eq!(packet.ttl(), 64);
        assert_eq!(packet.protocol(), 17);
        assert_eq!(packet.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(packet.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        assert_eq!(packet.payload().len(), 95, "padding is not payload");
        assert!(packet.verify_checksum());
    }

    #[test]
    fn malformed_headers() {
        let bytes = packet(115);
        let kind = |b: &[u8]| Ipv4Packet::new_checked(b).unwrap_err().kind;
        assert_eq!(kind(&bytes[..19]), ErrorKind::Truncated);
        let mut b = bytes.clone();
        b[0] = 0x65;
        assert_eq!(kind(&b), ErrorKind::BadVersion);
        b[0] = 0x44; // IHL 4
        let error = Ipv4Packet::new_checked(&b[..]).unwrap_err();
        assert_eq!((error.kind, error.needed, error.available), (ErrorKind::BadIhl, 20, 16));
        b[0] = 0x4f; // IHL 15 = 60 bytes, fine with 115 total
        assert!(Ipv4Packet::new_checked(&b[..]).is_ok());
        assert_eq!(kind(&b[..40]), ErrorKind::Truncated, "options cut off");
        b[0] = 0x45;
        b[3] = 19; // total length below the header
        assert_eq!(kind(&b), ErrorKind::BadTotalLength);
        b[3] = 116; // one past the buffer
        let error = Ipv4Packet::new_checked(&b[..]).unwrap_err();
        assert_eq!((error.kind, error.needed, error.available), (ErrorKind::BadTotalLength, 116, 115));
    }

    #[test]
    fn options_and_fragments() {
        let mut b = packet(28);
        b[0] = 0x46; // IHL 6: four bytes of options
        b[2..4].copy_from_slice(&28u16.to_be_bytes());
        b[20..24].copy_from_slice(&[0x01, 0x01, 0x01, 0x00]); // NOP NOP NOP EOL
        b[6..8].copy_from_slice(&0x2000u16.to_be_bytes()); // MF, offset 0
        let packet = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(packet.options(), &[1, 1, 1, 0]);
        assert_eq!(packet.payload().len(), 4);
        assert_eq!(packet.fragment(), Fragment::First);
        b[6..8].copy_from_slice(&0x0003u16.to_be_bytes()); // offset 3 units, MF clear
        let packet = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!((packet.fragment_offset(), packet.fragment()), (24, Fragment::Later));
    }

    #[test]
    fn setters_keep_accessors_safe() {
        let mut bytes = packet(40);
        bytes[2..4].copy_from_slice(&40u16.to_be_bytes());
        let mut packet = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        packet.set_ttl(1);
        packet.set_ident(0x1234);
        packet.set_total_len(9000);
        assert_eq!(packet.payload().len(), 20, "clamped to the buffer");
        packet.set_total_len(40);
        packet.fill_checksum();
        assert!(packet.verify_checksum());
        assert_eq!((packet.ttl(), packet.ident()), (1, 0x1234));
    }

    #[test]
    fn repr_round_trip() {
        let repr = Ipv4Repr {
            src_addr: Ipv4Addr::new(198, 18, 0, 1),
            dst_addr: Ipv4Addr::new(198, 19, 0, 1),
            protocol: 6,
            ttl: 64,
            tos: 0xb8,
            ident: 7,
            dont_fragment: false,
            more_fragments: true,
            fragment_offset: 1480,
            payload_len: 12,
        };
        let mut bytes = [0u8; 32];
        assert_eq!(repr.emit(&mut bytes), Ok(20));
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert!(packet.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&packet), repr);
        let too_big = Ipv4Repr { payload_len: 65_516, ..repr };
        assert_eq!(too_big.emit(&mut bytes).unwrap_err().kind, ErrorKind::BadTotalLength);
    }
}
