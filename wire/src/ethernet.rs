//! Ethernet II header (IEEE 802.3 clause 3.2.6 with an EtherType), without FCS.

use core::fmt;

use crate::bytes::{clamped, clamped_mut, read_u16, write_u16};
use crate::error::{check_len, WireError};
use crate::layer::Layer;

/// Destination MAC, source MAC, EtherType.
pub const HEADER_LEN: usize = 14;

mod field {
    use core::ops::Range;
    pub(super) const DST: Range<usize> = 0..6;
    pub(super) const SRC: Range<usize> = 6..12;
    pub(super) const ETHERTYPE: usize = 12;
}

/// A view over an Ethernet II frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Checks that the 14-byte header is there.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        check_len(Layer::Eth, buffer.as_ref(), HEADER_LEN)?;
        Ok(EthernetFrame { buffer })
    }

    /// The buffer, given back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The destination address.
    #[inline]
    pub fn dst_addr(&self) -> [u8; 6] {
        let mut mac = [0; 6];
        mac.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        mac
    }

    /// The source address.
    #[inline]
    pub fn src_addr(&self) -> [u8; 6] {
        let mut mac = [0; 6];
        mac.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        mac
    }

    /// The EtherType; values below 0x0600 are an IEEE 802.3 length instead.
    #[inline]
    pub fn ethertype(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ETHERTYPE)
    }

    /// The header's length in bytes.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Everything after the header, including any padding and VLAN tags.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), HEADER_LEN, usize::MAX)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Writes the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, mac: [u8; 6]) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&mac);
    }

    /// Writes the source address.
    #[inline]
    pub fn set_src_addr(&mut self, mac: [u8; 6]) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&mac);
    }

    /// Writes the EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: u16) {
        write_u16(self.buffer.as_mut(), field::ETHERTYPE, ethertype);
    }

    /// The bytes after the header, to write.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        clamped_mut(self.buffer.as_mut(), HEADER_LEN, usize::MAX)
    }
}

/// The Ethernet header as values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// The destination address.
    pub dst_addr: [u8; 6],
    /// The source address.
    pub src_addr: [u8; 6],
    /// The EtherType.
    pub ethertype: u16,
}

impl EthernetRepr {
    /// The header's fields, read from the view.
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> EthernetRepr {
        EthernetRepr { dst_addr: frame.dst_addr(), src_addr: frame.src_addr(), ethertype: frame.ethertype() }
    }

    /// The header's length in bytes.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header at the start of `buffer`; returns its length.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize, WireError> {
        check_len(Layer::Eth, buffer, HEADER_LEN)?;
        let mut frame = EthernetFrame { buffer };
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        frame.set_ethertype(self.ethertype);
        Ok(HEADER_LEN)
    }
}

/// A MAC address that [`parse_mac`] could not read: the text as given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseMacError {
    /// What was given.
    pub text: String,
}

impl fmt::Display for ParseMacError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' is not a MAC address like 02:00:00:00:00:01", self.text)
    }
}

impl std::error::Error for ParseMacError {}

/// Parses `aa:bb:cc:dd:ee:ff` (six bytes, two hex digits each).
pub fn parse_mac(text: &str) -> Result<[u8; 6], ParseMacError> {
    let bad = || ParseMacError { text: text.to_string() };
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        let part = parts.next().ok_or_else(bad)?;
        if part.len() != 2 {
            return Err(bad());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn mac_parsing() {
        assert_eq!(parse_mac("02:00:00:00:01:0a").unwrap(), [2, 0, 0, 0, 1, 10]);
        for bad in ["", "02:00", "02:00:00:00:01:0a:00", "zz:00:00:00:00:00", "2:0:0:0:0:0"] {
            assert_eq!(
                parse_mac(bad).unwrap_err().to_string(),
                format!("'{bad}' is not a MAC address like 02:00:00:00:00:01")
            );
        }
    }

    const FRAME: [u8; 16] = [1, 2, 3, 4, 5, 6, 0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0x08, 0x00, 0x45, 0x00];

    #[test]
    fn reads_fields() {
        let frame = EthernetFrame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(frame.dst_addr(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(frame.src_addr(), [0xa, 0xb, 0xc, 0xd, 0xe, 0xf]);
        assert_eq!(frame.ethertype(), 0x0800);
        assert_eq!(frame.payload(), &[0x45, 0x00]);
    }

    #[test]
    fn truncated_header() {
        let error = EthernetFrame::new_checked(&FRAME[..13]).unwrap_err();
        assert_eq!(
            (error.kind, error.layer, error.needed, error.available),
            (ErrorKind::Truncated, Layer::Eth, 14, 13)
        );
    }

    #[test]
    fn repr_round_trip_and_mac_rewrite() {
        let repr = EthernetRepr::parse(&EthernetFrame::new_checked(&FRAME[..]).unwrap());
        let mut bytes = [0u8; 14];
        assert_eq!(repr.emit(&mut bytes), Ok(14));
        assert_eq!(bytes, FRAME[..14]);
        let mut frame = EthernetFrame::new_checked(&mut bytes[..]).unwrap();
        frame.set_dst_addr(repr.src_addr);
        frame.set_src_addr(repr.dst_addr);
        assert_eq!(frame.dst_addr(), [0xa, 0xb, 0xc, 0xd, 0xe, 0xf]);
        assert_eq!(frame.src_addr(), [1, 2, 3, 4, 5, 6]);
        assert!(repr.emit(&mut [0u8; 10]).is_err());
    }
}
