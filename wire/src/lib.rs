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

mod bytes;
pub mod checks;
pub mod csum;
mod error;
pub mod ethernet;
pub mod ethertype;
pub mod geneve;
pub mod gre;
pub mod icmp;
pub mod icmpv6;
pub mod ip_protocol;
pub mod ipv4;
pub mod ipv6;
pub mod ipv6_ext;
mod layer;
pub mod tcp;
pub mod udp;
pub mod udp_port;
pub mod vlan;
pub mod vxlan;
mod walk;

#[cfg(test)]
mod walk_tests;

pub use checks::{CsumLayer, OuterMode, Status, Verdicts, ZeroPolicy};
pub use error::{ErrorKind, WalkError, WireError};
pub use ethernet::{parse_mac, EthernetFrame, EthernetRepr, ParseMacError};
pub use geneve::{GeneveOption, GeneveOptions, GenevePacket, GeneveRepr};
pub use gre::{GrePacket, GreRepr};
pub use icmp::IcmpPacket;
pub use icmpv6::Icmpv6Packet;
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use ipv6_ext::{walk_ext_headers, Ipv6ExtChain, Ipv6ExtHeader, Ipv6FragmentHeader, Ipv6RoutingHeader};
pub use layer::{Fragment, Layer};
pub use tcp::{TcpPacket, TcpRepr};
pub use udp::{UdpPacket, UdpRepr};
pub use vlan::{VlanHeader, VlanRepr};
pub use vxlan::{VxlanHeader, VxlanRepr};
pub use walk::{
    ppp_ethertype, walk, walk_from_into, walk_into, walk_into_general, ArpInfo, CfmInfo, FrameStart, Headers, L2Info,
    L3Info, L3Kind, L4Info, L4Kind, LayerList, MplsInfo, Offsets, PortSet, PppoeInfo, TunnelInfo, TunnelKind, VlanTag,
    WalkConfig, MAX_LAYERS, MAX_MPLS_ENTRIES, MAX_PORTS, MAX_VLANS, PPP_PROTOCOLS,
};
