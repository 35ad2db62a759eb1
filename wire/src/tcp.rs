//! TCP header with options (RFC 9293 §3.1).

use crate::bytes::{clamped, clamped_mut, read_u16, read_u32, write_u16, write_u32};
use crate::error::{check_len, ErrorKind, WireError};
use crate::layer::Layer;

/// The header without options (data offset 5).
pub const MIN_HEADER_LEN: usize = 20;

mod field {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const SEQ: usize = 4;
    pub(super) const ACK: usize = 8;
    pub(super) const OFFSET_FLAGS: usize = 12;
    pub(super) const WINDOW: usize = 14;
    pub(super) const CHECKSUM: usize = 16;
    pub(super) const URGENT: usize = 18;
}

/// A view over a TCP segment; the buffer is the IP payload. After `new_checked` the header
/// with its options fits it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Checks that the data offset is at least 5 and the header it gives fits (RFC 9293 §3.1).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let data = buffer.as_ref();
        check_len(Layer::Tcp, data, MIN_HEADER_LEN)?;
        let header_len = usize::from(data[field::OFFSET_FLAGS] >> 4) * 4;
        if header_len < MIN_HEADER_LEN {
            return Err(WireError::new(ErrorKind::BadTcpOffset, Layer::Tcp, 0, MIN_HEADER_LEN, header_len));
        }
        if header_len > data.len() {
            return Err(WireError::new(ErrorKind::BadTcpOffset, Layer::Tcp, 0, header_len, data.len()));
        }
        Ok(TcpPacket { buffer })
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

    /// The sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQ)
    }

    /// The acknowledgment number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::ACK)
    }

    /// Data offset in bytes, 20..=60.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::OFFSET_FLAGS] >> 4) * 4
    }

    /// The control bits CWR..FIN (the low byte of the offset/flags word).
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::OFFSET_FLAGS + 1]
    }

    /// The receive window.
    #[inline]
    pub fn window(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WINDOW)
    }

    /// The checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The urgent pointer.
    #[inline]
    pub fn urgent_pointer(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// The options: the bytes between the fixed header and the data offset.
    #[inline]
    pub fn options(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), MIN_HEADER_LEN, self.header_len())
    }

    /// The segment data: everything after the header (TCP has no length of its own).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), self.header_len(), usize::MAX)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Writes the checksum.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, checksum);
    }

    /// The bytes after the header, to write.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        clamped_mut(self.buffer.as_mut(), start, usize::MAX)
    }
}

/// A TCP header without options as values. The checksum is the caller's: `emit` writes 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcpRepr {
    /// The source port.
    pub src_port: u16,
    /// The destination port.
    pub dst_port: u16,
    /// The sequence number.
    pub seq_number: u32,
    /// The acknowledgment number.
    pub ack_number: u32,
    /// The 12 bits after the data offset: 3 reserved, then AE (RFC 3540 / RFC 9293 §3.1),
    /// CWR, ECE, URG, ACK, PSH, RST, SYN, FIN (0x001).
    pub flags: u16,
    /// The receive window.
    pub window: u16,
}

impl TcpRepr {
    /// Reads the fixed header; options are skipped.
    pub fn parse<T: AsRef<[u8]>>(packet: &TcpPacket<T>) -> TcpRepr {
        let d = packet.buffer.as_ref();
        TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            ack_number: packet.ack_number(),
            flags: read_u16(d, field::OFFSET_FLAGS) & 0x0fff,
            window: packet.window(),
        }
    }

    /// The header's length in bytes.
    pub const fn header_len(&self) -> usize {
        MIN_HEADER_LEN
    }

    /// Writes a 20-byte header (data offset 5, checksum and urgent pointer 0) at the start of
    /// `buffer`; returns its length.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize, WireError> {
        check_len(Layer::Tcp, buffer, MIN_HEADER_LEN)?;
        write_u16(buffer, field::SRC_PORT, self.src_port);
        write_u16(buffer, field::DST_PORT, self.dst_port);
        write_u32(buffer, field::SEQ, self.seq_number);
        write_u32(buffer, field::ACK, self.ack_number);
        write_u16(buffer, field::OFFSET_FLAGS, 5 << 12 | (self.flags & 0x0fff));
        write_u16(buffer, field::WINDOW, self.window);
        write_u16(buffer, field::CHECKSUM, 0);
        write_u16(buffer, field::URGENT, 0);
        Ok(MIN_HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SYN with an MSS option (data offset 6).
    const SEGMENT: [u8; 26] = [
        0x04, 0x00, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0xff, 0xff, 0x12, 0x34, 0, 0, 2, 4, 5, 0xb4, 0xde,
        0xad,
    ];

    #[test]
    fn reads_fields_and_options() {
        let segment = TcpPacket::new_checked(&SEGMENT[..]).unwrap();
        assert_eq!((segment.src_port(), segment.dst_port(), segment.seq_number()), (1024, 80, 1));
        assert_eq!((segment.header_len(), segment.flags(), segment.window()), (24, 0x02, 0xffff));
        assert_eq!(segment.options(), &[2, 4, 5, 0xb4]);
        assert_eq!(segment.payload(), &[0xde, 0xad]);
        assert_eq!(segment.checksum(), 0x1234);
    }

    #[test]
    fn bad_offsets() {
        let kind = |b: &[u8]| TcpPacket::new_checked(b).unwrap_err().kind;
        assert_eq!(kind(&SEGMENT[..19]), ErrorKind::Truncated);
        assert_eq!(kind(&SEGMENT[..23]), ErrorKind::BadTcpOffset, "options cut off");
        let mut b = SEGMENT;
        b[12] = 0x40;
        assert_eq!(kind(&b), ErrorKind::BadTcpOffset);
    }

    #[test]
    fn repr_round_trip() {
        let repr = TcpRepr { src_port: 1, dst_port: 80, seq_number: 7, ack_number: 9, flags: 0x112, window: 512 };
        let mut bytes = [0xffu8; 24];
        assert_eq!(repr.emit(&mut bytes), Ok(20));
        let segment = TcpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!((segment.header_len(), segment.flags(), segment.checksum()), (20, 0x12, 0));
        assert_eq!(TcpRepr::parse(&segment), repr);
        assert_eq!(repr.emit(&mut [0u8; 19]).unwrap_err().kind, ErrorKind::Truncated);
    }

    #[test]
    fn set_checksum() {
        let mut b = SEGMENT;
        let mut segment = TcpPacket::new_checked(&mut b[..]).unwrap();
        segment.set_checksum(0xbeef);
        assert_eq!(segment.checksum(), 0xbeef);
    }
}
