//! UDP header (RFC 768).

use crate::bytes::{clamped, clamped_mut, read_u16, write_u16};
use crate::error::{check_len, ErrorKind, WireError};
use crate::layer::Layer;

/// Source port, destination port, length, checksum (RFC 768).
pub const HEADER_LEN: usize = 8;

mod field {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const LENGTH: usize = 4;
    pub(super) const CHECKSUM: usize = 6;
}

/// A view over a UDP datagram. The buffer is the IP payload; after `new_checked` the UDP
/// length is at least 8 and fits it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

fn check_length_field(data: &[u8]) -> Result<usize, WireError> {
    check_len(Layer::Udp, data, HEADER_LEN)?;
    // RFC 768: "Length is the length in octets of this user datagram including this header",
    // so at least 8.
    let length = usize::from(read_u16(data, field::LENGTH));
    if length < HEADER_LEN {
        return Err(WireError::new(ErrorKind::BadUdpLength, Layer::Udp, 0, HEADER_LEN, length));
    }
    Ok(length)
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Checks the header and that the UDP length is between 8 and the buffer (the IP payload).
    /// A shorter UDP length than the IP payload is accepted: the rest is not UDP's.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let data = buffer.as_ref();
        let length = check_length_field(data)?;
        if length > data.len() {
            return Err(WireError::new(ErrorKind::BadUdpLength, Layer::Udp, 0, length, data.len()));
        }
        Ok(UdpPacket { buffer })
    }

    /// For the first fragment of a datagram: the UDP length counts the whole datagram, most of
    /// which is in later fragments, so only `length >= 8` is checked. [`payload`](Self::payload)
    /// then ends at the buffer.
    pub fn new_checked_first_fragment(buffer: T) -> Result<Self, WireError> {
        check_length_field(buffer.as_ref())?;
        Ok(UdpPacket { buffer })
    }

    /// The buffer, given back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// The destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Header plus data, in bytes.
    #[inline]
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Never true after `new_checked` unless a setter wrote a length below 8.
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// 0 means "no checksum", allowed over IPv4 only (RFC 768; RFC 8200 §8.1 forbids it over
    /// IPv6). Verification belongs to the checksum code.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The data, up to the UDP length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), HEADER_LEN, usize::from(self.len()))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Writes the source port.
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT, port);
    }

    /// Writes the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT, port);
    }

    /// Rewrites the length; accessors clamp it to the buffer.
    #[inline]
    pub fn set_len(&mut self, length: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, length);
    }

    /// Writes the checksum.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, checksum);
    }

    /// The bytes after the header, to write.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        clamped_mut(self.buffer.as_mut(), HEADER_LEN, end)
    }
}

/// A UDP header as values; the checksum is the caller's (it needs the IP pseudo-header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    /// The source port.
    pub src_port: u16,
    /// The destination port.
    pub dst_port: u16,
    /// Bytes after the header.
    pub payload_len: usize,
}

impl UdpRepr {
    /// The header's fields, read from the view.
    pub fn parse<T: AsRef<[u8]>>(packet: &UdpPacket<T>) -> UdpRepr {
        UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload_len: usize::from(packet.len()).saturating_sub(HEADER_LEN),
        }
    }

    /// The header's length in bytes.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header with checksum 0 at the start of `buffer`; returns its length.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize, WireError> {
        check_len(Layer::Udp, buffer, HEADER_LEN)?;
        let length = HEADER_LEN + self.payload_len;
        let Ok(length) = u16::try_from(length) else {
            return Err(WireError::new(ErrorKind::BadUdpLength, Layer::Udp, 0, length, usize::from(u16::MAX)));
        };
        let mut packet = UdpPacket { buffer };
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(length);
        packet.set_checksum(0);
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATAGRAM: [u8; 12] = [0x04, 0x00, 0x12, 0xb5, 0x00, 0x0c, 0xab, 0xcd, 1, 2, 3, 4];

    #[test]
    fn reads_fields() {
        let packet = UdpPacket::new_checked(&DATAGRAM[..]).unwrap();
        assert_eq!((packet.src_port(), packet.dst_port(), packet.len()), (1024, 4789, 12));
        assert_eq!((packet.checksum(), packet.payload()), (0xabcd, &[1u8, 2, 3, 4][..]));
        assert_eq!(UdpRepr::parse(&packet), UdpRepr { src_port: 1024, dst_port: 4789, payload_len: 4 });
    }

    #[test]
    fn lengths() {
        let kind = |b: &[u8]| UdpPacket::new_checked(b).unwrap_err().kind;
        assert_eq!(kind(&DATAGRAM[..7]), ErrorKind::Truncated);
        assert_eq!(kind(&DATAGRAM[..11]), ErrorKind::BadUdpLength, "length beyond the IP payload");
        let mut short = DATAGRAM;
        short[5] = 7;
        assert_eq!(kind(&short), ErrorKind::BadUdpLength, "length below 8");
        short[5] = 10; // smaller than the IP payload: fine, the payload ends at the UDP length
        assert_eq!(UdpPacket::new_checked(&short[..]).unwrap().payload(), &[1, 2]);
        let first = UdpPacket::new_checked_first_fragment(&DATAGRAM[..10]).unwrap();
        assert_eq!(first.payload(), &[1, 2], "first fragment: payload ends at the buffer");
    }

    #[test]
    fn emit_and_rewrite() {
        let mut bytes = [0u8; 12];
        UdpRepr { src_port: 1, dst_port: 2, payload_len: 4 }.emit(&mut bytes).unwrap();
        let mut packet = UdpPacket::new_checked(&mut bytes[..]).unwrap();
        packet.set_checksum(0xffff);
        packet.set_len(0xffff);
        assert_eq!(packet.payload().len(), 4, "clamped");
        assert_eq!(packet.checksum(), 0xffff);
    }
}
