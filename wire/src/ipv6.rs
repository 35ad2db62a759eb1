//! IPv6 fixed header (RFC 8200 §3). Extension headers are in [`super::ipv6_ext`].

use std::net::Ipv6Addr;

use crate::bytes::{clamped, clamped_mut, read_u16, write_u16};
use crate::error::{check_len, ErrorKind, WireError};
use crate::layer::Layer;

/// The fixed header (RFC 8200 §3); extension headers follow it.
pub const HEADER_LEN: usize = 40;

mod field {
    pub(super) const VER_TC_FLOW: usize = 0;
    pub(super) const PAYLOAD_LEN: usize = 4;
    pub(super) const NEXT_HEADER: usize = 6;
    pub(super) const HOP_LIMIT: usize = 7;
    pub(super) const SRC: usize = 8;
    pub(super) const DST: usize = 24;
}

/// Offset of the destination address in the fixed header.
pub const DST_ADDR_OFFSET: usize = field::DST;
/// Offset of the source address in the fixed header.
pub const SRC_ADDR_OFFSET: usize = field::SRC;

/// A view over an IPv6 packet. After `new_checked`, the fixed header and the payload length
/// are known to fit the buffer; bytes past them (Ethernet padding) are never payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn addr_at(data: &[u8], at: usize) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&data[at..at + 16]);
    Ipv6Addr::from(octets)
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Checks version and payload length against the buffer (RFC 8200 §3).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let data = buffer.as_ref();
        check_len(Layer::Ipv6, data, HEADER_LEN)?;
        let version = data[field::VER_TC_FLOW] >> 4;
        if version != 6 {
            return Err(WireError::new(ErrorKind::BadVersion, Layer::Ipv6, 0, 6, version.into()));
        }
        let payload_len = usize::from(read_u16(data, field::PAYLOAD_LEN));
        // RFC 2675 §3: payload length 0 with a hop-by-hop header announces a jumbogram, whose
        // length is in the hop-by-hop Jumbo Payload option: the walker reads it
        // ([`super::ipv6_ext::jumbo_payload_len`]); this view's payload is then empty.
        if HEADER_LEN + payload_len > data.len() {
            return Err(WireError::new(
                ErrorKind::BadPayloadLength,
                Layer::Ipv6,
                0,
                HEADER_LEN + payload_len,
                data.len(),
            ));
        }
        Ok(Ipv6Packet { buffer })
    }

    /// The buffer, given back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version field.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FLOW] >> 4
    }

    /// The traffic class.
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (read_u16(self.buffer.as_ref(), field::VER_TC_FLOW) >> 4) as u8
    }

    /// The flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        let d = self.buffer.as_ref();
        u32::from_be_bytes([0, d[1] & 0x0f, d[2], d[3]])
    }

    /// Bytes after the fixed header, extension headers included.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PAYLOAD_LEN)
    }

    /// The next header number.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    /// The hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// The source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        addr_at(self.buffer.as_ref(), field::SRC)
    }

    /// The destination field. With a routing header in transit this is not the final
    /// destination: see [`super::Ipv6ExtChain::final_destination_offset`].
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        addr_at(self.buffer.as_ref(), field::DST)
    }

    /// Extension headers and upper layer, up to the payload length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), HEADER_LEN, HEADER_LEN + usize::from(self.payload_len()))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Writes the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = hop_limit;
    }

    /// Rewrites the payload length; accessors clamp it to the buffer.
    #[inline]
    pub fn set_payload_len(&mut self, payload_len: u16) {
        write_u16(self.buffer.as_mut(), field::PAYLOAD_LEN, payload_len);
    }

    /// Writes the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC..field::SRC + 16].copy_from_slice(&addr.octets());
    }

    /// Writes the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::DST..field::DST + 16].copy_from_slice(&addr.octets());
    }

    /// The bytes after the header, to write.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        clamped_mut(self.buffer.as_mut(), HEADER_LEN, end)
    }
}

/// The IPv6 fixed header as values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// The source address.
    pub src_addr: Ipv6Addr,
    /// The destination address.
    pub dst_addr: Ipv6Addr,
    /// The next header number.
    pub next_header: u8,
    /// The hop limit.
    pub hop_limit: u8,
    /// The traffic class.
    pub traffic_class: u8,
    /// 20 bits.
    pub flow_label: u32,
    /// Bytes after the fixed header, extension headers included.
    pub payload_len: usize,
}

impl Ipv6Repr {
    /// The header's fields, read from the view.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Ipv6Repr {
        Ipv6Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
            payload_len: usize::from(packet.payload_len()),
        }
    }

    /// The header's length in bytes.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the fixed header at the start of `buffer`; returns its length. A payload over
    /// 65535 bytes is `bad_payload_length` (no jumbograms).
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize, WireError> {
        check_len(Layer::Ipv6, buffer, HEADER_LEN)?;
        let Ok(payload_len) = u16::try_from(self.payload_len) else {
            return Err(WireError::new(
                ErrorKind::BadPayloadLength,
                Layer::Ipv6,
                0,
                self.payload_len,
                usize::from(u16::MAX),
            ));
        };
        let header = &mut buffer[..HEADER_LEN];
        let first = 6 << 28 | u32::from(self.traffic_class) << 20 | (self.flow_label & 0x000f_ffff);
        header[..4].copy_from_slice(&first.to_be_bytes());
        write_u16(header, field::PAYLOAD_LEN, payload_len);
        header[field::NEXT_HEADER] = self.next_header;
        header[field::HOP_LIMIT] = self.hop_limit;
        header[field::SRC..field::SRC + 16].copy_from_slice(&self.src_addr.octets());
        header[field::DST..field::DST + 16].copy_from_slice(&self.dst_addr.octets());
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(payload_len: usize) -> Ipv6Repr {
        Ipv6Repr {
            src_addr: "2001:db8::1".parse().unwrap(),
            dst_addr: "2001:db8::2".parse().unwrap(),
            next_header: 17,
            hop_limit: 64,
            traffic_class: 0xa5,
            flow_label: 0xbeef5,
            payload_len,
        }
    }

    #[test]
    fn repr_round_trip_and_padding_excluded() {
        let mut bytes = [0u8; 60];
        repr(8).emit(&mut bytes).unwrap();
        let packet = Ipv6Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&packet), repr(8));
        assert_eq!(packet.payload().len(), 8);
    }

    #[test]
    fn malformed_headers() {
        let mut bytes = [0u8; 48];
        repr(8).emit(&mut bytes).unwrap();
        let kind = |b: &[u8]| Ipv6Packet::new_checked(b).unwrap_err().kind;
        assert_eq!(kind(&bytes[..39]), ErrorKind::Truncated);
        assert_eq!(kind(&bytes[..47]), ErrorKind::BadPayloadLength);
        let mut b = bytes;
        b[0] = 0x40;
        assert_eq!(kind(&b), ErrorKind::BadVersion);
        // Payload length 0 with hop-by-hop options may be a jumbogram (RFC 2675 §3): the view
        // takes it with an empty payload, the walker reads the Jumbo Payload option.
        let mut jumbo = [0u8; 48];
        Ipv6Repr { next_header: 0, ..repr(0) }.emit(&mut jumbo).unwrap();
        assert_eq!(Ipv6Packet::new_checked(&jumbo[..]).unwrap().payload(), &[] as &[u8]);
        let mut empty = [0u8; 40];
        Ipv6Repr { next_header: 59, ..repr(0) }.emit(&mut empty).unwrap();
        assert!(Ipv6Packet::new_checked(&empty[..]).is_ok(), "no next header, no payload: fine");
    }

    #[test]
    fn setters() {
        let mut bytes = [0u8; 48];
        repr(8).emit(&mut bytes).unwrap();
        let mut packet = Ipv6Packet::new_checked(&mut bytes[..]).unwrap();
        packet.set_hop_limit(3);
        packet.set_payload_len(5000);
        assert_eq!(packet.payload().len(), 8, "clamped");
        packet.set_payload_len(4);
        assert_eq!((packet.hop_limit(), packet.payload().len()), (3, 4));
    }
}
