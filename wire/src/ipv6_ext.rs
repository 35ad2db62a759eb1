//! IPv6 extension headers (RFC 8200 §4): hop-by-hop options (0), routing (43), fragment (44)
//! and destination options (60), and a bounded walk over their chain. Other next-header
//! values (AH, ESP, upper layers) end the chain.

use std::net::Ipv6Addr;

use crate::bytes::{clamped, read_u16, read_u32};
use crate::error::{check_len, ErrorKind, WireError};
use crate::ip_protocol;
use crate::layer::{Fragment, Layer};

/// The most extension headers [`walk_ext_headers`] follows before calling the packet
/// malformed. RFC 8200 §4.1 expects each at most once (destination options twice), so 8 is
/// generous and bounds the work per packet.
pub const MAX_EXT_HEADERS: usize = 8;

/// Every extension header is a multiple of 8 bytes and at least 8 (RFC 8200 §4).
pub const MIN_EXT_HEADER_LEN: usize = 8;

/// The fragment header is exactly 8 bytes (RFC 8200 §4.5).
pub const FRAGMENT_HEADER_LEN: usize = 8;

/// True for the extension headers the walk steps over.
#[inline]
pub const fn is_ext_header(next_header: u8) -> bool {
    matches!(
        next_header,
        ip_protocol::HOP_BY_HOP | ip_protocol::ROUTING | ip_protocol::FRAGMENT | ip_protocol::DESTINATION_OPTIONS
    )
}

/// Header length from the "Hdr Ext Len" byte: 8-octet units not counting the first 8
/// (RFC 8200 §4.3, §4.4, §4.6).
#[inline]
fn ext_len(data: &[u8]) -> usize {
    (usize::from(data[1]) + 1) * 8
}

fn check_ext(data: &[u8]) -> Result<(), WireError> {
    check_len(Layer::Ipv6, data, MIN_EXT_HEADER_LEN)?;
    check_len(Layer::Ipv6, data, ext_len(data))
}

/// A view over a hop-by-hop, routing or destination options header: next header, length,
/// and the options or routing data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6ExtHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6ExtHeader<T> {
    /// A view over `buffer`, once its length is checked against the header.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        check_ext(buffer.as_ref())?;
        Ok(Ipv6ExtHeader { buffer })
    }

    /// The next header number.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// Bytes, including the first two.
    #[inline]
    pub fn header_len(&self) -> usize {
        ext_len(self.buffer.as_ref())
    }

    /// Everything after next header and length: options TLVs, or routing data.
    #[inline]
    pub fn data(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), 2, self.header_len())
    }
}

/// The Jumbo Payload option's type (RFC 2675 §2).
pub const OPTION_JUMBO_PAYLOAD: u8 = 0xc2;

/// The Jumbo Payload Length of a hop-by-hop options header (`header`: the whole extension
/// header, checked), if it carries the option (RFC 2675 §2). Options are TLVs after the
/// first two bytes, Pad1 (type 0) a single byte (RFC 8200 §4.2); a TLV that runs past the
/// header ends the search.
pub fn jumbo_payload_len(header: &Ipv6ExtHeader<&[u8]>) -> Option<u32> {
    let options = header.data();
    let mut at = 0;
    while let Some(&kind) = options.get(at) {
        if kind == 0 {
            at += 1;
            continue;
        }
        let len = usize::from(*options.get(at + 1)?);
        let value = options.get(at + 2..at + 2 + len)?;
        if kind == OPTION_JUMBO_PAYLOAD && len == 4 {
            return Some(u32::from_be_bytes([value[0], value[1], value[2], value[3]]));
        }
        at += 2 + len;
    }
    None
}

/// A view over a routing header (RFC 8200 §4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6RoutingHeader<T: AsRef<[u8]>> {
    buffer: T,
}

/// Type 0, source route (RFC 2460 §4.4; deprecated by RFC 5095 but still parsed).
pub const ROUTING_TYPE_SOURCE_ROUTE: u8 = 0;
/// Type 2, Mobile IPv6 home address (RFC 6275 §6.4).
pub const ROUTING_TYPE_MOBILE: u8 = 2;
/// Type 4, segment routing header (RFC 8754 §2).
pub const ROUTING_TYPE_SRH: u8 = 4;

/// Where the addresses start in types 0, 2 and 4: after next header, length, type, segments
/// left and four type-specific bytes.
const ROUTING_ADDRS: usize = 8;

impl<T: AsRef<[u8]>> Ipv6RoutingHeader<T> {
    /// A view over `buffer`, once its length is checked against the header.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        check_ext(buffer.as_ref())?;
        Ok(Ipv6RoutingHeader { buffer })
    }

    /// The next header number.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// The header's length in bytes.
    #[inline]
    pub fn header_len(&self) -> usize {
        ext_len(self.buffer.as_ref())
    }

    /// The routing type.
    #[inline]
    pub fn routing_type(&self) -> u8 {
        self.buffer.as_ref()[2]
    }

    /// The segments left.
    #[inline]
    pub fn segments_left(&self) -> u8 {
        self.buffer.as_ref()[3]
    }

    /// Full addresses in the header (types 0, 2 and 4 carry a list of 16-byte addresses).
    #[inline]
    pub fn address_count(&self) -> usize {
        (self.header_len() - ROUTING_ADDRS) / 16
    }

    /// Offset, within this header, of the packet's final destination when it is not yet in
    /// the IPv6 destination field; `None` when it is.
    ///
    /// RFC 8200 §8.1: the upper-layer pseudo-header uses the final destination, which the
    /// originator finds in the last element of the routing header and the recipient in the
    /// destination field. So with segments left 0 the destination field is final. Otherwise:
    /// types 0 and 2 list the route in order, the final destination last; type 4 (SRH)
    /// lists it in reverse, so "last" is `Segment List[0]`, the first on the wire (RFC 8754
    /// §2). Other types are not understood: `None` (the destination field is the best we know).
    pub fn final_destination_offset(&self) -> Option<usize> {
        if self.segments_left() == 0 {
            return None;
        }
        let count = self.address_count();
        match self.routing_type() {
            ROUTING_TYPE_SOURCE_ROUTE | ROUTING_TYPE_MOBILE if count > 0 => Some(ROUTING_ADDRS + (count - 1) * 16),
            ROUTING_TYPE_SRH if count > 0 => Some(ROUTING_ADDRS),
            _ => None,
        }
    }

    /// The final destination named by this header, if the destination field is not it yet
    /// (see [`final_destination_offset`](Self::final_destination_offset)).
    pub fn final_destination(&self) -> Option<Ipv6Addr> {
        let at = self.final_destination_offset()?;
        let bytes: [u8; 16] = self.buffer.as_ref().get(at..at + 16)?.try_into().ok()?;
        Some(Ipv6Addr::from(bytes))
    }
}

/// A view over a fragment header (RFC 8200 §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6FragmentHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6FragmentHeader<T> {
    /// A view over `buffer`, once its length is checked against the header.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        check_len(Layer::Ipv6, buffer.as_ref(), FRAGMENT_HEADER_LEN)?;
        Ok(Ipv6FragmentHeader { buffer })
    }

    /// The next header number.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// In bytes (the field counts 8-byte units in its top 13 bits).
    #[inline]
    pub fn fragment_offset(&self) -> u16 {
        read_u16(self.buffer.as_ref(), 2) & 0xfff8
    }

    /// The More Fragments flag.
    #[inline]
    pub fn more_fragments(&self) -> bool {
        read_u16(self.buffer.as_ref(), 2) & 1 != 0
    }

    /// The identification.
    #[inline]
    pub fn ident(&self) -> u32 {
        read_u32(self.buffer.as_ref(), 4)
    }

    /// Offset 0 with M clear is an atomic fragment, a whole datagram (RFC 6946 §4).
    #[inline]
    pub fn fragment(&self) -> Fragment {
        Fragment::from_offset(self.fragment_offset(), self.more_fragments())
    }
}

/// What [`walk_ext_headers`] found between the fixed header and the upper layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6ExtChain {
    /// The upper-layer protocol (the next header after the last extension header). For a
    /// later fragment, the fragment header's next header; its bytes are not a header.
    pub protocol: u8,
    /// Bytes of extension headers.
    pub len: usize,
    /// Extension headers walked.
    pub count: usize,
    /// The where the packet sits in its datagram.
    pub fragment: Fragment,
    /// Offset, from the start of the walked bytes, of the final destination address when a
    /// routing header holds it (RFC 8200 §8.1); the first such routing header counts.
    pub final_destination_offset: Option<usize>,
}

/// Walks the extension headers in `payload` (the bytes after the fixed header, up to its
/// payload length), starting with `next_header` from the fixed header. Stops at the first
/// next header that is not an extension header, or after the fragment header of a later
/// fragment (the rest is fragment data). Error offsets are from the start of `payload`.
pub fn walk_ext_headers(next_header: u8, payload: &[u8]) -> Result<Ipv6ExtChain, WireError> {
    let mut chain = Ipv6ExtChain {
        protocol: next_header,
        len: 0,
        count: 0,
        fragment: Fragment::NotFragment,
        final_destination_offset: None,
    };
    while is_ext_header(chain.protocol) {
        let at = chain.len;
        if chain.count == MAX_EXT_HEADERS {
            return Err(WireError::new(
                ErrorKind::TooManyExtHeaders,
                Layer::Ipv6,
                at,
                MAX_EXT_HEADERS,
                chain.count + 1,
            ));
        }
        // RFC 8200 §4.3: hop-by-hop options only right after the IPv6 header.
        if chain.protocol == ip_protocol::HOP_BY_HOP && chain.count != 0 {
            return Err(WireError::new(ErrorKind::BadExtHeaderOrder, Layer::Ipv6, at, 0, chain.count));
        }
        let rest = payload.get(at..).unwrap_or(&[]);
        let shift = |error: WireError| error.shifted(at);
        match chain.protocol {
            ip_protocol::FRAGMENT => {
                let header = Ipv6FragmentHeader::new_checked(rest).map_err(shift)?;
                chain.protocol = header.next_header();
                chain.len += FRAGMENT_HEADER_LEN;
                chain.count += 1;
                chain.fragment = header.fragment();
                if chain.fragment == Fragment::Later {
                    break;
                }
            }
            ip_protocol::ROUTING => {
                let header = Ipv6RoutingHeader::new_checked(rest).map_err(shift)?;
                if chain.final_destination_offset.is_none() {
                    chain.final_destination_offset = header.final_destination_offset().map(|o| at + o);
                }
                chain.protocol = header.next_header();
                chain.len += header.header_len();
                chain.count += 1;
            }
            _ => {
                let header = Ipv6ExtHeader::new_checked(rest).map_err(shift)?;
                chain.protocol = header.next_header();
                chain.len += header.header_len();
                chain.count += 1;
            }
        }
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(last: u8) -> [u8; 16] {
        let mut a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        a[15] = last;
        a
    }

    /// An SRH with `segments` (Segment List[0] first) and the given segments left.
    fn srh(next: u8, segments: &[[u8; 16]], left: u8) -> Vec<u8> {
        let mut h = vec![next, (segments.len() * 2) as u8, 4, left, (segments.len() - 1) as u8, 0, 0, 0];
        for s in segments {
            h.extend_from_slice(s);
        }
        h
    }

    #[test]
    fn srh_final_destination_is_segment_list_zero() {
        // Segment List[0] = final destination ::d, [1] = first segment ::1 (RFC 8754 §2).
        let header = srh(6, &[addr(0xd), addr(1)], 1);
        let view = Ipv6RoutingHeader::new_checked(&header[..]).unwrap();
        assert_eq!((view.routing_type(), view.segments_left(), view.address_count()), (4, 1, 2));
        assert_eq!(view.final_destination(), Some(Ipv6Addr::from(addr(0xd))));
        let done = srh(6, &[addr(0xd), addr(1)], 0);
        assert_eq!(Ipv6RoutingHeader::new_checked(&done[..]).unwrap().final_destination(), None);
    }

    #[test]
    fn type0_and_type2_final_destination_is_last_address() {
        let mut header = vec![6, 4, 0, 2, 0, 0, 0, 0];
        header.extend_from_slice(&addr(1));
        header.extend_from_slice(&addr(2));
        let view = Ipv6RoutingHeader::new_checked(&header[..]).unwrap();
        assert_eq!(view.final_destination(), Some(Ipv6Addr::from(addr(2))));
        let mut mobile = vec![6, 2, 2, 1, 0, 0, 0, 0];
        mobile.extend_from_slice(&addr(9));
        let view = Ipv6RoutingHeader::new_checked(&mobile[..]).unwrap();
        assert_eq!(view.final_destination(), Some(Ipv6Addr::from(addr(9))));
        let mut unknown = mobile.clone();
        unknown[2] = 3; // RPL (RFC 6554): compressed, not understood here
        assert_eq!(Ipv6RoutingHeader::new_checked(&unknown[..]).unwrap().final_destination(), None);
    }

    #[test]
    fn chain_hop_by_hop_routing_fragment() {
        let mut chain = vec![43, 0, 1, 4, 0, 0, 0, 0]; // HBH: PadN
        let routing_at = chain.len();
        chain.extend(srh(44, &[addr(0xd), addr(1)], 1));
        chain.extend_from_slice(&[17, 0, 0x00, 0x01, 0, 0, 0, 7]); // fragment: offset 0, M
        chain.extend_from_slice(&[0; 8]);
        let walked = walk_ext_headers(0, &chain).unwrap();
        assert_eq!(walked.protocol, 17);
        assert_eq!((walked.len, walked.count), (8 + 40 + 8, 3));
        assert_eq!(walked.fragment, Fragment::First);
        assert_eq!(walked.final_destination_offset, Some(routing_at + 8));
    }

    #[test]
    fn later_fragment_ends_the_chain() {
        let chain = [60, 0, 0x00, 0x08, 0, 0, 0, 1, 0xff, 0xff]; // offset 8 bytes, next "dest opts"
        let walked = walk_ext_headers(44, &chain).unwrap();
        assert_eq!((walked.protocol, walked.len, walked.fragment), (60, 8, Fragment::Later));
    }

    #[test]
    fn malformed_chains() {
        let kind = |next, bytes: &[u8]| walk_ext_headers(next, bytes).unwrap_err();
        let e = kind(0, &[17, 1, 0, 0, 0, 0, 0, 0]); // claims 16 bytes, has 8
        assert_eq!((e.kind, e.offset, e.needed, e.available), (ErrorKind::Truncated, 0, 16, 8));
        let e = kind(60, &[0, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!((e.kind, e.offset), (ErrorKind::BadExtHeaderOrder, 8));
        let many = [60, 0, 0, 0, 0, 0, 0, 0].repeat(10);
        let e = kind(60, &many);
        assert_eq!((e.kind, e.offset), (ErrorKind::TooManyExtHeaders, 64));
        let e = kind(44, &[17, 0, 0]);
        assert_eq!((e.kind, e.needed, e.available), (ErrorKind::Truncated, 8, 3));
    }

    #[test]
    fn upper_layer_right_away() {
        let walked = walk_ext_headers(6, &[]).unwrap();
        assert_eq!((walked.protocol, walked.len, walked.count), (6, 0, 0));
    }
}
