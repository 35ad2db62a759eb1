//! The wire: packet views, the layer walker, and checksums.
//!
//! - Header views ([`ethernet`], [`ipv4`], [`udp`], [`vxlan`], ...) and the walker
//!   ([`walk`], [`Offsets`]) that finds every layer of a frame once.
//! - [`csum`]: the RFC 1071 one's-complement sum (scalar and SIMD), pseudo-headers,
//!   RFC 1624 incremental updates and Local Checksum Offload.
//! - [`checks`]: each checksum of a walked frame judged ([`checks::verdicts`]) or written
//!   ([`checks::compute`]), per [`CsumLayer`].
//!
//!
//! Each protocol has a view over bytes in the style of smoltcp's `src/wire`: `new_checked`
//! validates lengths (and the fields lengths depend on) once, so the accessors afterwards
//! cannot panic, and setters exist only for the fields the dataplane rewrites. Where it helps
//! to build frames there is an owned `Repr` with `parse` and `emit`. Nothing here allocates
//! and nothing uses unsafe.
//!
//! [`walk`] runs once per frame and fills an [`Offsets`] with where every layer starts and
//! ends, in the spirit of DPDK's `rte_net_hdr_lens`: the outer headers, at most one tunnel
//! (VXLAN, Geneve, GRE or IP-in-IP) and the headers inside it. Every length comes from the
//! IP total length or payload length, so Ethernet padding is never part of a layer.

pub mod checks;
pub mod csum;
mod error;
pub mod ethernet;
pub mod geneve;
pub mod gre;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod ipv6_ext;
pub mod tcp;
pub mod udp;
pub mod vlan;
pub mod vxlan;
mod walk;

#[cfg(test)]
mod walk_tests;

pub use checks::{CsumLayer, OuterMode, Status, Verdicts, ZeroPolicy};
pub use error::{ErrorKind, WalkError, WireError};
pub use ethernet::{EthernetFrame, EthernetRepr};
pub use geneve::{GeneveOption, GeneveOptions, GenevePacket, GeneveRepr};
pub use gre::{GrePacket, GreRepr};
pub use icmp::IcmpPacket;
pub use icmpv6::Icmpv6Packet;
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use ipv6_ext::{walk_ext_headers, Ipv6ExtChain, Ipv6ExtHeader, Ipv6FragmentHeader, Ipv6RoutingHeader};
pub use tcp::{TcpPacket, TcpRepr};
pub use udp::{UdpPacket, UdpRepr};
pub use vlan::{VlanHeader, VlanRepr};
pub use vxlan::{VxlanHeader, VxlanRepr};
pub use walk::{
    walk, walk_from_into, walk_into, walk_into_general, FrameStart, Headers, L2Info, L3Info, L3Kind, L4Info, L4Kind,
    LayerList, Offsets, PortSet, TunnelInfo, TunnelKind, VlanTag, WalkConfig, MAX_LAYERS, MAX_PORTS, MAX_VLANS,
};

/// EtherType values (IEEE 802 numbers as registered with IANA).
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    /// IEEE 802.1Q customer tag.
    pub const VLAN: u16 = 0x8100;
    /// IEEE 802.1ad service tag (QinQ).
    pub const QINQ: u16 = 0x88a8;
    /// The pre-standard service tag some switches still send.
    pub const QINQ_LEGACY: u16 = 0x9100;
    pub const IPV6: u16 = 0x86dd;
    /// Transparent Ethernet Bridging: an Ethernet frame follows (GRE, RFC 1701; Geneve, RFC 8926 §3.4).
    pub const TRANSPARENT_ETHERNET: u16 = 0x6558;
}

/// IP protocol / IPv6 next header numbers (IANA "Assigned Internet Protocol Numbers").
pub mod ip_protocol {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ICMP: u8 = 1;
    /// IPv4 inside IP (RFC 2003).
    pub const IPV4: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    /// IPv6 inside IP (RFC 4213 §3.5, RFC 2473).
    pub const IPV6: u8 = 41;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const GRE: u8 = 47;
    pub const ICMPV6: u8 = 58;
    pub const NO_NEXT_HEADER: u8 = 59;
    pub const DESTINATION_OPTIONS: u8 = 60;
    /// An Ethernet frame follows (RFC 8986 §10.1: SRv6 End.DX2 / L2 VPN payloads).
    pub const ETHERNET: u8 = 143;
}

/// Well-known UDP destination ports of the UDP tunnels.
pub mod udp_port {
    /// RFC 7348 §5.
    pub const VXLAN: u16 = 4789;
    /// RFC 8926 §3.3.
    pub const GENEVE: u16 = 6081;
}

/// One layer of a frame, as listed in [`Offsets::layers`] and named in errors and JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    Eth,
    Vlan,
    Ipv4,
    Ipv6,
    Udp,
    Tcp,
    Icmp,
    Icmpv6,
    Vxlan,
    Gre,
    Geneve,
    /// Linux cooked capture v1 header (LINKTYPE_LINUX_SLL, 16 bytes).
    LinuxSll,
    /// Linux cooked capture v2 header (LINKTYPE_LINUX_SLL2, 20 bytes).
    LinuxSll2,
}

impl Layer {
    /// The stable lower-case name used in `inspect --json` and in error messages.
    pub const fn name(self) -> &'static str {
        match self {
            Layer::Eth => "eth",
            Layer::Vlan => "vlan",
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
            Layer::Udp => "udp",
            Layer::Tcp => "tcp",
            Layer::Icmp => "icmp",
            Layer::Icmpv6 => "icmpv6",
            Layer::Vxlan => "vxlan",
            Layer::Gre => "gre",
            Layer::Geneve => "geneve",
            Layer::LinuxSll => "sll",
            Layer::LinuxSll2 => "sll2",
        }
    }
}

impl core::fmt::Display for Layer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where an IP packet sits in its datagram (RFC 791 §3.2; RFC 8200 §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Fragment {
    /// The whole datagram (including IPv6 atomic fragments, RFC 6946 §4).
    #[default]
    NotFragment,
    /// Offset 0 with more fragments: it carries the L4 header but not the whole L4 payload.
    First,
    /// Offset != 0: no L4 header here.
    Later,
}

impl Fragment {
    /// From a fragment offset and the more-fragments flag: a packet with offset 0 and MF clear
    /// is not a fragment (RFC 791 §3.2; RFC 6946 §4 for an IPv6 "atomic fragment").
    #[inline]
    pub const fn from_offset(offset: u16, more_fragments: bool) -> Fragment {
        if offset != 0 {
            Fragment::Later
        } else if more_fragments {
            Fragment::First
        } else {
            Fragment::NotFragment
        }
    }

    /// True for any fragment: its L4 checksum cannot be verified from this packet alone.
    #[inline]
    pub const fn is_fragment(self) -> bool {
        !matches!(self, Fragment::NotFragment)
    }
}

/// A big-endian u16 at `at`; callers have checked the length.
#[inline]
pub(crate) fn read_u16(data: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([data[at], data[at + 1]])
}

/// A big-endian u32 at `at`; callers have checked the length.
#[inline]
pub(crate) fn read_u32(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

#[inline]
pub(crate) fn write_u16(data: &mut [u8], at: usize, value: u16) {
    data[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

#[inline]
pub(crate) fn write_u32(data: &mut [u8], at: usize, value: u32) {
    data[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

/// `data[start..end]` clamped to the buffer, so a length field rewritten by a setter can
/// shorten what an accessor returns but never make it panic.
#[inline]
pub(crate) fn clamped(data: &[u8], start: usize, end: usize) -> &[u8] {
    data.get(start..end.min(data.len())).unwrap_or(&[])
}

/// The mutable twin of [`clamped`].
#[inline]
pub(crate) fn clamped_mut(data: &mut [u8], start: usize, end: usize) -> &mut [u8] {
    let end = end.min(data.len());
    data.get_mut(start..end).unwrap_or(&mut [])
}

/// Checks that `buffer` holds at least `needed` bytes for `layer`'s header.
#[inline]
pub(crate) fn check_len(layer: Layer, buffer: &[u8], needed: usize) -> Result<(), WireError> {
    if buffer.len() < needed {
        Err(WireError::new(ErrorKind::Truncated, layer, 0, needed, buffer.len()))
    } else {
        Ok(())
    }
}
