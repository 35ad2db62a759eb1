//! tc's `pedit` on a frame: each munge's bytes in the outermost header it names (as
//! act_pedit finds them on the skb), with the checksums over them updated incrementally
//! (RFC 1624 eqn. 3) rather than left stale as tc leaves them:
//!
//! * IPv4 TOS, TTL, addresses: the IPv4 header checksum (RFC 791);
//! * IP addresses: also the TCP or UDP checksum over the pseudo-header (RFC 9293 §3.1, RFC
//!   768), and ICMPv6's for IPv6 (RFC 4443 §2.3; RFC 8200 §8.1: with a routing header the
//!   pseudo-header's destination is the final one, so the header's is not in it);
//! * TCP / UDP fields: their own checksum.
//!
//! A UDP checksum of 0 ("none", RFC 768) stays 0; a computed 0 is sent as 0xffff. On a
//! non-first fragment the transport checksum is in another fragment; the same rewrite of
//! that fragment's addresses updates it there.
//!
//! A frame without a header some munge names is dropped as `not_applicable` before any byte
//! is written (tc would write at the offset anyway). The munges are lowered to byte masks
//! when the rules load; a frame costs no allocation.

use rules::{Munge, PeditCmd, PeditHeader};
use wire::csum::{update_bytes, Checksum};
use wire::{L3Kind, L4Kind, Offsets};

use crate::stats::DropReason;

/// A rule's `pedit`, ready for frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pedit {
    keys: Box<[Key]>,
}

/// One munge as bytes: the field's width, its new value and which bits change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    header: PeditHeader,
    offset: usize,
    width: usize,
    cmd: PeditCmd,
    /// Big-endian, `width` bytes used.
    value: [u8; 16],
    /// The bits `retain` lets change, as `value`.
    retain: [u8; 16],
}

/// Where a key's bytes are in a frame, and the checksums over them.
struct Place {
    at: usize,
    /// A header start: the checksummed words are aligned to it.
    base: usize,
    ip_sum: Option<usize>,
    /// The transport checksum's offset, and whether it is UDP's.
    l4_sum: Option<(usize, bool)>,
}

impl From<&rules::Pedit> for Pedit {
    fn from(pedit: &rules::Pedit) -> Pedit {
        Pedit { keys: pedit.munges.iter().map(Key::from).collect() }
    }
}

impl From<&Munge> for Key {
    fn from(m: &Munge) -> Key {
        let (header, offset, width) = m.field.place();
        let mut value = [0; 16];
        value[..width].copy_from_slice(&m.value.to_be_bytes()[16 - width..]);
        let mut retain = [0; 16];
        if width > 4 {
            retain[..width].fill(0xff);
        } else {
            retain[..width].copy_from_slice(&m.retain.to_be_bytes()[4 - width..]);
        }
        Key { header, offset, width, cmd: m.cmd, value, retain }
    }
}

impl Pedit {
    /// Carries out every munge on `data` (walked as `offsets`), or none.
    pub fn apply(&self, data: &mut [u8], offsets: &Offsets) -> Result<(), DropReason> {
        for key in self.keys.iter() {
            key.place(data.len(), offsets)?;
        }
        for key in self.keys.iter() {
            let place = key.place(data.len(), offsets)?;
            key.munge(data, &place);
        }
        Ok(())
    }
}

/// The transport checksum the pseudo-header of the outer IP header is in.
fn pseudo_header_sum(offsets: &Offsets, v6: bool) -> Option<(usize, bool)> {
    let l4 = offsets.outer.l4?;
    match l4.kind {
        L4Kind::Tcp => Some((l4.offset + 16, false)),
        L4Kind::Udp => Some((l4.offset + 6, true)),
        L4Kind::Icmpv6 if v6 => Some((l4.offset + 2, false)),
        _ => None,
    }
}

impl Key {
    fn place(&self, len: usize, offsets: &Offsets) -> Result<Place, DropReason> {
        let outer = &offsets.outer;
        let l3 = |kind| outer.l3.filter(|l3| l3.kind == kind).ok_or(DropReason::NotApplicable);
        let l4 = |kind| outer.l4.filter(|l4| l4.kind == kind).ok_or(DropReason::NotApplicable);
        let place = match self.header {
            PeditHeader::Eth => {
                let base = outer.l2.ok_or(DropReason::NotApplicable)?.offset;
                Place { at: base + self.offset, base, ip_sum: None, l4_sum: None }
            }
            PeditHeader::Ip4 => {
                let ip = l3(L3Kind::Ipv4)?;
                let address = self.offset >= 12;
                let l4_sum = if address { pseudo_header_sum(offsets, false) } else { None };
                Place { at: ip.offset + self.offset, base: ip.offset, ip_sum: Some(ip.offset + 10), l4_sum }
            }
            PeditHeader::Ip6 => {
                let ip = l3(L3Kind::Ipv6)?;
                let in_pseudo = match self.offset {
                    8 => true,
                    24 => ip.dst_offset == ip.offset + 24,
                    _ => false,
                };
                let l4_sum = if in_pseudo { pseudo_header_sum(offsets, true) } else { None };
                Place { at: ip.offset + self.offset, base: ip.offset, ip_sum: None, l4_sum }
            }
            PeditHeader::Tcp => {
                let tcp = l4(L4Kind::Tcp)?;
                Place {
                    at: tcp.offset + self.offset,
                    base: tcp.offset,
                    ip_sum: None,
                    l4_sum: Some((tcp.offset + 16, false)),
                }
            }
            PeditHeader::Udp => {
                let udp = l4(L4Kind::Udp)?;
                Place {
                    at: udp.offset + self.offset,
                    base: udp.offset,
                    ip_sum: None,
                    l4_sum: Some((udp.offset + 6, true)),
                }
            }
            PeditHeader::Ip4Ports => {
                // tc writes at the IPv4 header + 20: the ports only without options.
                let ip = l3(L3Kind::Ipv4)?;
                let l4 = outer.l4.filter(|l4| l4.offset == ip.offset + 20).ok_or(DropReason::NotApplicable)?;
                let l4_sum = match l4.kind {
                    L4Kind::Tcp => (l4.offset + 16, false),
                    L4Kind::Udp => (l4.offset + 6, true),
                    _ => return Err(DropReason::NotApplicable),
                };
                Place { at: l4.offset + self.offset, base: l4.offset, ip_sum: None, l4_sum: Some(l4_sum) }
            }
        };
        // Never past the frame: the field's aligned words and both checksum fields.
        let (_, end) = place.window(self.width);
        let sums = [place.ip_sum, place.l4_sum.map(|(at, _)| at)];
        if end > len || sums.into_iter().flatten().any(|at| at + 2 > len) {
            return Err(DropReason::NotApplicable);
        }
        Ok(place)
    }

    fn munge(&self, data: &mut [u8], place: &Place) {
        let (start, end) = place.window(self.width);
        let mut old = [0u8; 18];
        let n = end - start;
        old[..n].copy_from_slice(&data[start..end]);
        let field = &mut data[place.at..place.at + self.width];
        let (value, retain) = (&self.value[..self.width], &self.retain[..self.width]);
        match self.cmd {
            PeditCmd::Set => {
                for ((byte, v), r) in field.iter_mut().zip(value).zip(retain) {
                    *byte = *byte & !r | v & r;
                }
            }
            PeditCmd::Invert => field.iter_mut().zip(retain).for_each(|(byte, r)| *byte ^= r),
            PeditCmd::Add => {
                // A wrapping add in the field's width (up to 32 bits), big-endian.
                let be = |bytes: &[u8]| bytes.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b));
                let sum = be(field).wrapping_add(be(value)).to_be_bytes();
                let sum = &sum[4 - self.width..];
                for ((byte, s), r) in field.iter_mut().zip(sum).zip(retain) {
                    *byte = *byte & !r | s & r;
                }
            }
        }
        let mut new = [0u8; 18];
        new[..n].copy_from_slice(&data[start..end]);
        if old[..n] == new[..n] {
            return;
        }
        let update = |data: &mut [u8], at: usize, udp: bool| {
            let sum = Checksum::from_be_bytes([data[at], data[at + 1]]);
            // RFC 768: a UDP checksum of 0 is none; a computed 0 goes out as 0xffff.
            if udp && sum.is_zero() {
                return;
            }
            let mut sum = update_bytes(sum, &old[..n], &new[..n]);
            if udp {
                sum = sum.udp_wire();
            }
            data[at..at + 2].copy_from_slice(&sum.to_be_bytes());
        };
        if let Some(at) = place.ip_sum {
            update(data, at, false);
        }
        if let Some((at, udp)) = place.l4_sum {
            update(data, at, udp);
        }
    }
}

impl Place {
    /// The 16-bit words (aligned to the header start) the field's bytes are in.
    fn window(&self, width: usize) -> (usize, usize) {
        let start = self.at - (self.at - self.base) % 2;
        let end = self.at + width;
        (start, end + (end - self.base) % 2)
    }
}
