//! VXLAN header (RFC 7348 §5). An Ethernet frame always follows.

use crate::bytes::{clamped, read_u32, write_u32};
use crate::error::{check_len, ErrorKind, WireError};
use crate::layer::Layer;

/// Flags, reserved bits, VNI, reserved byte (RFC 7348 §5).
pub const HEADER_LEN: usize = 8;

/// The I flag: the VNI is valid (RFC 7348 §5).
pub const FLAG_VNI: u8 = 0x08;

/// A view over a VXLAN header and the inner frame after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VxlanHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VxlanHeader<T> {
    /// Checks the 8 bytes and the I flag. RFC 7348 §5: "The I flag MUST be set to 1 for a valid
    /// VXLAN Network ID"; the reserved bits are ignored on receipt.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let data = buffer.as_ref();
        check_len(Layer::Vxlan, data, HEADER_LEN)?;
        if data[0] & FLAG_VNI == 0 {
            return Err(WireError::new(ErrorKind::BadVxlanFlags, Layer::Vxlan, 0, FLAG_VNI.into(), data[0].into()));
        }
        Ok(VxlanHeader { buffer })
    }

    /// The buffer, given back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The flags byte (the I flag says the VNI is valid).
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// The 24-bit VXLAN network identifier.
    #[inline]
    pub fn vni(&self) -> u32 {
        read_u32(self.buffer.as_ref(), 4) >> 8
    }

    /// The inner Ethernet frame.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), HEADER_LEN, usize::MAX)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VxlanHeader<T> {
    /// Rewrites the VNI (low 24 bits of `vni`), keeping the reserved byte after it.
    #[inline]
    pub fn set_vni(&mut self, vni: u32) {
        let data = self.buffer.as_mut();
        let reserved = u32::from(data[7]);
        write_u32(data, 4, (vni & 0x00ff_ffff) << 8 | reserved);
    }
}

/// A VXLAN header as values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VxlanRepr {
    /// 24 bits.
    pub vni: u32,
}

impl VxlanRepr {
    /// The header's fields, read from the view.
    pub fn parse<T: AsRef<[u8]>>(header: &VxlanHeader<T>) -> VxlanRepr {
        VxlanRepr { vni: header.vni() }
    }

    /// The header's length in bytes.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header (I flag set, reserved zero) at the start of `buffer`.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize, WireError> {
        check_len(Layer::Vxlan, buffer, HEADER_LEN)?;
        buffer[..HEADER_LEN].copy_from_slice(&[FLAG_VNI, 0, 0, 0, 0, 0, 0, 0]);
        VxlanHeader { buffer }.set_vni(self.vni);
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut bytes = [0u8; 10];
        VxlanRepr { vni: 0xabcdef }.emit(&mut bytes).unwrap();
        assert_eq!(bytes[..8], [0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0]);
        let header = VxlanHeader::new_checked(&bytes[..]).unwrap();
        assert_eq!((header.vni(), header.payload().len()), (0xabcdef, 2));
    }

    #[test]
    fn i_flag_required_and_truncation() {
        let error = VxlanHeader::new_checked(&[0u8; 8][..]).unwrap_err();
        assert_eq!((error.kind, error.available), (ErrorKind::BadVxlanFlags, 0));
        let error = VxlanHeader::new_checked(&[8u8; 7][..]).unwrap_err();
        assert_eq!((error.kind, error.needed, error.available), (ErrorKind::Truncated, 8, 7));
        // Reserved bits are ignored on receipt (RFC 7348 §5).
        assert!(VxlanHeader::new_checked(&[0xff; 8][..]).is_ok());
    }
}
