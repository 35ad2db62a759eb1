//! IEEE 802.1Q / 802.1ad VLAN tag. The view covers the 4 bytes after the TPID: the tag control
//! information and the EtherType of what follows, so tags chain like any other header.

use crate::bytes::{read_u16, write_u16};
use crate::error::{check_len, WireError};
use crate::ethertype;
use crate::layer::Layer;

/// TCI + inner EtherType.
pub const HEADER_LEN: usize = 4;

/// True for the tag protocol identifiers we accept: 802.1Q (0x8100), 802.1ad (0x88a8) and the
/// pre-standard QinQ 0x9100.
#[inline]
pub const fn is_vlan_tpid(ethertype: u16) -> bool {
    matches!(ethertype, ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_LEGACY)
}

/// A view over one VLAN tag's TCI and the EtherType after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VlanHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanHeader<T> {
    /// A view over `buffer`, once its length is checked against the header.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        check_len(Layer::Vlan, buffer.as_ref(), HEADER_LEN)?;
        Ok(VlanHeader { buffer })
    }

    /// The buffer, given back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Tag control information: PCP (3 bits), DEI (1), VID (12) (IEEE 802.1Q §9.6).
    #[inline]
    pub fn tci(&self) -> u16 {
        read_u16(self.buffer.as_ref(), 0)
    }

    /// The priority code point (3 bits).
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// The drop eligible indicator.
    #[inline]
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// The VLAN identifier (12 bits).
    #[inline]
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// The EtherType of what follows the tag (another tag for QinQ).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        read_u16(self.buffer.as_ref(), 2)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanHeader<T> {
    /// Writes the whole tag control information (priority, DEI, VLAN id).
    #[inline]
    pub fn set_tci(&mut self, tci: u16) {
        write_u16(self.buffer.as_mut(), 0, tci);
    }

    /// Writes the EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: u16) {
        write_u16(self.buffer.as_mut(), 2, ethertype);
    }
}

/// A VLAN tag as values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VlanRepr {
    /// The priority code point (3 bits).
    pub pcp: u8,
    /// The drop eligible indicator.
    pub dei: bool,
    /// The VLAN identifier (12 bits).
    pub vid: u16,
    /// The EtherType.
    pub ethertype: u16,
}

impl VlanRepr {
    /// The header's fields, read from the view.
    pub fn parse<T: AsRef<[u8]>>(header: &VlanHeader<T>) -> VlanRepr {
        VlanRepr { pcp: header.pcp(), dei: header.dei(), vid: header.vid(), ethertype: header.ethertype() }
    }

    /// Writes TCI and EtherType at the start of `buffer` (the TPID belongs to the header
    /// before); returns the length.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize, WireError> {
        check_len(Layer::Vlan, buffer, HEADER_LEN)?;
        let mut header = VlanHeader { buffer };
        header.set_tci(u16::from(self.pcp & 7) << 13 | u16::from(self.dei) << 12 | (self.vid & 0x0fff));
        header.set_ethertype(self.ethertype);
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tci_fields() {
        let header = VlanHeader::new_checked(&[0xb0, 0x64, 0x08, 0x00][..]).unwrap();
        assert_eq!((header.pcp(), header.dei(), header.vid(), header.ethertype()), (5, true, 100, 0x0800));
        assert!(VlanHeader::new_checked(&[0xb0, 0x64, 0x08][..]).is_err());
    }

    #[test]
    fn repr_round_trip() {
        let repr = VlanRepr { pcp: 3, dei: false, vid: 4094, ethertype: 0x86dd };
        let mut bytes = [0u8; 4];
        repr.emit(&mut bytes).unwrap();
        assert_eq!(VlanRepr::parse(&VlanHeader::new_checked(&bytes[..]).unwrap()), repr);
    }

    #[test]
    fn tpids() {
        assert!(is_vlan_tpid(0x8100) && is_vlan_tpid(0x88a8) && is_vlan_tpid(0x9100));
        assert!(!is_vlan_tpid(0x0800));
    }
}
