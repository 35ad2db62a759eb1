//! GRE (RFC 2784) with the key and sequence number extensions (RFC 2890).

use crate::bytes::{clamped, read_u16, read_u32, write_u16, write_u32};
use crate::error::{check_len, ErrorKind, WireError};
use crate::layer::Layer;

/// Flags/version word and protocol type.
pub const MIN_HEADER_LEN: usize = 4;
/// With checksum, key and sequence number.
pub const MAX_HEADER_LEN: usize = 16;

/// Bit 0: checksum and reserved1 present (RFC 2784 §2.1).
pub const FLAG_CHECKSUM: u16 = 0x8000;
/// Bit 2: key present (RFC 2890 §2).
pub const FLAG_KEY: u16 = 0x2000;
/// Bit 3: sequence number present (RFC 2890 §2).
pub const FLAG_SEQUENCE: u16 = 0x1000;
/// Bits 1, 4 and 5 (RFC 1701's routing, strict source route and recursion bits). RFC 2784
/// §2.3: a receiver "MUST discard a packet where any of bits 1-5 are non-zero"; bits 2 and 3
/// became K and S in RFC 2890. Bits 6-12 "MUST be ignored on receipt", so they are not here.
pub const FLAGS_MUST_BE_ZERO: u16 = 0x4c00;
const VERSION_MASK: u16 = 0x0007;

/// A view over a GRE header and its payload. After `new_checked` the flags are valid and the
/// optional fields they announce fit the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrePacket<T: AsRef<[u8]>> {
    buffer: T,
}

#[inline]
const fn header_len_for(flags: u16) -> usize {
    let mut len = MIN_HEADER_LEN;
    if flags & FLAG_CHECKSUM != 0 {
        len += 4;
    }
    if flags & FLAG_KEY != 0 {
        len += 4;
    }
    if flags & FLAG_SEQUENCE != 0 {
        len += 4;
    }
    len
}

impl<T: AsRef<[u8]>> GrePacket<T> {
    /// Checks version (RFC 2784 §2.3.1: must be 0), the reserved bits 1-5 (§2.3) and that
    /// the optional fields fit.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let data = buffer.as_ref();
        check_len(Layer::Gre, data, MIN_HEADER_LEN)?;
        let flags = read_u16(data, 0);
        if flags & VERSION_MASK != 0 {
            return Err(WireError::new(ErrorKind::BadGreVersion, Layer::Gre, 0, 0, (flags & VERSION_MASK).into()));
        }
        if flags & FLAGS_MUST_BE_ZERO != 0 {
            return Err(WireError::new(ErrorKind::BadGreFlags, Layer::Gre, 0, 0, flags.into()));
        }
        check_len(Layer::Gre, data, header_len_for(flags))?;
        Ok(GrePacket { buffer })
    }

    /// The buffer, given back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn flags(&self) -> u16 {
        read_u16(self.buffer.as_ref(), 0)
    }

    /// The C bit: the header carries a checksum.
    #[inline]
    pub fn checksum_present(&self) -> bool {
        self.flags() & FLAG_CHECKSUM != 0
    }

    /// The K bit: the header carries a key.
    #[inline]
    pub fn key_present(&self) -> bool {
        self.flags() & FLAG_KEY != 0
    }

    /// The S bit: the header carries a sequence number.
    #[inline]
    pub fn sequence_present(&self) -> bool {
        self.flags() & FLAG_SEQUENCE != 0
    }

    /// The version field.
    #[inline]
    pub fn version(&self) -> u8 {
        (self.flags() & VERSION_MASK) as u8
    }

    /// EtherType of the payload: 0x6558 Ethernet, 0x0800 IPv4, 0x86dd IPv6 (RFC 2784 §2.4).
    #[inline]
    pub fn protocol_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), 2)
    }

    /// 4, 8, 12 or 16 bytes.
    #[inline]
    pub fn header_len(&self) -> usize {
        header_len_for(self.flags())
    }

    /// Offset of the checksum field in this header, when the C bit says there is one.
    #[inline]
    pub fn checksum_offset(&self) -> Option<usize> {
        self.checksum_present().then_some(MIN_HEADER_LEN)
    }

    /// The checksum over header and payload (RFC 2784 §2.5), when present.
    #[inline]
    pub fn checksum(&self) -> Option<u16> {
        self.checksum_present().then(|| read_u16(self.buffer.as_ref(), MIN_HEADER_LEN))
    }

    #[inline]
    fn key_offset(&self) -> usize {
        MIN_HEADER_LEN + if self.checksum_present() { 4 } else { 0 }
    }

    /// RFC 2890 §2.1.
    #[inline]
    pub fn key(&self) -> Option<u32> {
        self.key_present().then(|| read_u32(self.buffer.as_ref(), self.key_offset()))
    }

    /// RFC 2890 §2.2.
    #[inline]
    pub fn sequence(&self) -> Option<u32> {
        let at = self.key_offset() + if self.key_present() { 4 } else { 0 };
        self.sequence_present().then(|| read_u32(self.buffer.as_ref(), at))
    }

    /// The bytes after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), self.header_len(), usize::MAX)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GrePacket<T> {
    /// Writes the checksum field; returns false (and writes nothing) if the C bit is clear.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) -> bool {
        let present = self.checksum_present();
        if present {
            write_u16(self.buffer.as_mut(), MIN_HEADER_LEN, checksum);
        }
        present
    }
}

/// A GRE header as values. The checksum value is the caller's: `emit` writes 0 there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GreRepr {
    /// The protocol type of the payload (an EtherType).
    pub protocol_type: u16,
    /// The C bit: the header carries a checksum.
    pub checksum_present: bool,
    /// The key, when the K bit is set.
    pub key: Option<u32>,
    /// The sequence number, when the S bit is set.
    pub sequence: Option<u32>,
}

impl GreRepr {
    /// The header's fields, read from the view.
    pub fn parse<T: AsRef<[u8]>>(packet: &GrePacket<T>) -> GreRepr {
        GreRepr {
            protocol_type: packet.protocol_type(),
            checksum_present: packet.checksum_present(),
            key: packet.key(),
            sequence: packet.sequence(),
        }
    }

    /// The header's length in bytes.
    pub const fn header_len(&self) -> usize {
        header_len_for(self.flags())
    }

    const fn flags(&self) -> u16 {
        let mut flags = 0;
        if self.checksum_present {
            flags |= FLAG_CHECKSUM;
        }
        if self.key.is_some() {
            flags |= FLAG_KEY;
        }
        if self.sequence.is_some() {
            flags |= FLAG_SEQUENCE;
        }
        flags
    }

    /// Writes the header at the start of `buffer`; returns its length.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize, WireError> {
        let len = self.header_len();
        check_len(Layer::Gre, buffer, len)?;
        write_u16(buffer, 0, self.flags());
        write_u16(buffer, 2, self.protocol_type);
        let mut at = MIN_HEADER_LEN;
        if self.checksum_present {
            write_u32(buffer, at, 0); // checksum and reserved1
            at += 4;
        }
        if let Some(key) = self.key {
            write_u32(buffer, at, key);
            at += 4;
        }
        if let Some(sequence) = self.sequence {
            write_u32(buffer, at, sequence);
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_optional_fields() {
        let repr = GreRepr { protocol_type: 0x6558, checksum_present: true, key: Some(0xdead_beef), sequence: Some(7) };
        let mut bytes = [0u8; 18];
        assert_eq!(repr.emit(&mut bytes), Ok(16));
        assert_eq!(bytes[..4], [0xb0, 0x00, 0x65, 0x58]);
        let mut packet = GrePacket::new_checked(&mut bytes[..]).unwrap();
        assert_eq!(GreRepr::parse(&packet), repr);
        assert_eq!((packet.header_len(), packet.checksum_offset(), packet.payload().len()), (16, Some(4), 2));
        assert!(packet.set_checksum(0x1234));
        assert_eq!(packet.checksum(), Some(0x1234));
    }

    #[test]
    fn key_without_checksum() {
        let repr = GreRepr { protocol_type: 0x0800, checksum_present: false, key: Some(42), sequence: None };
        let mut bytes = [0u8; 8];
        repr.emit(&mut bytes).unwrap();
        let mut packet = GrePacket::new_checked(&mut bytes[..]).unwrap();
        assert_eq!((packet.key(), packet.sequence(), packet.checksum()), (Some(42), None, None));
        assert!(!packet.set_checksum(1), "no checksum field to write");
    }

    #[test]
    fn malformed() {
        let kind = |b: &[u8]| GrePacket::new_checked(b).unwrap_err().kind;
        assert_eq!(kind(&[0, 0, 0x08]), ErrorKind::Truncated);
        assert_eq!(kind(&[0x00, 0x01, 0x08, 0x00]), ErrorKind::BadGreVersion);
        assert_eq!(kind(&[0x40, 0x00, 0x08, 0x00]), ErrorKind::BadGreFlags, "routing bit");
        assert_eq!(kind(&[0x08, 0x00, 0x08, 0x00]), ErrorKind::BadGreFlags, "strict source route bit");
        assert_eq!(kind(&[0x04, 0x00, 0x08, 0x00]), ErrorKind::BadGreFlags, "recursion bits");
        assert_eq!(kind(&[0x80, 0x00, 0x08, 0x00, 0, 0]), ErrorKind::Truncated, "checksum cut off");
        // Bits 6-12 are ignored on receipt (RFC 2784 §2.3).
        assert!(GrePacket::new_checked(&[0x03, 0xf8, 0x08, 0x00][..]).is_ok());
    }
}
