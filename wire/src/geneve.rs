//! Geneve (RFC 8926): fixed header, variable-length options as TLVs.

use crate::bytes::{clamped, read_u16, read_u32, write_u16, write_u32};
use crate::error::{check_len, ErrorKind, WireError};
use crate::layer::Layer;

/// The header without options.
pub const MIN_HEADER_LEN: usize = 8;
/// Opt Len is 6 bits of 4-byte units (RFC 8926 §3.4).
pub const MAX_OPTIONS_LEN: usize = 63 * 4;
/// Option class, type and length (RFC 8926 §3.5).
pub const OPTION_HEADER_LEN: usize = 4;

const FLAG_OAM: u8 = 0x80;
const FLAG_CRITICAL: u8 = 0x40;

/// Checks that the options area is a sequence of whole TLVs (RFC 8926 §3.5: each option's
/// Length counts 4-byte units after its 4-byte header). Error offsets are from the start of
/// `options`.
fn check_options(options: &[u8]) -> Result<(), WireError> {
    let mut at = 0;
    while at < options.len() {
        let left = options.len() - at;
        if left < OPTION_HEADER_LEN {
            return Err(WireError::new(ErrorKind::BadGeneveOptions, Layer::Geneve, at, OPTION_HEADER_LEN, left));
        }
        let len = OPTION_HEADER_LEN + usize::from(options[at + 3] & 0x1f) * 4;
        if len > left {
            return Err(WireError::new(ErrorKind::BadGeneveOptions, Layer::Geneve, at, len, left));
        }
        at += len;
    }
    Ok(())
}

/// A view over a Geneve header, its options and the payload after them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenevePacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GenevePacket<T> {
    /// Checks the version (RFC 8926 §3.4: "Packets received by a tunnel endpoint with an
    /// unknown version MUST be dropped"), that the options fit, and walks them.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let data = buffer.as_ref();
        check_len(Layer::Geneve, data, MIN_HEADER_LEN)?;
        let version = data[0] >> 6;
        if version != 0 {
            return Err(WireError::new(ErrorKind::BadGeneveVersion, Layer::Geneve, 0, 0, version.into()));
        }
        let header_len = MIN_HEADER_LEN + usize::from(data[0] & 0x3f) * 4;
        check_len(Layer::Geneve, data, header_len)?;
        // Reported at the Geneve header, like every other error: the layer that is malformed.
        check_options(&data[MIN_HEADER_LEN..header_len]).map_err(|e| WireError { offset: 0, ..e })?;
        Ok(GenevePacket { buffer })
    }

    /// The buffer, given back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version field.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 6
    }

    /// Bytes of options (Opt Len × 4).
    #[inline]
    pub fn options_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[0] & 0x3f) * 4
    }

    /// Fixed header plus options.
    #[inline]
    pub fn header_len(&self) -> usize {
        MIN_HEADER_LEN + self.options_len()
    }

    /// O bit: a control packet (RFC 8926 §3.4).
    #[inline]
    pub fn oam(&self) -> bool {
        self.buffer.as_ref()[1] & FLAG_OAM != 0
    }

    /// C bit: critical options are present.
    #[inline]
    pub fn critical(&self) -> bool {
        self.buffer.as_ref()[1] & FLAG_CRITICAL != 0
    }

    /// EtherType of the payload: 0x6558 Ethernet, 0x0800 IPv4, 0x86dd IPv6.
    #[inline]
    pub fn protocol_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), 2)
    }

    /// 24 bits.
    #[inline]
    pub fn vni(&self) -> u32 {
        read_u32(self.buffer.as_ref(), 4) >> 8
    }

    /// The raw options area.
    #[inline]
    pub fn options(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), MIN_HEADER_LEN, self.header_len())
    }

    /// The options one TLV at a time.
    #[inline]
    pub fn option_iter(&self) -> GeneveOptions<'_> {
        GeneveOptions { rest: self.options() }
    }

    /// The bytes after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), self.header_len(), usize::MAX)
    }
}

/// One Geneve option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GeneveOption<'a> {
    /// The option class.
    pub class: u16,
    /// The type byte, critical bit included.
    pub option_type: u8,
    /// Variable option data (Length × 4 bytes).
    pub data: &'a [u8],
}

impl GeneveOption<'_> {
    /// The high bit of the type: a tunnel endpoint that does not know it must drop the packet
    /// (RFC 8926 §3.5).
    #[inline]
    pub fn critical(&self) -> bool {
        self.option_type & 0x80 != 0
    }
}

/// Iterator over the options of a checked [`GenevePacket`]; stops at anything that does not fit.
#[derive(Clone, Debug)]
pub struct GeneveOptions<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for GeneveOptions<'a> {
    type Item = GeneveOption<'a>;

    fn next(&mut self) -> Option<GeneveOption<'a>> {
        let rest = self.rest;
        let header = rest.get(..OPTION_HEADER_LEN)?;
        let len = OPTION_HEADER_LEN + usize::from(header[3] & 0x1f) * 4;
        let data = rest.get(OPTION_HEADER_LEN..len)?;
        self.rest = &rest[len..];
        Some(GeneveOption { class: read_u16(header, 0), option_type: header[2], data })
    }
}

/// A Geneve header as values; the options are raw TLV bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GeneveRepr<'a> {
    /// The O bit: an OAM packet.
    pub oam: bool,
    /// The C bit: critical options are present.
    pub critical: bool,
    /// The protocol type of the payload (an EtherType).
    pub protocol_type: u16,
    /// The VNI (24 bits).
    pub vni: u32,
    /// Whole TLVs, a multiple of 4 bytes, at most [`MAX_OPTIONS_LEN`].
    pub options: &'a [u8],
}

impl<'a> GeneveRepr<'a> {
    /// The header's fields, read from the view.
    pub fn parse<T: AsRef<[u8]>>(packet: &'a GenevePacket<T>) -> GeneveRepr<'a> {
        GeneveRepr {
            oam: packet.oam(),
            critical: packet.critical(),
            protocol_type: packet.protocol_type(),
            vni: packet.vni(),
            options: packet.options(),
        }
    }

    /// The header's length in bytes.
    pub const fn header_len(&self) -> usize {
        MIN_HEADER_LEN + self.options.len()
    }

    /// Writes header and options at the start of `buffer`; returns the length. Options that
    /// are not whole TLVs or too long are `bad_geneve_options`.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize, WireError> {
        let options_len = self.options.len();
        if !options_len.is_multiple_of(4) || options_len > MAX_OPTIONS_LEN {
            let needed = options_len.next_multiple_of(4);
            return Err(WireError::new(
                ErrorKind::BadGeneveOptions,
                Layer::Geneve,
                MIN_HEADER_LEN,
                needed,
                options_len,
            ));
        }
        check_options(self.options).map_err(|e| e.shifted(MIN_HEADER_LEN))?;
        let len = self.header_len();
        check_len(Layer::Geneve, buffer, len)?;
        buffer[0] = (options_len / 4) as u8; // version 0
        buffer[1] = if self.oam { FLAG_OAM } else { 0 } | if self.critical { FLAG_CRITICAL } else { 0 };
        write_u16(buffer, 2, self.protocol_type);
        write_u32(buffer, 4, (self.vni & 0x00ff_ffff) << 8);
        buffer[MIN_HEADER_LEN..len].copy_from_slice(self.options);
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two options: class 0x0102 type 0x80 (critical) with 4 bytes, class 0xffff type 1 empty.
    const OPTIONS: [u8; 12] = [0x01, 0x02, 0x80, 0x01, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0x01, 0x00];

    fn header() -> Vec<u8> {
        let repr = GeneveRepr { oam: false, critical: true, protocol_type: 0x6558, vni: 0x123456, options: &OPTIONS };
        let mut bytes = vec![0u8; repr.header_len() + 2];
        assert_eq!(repr.emit(&mut bytes), Ok(20));
        bytes
    }

    #[test]
    fn options_walked() {
        let bytes = header();
        let packet = GenevePacket::new_checked(&bytes[..]).unwrap();
        assert_eq!((packet.version(), packet.options_len(), packet.header_len()), (0, 12, 20));
        assert_eq!((packet.vni(), packet.protocol_type(), packet.critical()), (0x123456, 0x6558, true));
        let mut options = packet.option_iter();
        let first = options.next().unwrap();
        assert_eq!((first.class, first.critical(), first.data), (0x0102, true, &[0xde, 0xad, 0xbe, 0xef][..]));
        let second = options.next().unwrap();
        assert_eq!((second.class, second.option_type, second.data.len()), (0xffff, 1, 0));
        assert!(options.next().is_none());
        assert_eq!(packet.payload().len(), 2);
        assert_eq!(GeneveRepr::parse(&packet).options, &OPTIONS);
    }

    #[test]
    fn malformed() {
        let mut bytes = header();
        let error = GenevePacket::new_checked(&bytes[..19]).unwrap_err();
        assert_eq!((error.kind, error.needed, error.available), (ErrorKind::Truncated, 20, 19));
        bytes[11] = 0x03; // the first option claims 12 data bytes: runs past the options
        let error = GenevePacket::new_checked(&bytes[..]).unwrap_err();
        assert_eq!((error.kind, error.offset, error.needed, error.available), (ErrorKind::BadGeneveOptions, 0, 16, 12));
        bytes[11] = 0x01;
        bytes[0] |= 0x40; // version 1
        let error = GenevePacket::new_checked(&bytes[..]).unwrap_err();
        assert_eq!((error.kind, error.available), (ErrorKind::BadGeneveVersion, 1));
    }

    #[test]
    fn emit_rejects_partial_options() {
        let repr = GeneveRepr { oam: false, critical: false, protocol_type: 0x0800, vni: 1, options: &OPTIONS[..6] };
        assert_eq!(repr.emit(&mut [0u8; 64]).unwrap_err().kind, ErrorKind::BadGeneveOptions);
        let repr = GeneveRepr { options: &OPTIONS[..4], ..repr }; // header says 4 data bytes, none there
        assert_eq!(repr.emit(&mut [0u8; 64]).unwrap_err().kind, ErrorKind::BadGeneveOptions);
    }
}
