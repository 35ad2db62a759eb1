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
//! is written (tc would write at the offset anyway); so is a PPPoE session frame for every
//! munge but `eth` (act_pedit's network header is the PPPoE header there). The munges are lowered to byte masks
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
        // act_pedit finds the network header right after Ethernet, which in a PPPoE session
        // is the PPPoE header, not the IP packet: tc would write into it.
        let network = || outer.pppoe.is_none().then_some(()).ok_or(DropReason::NotApplicable);
        let l3 = |kind| {
            network()?;
            outer.l3.filter(|l3| l3.kind == kind).ok_or(DropReason::NotApplicable)
        };
        let l4 = |kind| {
            network()?;
            outer.l4.filter(|l4| l4.kind == kind).ok_or(DropReason::NotApplicable)
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use wire::csum::reference::sum16;
    use wire::{walk, WalkConfig};

    /// Ethernet / IPv4 (no options) / UDP 1024 -> 9 with 4 bytes of data, every byte
    /// written out, the checksums left 0 (set by `fix`).
    fn ipv4_udp() -> Vec<u8> {
        let mut f = vec![
            0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00, // Ethernet
            0x45, 0x00, 0x00, 32, 0x00, 0x01, 0x00, 0x00, 64, 17, 0, 0, // IPv4 .. checksum
            192, 0, 2, 1, 198, 51, 100, 2, // addresses
            0x04, 0x00, 0x00, 0x09, 0x00, 12, 0, 0, // UDP
            0xde, 0xad, 0xbe, 0xef,
        ];
        fix(&mut f, 4);
        f
    }

    /// Ethernet / IPv6 / TCP 1024 -> 80 (data offset 5, ACK) with 3 bytes of data.
    fn ipv6_tcp() -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x86, 0xdd];
        f.extend([0x60, 0, 0, 0, 0, 23, 6, 64]);
        f.extend([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        f.extend([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        f.extend([0x04, 0x00, 0x00, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend([1, 2, 3]);
        fix(&mut f, 6);
        f
    }

    /// The checksums of `f` computed in full with the plain RFC 1071 sum (`v`: 4 or 6).
    fn fix(f: &mut [u8], v: u8) {
        let ihl = usize::from(f[14] & 0xf) * 4;
        let (l4, proto) = if v == 4 { (14 + ihl, f[23]) } else { (54, f[20]) };
        if v == 4 {
            f[24..26].fill(0);
            let sum = !sum16(&f[14..14 + ihl]);
            f[24..26].copy_from_slice(&sum.to_be_bytes());
        }
        let at = l4 + if proto == 6 { 16 } else { 6 };
        f[at..at + 2].fill(0);
        let len = (f.len() - l4) as u32;
        let mut pseudo = Vec::new();
        if v == 4 {
            pseudo.extend(&f[26..34]);
            pseudo.extend([0, proto]);
            pseudo.extend((len as u16).to_be_bytes());
        } else {
            pseudo.extend(&f[22..54]);
            pseudo.extend(len.to_be_bytes());
            pseudo.extend([0, 0, 0, proto]);
        }
        pseudo.extend(&f[l4..]);
        let sum = !sum16(&pseudo);
        let sum = if proto == 17 && sum == 0 { 0xffff } else { sum };
        f[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    }

    fn pedit(text: &str, frame: &[u8]) -> Result<Vec<u8>, DropReason> {
        let set = rules::parse("t.rules", &format!("action {text} pipe\n")).expect("the test's pedit parses");
        let rules::Action::Pedit(p) = &set.rules[0].actions[0] else { panic!("{text}: not a pedit") };
        let offsets = walk(frame, &WalkConfig::default()).expect("the test's frame walks");
        let mut out = frame.to_vec();
        Pedit::from(p).apply(&mut out, &offsets)?;
        Ok(out)
    }

    /// `text` on `frame` changes exactly `changes` (offset, new bytes) besides the checksums,
    /// which equal a full recomputation.
    fn check(text: &str, frame: &[u8], v: u8, changes: &[(usize, &[u8])]) {
        let out = pedit(text, frame).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        let mut want = frame.to_vec();
        for (at, bytes) in changes {
            want[*at..at + bytes.len()].copy_from_slice(bytes);
        }
        fix(&mut want, v);
        assert_eq!(out, want, "{text}");
    }

    #[test]
    fn each_field_written_and_its_checksums_as_a_full_recompute() {
        let v4 = ipv4_udp();
        check("pedit ex munge eth dst set 11:22:33:44:55:66", &v4, 4, &[(0, &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66])]);
        check("pedit ex munge eth src set aa:bb:cc:dd:ee:ff", &v4, 4, &[(6, &[0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff])]);
        check("pedit munge ip src set 10.1.2.3", &v4, 4, &[(26, &[10, 1, 2, 3])]);
        check("pedit ex munge ip dst set 1.1.1.1", &v4, 4, &[(30, &[1, 1, 1, 1])]);
        check("pedit ex munge ip ttl add 0xff", &v4, 4, &[(22, &[63])]);
        check("pedit ex munge ip ttl decrement", &v4, 4, &[(22, &[63])]);
        check("pedit munge ip ttl set 5", &v4, 4, &[(22, &[5])]);
        check("pedit munge ip tos set 0xb8", &v4, 4, &[(15, &[0xb8])]);
        // retain: only the DSCP bits (ECN kept: 0x03 stays 0x03).
        let mut ecn = v4.clone();
        ecn[15] = 0x03;
        fix(&mut ecn, 4);
        check("pedit munge ip tos set 0xb8 retain 0xfc", &ecn, 4, &[(15, &[0xbb])]);
        check("pedit ex munge ip tos invert", &v4, 4, &[(15, &[0xff])]);
        check("pedit ex munge udp sport set 53", &v4, 4, &[(34, &[0, 53])]);
        check("pedit ex munge udp dport add 1", &v4, 4, &[(36, &[0, 10])]);
        check("pedit munge ip dport set 4789", &v4, 4, &[(36, &[0x12, 0xb5])]);
        check(
            "pedit ex munge ip src set 10.0.0.1 munge udp dport set 7 munge ip ttl add 0xff",
            &v4,
            4,
            &[(26, &[10, 0, 0, 1]), (36, &[0, 7]), (22, &[63])],
        );
        let v6 = ipv6_tcp();
        let addr = [0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34];
        check("pedit ex munge ip6 src set 2001:db8:ffff::1234", &v6, 6, &[(22, &addr)]);
        check("pedit ex munge ip6 dst set 2001:db8:ffff::1234", &v6, 6, &[(38, &addr)]);
        check("pedit ex munge ip6 hoplimit add 0xff", &v6, 6, &[(21, &[63])]);
        check("pedit ex munge tcp dport set 8080", &v6, 6, &[(56, &[0x1f, 0x90])]);
        check("pedit ex munge tcp sport set 1", &v6, 6, &[(54, &[0, 1])]);
        check("pedit ex munge tcp flags set 0x18", &v6, 6, &[(67, &[0x18])]);
    }

    #[test]
    fn udp_checksum_zero_stays_zero_and_a_computed_zero_goes_out_as_ffff() {
        let mut none = ipv4_udp();
        none[40..42].fill(0);
        let out = pedit("pedit ex munge ip dst set 1.1.1.1 munge udp dport set 7", &none).unwrap();
        assert_eq!(out[40..42], [0, 0], "RFC 768: no checksum stays none");
        assert_eq!(!sum16(&out[14..34]), 0, "the IPv4 header checksum still right");
        // Find a port that makes the full sum 0: the update must send 0xffff.
        let v4 = ipv4_udp();
        let sum = u16::from_be_bytes([v4[40], v4[41]]);
        let dport = u16::from_be_bytes([v4[36], v4[37]]);
        // One's complement: the port that adds the checksum's value to the sum zeroes it.
        let (s, c) = dport.overflowing_add(sum);
        let zeroing = s + u16::from(c);
        let out = pedit(&format!("pedit ex munge udp dport set {zeroing}"), &v4).unwrap();
        assert_eq!(out[40..42], [0xff, 0xff], "dport {zeroing}");
        let mut want = out.clone();
        fix(&mut want, 4);
        assert_eq!(out, want);
    }

    #[test]
    fn a_header_the_frame_lacks_leaves_it_untouched_and_drops_it() {
        let (v4, v6) = (ipv4_udp(), ipv6_tcp());
        for (text, frame) in [
            ("pedit ex munge ip ttl set 1", &v6),
            ("pedit ex munge ip6 hoplimit set 1", &v4),
            ("pedit ex munge tcp dport set 1", &v4),
            ("pedit ex munge udp dport set 1", &v6),
            ("pedit munge ip sport set 1", &v6),
            // The first munge applies, the second does not: neither is written.
            ("pedit ex munge eth dst set 11:22:33:44:55:66 munge tcp dport set 1", &v4),
        ] {
            assert_eq!(pedit(text, frame), Err(DropReason::NotApplicable), "{text}");
        }
        // Legacy `ip dport` is at the IPv4 header + 22: not the port behind options.
        let mut options = ipv4_udp();
        options[14] = 0x46;
        options[17] = 36;
        options.splice(34..34, [1, 1, 1, 1]);
        fix(&mut options, 4);
        assert_eq!(pedit("pedit munge ip dport set 1", &options), Err(DropReason::NotApplicable));
        check("pedit ex munge udp dport set 1", &options, 4, &[(40, &[0, 1])]);
    }
}
