//! ICMP for IPv4 (RFC 792).

use crate::bytes::{clamped, read_u16, write_u16};
use crate::error::{check_len, WireError};
use crate::layer::Layer;

/// Type, code, checksum and the 4-byte rest of header every message has (RFC 792).
pub const HEADER_LEN: usize = 8;

/// A view over an ICMP message; the buffer is the IP payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// A view over `buffer`, once its length is checked against the header.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        check_len(Layer::Icmp, buffer.as_ref(), HEADER_LEN)?;
        Ok(IcmpPacket { buffer })
    }

    /// The buffer, given back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The message type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// The code.
    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    /// Covers the whole ICMP message, no pseudo-header (RFC 792).
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), 2)
    }

    /// Identifier and sequence for echo, unused or pointer for others.
    #[inline]
    pub fn rest_of_header(&self) -> [u8; 4] {
        let d = self.buffer.as_ref();
        [d[4], d[5], d[6], d[7]]
    }

    /// The bytes after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), HEADER_LEN, usize::MAX)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    /// Writes the checksum.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(self.buffer.as_mut(), 2, checksum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request() {
        let mut bytes = [8, 0, 0xf7, 0xfe, 0, 1, 0, 0, 0xaa];
        let mut message = IcmpPacket::new_checked(&mut bytes[..]).unwrap();
        assert_eq!((message.msg_type(), message.code(), message.checksum()), (8, 0, 0xf7fe));
        assert_eq!((message.rest_of_header(), message.payload()), ([0, 1, 0, 0], &[0xaa][..]));
        message.set_checksum(1);
        assert_eq!(message.checksum(), 1);
        assert!(IcmpPacket::new_checked(&bytes[..7]).is_err());
    }
}
