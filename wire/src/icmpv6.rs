//! ICMPv6 (RFC 4443).

use crate::bytes::{clamped, read_u16, write_u16};
use crate::error::{check_len, WireError};
use crate::layer::Layer;

/// Type, code and checksum: the part every message shares (RFC 4443 §2.1).
pub const HEADER_LEN: usize = 4;

/// A view over an ICMPv6 message; the buffer is the IP payload after extension headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// A view over `buffer`, once its length is checked against the header.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        check_len(Layer::Icmpv6, buffer.as_ref(), HEADER_LEN)?;
        Ok(Icmpv6Packet { buffer })
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

    /// Covers the message and the IPv6 pseudo-header (RFC 4443 §2.3).
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), 2)
    }

    /// The message body after type, code and checksum.
    #[inline]
    pub fn body(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), HEADER_LEN, usize::MAX)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
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
        let mut bytes = [128, 0, 0x12, 0x34, 0, 1, 0, 1];
        let mut message = Icmpv6Packet::new_checked(&mut bytes[..]).unwrap();
        assert_eq!((message.msg_type(), message.code(), message.checksum()), (128, 0, 0x1234));
        assert_eq!(message.body(), &[0, 1, 0, 1]);
        message.set_checksum(0);
        assert_eq!(message.checksum(), 0);
        assert!(Icmpv6Packet::new_checked(&bytes[..3]).is_err());
    }
}
